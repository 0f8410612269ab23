"""A dialog opening leaves the screen below it as laid out, unless its size or content changed."""

from __future__ import annotations

from app_helpers import RecordingApp, main, toasts
from app_scenarios import settle

from textual._compositor import LayoutUpdate
from textual._context import visible_screen_stack
from textual.screen import ModalScreen
from textual.visual import Visual, visualize
from textual.widgets import Input

from ckpt_tui.app.screens.activity import ActivityScreen
from ckpt_tui.app.screens.compare import CompareRuns
from ckpt_tui.app.screens.disk import StepFiles
from ckpt_tui.app.screens.main import MainScreen
from ckpt_tui.app.screens.prompt import Prompt
from ckpt_tui.app.screens.reuse import ReusableDialog, TintedBelow
from ckpt_tui.core.events import Event
from ckpt_tui.core.retention import Policy


def count_layouts(screen) -> list[object]:
    return count_calls(screen, "_refresh_layout")


def count_calls(obj, name: str) -> list[object]:
    """The calls of ``obj``'s method ``name`` from now on (their arguments)."""
    calls: list[object] = []
    method = getattr(obj, name)

    def counted(*args, **kwargs):
        calls.append(args)
        return method(*args, **kwargs)

    setattr(obj, name, counted)
    return calls


def count_frames(app, what=lambda screen: screen, whole: bool = False) -> list[object]:
    """``what`` each frame the app draws shows (a held frame is not drawn); with ``whole``, beside
    it whether the frame draws the whole screen."""
    frames: list[object] = []
    display = app._display

    def counted(screen, renderable):
        if renderable is not None and not app._batch_count:
            frames.append((what(screen), isinstance(renderable, LayoutUpdate)) if whole else what(screen))
        return display(screen, renderable)

    app._display = counted
    return frames


