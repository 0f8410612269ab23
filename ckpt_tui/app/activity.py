"""What the app did (deleted, slimmed, forked, saved): kept for the ``L`` pane and appended
to ``.ckpt-tui.log`` beside the policy file, one JSON object a line, the objects
``watch --json`` prints, so that a team sees who deleted what and when.
"""

from __future__ import annotations

import getpass
import json

from ..core.errors import CkptError
from ..core.fork import ForkResult
from ..core.store import Store
from ..core.events import Event

LOG_FILE = ".ckpt-tui.log"


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
