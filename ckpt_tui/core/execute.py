"""Turning plans into deletions, safely, against the storage as it is now."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from .errors import NotFound, Refused
from .models import Checkpoint, freed_bytes
from .retention import DeletedStep, Plan, Policy, plan_run
from .store import DELETED, GONE, NOT_REACHED, Store

# Called with (checkpoints_done, checkpoints_total, step_just_handled).
DeleteProgress = Callable[[int, int, DeletedStep], None]


@dataclass(slots=True)
class DeletionResult:
    """What an execution did. ``spared`` were previewed for deletion but kept,
    because at execution time they were latest, best, or had changed; ``gone``
    had already been deleted by someone else."""

    plan: Plan
    deleted: list[DeletedStep] = field(default_factory=list)
    spared: list[DeletedStep] = field(default_factory=list)
    gone: list[DeletedStep] = field(default_factory=list)
    failed: list[tuple[DeletedStep, str]] = field(default_factory=list)
    cancelled: bool = False

    @property
    def freed_bytes(self) -> int:
        return sum(d.bytes for d in self.deleted)

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_json(self) -> dict:
        return {
            **self.plan.to_json(),
            "deleted": [d.to_json() for d in self.deleted],
            "spared": [d.to_json() for d in self.spared],
            "gone": [d.to_json() for d in self.gone],
            "failed": [{"step": d.step, "name": d.name, "error": why} for d, why in self.failed],
            "cancelled": self.cancelled,
            "freed_bytes": self.freed_bytes,
        }


def list_runs(store: Store, project: str | None = None, run: str | None = None) -> list[tuple[str, str]]:
    """(project, run) pairs selected by optional filters, in name order."""
    projects = store.list_projects()
    if project is not None and project not in projects:
        raise NotFound(f"no project {project!r} in {store.location}")
    pairs = []
    for proj in [project] if project is not None else projects:
        runs = store.list_runs(proj)
        if run is not None:
            if run not in runs:
                raise NotFound(f"no run {run!r} in project {proj!r} of {store.location}")
            runs = [run]
        pairs.extend((proj, r) for r in runs)
    return pairs


def plan_location(store: Store, policy: Policy | Callable[[str, str], Policy], project: str | None = None,
                  run: str | None = None) -> list[Plan]:
    """One plan per selected run, each on its own; ``policy`` may be chosen per (project, run)."""
    choose = policy if callable(policy) else (lambda _project, _run: policy)
    return [plan_run(store.load_run(p, r), choose(p, r)) for p, r in list_runs(store, project, run)]


def _agreed(plan: Plan, fresh: Plan) -> list[DeletedStep]:
    """What both the preview and the plan made just now delete, in the preview's order."""
    now = {d.key for d in fresh.delete}
    return [d for d in plan.delete if d.key in now]


def _freed(plan: Plan, items: list[DeletedStep]) -> dict[tuple[int, str], int]:
    """Bytes each item gives back when exactly ``items`` go (a spared step keeps what it shares)."""
    if plan.source is None:
        return {d.key: d.bytes for d in items}
    previewed = {c.key: c for c in plan.source.checkpoints}
    return freed_bytes([previewed[d.key] for d in items if d.key in previewed], plan.source)


def _with_sizes(fresh: Plan, preview: Plan) -> Plan:
    """The plan made at execution (read without sizes), with the sizes the preview knew."""
    sizes = {k.key: k.bytes for k in preview.keep + preview.pending}
    sizes.update((d.key, d.bytes) for d in preview.delete)
    fresh.keep = [replace(k, bytes=sizes.get(k.key, k.bytes)) for k in fresh.keep]
    fresh.pending = [replace(p, bytes=sizes.get(p.key, p.bytes)) for p in fresh.pending]
    fresh.delete = [replace(d, bytes=sizes.get(d.key, d.bytes)) for d in fresh.delete]
    fresh.source = preview.source
    return fresh


def execute_plan(store: Store, plan: Plan, progress: DeleteProgress | None = None,
                 should_cancel: Callable[[], bool] | None = None) -> DeletionResult:
    """Delete what ``plan`` previewed, but only what a fresh plan agrees to delete.

    Interrupted deletions of the run are finished first. Then the run is read
    again: a step written since the preview changes what is latest (and maybe
    best), and those are then spared.
    """
    if plan.refused:
        raise Refused(plan.refused)
    run = store.read_for_execution(plan.project, plan.run)
    fresh = plan_run(run, plan.policy)
    if fresh.refused:
        raise Refused(fresh.refused)
    agreed = _agreed(plan, fresh)
    agreed_keys = {d.key for d in agreed}
    result = DeletionResult(_with_sizes(fresh, plan), spared=[d for d in plan.delete if d.key not in agreed_keys])
    by_key = {c.key: c for c in run.checkpoints}
    items = {d.key: d for d in agreed}
    handled = 0
    lock = threading.Lock()  # stores may report from several threads

    def done(ckpt: Checkpoint) -> None:
        nonlocal handled
        with lock:
            handled += 1
            if progress is not None:
                progress(handled, len(agreed), items[ckpt.key])

    targets = [by_key[d.key] for d in agreed]
    outcome = store.delete_checkpoints(run, targets, done, should_cancel)
    deleted = [items[c.key] for c in targets if outcome.get(c.key) == DELETED]
    freed = _freed(plan, deleted)
    result.deleted = [DeletedStep(d.step, freed.get(d.key, d.bytes), d.name) for d in deleted]
    for ckpt in targets:
        why = outcome.get(ckpt.key, NOT_REACHED)
        if why == GONE:
            result.gone.append(items[ckpt.key])
        elif why == NOT_REACHED:
            result.cancelled = True
        elif why != DELETED:
            result.failed.append((items[ckpt.key], why))
    return result
