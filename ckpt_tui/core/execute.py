"""Turning plans into deletions, safely, against the storage as it is now."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import CkptError, NotFound, Refused
from .models import Checkpoint, Pending, Run, freed_bytes
from .retention import DeletedStep, Plan, Policy, SlimStep, plan_run, whole_steps
from .store import DELETED, GONE, NOT_REACHED, Store, list_runs, single_run  # noqa: F401 (re-exported)

# Called with (checkpoints_done, checkpoints_total, step_just_handled).
DeleteProgress = Callable[[int, int, "DeletedStep | SlimStep"], None]
# Called with (plan, checkpoints_done, checkpoints_total, step_just_handled), over all plans.
PlansProgress = Callable[[Plan, int, int, "DeletedStep | SlimStep"], None]


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
    slimmed: list[SlimStep] = field(default_factory=list)
    slim_failed: list[tuple[SlimStep, str]] = field(default_factory=list)
    cancelled: bool = False

    @property
    def freed_bytes(self) -> int:
        return sum(d.bytes for d in self.deleted) + sum(s.bytes for s in self.slimmed)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.slim_failed

    def to_json(self) -> dict:
        return {
            **self.plan.to_json(),
            "deleted": [d.to_json() for d in self.deleted],
            "spared": [d.to_json() for d in self.spared],
            "gone": [d.to_json() for d in self.gone],
            "failed": [{"step": d.step, "name": d.name, "error": why} for d, why in self.failed],
            "slimmed": [s.to_json() for s in self.slimmed],
            "slim_failed": [{"step": s.step, "name": s.name, "error": why} for s, why in self.slim_failed],
            "cancelled": self.cancelled,
            "freed_bytes": self.freed_bytes,
        }


def plan_location(store: Store, policy: Policy | Callable[[str, str], Policy], project: str | None = None,
                  run: str | None = None) -> list[Plan]:
    """One plan per selected run, each on its own; ``policy`` may be chosen per (project, run).
    Training state is read for the runs whose policy slims."""
    choose = policy if callable(policy) else (lambda _project, _run: policy)
    plans = []
    for p, r in list_runs(store, project, run):
        chosen = choose(p, r)
        plans.append(plan_run(store.load_run(p, r, with_state=chosen.full is not None), chosen))
    return plans


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
    fresh.keep = [k._replace(bytes=sizes.get(k.key, k.bytes)) for k in fresh.keep]
    fresh.pending = [p._replace(bytes=sizes.get(p.key, p.bytes)) for p in fresh.pending]
    fresh.delete = [d._replace(bytes=sizes.get(d.key, d.bytes)) for d in fresh.delete]
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
    slims = _agreed_slims(plan, fresh, run)
    # A previewed step no longer there, or being deleted by another process, is gone, not spared.
    there = {c.key for c in run.checkpoints + run.pending if c.pending is not Pending.INTERRUPTED_DELETE}
    result = DeletionResult(_with_sizes(fresh, plan),
                            spared=[d for d in plan.delete if d.key not in agreed_keys and d.key in there],
                            gone=[d for d in plan.delete if d.key not in there])
    result.plan.slim = slims
    by_key = {c.key: c for c in run.checkpoints}
    items: dict[tuple[int, str], DeletedStep | SlimStep] = {**{d.key: d for d in agreed}, **{s.key: s for s in slims}}
    total, handled = len(agreed) + len(slims), 0
    lock = threading.Lock()  # stores may report from several threads

    def done(ckpt: Checkpoint) -> None:
        nonlocal handled
        with lock:
            handled += 1
            if progress is not None:
                progress(handled, total, items[ckpt.key])

    outcome = store.delete_checkpoints(run, [by_key[d.key] for d in agreed], done, should_cancel)
    deleted, gone, result.failed, stopped = _by_outcome(agreed, outcome)
    freed = _freed(plan, deleted)
    result.deleted = [DeletedStep(d.step, freed.get(d.key, d.bytes), d.name) for d in deleted]
    result.gone += gone
    outcome = store.slim_checkpoints(run, [by_key[s.key] for s in slims], done, should_cancel) if slims else {}
    result.slimmed, _, result.slim_failed, slim_stopped = _by_outcome(slims, outcome)
    result.cancelled = stopped or slim_stopped
    return result


def _by_outcome(items: list, outcome: dict[tuple[int, str], str]) -> tuple[list, list, list, bool]:
    """``items`` sorted by what the store did: (done, gone, failed with why, whether any was not reached)."""
    done, gone, failed, stopped = [], [], [], False
    for item in items:
        why = outcome.get(item.key, NOT_REACHED)
        if why == DELETED:
            done.append(item)
        elif why == GONE:
            gone.append(item)
        elif why == NOT_REACHED:
            stopped = True
        else:
            failed.append((item, why))
    return done, gone, failed, stopped


def _agreed_slims(plan: Plan, fresh: Plan, run: Run) -> list[SlimStep]:
    """Previewed slims of checkpoints the run as it is now still keeps, and need not keep whole."""
    kept = {k.key for k in fresh.keep}
    whole = whole_steps(run, plan.policy)
    return [s for s in plan.slim if s.key in kept and s.step not in whole]


@dataclass(slots=True)
class PlansResult:
    """What executing several plans did: one result per plan that ran, and refusals
    (a plan whose run no longer logs its metric, or vanished) as one line each."""

    results: list[DeletionResult] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # runs that failed as a whole, one line each
    cancelled: bool = False

    @property
    def deleted(self) -> int:
        return sum(len(r.deleted) for r in self.results)

    @property
    def slimmed(self) -> int:
        return sum(len(r.slimmed) for r in self.results)

    @property
    def freed_bytes(self) -> int:
        return sum(r.freed_bytes for r in self.results)

    @property
    def ok(self) -> bool:
        return not self.failures and all(r.ok for r in self.results)


def execute_plans(store: Store, plans: list[Plan], progress: PlansProgress | None = None,
                  should_cancel: Callable[[], bool] | None = None) -> PlansResult:
    """Execute each plan with :func:`execute_plan`; a refused plan does not stop the others.

    ``progress`` counts checkpoints over all plans; ``should_cancel`` is asked
    between checkpoints and between plans. Where the store says so (a bucket, whose
    requests wait on its server), several runs' plans execute at once, each as alone.
    """
    outcome = PlansResult()
    total = sum(len(p.delete) + len(p.slim) for p in plans)
    handled = 0
    lock = threading.Lock()
    stop = threading.Event()  # set when one plan raised or the caller was interrupted: the others stop too

    def cancelled() -> bool:
        return stop.is_set() or (should_cancel is not None and should_cancel())

    width = min(store.plans_side_by_side, len(plans))
    # Plans one after another with nothing to ask: nothing can stop a plan half-way, so the store
    # is told so (None), and a disk removes the renamed-aside steps several at a time.
    asked = cancelled if should_cancel is not None or width > 1 else None

    def execute(plan: Plan) -> DeletionResult | CkptError | None:
        """The plan's result, the error that stopped it, or None when cancelled before it began."""
        nonlocal handled
        if cancelled():
            return None
        mine = 0

        def step_done(done: int, _total: int, item: DeletedStep | SlimStep) -> None:
            nonlocal handled, mine
            with lock:
                handled, mine = handled + 1, mine + 1
                if progress is not None:
                    progress(plan, handled, total, item)

        try:
            return execute_plan(store, plan, step_done, asked)
        except CkptError as exc:
            return exc
        except BaseException:
            stop.set()  # before this thread takes another plan
            raise
        finally:
            with lock:  # what the plan did not handle (spared, refused) counts as done once it ends
                handled += len(plan.delete) + len(plan.slim) - mine

    if width > 1:
        results = _side_by_side(execute, plans, width, stop)
    else:
        results = []
        for plan in plans:
            results.append(execute(plan))
            if results[-1] is None:
                break
    for plan, result in zip(plans, results):
        if result is None:
            outcome.cancelled = True
        elif isinstance(result, (Refused, NotFound)):
            outcome.refusals.append(str(result))
        elif isinstance(result, CkptError):  # this run failed as a whole (its storage answered with an error)
            outcome.failures.append(f"{plan.project}/{plan.run}: prune failed: {result}")
        else:
            outcome.results.append(result)
            outcome.cancelled = outcome.cancelled or result.cancelled
    return outcome


