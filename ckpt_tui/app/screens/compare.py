"""Compare runs: one metric of every run of a project in one chart, one colour each.

The runs' metrics are read in this dialog's own worker. ``[`` / ``]`` change the
smoothing (the raw curves stay faint behind), ``+`` / ``-`` zoom the step range,
``←`` / ``→`` pan it, ``,`` / ``.`` move a cursor whose step and values per run are
written under the chart; the best value across the runs is starred.
"""

from __future__ import annotations

import bisect
from operator import itemgetter
from dataclasses import dataclass

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label

from ...core.errors import CkptError
from ...core.metrics import smooth
from ...formatting import number

POINTS = 120  # per curve: ten runs of them fill a chart's braille dots
COLOURS = ("cyan", "magenta", "green", "orange", "blue", "red", "yellow", "white", "gray", "violet")
# [ and ] step through these: the moving average's weight of a new value (smaller: smoother).
SMOOTHING = (None, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01)

COMPARE_BINDINGS = [
    Binding("C", "compare_runs", "Compare", show=False,
            tooltip="Compare runs: the metric of every run of this project in one chart"),
]


@dataclass(frozen=True, slots=True)
class Curve:
    run: str
    series: list[tuple[int, float]]


def best_of(curves: list[Curve], maximise: bool) -> tuple[str, int, float] | None:
    """The best value across every run: (run, step, value); the first run's on a tie."""
    pick = max if maximise else min
    bests = [(curve.run, *pick(curve.series, key=itemgetter(1))) for curve in curves if curve.series]
    return pick(bests, key=itemgetter(2)) if bests else None


