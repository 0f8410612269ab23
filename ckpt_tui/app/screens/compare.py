"""Compare runs: one metric of the chosen runs (or of a whole project) in one chart.

The runs are read in this dialog's own worker (those the main screen holds are
reused). ``[`` / ``]`` change the smoothing (the raw curves stay faint behind),
``+`` / ``-`` zoom the step range, ``←`` / ``→`` pan it, ``,`` / ``.`` move a
cursor whose step and values per run are written under the chart. The best
checkpoint across the runs is the core's answer (``best_across``: among steps that
exist, by the policy in force); it is starred, and ``p`` pins it, ``f`` forks it,
through the main screen's own pin and fork.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from operator import itemgetter
from typing import TYPE_CHECKING, NamedTuple, Protocol

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Label

from ...core.errors import CkptError
from ...core.metrics import smooth
from ...core.retention import best_across
from ...formatting import number
from ..keymap import with_ids
from .reuse import ReusableDialog

if TYPE_CHECKING:
    from ...core.models import Checkpoint, Run
    from ...core.retention import Policy

RunKey = tuple[str, str]
COLUMNS = 106  # the chart's width in the dialog, until it is laid out
# Each run's colour as plotext draws it and as the legend writes it (plotext has no yellow, pink or
# violet: those are drawn by value). None is gray: the raw curves behind smoothed ones are.
COLOURS = (("cyan", "cyan"), ("magenta", "magenta"), ("green", "green"), ("orange", "orange"), ("blue", "blue"),
           ("red", "red"), ((255, 255, 0), "#ffff00"), ("white", "white"), ((255, 175, 215), "#ffafd7"),
           ((238, 130, 238), "#ee82ee"))
# [ and ] step through these: the moving average's weight of a new value (smaller: smoother).
SMOOTHING = (None, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01)

COMPARE_BINDINGS = [
    Binding("C", "compare_runs", "Compare", show=False,
            tooltip="Compare runs: the metric of the selected runs (Space in the run list), else of the project"),
]


@dataclass(frozen=True, slots=True)
class Curve:
    run: str  # as the legend names it
    series: list[tuple[int, float]]
    key: RunKey | None = None


@dataclass(frozen=True, slots=True)
class Best:
    """A run's best checkpoint, tied for the best across the compared runs."""
    key: RunKey
    label: str
    step: int
    value: float


class CompareHost(Protocol):
    """What the dialog asks of the screen that opened it: its pins and its fork."""

    def pins_of(self, key: RunKey | None) -> frozenset[int]: ...

    def set_pin(self, key: RunKey, step: int, pinned: bool) -> None: ...

    def open_fork(self, key: RunKey, ckpt: Checkpoint, run: Run | None) -> None: ...


