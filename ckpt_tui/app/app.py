"""The application: holds the store, the rule and the display options."""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable
from datetime import tzinfo
from pathlib import Path

from textual import events
from textual.app import App, ScreenStackError
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.notifications import SeverityLevel
from textual.widgets._toast import Toast, ToastRack

from ..core.retention import DEFAULT_METRIC, Policy
from ..core.errors import CkptError
from ..core.store import Space, Store
from ..policy_file import NO_SETTINGS, Settings
from .collector import IdleCollector
from .head_start import HeadStart
from .memo import RunCache
from .screens.main import MainScreen
from .widgets.notice import Notice, text_height


def ckpt_commands():
    """The palette's provider, imported when the palette first opens."""
    from .commands import CkptCommands

    return CkptCommands


def preload_store(location: str) -> None:
    """Import the store's module in a thread while Textual starts: the first worker that
    opens the store then finds it imported (the import lock makes it wait for the rest)."""
    def load() -> None:
        from ..stores import known_stores

        scheme, sep, _ = location.partition("://")
        target = known_stores.get(scheme if sep else "file")
        try:
            if target:
                importlib.import_module(target.rpartition(".")[0])
        except ImportError:
            pass  # an extra not installed: opening the store says so

    threading.Thread(target=load, daemon=True, name="preload-store").start()


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
    With ``live``, the open run is read again when the location changes on disk (every
    ``live_interval`` seconds on S3 and W&B). ``head_start`` holds the location's run sizes
    being read by a process started before the app (taken by the first listing).
    """

    CSS_PATH = Path(__file__).parent / "app.tcss"  # absolute, so that subclasses elsewhere find it
    TITLE = "ckpt-tui"
    COMMANDS = App.COMMANDS | {ckpt_commands}
    VERTICAL_BREAKPOINTS = [(0, "-low"), (30, "-high")]  # screens under 30 rows: dialogs lose blank lines
    BINDINGS = [  # Textual's own, with ids so that a keymap can move them
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True, id="quit_anywhere",
                tooltip="Quit from any screen"),
        Binding("ctrl+c", "help_quit", show=False, system=True, id="help_quit"),
    ]

    def __init__(self, source: str | Store | Callable[[], str], *, location_label: str | None = None,
                 timezone: tzinfo | None = None, policy: Policy | None = None, flags: Settings = NO_SETTINGS,
                 auto_metric: bool = True, cursor_blink: bool = True, store_options: dict | None = None,
                 live: bool = True, live_interval: float = 30.0, keymap: dict[str, str] | None = None,
                 head_start: HeadStart | None = None) -> None:
        super().__init__()
        self._prepare: Callable[[], str] | None = source if callable(source) else None
        self.location = "" if callable(source) else source if isinstance(source, str) else source.location
        self.store: Store | None = source if not isinstance(source, str) and not callable(source) else None
        self.store_options = store_options or {}
        self.location_label = location_label or self.location
        self.timezone = timezone
        self.flags = Settings.from_policy(policy) if policy is not None else flags
        if auto_metric and self.flags.metric == DEFAULT_METRIC:  # the default: a run that does not log it gets a pick
            self.flags = self.flags._replace(metric=None)
        self.auto_metric = auto_metric
        self.cursor_blink = cursor_blink
        self._store_lock = threading.Lock()
        if keymap:
            self.set_keymap(keymap)  # binding ids to keys: ckpt_tui.app.keymap
        self.keymap_problem: str | None = None  # said once the app is on screen
        self.live, self.live_interval = live, live_interval  # the open run follows the location
        self.activity: list = []  # what was deleted, slimmed, forked and saved (watch's events)
        self.activity_problem: str | None = None  # why the activity log file cannot be written
        self.head_start = head_start
        self.collector = IdleCollector(self)  # full garbage collections between key presses
        if self.store is None:
            preload_store(self.location)


    def on_mount(self) -> None:
        self.collector.start()
        if self.keymap_problem:
            self.notify(self.keymap_problem, title="Keymap", severity="warning", timeout=10)

    def on_unmount(self) -> None:
        self.collector.stop()

    def _display(self, screen, renderable) -> None:
        super()._display(screen, renderable)
        if renderable is not None and not self._batch_count:
            self.collector.frame_drawn()  # a full collection due runs after this frame, not in the next key

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, (events.Key, events.MouseEvent)):
            self.collector.input_seen()
        await super().on_event(event)

    @staticmethod
    def clock() -> float:
        """Now, for the activity log (a fixed clock in snapshots)."""
        return time.time()

    def free_space(self) -> Space:
        """Room for new files where the location is, as its store reports it; in a worker."""
        try:
            return self.open_store().space()
        except (CkptError, OSError):
            return Space(None)

    def take_head_start(self) -> HeadStart | None:
        """The sizes read before the app started, for the first listing only."""
        head_start, self.head_start = self.head_start, None
        return head_start

    def get_default_screen(self) -> MainScreen:
        return MainScreen()

    def display_location(self, path: str) -> str:
        """A checkpoint's path with the location written as its label (copying uses the real path)."""
        inside = path == self.location or path.startswith(self.location.rstrip("/") + "/")
        if self.location_label != self.location and inside:
            return self.location_label + path[len(self.location):]
        return path

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True, replace: bool = False) -> None:
        """With ``replace``, the notification of the same title says ``message`` instead: a key held
        or pressed again updates one toast rather than stacking them. While no other toast is shown,
        the screen's notice says it (drawn with the key's own frame, nothing mounted)."""
        notice = self._notice()
        if notice is not None:
            if replace and not self._notifications:
                notice.say(message, title, severity, self.NOTIFICATION_TIMEOUT if timeout is None else timeout, markup)
                return
            said = notice.shown
            if said is not None:  # other toasts stack under the one it shows: it becomes a toast
                notice.hide()
                if not (replace and said.title == title):
                    super().notify(said.message, title=said.title, severity=said.severity,
                                   timeout=max(said.time_left, 0.1), markup=said.markup)
        if replace:
            earlier = [n for n in self._notifications if n.title == title]
            if len(earlier) == 1 and self._retell(earlier[0], message, severity, timeout, markup):
                return
            for shown in earlier:
                self._unnotify(shown, refresh=False)
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def _notice(self) -> Notice | None:
        """The current screen's notice, if it has one (none while toasts are not shown)."""
        try:
            return getattr(self.screen, "notice", None)
        except ScreenStackError:
            return None

    def _retell(self, notification, message: str, severity: SeverityLevel, timeout: float | None,
                markup: bool) -> bool:
        """Change a toast on screen in place, its time restarted: mounting a new one and removing the
        old lays the whole screen out over several frames. False when it is not on screen."""
        try:
            toast = self.screen.query_one(f"#{ToastRack._toast_id(notification)} > Toast", Toast)
        except (NoMatches, ScreenStackError):
            return False
        height = text_height(toast)
        notification.message, notification.markup = message, markup
        same_height = height is not None and text_height(toast) == height
        notification.timeout = self.NOTIFICATION_TIMEOUT if timeout is None else timeout
        notification.raised_at = time.time()
        if notification.severity != severity:
            toast.remove_class(f"-{notification.severity}")
            toast.add_class(f"-{severity}")
            notification.severity = severity
        for timer in list(toast._timers):  # the toast's expiry, from now
            timer.stop()
        toast.set_timer(notification.timeout, toast._expire)
        toast.refresh(layout=not same_height)
        return True

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
                # A location of 100,000 checkpoints is read once for the summaries; what is read
                # again (the runs held, a refresh) is about what the run cache holds.
                store.limit_caches(2 * RunCache.limit)
                self.store = store
            return self.store
