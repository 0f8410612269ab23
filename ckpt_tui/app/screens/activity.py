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
from ..activity import LOG_FILE, LogEntry, append_to_log, earlier_entries
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
    BINDINGS = [Binding("escape,L,q", "dismiss", "Close", id="close_activity")]

    def __init__(self, events: list[Event], timezone=None, note: str = "") -> None:
        super().__init__()
        self.events, self.timezone, self.note = events, timezone, note
        self.earlier: list[LogEntry] = []  # the log's entries before this session, newest first

    @property
    def summary(self) -> str:
        freed = sum(e.bytes or 0 for e in self.events if e.action in ("deleted", "slimmed"))
        return (f"{len(self.events)} event(s) in this session, {size(freed)} freed" if self.events
                else "nothing deleted, slimmed, forked or saved in this session yet")

    @property
    def lines(self) -> str:
        lines = [activity_line(e, self.timezone) for e in self.events]
        if self.earlier:
            lines += ["" if lines else None, f"[u]earlier, in {LOG_FILE} (newest first)[/u]"]
            lines += [activity_line(e, self.timezone, user) for e, user in self.earlier]
        return "\n".join(line for line in lines if line is not None)

    def show_earlier(self, earlier: list[LogEntry]) -> None:
        """The log's entries from before this session, once read."""
        if earlier != self.earlier:
            self.earlier = earlier
            for lines in self.query("#activity-lines").results(Static):  # none yet: composed with them
                lines.update(self.lines)

    def compose(self) -> ComposeResult:
        with Vertical(id="activity", classes="dialog") as dialog:
            dialog.border_title = "Activity"
            yield Label(self.summary, id="activity-summary")
            with VerticalScroll(id="activity-list"):
                yield Static(self.lines, id="activity-lines")
            yield Label(self.note, id="activity-note", classes="hint")

    def reuse(self, events: list[Event], timezone=None, note: str = "") -> None:
        """The log as it is now; nothing is written again when nothing was done since."""
        if (events, timezone, note) == (self.events, self.timezone, self.note):
            return
        self.events, self.timezone, self.note = events, timezone, note
        self.query_one("#activity-summary", Label).update(self.summary)
        self.query_one("#activity-lines", Static).update(self.lines)
        self.query_one("#activity-note", Label).update(self.note)


class ActivityLogging:
    """The main screen's part: record what was done, write it to the log, show it."""

    def record(self, events: list[Event]) -> None:
        if not events:
            return
        self.app.activity.extend(events)
        self.write_activity(events)

    @work(thread=True, exit_on_error=False, group="activity")
    def write_activity(self, events: list[Event]) -> None:
        problem = append_to_log(self.app.open_store(), events)
        if problem and not self.app.activity_problem:
            self.app.activity_problem = problem
            self.app.call_from_thread(self.notify, problem, title="Activity log", severity="warning", timeout=8)

    def action_show_activity(self) -> None:
        where = self.app.activity_problem or f"also written to {LOG_FILE} at the location (JSON lines)"
        dialog = ActivityScreen.open(self.app, list(self.app.activity), self.app.timezone, where)
        dialog.show()
        self.read_earlier_activity(dialog, list(self.app.activity))

    @work(thread=True, exit_on_error=False, group="activity-read", exclusive=True)
    def read_earlier_activity(self, dialog: ActivityScreen, session: list[Event]) -> None:
        earlier, problem = earlier_entries(self.app.open_store(), session)
        if problem and not self.app.activity_problem:
            self.app.call_from_thread(self.notify, problem, title="Activity log", severity="warning", timeout=8)
        self.app.call_from_thread(dialog.show_earlier, earlier)
