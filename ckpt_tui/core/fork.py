"""Forking one checkpoint of a run into a new run, as ART's fork does."""

from __future__ import annotations

from .errors import NotFound, Refused
from .metrics import step_of
from .models import Checkpoint, Run
from .names import validate_name
from .records import FrozenRecord
from .store import ByteProgress, Store


class ForkResult(FrozenRecord):
    """What a fork made: the new run ``to_project/to_run`` from step ``step`` of ``project/run``."""

    __slots__ = ("project", "run", "to_project", "to_run", "step", "bytes", "location", "history_records")

    def __init__(self, project: str, run: str, to_project: str, to_run: str, step: int, bytes: int,
                 location: str, history_records: int = 0) -> None:
        self._set(project, run, to_project, to_run, step, bytes, location, history_records)

    def to_json(self) -> dict:
        return dict(zip(self._fields, self._values(self._fields)))


def choose_step(run: Run, step: int | None = None, not_after_step: int | None = None) -> Checkpoint:
    """The explicit step, else the latest step <= ``not_after_step``, else the latest."""
    if not run.checkpoints:
        raise NotFound(f"{run.project}/{run.name} has no checkpoints")
    if step is not None:
        found = run.checkpoint(step)
        if found is None:
            have = ", ".join(str(c.step) for c in run.checkpoints[-5:])
            raise NotFound(f"{run.project}/{run.name} has no checkpoint at step {step} (latest: {have})")
        return found
    if not_after_step is not None:
        eligible = [c for c in run.checkpoints if c.step <= not_after_step]
        if not eligible:
            raise NotFound(f"{run.project}/{run.name} has no checkpoint at or before step {not_after_step}")
        return eligible[-1]
    return run.checkpoints[-1]


def fork_checkpoint(store: Store, project: str, run: str, to_run: str, to_project: str | None = None,
                    step: int | None = None, not_after_step: int | None = None,
                    with_history: bool = False, to_store: Store | None = None,
                    progress: ByteProgress | None = None) -> ForkResult:
    """Copy one checkpoint of ``project/run`` into the new run ``to_project/to_run`` at the same step.

    Only checkpoint files are copied; ``with_history`` also copies the source's
    history records up to that step. A fork always creates a new run: the
    target store refuses an existing run name, and the new run appears whole
    or not at all.
    """
    # A project found deeper in a tree may hold '/'; only a new project name is checked.
    to_project = validate_name(to_project, "project name") if to_project else project
    validate_name(to_run, "model name")
    target = to_store or store
    if target is store and (to_project, to_run) == (project, run):
        raise Refused("cannot fork a run into itself")
    # A stale interrupted delete must neither hide a step re-uploaded since nor delete it later;
    # what cannot be finished (a read-only source) stays listed as pending, never forked.
    source = store.load_finished(project, run, with_metrics=False)
    ckpt = choose_step(source, step, not_after_step)
    records = None
    if with_history:
        records = [r for r in store.read_history(project, run)
                   if (s := step_of(r)) is not None and s <= ckpt.step]
    new = target.fork_into(store, source, ckpt, to_project, to_run, records, progress)
    return ForkResult(project, run, to_project, to_run, ckpt.step, ckpt.bytes,
                      new.location, len(records or ()))
