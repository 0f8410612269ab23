"""Retention rules and the plans they produce. Pure: nothing here touches storage."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from .errors import Refused
from .metrics import smooth
from .models import Checkpoint, Run

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
    marked: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        if self.metric is None and any(r.kind in ("best", "top") for r in self.rules):
            raise Refused("rules 'best' and 'top' need a metric")
        if self.metric is not None:
            resolve_mode(self.metric, self.mode)
        if self.smoothing is not None and not 0 < self.smoothing <= 1:
            raise Refused("smoothing must be in (0, 1]; 1 means none")

    @classmethod
    def parse(cls, keep: str = "best,latest", metric: str | None = DEFAULT_METRIC,
              mode: str = "auto", smoothing: float | None = None) -> Policy:
        if metric is not None and metric.strip().lower() in ("", "none"):
            metric = None
        return cls(parse_rules(keep), metric, mode, smoothing)

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

    def describe(self, explain_auto: bool = False) -> str:
        """Human summary, e.g. ``keep best val/reward (max) + latest``.

        ``explain_auto`` writes an automatic direction as ``auto→max``.
        """
        direction = self.direction_label if explain_auto else self.direction
        parts = []
        for rule in self.rules:
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
        if self.pins:
            parts.append("pinned " + ",".join(str(s) for s in sorted(self.pins)))
        if self.marked:
            parts.append(f"{len(self.marked)} marked for deletion")
        if self.smoothing is not None and self.smoothing < 1:
            parts.append(f"smoothing {self.smoothing:g}")
        return "keep " + " + ".join(parts)


@dataclass(frozen=True, slots=True)
class KeptStep:
    step: int
    bytes: int
    reasons: tuple[str, ...]
    name: str = ""


@dataclass(frozen=True, slots=True)
class DeletedStep:
    step: int
    bytes: int
    name: str = ""


@dataclass(slots=True)
class Plan:
    """For one run: what is kept and why, what is deleted, what it frees."""

    project: str
    run: str
    policy: Policy
    keep: list[KeptStep] = field(default_factory=list)
    delete: list[DeletedStep] = field(default_factory=list)
    pending: list[KeptStep] = field(default_factory=list)
    best_step: int | None = None
    best_value: float | None = None
    latest_step: int | None = None
    refused: str | None = None

    @property
    def freed_bytes(self) -> int:
        return sum(d.bytes for d in self.delete)

    @property
    def delete_steps(self) -> set[int]:
        return {d.step for d in self.delete}

    def reasons(self) -> dict[int, tuple[str, ...]]:
        return {k.step: k.reasons for k in self.keep}

    def to_json(self) -> dict:
        return {
            "project": self.project,
            "run": self.run,
            "metric": self.policy.metric,
            "mode": self.policy.direction,
            "rules": self.policy.keep_text,
            "best_step": self.best_step,
            "best_value": self.best_value,
            "latest_step": self.latest_step,
            "keep": [{"step": k.step, "bytes": k.bytes, "reasons": list(k.reasons)} for k in self.keep],
            "delete": [{"step": d.step, "bytes": d.bytes} for d in self.delete],
            "pending": [{"step": p.step, "bytes": p.bytes, "reasons": list(p.reasons)} for p in self.pending],
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
    """Steps from best to worst; ties go to the later step."""
    sign = 1 if direction == "max" else -1
    return sorted(values, key=lambda s: (sign * values[s], s), reverse=True)


def best_checkpoint(run: Run, metric: str, mode: str = "auto",
                    smoothing: float | None = None) -> tuple[int, float] | None:
    """(step, value) of the best existing checkpoint by ``metric``, or None."""
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


def plan_run(run: Run, policy: Policy) -> Plan:
    """Decide, without touching storage, which checkpoints of ``run`` to keep."""
    plan = Plan(run.project, run.name, policy, latest_step=run.latest_step)
    plan.pending = [KeptStep(c.step, c.bytes, (c.note or "incomplete",), c.name) for c in run.pending]
    if not run.checkpoints:
        return plan
    reasons: dict[int, list[str]] = {c.step: [] for c in run.checkpoints}
    values = metric_values(run, policy)
    if policy.metric is not None and not values:
        plan.refused = _missing_metric_message(run, policy.metric)
    ranked = ranked_steps(values, policy.direction) if values else []
    if ranked:
        plan.best_step, plan.best_value = ranked[0], values[ranked[0]]
        # Best is never deleted, whatever the rules.
        reasons[ranked[0]].append(f"best {policy.metric}")
    # Latest is never deleted, whatever the rules.
    reasons[run.checkpoints[-1].step].append("latest")
    steps = [c.step for c in run.checkpoints]
    for rule in policy.rules:
        if rule.kind == "last":
            for step in steps[-rule.n:]:
                reasons[step].append(f"last {rule.n}")
        elif rule.kind == "every":
            for step in steps:
                if step % rule.n == 0:
                    reasons[step].append(f"every {rule.n}")
        elif rule.kind == "top":
            for step in ranked[: rule.n]:
                reasons[step].append(f"top {rule.n} {policy.metric}")
        elif rule.kind == "step" and rule.n in reasons:
            reasons[rule.n].append("pinned")
    for step, why in run.protected.items():
        if step in reasons:
            reasons[step].extend(why)
    _drop_marked(reasons, policy.marked, ranked[0] if ranked else None, run)
    for ckpt in run.checkpoints:
        why = tuple(dict.fromkeys(reasons[ckpt.step]))
        if why or plan.refused:
            plan.keep.append(KeptStep(ckpt.step, ckpt.bytes, why or ("refused",), ckpt.name))
        else:
            plan.delete.append(DeletedStep(ckpt.step, ckpt.bytes, ckpt.name))
    return plan


def _drop_marked(reasons: dict[int, list[str]], marked: frozenset[int], best: int | None, run: Run) -> None:
    """A step marked by hand loses the reasons rules gave it, unless it must stay.

    Latest, best, pinned and trainer-protected steps are kept whatever is marked.
    """
    for step in marked:
        if step not in reasons or step in (best, run.checkpoints[-1].step) or step in run.protected:
            continue
        if "pinned" not in reasons[step]:
            reasons[step] = []


def checkpoint_key(ckpt: Checkpoint | DeletedStep) -> tuple[int, str]:
    return ckpt.step, ckpt.name
