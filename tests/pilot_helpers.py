"""Driving the app in tests: shared by the app tests and the stores' app tests."""

from __future__ import annotations

from textual.pilot import Pilot
from textual.worker import WorkerFailed


async def settle(pilot: Pilot) -> None:
    """Wait until every worker is done and what they posted has been handled."""
    for _ in range(3):
        try:
            await pilot.app.workers.wait_for_complete()
        except WorkerFailed:
            pass  # the app shows worker errors itself; tests look at what it showed
        await pilot.pause()
