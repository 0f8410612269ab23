"""Retention rules and the plans they produce. Pure: nothing here touches storage."""

from __future__ import annotations

from .errors import Refused
from .metrics import smooth
from .models import Run, freed_bytes
from .records import FrozenRecord, NamedTuple, Record
from .rules import KINDS, MAX_NUMBER, RULES_HELP, StepFacts, ranked_steps, top_steps  # noqa: F401 (re-exported)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Literal

_new = tuple.__new__

DEFAULT_METRIC = "val/reward"


class Rule(FrozenRecord):
    """One rule of a policy: its kind (see ``rules.KINDS``) and argument."""

    __slots__ = ("kind", "n")

    def __init__(self, kind: str, n: int | None = None) -> None:
        self._set(kind, n)

    def __str__(self) -> str:
        return KINDS[self.kind].text(self.n)

    @property
    def needs_metric(self) -> bool:
        return KINDS[self.kind].needs_metric

    def select(self, facts: StepFacts) -> list[int]:
        return KINDS[self.kind].select(self.n, facts)

    def label(self, metric: str | None) -> str | None:
        return KINDS[self.kind].label(self.n, metric)


def parse_rules(text: str) -> tuple[Rule, ...]:
    """Parse ``best,latest,last:3,every:100,top:2,step:40,budget:50G,interval:1h`` into rules."""
    rules: list[Rule] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, _, arg = part.partition(":")
        kind = KINDS.get(name.strip().lower())
        if kind is None:
            raise Refused(f"unknown rule {part[:40]!r}; {RULES_HELP}")
        rules.append(Rule(kind.name, kind.parse(arg)))
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


class Policy(FrozenRecord):
    """What to keep: rules plus the metric that defines "best".

    ``marked`` are steps chosen by hand for deletion: they go even where a rule
    such as ``last:N`` would keep them, but never when they are the latest, the
    best, pinned, or protected by the trainer. ``full``: which kept steps keep
    their training state; None: all of them (nothing is slimmed).
    """

    __slots__ = ("rules", "metric", "mode", "smoothing", "full", "marked")

    def __init__(self, rules: tuple[Rule, ...] = (Rule("best"), Rule("latest")), metric: str | None = DEFAULT_METRIC,
                 mode: str = "auto", smoothing: float | None = None, full: tuple[Rule, ...] | None = None,
                 marked: frozenset[int] = frozenset()) -> None:
        self._set(rules, metric, mode, smoothing, full, marked)
        if self.metric is None and self.needs_metric:
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
    def needs_metric(self) -> bool:
        """Whether a rule (kept or kept whole) chooses by the metric: without one it cannot apply."""
        return any(r.needs_metric for r in self.rules + (self.full or ()))

    @property
    def direction(self) -> Literal["max", "min"] | None:
        return resolve_mode(self.metric, self.mode) if self.metric else None

    @property
    def pins(self) -> frozenset[int]:
        return frozenset(r.n for r in self.rules if r.kind == "step" and r.n is not None)

    def toggle_pin(self, step: int) -> Policy:
        pin = Rule("step", step)
        rules = tuple(r for r in self.rules if r != pin)
        return self._replace(rules=rules if len(rules) < len(self.rules) else self.rules + (pin,))

    def with_metric(self, metric: str | None, mode: str | None = None) -> Policy:
        return self._replace(metric=metric, mode=mode or self.mode)

    def with_steps(self, pins: frozenset[int] = frozenset(), marked: frozenset[int] = frozenset()) -> Policy:
        """This policy plus pins (``step:N`` rules) and steps marked for deletion."""
        extra = tuple(Rule("step", s) for s in sorted(pins) if Rule("step", s) not in self.rules)
        # The marks themselves when there are none yet: a union copies every step (20,000 on a
        # large run, where all are marked), and the app asks for a run's policy a few times a key.
        return self._replace(rules=self.rules + extra,
                             marked=self.marked | marked if self.marked else frozenset(marked))

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
        return [KINDS[r.kind].describe(r.n, self.metric, direction) for r in rules if r.kind != "step"]

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


