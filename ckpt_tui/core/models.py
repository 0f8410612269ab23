"""The domain: runs and their per-step checkpoints."""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

from .metrics import Metrics
from .records import FrozenRecord, NamedTuple, Record, set_field


class FileEntry(NamedTuple):
    """One file of a checkpoint, relative to the checkpoint's root."""

    path: str
    bytes: int


class Blob(NamedTuple):
    """Content a checkpoint may share with others: a hard-linked file, a W&B file by digest.

    ``links`` is how many references exist in all (a hard link's ``st_nlink``),
    or None when every reference is among the run's checkpoints (W&B versions);
    ``count`` how many of them this checkpoint holds. A checkpoint lists each
    blob once and counts its bytes once. Deleting frees a blob only once no
    reference is left.
    """

    key: str
    bytes: int
    links: int | None = None
    count: int = 1


class Upload(NamedTuple):
    """An upload started and never completed nor aborted (an S3 multipart upload): its parts
    hold bytes that no listing of objects shows. ``path`` is relative to the location;
    ``initiated`` is seconds since the epoch, as the store reports it."""

    path: str
    upload_id: str
    initiated: float
    bytes: int
    parts: int


class Pending(Enum):
    """Why a checkpoint is shown but never deleted, forked, picked as best or latest, or resumed."""

    SAVE_IN_PROGRESS = "save in progress"
    NEWER_THAN_TRACKER = "newer than the tracker (save unfinished)"
    INCOMPLETE = "incomplete save"
    SETTLING = "settling"  # no completion marker: written too recently to be known whole
    FORK_IN_PROGRESS = "fork in progress"
    ABANDONED_FORK = "interrupted fork"
    INTERRUPTED_DELETE = "interrupted delete"
    INTERRUPTED_SLIM = "interrupted slim"
    UNREADABLE = "unreadable"
    SYMLINK = "symbolic link, not followed"
    DUPLICATE_STEP = "another checkpoint has the same step"
    NO_STEP = "no step"

    def __str__(self) -> str:
        return self.value


def bytes_once(holders: Iterable) -> int:
    """Bytes of ``holders`` (checkpoints, or a listing's usages: anything with ``bytes`` and
    ``blobs``), each shared blob counted once, as ``du`` counts hard links."""
    total, seen = 0, set()
    for holder in holders:
        total += holder.bytes
        for blob in holder.blobs:
            if blob.key in seen:
                total -= blob.bytes
            seen.add(blob.key)
    return total


class TrainingState(NamedTuple):
    """What of a checkpoint is training state (optimizer, scheduler, RNG), which slimming removes.

    ``files`` are paths relative to the checkpoint; ``refusal`` says why it
    cannot be slimmed (weights and optimizer state in one file, ZeRO-3 shards);
    no files and no refusal: nothing to slim.
    """

    files: tuple[str, ...] = ()
    bytes: int = 0
    refusal: str | None = None


class Checkpoint(FrozenRecord):
    """One saved step of a run.

    ``name`` is the store's own name for it (``0012``, ``checkpoint-12``,
    ``v3``...), ``location`` a path or URL a user can paste. ``step`` is None
    only for a pending checkpoint whose step is unknown. A ``pending``
    checkpoint (a save in progress, an interrupted delete) is shown but is
    never a candidate for deletion, best or latest; ``detail`` says more.
    ``bytes`` counts every file; ``blobs`` lists the content among them that
    other checkpoints may share. ``weights_only``: slimmed, its training state
    removed (never offered for resuming); ``state``: its training state, when
    the store was asked to read it.
    """

    __slots__ = ("step", "bytes", "mtime", "name", "location", "pending", "detail", "blobs", "weights_only", "state")

    def __new__(cls, step: int | None, bytes: int, mtime: float, name: str, location: str = "",
                pending: Pending | None = None, detail: str = "", blobs: tuple[Blob, ...] = (),
                weights_only: bool = False, state: TrainingState | None = None) -> Checkpoint:
        # A scan makes one a checkpoint: its fields are set on a mutable record of the same slots,
        # which then becomes a Checkpoint (a quarter of the cost of ``object.__setattr__`` for each).
        self = _CheckpointFields()
        self.step = step
        self.bytes = bytes
        self.mtime = mtime
        self.name = name
        self.location = location
        self.pending = pending
        self.detail = detail
        self.blobs = blobs
        self.weights_only = weights_only
        self.state = state
        self.__class__ = cls  # type: ignore[assignment]
        return self  # type: ignore[return-value]

    @property
    def complete(self) -> bool:
        return self.pending is None

    @property
    def note(self) -> str:
        """Why the checkpoint is pending, in words ("" for a complete one)."""
        if self.pending is None:
            return self.detail
        return f"{self.pending.value}: {self.detail}" if self.detail else self.pending.value

    @property
    def key(self) -> tuple[int, str]:
        """What identifies a checkpoint within its run (two checkpoints may share a step)."""
        return (self.step if self.step is not None else -1), self.name


