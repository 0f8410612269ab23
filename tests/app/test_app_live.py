"""The open run follows the disk: new steps appear, deleted ones vanish, cursor and marks stay."""

from __future__ import annotations

import shutil

from app_helpers import RecordingApp, go_to_step, main, run_dir, steps_on_disk
from app_scenarios import settle

from ckpt_tui.app.widgets import RunTree


async def until(pilot, condition, rounds: int = 400) -> None:
    """Let the app run until ``condition()`` holds (file notifications come when they come)."""
    for _ in range(rounds):
        if condition():
            return
        await pilot.pause(0.025)
    raise AssertionError("the run was never read again")


async def test_steps_appear_and_vanish_without_r_and_the_cursor_and_marks_stay(art_base):
    app = RecordingApp(str(art_base), live=True)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main(app)
        await go_to_step(pilot, 5)
        await pilot.press("space")  # marks 5, moves to 6
        key = screen.current
        steps = run_dir(art_base, "agent-001")
        shutil.copytree(steps / "0011", steps / "0012")
        await until(pilot, lambda: any(c.step == 12 for c in screen.table.rows))
        await settle(pilot)
        assert screen.table.highlighted.step == 6 and screen.marks[key] == frozenset({5})
        assert screen.run.latest_step == 12
        shutil.rmtree(steps / "0003")
        await until(pilot, lambda: all(c.step != 3 for c in screen.table.rows))
        await settle(pilot)
        assert screen.table.highlighted.step == 6 and screen.marks[key] == frozenset({5})



async def test_only_the_open_run_is_followed_and_the_next_one_opened_replaces_it(art_base, monkeypatch):
    import watchfiles

    followed = []

    def watch(path, **options):  # what the app follows, recorded
        followed.append(path)
        return real_watch(path, **options)

    real_watch = watchfiles.watch
    monkeypatch.setattr(watchfiles, "watch", watch)
    app = RecordingApp(str(art_base), live=True)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main(app)
        assert screen.current == ("demo", "agent-001")
        other = ("demo", "agent-002")
        screen.query_one(RunTree).select_run(other)
        await until(pilot, lambda: screen.run is not None and (screen.run.project, screen.run.name) == other)
        await until(pilot, lambda: len(followed) == 2)
        await settle(pilot)
        models = art_base / "demo" / "models"
        assert followed == [str(models / "agent-001"), str(models / "agent-002")]  # never the whole location
        newest = max(steps_on_disk(art_base, "agent-002"))
        steps = run_dir(art_base, "agent-002")
        shutil.copytree(steps / f"{newest:04d}", steps / f"{newest + 1:04d}")
        await until(pilot, lambda: any(c.step == newest + 1 for c in screen.table.rows))
        assert screen.current == other
