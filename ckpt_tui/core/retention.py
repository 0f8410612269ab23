"""Retention rules and the plans they produce. Pure: nothing here touches storage."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from .errors import Refused
from .metrics import smooth
from .models import Run, freed_bytes

Mode = Literal["max", "min", "auto"]
RULE_KINDS = ("best", "latest", "last", "every", "top", "step")
COUNTED_KINDS = ("last", "every", "top", "step")
DEFAULT_METRIC = "val/reward"


@dataclass(frozen=True, slots=True)
class Rule:
    kind: str
    n: int | None = None

    def __str__(self) -> str:
        return self.kind if self.n is None else f"{self.kind}:{self.n}"


def parse_rules(text: str) -> tuple[Rule, ...]:
    """Parse ``best,latest,last:3,every:100,top:2,step:40`` into rules."""
    rules: list[Rule] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        kind, _, arg = part.partition(":")
        kind = kind.strip().lower()
        if kind not in RULE_KINDS:
            raise Refused(f"unknown rule {part!r}; rules are: best, latest, last:N, every:K, top:K, step:N")
        if kind in COUNTED_KINDS:
            if not arg.strip().isdigit():
                raise Refused(f"rule {kind!r} needs a whole number, e.g. {kind}:5")
            n = int(arg)
            if n < 1 and kind != "step":
                raise Refused(f"rule {part!r} needs a number of at least 1")
            rules.append(Rule(kind, n))
        elif arg:
            raise Refused(f"rule {kind!r} takes no argument")
        else:
            rules.append(Rule(kind))
    if not rules:
        raise Refused("no retention rule given")
    return tuple(dict.fromkeys(rules))


def resolve_mode(metric: str, mode: str) -> Literal["max", "min"]:
    """``auto`` minimises metrics whose last path part ends in ``loss``."""
    if mode in ("max", "min"):
        return mode  # type: ignore[return-value]
    if mode != "auto":
        raise Refused(f"mode must be max, min or auto, not {mode!r}")
    return "min" if metric.rsplit("/", 1)[-1].lower().endswith("loss") else "max"


@dataclass(frozen=True, slots=True)
class Policy:
    """What to keep: rules plus the metric that defines "best".

    ``marked`` are steps chosen by hand for deletion: they go even where a rule
    such as ``last:N`` would keep them, but never when they are the latest, the
    best, pinned, or protected by the trainer.
    """

    rules: tuple[Rule, ...] = (Rule("best"), Rule("latest"))
    metric: str | None = DEFAULT_METRIC
    mode: str = "auto"
    smoothing: float | None = None
    # Which kept steps keep their training state; None: all of them (nothing is slimmed).
    full: tuple[Rule, ...] | None = None
    marked: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        if self.metric is None and any(r.kind in ("best", "top") for r in self.rules + (self.full or ())):
            raise Refused("rules 'best' and 'top' need a metric")
        if self.metric is not None:
            resolve_mode(self.metric, self.mode)
        if self.smoothing is not None and not 0 < self.smoothing <= 1:
            raise Refused("smoothing must be in (0, 1]; 1 means none")

    @classmethod
    def parse(cls, keep: str = "best,latest", metric: str | None = DEFAULT_METRIC,
              mode: str = "auto", smoothing: float | None = None, full: str | None = None) -> Policy:
        if metric is not None and metric.strip().lower() in ("", "none"):
            metric = None
        return cls(parse_rules(keep), metric, mode, smoothing, parse_rules(full) if full is not None else None)

    @property
    def direction(self) -> Literal["max", "min"] | None:
        return resolve_mode(self.metric, self.mode) if self.metric else None

    @property
    def pins(self) -> frozenset[int]:
        return frozenset(r.n for r in self.rules if r.kind == "step" and r.n is not None)

    def toggle_pin(self, step: int) -> Policy:
        pin = Rule("step", step)
        rules = tuple(r for r in self.rules if r != pin)
        return replace(self, rules=rules if len(rules) < len(self.rules) else self.rules + (pin,))

    def with_metric(self, metric: str | None, mode: str | None = None) -> Policy:
        return replace(self, metric=metric, mode=mode or self.mode)

    def with_full(self, full: str | None) -> Policy:
        return replace(self, full=parse_rules(full) if full is not None else None)

    def with_steps(self, pins: frozenset[int] = frozenset(), marked: frozenset[int] = frozenset()) -> Policy:
        """This policy plus pins (``step:N`` rules) and steps marked for deletion."""
        extra = tuple(Rule("step", s) for s in sorted(pins) if Rule("step", s) not in self.rules)
        return replace(self, rules=self.rules + extra, marked=self.marked | marked)

    @property
    def direction_label(self) -> str:
        """``max``/``min`` when forced, ``auto→min`` when derived from the metric's name."""
        direction = self.direction or "-"
        return f"auto→{direction}" if self.mode == "auto" and self.metric else direction

    @property
    def keep_text(self) -> str:
        return ",".join(str(r) for r in self.rules)

    @property
    def full_text(self) -> str | None:
        return ",".join(str(r) for r in self.full) if self.full is not None else None

    def _describe_rules(self, rules: tuple[Rule, ...], direction: str | None) -> list[str]:
        parts = []
        for rule in rules:
            if rule.kind == "best":
                parts.append(f"best {self.metric} ({direction})")
            elif rule.kind == "top":
                parts.append(f"top {rule.n} {self.metric} ({direction})")
            elif rule.kind == "last":
                parts.append(f"last {rule.n}")
            elif rule.kind == "every":
                parts.append(f"every {rule.n}")
            elif rule.kind == "latest":
                parts.append("latest")
        return parts

    def describe(self, explain_auto: bool = False) -> str:
        """Human summary, e.g. ``keep best val/reward (max) + latest``.

        ``explain_auto`` writes an automatic direction as ``auto→max``.
        """
        direction = self.direction_label if explain_auto else self.direction
        parts = self._describe_rules(self.rules, direction)
        if self.pins:
            parts.append("pinned " + ",".join(str(s) for s in sorted(self.pins)))
        if self.marked:
            parts.append(f"{len(self.marked)} marked for deletion")
        if self.smoothing is not None and self.smoothing < 1:
            parts.append(f"smoothing {self.smoothing:g}")
        text = "keep " + " + ".join(parts)
        if self.full is not None:
            whole = self._describe_rules(self.full, direction) + [f"step {r.n}" for r in self.full if r.kind == "step"]
            text += "; full state for " + " + ".join(dict.fromkeys(["latest", *whole]))
        return text


