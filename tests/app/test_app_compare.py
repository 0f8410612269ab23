"""Compare runs (C): a project's runs in one chart, smoothing, zoom, pan and a cursor readout."""

from __future__ import annotations

from app_helpers import RecordingApp, main
from app_scenarios import settle

from ckpt_tui.app.screens.compare import CompareRuns, Curve, best_of, in_span, value_at


async def test_compare_draws_every_run_that_logs_the_metric(demo_base):
    app = RecordingApp(str(demo_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("C")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, CompareRuns)
        assert [c.run for c in dialog.curves] == ["agent-001", "agent-002"]  # agent-003-noval logs none
        assert "not logged by agent-003-noval" in str(dialog.query_one("#compare-title").render())
        legend = str(dialog.query_one("#compare-legend").render())
        assert "agent-001" in legend and "agent-002" in legend and "no smoothing" in legend
        best = best_of(dialog.curves, maximise=True)
        assert f"{best[0]} step {best[1]}" in legend
        await pilot.press("right_square_bracket")
        assert dialog.smoothing == 0.5 and "smoothing α=0.5" in str(dialog.query_one("#compare-legend").render())
        full = dialog.span
        await pilot.press("plus")
        assert dialog.span[1] - dialog.span[0] < full[1] - full[0]
        zoomed = dialog.span
        await pilot.press("left")
        assert dialog.span[0] < zoomed[0] and dialog.span[1] - dialog.span[0] == zoomed[1] - zoomed[0]
        await pilot.press("comma")
        readout = str(dialog.query_one("#compare-readout").render())
        assert readout.startswith(f"step {dialog.cursor}: agent-001 ")
        await pilot.press("escape")
        assert app.screen is main(app)


def test_values_under_the_cursor_are_the_last_logged():
    series = [(0, 0.1), (10, 0.5), (20, 0.4)]
    assert [s for s, _ in in_span([(s, 0.0) for s in range(100)], 10, 50, 10)] == [*range(10, 51, 5)]
    assert value_at(series, 15) == 0.5 and value_at(series, 20) == 0.4 and value_at([(5, 1.0)], 2) is None
    assert best_of([Curve("a", series), Curve("b", [(3, 0.45)])], maximise=False) == ("a", 0, 0.1)
