"""What a key press draws again in the steps, the details, the chart and the run list: what
changed, not the rest (a 20,000-step run answers each key within a frame or two)."""

from __future__ import annotations

from app_helpers import RecordingApp, go_to_step, main, toasts
from textual._compositor import Compositor
from app_scenarios import settle
from test_app_dialog_layout import count_calls, count_frames, count_layouts

from ckpt_tui.app.widgets import CheckpointTable, DetailsPanel, MetricPlot, RunTree, StatusLine
from ckpt_tui.core.retention import Policy


def rendered_rows(table) -> list[int]:
    """The lines of the step table rendered from now on."""
    return count_calls(table, "render_line")


async def ready(pilot, step: int) -> None:
    await settle(pilot)
    await go_to_step(pilot, step)
    await settle(pilot)


async def test_a_range_mark_draws_the_rows_it_changes_not_the_whole_table(art_base):
    app = RecordingApp(str(art_base), policy=Policy.parse("best,latest"))
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot, 5)
        table = main(app).table
        lines = rendered_rows(table)
        await pilot.press("shift+up")
        await settle(pilot)
        assert main(app).marks[main(app).current] == frozenset({5}) and table.highlighted.step == 4
        # The row marked (which the cursor left) and the row the cursor reached; every row is on screen.
        assert sorted(set(lines)) == [(table.rows.index(table.run.checkpoint(s)) + 1,) for s in (4, 5)]
        assert "M" in table._cells(table.run.checkpoint(5))[0]
        lines.clear()
        await pilot.press("down")
        await settle(pilot)
        assert len(set(lines)) == 2  # a move: the two rows the cursor left and reached


async def test_sorting_keeps_the_highlighted_steps_details_and_chart_labels_as_drawn(art_base):
    app = RecordingApp(str(art_base), policy=Policy.parse("best,latest"))
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot, 5)
        screen = main(app)
        body = screen.query_one(DetailsPanel).query_one("#details-body")
        shown = str(body.render())
        updates = count_calls(body, "update")
        labels = [count_calls(label, "update") for label in screen.query_one(MetricPlot).query("Label")]
        await pilot.press("s", "s", "S")
        await settle(pilot)
        assert screen.table.sort_key != "step" and screen.table.highlighted.step == 5
        assert updates == [] and str(body.render()) == shown and labels == [[], []]
        await pilot.press("up")
        await settle(pilot)
        assert len(updates) == 1 and str(body.render()) != shown  # another step: its details


async def test_inverting_marks_on_a_step_that_stays_redraws_neither_its_details_nor_the_run_list(art_base):
    app = RecordingApp(str(art_base), policy=Policy.parse("best,latest"))
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot, 11)  # the latest: never marked
        screen = main(app)
        details = count_calls(screen.query_one(DetailsPanel).query_one("#details-body"), "update")
        relabelled = count_calls(screen.query_one(RunTree), "relabel")
        status = screen.query_one(StatusLine)
        repainted = count_calls(status, "refresh")
        await pilot.press("i")
        await settle(pilot)
        assert screen.marks[screen.current] == frozenset(range(10))  # every step but best (10) and latest
        assert details == [] and relabelled == []
        assert len(repainted) == 1 and "10 marked for deletion" in str(status.render())
        await pilot.press("space")  # on the latest: refused, nothing changes
        await settle(pilot)
        assert len(repainted) == 1  # the same top line is not drawn again


async def test_a_toast_retold_in_as_many_lines_needs_no_layout_of_the_screen(art_base):
    app = RecordingApp(str(art_base), policy=Policy.parse("best,latest"))
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        await settle(pilot)
        screen = main(app)
        long = "x " * 40  # longer than the toast is wide: two lines either way
        app.notify(long, title="Marks", replace=True)
        await settle(pilot)
        layouts = count_layouts(screen)
        app.notify(long.replace("x", "y"), title="Marks", replace=True)
        await settle(pilot)
        assert layouts == [] and "y y" in str(toasts(app, "Marks")[0].render())
        app.notify(long * 3, title="Marks", replace=True)  # more lines: laid out again
        await settle(pilot)
        assert layouts


async def test_typing_in_the_jump_dialog_does_not_lay_it_out_for_its_hint(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        main(app).table.focus()
        await pilot.press("colon")
        await settle(pilot)
        hint = app.screen.query_one("#prompt-hint")
        refreshes: list[bool] = []
        refresh = hint.refresh
        hint.refresh = lambda *regions, layout=False, **kwargs: (refreshes.append(layout),
                                                                 refresh(*regions, layout=layout, **kwargs))[1]
        await pilot.press(*"10")
        await settle(pilot)
        assert True not in refreshes and "the nearest step there is" in str(hint.render())
        await pilot.press("enter")
        await settle(pilot)
        assert main(app).table.highlighted.step == 10


async def test_a_direction_that_keeps_the_best_step_keeps_the_chart_as_drawn(art_base):
    app = RecordingApp(str(art_base), policy=Policy.parse("best,latest"))
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot, 5)
        screen = main(app)
        plot = screen.query_one(MetricPlot)
        best = plot.chart.best_step
        drawn = count_calls(plot, "_draw_figure")
        await pilot.press("d")  # auto (max for val/reward) -> max: the same best step
        await settle(pilot)
        assert screen.policy.mode == "max" and plot.chart.best_step == best and drawn == []
        assert "(max)" in str(plot.query_one("#plot-title").render())
        await pilot.press("d")  # -> min: another best step, another figure
        await settle(pilot)
        assert plot.chart.best_step != best and len(drawn) == 1


