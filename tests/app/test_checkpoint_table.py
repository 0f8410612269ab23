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
        table.show(run, ["val/reward"], best_steps=frozenset({99_990}))
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


def shared_run() -> Run:
    """Two checkpoints at step 4, values tied at 0.5, steps 6 and 7 logging nothing."""
    steps = [(0, "0000"), (1, "0001"), (2, "0002"), (3, "0003"), (4, "0004"), (4, "0004-v1"), (5, "0005"),
             (6, "0006"), (7, "0007")]
    checkpoints = [Checkpoint(step, 100 + step, 1.7e9 + step, name) for step, name in steps]
    values = {0: 0.3, 1: 0.5, 2: 0.1, 3: 0.5, 4: 0.5, 5: 0.9}
    return Run("p", "shared", checkpoints, Metrics({step: {"val/reward": value} for step, value in values.items()}))


async def test_sorting_by_metric_orders_ties_and_shared_steps_as_a_stable_sort_of_the_rows():
    app = TableApp()
    async with app.run_test(size=(100, 30)):
        table = app.query_one(CheckpointTable)
        run = shared_run()
        table.show(run, ["val/reward"])
        values = dict(run.metrics.series("val/reward"))
        for reverse in (False, True):
            table.sort_by("metric:val/reward", reverse=reverse)
            expected = sorted((c for c in run.checkpoints if c.step in values), key=lambda c: values[c.step],
                              reverse=reverse) + [c for c in run.checkpoints if c.step not in values]
            assert [c.name for c in table.rows] == [c.name for c in expected]
        assert [c.name for c in table.rows][:5] == ["0005", "0001", "0003", "0004", "0004-v1"]


async def test_each_order_of_a_run_is_sorted_once_and_the_cursor_stays_on_its_step():
    app = TableApp()
    async with app.run_test(size=(100, 30)):
        table = app.query_one(CheckpointTable)
        table.show(big_run(1000), ["val/reward"])
        table.cursor_row = 500
        step = table.highlighted.step
        sorted_by: list[str] = []
        for method in ("_by_metric", "_sort_function"):
            original = getattr(table, method)
            setattr(table, method, lambda *args, original=original, method=method: (
                sorted_by.append(method), original(*args))[1])
        orders = {}
        for _ in range(len(table.columns) - 1):  # every column once (the marker column is not sorted)
            label = table.cycle_sort()
            orders[label] = list(table.rows)
            assert table.highlighted.step == step
        assert sorted(sorted_by) == ["_by_metric", "_sort_function", "_sort_function"]  # size, modified
        for _ in range(len(table.columns) - 1):  # round again: the orders sorted already
            label = table.cycle_sort()
            assert table.rows == orders[label] and table.highlighted.step == step
        assert len(sorted_by) == 3
        table.show(big_run(1000), ["val/reward"])  # the run read again: its rows sorted again
        table.sort_by("size")
        assert len(sorted_by) == 4