def in_span(series: list[tuple[int, float]], low: int, high: int, buckets: int) -> list[tuple[int, float]]:
    """The points between steps ``low`` and ``high`` (series are sorted by step), in at most
    ``buckets`` runs of neighbours each reduced to its lowest and highest point (in step
    order), so that a peak or a dip narrower than a column of the chart still shows."""
    start = bisect.bisect_left(series, (low, float("-inf")))
    end = bisect.bisect_right(series, (high, float("inf")))
    if end - start <= 2 * buckets:
        return series[start:end]
    chunk = -(-(end - start) // buckets)
    value = itemgetter(1)
    shown: list[tuple[int, float]] = []
    for first in range(start, end, chunk):
        part = series[first:min(first + chunk, end)]
        lowest, highest = min(part, key=value), max(part, key=value)
        shown += sorted({lowest, highest})
    return shown


def value_at(series: list[tuple[int, float]], step: int) -> float | None:
    """The value logged at ``step``, or the last one before it; None outside the steps the run logged."""
    index = bisect.bisect_right(series, (step, float("inf"))) - 1
    return series[index][1] if index >= 0 and step <= series[-1][0] else None


def run_labels(keys: list[RunKey]) -> dict[RunKey, str]:
    """Runs named by their name alone when they share a project, else as project/run."""
    one_project = len({project for project, _ in keys}) <= 1
    return {key: key[1] if one_project else f"{key[0]}/{key[1]}" for key in keys}


class CompareRead(NamedTuple):
    curves: list[Curve]
    plot_class: type
    bests: list[Best]
    runs: dict[RunKey, Run]


def read_compare(store, keys: list[RunKey], known: dict[RunKey, Run], policy: Policy) -> CompareRead:
    """Each run's curve of the policy's metric (runs in ``known`` are not read again), and the best
    checkpoints across them; in a worker (plotext is imported there too)."""
    from ..widgets.plotext_chart import ChartPlot

    labels, metric = run_labels(keys), policy.metric or ""
    curves, runs = [], {}
    for key in keys:
        try:
            run = known.get(key) or store.load_run(*key, with_metrics=True)
        except CkptError:
            curves.append(Curve(labels[key], [], key))
            continue
        runs[key] = run
        curves.append(Curve(labels[key], run.metrics.series(metric), key))
    bests = [Best((run.project, run.name), labels[(run.project, run.name)], step, value)
             for run, step, value in best_across(list(runs.values()), metric, policy.mode, policy.smoothing)]
    return CompareRead(curves, ChartPlot, bests, runs)


class CompareRuns(ReusableDialog):
    BINDINGS = with_ids([
        Binding("escape,C,q", "dismiss", "Close", id="close_compare"),
        Binding("left_square_bracket", "smoothing(-1)", "Less smoothing", id="less_smoothing"),
        Binding("right_square_bracket", "smoothing(1)", "More smoothing", id="more_smoothing"),
        Binding("plus,equals_sign", "zoom(0.5)", "Zoom in", id="zoom_in"),
        Binding("minus", "zoom(2)", "Zoom out", id="zoom_out"),
        Binding("left", "pan(-1)", "Pan left", id="pan_left"),
        Binding("right", "pan(1)", "Pan right", id="pan_right"),
        Binding("comma", "cursor(-1)", "Cursor left", id="chart_cursor_left"),
        Binding("full_stop", "cursor(1)", "Cursor right", id="chart_cursor_right"),
        Binding("p", "pin_best", "Pin best", id="compare_pin_best"),
        Binding("f", "fork_best", "Fork best", id="compare_fork_best"),
    ])

    def __init__(self, keys: list[RunKey], policy: Policy, host: CompareHost | None = None,
                 known: dict[RunKey, Run] | None = None, title: str | None = None) -> None:
        super().__init__()
        self._start(keys, policy, host, known, title)
        self.plot = None
        self.given: CompareRead | None = None  # curves read before the dialog was first mounted
        self.reads_curves = True  # False: the screen that opens it reads them (given_curves)
        self._figure: tuple | None = None  # what the chart's figure shows
        self._legend: list[str] = []
        self._last_read: tuple | None = None  # (keys, policy, the runs held), what they read to

    def _start(self, keys: list[RunKey], policy: Policy, host: CompareHost | None,
               known: dict[RunKey, Run] | None, title: str | None) -> None:
        self.keys, self.policy, self.host = list(keys), policy, host
        self.metric = policy.metric or ""
        self.known = dict(known or {})  # runs already read by the main screen
        self.title_text = title or f"{self.metric} across {len(self.keys)} runs"
        self.curves: list[Curve] = []
        self.curves_given = False  # show_curves has given these runs' curves
        self.runs: dict[RunKey, Run] = {}
        self.bests: list[Best] = []
        self.smoothing_index = 0
        self.span: tuple[int, int] | None = None  # the step range shown
        self.full: tuple[int, int] = (0, 0)  # every logged step
        self.cursor: int | None = None
        self._smoothed: dict[tuple[str, float], list[tuple[int, float]]] = {}
        self._points: dict[tuple, tuple[list[int], list[float]]] = {}

    def compose(self) -> ComposeResult:
        with Vertical(id="compare", classes="dialog") as dialog:
            dialog.border_title = self.title_text
            yield Label(self.reading_text, id="compare-title")
            yield Label("", id="compare-legend")
            yield Label("", id="compare-best")
            yield Label("", id="compare-readout")
            yield Label("[ ] smoothing · + - zoom · ← → pan · , . cursor · p pins the best · f forks it · Esc closes",
                        classes="hint")

    @property
    def reading_text(self) -> str:
        return f"reading {len(self.keys)} run(s)…"

    async def on_mount(self) -> None:
        if self.given is not None:
            await self.show_curves(*self.given)
        elif self.reads_curves:
            self.read_curves()

    def reuse(self, keys: list[RunKey], policy: Policy, host: CompareHost | None = None,
              known: dict[RunKey, Run] | None = None, title: str | None = None) -> None:
        """Other runs, or the same afresh: what is shown waits for ``show_curves``. The chart and
        its lines stay as they were until then (the same runs opened again draw nothing anew);
        shown before that, the dialog says it reads them."""
        self._start(keys, policy, host, known, title)
        self.query_one("#compare").border_title = self.title_text
        self.refresh_bindings()

    def show(self, callback=None) -> None:
        if self.is_mounted and not self.curves_given:
            self.query_one("#compare-title", Label).update(self.reading_text)
            self._clear_chart()
        super().show(callback)

    def _clear_chart(self) -> None:
        for label in ("#compare-legend", "#compare-best", "#compare-readout"):
            self.query_one(label, Label).update("")
        if self.plot is not None:
            self.plot.display = False

    async def given_curves(self, found: CompareRead) -> None:
        """Curves read by the screen that opens this dialog, before or after it is shown."""
        if self.is_mounted:
            await self.show_curves(*found)
        else:
            self.given = found

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Greyed while there is nothing to act on: no chart yet, no best step to pin or fork."""
        if action in ("zoom", "pan", "cursor", "smoothing") and self.span is None:
            return None
        if action in ("pin_best", "fork_best") and (not self.bests or self.host is None):
            return None
        return True

    @work(thread=True, exclusive=True, exit_on_error=False, group="compare")
    def read_curves(self) -> None:
        self.app.call_from_thread(self.show_curves, *self.read(self.app.open_store()))

    def read(self, store) -> CompareRead:
        """``read_compare`` of the runs and policy in force (in a worker); what it read last time when
        those are the same and every run was held by the main screen, then as now (a run read again
        is a new object): the best across 20,000 steps is not looked for again."""
        held = [self.known.get(key) for key in self.keys]
        last = self._last_read
        if (last is not None and None not in held and last[:2] == (self.keys, self.policy)
                and all(now is then for now, then in zip(held, last[2]))):
            return last[3]
        found = read_compare(store, self.keys, self.known, self.policy)
        self._last_read = (self.keys, self.policy, held, found)
        return found

    async def show_curves(self, curves: list[Curve], plot_class: type, bests: list[Best] = (),
                          runs: dict[RunKey, Run] | None = None) -> None:
        self.curves_given = True
        self.curves = [c for c in curves if c.series]
        self.bests, self.runs = list(bests), dict(runs or {})
        steps = [c.series[0][0] for c in self.curves] + [c.series[-1][0] for c in self.curves]  # sorted by step
        missing = [c.run for c in curves if not c.series]
        title = f"{len(self.curves)} run(s) log {self.metric}" + (
            f"; not logged by {', '.join(missing)}" if missing else "")
        self.query_one("#compare-title", Label).update(title)
        if not steps:
            self._clear_chart()
            self.refresh_bindings()
            return
        self.full = self.span = (min(steps), max(steps))
        self.cursor = self.span[1]
        if self.plot is not None:  # shown before: drawn again in place
            if not self.plot.display:  # hidden while it said it reads (setting it anew repaints it)
                self.plot.display = True
            self.draw()
        else:
            self.plot = plot_class(id="compare-chart")
            self.draw()  # before mounting: the chart's first render is the finished figure
            await self.query_one("#compare").mount(self.plot, before=self.query_one("#compare-legend"))
        self.refresh_bindings()

    @property
    def smoothing(self) -> float | None:
        return SMOOTHING[self.smoothing_index]

    def draw(self) -> None:
        if self.plot is None or self.span is None:
            return
        low, high = self.span
        columns = self.plot.size.width or self.query_one("#compare").content_region.width or COLUMNS
        starred = [b for b in self.bests if low <= b.step <= high]
        figure = (tuple(self.curves), self.span, self.smoothing, tuple(starred), columns)
        if figure != self._figure:  # else the chart shows it already (the same runs opened again)
            self._legend = self._plot(starred, columns)
            self._figure = figure
        smoothing = f"smoothing α={self.smoothing}" if self.smoothing is not None else "no smoothing"
        self.query_one("#compare-legend", Label).update("  ".join(self._legend) + f"   {smoothing}")
        self.query_one("#compare-best", Label).update(f"[$success]{self.best_text()}[/]")
        self.show_cursor()

    def _plot(self, starred: list[Best], columns: int) -> list[str]:
        """Draw the figure anew; returns the legend's entries."""
        plt = self.plot.plt
        plt.clear_figure()
        low, high = self.span
        legend = []
        for index, curve in enumerate(self.curves):
            colour, legend_colour = COLOURS[index % len(COLOURS)]
            steps, values = self._shown(curve.series, curve.run, None, columns)
            if not steps:
                continue
            if self.smoothing is None:
                plt.plot(steps, values, marker="braille", color=colour)
            else:  # the raw curve faint behind the smoothed one
                plt.plot(steps, values, marker="dot", color="gray")
                plt.plot(*self._shown(self._smooth(curve), curve.run, self.smoothing, columns),
                         marker="braille", color=colour)
            legend.append(f"[{legend_colour}]━ {curve.run}[/]")
        if starred:
            plt.scatter([b.step for b in starred], [b.value for b in starred], marker="★", color="green")
        plt.xlim(low, high)
        plt.xticks(sorted({low, (low + high) // 2, high}), [str(t) for t in sorted({low, (low + high) // 2, high})])
        plt.yfrequency(3)
        self.plot.changed()
        return legend

    def show_cursor(self) -> None:
        """The cursor's line over the figure as drawn, and its readout: moving it draws no figure."""
        marker = (self.cursor, "orange") if self.cursor is not None else None
        if marker != self.plot.marker:
            self.plot.marker = marker
            self.plot.refresh()
        self.query_one("#compare-readout", Label).update(self.readout())

    def best_text(self) -> str:
        """``★ best 0.8907: agent-001 step 290 (pinned)``; tied runs follow."""
        if not self.bests:
            return ""
        pins = self.host.pins_of if self.host is not None else (lambda key: frozenset())
        steps = ", ".join(f"{b.label} step {b.step}" + (" (pinned)" if b.step in pins(b.key) else "")
                          for b in self.bests)
        return f"★ best {number(self.bests[0].value)}: {steps}"

    def action_pin_best(self) -> None:
        """Pin the best step (every tied one), or unpin it when all are pinned: the main screen's pins."""
        pinned = all(b.step in self.host.pins_of(b.key) for b in self.bests)
        for best in self.bests:
            self.host.set_pin(best.key, best.step, not pinned)
        self.draw()

    def action_fork_best(self) -> None:
        """The fork dialog for the best step (the first of ties), over this one."""
        best = self.bests[0]
        run = self.runs.get(best.key)
        ckpt = run.checkpoint(best.step) if run is not None else None
        if ckpt is not None:
            self.host.open_fork(best.key, ckpt, run)

    def _shown(self, series: list[tuple[int, float]], run: str, smoothing: float | None,
               columns: int) -> tuple[list[int], list[float]]:
        """The steps and values drawn of a curve: one bucket a column, kept while the span is
        the same (moving the cursor redraws the same points)."""
        key = (run, smoothing, self.span, columns)
        if key not in self._points:
            if len(self._points) > 64:  # zoomed and panned a while: the spans of before go
                self._points.clear()
            shown = in_span(series, *self.span, columns)
            self._points[key] = ([s for s, _ in shown], [v for _, v in shown])
        return self._points[key]

    def _smooth(self, curve: Curve) -> list[tuple[int, float]]:
        """The curve smoothed at the current level: once per run and level."""
        key = (curve.run, self.smoothing)
        if key not in self._smoothed:
            self._smoothed[key] = smooth(curve.series, self.smoothing)
        return self._smoothed[key]

    def readout(self) -> str:
        if self.cursor is None:
            return ""
        values = (value_at(c.series, self.cursor) for c in self.curves)
        return f"step {self.cursor}: " + " · ".join(f"{c.run} {'-' if v is None else number(v)}"
                                                    for c, v in zip(self.curves, values))

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
        self.show_cursor()
