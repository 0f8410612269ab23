"""The application: holds the store, the rule and the display options."""

from __future__ import annotations

import threading
from pathlib import Path
from datetime import tzinfo

from textual.app import App

from ..core.retention import Policy
from ..core.store import Store
from .commands import CkptCommands
from .screens.main import MainScreen


class CkptApp(App[int]):
    """Browse, preview, prune and fork checkpoints at one location.

    ``source`` is a location string (opened in a worker, as S3 and W&B are
    slow to open) or an already opened store. ``location_label`` replaces the
    location in the status line, ``timezone`` fixes how times are shown.
    """

    CSS_PATH = Path(__file__).parent / "app.tcss"  # absolute, so that subclasses elsewhere find it
    TITLE = "ckpt-tui"
    COMMANDS = App.COMMANDS | {CkptCommands}

    def __init__(self, source: str | Store, *, location_label: str | None = None,
                 timezone: tzinfo | None = None, policy: Policy | None = None,
                 cursor_blink: bool = True, store_options: dict | None = None) -> None:
        super().__init__()
        self.location = source if isinstance(source, str) else source.location
        self.store: Store | None = None if isinstance(source, str) else source
        self.store_options = store_options or {}
        self.location_label = location_label or self.location
        self.timezone = timezone
        self.policy = policy or Policy()
        self.cursor_blink = cursor_blink
        self._store_lock = threading.Lock()

    def get_default_screen(self) -> MainScreen:
        return MainScreen()

    def display_location(self, path: str) -> str:
        """A checkpoint's path with the location written as its label (copying uses the real path)."""
        if self.location_label != self.location and path.startswith(self.location):
            return self.location_label + path[len(self.location):]
        return path

    def open_store(self) -> Store:
        """The store, opened on first use; called from worker threads only."""
        with self._store_lock:
            if self.store is None:
                from ..stores import open_store

                store = open_store(self.location, **self.store_options)
                store.connect()  # remote stores check credentials up front
                self.store = store
            return self.store
