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

    def holds(self, owner: object, key: Hashable) -> bool:
        """Whether the value of ``key`` computed from ``owner`` is kept."""
        hit = self._items.get((id(owner), key))
        return hit is not None and hit[0] is owner

    def forget(self, *owners: object) -> None:
        """Let go of what was computed from ``owners`` (and of them: the memo holds its owners)."""
        gone = {id(owner) for owner in owners}
        for slot in [slot for slot, (owner, _) in self._items.items() if id(owner) in gone]:
            del self._items[slot]


class RunCache(OrderedDict):
    """Runs read, kept while they hold at most ``limit`` checkpoints together (the most
    recently read first): on a location of 100,000 checkpoints the app holds a few runs,
    not all of them. ``trim`` keeps the newest and the runs it is given whatever their size."""

    limit = 5000

    def __setitem__(self, key, run) -> None:
        super().__setitem__(key, run)
        self.move_to_end(key)

    def trim(self, keep: set) -> list:
        """Let go of the oldest runs beyond the limit; returns them."""
        held, gone = 0, []
        for index, key in enumerate(reversed(list(self))):
            run = self[key]
            held += len(run.checkpoints) + len(run.pending)
            if held > self.limit and index and key not in keep:  # the newest stays too
                gone.append(self.pop(key))
        return gone
