"""Trainer layouts, one module each, and the detection that picks one for a folder.

Importing this package imports every module in it; each registers its layouts
(``base.register``), so adding a layout is one module here and nothing else.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Collection, Iterable

from ...core.models import Pending
from .base import Layout, RunScan, register, registered, scan_entries, unregister


def load_layout_modules() -> None:
    """Import every module of the package (each registers its layouts), in the order of their names;
    already imported ones are kept. The folder is listed with ``os`` (``pkgutil`` imports ``inspect``)."""
    names = {entry.removesuffix(".py") for folder in __path__ for entry in os.listdir(folder)
             if entry.endswith(".py") and entry != "__init__.py"}
    for name in sorted(names):
        importlib.import_module(f"{__name__}.{name}")


def layout_named(name: str) -> Layout | None:
    """A layout by its name (Orbax without a prefix, ART's older layout as ``art-legacy``)."""
    known = {variant.name: variant for layout in registered() for variant in layout.variants()}
    return known.get(name)


def fork_layout(source: str, like: str) -> Layout:
    """The layout of a run forked from checkpoint ``like`` of a run of layout ``source``: the
    reference layout (ART) when the source's store keeps no layout of its own (W&B)."""
    layout = layout_named(source) or next(layout for layout in registered() if layout.reference)
    return layout.fork_layout(like)


def runs_folder_layouts() -> list[Layout]:
    """The layouts whose runs are the sub-folders of a project's ``runs_folder`` (ART's ``models/``)."""
    return [layout for layout in registered() if layout.runs_folder]


def spoken_list(names: list[str]) -> str:
    """``A, B and C``."""
    return f"{', '.join(names[:-1])} and {names[-1]}" if len(names) > 1 else "".join(names)


def display_names() -> str:
    """The registered layouts' display names, in order of preference (the app's empty location)."""
    return spoken_list(list(dict.fromkeys(layout.display_name for layout in registered() if layout.display_name)))


def needs_look(name: str) -> bool:
    """Whether a folder of this name must be listed to tell whether it is a step (discovery)."""
    return any(layout.may_be_step(name) for layout in registered() if not layout.runs_folder)


def detect(entries: Iterable[tuple[str, bool]],
           children: Callable[[str], Collection[str]] | None = None) -> RunScan | None:
    """The layout claiming the most entries of a folder, or None if it holds no checkpoints.

    Near misses (``checkpoint-final``, ``iter_12``, files named like step
    folders, numbered folders without Orbax's files) claim nothing.
    """
    entries = list(entries)
    best: RunScan | None = None
    tried = [candidate for layout in registered() if not layout.runs_folder for candidate in layout.candidates(entries)]
    for layout in tried:
        scan = scan_entries(layout, entries, children)
        if not scan.steps and Pending.SAVE_IN_PROGRESS not in {why for _, why in scan.pending.values()}:
            continue
        if not layout.accepts_run(scan.steps):
            continue
        if best is None or len(scan.steps) > len(best.steps):
            best = scan
    return best


load_layout_modules()

__all__ = ["Layout", "RunScan", "detect", "display_names", "fork_layout", "layout_named", "load_layout_modules",
           "needs_look", "register", "registered", "runs_folder_layouts", "scan_entries", "spoken_list", "unregister"]
