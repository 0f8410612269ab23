"""The current metric over steps: a braille line chart with axes and tick labels,
the best step starred, the highlighted step as a vertical line, and the smoothed
curve when smoothing is on. Drawn by textual-plotext.

Plotext takes a tenth of a second to import, so the chart is imported in a
thread once there is something to draw (after the first frames: a thread
importing holds the interpreter's lock too) and mounted when it is ready.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from textual import work
from textual.app import ComposeResult
from rich.cells import cell_len
from textual.containers import Vertical
from textual.widgets import Label, Static

from ...core.metrics import smooth
from ...formatting import number
from .run_tree import DENIED

MAX_POINTS = 200  # braille shows two points a cell: more than the plot's width can show


def thin(series: list[tuple[int, float]], keep: set[int], limit: int = MAX_POINTS) -> list[tuple[int, float]]:
    """At most about ``limit`` points, evenly spread, always with the first and the last (the
    axis spans every logged step) and the steps in ``keep``."""
    if len(series) <= limit:
        return series
    stride, end = -(-len(series) // limit), len(series) - 1
    return [point for index, point in enumerate(series) if index % stride == 0 or index == end or point[0] in keep]


def fitting(options: list[tuple[str, str]], width: int) -> str:
    """The markup of the first of ``options`` (plain text, markup) whose text fits in
    ``width``, else of the last. (Parsing markup to measure it would cost a key press
    milliseconds.)"""
    for plain, markup in options:
        if cell_len(plain) <= width:
            return markup
    return options[-1][1]


@dataclass(frozen=True, slots=True)
class Chart:
    metric: str
    direction: str
    series: list[tuple[int, float]]
    best_step: int | None
    best_value: float | None
    highlighted: int | None
    smoothing: float | None


class MetricPlot(Vertical):

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.chart: Chart | None = None
        self._figure: Chart | None = None  # what the plot's figure shows (no highlighted step)
        self.plot = None  # the ChartPlot, once imported
        self._importing = False
        self._said: dict[str | None, str] = {}  # what each label says

    def compose(self) -> ComposeResult:
        yield Label("", classes="plot-title", id="plot-title")
        yield Static("", id="plot-placeholder")
        yield Label("", classes="plot-best", id="plot-best")

    @work(thread=True, group="plotext")
    def import_plotext(self) -> None:
        from .plotext_chart import ChartPlot

        self.app.call_from_thread(self._mount_plot, ChartPlot)

    async def _mount_plot(self, plot_class: type) -> None:
        self.plot = plot_class(id="chart")
        await self.query_one("#plot-placeholder").remove()
        await self.mount(self.plot, before=self.query_one("#plot-best"))
        self._draw()

    def show(self, metric: str | None, series: list[tuple[int, float]], direction: str | None,
             best_step: int | None, best_value: float | None, highlighted: int | None = None,
             smoothing: float | None = None, loading: bool = False, unreadable: bool = False) -> None:
        """``unreadable``: the run's folder may not be read, so no metric of it is known."""
        title = self.query_one("#plot-title", Label)
        best = self.query_one("#plot-best", Label)
        if metric is None or not series or unreadable:
            self._say(title, f"this run could not be read ({DENIED})" if unreadable else
                      "no metric chosen (m)" if metric is None else
                      f"[b]{metric}[/b]: {'loading…' if loading else 'not logged in this run (m picks another)'}")
            best.display = False
            self.chart = None
            self._draw()
            return
        width = self.size.width or 80
        span = f"{series[0][0]}–{series[-1][0]}"  # the range stays: the direction and words give way
        self._say(title, fitting([(f"{metric}{rest}", f"[b]{metric}[/b]{rest}") for rest in (
            f" ({direction}) over steps {span}", f" ({direction}) steps {span}", f" steps {span}", f" {span}")],
            width))
        best.display = best_step is not None
        if best_step is not None:
            value = number(best_value)
            here = [f"   │ step {highlighted}", f" │ step {highlighted}", f" │ {highlighted}"] \
                if highlighted is not None else [""]
            lines = [(f"★ best {value} at step {best_step}", h) for h in here] + [(f"★ {value} at {best_step}", here[-1])]
            self._say(best, fitting([(star + h, f"[$success]{star}[/]" + h[:len(h) - len(h.lstrip())]
                                      + (f"[$accent]{h.lstrip()}[/]" if h else "")) for star, h in lines], width))
        chart = Chart(metric, direction or "", series, best_step, best_value, highlighted, smoothing)
        if not self._importing:
            self._importing = True
            self.import_plotext()
        if chart != self.chart:
            self.chart = chart
            self._draw()

    def _say(self, label: Label, markup: str) -> None:
        """A label's new text; the same text is not drawn again (each label costs a key press
        half a millisecond). One line whatever it says: no layout pass."""
        if self._said.get(label.id) != markup:
            self._said[label.id] = markup
            label.update(markup, layout=False)

    def on_resize(self) -> None:
        """The title and the best step's line fit the new width."""
        chart = self.chart
        if chart is not None:
            self.show(chart.metric, chart.series, chart.direction, chart.best_step, chart.best_value,
                      chart.highlighted, chart.smoothing)

    def _draw(self) -> None:
        """The figure is drawn again only when more than the highlighted step changed: moving
        the cursor moves a line laid over it (a new figure costs a key press milliseconds)."""
        if self.plot is None:
            return
        chart = self.chart
        self.plot.display = chart is not None
        # The direction is the title's: the figure shows the best step, which it may leave as it was.
        figure = replace(chart, highlighted=None, direction="") if chart is not None else None
        if figure != self._figure:
            self._figure = figure
            self._draw_figure(figure)
        marker = None
        if chart is not None and chart.highlighted is not None:
            first, last = chart.series[0][0], chart.series[-1][0]
            if first <= chart.highlighted <= last:  # a step past the logged ones: the axis stays
                marker = (chart.highlighted, "orange")
        if marker != self.plot.marker:
            self.plot.marker = marker
            self.plot.refresh()

    def _draw_figure(self, chart: Chart | None) -> None:
        plt = self.plot.plt
        plt.clear_figure()
        self.plot.changed()
        if chart is None:
            return
        keep = {chart.best_step} if chart.best_step is not None else set()
        points = thin(chart.series, keep)
        steps, values = [s for s, _ in points], [v for _, v in points]
        plt.plot(steps, values, marker="braille", color="cyan")
        if chart.smoothing is not None and chart.smoothing < 1:
            smoothed = thin(smooth(chart.series, chart.smoothing), keep)
            plt.plot([s for s, _ in smoothed], [v for _, v in smoothed], marker="braille", color="magenta")
        first, last = chart.series[0][0], chart.series[-1][0]
        if chart.best_step is not None and chart.best_value is not None:
            plt.scatter([chart.best_step], [chart.best_value], marker="★", color="green")
        ticks = sorted({first, (first + last) // 2, last})
        plt.xticks(ticks, [str(t) for t in ticks])  # steps are whole numbers
        plt.yfrequency(3)