class KeptStep(NamedTuple):
    step: int | None
    bytes: int
    reasons: tuple[str, ...]
    name: str = ""

    @property
    def key(self) -> tuple[int, str]:
        return (self.step if self.step is not None else -1), self.name

    def to_json(self) -> dict:
        return {"step": self.step, "name": self.name, "bytes": self.bytes, "reasons": list(self.reasons)}


class DeletedStep(NamedTuple):
    """A checkpoint a plan deletes; ``bytes`` is what deleting it gives back."""

    step: int
    bytes: int
    name: str = ""

    @property
    def key(self) -> tuple[int, str]:
        return self.step, self.name

    def to_json(self) -> dict:
        return {"step": self.step, "name": self.name, "bytes": self.bytes}


class SlimStep(NamedTuple):
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


class SlimRefused(NamedTuple):
    """A checkpoint the rule would slim that cannot be slimmed, and why."""

    step: int
    name: str
    reason: str

    def to_json(self) -> dict:
        return {"step": self.step, "name": self.name, "reason": self.reason}


class Plan(Record):
    """For one run: what is kept and why, what is slimmed, what is deleted, what it frees."""

    __slots__ = ("project", "run", "policy", "keep", "delete", "slim", "slim_refused", "pending", "best_steps",
                 "best_value", "latest_step", "refused", "source", "resolved")
    _compared = __slots__[:-2]  # not the run planned nor the resolved policy

    def __init__(self, project: str, run: str, policy: Policy, keep: list[KeptStep] | None = None,
                 delete: list[DeletedStep] | None = None, slim: list[SlimStep] | None = None,
                 slim_refused: list[SlimRefused] | None = None, pending: list[KeptStep] | None = None,
                 best_steps: list[int] | None = None, best_value: float | None = None, latest_step: int | None = None,
                 refused: str | None = None, source: Run | None = None, resolved: Any = None) -> None:
        self.project = project
        self.run = run
        self.policy = policy
        self.keep = [] if keep is None else keep
        self.delete = [] if delete is None else delete
        self.slim = [] if slim is None else slim
        self.slim_refused = [] if slim_refused is None else slim_refused
        self.pending = [] if pending is None else pending
        self.best_steps = [] if best_steps is None else best_steps
        self.best_value = best_value
        self.latest_step = latest_step
        self.refused = refused
        # The run as planned: what freed bytes are computed against at execution.
        self.source = source
        # The policy with where each part comes from (``core.policy.Resolved``), when resolved so.
        self.resolved = resolved

    def refuse(self, why: str) -> None:
        """Nothing of the run is deleted or slimmed, for ``why``."""
        self.refused = why
        self.keep = sorted(self.keep + [KeptStep(d.step, d.bytes, ("refused",), d.name) for d in self.delete],
                           key=lambda k: k.key)
        self.delete, self.slim, self.slim_refused = [], [], []

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
            "policy": self.resolved.to_json() if self.resolved is not None else None,
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


def best_checkpoint(run: Run, metric: str, mode: str = "auto",
                    smoothing: float | None = None) -> tuple[int, float] | None:
    """(step, value) of the best existing checkpoint by ``metric`` (the earliest of ties), or None."""
    policy = Policy((Rule("best"),), metric, mode, smoothing)
    values = metric_values(run, policy)
    if not values:
        return None
    step = ranked_steps(values, policy.direction)[0]
    return step, values[step]


def tied_best_steps(run: Run, metric: str, mode: str = "auto", smoothing: float | None = None) -> frozenset[int]:
    """Every existing step tied for best by ``metric`` (what a plan keeps as best), or none."""
    policy = Policy((Rule("best"),), metric, mode, smoothing)
    return frozenset(top_steps(metric_values(run, policy), policy.direction, 1))


def best_across(runs: list[Run], metric: str, mode: str = "auto",
                smoothing: float | None = None) -> list[tuple[Run, int, float]]:
    """The best existing checkpoint across ``runs``: (run, step, value) of each run whose
    best ties for the best value of them all, in the order of ``runs``."""
    bests = [(run, *best) for run in runs if (best := best_checkpoint(run, metric, mode, smoothing))]
    if not bests:
        return []
    pick = max if resolve_mode(metric, mode) == "max" else min
    top = pick(value for _, _, value in bests)
    return [best for best in bests if best[2] == top]


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


COLUMN_PREFIXES = ("val/", "train/reward")


