"""Checkpoints on a local (or mounted) disk: ART bases and every trainer's output folders."""

from __future__ import annotations

import os

from .backends.local import LocalBackend
from .tree import TreeStore


class LocalStore(TreeStore):
    """A folder of runs: an ART base, a trainer's output folder, or a tree of both.

    Never follows a symbolic link: runs, checkpoint folders and steps that are
    links are shown with a note and never pruned or forked into.
    """

    def __init__(self, base: str | os.PathLike) -> None:
        super().__init__(LocalBackend(base), os.fspath(base))
        self.base = os.fspath(base)
