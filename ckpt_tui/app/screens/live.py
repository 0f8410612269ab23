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

    def start_live(self) -> None:
        """Once the location is open: follow it (not in tests, which pass ``live=False``)."""
        if self._live_started or not self.app.live:
            return
        self._live_started = True
        self._live_stop = threading.Event()
        if "://" in self.app.location or not self._notifications():
            self.set_interval(self.app.live_interval, self.live_changed)
        else:
            self.follow_disk(self._live_stop)

    @staticmethod
    def _notifications() -> bool:
        try:
            import watchfiles  # noqa: F401
        except ImportError:
            return False
        return True

    @work(thread=True, exit_on_error=False, group="live")
    def follow_disk(self, stop: threading.Event) -> None:
        from watchfiles import watch

        for changes in watch(self.app.location, watch_filter=None, stop_event=stop, raise_interrupt=False,
                             debounce=400):
            if any(not path.endswith(OWN_FILES) for _, path in changes):
                self.app.call_from_thread(self.live_changed)

    def stop_live(self) -> None:
        if self._live_started:
            self._live_stop.set()

    def live_changed(self) -> None:
        """Read the open run again, unless it is being read or a dialog is at work on it."""
        reading = any(w.group in ("run", "preview") and not w.is_finished for w in self.workers)
        if self.current is not None and self.app.screen is self and not reading:
            self.open_run(self.current, force=True)
