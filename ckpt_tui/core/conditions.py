"""Conditions that pick checkpoints: ``val/reward < 0.5``, ``older than 7d``, ``size > 1G``.

Parts joined by ``and`` must all hold. A metric condition holds only at steps
that logged the metric; ``step`` compares the step number.
"""

from __future__ import annotations

import math
import operator
import re
import time
from collections.abc import Callable
from itertools import compress, repeat
from dataclasses import dataclass

from .errors import CkptError
from .models import Checkpoint, Run
from .retention import Policy, plan_run

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, ">=": operator.ge, "==": operator.eq, "!=": operator.ne,
    "<": operator.lt, ">": operator.gt, "=": operator.eq,
}
SIZE_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
              "t": 10**12, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
DURATION_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
EXAMPLES = "val/reward < 0.5, older than 7d, size > 1G, step <= 1000 (join with 'and')"

_COMPARISON = re.compile(r"^\s*(\S+?)\s*(<=|>=|==|!=|<|>|=)\s*(\S+)\s*$")
_AGE = re.compile(r"^\s*(older|newer)\s+than\s+(\d+(?:\.\d+)?)\s*([a-z]+)\s*$")


class BadCondition(CkptError):
    pass


def parse_size(text: str) -> int:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([a-zA-Z]*)", text.strip())
    unit = match.group(2).lower() if match else None
    if match is None or unit not in SIZE_UNITS:
        raise BadCondition(f"{text!r} is not a size (say 500M, 1.5G, 2TiB)")
    return int(float(match.group(1)) * SIZE_UNITS[unit])


@dataclass(frozen=True, slots=True)
class Condition:
    """One comparison: ``subject`` is ``size``, ``step``, ``age`` (seconds) or a metric name."""

    subject: str
    compare: Callable[[float, float], bool]
    bound: float

    def test(self, run: Run, now: float) -> Callable[[Checkpoint], bool]:
        """Whether the condition holds for a checkpoint of ``run`` (a metric read once per run)."""
        compare, bound = self.compare, self.bound
        if self.subject == "size":
            return lambda c: compare(c.bytes, bound)
        if self.subject == "step":
            return lambda c: compare(c.step, bound)
        if self.subject == "age":
            return lambda c: compare(now - c.mtime, bound)
        values = {step: v for step, v in run.metrics.series(self.subject) if not math.isnan(v)}
        return lambda c: c.step in values and compare(values[c.step], bound)


def parse_one(text: str, metrics: list[str]) -> Condition:
    age = _AGE.match(text.lower())
    if age:
        older, amount, unit = age.group(1) == "older", float(age.group(2)), age.group(3)
        if unit not in DURATION_UNITS:
            raise BadCondition(f"{unit!r} is not a unit of time (s, m, h, d, w)")
        return Condition("age", operator.gt if older else operator.lt, amount * DURATION_UNITS[unit])
    match = _COMPARISON.match(text)
    if match is None:
        raise BadCondition(f"{text.strip()!r} is not a condition; try {EXAMPLES}")
    subject, symbol, bound = match.groups()
    if subject == "size":
        return Condition("size", OPERATORS[symbol], parse_size(bound))
    try:
        number = float(bound)
    except ValueError:
        raise BadCondition(f"{bound!r} is not a number") from None
    if subject != "step" and subject not in metrics:
        raise BadCondition(f"{subject!r} is not logged here (metrics: {', '.join(metrics) or 'none'})")
    return Condition(subject, OPERATORS[symbol], number)


def parse_conditions(text: str, metrics: list[str]) -> list[Condition]:
    """``text``'s conditions; raises :class:`BadCondition` saying what is wrong."""
    parts = [p for p in re.split(r"\s+and\s+", text.strip()) if p.strip()]
    if not parts:
        raise BadCondition(f"type a condition: {EXAMPLES}")
    return [parse_one(part, metrics) for part in parts]


def matching_steps(run: Run, conditions: list[Condition], now: float | None = None) -> list[Checkpoint]:
    """The checkpoints of ``run`` for which every condition holds, in step order."""
    if not conditions:
        return list(run.checkpoints)
    return list(compress(run.checkpoints, Columns(run).matching(conditions, now)))


