"""The tests' ``settle`` fails loudly when workers do not finish, and waits for those that do."""

from __future__ import annotations

import threading

import pytest
from pilot_helpers import settle
from textual import work
from textual.app import App


class Workers(App):
    """An app whose workers end when told to, or start one another without end."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.handled = 0

    @work(thread=True, group="stuck")
    def stuck(self) -> None:
        self.release.wait(30)

    @work(thread=True, group="chain")
    def chain(self, left: int) -> None:
        self.call_from_thread(self.chained, left)

    def chained(self, left: int) -> None:
        self.handled += 1
        if left and not self.release.is_set():
            self.chain(left - 1)


async def test_settle_waits_for_a_chain_of_workers_and_what_they_post():
    app = Workers()
    async with app.run_test() as pilot:
        app.chain(5)
        await settle(pilot)
        assert app.handled == 6


async def test_settle_fails_when_a_worker_never_ends():
    app = Workers()
    async with app.run_test() as pilot:
        app.stuck()
        with pytest.raises(AssertionError, match="workers still running after 0.5 s: .*stuck"):
            await settle(pilot, deadline=0.5)
        app.release.set()


async def test_settle_fails_when_workers_keep_starting_others():
    app = Workers()
    async with app.run_test() as pilot:
        app.chain(10**9)  # never done: each worker starts the next
        with pytest.raises(AssertionError, match="after 20 rounds"):
            await settle(pilot)
        app.release.set()
