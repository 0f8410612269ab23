"""Where no file notifications come (a bucket, or a disk without ``watchfiles``), the open
run is read again at an interval: new steps appear, deleted ones vanish, cursor and marks stay."""

from __future__ import annotations

import shutil

from app_helpers import RecordingApp, go_to_step, main, run_dir
from app_scenarios import settle
from memory_location import MemoryLocation
from test_app_live import until

from ckpt_tui.app.screens.live import LiveRefresh

STEPS = "demo/models/agent-001/checkpoints/"


async def test_a_bucket_is_polled_and_the_cursor_and_marks_stay(art_base):
    location = MemoryLocation.fresh(art_base)
    app = RecordingApp(location.url, live=True, live_interval=0.1)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main(app)
        assert screen.current == ("demo", "agent-001")
        await go_to_step(pilot, 5)
        await pilot.press("space")  # marks 5, moves to 6
        key = screen.current
        for name in sorted(location.keys(STEPS + "0011/")):
            location.put(name.replace("/0011/", "/0012/"), b"x")
        await until(pilot, lambda: any(c.step == 12 for c in screen.table.rows))
        await settle(pilot)
        assert screen.table.highlighted.step == 6 and screen.marks[key] == frozenset({5})
        for name in location.keys(STEPS + "0003/"):
            location.delete(name)
        await until(pilot, lambda: all(c.step != 3 for c in screen.table.rows))
        await settle(pilot)
        assert screen.table.highlighted.step == 6 and screen.marks[key] == frozenset({5})


async def test_a_disk_without_file_notifications_is_polled(art_base, monkeypatch):
    monkeypatch.setattr(LiveRefresh, "_notifications", staticmethod(lambda: False))
    app = RecordingApp(str(art_base), live=True, live_interval=0.1)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main(app)
        steps = run_dir(art_base, "agent-001")
        shutil.copytree(steps / "0011", steps / "0012")
        await until(pilot, lambda: any(c.step == 12 for c in screen.table.rows))
        assert screen.run.latest_step == 12
        shutil.rmtree(steps / "0003")
        await until(pilot, lambda: all(c.step != 3 for c in screen.table.rows))
