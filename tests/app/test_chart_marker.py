"""The highlighted step's line laid over a chart built once is the line plotext draws itself."""

from __future__ import annotations

import math

import pytest
from plotext._figure import _figure_class

from ckpt_tui.app.widgets.metric_plot import thin
from ckpt_tui.app.widgets.plotext_chart import matrix_text, overlay_vline


def figure(series, best, width, height, smoothed=None, theme="textual-dark"):
    plot = _figure_class()
    plot.plotsize(width, height)
    plot._set_size(width, height)
    plot.theme("pro" if theme == "textual-dark" else theme)
    points = thin(series, {best[0]})
    plot.plot([s for s, _ in points], [v for _, v in points], marker="braille", color="cyan")
    if smoothed:
        plot.plot([s for s, _ in smoothed], [v for _, v in smoothed], marker="braille", color="magenta")
    plot.scatter([best[0]], [best[1]], marker="★", color="green")
    first, last = series[0][0], series[-1][0]
    ticks = sorted({first, (first + last) // 2, last})
    plot.xticks(ticks, [str(t) for t in ticks])
    plot.yfrequency(3)
    return plot


def built(plot):
    plot._set_sizes()
    plot._build_matrix()
    return plot.monitor


@pytest.mark.parametrize("size", [(60, 9), (97, 9), (40, 5)])
@pytest.mark.parametrize("smoothing", [False, True])
def test_the_line_laid_over_is_plotexts_own_at_every_step(size, smoothing):
    series = [(s * 10, math.sin(s / 40) + s / 900) for s in range(2000)]
    smoothed = thin([(s, v * 0.9) for s, v in series], set()) if smoothing else None
    best = max(series, key=lambda p: p[1])
    plain = figure(series, best, *size, smoothed)
    monitor = built(plain)
    steps = [series[0][0], series[-1][0], best[0], 5, 9990, 10000, 12345] + [s for s, _ in series[::37]]
    for step in steps:
        with_line = figure(series, best, *size, smoothed)
        with_line.vline(step, color="orange")
        expected = matrix_text(built(with_line).matrix)
        changed = overlay_vline(monitor, step, "orange")
        assert changed is not None
        assert matrix_text(monitor.matrix) == expected, step
        for row, column, marker, fore in changed:  # put back as it was: the next step's line alone
            monitor.matrix.marker[row][column], monitor.matrix.fullground[row][column] = marker, fore


def test_thin_keeps_the_ends_and_the_steps_asked_for():
    series = [(s, float(s)) for s in range(1001)]
    points = thin(series, {333})
    assert points[0] == (0, 0.0) and points[-1] == (1000, 1000.0) and (333, 333.0) in points
    assert len(points) <= 203
