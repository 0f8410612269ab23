"""The checkpoint table at scale: only visible rows are formatted."""

from __future__ import annotations

from textual.app import App, ComposeResult

from ckpt_tui.app.widgets import CheckpointTable
from ckpt_tui.core.metrics import Metrics
from ckpt_tui.core.models import Checkpoint, Run


def big_run(steps: int) -> Run:
    checkpoints = [Checkpoint(step, 1000 + step % 7, 1.7e9 + step, f"{step:04d}") for step in range(steps)]
    metrics = Metrics({step: {"val/reward": (step * 7919 % 1000) / 1000} for step in range(0, steps, 10)})
    return Run("p", "big", checkpoints, metrics)


class TableApp(App):
    def compose(self) -> ComposeResult:
        yield CheckpointTable()


class CountingTable(CheckpointTable):
    formatted = 0

    def _cells(self, ckpt):
        CountingTable.formatted += 1
        return super()._cells(ckpt)


class CountingApp(App):
    def compose(self) -> ComposeResult:
        yield CountingTable()


async def test_100k_rows_format_only_what_is_on_screen():
    run = big_run(100_000)
    app = CountingApp()
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.query_one(CountingTable)
        table.focus()
        table.show(run, ["val/reward"], best_step=99_990)
        await pilot.pause()
        assert table.highlighted.step == 99_999
        await pilot.press("home", "pagedown", "pagedown", "end", "up")
        await pilot.pause()
        assert table.highlighted.step == 99_998
        assert round(table.scroll_y) >= 99_999 - table.page_height
        # A few screens' worth of rows, never the whole run.
        assert CountingTable.formatted < 40 * 30


async def test_sorting_by_metric_keeps_missing_values_last_and_the_cursor_on_its_step():
    app = TableApp()
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.query_one(CheckpointTable)
        table.show(big_run(1000), ["val/reward"])
        await pilot.pause()
        table.sort_by("metric:val/reward", reverse=True)
        values = [table.run.metrics.value(c.step, "val/reward") for c in table.rows]
        present = [v for v in values if v is not None]
        assert present == sorted(present, reverse=True) and len(present) == 100
        assert values[100:] == [None] * 900
        assert table.highlighted.step == 999


def test_memo_keeps_values_per_object_and_forgets_the_oldest():
    from ckpt_tui.app.memo import Memo

    memo, calls = Memo(size=2), []
    first, second, third = big_run(10), big_run(10), big_run(10)
    for run in (first, first, second, third, first):
        memo.get(run, "count", lambda run=run: calls.append(run) or len(run.checkpoints))
    # first computed once, then again after two newer runs pushed it out
    assert [id(r) for r in calls] == [id(first), id(second), id(third), id(first)]


def test_a_cut_column_shows_an_ellipsis_not_part_of_a_number():
    from ckpt_tui.app.widgets.checkpoint_table import window

    pieces = ["0.1325 ", "0.045 ", "12 "]
    assert window(pieces, 0, 10) == [(0, "0.1325 "), (1, "  …")]
    assert window(pieces, 3, 10) == [(0, "…   "), (1, "0.045 ")]
    assert "".join(text for _, text in window(pieces, 0, 100)) == "".join(pieces)
