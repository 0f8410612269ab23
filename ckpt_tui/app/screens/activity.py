"""The activity log (``L``): what this app deleted, slimmed, forked and saved, newest last; then
the log file's earlier entries (other sessions, other users), newest first."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.markup import escape
from textual.widgets import Label, Static

from ...formatting import size, stamp
from ...core.events import Event
from ..activity import LOG_FILE, LogEntry, LogRead, append_to_log, read_log
from .reuse import ReusableDialog

ACTIVITY_BINDINGS = [
    Binding("L", "show_activity", "Activity", show=False,
            tooltip=f"The activity log: what was deleted, slimmed, forked and saved (also in {LOG_FILE})"),
]


def activity_line(event: Event, timezone=None, user: str | None = None) -> str:
    """One entry as markup: what it says (names, reasons, who) is shown as written, brackets too."""
    parts = [stamp(event.time, timezone), event.action, f"{event.project}/{event.run}",
             f"step {event.step}" if event.step is not None else "",
             size(event.bytes) if event.bytes is not None else "", "; ".join(event.reasons),
             f"by {user}" if user else ""]
    return escape("  ".join(p for p in parts if p))


class ActivityScreen(ReusableDialog):
    """This session's events and the log's earlier entries. The log is read in the main screen's
    workers: ahead, once the dialog is built while the app waits for keys and after each write of
    this app's; and as the dialog opens, where a look at the file's version (a ``stat``) says
    whether the entries read are still the file's. The dialog is drawn once they are known to be
    (or after ``HOLD_LIMIT``, saying that it reads): a log changed since is never shown as current."""

    BINDINGS = [Binding("escape,L,q", "dismiss", "Close", id="close_activity")]

    def __init__(self, events: list[Event], timezone=None, note: str = "") -> None:
        super().__init__()
        self.events, self.timezone, self.note = events, timezone, note
        self.read: LogRead | None = None  # the log's last read applied
        self.current = False  # whether that read is known to be the file as it is since this showing
        self._asked = self._applied = self._showing = 0  # reads asked for, the last applied, this showing's
        self._said: dict[str, str] = {}  # what each label shows

    @property
    def earlier(self) -> list[LogEntry]:
        """The log's entries before this session, newest first, as last read."""
        return self.read.entries if self.read is not None else []

    @property
    def summary(self) -> str:
        freed = sum(e.bytes or 0 for e in self.events if e.action in ("deleted", "slimmed"))
        return (f"{len(self.events)} event(s) in this session, {size(freed)} freed" if self.events
                else "nothing deleted, slimmed, forked or saved in this session yet")

    @property
    def lines(self) -> str:
        return self._lines(self.current)

    def _lines(self, current: bool) -> str:
        lines = [activity_line(e, self.timezone) for e in self.events]
        if not current:
            lines += ["" if lines else None, f"[dim]reading {LOG_FILE}…[/dim]"]
        elif self.earlier:
            lines += ["" if lines else None, f"[u]earlier, in {LOG_FILE} (newest first)[/u]"]
            lines += [activity_line(e, self.timezone, user) for e, user in self.earlier]
        return "\n".join(line for line in lines if line is not None)

    def ask(self) -> int:
        """A number for a read of the log about to be made: its answer is applied unless a read
        asked for later was applied first."""
        self._asked += 1
        return self._asked

    def opened(self) -> int:
        """This showing's read: until it is applied, the entries read before are not taken as current."""
        self.current, self._showing = False, self.ask()
        return self._showing

    def log_read(self, asked: int, read: LogRead) -> None:
        """A read of the log, in the order the reads were asked for."""
        if asked < self._applied:
            return
        self._applied, self.read = asked, read
        if asked >= self._showing:
            self.current = True
        if self.is_mounted and (self.is_current or self._held):
            self._draw()
        elif self.is_mounted and self not in self.app.screen_stack:  # not shown: drawn and laid out ahead, as if current
            self._say("#activity-lines", self._lines(True))
            self.call_after_refresh(self.lay_out_ahead)
        if self.current:
            self.content_arrived()

    def ready_to_draw(self) -> bool:
        return self.current  # shown again, drawn with the log as it is (or when the hold ends)

    def content_late(self) -> None:
        self._draw()  # says that it reads

    def compose(self) -> ComposeResult:
        with Vertical(id="activity", classes="dialog") as dialog:
            dialog.border_title = "Activity"
            yield Label(self.summary, id="activity-summary")
            with VerticalScroll(id="activity-list"):
                yield Static(self.lines, id="activity-lines")
            yield Label(self.note, id="activity-note", classes="hint")
        self._said = {"#activity-summary": self.summary, "#activity-lines": self.lines, "#activity-note": self.note}

    def on_mount(self) -> None:
        self._draw()  # a read applied while it was composed
        if self.prepared:
            self.call_after_refresh(self.lay_out_ahead)

    def lay_out_ahead(self) -> None:
        """Laid out, and its lines rendered (wrapped and styled, each entry), before it is shown."""
        super().lay_out_ahead()
        lines = self.query_one("#activity-lines", Static)
        if lines.size and self not in self.app.screen_stack:
            lines.render_line(0)

    def reuse(self, events: list[Event], timezone=None, note: str = "") -> None:
        """The log as it is now; the earlier entries are drawn once known to be current (``log_read``)."""
        self.events, self.timezone, self.note = events, timezone, note

    def show(self, callback=None) -> None:
        super().show(callback)
        if self.is_mounted:  # shown again: the summary now, the lines once the earlier entries are current
            self._say("#activity-summary", self.summary)
            self._say("#activity-note", self.note)

    def _draw(self) -> None:
        self._say("#activity-summary", self.summary)
        self._say("#activity-lines", self.lines)
        self._say("#activity-note", self.note)

    def _say(self, selector: str, text: str) -> None:
        """Updates a label whose text changed: the same text again would be laid out and drawn again."""
        if self._said.get(selector) != text:
            self._said[selector] = text
            self.query_one(selector, Static).update(text)


