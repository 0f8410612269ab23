"""Full garbage collections run when the keys pause, not in the middle of a key press."""

from __future__ import annotations

import gc

from app_helpers import RecordingApp, main
from app_scenarios import settle

from ckpt_tui.app import collector


async def test_a_full_collection_waits_for_a_pause_in_the_keys_and_runs_then(art_base):
    before = gc.get_threshold()
    full: list[int] = []

    def seen(phase, info):
        if phase == "start" and info["generation"] == 2:
            full.append(1)

    app = RecordingApp(str(art_base))
    now = [1000.0]
    app.collector.clock = lambda: now[0]
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        # Python's own full collections come ten times less often while the app runs.
        assert gc.get_threshold() == (*before[:2], collector.FULL_EVERY)
        main(app).table.focus()
        await pilot.press("down", "up")
        waiting = app.collector.waiting
        assert waiting is not None  # a key press starts looking for a pause
        gc.collect(1)  # some work since the last full collection
        gc.callbacks.append(seen)
        try:
            now[0] += collector.IDLE_SECONDS / 2
            app.collector.collect_when_idle()  # the keys paused for half of it: not yet
            assert full == [] and app.collector.waiting not in (None, waiting)
            now[0] += collector.IDLE_SECONDS
            app.collector.collect_when_idle()
            assert full == [1] and app.collector.waiting is None
        finally:
            gc.callbacks.remove(seen)
    assert gc.get_threshold() == before  # Python's own again once the app ends
