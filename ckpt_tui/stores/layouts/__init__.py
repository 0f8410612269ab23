"""Trainer layouts, one module each, and the detection that picks one for a folder.

Adding a layout is one module here plus its entry in ``TRAINER_LAYOUTS`` (or,
for a layout whose names need a look inside, a candidate function beside
``orbax_candidates``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable

from ...core.models import Pending
from .accelerate import ACCELERATE
from .art import ART, ART_LEGACY, ArtLayout
from .base import Layout, RunScan, scan_entries
from .dcp import DCP
from .deepspeed import DEEPSPEED
from .hf import HF
from .lightning import LIGHTNING
from .megatron import MEGATRON
from .nemo import NEMO
from .nemo_rl import NEMO_RL
from .openrlhf import OPENRLHF
from .orbax import OrbaxLayout, may_be_orbax, orbax_candidates
from .prime_rl import PRIME_RL
from .ray import RAY, RAY_TRAIN
from .skyrl import SKYRL
from .torchtune import TORCHTUNE
from .verl import VERL

# In order of preference when two layouts claim as many entries.
TRAINER_LAYOUTS: tuple[Layout, ...] = (HF, MEGATRON, SKYRL, VERL, OPENRLHF, DEEPSPEED, LIGHTNING, NEMO, TORCHTUNE,
                                     DCP, ACCELERATE, RAY, RAY_TRAIN, NEMO_RL, PRIME_RL)


def layout_named(name: str) -> Layout | None:
    """A layout by its name (Orbax without a prefix)."""
    known = {lay.name: lay for lay in (ART, ART_LEGACY, *TRAINER_LAYOUTS, OrbaxLayout())}
    return known.get(name)


def needs_look(name: str) -> bool:
    """Whether a folder of this name must be listed to tell whether it is a step (discovery)."""
    return may_be_orbax(name) or any(layout.needs_look(name) for layout in TRAINER_LAYOUTS)


def detect(entries: Iterable[tuple[str, bool]],
           children: Callable[[str], Collection[str]] | None = None) -> RunScan | None:
    """The layout claiming the most entries of a folder, or None if it holds no checkpoints.

    Near misses (``checkpoint-final``, ``iter_12``, files named like step
    folders, numbered folders without Orbax's files) claim nothing.
    """
    entries = list(entries)
    best: RunScan | None = None
    for layout in (*TRAINER_LAYOUTS, *orbax_candidates(entries)):
        scan = scan_entries(layout, entries, children)
        if not scan.steps and Pending.SAVE_IN_PROGRESS not in {why for _, why in scan.pending.values()}:
            continue
        if not layout.accepts_run(scan.steps):
            continue
        if best is None or len(scan.steps) > len(best.steps):
            best = scan
    return best


__all__ = ["ACCELERATE", "ART", "ART_LEGACY", "ArtLayout", "DCP", "DEEPSPEED", "HF", "LIGHTNING", "Layout",
           "MEGATRON", "NEMO", "NEMO_RL", "OPENRLHF", "OrbaxLayout", "PRIME_RL", "RAY", "RAY_TRAIN", "RunScan",
           "SKYRL", "TORCHTUNE", "TRAINER_LAYOUTS", "VERL", "detect", "layout_named", "needs_look", "scan_entries"]