class Columns:
    """A run's checkpoints as columns: step, size, time and, once asked for, a metric's values
    (made once per run), so that a condition is one pass of comparisons made in C over a column,
    not a Python call per checkpoint; the answers for the last few conditions are kept (a dialog
    counts the steps a condition picks at each key typed: ``size > 1k and step < 9`` then ``< 90``
    compares the sizes once)."""

    KEPT = 16  # conditions whose answers are kept

    def __init__(self, run: Run) -> None:
        self.run = run
        self.steps = [c.step for c in run.checkpoints]
        self.sizes = [c.bytes for c in run.checkpoints]
        self.mtimes = [c.mtime for c in run.checkpoints]
        self.index = {step: i for i, step in enumerate(self.steps)}  # a shared step: its last checkpoint
        self.shared = len(self.index) != len(self.steps)  # two checkpoints share a step
        self._metrics = run.metrics
        self._values: dict[str, tuple[list[float], list[bool]]] = {}
        self._answers: dict[tuple, list[bool]] = {}

    def values(self, metric: str) -> tuple[list[float], list[bool]]:
        """The metric at each checkpoint (0 where not logged), and whether it was logged there."""
        known = self._values.get(metric)
        if known is None:
            logged = {step: v for step, v in self.run.metrics.series(metric) if not math.isnan(v)}
            known = self._values[metric] = ([logged.get(s, 0.0) for s in self.steps], [s in logged for s in self.steps])
        return known

    def holds(self, condition: Condition, now: float) -> list[bool]:
        """Whether ``condition`` holds, checkpoint by checkpoint (a metric's only where it was logged)."""
        if self.run.metrics is not self._metrics:  # metrics read again for the same run
            self._metrics, self._values, self._answers = self.run.metrics, {}, {}
        compare, bound = condition.compare, condition.bound
        if condition.subject == "age":  # changes with the time: never kept
            return list(map(compare, map(operator.sub, repeat(now), self.mtimes), repeat(bound)))
        key = (condition.subject, compare, bound)
        answer = self._answers.get(key)
        if answer is None:
            if condition.subject in ("size", "step"):
                answer = list(map(compare, self.sizes if condition.subject == "size" else self.steps, repeat(bound)))
            else:
                values, logged = self.values(condition.subject)
                answer = list(map(operator.and_, logged, map(compare, values, repeat(bound))))
            if len(self._answers) >= self.KEPT:
                self._answers.clear()
            self._answers[key] = answer
        return answer

    def picked_steps(self, picked: list[bool], never: dict[int, str]) -> tuple[int, dict[int, str]]:
        """How many steps ``picked`` (``matching``'s answer) picks that are not in ``never``, and
        those of ``never`` it picks (a step is picked when any of its checkpoints is)."""
        if not self.shared:  # a step a checkpoint: counted, and the few in ``never`` looked up
            index = self.index
            skipped = {step: why for step, why in never.items() if step in index and picked[index[step]]}
            return picked.count(True) - len(skipped), skipped
        steps = set(compress(self.steps, picked))
        skipped = {step: why for step, why in never.items() if step in steps}
        return len(steps) - len(skipped), skipped

    def matching(self, conditions: list[Condition], now: float | None = None) -> list[bool]:
        """Whether every one of ``conditions`` holds, checkpoint by checkpoint."""
        now = time.time() if now is None else now
        answer: list[bool] | None = None
        for condition in conditions:
            holds = self.holds(condition, now)
            answer = holds if answer is None else list(map(operator.and_, answer, holds))
        return answer if answer is not None else [True] * len(self.steps)


def never_marked(run: Run, policy: Policy) -> dict[int, str]:
    """Steps that stay whatever is marked, and why: the plan's own answer, asked with every
    step marked (latest, best, pinned, what the trainer protects; saves in progress)."""
    marked = frozenset(c.step for c in run.checkpoints)
    plan = plan_run(run, policy._replace(marked=policy.marked | marked))
    why = {p.step: ", ".join(p.reasons) for p in plan.pending if p.step is not None}
    if plan.refused:
        return why | {c.step: plan.refused for c in run.checkpoints}
    return why | {k.step: ", ".join(k.reasons) for k in plan.keep if k.step is not None}
