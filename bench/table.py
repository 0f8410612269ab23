"""First render and scrolling of the checkpoint table vs Textual's DataTable.

    python bench/table.py [ROWS ...]      (default: 1000 10000 100000)
    python bench/table.py --first-paint   (the app on the demo tree)

Both run headless in the same process on the same rows (step, size, time,
two metrics). "first render" is from handing over the rows to a finished
frame; "scroll" is 20 page-downs from the top and a jump to the end, each
drawn. The
DataTable is given preformatted strings, so its numbers leave out formatting.
"""

from __future__ import annotations

import asyncio
import sys
import time

from textual.app import App, ComposeResult
from textual.widget import Widget
from textual.widgets import DataTable

from ckpt_tui.formatting import number, size, stamp
from ckpt_tui.app.widgets import CheckpointTable
from ckpt_tui.core.metrics import Metrics
from ckpt_tui.core.models import Checkpoint, Run

METRICS = ["val/reward", "train/loss"]


def make_run(rows: int) -> Run:
    checkpoints = [Checkpoint(s, 120_000_000 + s % 4096, 1.79e9 + 420 * s, f"{s:04d}") for s in range(rows)]
    values = {s: {"val/reward": (s * 7919 % 1000) / 1000, "train/loss": 1 - (s % 97) / 97} for s in range(rows)}
    return Run("bench", "run", checkpoints, Metrics(values))


class Bench(App):
    def __init__(self, widget: Widget) -> None:
        super().__init__()
        self.widget = widget

    def compose(self) -> ComposeResult:
        yield self.widget


async def drawn(app: App, pilot) -> None:
    await pilot.pause()
    # Compose a full frame, as a terminal refresh would (without exporting it).
    app.screen._compositor.render_update(full=True)


async def measure(widget: Widget, fill, to_top, page_down, to_end) -> tuple[float, float]:
    app = Bench(widget)
    async with app.run_test(size=(120, 40)) as pilot:
        widget.focus()
        await drawn(app, pilot)
        start = time.perf_counter()
        fill(widget)
        await drawn(app, pilot)
        first = time.perf_counter() - start
        to_top(widget)
        await drawn(app, pilot)
        start = time.perf_counter()
        for move in [page_down] * 20 + [to_end]:
            move(widget)
            await drawn(app, pilot)
        return first, time.perf_counter() - start


async def bench(rows: int) -> None:
    run = make_run(rows)
    cells = [(str(c.step), size(c.bytes), stamp(c.mtime), *(number(run.metrics.value(c.step, m)) for m in METRICS))
             for c in run.checkpoints]

    def fill_datatable(table: DataTable) -> None:
        table.add_columns("step", "size", "modified", *METRICS)
        table.add_rows(cells)

    def fill_ours(table: CheckpointTable) -> None:
        table.show(run, METRICS)

    data_first, data_scroll = await measure(DataTable(), fill_datatable, DataTable.action_scroll_top,
                                            DataTable.action_page_down,
                                            DataTable.action_scroll_bottom)
    ours_first, ours_scroll = await measure(CheckpointTable(), fill_ours, lambda t: t.action_jump(0),
                                            lambda t: t.action_page(1),
                                            lambda t: t.action_jump(-1))
    print(f"{rows:>8,} rows | first render: DataTable {data_first * 1000:8.0f} ms, "
          f"CheckpointTable {ours_first * 1000:6.0f} ms, ratio {data_first / ours_first:6.1f}x | "
          f"scroll: DataTable {data_scroll * 1000:6.0f} ms, CheckpointTable {ours_scroll * 1000:6.0f} ms, "
          f"ratio {data_scroll / ours_scroll:5.1f}x", flush=True)


async def first_paint() -> None:
    """From starting the app to a frame showing the runs and the first run's steps."""
    import tempfile
    from pathlib import Path

    from ckpt_tui.app.app import CkptApp
    from ckpt_tui.demo import build_demo

    base = build_demo(Path(tempfile.mkdtemp()) / ".art")
    start = time.perf_counter()
    app = CkptApp(str(base))
    async with app.run_test(size=(120, 36)) as pilot:
        table = app.screen.query_one(CheckpointTable)
        while not table.rows:
            await pilot.pause()
        await drawn(app, pilot)
        steps = time.perf_counter() - start
        while table.best_step is None:
            await pilot.pause()
        await drawn(app, pilot)
        metrics = time.perf_counter() - start
    print(f"first paint on the demo: runs and steps {steps * 1000:.0f} ms, "
          f"with metrics and best step {metrics * 1000:.0f} ms")


def main() -> None:
    if sys.argv[1:] == ["--first-paint"]:
        asyncio.run(first_paint())
        return
    sizes = [int(a) for a in sys.argv[1:]] or [1_000, 10_000, 100_000]
    for rows in sizes:
        asyncio.run(bench(rows))


if __name__ == "__main__":
    main()
