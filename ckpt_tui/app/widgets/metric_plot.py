"""The current metric over steps, with the best step written beside it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, Sparkline

from ...formatting import number


class MetricPlot(Vertical):

    def compose(self) -> ComposeResult:
        yield Label("", classes="plot-title", id="plot-title")
        yield Sparkline([], id="sparkline")
        yield Label("", classes="plot-best", id="plot-best")

    def show(self, metric: str | None, series: list[tuple[int, float]], direction: str | None,
             best_step: int | None, best_value: float | None) -> None:
        title = self.query_one("#plot-title", Label)
        best = self.query_one("#plot-best", Label)
        sparkline = self.query_one(Sparkline)
        if metric is None:
            title.update("no metric chosen (m)")
            sparkline.data, best.display = [], False
            return
        first, last = (series[0][0], series[-1][0]) if series else (0, 0)
        title.update(f"[b]{metric}[/b] ({direction}) over steps {first}–{last}"
                     if series else f"[b]{metric}[/b]: not logged in this run")
        sparkline.data = [value for _, value in series]
        best.display = best_step is not None
        if best_step is not None:
            best.update(f"[$success]★ best {number(best_value)} at step {best_step}[/]")
