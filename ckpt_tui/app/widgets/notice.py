"""A toast kept mounted for a screen's frequent messages (marks, search).

Textual mounts a widget for each new toast, and the screen is laid out again
over several frames until it has a size. The notice is mounted with its screen,
where a first toast would be, and looks like one; saying something shows it and
changes its text in place.
"""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.containers import Container
from textual.notifications import Notification, SeverityLevel
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets._toast import Toast

from .one_layout import LaidOutOnce


def text_height(widget: Widget) -> int | None:
    """The lines a widget's text (a toast's, a label's) takes at its width, worked out as Textual
    does for its height (a text of the same height needs no layout of the screen: 5-20 ms a key
    press); None before it has a width."""
    width = widget.content_size.width
    return widget.render().get_height(widget.styles, width) if width else None


class Notice(LaidOutOnce, Toast):
    """A toast that stays mounted: hidden when its time is up or it is clicked."""

    DEFAULT_CSS = "Notice { visibility: hidden; } Notice.-shown { visibility: visible; }"

    def __init__(self) -> None:
        super().__init__(Notification("", ""))
        self._expiry: Timer | None = None

    @property
    def shown(self) -> Notification | None:
        """What the notice says, while it is on screen."""
        return self._notification if self.has_class("-shown") else None

    def say(self, message: str, title: str, severity: SeverityLevel, timeout: float, markup: bool) -> None:
        """Show ``message`` for ``timeout`` seconds, from now, in place of what was shown."""
        height = text_height(self) if self.shown is not None else None
        self._notification = Notification(message, title, severity, timeout, markup=markup)
        same_height = height is not None and height == text_height(self)
        self.set_classes(f"-textual-system -shown -{severity}")
        if self._expiry is not None:
            self._expiry.stop()
        self._expiry = self.set_timer(timeout, self._expire)
        self.refresh(layout=not same_height)

    def hide(self) -> None:
        if self._expiry is not None:
            self._expiry.stop()
            self._expiry = None
        self.remove_class("-shown")

    def _expire(self) -> None:
        """Toast's own timer calls this too (set when mounted): only a notice whose time is up goes."""
        if self.shown is not None and self._notification.time_left < 0.05:
            self.hide()

    def on_click(self, event: events.Click) -> None:
        event.prevent_default()  # Toast's click handler would forget a notification the app never had
        self.hide()


class NoticeRack(Container):
    """Where the notice sits: as Textual's toast rack, on its layer, always displayed."""

    DEFAULT_CSS = """
    NoticeRack {
        layer: _toastrack;
        width: 1fr;
        height: auto;
        dock: bottom;
        align: right bottom;
        visibility: hidden;
        layout: vertical;
        overflow-y: scroll;
        margin-bottom: 1;
    }
    NoticeRack > Container { align-horizontal: right; width: 1fr; height: auto; visibility: hidden; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.notice = Notice()

    def compose(self) -> ComposeResult:
        with Container():  # as Textual's ToastHolder
            yield self.notice