class _CheckpointFields(FrozenRecord):
    """A Checkpoint's slots, assignable: what ``Checkpoint`` is made from (of the same base, for the
    change of class)."""

    __slots__ = Checkpoint.__slots__
    __setattr__ = object.__setattr__  # both: the type then stores into its slots straight
    __delattr__ = object.__delattr__
    step: int | None
    bytes: int
    mtime: float
    name: str
    location: str
    pending: Pending | None
    detail: str
    blobs: tuple[Blob, ...]
    weights_only: bool
    state: TrainingState | None


_CHECKPOINT_KEY = Checkpoint.key.fget  # the property's function itself: one call a checkpoint when sorting


class Run(Record):
    """A run (ART calls it a model): its checkpoints and logged metrics.

    ``protected`` maps steps the trainer itself points at (a tracker file, the
    trainer's own best) to the reasons they must never be deleted;
    ``resume_steps`` are those among them the trainer resumes from, which
    must stay whole. ``notes`` are lines about what could not be read (shown,
    never hidden); ``refusal``, when set, refuses every plan for the run.
    """

    __slots__ = ("project", "name", "checkpoints", "metrics", "layout", "protected", "pending", "notes",
                 "resume_steps", "refusal", "unreadable")

    def __init__(self, project: str, name: str, checkpoints: list[Checkpoint], metrics: Metrics | None = None,
                 layout: str = "art", protected: dict[int, tuple[str, ...]] | None = None,
                 pending: Iterable[Checkpoint] = (), notes: list[str] | None = None,
                 resume_steps: frozenset[int] = frozenset(), refusal: str = "", unreadable: bool = False) -> None:
        self.project = project
        self.name = name
        self.checkpoints = sorted(checkpoints, key=_CHECKPOINT_KEY)
        self.metrics = Metrics() if metrics is None else metrics
        self.layout = layout
        self.protected = {} if protected is None else protected
        self.pending = sorted(pending, key=_CHECKPOINT_KEY)
        self.notes = [] if notes is None else notes
        self.resume_steps = resume_steps
        # Why nothing may be planned for this run (a file it depends on is there but was not read).
        self.refusal = refusal
        self.unreadable = unreadable  # its folder may not be read (permissions): listed, never pruned

    @property
    def total_bytes(self) -> int:
        """Bytes on storage, each shared blob counted once (as ``du`` counts hard links)."""
        return bytes_once(self.checkpoints + self.pending)

    @property
    def latest_step(self) -> int | None:
        return self.checkpoints[-1].step if self.checkpoints else None

    def checkpoint(self, step: int) -> Checkpoint | None:
        for ckpt in reversed(self.checkpoints):
            if ckpt.step == step:
                return ckpt
        return None


def freed_bytes(deleted: list[Checkpoint], run: Run) -> dict[tuple[int, str], int]:
    """Bytes each deleted checkpoint gives back, given what else the run keeps.

    A shared blob comes back only when every reference to it goes: counted
    once, on the first deleted checkpoint that holds it; a blob still
    referenced by a kept checkpoint, or linked from outside the run, frees 0.
    """
    if not any(c.blobs for c in run.checkpoints) and not any(c.blobs for c in run.pending):
        # No file shared (the usual run): each gives back its own bytes. Keys as ``Checkpoint.key`` makes them.
        return {((c.step if c.step is not None else -1), c.name): c.bytes for c in deleted}
    gone = {c.key for c in deleted}
    refs: dict[str, int] = {}
    kept_refs: set[str] = set()
    for ckpt in run.checkpoints + run.pending:
        for blob in ckpt.blobs:
            refs[blob.key] = refs.get(blob.key, 0) + blob.count
            if ckpt.key not in gone:
                kept_refs.add(blob.key)
    freed: dict[tuple[int, str], int] = {}
    counted: set[str] = set()
    for ckpt in deleted:
        amount = ckpt.bytes
        for blob in ckpt.blobs:
            amount -= blob.bytes
            outside = blob.links is not None and blob.links > refs.get(blob.key, 0)
            if blob.key not in kept_refs and not outside and blob.key not in counted:
                amount += blob.bytes
                counted.add(blob.key)
        freed[ckpt.key] = amount
    return freed
