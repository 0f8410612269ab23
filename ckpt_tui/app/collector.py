"""Full garbage collections between key presses rather than in them.

A full collection walks every object the app made since the run shown was read (Textual's
cached lines of each widget among them: about 90,000 objects on a large run, 15-45 ms).
Python starts one every ten collections of the middle generation, wherever that falls: now
and then in the middle of a key press (a jump or a dialog taking twice its usual time). Here
a full collection waits until no key was pressed (nor the mouse used) for a second and runs
then, whatever made the work: keys, or a live refresh beside a trainer while no one types.
Python still starts one itself after ten times as much work without such a pause; when keys
come without one and that is near (within ``DUE_MARGIN`` collections of the middle generation),
the full collection runs just after a frame is written rather than in the middle of the next key.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

IDLE_SECONDS = 1.0  # without input before a full collection runs (also how often the pause is looked for)
FULL_EVERY = 100  # middle-generation collections before Python starts a full one itself (its default: 10)
DUE_MARGIN = 10  # that many before: collected after a frame (a key makes one or two middle collections)
WRITTEN_SECONDS = 0.02  # after a frame, before collecting: the writer thread has put it on the terminal


class IdleCollector:
    apps = 0  # apps of this process running with Python's thresholds raised (tests run several)
    thresholds: tuple[int, int, int] = gc.get_threshold()  # Python's, before the first of them started

    def __init__(self, app, clock: Callable[[], float] = time.monotonic) -> None:
        self.app, self.clock = app, clock
        self.last_input = 0.0
        self.waiting = None  # the timer that looks for the pause
        self.after_frame = None  # the timer of a full collection due after the frame just drawn

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
        if self.after_frame is not None:
            self.after_frame.stop()
            self.after_frame = None
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

    def due(self) -> bool:
        """Whether Python would start a full collection itself within a key or two."""
        return gc.get_count()[2] >= FULL_EVERY - DUE_MARGIN

    def frame_drawn(self) -> None:
        """A frame was drawn: a full collection soon due runs once it is written, between keys, not
        in the middle of the next one (15-45 ms on a large run, up to 100 ms after many keys)."""
        if self.waiting is not None and self.after_frame is None and self.due():
            self.after_frame = self.app.set_timer(WRITTEN_SECONDS, self._collect_after_frame)

    def _collect_after_frame(self) -> None:
        self.after_frame = None
        if self.due():
            gc.collect()
