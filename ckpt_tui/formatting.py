"""Sizes, times, numbers and step lists, formatted one way for the app and the CLI."""

from __future__ import annotations

import math
from collections.abc import Iterable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import tzinfo

TIME_FORMAT = "%Y-%m-%d %H:%M"
DECIMAL_UNITS = ("kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB", "RB", "QB")


def size(n: float) -> str:
    """``1 Byte``, ``640 Bytes``, ``1.2 MB``: ``humanize.naturalsize(n)``, written out here because
    importing humanize (which loads all of it) was about 3% of ``ls`` of a small tree."""
    value = float(n)
    magnitude = abs(value)
    if magnitude == 1:
        return f"{int(value)} Byte"
    if magnitude < 1000:
        return f"{int(value)} Bytes"
    exp = int(min(math.log(magnitude, 1000), len(DECIMAL_UNITS)))
    if exp < len(DECIMAL_UNITS) and float(f"{magnitude / 1000 ** exp:.1f}") >= 1000:
        exp += 1  # 999,999 bytes round to 1.0 MB, not 1000.0 kB
    return f"{value / 1000 ** exp:.1f} {DECIMAL_UNITS[exp - 1]}"


def stamp(mtime: float, tz: tzinfo | None = None) -> str:
    """Absolute time, never relative, so that a screen reads the same tomorrow."""
    if not mtime:
        return "-"
    from datetime import datetime  # imported where a time is shown: a run summary shows none

    return datetime.fromtimestamp(mtime, tz).strftime(TIME_FORMAT)


def number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def fit_number(value: float | None, width: int) -> str:
    """``value`` in at most ``width`` characters: fewer digits, then scientific
    notation, and ``…`` when even that does not fit. Never a silently cut number."""
    if value is None:
        return "-"
    for digits in (4, 3, 2, 1):
        text = f"{value:.{digits}g}"
        if len(text) <= width:
            return text
    for digits in (2, 1, 0):
        text = f"{value:.{digits}e}".replace("e+0", "e").replace("e-0", "e-").replace("e+", "e")
        if len(text) <= width:
            return text
    return "…"[:width]


def fit_text(text: str, width: int) -> str:
    """``text`` cut to ``width`` with an ellipsis when it is longer."""
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"[: max(width, 0)]


def count(n: int) -> str:
    """A count in at most 4 characters: ``320``, ``9999``, ``20k``, ``1.2M``."""
    if n < 10_000:
        return str(n)
    if n < 1_000_000:
        return f"{n // 1000}k"
    return f"{n / 1_000_000:.1f}M"


def step_ranges(steps: Iterable[int]) -> str:
    """``0-9, 12, 14-15``: long lists of steps stay readable."""
    out: list[str] = []
    start = prev = None
    for step in sorted(steps):
        if start is not None and step == prev + 1:
            prev = step
            continue
        if start is not None:
            out.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = step
    if start is not None:
        out.append(str(start) if start == prev else f"{start}-{prev}")
    return ", ".join(out)


def shared_steps(steps: Iterable[int | None]) -> set[int]:
    """Steps held by more than one checkpoint (Lightning's ``-v1`` names, NeMo's ``-last`` copy)."""
    seen: set[int] = set()
    shared: set[int] = set()
    for step in steps:
        if step is not None:
            (shared if step in seen else seen).add(step)
    return shared


def step_label(step: int | None, name: str, shared: set[int]) -> str:
    """The step, and the checkpoint's name where another checkpoint has the same step."""
    if step is None:
        return name
    return f"{step} ({name})" if step in shared else str(step)