async def test_a_dialog_opened_at_the_same_size_does_not_lay_out_the_main_screen_again(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main(app)
        layouts = count_layouts(screen)
        await pilot.press("L")
        assert isinstance(app.screen, ActivityScreen)
        await pilot.pause()
        assert layouts == []  # the same size, nothing pending: the layout it has stands
        await pilot.resize_terminal(100, 30)
        await pilot.pause()
        assert layouts and screen._compositor.size == (100, 30)  # a new size: laid out again below
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen and screen.table.size.width > 0


async def test_dialogs_close_without_laying_out_the_main_screen_and_open_again_with_new_content(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main(app)
        table = screen.table
        table.focus()
        await pilot.press("up")
        await settle(pilot)
        layouts = count_layouts(screen)
        await pilot.press("D")
        await settle(pilot)
        files = app.screen
        assert isinstance(files, StepFiles) and files.checkpoint.step == 10 and files.rows  # opened once read
        await pilot.press("escape", "colon", *"4", "enter", "L", "escape", "D")
        await settle(pilot)
        assert layouts == []  # closing a dialog removes none: the main screen stays as laid out
        assert app.screen is files and files.checkpoint.step == 4  # the same dialog, the step now highlighted
        assert str(files.query_one("#disk").border_title).endswith("step 4: files")
        step_dir = art_base / "demo" / "models" / "agent-001" / "checkpoints" / "0004"
        assert sorted(p for p, _, _ in files.rows) == sorted(p.name for p in step_dir.iterdir())
        await pilot.press("escape", "slash")
        prompt = app.screen
        assert isinstance(prompt, Prompt) and prompt.query_one(Input).value == ""
        assert str(prompt.query_one("#prompt").border_title) == "Search steps"
        await pilot.press(*"11", "enter", "M")
        assert app.screen is prompt and str(prompt.query_one("#prompt").border_title) == "Mark the steps where"
        assert prompt.query_one(Input).value == "" and not prompt.query_one("#prompt-hint").has_class("error")
        await pilot.press(*"step < 3", "enter")
        assert screen.marks[screen.current] == frozenset({0, 1, 2}) and app.screen is screen


async def test_inverting_marks_again_updates_one_toast_with_the_last_count(art_base):
    app = RecordingApp(str(art_base), policy=Policy.parse("best,latest"))
    async with app.run_test(size=(120, 36), notifications=True) as pilot:  # toasts shown
        await settle(pilot)
        screen = main(app)
        screen.table.focus()
        await pilot.press("a")
        await settle(pilot)
        shown = toasts(app, "Marks")
        assert len(shown) == 1 and "every step: marked 10; 10 marked in all" in str(shown[0].render())
        await pilot.press("i", "i")
        await settle(pilot)
        assert screen.marks[screen.current] == frozenset(range(10))  # every step but best (10) and latest (11)
        assert toasts(app, "Marks") == shown  # the same toast, saying the last count
        assert str(shown[0].render()).endswith("inverted: marked 10; 10 marked in all\n2 skipped: best val/reward "
                                               "(10); latest (11)")
        assert app.said("inverted: unmarked 10; 0 marked in all")  # the first i, said too


async def test_a_new_search_says_its_count_in_the_search_toast_shown(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        await settle(pilot)
        main(app).table.focus()
        await pilot.press("slash", *"11", "enter")
        await settle(pilot)
        shown = toasts(app, "Search")
        assert len(shown) == 1 and shown[0].has_class("-information")
        await pilot.press("slash", "ctrl+u", *"999", "enter")
        await settle(pilot)
        assert toasts(app, "Search") == shown
        assert "0 step(s) match '999'" in str(shown[0].render()) and shown[0].has_class("-warning")
        assert not shown[0].has_class("-information")


async def test_the_files_dialog_shown_again_is_drawn_once_with_the_files_of_the_step(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main(app)
        screen.table.focus()
        await pilot.press("D", "escape", "up")
        await settle(pilot)
        frames = count_frames(app, lambda screen: (type(screen), bool(getattr(screen, "rows", None))))
        await pilot.press("D")
        await settle(pilot)
        files = app.screen
        assert isinstance(files, StepFiles) and files.checkpoint.step == 10 and files.rows
        # Held until the files came: laid out with the frames held, then drawn once with them,
        # not first saying it reads them.
        assert frames == [(StepFiles, True)]


async def test_compare_shown_again_for_the_same_runs_is_one_frame_without_drawing_its_chart_again(demo_base):
    app = RecordingApp(str(demo_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("C")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, CompareRuns) and dialog.plot is not None
        await pilot.press("escape")
        await settle(pilot)
        frames = count_frames(app, lambda screen: type(screen))
        renders = count_calls(dialog.plot, "render")
        await pilot.press("C")
        await settle(pilot)
        assert app.screen is dialog and dialog.span is not None and dialog.plot.display
        # One frame, the screen below tinted behind the dialog (not the layout, then the whole
        # screen, then the whole screen again for the screen below); the chart as it was drawn.
        assert frames == [CompareRuns]
        assert renders == []


async def test_the_activity_log_shown_again_with_a_new_event_draws_the_whole_screen_once(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("L", "escape")
        await settle(pilot)
        app.activity.append(Event("forked", "demo", "agent-001", 4, 1024))
        frames = count_frames(app, lambda screen: type(screen), whole=True)
        layouts = count_layouts(main(app))
        await pilot.press("L")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ActivityScreen) and "forked" in str(dialog.query_one("#activity-lines").render())
        # The whole screen drawn once with the new lines (not a frame of the new layout before it,
        # nor one after it for the summary line the layout widened).
        assert frames == [(ActivityScreen, True)] and layouts == []
        await pilot.press("escape")
        await settle(pilot)
        assert frames[1:] == [(MainScreen, True)]  # closed: the screen below drawn once, as it was laid out


async def test_a_jump_closes_its_dialog_and_draws_the_steps_at_the_step_in_one_frame(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main(app)
        screen.table.focus()
        await pilot.press("colon", "escape", "colon", "4")  # the dialog shown again
        await settle(pilot)
        frames = count_frames(app, lambda screen: type(screen), whole=True)
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is screen and screen.table.highlighted.step == 4
        # The screen below drawn once, with the step highlighted and its details (not drawn as the
        # dialog closes, then again as the table, details and chart tell it what changed).
        assert frames == [(MainScreen, True)]
        await pilot.press("colon", "escape")
        await settle(pilot)
        assert frames[1:] == [(Prompt, True), (MainScreen, True)], frames


async def test_the_screen_below_a_dialog_is_tinted_as_textual_tints_it_without_rendering_it_again(demo_base):
    app = RecordingApp(str(demo_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        main(app).table.focus()
        for key in ("D", "L", "C"):
            await pilot.press(key)
            await settle(pilot)
            dialog = app.screen

            def lines(render) -> list[list]:
                visible_screen_stack.set(app.screen_stack[:-1])  # what a frame of the dialog renders over
                background = render(dialog)
                strips = Visual.to_strips(dialog, visualize(dialog, background), *dialog.size, dialog.visual_style)
                return type(background), [list(strip) for strip in strips]

            ours, tinted = lines(ReusableDialog.render)
            textuals, expected = lines(ModalScreen.render)
            assert ours is TintedBelow and textuals is not TintedBelow
            assert tinted == expected and len(tinted) == 36  # segment for segment, styles included
            await pilot.press("escape")
            await settle(pilot)


async def test_the_files_dialog_shown_again_for_the_same_step_updates_nothing_it_shows(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        main(app).table.focus()
        await pilot.press("D")
        await settle(pilot)
        files = app.screen
        shown = [str(label.render()) for label in files.query("#disk Static")]
        await pilot.press("escape")
        await settle(pilot)
        updates = [count_calls(label, "update") for label in files.query("#disk Static")]
        frames = count_frames(app, lambda screen: type(screen), whole=True)
        await pilot.press("D")
        await settle(pilot)
        assert app.screen is files and files.rows  # read again: the same files
        # Drawn at once as it was, the screen below tinted behind it: no label laid out or drawn anew.
        assert updates == [[]] * len(updates) and frames == [(StepFiles, True)]
        assert [str(label.render()) for label in files.query("#disk Static")] == shown
        await pilot.press("escape", "up", "D")
        await settle(pilot)
        assert files.checkpoint.step == 10 and str(files.query_one("#disk").border_title).endswith("step 10: files")


async def test_a_key_typed_that_gives_the_hint_another_height_is_drawn_in_one_frame(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        main(app).table.focus()
        await pilot.press("M", *"val/reward < ")
        await settle(pilot)
        hint = app.screen.query_one("#prompt-hint")
        height = hint.size.height
        frames = count_frames(app, lambda screen: str(screen.query_one("#prompt-hint").render())
                              if screen is hint.screen else type(screen).__name__)
        await pilot.press("0")
        await settle(pilot)
        assert hint.size.height != height and "marks" in str(hint.render())  # a line fewer or more: laid out
        # One frame, with the hint in its new place (Textual drew the layout the resized hint asks for
        # in a second frame, 20-30 ms later).
        assert len(frames) == 1 and "marks" in frames[0]
        await pilot.press("escape")
        await settle(pilot)
