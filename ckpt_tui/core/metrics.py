"""Per-step metrics, parsed from ART's ``history.jsonl`` or handed over by a store."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping

from .json_text import loads as json_loads
from .records import Record

STEP_KEYS = ("step", "training_step")
# Steps beyond a 64-bit counter are no trainer's: such a record is malformed.
MAX_STEP = 2**63 - 1
BOM = "\ufeff"
BOM_BYTES = BOM.encode()


class Metrics(Record):
    """Metric values by step, averaged over the records that share a step.

    ``malformed`` counts input lines that could not be read at all (bad JSON,
    no step); ``ignored`` counts values dropped for being NaN, infinite or not
    numbers. Both are shown to the user rather than hidden, as are ``notes``:
    one line each about the source (a damaged file, a reader to install).
    ``aliases`` answer for a metric under another spelling (``val/acc`` for a
    Lightning file name's ``val_acc``); ``names()`` lists only what was logged.
    """

    __slots__ = ("by_step", "malformed", "ignored", "notes", "aliases")

    def __init__(self, by_step: dict[int, dict[str, float]] | None = None, malformed: int = 0, ignored: int = 0,
                 notes: list[str] | None = None, aliases: dict[str, str] | None = None) -> None:
        self.by_step = {} if by_step is None else by_step
        self.malformed = malformed
        self.ignored = ignored
        self.notes = [] if notes is None else notes
        self.aliases = {} if aliases is None else aliases

    def names(self) -> list[str]:
        return sorted(set().union(*self.by_step.values()))

    def at(self, step: int) -> dict[str, float]:
        return self.by_step.get(step, {})

    def value(self, step: int, name: str) -> float | None:
        values = self.by_step.get(step, {})
        return values.get(name, values.get(self.aliases.get(name, name)))

    def series(self, name: str) -> list[tuple[int, float]]:
        """(step, value) pairs for one metric, in step order."""
        found = sorted((s, v[name]) for s, v in self.by_step.items() if name in v)
        return found if found or name not in self.aliases else self.series(self.aliases[name])


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        value = float(value)
    except OverflowError:  # an integer literal too large for a float
        return None
    return value if math.isfinite(value) else None


def step_of(record: Mapping[str, object]) -> int | None:
    for key in STEP_KEYS:
        step = record.get(key)
        if isinstance(step, int) and not isinstance(step, bool) and 0 <= step <= MAX_STEP:
            return step
        if isinstance(step, float) and step.is_integer() and 0 <= step <= MAX_STEP:
            return int(step)
    return None


def metrics_from_records(records: Iterable[Mapping[str, object]], malformed: int = 0) -> Metrics:
    """Average every numeric value per step; step keys are not metrics."""
    # step -> metric -> [sum, count]; plain dicts: this runs once per logged value.
    totals: dict[int, dict[str, list]] = {}
    # Steps met once so far, in a record of "step" and finite floats only (the usual record): their
    # values are kept as they are, and are their averages.
    plain: set[int] = set()
    ignored = 0
    for record in records:
        step = record.get("step")
        if type(step) is not int or not 0 <= step <= MAX_STEP:  # the usual record skips step_of's checks
            step = step_of(record)
            usual = False
        else:
            usual = True
        if step is None:
            malformed += 1
            continue
        per_step = totals.get(step)
        if per_step is None:
            if usual:
                values = {key: raw for key, raw in record.items() if type(raw) is float and raw - raw == 0.0}
                if len(values) == len(record) - 1 and values.keys().isdisjoint(STEP_KEYS):
                    totals[step] = values  # type: ignore[assignment]
                    plain.add(step)
                    continue
            per_step = totals[step] = {}
        elif step in plain:  # a second record of the step: from here on, sums and counts
            per_step = totals[step] = {key: [value, 1] for key, value in per_step.items()}
            plain.discard(step)
        for key, raw in record.items():
            if key in STEP_KEYS:
                continue
            # The usual value, a finite float, skips _number's checks (NaN and infinities fail x - x == 0).
            value = (raw if raw - raw == 0.0 else None) if type(raw) is float else _number(raw)
            if value is None:
                # Timestamps and other strings are expected; only count bad numbers.
                if isinstance(raw, (int, float)) and not isinstance(raw, bool) or raw is None:
                    ignored += 1
                continue
            pair = per_step.get(key)
            if pair is None:
                per_step[key] = [value, 1]
            elif len(pair) == 2 and (total := pair[0] + value) - total == 0.0:
                pair[0] = total
                pair[1] += 1
            else:  # the sum no longer fits a float (1e308 twice): it is held scaled down from here on
                _add_scaled(pair, value)
    by_step = {step: values if step in plain else _averages(values) for step, values in totals.items()}
    return Metrics(by_step=by_step, malformed=malformed, ignored=ignored)


def _add_scaled(pair: list, value: float) -> None:
    """Add ``value`` to ``pair``, a sum and a count whose sum overflows a float: the sum is then held
    as ``sum / 2**pair[2]`` in ``pair[0]``. Averages of finite values are finite; a sum is no average."""
    if len(pair) == 2:
        pair.append(0)
    while not ((total := pair[0] + math.ldexp(value, -pair[2])) - total == 0.0):
        pair[0], pair[2] = pair[0] / 2, pair[2] + 1
    pair[0] = total
    pair[1] += 1


def _averages(values: dict[str, list]) -> dict[str, float]:
    """Each metric's sum over its count (a sum held scaled scaled back)."""
    averages = {}
    for key, pair in values.items():
        if len(pair) == 2:
            averages[key] = pair[0] / pair[1]
        else:
            try:
                averages[key] = math.ldexp(pair[0] / pair[1], pair[2])
            except OverflowError:  # cannot be, an average being at most its largest value; kept safe
                continue
    return averages


def parse_history_lines(lines: Iterable[str | bytes]) -> Metrics:
    """Parse ``history.jsonl`` lines: one JSON object per line, bad lines counted.
    Records are averaged as they come: a history of any size streams through."""
    counted = [0]
    metrics = metrics_from_records(_history_records(lines, counted))
    metrics.malformed += counted[0]
    return metrics


def read_history_records(lines: Iterable[str | bytes]) -> tuple[list[dict], int]:
    """The JSON objects of a history file, and how many lines were not objects."""
    counted = [0]
    records = list(_history_records(lines, counted))
    return records, counted[0]


def _history_records(lines: Iterable[str | bytes], malformed: list[int]) -> Iterator[dict]:
    """The JSON objects of a history file, one at a time; ``malformed[0]`` counts the lines that are not.

    ``lines`` (text or UTF-8 bytes) are split on ``\n`` only (JSON Lines): a bare ``\r``
    is whitespace inside a line. A byte order mark before the first line is dropped.
    """
    fast = None  # orjson, from line FAST_AFTER_LINES on: its import costs more than a short history
    for number, line in enumerate(lines):
        if number == 0:
            line = line.removeprefix(BOM if isinstance(line, str) else BOM_BYTES)
        if not line or line.isspace():
            continue
        record = _UNREAD
        if number >= FAST_AFTER_LINES:
            if fast is None:
                import orjson as fast
            try:
                record = fast.loads(line)  # 8x json's speed: a large history is most of a scan
            except fast.JSONDecodeError:
                pass
        if record is _UNREAD:
            try:
                # What orjson refuses, json reads: NaN/Infinity (dropped as values later), lone
                # surrogates, bytes that are not UTF-8 (read with replacement characters).
                record = json_loads(line if isinstance(line, str) else line.decode("utf-8", errors="replace"))
            except (ValueError, RecursionError):  # RecursionError: nesting thousands deep
                malformed[0] += 1
                continue
        if isinstance(record, dict):
            yield record
        else:
            malformed[0] += 1


# Lines of a history read with json before orjson is imported (a one-step tree's ``ls`` never imports it).
FAST_AFTER_LINES = 64
_UNREAD = object()


def smooth(series: list[tuple[int, float]], alpha: float) -> list[tuple[int, float]]:
    """Exponential moving average over steps (adjusted, like polars' ``ewm_mean``).

    ``alpha`` in (0, 1]; 1 means no smoothing.
    """
    if not 0 < alpha <= 1:
        raise ValueError("smoothing alpha must be in (0, 1]")
    out = []
    weighted = norm = 0.0
    for step, value in series:
        weighted = value + (1 - alpha) * weighted
        norm = 1 + (1 - alpha) * norm
        out.append((step, weighted / norm))
    return out
