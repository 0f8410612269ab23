"""Regular expressions compiled the first time they are used.

Every command imports every layout; compiling the patterns of names it never meets (shards,
hand-written rules, Lightning's metric pairs) was about 4% of ``ls`` of a small tree. Patterns
matched for every entry of a listing stay compiled at import: this adds a call to each use.
"""

from __future__ import annotations

import re

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class LazyPattern:
    """``re.compile(pattern, flags)``, compiled at its first use, then answering as it would."""

    __slots__ = ("_pattern", "_flags", "_compiled")

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self._pattern, self._flags = pattern, flags
        self._compiled: re.Pattern[str] | None = None

    def __getattr__(self, name: str) -> Any:  # match, search, sub, findall...
        if self._compiled is None:
            self._compiled = re.compile(self._pattern, self._flags)
        return getattr(self._compiled, name)
