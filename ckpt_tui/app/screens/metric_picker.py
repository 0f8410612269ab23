"""Choose the metric that defines the best step, and its direction (``d``)."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from ...core.retention import DEFAULT_METRIC, resolve_mode

MODES = ("auto", "max", "min")
AUTO = "\0auto"  # the option id of "a metric each run logs"
NONE = "none"  # the option id (and the setting) of "no metric: no best"


def next_mode(mode: str) -> str:
    return MODES[(MODES.index(mode) + 1) % len(MODES)]


@dataclass(frozen=True, slots=True)
class MetricChoice:
    """``metric`` None means: as the flags and policy files say, else per run DEFAULT_METRIC
    where logged, else one the run logs; ``"none"``: no metric, no best."""

    metric: str | None
    mode: str


class MetricPicker(ModalScreen[MetricChoice | None]):
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="cancel_metric"),
        Binding("d", "cycle_mode", "Direction", tooltip="Cycle the direction: auto, max, min",
                id="metric_direction"),
    ]

    def __init__(self, metrics: list[str], current: str | None, mode: str, auto: bool) -> None:
        super().__init__()
        self.metrics = metrics
        self.current = current
        self.mode = mode
        self.auto = auto

    def compose(self) -> ComposeResult:
        with Vertical(id="metric-picker", classes="dialog") as dialog:
            dialog.border_title = "Best metric"
            if not self.metrics:
                yield Label("This run logs no metrics.", classes="error")
            options = [Option(("● " if self.auto else "  ") + f"auto: {DEFAULT_METRIC} where logged, "
                              "else a metric each run logs", id=AUTO)]
            options += [Option(("● " if self.current is None and not self.auto else "  ")
                               + "none: no best (rules that need a metric are refused)", id=NONE)]
            options += [Option(("● " if m == self.current and not self.auto else "  ") + m, id=m)
                        for m in self.metrics if m != NONE]
            yield OptionList(*options, id="metrics")
            yield Label("", id="metric-hint", classes="hint")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
        if not self.auto and (self.current or NONE) in ids:
            options.highlighted = ids.index(self.current or NONE)
        else:
            options.highlighted = 0
        self._show_mode()

    def _show_mode(self) -> None:
        highlighted = self.query_one(OptionList).highlighted_option
        metric = self.current if highlighted is None or highlighted.id == AUTO else highlighted.id
        metric = None if metric == NONE else metric
        resolved = f"auto→{resolve_mode(metric, 'auto')}" if self.mode == "auto" and metric else self.mode
        self.query_one("#metric-hint", Label).update(
            f"direction: [b]{resolved}[/b] (d cycles auto, max, min; auto minimises *loss). "
            "Enter chooses, Esc keeps the current one.")

    @on(OptionList.OptionHighlighted)
    def highlighted(self) -> None:
        self._show_mode()

    def action_cycle_mode(self) -> None:
        self.mode = next_mode(self.mode)
        self._show_mode()

    @on(OptionList.OptionSelected)
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(MetricChoice(None if event.option.id == AUTO else event.option.id, self.mode))

    def action_cancel(self) -> None:
        self.dismiss(None)
