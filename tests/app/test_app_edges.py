"""Rough edges a newcomer meets: each with the behaviour it should have."""

from __future__ import annotations

import shutil
import threading

from app_helpers import RecordingApp, confirm_delete, main, run_dir, steps_on_disk
from app_scenarios import settle

from ckpt_tui.app.screens.confirm import ConfirmDelete
from ckpt_tui.app.widgets import RunTree
from ckpt_tui.app.widgets.run_tree import RunSummary, figure_options
from ckpt_tui.stores.local import LocalStore


async def test_a_deletion_counts_steps_another_process_removed_meanwhile(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("v", "x")
        assert isinstance(app.screen, ConfirmDelete)
        shutil.rmtree(run_dir(art_base, "agent-001") / "0003")
        await confirm_delete(pilot)
        assert steps_on_disk(art_base, "agent-001") == [10, 11]
        assert app.said("deleted 9 checkpoint(s)") and app.said("1 was already gone", "information")


def test_a_run_that_frees_nothing_says_so_rather_than_minus_zero():
    options = figure_options(RunSummary(12, 5000, 11, 10), 0)
    assert not any("-0" in option for option in options)
    assert all("nothing" in option for option in options)


async def test_o_orders_projects_as_well_as_runs(demo_base):
    app = RecordingApp(str(demo_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main(app)
        tree = screen.query_one(RunTree)
        by_name = list(dict.fromkeys(p for p, _ in tree.run_keys))
        assert by_name == sorted(by_name)
        for order in ("size", "checkpoints", "latest"):  # largest first
            await pilot.press("o")
            figures = {p: [getattr(s, {"size": "bytes"}.get(order, order))
                           for (q, _), s in screen.summaries.items() if q == p] for p in by_name}
            totals = {p: max(f) if order == "latest" else sum(f) for p, f in figures.items()}
            shown = list(dict.fromkeys(p for p, _ in tree.run_keys))
            assert shown == sorted(by_name, key=lambda p: -totals[p])
            assert app.said(f"projects and runs ordered by {order}")
        assert shown != by_name  # by latest step: tau-bench's 149 before summarizer's 59


async def test_an_art_project_folder_says_where_its_base_is(art_base):
    app = RecordingApp(str(art_base / "demo"))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        text = str(main(app).query_one("#empty").render())
        assert f"inside the ART base {art_base}" in text and "ckpt-tui .." in text
        for layout in ("ART", "Hugging Face", "Megatron", "verl", "DeepSpeed", "Lightning", "NeMo", "torchtune",
                       "DCP", "Orbax"):
            assert layout in text


async def test_an_art_model_folder_points_three_levels_up(art_base):
    app = RecordingApp(str(art_base / "demo" / "models" / "agent-001" / "checkpoints"))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert "ckpt-tui ../../../.." in str(main(app).query_one("#empty").render())


class HeldDeletes(LocalStore):
    """Deletions wait until the test lets them go: the dialog while a deletion runs."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.release = threading.Event()

    def delete_checkpoints(self, run, checkpoints, done=None, should_cancel=None):
        self.release.wait(20)
        return super().delete_checkpoints(run, checkpoints, done, should_cancel)


async def test_during_a_deletion_focus_stays_on_stop_and_enter_stops(art_base):
    store = HeldDeletes(art_base)
    app = RecordingApp(store)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("v", "x", "tab", "enter")  # Delete
        dialog = app.screen
        assert isinstance(dialog, ConfirmDelete) and dialog.running
        await pilot.press("tab", "tab", "shift+tab")
        assert app.focused.id == "cancel" and str(app.focused.label) == "Stop"
        assert str(dialog.query_one("#confirm-question").render()).startswith("Deleting 10 checkpoint(s)")
        await pilot.press("enter")
        assert dialog.stop_requested
        store.release.set()
        await settle(pilot)
        assert app.said("stopped")


async def test_esc_cancels_a_project_preview_still_reading(art_base):
    store = HeldReads(art_base)
    app = RecordingApp(store)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        store.hold.clear()
        await pilot.press("V")
        await pilot.pause()
        assert main(app).table.loading
        await pilot.press("escape")
        assert not main(app).table.loading and main(app).preview_scope is None
        assert app.said("project preview cancelled")
        store.hold.set()
        await settle(pilot)
        assert main(app).preview_scope is None  # what the cancelled reading found is not shown


class HeldReads(LocalStore):
    """Runs are read only while ``hold`` is set."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.hold = threading.Event()
        self.hold.set()

    def load_run(self, *args, **kwargs):
        self.hold.wait(20)
        return super().load_run(*args, **kwargs)


async def test_malformed_history_lines_are_counted_on_the_run(art_base):
    history = art_base / "demo" / "models" / "agent-001" / "history.jsonl"
    history.write_text(history.read_text() + "{not json\n" + '{"no step": 1}\n')
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        from ckpt_tui.app.widgets.details import describe_checkpoint

        screen = main(app)
        grid = describe_checkpoint(screen.run, screen.table.highlighted, None, False, "")
        rows = {str(cell) for column in grid.columns for cell in column._cells}
        assert f"{screen.run.metrics.malformed} malformed record(s) skipped" in rows
        assert screen.run.metrics.malformed == 2


async def test_v_on_a_folded_project_row_previews_that_project(demo_base):
    app = RecordingApp(str(demo_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main(app)
        tree = screen.query_one(RunTree)
        tree.focus()
        tree.move_cursor(tree._projects["tau-bench"])
        await pilot.press("space")  # folds it
        await settle(pilot)
        assert tree.cursor_node.data == "tau-bench" and not tree.cursor_node.is_expanded
        await pilot.press("v")
        await settle(pilot)
        assert screen.preview_scope == "project"
        assert {key[0] for key in screen.plans} == {"tau-bench"}
