"""The open run follows the disk: steps that appear or vanish show up without ``r``.

On a disk, file notifications (``watchfiles``, as ``watch`` uses) wake a worker
that re-reads the open run; on S3 and W&B (or without ``watchfiles``) the run is
read again every ``CkptApp.live_interval`` seconds. The table keeps its cursor on
the same step and the run keeps its marks and pins.
"""

from __future__ import annotations

import threading

from textual import work

# Our own files change when the app writes them: no reason to read the run again.
OWN_FILES = (".ckpt-tui.log", ".ckpt-tui.toml")


class LiveRefresh:
    """Mixed into the main screen."""

    _live_started = False
    _followed: tuple[tuple[str, str], threading.Event] | None = None  # the run followed on disk

    def start_live(self) -> None:
        """Once a run is shown: follow it (not in tests, which pass ``live=False``); called again
        when another run is shown, whose folder is then followed instead."""
        if not self.app.live:
            return
        if "://" in self.app.location or not self._notifications():
            if not self._live_started:  # the timer reads whichever run is open
                self._live_started = True
                self.set_interval(self.app.live_interval, self.live_changed)
            return
        if self.current is None or (self._followed is not None and self._followed[0] == self.current):
            return
        self.stop_live()
        self._followed = (self.current, threading.Event())
        self.follow_disk(*self._followed)

    @staticmethod
    def _notifications() -> bool:
        try:
            import watchfiles  # noqa: F401
        except ImportError:
            return False
        return True

    @work(thread=True, exit_on_error=False, group="live")
    def follow_disk(self, key: tuple[str, str], stop: threading.Event) -> None:
        """Notifications of the open run's own folder only (its steps and its history): on a
        location of 100,000 checkpoints, following all of it holds a watch per folder."""
        import os

        from watchfiles import watch

        from ...core.errors import CkptError

        try:
            folder = self.app.open_store().run_folder(*key)
            path = os.path.join(self.app.location, folder) if folder is not None else self.app.location
            for changes in watch(path, watch_filter=None, stop_event=stop, raise_interrupt=False, debounce=400):
                if any(not changed.endswith(OWN_FILES) for _, changed in changes):
                    self.app.call_from_thread(self.live_changed)
        except (CkptError, OSError):
            pass  # the run went away: reading it again says so

    def stop_live(self) -> None:
        if self._followed is not None:
            self._followed[1].set()
            self._followed = None

    def live_changed(self) -> None:
        """Read the open run again, unless it is being read or a dialog is at work on it."""
        reading = any(w.group in ("run", "preview") and not w.is_finished for w in self.workers)
        if self.current is not None and self.app.screen is self and not reading:
            self.open_run(self.current, force=True)