@dataclass(frozen=True, slots=True)
class KeptStep:
    step: int | None
    bytes: int
    reasons: tuple[str, ...]
    name: str = ""

    @property
    def key(self) -> tuple[int, str]:
        return (self.step if self.step is not None else -1), self.name

    def to_json(self) -> dict:
        return {"step": self.step, "name": self.name, "bytes": self.bytes, "reasons": list(self.reasons)}


@dataclass(frozen=True, slots=True)
class DeletedStep:
    """A checkpoint a plan deletes; ``bytes`` is what deleting it gives back."""

    step: int
    bytes: int
    name: str = ""

    @property
    def key(self) -> tuple[int, str]:
        return self.step, self.name

    def to_json(self) -> dict:
        return {"step": self.step, "name": self.name, "bytes": self.bytes}


@dataclass(frozen=True, slots=True)
class SlimStep:
    """A kept checkpoint whose training state goes: ``bytes`` freed, ``files`` removed."""

    step: int
    bytes: int
    name: str
    files: tuple[str, ...]

    @property
    def key(self) -> tuple[int, str]:
        return self.step, self.name

    def to_json(self) -> dict:
        return {"step": self.step, "name": self.name, "bytes": self.bytes, "files": list(self.files)}


@dataclass(frozen=True, slots=True)
class SlimRefused:
    """A checkpoint the rule would slim that cannot be slimmed, and why."""

    step: int
    name: str
    reason: str

    def to_json(self) -> dict:
        return {"step": self.step, "name": self.name, "reason": self.reason}


