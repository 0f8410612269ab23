"""Full garbage collections run when the keys pause, not in the middle of a key press."""

from __future__ import annotations

import asyncio
import gc

from app_helpers import RecordingApp, main
from app_scenarios import settle

from ckpt_tui.app import collector


def full_collections(seen: list[int], done: asyncio.Event | None = None):
    def callback(phase, info):
        if phase == "start" and info["generation"] == 2:
            seen.append(1)
            if done is not None:
                done.set()

    return callback


def middle_generation_collections(count: int) -> None:
    for _ in range(count):
        gc.collect(1)


async def test_a_full_collection_waits_for_a_pause_in_the_keys_and_runs_then(art_base):
    before = gc.get_threshold()
    full: list[int] = []
    app = RecordingApp(str(art_base))
    now = [1000.0]
    app.collector.clock = lambda: now[0]
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        # Python's own full collections come ten times less often while the app runs.
        assert gc.get_threshold() == (*before[:2], collector.FULL_EVERY)
        main(app).table.focus()
        await pilot.press("down", "up")
        gc.collect()
        gc.callbacks.append(seen := full_collections(full))
        try:
            gc.collect(1)  # a little work since the last full collection
            now[0] += collector.IDLE_SECONDS * 2
            app.collector.collect_when_idle()  # Python itself would not collect in full yet: nor here
            assert full == []
            middle_generation_collections(before[2] - 1)  # as much work as Python waits for
            now[0] = app.collector.last_input + collector.IDLE_SECONDS / 2
            app.collector.collect_when_idle()  # the keys paused for half of it: not yet
            assert full == []
            now[0] += collector.IDLE_SECONDS
            app.collector.collect_when_idle()
            assert full == [1]
            app.collector.collect_when_idle()  # no work since: nothing to collect
            assert full == [1]
        finally:
            gc.callbacks.remove(seen)
    assert gc.get_threshold() == before  # Python's own again once the app ends


async def test_without_a_key_pressed_the_work_of_a_refresh_is_collected_once_the_app_is_idle(art_base, monkeypatch):
    """Beside a trainer, live refreshes read the run again while no one types: the pause is
    there from the start, and the collection Python was told to put off runs in it."""
    monkeypatch.setattr(collector, "IDLE_SECONDS", 0.05)
    pythons = gc.get_threshold()[2]
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        main(app).open_run(main(app).current, force=True)  # what a live refresh does
        await settle(pilot)
        middle_generation_collections(pythons)  # the refresh's work: Python would collect in full
        full: list[int] = []
        done = asyncio.Event()
        gc.callbacks.append(seen := full_collections(full, done))
        try:
            await asyncio.wait_for(done.wait(), timeout=30)
        finally:
            gc.callbacks.remove(seen)
        assert full


def test_python_s_thresholds_come_back_when_the_last_app_ends_in_whatever_order_apps_end():
    class Timer:
        def stop(self) -> None:
            pass

    class App:
        def set_interval(self, seconds, callback) -> Timer:
            return Timer()

    before = gc.get_threshold()
    first, second = collector.IdleCollector(App()), collector.IdleCollector(App())
    first.start()
    second.start()
    first.stop()  # the first app ends while the second still runs
    assert gc.get_threshold() == (*before[:2], collector.FULL_EVERY)
    second.stop()
    second.stop()  # ended twice: counted once
    assert gc.get_threshold() == before


async def test_a_full_collection_due_while_keys_come_without_a_pause_runs_after_a_frame(art_base):
    """Keys pressed without a pause for a long while: the full collection Python would start in the
    middle of one of them runs once a key's frame is drawn, between that key and the next."""
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        main(app).table.focus()
        order: list[str] = []
        display = app._display

        def drawn(screen, renderable):
            if renderable is not None and not app._batch_count:
                order.append("frame")
            return display(screen, renderable)

        def collected(phase, info):
            if phase == "start" and info["generation"] == 2:
                order.append("full")

        app._display = drawn
        gc.callbacks.append(collected)
        try:
            gc.collect()
            await pilot.press("down")  # nothing due: no full collection
            await settle(pilot)
            await pilot.pause(collector.WRITTEN_SECONDS * 3)
            assert "full" not in order[1:] and "frame" in order
            middle_generation_collections(collector.FULL_EVERY - collector.DUE_MARGIN - gc.get_count()[2])
            order.clear()
            await pilot.press("up")  # due: collected once its frame is drawn
            await settle(pilot)
            await pilot.pause(collector.WRITTEN_SECONDS * 3)
        finally:
            gc.callbacks.remove(collected)
        assert order == ["frame", "full"], order
        assert gc.get_count()[2] < collector.DUE_MARGIN
