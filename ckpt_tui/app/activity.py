"""What the app did (deleted, slimmed, forked, saved): kept for the ``L`` pane and appended
to ``.ckpt-tui.log`` beside the policy file, one JSON object a line, the objects
``watch --json`` prints, so that a team sees who deleted what and when.
"""

from __future__ import annotations

import getpass
import json
from collections import Counter
from datetime import datetime
from typing import NamedTuple

from ..core.errors import CkptError
from ..core.fork import ForkResult
from ..core.store import Store
from ..core.events import Event

LOG_FILE = ".ckpt-tui.log"
EARLIER_SHOWN = 200  # the log's newest entries the pane lists beside this session's


def fork_event(result: ForkResult, now: float) -> Event:
    return Event("forked", result.to_project, result.to_run, result.step, result.bytes,
                 (f"from {result.project}/{result.run}", result.location), now)


def saved_event(project: str, run: str, rule: str, path: str, now: float) -> Event:
    return Event("saved", project, run, reasons=(rule, f"in {path}"), time=now)


def with_user(event: Event) -> dict:
    """The event as ``watch --json`` prints it, and who did it."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = None
    return {**event.to_json(), "user": user}


def log_line(event: Event) -> str:
    return json.dumps(with_user(event))


def append_to_log(store: Store, events: list[Event]) -> str | None:
    """Add ``events`` to the location's log, one line each (in a worker); returns why it could not, or None."""
    try:
        store.append_location_file(LOG_FILE, "".join(log_line(e) + "\n" for e in events))
    except (CkptError, OSError) as exc:
        return f"{LOG_FILE} not written: {exc}"
    return None


def append_on_disk(store: Store, events: list[Event]) -> str | None:
    """What ``prune``, ``fork`` and ``watch`` add to the log: at a location on a disk, where it
    costs one write and never races; in a bucket it would be read and written again each time."""
    return append_to_log(store, events) if events and store.appends_in_place else None


class LogEntry(NamedTuple):
    event: Event
    user: str | None


def log_entry(line: str) -> LogEntry | None:
    """One line of the log as written; None for a line that is not one."""
    try:
        data = json.loads(line)
        step, size = data.get("step"), data.get("bytes")
        event = Event(str(data["action"]), data.get("project"), data.get("run"),
                      step if isinstance(step, int) else None, size if isinstance(size, int) else None,
                      tuple(str(r) for r in data.get("reasons") or ()), datetime.fromisoformat(data["time"]).timestamp())
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    user = data.get("user")
    return LogEntry(event, user if isinstance(user, str) else None)


def earlier_entries(store: Store, session: list[Event], most: int = EARLIER_SHOWN) -> tuple[list[LogEntry], str | None]:
    """The log's entries other than this session's, newest first (at most ``most``; in a worker),
    and why the log could not be read, or None."""
    try:
        text = store.read_location_file(LOG_FILE) or ""
    except (CkptError, OSError) as exc:
        return [], f"{LOG_FILE} not read: {exc}"
    ours = Counter(log_line(e) for e in session)  # this session's lines, written already or not yet
    entries: list[LogEntry] = []
    for line in reversed(text.splitlines()):
        if ours[line]:
            ours[line] -= 1
        elif (entry := log_entry(line)) is not None:
            entries.append(entry)
            if len(entries) == most:
                break
    return entries, None


class LogRead(NamedTuple):
    """One read of the log: the file's version as it was read (None: unknown, read again next
    time), how many of this session's events were told apart from it, its earlier entries."""

    version: object | None
    session: int
    entries: list[LogEntry]
    problem: str | None = None


def read_log(store: Store, session: list[Event], known: LogRead | None = None) -> LogRead:
    """The log's earlier entries (in a worker): ``known`` again when the file is the version it was
    read from (one ``stat`` on a disk) and the session's events are as many; else read anew."""
    try:
        version = store.location_file_version(LOG_FILE)  # before the read: a change after it shows next time
    except (CkptError, OSError):
        version = None
    if (known is not None and version is not None and known.problem is None and known.version == version
            and known.session == len(session)):
        return known
    entries, problem = earlier_entries(store, session)
    return LogRead(None if problem else version, len(session), entries, problem)
