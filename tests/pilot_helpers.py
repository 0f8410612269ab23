"""Driving the app in tests: shared by the app tests and the stores' app tests."""

from __future__ import annotations

import asyncio
import contextlib

from textual.pilot import Pilot
from textual.worker import WorkerCancelled, WorkerFailed, WorkerState

BUSY = (WorkerState.PENDING, WorkerState.RUNNING)


def working(pilot: Pilot) -> list:
    """Workers that end by themselves: not the one following the location for changes."""
    return [w for w in pilot.app.workers if w.state in BUSY and w.group != "live"]


def names(workers: list) -> list[str]:
    return [f"{w.group}: {w.name}" for w in workers]


async def _wait_for(pilot: Pilot, busy: list, deadline: float) -> None:
    waiting = asyncio.ensure_future(pilot.app.workers.wait_for_complete(busy))
    done, _ = await asyncio.wait({waiting}, timeout=deadline)
    if not done:
        running = names(working(pilot))
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError, WorkerCancelled):
            await waiting
        raise AssertionError(f"workers still running after {deadline:g} s: {running}")
    with contextlib.suppress(WorkerFailed):  # the app shows worker errors itself; tests look at what it showed
        waiting.result()


async def settle(pilot: Pilot, deadline: float = 120.0) -> None:
    """Wait until every worker is done and what they posted has been handled.

    Handling a worker's result may start another (the chart's import once there is
    data, the other runs once the first is shown): wait until two rounds in a row
    find none running. Fails, naming the workers, when they are not done after 20
    rounds or one round outlasts ``deadline`` seconds (a worker stuck for good).
    """
    quiet = 0
    for _ in range(20):
        busy = working(pilot)
        if busy:  # an empty list would mean every worker, the one that never ends too
            await _wait_for(pilot, busy, deadline)
        await pilot.pause()
        quiet = quiet + 1 if not working(pilot) else 0
        if quiet >= 2:
            return
    raise AssertionError(f"workers still running after 20 rounds: {names(working(pilot))}")
