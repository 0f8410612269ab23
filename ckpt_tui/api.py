"""The Python API: the CLI's operations, for use inside a training loop."""

from __future__ import annotations

from .core import (DEFAULT_METRIC, DeletionResult, ForkResult, Plan, Policy, Store, execute_plan,
                   fork_checkpoint as _fork, plan_run)
from .core.execute import DeleteProgress, single_run
from .core.resume import best_metric, resume_checkpoint
from .stores import open_store


def _store(base: str | Store) -> Store:
    return open_store(str(base)) if not isinstance(base, Store) else base


def plan_checkpoints(base: str | Store, project: str, model: str,
                     best_checkpoint_metric: str | None = DEFAULT_METRIC, mode: str = "auto",
                     keep: str = "best,latest", smoothing: float | None = None,
                     full: str | None = None) -> Plan:
    """Preview which checkpoints of one model a rule keeps, slims and deletes. Touches nothing."""
    store = _store(base)
    policy = Policy.parse(keep, best_checkpoint_metric, mode, smoothing, full)
    return plan_run(store.load_run(project, model, with_state=full is not None), policy)


def delete_checkpoints(base: str | Store, project: str, model: str,
                       best_checkpoint_metric: str | None = DEFAULT_METRIC, mode: str = "auto",
                       keep: str = "best,latest", smoothing: float | None = None,
                       progress: DeleteProgress | None = None, full: str | None = None) -> DeletionResult:
    """Delete a model's checkpoints except the best and the latest (and what ``keep`` adds).

    Unlike ART's method of the same name, best is chosen among checkpoints that
    exist, ``mode`` may minimise, and a missing metric raises ``Refused``
    instead of silently keeping only the latest. With ``full`` (rules, as
    ``keep``), kept checkpoints those rules do not select lose their training
    state and keep their weights; the result's ``slimmed`` lists them.
    """
    store = _store(base)
    plan = plan_checkpoints(store, project, model, best_checkpoint_metric, mode, keep, smoothing, full)
    return execute_plan(store, plan, progress)


def fork_checkpoint(base: str | Store, project: str, from_model: str, to_model: str,
                    to_project: str | None = None, step: int | None = None,
                    not_after_step: int | None = None, with_history: bool = False,
                    to_base: str | Store | None = None) -> ForkResult:
    """Copy one checkpoint into a new model name at the same step (the latest by default)."""
    store = _store(base)
    target = _store(to_base) if to_base is not None else None
    return _fork(store, project, from_model, to_model, to_project, step, not_after_step,
                 with_history, to_store=target)


def checkpoint_path(base: str | Store, project: str | None = None, model: str | None = None,
                    step: int | None = None, not_after_step: int | None = None, best: bool = False,
                    metric: str | None = None, mode: str = "auto") -> str:
    """The path (or URL) of one complete checkpoint to resume from: the latest by default,
    ``step``, the latest at or before ``not_after_step``, or with ``best`` the best by
    ``metric`` (default: the metric the run's logs suggest; the earliest of ties).

    A save in progress or an incomplete checkpoint is never returned; raises
    ``NotFound`` when no complete checkpoint qualifies. ``project`` and ``model``
    may be left out when the location holds a single run.
    """
    store = _store(base)
    project, model = single_run(store, project, model)
    run = store.load_run(project, model)
    ckpt = resume_checkpoint(run, step, not_after_step, best_metric(run, metric) if best else None, mode)
    return store.checkpoint_location(project, model, ckpt)
