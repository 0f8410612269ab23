"""Values computed from a run, kept while the app still shows that run.

A run of 20,000 steps takes milliseconds to scan for its metric names, its
total size or its best step; a key press must not pay that again.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

T = TypeVar("T")


class Memo:
    """At most ``size`` values, each tied to the object it was computed from (by identity)."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._items: OrderedDict[tuple[int, Hashable], tuple[object, object]] = OrderedDict()

    def get(self, owner: object, key: Hashable, compute: Callable[[], T]) -> T:
        slot = (id(owner), key)
        hit = self._items.get(slot)
        if hit is None or hit[0] is not owner:  # a new object may reuse a freed one's id
            hit = self._items[slot] = (owner, compute())
            if len(self._items) > self.size:
                self._items.popitem(last=False)
        else:
            self._items.move_to_end(slot)
        return hit[1]  # type: ignore[return-value]
