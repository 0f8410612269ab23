"""Retention rules as small objects: each kind knows how it is written, which steps it keeps,
why (its label, given per step), and whether it needs a metric. A policy keeps a step when any
of its rules does; best, latest and pins are kept whatever the rules are.
"""

from __future__ import annotations

import re

from .errors import Refused
from .lazy_pattern import LazyPattern
from .records import NamedTuple

# Steps, counts and sizes above this are typing mistakes, never a real training run.
MAX_NUMBER = 10**15
_SIZE = LazyPattern(r"^(\d{1,16})\s*(?:([kmgtp])(i?)b?|b?)$", re.IGNORECASE)
_DURATION = LazyPattern(r"^(\d{1,12})\s*([smhdw])$", re.IGNORECASE)
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class StepFacts(NamedTuple):
    """What rules choose from: the run's steps (sorted), the metric at each, their sizes and
    write times, and the steps kept whatever the rules (best, latest, pins)."""

    steps: list[int]
    values: dict[int, float]
    direction: str | None
    metric: str | None
    sizes: dict[int, int]
    times: dict[int, float]
    always: frozenset[int]


def ranked_steps(values: dict[int, float], direction: str) -> list[int]:
    """Steps from best to worst; equal values in step order."""
    sign = -1 if direction == "max" else 1
    return sorted(values, key=lambda s: (sign * values[s], s))


def top_steps(values: dict[int, float], direction: str, k: int) -> list[int]:
    """Steps with fewer than ``k`` steps strictly better: ties at the boundary are all kept."""
    if k == 1 and values:  # the best and every step tied with it, in step order: no ranking of all steps
        bar = max(values.values()) if direction == "max" else min(values.values())
        return sorted(step for step, value in values.items() if value == bar)
    ranked = ranked_steps(values, direction)
    if len(ranked) <= k:
        return ranked
    bar = values[ranked[k - 1]]
    return [s for s in ranked if (values[s] >= bar if direction == "max" else values[s] <= bar)]


class RuleKind:
    """One kind of rule; ``n`` is its argument (a count, a step, bytes, seconds), None for none."""

    name = ""
    example = ""  # how it is written, for messages
    needs_metric = False
    reads_sizes = False  # whether ``select`` reads the facts' sizes, times and steps kept whatever

    def parse(self, arg: str) -> int | None:
        if arg:
            raise Refused(f"rule {self.name!r} takes no argument")
        return None

    def text(self, n: int | None) -> str:
        return self.name if n is None else f"{self.name}:{n}"

    def select(self, n: int | None, facts: StepFacts) -> list[int]:
        raise NotImplementedError

    def label(self, n: int | None, metric: str | None) -> str | None:
        """Why a step this rule keeps is kept (None: the reason is given apart, as best's and latest's)."""
        return None

    def describe(self, n: int | None, metric: str | None, direction: str | None) -> str:
        return self.label(n, metric) or self.name


class _Counted(RuleKind):
    least = 1

    def parse(self, arg: str) -> int:
        digits = arg.strip()
        if not (digits.isascii() and digits.isdigit()):
            raise Refused(f"rule {self.name!r} needs a whole number, e.g. {self.example}")
        if len(digits.lstrip("0")) > len(str(MAX_NUMBER)) or int(digits) > MAX_NUMBER:
            raise Refused(f"rule {self.name!r}: {digits[:20]}{'...' if len(digits) > 20 else ''} is too large "
                          f"(at most {MAX_NUMBER})")
        if int(digits) < self.least:
            raise Refused(f"rule '{self.name}:{digits}' needs a number of at least {self.least}")
        return int(digits)


class Best(RuleKind):
    name, example, needs_metric = "best", "best", True

    def select(self, n: int | None, facts: StepFacts) -> list[int]:
        return top_steps(facts.values, facts.direction, 1) if facts.values else []

    def describe(self, n: int | None, metric: str | None, direction: str | None) -> str:
        return f"best {metric} ({direction})"


class Latest(RuleKind):
    name, example = "latest", "latest"

    def select(self, n: int | None, facts: StepFacts) -> list[int]:
        return facts.steps[-1:]


class LastN(_Counted):
    name, example = "last", "last:5"

    def select(self, n: int, facts: StepFacts) -> list[int]:
        return facts.steps[-n:]

    def label(self, n: int, metric: str | None) -> str:
        return f"last {n}"


