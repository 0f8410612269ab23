"""Moving around as ncdu, lazygit and k9s users do: the run list, marks, jumps, sorting."""

from __future__ import annotations

from app_helpers import RecordingApp, confirm_delete, go_to_step, main, steps_on_disk
from app_scenarios import settle
from rich.text import Text

from ckpt_tui.app.screens.confirm import ConfirmDelete
from ckpt_tui.app.widgets import RunTree, StatusLine
from ckpt_tui.app.widgets.run_tree import RunSummary, run_label
from ckpt_tui.core.retention import Policy
from ckpt_tui.formatting import size


def status(app) -> str:
    return str(main(app).query_one(StatusLine).render())


def labels(tree: RunTree) -> dict:
    return {key: str(node.label) for key, node in tree._leaves.items()}


# -- the run list ----------------------------------------------------------------------
def test_a_run_label_keeps_latest_and_best_and_a_gap_after_the_name():
    summary = RunSummary(20000, 1_300_000, 19999, 17060)
    for width in (40, 30, 24, 20):
        label = run_label("agent-big", summary, width)
        assert isinstance(label, Text) and len(label) <= max(width, 20)
        assert "L19999" in label.plain and "★17060" in label.plain
        assert "agent-big  " in label.plain or "…" in label.plain
    assert run_label("agent-001", RunSummary(320, 38_400_000_000, 319, 290), 40).plain.startswith("agent-001  ")


async def test_g_and_G_move_in_the_run_list_and_enter_folds_a_project(demo_base):
    app = RecordingApp(str(demo_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        tree = main(app).query_one(RunTree)
        await pilot.press("G")
        await settle(pilot)
        assert main(app).current == tree.run_keys[-1]
        await pilot.press("g")
        assert tree.cursor_node.data == "email-agent"
        await pilot.press("enter")
        assert not tree.cursor_node.is_expanded
        await pilot.press("space")
        assert tree.cursor_node.is_expanded
        await pilot.press("j", "enter")
        await settle(pilot)
        assert app.focused is main(app).table  # Enter on a run goes to its steps


async def test_the_steps_pane_names_the_run_it_shows(demo_base):
    app = RecordingApp(str(demo_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        table = main(app).table
        first = main(app).current
        assert str(table.border_title) == "/".join(first)
        await pilot.press("G")
        await settle(pilot)
        last = main(app).current
        assert last != first and str(table.border_title) == "/".join(last)
        assert "/".join(last) in app.export_screenshot()  # on screen, not only set


async def test_runs_can_be_ordered_by_size_count_and_latest_step(demo_base):
    app = RecordingApp(str(demo_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        tree = main(app).query_one(RunTree)
        summaries = main(app).summaries
        for order, figure in (("size", "bytes"), ("checkpoints", "checkpoints"), ("latest", "latest")):
            await pilot.press("o")
            assert tree.order == order and app.said(f"runs ordered by {order}")
            for project in ("email-agent", "tau-bench"):
                keys = [k for k in tree.run_keys if k[0] == project]
                values = [getattr(summaries[k], figure) for k in keys]
                assert values == sorted(values, reverse=True), (order, project)
        await pilot.press("o")
        assert tree.order == "name"
        project = next(n for n in tree.root.children if n.data == "email-agent")
        email = [s.bytes for k, s in summaries.items() if k[0] == "email-agent"]
        assert f"3 runs · {size(sum(email))}" in str(project.label)  # as ls says it: "54.3 GB"
        shown = labels(tree)
        for key in tree.run_keys:
            assert size(summaries[key].bytes) in shown[key], shown[key]


async def test_a_project_preview_shows_what_each_run_frees(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("V")
        await settle(pilot)
        shown = labels(main(app).query_one(RunTree))
        for key, plan in main(app).plans.items():
            assert f"-{plan.freed_bytes / 1000:.1f} kB" in shown[key], shown[key]
        await pilot.press("escape")
        assert not any("-" in text.split("  ")[-1][:1] for text in labels(main(app).query_one(RunTree)).values())


# -- marks -------------------------------------------------------------------------
async def test_space_marks_steps_that_the_preview_then_deletes(art_base):
    app = RecordingApp(str(art_base), policy=Policy.parse("best,latest,last:6"))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await go_to_step(pilot, 7)
        await pilot.press("space")
        table = main(app).table
        assert table.highlighted.step == 8 and main(app).marks[("demo", "agent-001")] == {7}
        assert "M" in table._cells(table.rows[table.row_of(7)])[0]
        await pilot.press("end", "space")  # the latest
        assert any(n.startswith("step 11 cannot be marked: it is always kept (") and "latest" in n for n, _ in app.notes)
        await go_to_step(pilot, 10)
        await pilot.press("space")  # the best
        assert app.said("step 10 cannot be marked: it is always kept (best val/reward")
        assert main(app).marks[("demo", "agent-001")] == {7}
        await pilot.press("v")
        plan = main(app).plans[("demo", "agent-001")]
        assert plan.delete_steps == {0, 1, 2, 3, 4, 5, 7}
        assert table._cells(table.rows[table.row_of(7)])[3].strip() == "DEL marked"
        await pilot.press("x")
        assert isinstance(app.screen, ConfirmDelete)
        await confirm_delete(pilot)
        assert steps_on_disk(art_base, "agent-001") == [6, 8, 9, 10, 11]
        assert main(app).marks[("demo", "agent-001")] == frozenset()


# -- jumps and sorting ----------------------------------------------------------------
async def test_n_and_N_jump_between_deleted_and_kept_rows(art_base):
    app = RecordingApp(str(art_base), policy=Policy.parse("best,latest,every:4"))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("v")
        main(app).table.focus()
        await pilot.press("home")
        table = main(app).table
        seen = [table.highlighted.step]
        for _ in range(6):
            await pilot.press("n")
            seen.append(table.highlighted.step)
        assert seen == [0, 1, 4, 5, 8, 9, 10]  # kept 0, deleted 1-3, kept 4, deleted 5-7, ...
        await pilot.press("N")
        assert table.highlighted.step == 9


async def test_sort_skips_the_marker_column_and_keeps_the_sorted_column_on_screen(demo_base):
    app = RecordingApp(str(demo_base))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = main(app).table
        table.focus()
        seen = []
        for _ in range(len(table.columns) - 1):
            await pilot.press("s")
            await pilot.pause()
            seen.append(table.sort_key)
            header = "".join(segment.text for segment in table.render_line(0))
            assert "▲" in header, table.sort_key
        assert "mark" not in seen and seen[-1] == "step"
        row = "".join(segment.text for segment in table.render_line(1))
        assert "…" not in row[:table.frozen_width + 10] and "MB" in row  # sorted back to the step: the size shows whole again
        while table.sort_key != "metric:train/reward":
            await pilot.press("s")
        await pilot.press("m", "home", "enter")  # auto: the sorted column stays and is on screen
        await settle(pilot)
        await pilot.pause()
        header = "".join(segment.text for segment in table.render_line(0))
        assert "▲" in header