def metric_columns(names: list[str], metric: str | None, extra: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """The metric columns shown for a run, by the app and by ``ls --run``: the metric in force
    first, then ``val/*`` and ``train/reward``, then ``extra`` ones asked for."""
    shown = [n for n in names if n.startswith(COLUMN_PREFIXES) or n in extra]
    return list(dict.fromkeys(([metric] if metric in names else []) + shown))


def _missing_metric_message(run: Run, metric: str) -> str:
    """Why ``metric`` chooses no best: never logged, or logged only at steps no longer there."""
    logged = [step for step, _ in run.metrics.series(metric)]
    notes = "".join(f"; {note}" for note in run.metrics.notes)
    if logged:
        shown = ", ".join(str(s) for s in logged[-3:])
        return (f"{run.project}/{run.name}: {metric} is logged, but at no remaining checkpoint "
                f"(logged at step{'s' if len(logged) > 1 else ''} {'..., ' if len(logged) > 3 else ''}{shown}); "
                f"nothing deleted{notes}")
    available = ", ".join(run.metrics.names()) or "none"
    return (f"{run.project}/{run.name}: metric {metric!r} is not logged; nothing deleted "
            f"(metrics logged: {available}){notes}")


def step_facts(run: Run, policy: Policy, values: dict[int, float], steps: list[int] | None = None,
               rules: tuple[Rule, ...] | None = None) -> StepFacts:
    """What the rules of ``policy`` choose from in ``run`` (``steps``: among these only); sizes, times
    and the steps kept whatever only where one of ``rules`` (all the policy's) reads them."""
    all_steps = sorted({c.step for c in run.checkpoints})
    steps = all_steps if steps is None else steps
    chosen = set(steps)
    shown = {s: v for s, v in values.items() if s in chosen}
    rules = (*policy.rules, *(policy.full or ())) if rules is None else rules
    if not any(KINDS[rule.kind].reads_sizes for rule in rules):
        return StepFacts(steps, shown, policy.direction, policy.metric, {}, {}, frozenset())
    if len(all_steps) == len(run.checkpoints):  # one checkpoint a step, the usual run: nothing to add up
        sizes = {ckpt.step: ckpt.bytes for ckpt in run.checkpoints}
        times = {ckpt.step: ckpt.mtime if ckpt.mtime > 0.0 else 0.0 for ckpt in run.checkpoints}
    else:
        sizes, times = {}, {}
        for ckpt in run.checkpoints:
            sizes[ckpt.step] = sizes.get(ckpt.step, 0) + ckpt.bytes
            times[ckpt.step] = max(times.get(ckpt.step, 0.0), ckpt.mtime)
    best = top_steps(values, policy.direction, 1) if values else []
    always = frozenset(best) | frozenset(all_steps[-1:]) | (policy.pins & set(all_steps))
    return StepFacts(steps, shown, policy.direction, policy.metric, sizes, times, always)


def _rule_reasons(run: Run, policy: Policy, values: dict[int, float]) -> dict[int, list[str]]:
    """Why each step is kept, by step (checkpoints sharing a step share its reasons)."""
    facts = step_facts(run, policy, values, rules=policy.rules)
    reasons: dict[int, list[str]] = {step: [] for step in facts.steps}
    best = top_steps(values, policy.direction, 1) if values else []
    for step in best:
        # Best is never deleted, whatever the rules; every step tied for it is best.
        reasons[step].append(f"best {policy.metric}" + (" (tied)" if len(best) > 1 else ""))
    # Latest is never deleted, whatever the rules.
    reasons[facts.steps[-1]].append("latest")
    for rule in policy.rules:
        label = rule.label(policy.metric)
        if label is not None:
            for step in rule.select(facts):
                reasons[step].append(label)
    for step, why in run.protected.items():
        if step in reasons:
            reasons[step].extend(why)
    return reasons


def whole_steps(run: Run, policy: Policy, values: dict[int, float] | None = None,
                kept: set[int] | None = None) -> set[int]:
    """Kept steps that keep their training state: the latest, what the trainer resumes from,
    and what ``policy.full`` selects among the ``kept`` steps (everything when it is None)."""
    steps = sorted({c.step for c in run.checkpoints})
    if policy.full is None:
        return set(steps)
    values = metric_values(run, policy) if values is None else values
    facts = step_facts(run, policy, values, sorted(kept) if kept is not None else None, policy.full)
    whole = set(steps[-1:]) | set(run.resume_steps)
    for rule in policy.full:
        whole.update(rule.select(facts))
    return whole


def _plan_slims(plan: Plan, run: Run, whole: set[int]) -> None:
    """Kept checkpoints outside ``whole`` lose their training state, where their layout allows."""
    if plan.policy.full is None:
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
    """Decide, without touching storage, which checkpoints of ``run`` to keep.

    A rule that chooses by the metric refuses the run when the metric is at no
    checkpoint, unless nothing would be deleted or slimmed anyway.
    """
    plan = Plan(run.project, run.name, policy, latest_step=run.latest_step, source=run)
    plan.pending = [KeptStep(c.step, c.bytes, (c.note or "incomplete",), c.name) for c in run.pending]
    if not run.checkpoints:
        if run.refusal:  # refused even with no complete step (a tracker that cannot be read makes none)
            plan.refuse(f"{run.project}/{run.name}: {run.refusal}")
        return plan
    values = metric_values(run, policy)
    if values:
        plan.best_steps = sorted(top_steps(values, policy.direction, 1))
        plan.best_value = values[plan.best_steps[0]]
    reasons = _rule_reasons(run, policy, values)
    doomed = []
    _drop_marked(reasons, policy.marked, set(plan.best_steps), run)
    for ckpt in run.checkpoints:
        why = reasons[ckpt.step]
        if why:
            plan.keep.append(KeptStep(ckpt.step, ckpt.bytes, tuple(dict.fromkeys(why)), ckpt.name))
        else:
            doomed.append(ckpt)
    freed = freed_bytes(doomed, run)
    # Without DeletedStep's Python __new__, nor a call of Checkpoint.key for each (made as it makes it)
    plan.delete = [_new(DeletedStep, (c.step, freed[c.step if c.step is not None else -1, c.name], c.name))
                   for c in doomed]
    if policy.full is not None:  # else nothing is slimmed: no need to know which steps stay whole
        _plan_slims(plan, run, whole_steps(run, policy, values, {k.step for k in plan.keep if k.step is not None}))
    if run.refusal:
        plan.refuse(f"{run.project}/{run.name}: {run.refusal}")
    elif policy.metric is not None and policy.needs_metric and not values and (plan.delete or plan.slim):
        plan.refuse(_missing_metric_message(run, policy.metric))
    return plan


def kept_outline(run: Run, policy: Policy) -> tuple[list[int], list[int], str | None]:
    """``plan_run(run, policy)``'s best steps, kept steps (sorted) and refusal, and nothing else: no
    bytes freed, no deleted or kept step made (``ls`` shows no more of a plan)."""
    if not run.checkpoints or policy.full is not None:  # the rare runs: the whole plan
        plan = plan_run(run, policy)
        return plan.best_steps, sorted({k.step for k in plan.keep if k.step is not None}), plan.refused
    values = metric_values(run, policy)
    best = sorted(top_steps(values, policy.direction, 1)) if values else []
    reasons = _rule_reasons(run, policy, values)
    _drop_marked(reasons, policy.marked, set(best), run)
    kept = [step for step, why in reasons.items() if why]  # ``reasons`` holds every step, in order
    refused = None
    if run.refusal:
        refused = f"{run.project}/{run.name}: {run.refusal}"
    elif policy.metric is not None and policy.needs_metric and not values and len(kept) < len(reasons):
        refused = _missing_metric_message(run, policy.metric)
    if refused is not None:
        kept = list(reasons)  # a refused plan keeps every step
    return best, [step for step in kept if step is not None], refused


def _drop_marked(reasons: dict[int, list[str]], marked: frozenset[int], best: set[int], run: Run) -> None:
    """A step marked by hand loses the reasons rules gave it, unless it must stay.

    Latest, best, pinned and trainer-protected steps are kept whatever is marked.
    """
    for step in marked:
        if step not in reasons or step in best or step == run.checkpoints[-1].step or step in run.protected:
            continue
        if "pinned" not in reasons[step]:
            reasons[step] = []