def in_span(series: list[tuple[int, float]], low: int, high: int, limit: int) -> list[tuple[int, float]]:
    """The points between steps ``low`` and ``high`` (series are sorted by step), at most about ``limit``."""
    start = bisect.bisect_left(series, (low, float("-inf")))
    end = bisect.bisect_right(series, (high, float("inf")))
    part = series[start:end]
    stride = -(-len(part) // limit) if part else 1
    return part[::stride] + ([part[-1]] if part and (len(part) - 1) % stride else [])


def value_at(series: list[tuple[int, float]], step: int) -> float | None:
    """The value logged at ``step``, or the last one before it."""
    index = bisect.bisect_right(series, (step, float("inf"))) - 1
    return series[index][1] if index >= 0 else None


class CompareRuns(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,C,q", "dismiss", "Close"),
        Binding("left_square_bracket", "smoothing(-1)", "Less smoothing"),
        Binding("right_square_bracket", "smoothing(1)", "More smoothing"),
        Binding("plus,equals_sign", "zoom(0.5)", "Zoom in"),
        Binding("minus", "zoom(2)", "Zoom out"),
        Binding("left", "pan(-1)", "Pan left"),
        Binding("right", "pan(1)", "Pan right"),
        Binding("comma", "cursor(-1)", "Cursor left"),
        Binding("full_stop", "cursor(1)", "Cursor right"),
    ]

    def __init__(self, project: str, runs: list[str], metric: str, maximise: bool) -> None:
        super().__init__()
        self.project, self.runs, self.metric, self.maximise = project, runs, metric, maximise
        self.curves: list[Curve] = []
        self.smoothing_index = 0
        self.span: tuple[int, int] | None = None  # the step range shown
        self.full: tuple[int, int] = (0, 0)  # every logged step
        self.cursor: int | None = None
        self.plot = None
        self.best: tuple[str, int, float] | None = None
        self._smoothed: dict[tuple[str, float], list[tuple[int, float]]] = {}

    def compose(self) -> ComposeResult:
        with Vertical(id="compare", classes="dialog") as dialog:
            dialog.border_title = f"{self.metric} across {self.project}"
            yield Label(f"reading {len(self.runs)} run(s)…", id="compare-title")
            yield Label("", id="compare-legend")
            yield Label("", id="compare-readout")
            yield Label("[ ] smoothing · + - zoom · ← → pan · , . cursor · Esc closes", classes="hint")

    def on_mount(self) -> None:
        self.read_curves()

    @work(thread=True, exclusive=True, exit_on_error=False, group="compare")
    def read_curves(self) -> None:
        from textual_plotext import PlotextPlot

        store = self.app.open_store()
        curves = []
        for run in self.runs:
            try:
                curves.append(Curve(run, store.read_metrics(self.project, run).series(self.metric)))
            except CkptError:
                curves.append(Curve(run, []))
        self.app.call_from_thread(self.show_curves, curves, PlotextPlot)

    async def show_curves(self, curves: list[Curve], plot_class: type) -> None:
        self.curves = [c for c in curves if c.series]
        steps = [s for c in self.curves for s, _ in c.series]
        missing = [c.run for c in curves if not c.series]
        title = f"{len(self.curves)} run(s) log {self.metric}" + (
            f"; not logged by {', '.join(missing)}" if missing else "")
        self.query_one("#compare-title", Label).update(title)
        if not steps:
            return
        self.best = best_of(self.curves, self.maximise)
        self.full = self.span = (min(steps), max(steps))
        self.cursor = self.span[1]
        self.plot = plot_class(id="compare-chart")
        await self.query_one("#compare").mount(self.plot, before=self.query_one("#compare-legend"))
        self.draw()

    @property
    def smoothing(self) -> float | None:
        return SMOOTHING[self.smoothing_index]

    def draw(self) -> None:
        if self.plot is None or self.span is None:
            return
        plt = self.plot.plt
        plt.clear_figure()
        low, high = self.span
        legend = []
        for index, curve in enumerate(self.curves):
            colour = COLOURS[index % len(COLOURS)]
            shown = in_span(curve.series, low, high, POINTS)
            if not shown:
                continue
            steps, values = [s for s, _ in shown], [v for _, v in shown]
            if self.smoothing is None:
                plt.plot(steps, values, marker="braille", color=colour)
            else:  # the raw curve faint behind the smoothed one
                plt.plot(steps, values, marker="dot", color="gray")
                smoothed = in_span(self._smooth(curve), low, high, POINTS)
                plt.plot([s for s, _ in smoothed], [v for _, v in smoothed], marker="braille", color=colour)
            legend.append(f"[{colour}]━ {curve.run}[/]")
        best = self.best
        if best is not None and low <= best[1] <= high:
            plt.scatter([best[1]], [best[2]], marker="★", color="green")
        if self.cursor is not None:
            plt.vline(self.cursor, color="orange")
        plt.xlim(low, high)
        plt.xticks(sorted({low, (low + high) // 2, high}), [str(t) for t in sorted({low, (low + high) // 2, high})])
        plt.yfrequency(3)
        self.plot.refresh()
        smoothing = f"smoothing α={self.smoothing}" if self.smoothing is not None else "no smoothing"
        star = f"★ best {number(best[2])}: {best[0]} step {best[1]}" if best else ""
        self.query_one("#compare-legend", Label).update("  ".join(legend) + f"   {smoothing}   [$success]{star}[/]")
        self.query_one("#compare-readout", Label).update(self.readout())

    def _smooth(self, curve: Curve) -> list[tuple[int, float]]:
        """The curve smoothed at the current level: once per run and level."""
        key = (curve.run, self.smoothing)
        if key not in self._smoothed:
            self._smoothed[key] = smooth(curve.series, self.smoothing)
        return self._smoothed[key]

    def readout(self) -> str:
        if self.cursor is None:
            return ""
        values = [f"{c.run} {number(v)}" for c in self.curves if (v := value_at(c.series, self.cursor)) is not None]
        return f"step {self.cursor}: " + " · ".join(values)

    def action_smoothing(self, delta: int) -> None:
        self.smoothing_index = max(0, min(self.smoothing_index + delta, len(SMOOTHING) - 1))
        self.draw()

    def action_zoom(self, factor: float) -> None:
        if self.span is None:
            return
        first, last = self.full
        centre = self.cursor if self.cursor is not None else (self.span[0] + self.span[1]) // 2
        half = max(int((self.span[1] - self.span[0]) * factor / 2), 1)
        self.span = (max(first, centre - half), min(last, centre + half))
        self.draw()

    def action_pan(self, direction: int) -> None:
        if self.span is None:
            return
        first, last = self.full
        width = self.span[1] - self.span[0]
        shift = max(width // 4, 1) * direction
        low = max(first, min(self.span[0] + shift, last - width))
        self.span = (low, low + width)
        self.cursor = max(low, min(self.cursor or low, low + width))
        self.draw()

    def action_cursor(self, direction: int) -> None:
        if self.span is None or self.cursor is None:
            return
        self.cursor = max(self.span[0], min(self.cursor + direction * max((self.span[1] - self.span[0]) // 50, 1),
                                            self.span[1]))
        self.draw()
