"""The interface every storage backend implements. The core only talks to this."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

from .metrics import Metrics
from .models import Checkpoint, Run

# Called with (bytes_done, bytes_total) while a checkpoint is copied.
ByteProgress = Callable[[int, int], None]


@runtime_checkable
class Store(Protocol):
    """A location holding projects -> runs -> per-step checkpoints.

    Implementations must never touch anything outside a run's checkpoint
    directory or prefix when deleting, and must make a half-deleted checkpoint
    impossible to mistake for a whole one.

    Optional, looked up with ``getattr`` by the core:

    - ``delete_checkpoints(project, run, checkpoints) -> {step: error}``: delete
      several at once when that is cheaper (S3's batched DeleteObjects);
    - ``can_copy_to(other) -> bool`` with ``copy_checkpoint(..., to_store=other)``:
      a server-side copy into another store (another bucket, same endpoint);
    - ``connect()``: check credentials up front (called from a worker by the app);
    - ``deletion_note``: a line shown where a deletion is confirmed.
    """

    location: str

    def list_projects(self) -> list[str]: ...

    def list_runs(self, project: str) -> list[str]: ...

    def load_run(self, project: str, run: str, with_metrics: bool = True) -> Run:
        """Complete checkpoints (sorted by step), pending ones, metrics, layout."""
        ...

    def read_metrics(self, project: str, run: str) -> Metrics: ...

    def read_history(self, project: str, run: str) -> list[dict]:
        """Raw history records, for forking a run with its history."""
        ...

    def write_history(self, project: str, run: str, records: list[dict]) -> None:
        """Create a run's history; raises AlreadyExists if it has one."""
        ...

    def delete_checkpoint(self, project: str, run: str, checkpoint: Checkpoint) -> None:
        """Delete one checkpoint so that an interruption never leaves it looking whole."""
        ...

    def finish_interrupted(self, project: str, run: str) -> list[str]:
        """Remove leftovers of interrupted deletions; return what was removed."""
        ...

    def copy_checkpoint(self, project: str, run: str, checkpoint: Checkpoint,
                        to_project: str, to_run: str,
                        progress: ByteProgress | None = None) -> Checkpoint:
        """Copy within this store, atomically; never overwrite an existing step."""
        ...

    def download_checkpoint(self, project: str, run: str, checkpoint: Checkpoint,
                            directory: Path, progress: ByteProgress | None = None) -> None:
        """Write the checkpoint's files under ``directory`` (for forks across stores)."""
        ...

    def upload_checkpoint(self, directory: Path, to_project: str, to_run: str, step: int,
                          progress: ByteProgress | None = None) -> Checkpoint:
        """Add the files under ``directory`` as step ``step``, atomically, never overwriting."""
        ...

    def checkpoint_location(self, project: str, run: str, checkpoint: Checkpoint) -> str: ...
