"""The Python API: the CLI's operations, for use inside a training loop."""

from __future__ import annotations

from .core import DeletionResult, ForkResult, Plan, Store, execute_plan, fork_checkpoint as _fork
from .core.execute import DeleteProgress, single_run
from .core.policy import Policies, Settings, flag_settings, plan_for
from .core.resume import best_checkpoint_of, resume_checkpoint
from .stores import open_store


def _store(base: str | Store) -> Store:
    return open_store(str(base)) if not isinstance(base, Store) else base


def plan_checkpoints(base: str | Store, project: str, model: str,
                     best_checkpoint_metric: str | None = None, mode: str | None = None,
                     keep: str | None = None, smoothing: float | None = None,
                     full: str | None = None) -> Plan:
    """Preview which checkpoints of one model a rule keeps, slims and deletes. Touches nothing.

    Each argument left as None comes from the run's policy files, as for ``ckpt-tui prune``
    (else the defaults: ``val/reward``, ``auto``, ``best,latest``); ``"none"`` as the metric
    means no best. The plan's ``resolved`` says where each part came from.
    """
    return _plan(_store(base), project, model, flag_settings(best_checkpoint_metric, mode, keep, smoothing, full))


def _plan(store: Store, project: str, model: str, flags: Settings, unattended: bool = False) -> Plan:
    policies = Policies(store, flags)
    slims = policies.resolve(project, model).checked().policy.full is not None
    run = store.load_run(project, model, with_state=slims)
    return plan_for(run, policies.resolve(project, model, run.metrics.names()).checked(), unattended)


def delete_checkpoints(base: str | Store, project: str, model: str,
                       best_checkpoint_metric: str | None = None, mode: str | None = None,
                       keep: str | None = None, smoothing: float | None = None,
                       progress: DeleteProgress | None = None, full: str | None = None) -> DeletionResult:
    """Delete a model's checkpoints except the best and the latest (and what ``keep`` adds).

    Unlike ART's method of the same name, best is chosen among checkpoints that
    exist, ``mode`` may minimise, and a missing metric raises ``Refused``
    instead of silently keeping only the latest. With ``full`` (rules, as
    ``keep``), kept checkpoints those rules do not select lose their training
    state and keep their weights; the result's ``slimmed`` lists them. Arguments
    left as None come from the run's policy files, as for ``ckpt-tui prune --yes``: a metric
    picked because the one in force is not logged is refused until it is named.
    """
    store = _store(base)
    plan = _plan(store, project, model, flag_settings(best_checkpoint_metric, mode, keep, smoothing, full), True)
    return execute_plan(store, plan, progress)  # refused, as a refused plan is


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
                    metric: str | None = None, mode: str | None = None, weights: bool = False) -> str:
    """The path (or URL) of one complete checkpoint to resume from: the latest by default,
    ``step``, the latest at or before ``not_after_step``, or with ``best`` the best step by
    ``metric`` (default: the run's policy files', else the metric its logs suggest; the
    earliest of ties). The best step holding weights only is refused unless ``weights``.

    A save in progress or an incomplete checkpoint is never returned; raises
    ``NotFound`` when no complete checkpoint qualifies. ``project`` and ``model``
    may be left out when the location holds a single run.
    """
    store = _store(base)
    project, model = single_run(store, project, model)
    run = store.load_run(project, model)
    if best or weights:
        names = run.metrics.names()
        resolved = Policies(store, flag_settings(metric, mode)).resolve(project, model, names).checked()
        ckpt = best_checkpoint_of(run, resolved.best_policy, weights)
    else:
        ckpt = resume_checkpoint(run, step, not_after_step)
    return store.checkpoint_location(project, model, ckpt)
