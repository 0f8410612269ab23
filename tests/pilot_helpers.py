"""Driving the app in tests: shared by the app tests and the stores' app tests."""

from __future__ import annotations

from textual.pilot import Pilot
from textual.worker import WorkerFailed, WorkerState

BUSY = (WorkerState.PENDING, WorkerState.RUNNING)


def working(pilot: Pilot) -> list:
    """Workers that end by themselves: not the one following the location for changes."""
    return [w for w in pilot.app.workers if w.state in BUSY and w.group != "live"]


async def settle(pilot: Pilot) -> None:
    """Wait until every worker is done and what they posted has been handled.

    Handling a worker's result may start another (the chart's import once there is
    data, the other runs once the first is shown): wait until two rounds in a row
    find none running.
    """
    quiet = 0
    for _ in range(20):
        try:
            busy = working(pilot)
            if busy:  # an empty list would mean every worker, the one that never ends too
                await pilot.app.workers.wait_for_complete(busy)
        except WorkerFailed:
            pass  # the app shows worker errors itself; tests look at what it showed
        await pilot.pause()
        quiet = quiet + 1 if not working(pilot) else 0
        if quiet >= 2:
            return
    running = [w.name for w in working(pilot)]
    raise AssertionError(f"workers still running after 20 rounds: {running}")

