"""The step table's frequent messages (marks, search) in a toast kept mounted: shown with the key's
own frame, laid out once, stacked with Textual's toasts, gone when its time is up."""

from __future__ import annotations

from app_helpers import RecordingApp, go_to_step, main, toasts
from app_scenarios import settle
from test_app_dialog_layout import count_frames, count_layouts

from ckpt_tui.core.retention import Policy


async def shown_after(pilot, key: str, typed: tuple[str, ...] = (), frames_allowed: int = 2) -> bool:
    """Whether ``key``, pressed with no toast on screen (after the keys ``typed``), lays the main
    screen out at most once and draws at most ``frames_allowed`` frames until handled."""
    app = pilot.app
    screen = main(app)
    for toast in toasts(app):
        toast._expire()  # as when their time is up
    await pilot.press(*typed)
    await settle(pilot)
    layouts, frames = count_layouts(screen), count_frames(app)
    await pilot.press(key)
    await settle(pilot)
    for _ in range(5):  # a toast Textual mounts takes a few rounds of the message loop
        await pilot.pause()
    return len(layouts) <= 1 and len(frames) <= frames_allowed


async def test_marks_and_search_messages_are_drawn_with_one_layout_of_the_screen(art_base):
    app = RecordingApp(str(art_base), policy=Policy.parse("best,latest"))
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        await settle(pilot)
        await go_to_step(pilot, 11)
        # A new toast of Textual's lays the screen out three times over four frames.
        assert await shown_after(pilot, "shift+up")
        assert [str(t.render()) for t in toasts(app)] == ["Marks\nstep 11 stays: latest"]
        assert await shown_after(pilot, "i")
        assert str(toasts(app, "Marks")[0].render()).startswith("Marks\ninverted: marked 10; 10 marked in all")
        assert await shown_after(pilot, "enter", ("slash", *"11"), frames_allowed=3)  # the dialog closes too
        assert "4 step(s) match '11'" in str(toasts(app, "Search")[0].render())
        assert await shown_after(pilot, "enter", ("M", *"step < 3"), frames_allowed=3)
        assert "where step < 3: no change; 10 marked in all" in str(toasts(app, "Marks")[0].render())
        assert await shown_after(pilot, "i") and await shown_after(pilot, "i")


async def test_another_toast_stacks_under_what_the_notice_says(art_base):
    app = RecordingApp(str(art_base), policy=Policy.parse("best,latest"))
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        await settle(pilot)
        main(app).table.focus()
        await pilot.press("a")
        await settle(pilot)
        notice = main(app).notice
        assert toasts(app) == [notice]
        app.notify("copied somewhere", timeout=4)
        await settle(pilot)
        await pilot.pause()
        shown = toasts(app)
        assert notice not in shown  # it became a toast of Textual's, above the new one
        assert [str(t.render()) for t in shown] == [
            "Marks\nevery step: marked 10; 10 marked in all\n2 skipped: best val/reward (10); latest (11)",
            "copied somewhere"]
        await pilot.press("i")  # while other toasts show, the marks toast is updated among them
        await settle(pilot)
        await pilot.pause()
        assert [str(t.render()).splitlines()[-1] for t in toasts(app)] == [
            "2 skipped: best val/reward (10); latest (11)", "copied somewhere"]
        assert "inverted: unmarked 10; 0 marked in all" in str(toasts(app)[0].render())


async def test_the_notice_goes_when_its_time_is_up_or_it_is_clicked(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        await settle(pilot)
        main(app).table.focus()
        await pilot.press("a")
        notice = main(app).notice
        assert notice.shown is not None and notice.shown.timeout == 8  # marks with steps skipped stay 8 s
        notice._expire()  # as Toast's own timer set when mounted: the time is not up, it stays
        assert notice.shown is not None and toasts(app) == [notice]
        notice.shown.raised_at -= 8
        notice._expire()  # as the notice's timer does
        assert notice.shown is None and toasts(app) == [] and not notice.visible
        await pilot.press("i")
        await settle(pilot)
        assert toasts(app) == [notice]
        await pilot.click(notice)
        assert toasts(app) == [] and list(app._notifications) == []