class ActivityLogging:
    """The main screen's part: record what was done, write it to the log, show it."""

    def record(self, events: list[Event]) -> None:
        if not events:
            return
        self.app.activity.extend(events)
        dialog = ActivityScreen.installed(self.app)
        self.write_activity(events, list(self.app.activity), dialog, dialog.ask() if dialog is not None else 0)

    @work(thread=True, exit_on_error=False, group="activity")
    def write_activity(self, events: list[Event], session: list[Event], dialog: ActivityScreen | None,
                       asked: int) -> None:
        store = self.app.open_store()
        problem = append_to_log(store, events)
        if problem and not self.app.activity_problem:
            self.app.activity_problem = problem
            self.app.call_from_thread(self.notify, problem, title="Activity log", severity="warning", timeout=8)
        if dialog is not None:  # read again now, so that the next L finds it read
            self.app.call_from_thread(dialog.log_read, asked, read_log(store, session))

    def prepare_activity(self) -> None:
        """The activity dialog built while the app waits for keys, and the log read for it."""
        dialog = ActivityScreen.prepare(self.app, list(self.app.activity), self.app.timezone, self.activity_note())
        if dialog is not None:
            self.read_earlier_activity(dialog, list(self.app.activity), dialog.ask(), None)

    def activity_note(self) -> str:
        return self.app.activity_problem or f"also written to {LOG_FILE} at the location (JSON lines)"

    def action_show_activity(self) -> None:
        session = list(self.app.activity)
        dialog = ActivityScreen.open(self.app, session, self.app.timezone, self.activity_note())
        asked = dialog.opened()
        dialog.show()
        self.read_earlier_activity(dialog, session, asked, dialog.read)

    @work(thread=True, exit_on_error=False, group="activity-read")
    def read_earlier_activity(self, dialog: ActivityScreen, session: list[Event], asked: int,
                              known: LogRead | None) -> None:
        read = read_log(self.app.open_store(), session, known)
        if read.problem and not self.app.activity_problem and read is not known:
            self.app.call_from_thread(self.notify, read.problem, title="Activity log", severity="warning", timeout=8)
        self.app.call_from_thread(dialog.log_read, asked, read)
