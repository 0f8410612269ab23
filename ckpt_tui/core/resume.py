"""Which checkpoint a trainer should load: the latest, the best, or one step, never a half-written one."""

from __future__ import annotations

from .errors import NotFound, NotLogged, Refused
from .models import Checkpoint, Run
from .retention import Policy, Rule, metric_values, ranked_steps


def resumable(run: Run) -> list[Checkpoint]:
    """Checkpoints a trainer can resume from, by step: complete ones that still hold their
    training state.

    Whatever is pending (a save in progress, an incomplete save, a tag newer
    than its tracker, a delete or fork under way) is never offered, and
    neither is a slimmed (weights-only) checkpoint.
    """
    return [c for c in run.checkpoints if c.complete and not c.weights_only]


def best_checkpoint_of(run: Run, policy: Policy, weights: bool = False) -> Checkpoint:
    """The best step by ``policy``'s metric among the complete checkpoints (the earliest of
    ties): the one ``prune`` keeps as best. Refused when it holds weights only, unless
    ``weights`` asks for them; ``NotFound`` when the metric is at no complete checkpoint."""
    label = f"{run.project}/{run.name}"
    if policy.metric is None:
        raise Refused(f"{label}: no metric to choose the best by (the metric is 'none'); pass --metric")
    complete = [c for c in run.checkpoints if c.complete]
    if not complete:  # nothing to choose from, whatever the metric: not found, as for --latest
        raise NotFound(f"{label}: no complete checkpoint; {_describe(run, [])}")
    if not run.metrics.names():
        raise Refused(f"{label} logs no metric to choose the best by; {_describe(run, resumable(run))}")
    values = metric_values(Run(run.project, run.name, complete, run.metrics), policy)
    if not values:
        logged = ", ".join(run.metrics.names()) or "none"
        raise NotLogged(f"{label}: metric {policy.metric!r} is not logged for any complete checkpoint "
                       f"(metrics logged: {logged}); {_describe(run, resumable(run))}")
    step = ranked_steps(values, policy.direction)[0]
    at_step = [c for c in complete if c.step == step]
    whole = [c for c in at_step if not c.weights_only]
    if weights:
        return _newest(at_step, step)
    if not whole:
        raise Refused(f"{label}: the best step, {step} ({policy.metric} {values[step]:.6g}), holds weights only "
                      f"and cannot be resumed from; --weights prints its path; {_describe(run, resumable(run))}")
    return _newest(whole, step)


def _newest(candidates: list[Checkpoint], step: int) -> Checkpoint:
    """Of the checkpoints at ``step`` (Lightning's ``-v1``, NeMo's ``-last`` copy), the last written."""
    return max((c for c in candidates if c.step == step), key=lambda c: (c.mtime, c.name))


def _describe(run: Run, candidates: list[Checkpoint]) -> str:
    pending = ", ".join(f"{c.step} ({c.note})" for c in run.pending[:3])
    slimmed = ", ".join(str(c.step) for c in run.checkpoints if c.weights_only)
    have = ("…, " if len(candidates) > 5 else "") + ", ".join(str(c.step) for c in candidates[-5:]) or "none"
    return (f"complete steps: {have}" + (f"; not complete: {pending}" if pending else "")
            + (f"; weights only: {slimmed}" if slimmed else ""))


def resume_checkpoint(run: Run, step: int | None = None, not_after_step: int | None = None,
                      metric: str | None = None, mode: str = "auto") -> Checkpoint:
    """The checkpoint to load: step ``step``, else the latest at or before ``not_after_step``,
    else the best by ``metric`` (the earliest of ties, as trainers pick), else the latest.

    Raises ``NotFound`` when no complete checkpoint qualifies.
    """
    candidates = resumable(run)
    label = f"{run.project}/{run.name}"
    if step is not None:
        eligible = [c for c in candidates if c.step == step]
        why = f"no complete checkpoint at step {step}"
    elif not_after_step is not None:
        eligible = [c for c in candidates if c.step <= not_after_step]
        why = f"no complete checkpoint at or before step {not_after_step}"
    elif metric is not None:
        return best_checkpoint_of(run, Policy((Rule("best"),), metric, mode))
    else:
        eligible, why = candidates, "no complete checkpoint"
    if not eligible:
        raise NotFound(f"{label}: {why}; {_describe(run, candidates)}")
    return _newest(eligible, eligible[-1].step)
