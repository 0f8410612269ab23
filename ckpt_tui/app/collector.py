"""Full garbage collections between key presses rather than in them.

A full collection walks every object the app made since the run shown was read (Textual's
cached lines of each widget among them: about 90,000 objects on a large run, 15-45 ms).
Python starts one every ten collections of the middle generation, wherever that falls: now
and then in the middle of a key press (a jump or a dialog taking twice its usual time). Here
a full collection waits until no key was pressed (nor the mouse used) for a second and runs
then, whatever made the work: keys, or a live refresh beside a trainer while no one types.
Python still starts one itself after ten times as much work without such a pause.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

IDLE_SECONDS = 1.0  # without input before a full collection runs (also how often the pause is looked for)
FULL_EVERY = 100  # middle-generation collections before Python starts a full one itself (its default: 10)


class IdleCollector:
    apps = 0  # apps of this process running with Python's thresholds raised (tests run several)
    thresholds: tuple[int, int, int] = gc.get_threshold()  # Python's, before the first of them started

    def __init__(self, app, clock: Callable[[], float] = time.monotonic) -> None:
        self.app, self.clock = app, clock
        self.last_input = 0.0
        self.waiting = None  # the timer that looks for the pause

    def start(self) -> None:
        if IdleCollector.apps == 0:
            IdleCollector.thresholds = gc.get_threshold()
            gc.set_threshold(*self.thresholds[:2], FULL_EVERY)
        IdleCollector.apps += 1
        self.waiting = self.app.set_interval(IDLE_SECONDS, self.collect_when_idle)

    def stop(self) -> None:
        """Python's thresholds again once the last app running ends, in whatever order they end."""
        if self.waiting is None:
            return
        self.waiting.stop()
        self.waiting = None
        IdleCollector.apps -= 1
        if IdleCollector.apps == 0:
            gc.set_threshold(*self.thresholds)

    def input_seen(self) -> None:
        self.last_input = self.clock()

    def collect_when_idle(self) -> None:
        """A full collection once input paused for ``IDLE_SECONDS``, if Python would have started one
        by now (its middle generation collected as often as its own threshold says since the last):
        work going on in a pause (a live refresh, runs read in the background) is not walked in
        full every second, and no more often than Python would."""
        quiet = self.clock() - self.last_input >= IDLE_SECONDS
        if quiet and gc.get_count()[2] >= self.thresholds[2]:
            gc.collect()