@dataclass(slots=True)
class Plan:
    """For one run: what is kept and why, what is slimmed, what is deleted, what it frees."""

    project: str
    run: str
    policy: Policy
    keep: list[KeptStep] = field(default_factory=list)
    delete: list[DeletedStep] = field(default_factory=list)
    slim: list[SlimStep] = field(default_factory=list)
    slim_refused: list[SlimRefused] = field(default_factory=list)
    pending: list[KeptStep] = field(default_factory=list)
    best_steps: list[int] = field(default_factory=list)
    best_value: float | None = None
    latest_step: int | None = None
    refused: str | None = None
    # The run as planned: what freed bytes are computed against at execution.
    source: Run | None = field(default=None, repr=False, compare=False)

    @property
    def best_step(self) -> int | None:
        """The earliest of the steps tied for best (the one trainers themselves pick)."""
        return self.best_steps[0] if self.best_steps else None

    @property
    def freed_bytes(self) -> int:
        return sum(d.bytes for d in self.delete) + sum(s.bytes for s in self.slim)

    @property
    def delete_steps(self) -> set[int]:
        return {d.step for d in self.delete}

    def reasons(self) -> dict[int, tuple[str, ...]]:
        return {k.step: k.reasons for k in self.keep if k.step is not None}

    def to_json(self) -> dict:
        return {
            "project": self.project,
            "run": self.run,
            "metric": self.policy.metric,
            "mode": self.policy.direction,
            "rules": self.policy.keep_text,
            "full": self.policy.full_text,
            "best_step": self.best_step,
            "best_steps": self.best_steps,
            "best_value": self.best_value,
            "latest_step": self.latest_step,
            "keep": [k.to_json() for k in self.keep],
            "delete": [d.to_json() for d in self.delete],
            "slim": [s.to_json() for s in self.slim],
            "slim_refused": [r.to_json() for r in self.slim_refused],
            "pending": [p.to_json() for p in self.pending],
            "freed_bytes": self.freed_bytes,
            "refused": self.refused,
        }


def metric_values(run: Run, policy: Policy) -> dict[int, float]:
    """The metric at each existing checkpoint (smoothed over all logged steps if asked)."""
    if policy.metric is None:
        return {}
    series = run.metrics.series(policy.metric)
    if policy.smoothing is not None and policy.smoothing < 1:
        series = smooth(series, policy.smoothing)
    existing = {c.step for c in run.checkpoints}
    return {step: value for step, value in series if step in existing}


def ranked_steps(values: dict[int, float], direction: str) -> list[int]:
    """Steps from best to worst; equal values in step order."""
    sign = -1 if direction == "max" else 1
    return sorted(values, key=lambda s: (sign * values[s], s))


def top_steps(values: dict[int, float], direction: str, k: int) -> list[int]:
    """Steps with fewer than ``k`` steps strictly better: ties at the boundary are all kept."""
    ranked = ranked_steps(values, direction)
    if len(ranked) <= k:
        return ranked
    bar = values[ranked[k - 1]]
    return [s for s in ranked if (values[s] >= bar if direction == "max" else values[s] <= bar)]


def best_checkpoint(run: Run, metric: str, mode: str = "auto",
                    smoothing: float | None = None) -> tuple[int, float] | None:
    """(step, value) of the best existing checkpoint by ``metric`` (the earliest of ties), or None."""
    policy = Policy((Rule("best"),), metric, mode, smoothing)
    values = metric_values(run, policy)
    if not values:
        return None
    step = ranked_steps(values, policy.direction)[0]
    return step, values[step]


# Metrics trainers log for "how good is this step", most telling first.
PREFERRED_METRICS = (DEFAULT_METRIC, "eval_loss", "val_loss", "val/loss", "eval/loss",
                     "train/reward", "reward", "train/loss", "loss", "train_loss")


def suggest_metric(names: list[str]) -> str | None:
    """A sensible metric to show first among those a run logged."""
    available = set(names)
    for name in PREFERRED_METRICS:
        if name in available:
            return name
    for prefix in ("val/", "val_", "eval/", "eval_"):
        for name in sorted(available):
            if name.startswith(prefix):
                return name
    return min(available) if available else None


def metric_for(names: list[str], wanted: str | None) -> str | None:
    """``wanted`` when the run logs it, else the metric :func:`suggest_metric` picks.

    The one rule the CLI's ``ls`` and the app share to show a metric per run.
    """
    if wanted is not None and wanted in names:
        return wanted
    return suggest_metric(names) or wanted


def _missing_metric_message(run: Run, metric: str) -> str:
    available = ", ".join(run.metrics.names()) or "none"
    notes = "".join(f"; {note}" for note in run.metrics.notes)
    return (f"{run.project}/{run.name}: metric {metric!r} is not logged for any existing "
            f"checkpoint; nothing deleted (metrics logged: {available}){notes}")


def _rule_matches(rule: Rule, steps: list[int], values: dict[int, float], policy: Policy) -> list[int]:
    """The steps one rule selects (``steps`` sorted; ``values`` the metric at each)."""
    if rule.kind == "latest":
        return steps[-1:]
    if rule.kind == "last":
        return steps[-rule.n:]
    if rule.kind == "every":
        return [s for s in steps if s % rule.n == 0]
    if rule.kind in ("best", "top") and values:
        return top_steps(values, policy.direction, 1 if rule.kind == "best" else rule.n)
    if rule.kind == "step" and rule.n in steps:
        return [rule.n]
    return []


