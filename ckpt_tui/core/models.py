"""The domain: runs and their per-step checkpoints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from .metrics import Metrics


class FileEntry(NamedTuple):
    """One file of a checkpoint, relative to the checkpoint's root.

    A named tuple rather than a dataclass: scans build one per file, and
    tuples are several times cheaper to create.
    """

    path: str
    bytes: int


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One saved step of a run.

    ``name`` is the store's own name for it (``0012``, ``checkpoint-12``,
    ``v3``...), ``location`` a path or URL a user can paste. A checkpoint that
    is not ``complete`` (a save in progress, an interrupted delete) is shown
    but is never a candidate for deletion, best or latest.
    """

    step: int
    bytes: int
    mtime: float
    name: str
    location: str = ""
    files: tuple[FileEntry, ...] = ()
    complete: bool = True
    note: str = ""


@dataclass(slots=True)
class Run:
    """A run (ART calls it a model): its checkpoints and logged metrics.

    ``protected`` maps steps the trainer itself points at (a tracker file, the
    trainer's own best) to the reasons they must never be deleted.
    """

    project: str
    name: str
    checkpoints: list[Checkpoint]
    metrics: Metrics = field(default_factory=Metrics)
    layout: str = "art"
    protected: dict[int, tuple[str, ...]] = field(default_factory=dict)
    pending: list[Checkpoint] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.checkpoints = sorted(self.checkpoints, key=lambda c: c.step)

    @property
    def total_bytes(self) -> int:
        return sum(c.bytes for c in self.checkpoints) + sum(c.bytes for c in self.pending)

    @property
    def latest_step(self) -> int | None:
        return self.checkpoints[-1].step if self.checkpoints else None

    def checkpoint(self, step: int) -> Checkpoint | None:
        for ckpt in self.checkpoints:
            if ckpt.step == step:
                return ckpt
        return None
