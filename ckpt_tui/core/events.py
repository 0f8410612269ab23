"""What ckpt-tui did or met, one event a line: what ``watch`` prints (``--json``: one object
a line), what the app's activity pane lists and ``.ckpt-tui.log`` keeps."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from ..formatting import size
from .execute import DeletionResult


@dataclass(frozen=True, slots=True)
class Event:
    """One action (kept, deleted, slimmed, spared, gone, finished) or problem (failed, refused, error), for one line."""

    action: str
    project: str | None = None
    run: str | None = None
    step: int | None = None
    bytes: int | None = None
    reasons: tuple[str, ...] = ()
    time: float = field(default_factory=time.time)

    @property
    def problem(self) -> bool:
        return self.action in ("failed", "refused", "error")

    @property
    def timestamp(self) -> str:
        return datetime.fromtimestamp(self.time).astimezone().isoformat(timespec="seconds")

    def to_json(self) -> dict:
        return {"time": self.timestamp, "project": self.project, "run": self.run, "step": self.step,
                "action": self.action, "bytes": self.bytes, "reasons": list(self.reasons)}

    def line(self) -> str:
        parts = [self.timestamp, f"{self.project}/{self.run}" if self.run is not None else "",
                 f"step {self.step}" if self.step is not None else "", self.action,
                 size(self.bytes) if self.bytes is not None else "", ", ".join(self.reasons)]
        return "  ".join(p for p in parts if p)


def deletion_events(results: Iterable[DeletionResult], now: float | None = None) -> list[Event]:
    """One event per step deleted, slimmed, spared, already gone or failed."""
    events: list[Event] = []
    for result in results:
        pair = (result.plan.project, result.plan.run)
        rule = f"rule: {result.plan.policy.describe()}"
        events += [Event("deleted", *pair, d.step, d.bytes, (rule,)) for d in result.deleted]
        events += [Event("slimmed", *pair, s.step, s.bytes, (rule, f"removed {', '.join(s.files)}"))
                   for s in result.slimmed]
        events += [Event("spared", *pair, d.step, d.bytes, ("the run changed since the plan",))
                   for d in result.spared]
        events += [Event("gone", *pair, d.step, d.bytes, ("already deleted by another process",))
                   for d in result.gone]
        events += [Event("failed", *pair, item.step, item.bytes, (why,))
                   for item, why in [*result.failed, *result.slim_failed]]
    return events if now is None else [replace(e, time=now) for e in events]
