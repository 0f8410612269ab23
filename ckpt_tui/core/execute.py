"""Turning plans into deletions, safely, against the storage as it is now."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import CkptError, NotFound, Refused
from .models import Run
from .retention import DeletedStep, Plan, Policy, checkpoint_key, plan_run
from .store import Store

# Called with (checkpoints_done, checkpoints_total, step_just_handled).
DeleteProgress = Callable[[int, int, DeletedStep], None]
# Called with (plan, checkpoints_done, checkpoints_total, step_just_handled), over all plans.
PlansProgress = Callable[[Plan, int, int, DeletedStep], None]
# Stores that delete many checkpoints at once more cheaply (S3: one marker and
# batched DeleteObjects) offer ``delete_checkpoints(project, run, checkpoints)``
# returning {step: error} for those not deleted; others go one by one.
BATCH_SIZE = 200


@dataclass(slots=True)
class DeletionResult:
    """What an execution did. ``spared`` were previewed for deletion but kept,
    because at execution time they were latest, best, or had changed."""

    plan: Plan
    deleted: list[DeletedStep] = field(default_factory=list)
    spared: list[DeletedStep] = field(default_factory=list)
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
            "deleted": [{"step": d.step, "bytes": d.bytes} for d in self.deleted],
            "spared": [{"step": d.step, "bytes": d.bytes} for d in self.spared],
            "failed": [{"step": d.step, "error": why} for d, why in self.failed],
            "cancelled": self.cancelled,
            "freed_bytes": self.freed_bytes,
        }


def list_runs(store: Store, project: str | None = None, run: str | None = None) -> list[tuple[str, str]]:
    """(project, run) pairs selected by optional filters, in name order."""
    projects = [project] if project else store.list_projects()
    if project and project not in store.list_projects():
        raise NotFound(f"no project {project!r} in {store.location}")
    pairs = []
    for proj in projects:
        runs = store.list_runs(proj)
        if run is not None:
            if run not in runs:
                raise NotFound(f"no run {run!r} in project {proj!r} of {store.location}")
            runs = [run]
        pairs.extend((proj, r) for r in runs)
    return pairs


def plan_location(store: Store, policy: Policy, project: str | None = None,
                  run: str | None = None) -> list[Plan]:
    """One plan per selected run, each on its own."""
    return [plan_run(store.load_run(p, r), policy) for p, r in list_runs(store, project, run)]


def execute_plan(store: Store, plan: Plan, progress: DeleteProgress | None = None,
                 should_cancel: Callable[[], bool] | None = None) -> DeletionResult:
    """Delete what ``plan`` previewed, but only what a fresh plan agrees to delete.

    The run is re-read first: a step written since the preview changes what is
    latest (and maybe best), and those are then spared.
    """
    if plan.refused:
        raise Refused(plan.refused)
    store.finish_interrupted(plan.project, plan.run)
    run: Run = store.load_run(plan.project, plan.run)
    fresh = plan_run(run, plan.policy)
    if fresh.refused:
        raise Refused(fresh.refused)
    previewed = {checkpoint_key(d) for d in plan.delete}
    agreed = [d for d in fresh.delete if checkpoint_key(d) in previewed]
    agreed_keys = {checkpoint_key(d) for d in agreed}
    result = DeletionResult(fresh, spared=[d for d in plan.delete if checkpoint_key(d) not in agreed_keys])
    by_key = {checkpoint_key(c): c for c in run.checkpoints}
    batch = getattr(store, "delete_checkpoints", None)
    size = BATCH_SIZE if batch else 1
    for start in range(0, len(agreed), size):
        if should_cancel is not None and should_cancel():
            result.cancelled = True
            break
        chunk = agreed[start:start + size]
        checkpoints = [by_key[checkpoint_key(item)] for item in chunk]
        try:
            if batch is not None:
                failures = batch(run.project, run.name, checkpoints)
            else:
                store.delete_checkpoint(run.project, run.name, checkpoints[0])
                failures = {}
        except (CkptError, OSError) as exc:
            failures = {item.step: str(exc) for item in chunk}
        for done, item in enumerate(chunk, start=start + 1):
            if item.step in failures:
                result.failed.append((item, failures[item.step]))
            else:
                result.deleted.append(item)
            if progress is not None:
                progress(done, len(agreed), item)
    return result


@dataclass(slots=True)
class PlansResult:
    """What executing several plans did: one result per plan that ran, and refusals
    (a plan whose run no longer logs its metric, or vanished) as one line each."""

    results: list[DeletionResult] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    cancelled: bool = False

    @property
    def deleted(self) -> int:
        return sum(len(r.deleted) for r in self.results)

    @property
    def freed_bytes(self) -> int:
        return sum(r.freed_bytes for r in self.results)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)


def execute_plans(store: Store, plans: list[Plan], progress: PlansProgress | None = None,
                  should_cancel: Callable[[], bool] | None = None) -> PlansResult:
    """Execute each plan with :func:`execute_plan`; a refused plan does not stop the others.

    ``progress`` counts checkpoints over all plans; ``should_cancel`` is asked
    between checkpoints and between plans.
    """
    outcome = PlansResult()
    total = sum(len(p.delete) for p in plans)
    base = 0
    for plan in plans:
        if should_cancel is not None and should_cancel():
            outcome.cancelled = True
            break

        def step_done(done: int, _total: int, item: DeletedStep, plan: Plan = plan, base: int = base) -> None:
            if progress is not None:
                progress(plan, base + done, total, item)

        try:
            result = execute_plan(store, plan, step_done, should_cancel)
        except (Refused, NotFound) as exc:
            outcome.refusals.append(str(exc))
        else:
            outcome.results.append(result)
            outcome.cancelled = outcome.cancelled or result.cancelled
        base += len(plan.delete)
    return outcome
