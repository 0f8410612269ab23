"""Trainer layouts, one module each, and the detection that picks one for a folder.

Each module registers its layouts (``base.register``) when imported, so adding a layout
is one module here and nothing else: a module this package does not name below is
imported with the package. This package's own modules are named in ``CLAIMS`` by the
names their layouts may claim, and each is imported only once a folder holds such a name
(or something asks for every layout): a listing of ART runs imports ART's module alone.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterable

from ...core.lazy_pattern import LazyPattern
from ...core.models import Pending
from .base import Layout, RunScan, register, scan_entries, unregister
from .base import registered as _registered

# Module -> (prefixes, parts): the names any of the module's layouts may take for a step, a save in
# progress, a folder to look into or a candidate start with one of the prefixes or hold one of the parts
# (Orbax's numbered steps are told by ``_ORBAX_STEP``). Wider than the layouts' own patterns, never
# narrower: tests/layouts/test_lazy_layouts.py checks every layout against its line. No prefix or part
# holds a digit (see ``_key``).
CLAIMS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "accelerate": (("checkpoint_",), ()),
    "dcp": (("step_", "step-"), ()),
    "deepspeed": (("global_step",), ()),
    "hf": (("checkpoint-", "tmp-checkpoint-"), ()),
    "lightning": ((), ("step=",)),
    "megatron": (("iter_",), ()),
    "nemo": ((), ("step=",)),
    "nemo_rl": (("step_", "tmp_step_", "old_step_"), ()),
    "openrlhf": (("global_step", "best_global_step"), ()),
    "orbax": ((), (".orbax-checkpoint-tmp",)),
    "prime_rl": (("step_",), ()),
    "ray": (("checkpoint_",), ()),
    "skyrl": (("global_step_",), ()),
    "torchtune": (("epoch_", "dist_epoch_"), ()),
    "verl": (("global_step_",), ()),
}
# Orbax's steps: ``{step}``, ``{prefix}_{step}``.
_ORBAX_STEP = LazyPattern(r"^(?:[A-Za-z][\w.-]*?_)?\d+$")
# Modules whose layouts find runs by a folder's name (ART's ``{project}/models/``), not by detection.
RUNS_FOLDERS = {"art": "models"}
_DIGITS = "0123456789"
_waiting = set(CLAIMS)  # modules not imported yet
_looked_at: set[str] = set()  # keys (``_key``) whose modules are imported


def _claims(module: str, key: str) -> bool:
    prefixes, parts = CLAIMS[module]
    return (key.startswith(prefixes) or any(part in key for part in parts)
            or (module == "orbax" and key.rstrip("\n")[-1:].isdigit() and _ORBAX_STEP.match(key) is not None))


def _key(name: str) -> str:
    """``name`` with its trailing digits, if any, written ``0``: no claim tells them apart (a claim's
    prefix or part holds no digit, and Orbax's step is the digits at the end), and the names of a
    folder's steps come down to a few keys (``checkpoint-0``)."""
    stripped = name.rstrip(_DIGITS)
    return stripped + "0" if len(stripped) != len(name) else name


def modules_for(names: Iterable[str], among: Iterable[str] = CLAIMS) -> set[str]:
    """The modules of ``among`` whose layouts may claim one of ``names``."""
    keys = {_key(name) for name in names}
    return {module for module in among if any(_claims(module, key) for key in keys)}


def _load_for(names: Iterable[str]) -> None:
    """Import the modules whose layouts may claim one of ``names`` (each registers its layouts)."""
    if not _waiting:
        return
    waiting = tuple(_waiting)  # another thread may import meanwhile
    keys = {key for name in names if (key := _key(name)) not in _looked_at}
    for module in sorted(modules_for(keys, waiting)):
        _import(module)
    _looked_at.update(keys)  # only once their modules are imported: another thread may look them up


def _import(module: str) -> None:
    __import__(f"{__name__}.{module}")  # importlib.import_module's work, without importing importlib
    _waiting.discard(module)


def _modules() -> list[str]:
    """Every module of the package, in the order of their names. The folder is listed with ``os``
    (``pkgutil`` imports ``inspect``)."""
    return sorted({entry.removesuffix(".py") for folder in __path__ for entry in os.listdir(folder)
                   if entry.endswith(".py") and entry != "__init__.py"})


def load_layout_modules() -> None:
    """Import every module of the package (each registers its layouts), in the order of their names;
    already imported ones are kept."""
    for name in _modules():
        _import(name)


_all_loaded = False


def registered() -> tuple[Layout, ...]:
    """Every layout, in order of preference: every module of the package imported first."""
    global _all_loaded
    if not _all_loaded:
        load_layout_modules()
        _all_loaded = True
    return _registered()


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
    for module in RUNS_FOLDERS:
        _import(module)
    return [layout for layout in _registered() if layout.runs_folder]


def spoken_list(names: list[str]) -> str:
    """``A, B and C``."""
    return f"{', '.join(names[:-1])} and {names[-1]}" if len(names) > 1 else "".join(names)


def display_names() -> str:
    """The registered layouts' display names, in order of preference (the app's empty location)."""
    return spoken_list(list(dict.fromkeys(layout.display_name for layout in registered() if layout.display_name)))


def needs_look(name: str) -> bool:
    """Whether a folder of this name must be listed to tell whether it is a step (discovery)."""
    _load_for((name,))
    return any(layout.may_be_step(name) for layout in _registered() if not layout.runs_folder)


def detect(entries: Iterable[tuple[str, bool]],
           children: Callable[[str], Collection[str]] | None = None) -> RunScan | None:
    """The layout claiming the most entries of a folder, or None if it holds no checkpoints.

    Near misses (``checkpoint-final``, ``iter_12``, files named like step
    folders, numbered folders without Orbax's files) claim nothing.
    """
    entries = list(entries)
    _load_for(name for name, _ in entries)  # a layout none of whose names is here claims nothing
    best: RunScan | None = None
    tried = [candidate for layout in _registered() if not layout.runs_folder for candidate in layout.candidates(entries)]
    for layout in tried:
        scan = scan_entries(layout, entries, children)
        if not scan.steps and Pending.SAVE_IN_PROGRESS not in {why for _, why in scan.pending.values()}:
            continue
        if not layout.accepts_run(scan.steps):
            continue
        if best is None or len(scan.steps) > len(best.steps):
            best = scan
    return best


def _import_unnamed() -> None:
    """Import the modules this package does not name above (a layout added as one module)."""
    for module in _modules():
        if module not in CLAIMS and module not in RUNS_FOLDERS:
            _import(module)


_import_unnamed()

__all__ = ["Layout", "RunScan", "detect", "display_names", "fork_layout", "layout_named", "load_layout_modules",
           "needs_look", "register", "registered", "runs_folder_layouts", "scan_entries", "spoken_list", "unregister"]