class EveryN(_Counted):
    name, example = "every", "every:100"

    def select(self, n: int, facts: StepFacts) -> list[int]:
        return [s for s in facts.steps if s % n == 0]

    def label(self, n: int, metric: str | None) -> str:
        return f"every {n}"


class TopK(_Counted):
    name, example, needs_metric = "top", "top:3", True

    def select(self, n: int, facts: StepFacts) -> list[int]:
        return top_steps(facts.values, facts.direction, n) if facts.values else []

    def label(self, n: int, metric: str | None) -> str:
        return f"top {n} {metric}"

    def describe(self, n: int, metric: str | None, direction: str | None) -> str:
        return f"top {n} {metric} ({direction})"


class CustomStep(_Counted):
    """``step:N``: a pin."""

    name, example, least = "step", "step:40", 0

    def select(self, n: int, facts: StepFacts) -> list[int]:
        return [n] if n in facts.steps else []

    def label(self, n: int, metric: str | None) -> str:
        return "pinned"

    def describe(self, n: int, metric: str | None, direction: str | None) -> str:
        return f"step {n}"


def _size_text(n: int) -> str:
    for units, base in (("TGMK", 1000), ("TGMK", 1024)):
        for power, unit in zip((4, 3, 2, 1), units):
            if n >= base**power and n % base**power == 0:
                return f"{n // base**power}{unit}{'i' if base == 1024 else ''}"
    return str(n)


class Budget(RuleKind):
    """``budget:50G``: the newest steps whose total fits in the size; best, latest and pins are
    kept whatever and count against it."""

    name, example = "budget", "budget:50G"
    reads_sizes = True

    def parse(self, arg: str) -> int:
        match = _SIZE.match(arg.strip())
        if not match:
            raise Refused("rule 'budget' needs a size, e.g. budget:50G, budget:500MB or budget:2TiB")
        unit = "kmgtp".index(match.group(2).lower()) + 1 if match.group(2) else 0
        size = int(match.group(1)) * (1024 if match.group(3) else 1000) ** unit
        if not 0 < size <= MAX_NUMBER * 1000:
            raise Refused(f"rule 'budget': {arg.strip()[:20]} is out of range")
        return size

    def text(self, n: int) -> str:
        return f"budget:{_size_text(n)}"

    def select(self, n: int, facts: StepFacts) -> list[int]:
        left = n - sum(facts.sizes.get(s, 0) for s in facts.always)
        chosen = []
        for step in reversed(facts.steps):
            if step in facts.always:
                continue
            left -= facts.sizes.get(step, 0)
            if left < 0:
                break
            chosen.append(step)
        return chosen

    def label(self, n: int, metric: str | None) -> str:
        return f"within {_size_text(n)}B"


class Interval(RuleKind):
    """``interval:1h``: one step per interval of wall time, the first written and then each
    written at least that long after the last one kept."""

    name, example = "interval", "interval:1h"
    reads_sizes = True

    def parse(self, arg: str) -> int:
        seconds = duration_seconds(arg)
        if not seconds:
            raise Refused("rule 'interval' needs a duration, e.g. interval:30m, interval:1h or interval:1d")
        return seconds

    def text(self, n: int) -> str:
        return f"interval:{duration_text(n)}"

    def select(self, n: int, facts: StepFacts) -> list[int]:
        chosen, last = [], None
        for step in facts.steps:
            when = facts.times.get(step)
            if when is None:
                continue
            if last is None or when - last >= n:
                chosen.append(step)
                last = when
        return chosen

    def label(self, n: int, metric: str | None) -> str:
        return f"one per {duration_text(n)}"


def duration_seconds(text: str) -> int | None:
    """``30m``, ``1h``, ``1d``, ``2w``, ``0s`` in seconds; None for anything else."""
    match = _DURATION.match(text.strip())
    return int(match.group(1)) * _SECONDS[match.group(2).lower()] if match else None


def duration_text(seconds: int) -> str:
    for unit in "wdhm":
        if seconds % _SECONDS[unit] == 0:
            return f"{seconds // _SECONDS[unit]}{unit}"
    return f"{seconds}s"


KINDS: dict[str, RuleKind] = {kind.name: kind for kind in (
    Best(), Latest(), LastN(), EveryN(), TopK(), CustomStep(), Budget(), Interval())}
RULES_HELP = "rules are: best, latest, last:N, every:K, top:K, step:N, budget:SIZE, interval:DURATION"
