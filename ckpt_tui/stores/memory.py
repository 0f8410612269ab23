"""Checkpoints held in this process's memory (``memory://NAME/prefix``): the tree store over a
backend of primitives only, for tests and for trying the tool without touching a disk."""

from __future__ import annotations

from ..core.errors import Refused
from .backends.memory import MemoryBackend, parse_url
from .tree import TreeStore


class MemoryStore(TreeStore):
    """``memory://NAME/prefix``: runs under that prefix of the files named NAME."""

    def __init__(self, name: str, prefix: str = "") -> None:
        backend = MemoryBackend(name, prefix)
        super().__init__(backend, backend.url("").rstrip("/"))

    @classmethod
    def from_url(cls, url: str, **options: object) -> MemoryStore:
        if options:
            raise Refused(f"option(s) {', '.join(sorted(options))} do not apply to memory locations")
        return cls(*parse_url(url))