def _rule_reasons(run: Run, policy: Policy, values: dict[int, float]) -> dict[int, list[str]]:
    """Why each step is kept, by step (checkpoints sharing a step share its reasons)."""
    steps = sorted({c.step for c in run.checkpoints})
    reasons: dict[int, list[str]] = {step: [] for step in steps}
    best = top_steps(values, policy.direction, 1) if values else []
    for step in best:
        # Best is never deleted, whatever the rules; every step tied for it is best.
        reasons[step].append(f"best {policy.metric}" + (" (tied)" if len(best) > 1 else ""))
    # Latest is never deleted, whatever the rules.
    reasons[steps[-1]].append("latest")
    for rule in policy.rules:
        label = {"last": f"last {rule.n}", "every": f"every {rule.n}", "top": f"top {rule.n} {policy.metric}",
                 "step": "pinned"}.get(rule.kind)
        if label is not None:
            for step in _rule_matches(rule, steps, values, policy):
                reasons[step].append(label)
    for step, why in run.protected.items():
        if step in reasons:
            reasons[step].extend(why)
    return reasons


def whole_steps(run: Run, policy: Policy, values: dict[int, float] | None = None) -> set[int]:
    """Kept steps that keep their training state: the latest, what the trainer resumes from,
    and what ``policy.full`` selects (everything when it is None)."""
    steps = sorted({c.step for c in run.checkpoints})
    if policy.full is None:
        return set(steps)
    values = metric_values(run, policy) if values is None else values
    whole = set(steps[-1:]) | set(run.resume_steps)
    for rule in policy.full:
        whole.update(_rule_matches(rule, steps, values, policy))
    return whole


def _plan_slims(plan: Plan, run: Run, whole: set[int]) -> None:
    """Kept checkpoints outside ``whole`` lose their training state, where their layout allows."""
    if plan.policy.full is None or plan.refused:
        return
    kept = {k.key for k in plan.keep}
    for ckpt in run.checkpoints:
        if ckpt.key not in kept or ckpt.step in whole or ckpt.weights_only or ckpt.state is None:
            continue
        if ckpt.state.refusal:
            plan.slim_refused.append(SlimRefused(ckpt.step, ckpt.name, ckpt.state.refusal))
        elif ckpt.state.files:
            plan.slim.append(SlimStep(ckpt.step, ckpt.state.bytes, ckpt.name, ckpt.state.files))


def plan_run(run: Run, policy: Policy) -> Plan:
    """Decide, without touching storage, which checkpoints of ``run`` to keep."""
    plan = Plan(run.project, run.name, policy, latest_step=run.latest_step, source=run)
    plan.pending = [KeptStep(c.step, c.bytes, (c.note or "incomplete",), c.name) for c in run.pending]
    if run.refusal:  # refused even with no complete step (a tracker that cannot be read makes none)
        plan.refused = f"{run.project}/{run.name}: {run.refusal}"
    if not run.checkpoints:
        return plan
    values = metric_values(run, policy)
    if not plan.refused and policy.metric is not None and not values:
        plan.refused = _missing_metric_message(run, policy.metric)
    if values:
        plan.best_steps = sorted(top_steps(values, policy.direction, 1))
        plan.best_value = values[plan.best_steps[0]]
    reasons = _rule_reasons(run, policy, values)
    doomed = []
    _drop_marked(reasons, policy.marked, set(plan.best_steps), run)
    for ckpt in run.checkpoints:
        why = tuple(dict.fromkeys(reasons[ckpt.step]))
        if why or plan.refused:
            plan.keep.append(KeptStep(ckpt.step, ckpt.bytes, why or ("refused",), ckpt.name))
        else:
            doomed.append(ckpt)
    freed = freed_bytes(doomed, run)
    plan.delete = [DeletedStep(c.step, freed[c.key], c.name) for c in doomed]
    _plan_slims(plan, run, whole_steps(run, policy, values))
    return plan


def _drop_marked(reasons: dict[int, list[str]], marked: frozenset[int], best: set[int], run: Run) -> None:
    """A step marked by hand loses the reasons rules gave it, unless it must stay.

    Latest, best, pinned and trainer-protected steps are kept whatever is marked.
    """
    for step in marked:
        if step not in reasons or step in best or step == run.checkpoints[-1].step or step in run.protected:
            continue
        if "pinned" not in reasons[step]:
            reasons[step] = []

