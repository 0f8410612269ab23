"""Full garbage collections between key presses rather than in them.

A full collection walks every object the app made since the run shown was read (Textual's
cached lines of each widget among them: about 90,000 objects on a large run, 15-45 ms).
Python starts one every ten collections of the middle generation, wherever that falls: now
and then in the middle of a key press (a jump or a dialog taking twice its usual time). Here
a full collection waits until no key was pressed for a second and runs then; Python still
starts one itself after ten times as much work without such a pause.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

IDLE_SECONDS = 1.0  # without a key press before a full collection runs
FULL_EVERY = 100  # middle-generation collections before Python starts a full one itself (its default: 10)


class IdleCollector:
    def __init__(self, app, clock: Callable[[], float] = time.monotonic) -> None:
        self.app, self.clock = app, clock
        self.last_input = 0.0
        self.waiting = None  # the timer that looks for the pause
        self.thresholds: tuple[int, int, int] | None = None  # Python's, while the app runs

    def start(self) -> None:
        self.thresholds = gc.get_threshold()
        gc.set_threshold(self.thresholds[0], self.thresholds[1], FULL_EVERY)

    def stop(self) -> None:
        if self.thresholds is not None:
            gc.set_threshold(*self.thresholds)
            self.thresholds = None

    def input_seen(self) -> None:
        self.last_input = self.clock()
        if self.waiting is None:
            self.waiting = self.app.set_timer(IDLE_SECONDS, self.collect_when_idle)

    def collect_when_idle(self) -> None:
        """A full collection once keys paused for ``IDLE_SECONDS``, if any work was done since the last."""
        quiet = self.clock() - self.last_input
        if quiet < IDLE_SECONDS:
            self.waiting = self.app.set_timer(IDLE_SECONDS - quiet, self.collect_when_idle)
            return
        self.waiting = None
        if gc.get_count()[2]:  # middle-generation collections since the last full one
            gc.collect()