async def test_a_range_mark_that_shows_a_toast_is_one_frame_scrollbars_and_all(art_base):
    app = RecordingApp(str(art_base), policy=Policy.parse("best,latest"))
    async with app.run_test(size=(120, 16), notifications=True) as pilot:  # low: the steps scroll
        await ready(pilot, 11)  # the latest: it stays, and a toast says so (the screen is laid out)
        table = main(app).table
        assert table.show_vertical_scrollbar
        frames = count_frames(app)
        await pilot.press("shift+up")
        await settle(pilot)
        assert app.said("step 11 stays") and table.highlighted.step == 10
        # Not a second frame drawing the steps' scrollbars again, 20-30 ms after the first.
        assert len(frames) == 1


async def test_a_key_typed_in_a_dialog_draws_the_text_and_its_hint_in_one_frame(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        main(app).table.focus()
        await pilot.press("M")  # mark by condition: the hint says what the text would mark
        await settle(pilot)
        hint = app.screen.query_one("#prompt-hint")
        untyped = str(hint.render())
        frames = count_frames(app)
        await pilot.press("x")
        await settle(pilot)
        # Not the text first, then the hint the text changes in a frame of its own.
        assert str(hint.render()) != untyped and len(frames) == 1
        await pilot.press("backspace")
        await settle(pilot)
        assert str(hint.render()) == untyped and len(frames) == 2


async def test_marking_every_step_and_inverting_use_the_runs_step_numbers_made_once(art_base):
    app = RecordingApp(str(art_base), policy=Policy.parse("best,latest"))
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot, 5)
        screen = main(app)
        await pilot.press("a")
        await settle(pilot)
        steps = screen.memo.get(screen.run, "steps", lambda: None)  # made by a, not by a pass per key
        assert steps == frozenset(c.step for c in screen.run.checkpoints)
        marks = screen.marks[screen.current]
        assert marks == steps - {10, 11}  # not the best (10) nor the latest
        # The run's rule holds the marks themselves, not a copy of every marked step per look-up.
        assert screen.policy_for(screen.run).marked is marks
        await pilot.press("i", "a")
        await settle(pilot)
        assert screen.marks[screen.current] == marks and screen.memo.get(screen.run, "steps", lambda: None) is steps


async def test_the_screen_below_a_dialog_is_drawn_from_its_last_frame_while_nothing_of_it_changed(art_base):
    app = RecordingApp(str(art_base), policy=Policy.parse("best,latest"))
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot, 5)
        screen = main(app)
        compositor = screen._compositor
        rendered = count_calls(screen.table, "render_lines")
        details = count_calls(screen.query_one(DetailsPanel).query_one("#details-body"), "render_lines")
        for key in ("D", "escape", "L", "escape", "D", "escape"):
            await pilot.press(key)
            await settle(pilot)
        # Drawn once as the first dialog opened (tinted below it); not again as each dialog
        # opens over it and closes: the lines it draws are the frame it kept.
        assert len(rendered) == 1 and len(details) == 1
        assert app.screen is screen
        fresh = [list(strip) for strip in Compositor.render_strips(compositor)]
        assert [list(strip) for strip in compositor.render_strips()] == fresh  # segment for segment
        await pilot.press("up", "D")  # a step highlighted meanwhile: its rows and details drawn anew
        await settle(pilot)
        assert len(rendered) > 1 and len(details) > 1
        assert "step 4" in str(app.screen.query_one("#disk").border_title)
        await pilot.press("escape")
        await settle(pilot)
        assert [list(strip) for strip in compositor.render_strips()] == [
            list(strip) for strip in Compositor.render_strips(compositor)]


async def test_the_footer_working_out_its_keys_does_not_look_the_step_table_up_again(art_base):
    app = RecordingApp(str(art_base), policy=Policy.parse("best,latest"))
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot, 5)
        screen = main(app)
        lookups = count_calls(screen, "query_one")
        await pilot.press("D", "escape", "up", "space")
        await settle(pilot)
        # check_action runs once per key the footer shows, each time the keys are worked out.
        assert screen.marks[screen.current] == frozenset({4})
        assert [args for args in lookups if args and args[0] is CheckpointTable] == []