# How long the thread that runs plans side by side waits before it looks again for a Ctrl-C.
POLL_SECONDS = 0.1


def _side_by_side(execute: Callable[[Plan], DeletionResult | CkptError | None], plans: list[Plan], width: int,
                  stop: threading.Event) -> list[DeletionResult | CkptError | None]:
    """``execute`` of each plan, ``width`` at a time. An exception in one (a fault, Ctrl-C here)
    stops the others after their checkpoint in progress, starts no more, and is raised as it was."""
    from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

    pool = ThreadPoolExecutor(width, thread_name_prefix="ckpt-tui-plans")
    # Plans begin once every one is handed to the pool: a Ctrl-C while a thread is started (one
    # the pool then never joins) finds no plan begun, and each stops before it begins.
    handed = threading.Event()

    def once_handed(plan: Plan) -> DeletionResult | CkptError | None:
        handed.wait()
        return execute(plan)

    try:
        futures = [pool.submit(once_handed, plan) for plan in plans]
        handed.set()
        # Waits of a moment: a Ctrl-C the kernel hands to one of the plans' threads only wakes this
        # one (which raises it) once it runs again, and a wait for the first exception may be long.
        while wait(futures, timeout=POLL_SECONDS, return_when=FIRST_EXCEPTION).not_done:
            if any(future.done() and future.exception() is not None for future in futures):
                break
        for future in futures:
            if future.done() and future.exception() is not None:
                raise future.exception()  # type: ignore[misc]
        return [future.result() for future in futures]
    except BaseException:
        stop.set()
        raise
    finally:
        handed.set()
        pool.shutdown(wait=True, cancel_futures=True)
