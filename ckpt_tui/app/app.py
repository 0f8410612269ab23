"""The application: holds the store, the rule and the display options."""

from __future__ import annotations

import threading
from dataclasses import replace
from collections.abc import Callable
from datetime import tzinfo
from pathlib import Path

from textual.app import App

from ..core.retention import DEFAULT_METRIC, Policy
from ..core.store import Store
from ..policy_file import NO_SETTINGS, Settings
from .screens.main import MainScreen


def ckpt_commands():
    """The palette's provider, imported when the palette first opens."""
    from .commands import CkptCommands

    return CkptCommands


class CkptApp(App[int]):
    """Browse, preview, prune and fork checkpoints at one location.

    ``source`` is a location string (opened in a worker, as S3 and W&B are
    slow to open), an already opened store, or a function returning a location
    (called in a worker too: the demo tree is built while the app is on screen).
    ``location_label`` replaces the location in the status line, ``timezone``
    fixes how times are shown. ``flags`` are the settings given on the command
    line, over the location's saved policies (``.ckpt-tui.toml``); ``policy``
    stands for all of them at once. With ``auto_metric``, a run that does not log
    the metric in force is shown with one it logs, unless a saved policy names it.
    """

    CSS_PATH = Path(__file__).parent / "app.tcss"  # absolute, so that subclasses elsewhere find it
    TITLE = "ckpt-tui"
    COMMANDS = App.COMMANDS | {ckpt_commands}

    def __init__(self, source: str | Store | Callable[[], str], *, location_label: str | None = None,
                 timezone: tzinfo | None = None, policy: Policy | None = None, flags: Settings = NO_SETTINGS,
                 auto_metric: bool = True, cursor_blink: bool = True, store_options: dict | None = None) -> None:
        super().__init__()
        self._prepare: Callable[[], str] | None = source if callable(source) else None
        self.location = "" if callable(source) else source if isinstance(source, str) else source.location
        self.store: Store | None = source if not isinstance(source, str) and not callable(source) else None
        self.store_options = store_options or {}
        self.location_label = location_label or self.location
        self.timezone = timezone
        self.flags = Settings.from_policy(policy) if policy is not None else flags
        if auto_metric and self.flags.metric == DEFAULT_METRIC:  # the default: a run that does not log it gets a pick
            self.flags = replace(self.flags, metric=None)
        self.auto_metric = auto_metric
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

                if self._prepare is not None:
                    self.location = self._prepare()
                    self._prepare = None
                store = open_store(self.location, **self.store_options)
                store.connect()  # remote stores check credentials up front
                self.store = store
            return self.store
