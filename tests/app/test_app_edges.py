"""Rough edges a newcomer meets: each with the behaviour it should have."""

from __future__ import annotations

import shutil

from app_helpers import RecordingApp, confirm_delete, main, run_dir, steps_on_disk
from app_scenarios import settle

from ckpt_tui.app.screens.confirm import ConfirmDelete
from ckpt_tui.app.widgets import RunTree
from ckpt_tui.app.widgets.run_tree import RunSummary, figure_options


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
