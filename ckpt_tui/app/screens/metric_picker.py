"""Choose the metric that defines the best step, among those the run logs."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option


class MetricPicker(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, metrics: list[str], current: str | None, direction: str | None) -> None:
        super().__init__()
        self.metrics = metrics
        self.current = current
        self.direction = direction

    def compose(self) -> ComposeResult:
        with Vertical(id="metric-picker", classes="dialog") as dialog:
            dialog.border_title = "Best metric"
            if not self.metrics:
                yield Label("This run logs no metrics.", classes="error")
            options = [Option(("● " if m == self.current else "  ") + m, id=m) for m in self.metrics]
            yield OptionList(*options, id="metrics")
            yield Label(f"now: {self.current or 'none'} ({self.direction or '-'}). Enter chooses; "
                        "d cycles auto/max/min.", classes="hint")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        if self.current in self.metrics:
            options.highlighted = self.metrics.index(self.current)

    @on(OptionList.OptionSelected)
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
