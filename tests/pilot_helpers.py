"""Driving the app in tests: shared by the app tests and the stores' app tests."""

from __future__ import annotations

from textual.pilot import Pilot
from textual.worker import WorkerFailed, WorkerState

BUSY = (WorkerState.PENDING, WorkerState.RUNNING)


async def settle(pilot: Pilot) -> None:
    """Wait until every worker is done and what they posted has been handled.

    Handling a worker's result may start another (the chart's import once there is
    data, the other runs once the first is shown): wait until two rounds in a row
    find none running.
    """
    quiet = 0
    for _ in range(20):
        try:
            await pilot.app.workers.wait_for_complete()
        except WorkerFailed:
            pass  # the app shows worker errors itself; tests look at what it showed
        await pilot.pause()
        quiet = quiet + 1 if not any(w.state in BUSY for w in pilot.app.workers) else 0
        if quiet >= 2:
            return
    running = [w.name for w in pilot.app.workers if w.state in BUSY]
    raise AssertionError(f"workers still running after 20 rounds: {running}")

