"""Everything about the highlighted step: where it is, its files, its metrics."""

from __future__ import annotations

from collections.abc import Callable

from rich.table import Table
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from ...core.models import Checkpoint, Run
from ...formatting import number, size


def describe_checkpoint(run: Run, ckpt: Checkpoint, reasons: tuple[str, ...] | None,
                        deleted: bool, location: str) -> Table:
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    verdict = "delete" if deleted else ", ".join(reasons) if reasons else "-"
    grid.add_row("step", f"{ckpt.step} ({ckpt.name})" if ckpt.step is not None else ckpt.name)
    if not ckpt.complete:
        grid.add_row("state", Text(f"{ckpt.note or 'incomplete'}: never deleted or forked", style="yellow"))
    elif ckpt.detail:
        grid.add_row("complete", Text(ckpt.detail, style="dim"))
    grid.add_row("path", Text(location or "-"))
    grid.add_row("size", size(ckpt.bytes))
    if reasons is not None or deleted:
        grid.add_row("plan", Text(verdict, style="red" if deleted else "green"))
    values = run.metrics.at(ckpt.step)
    for name in sorted(values):
        grid.add_row(Text(name, style="cyan"), number(values[name]))
    if not values:
        grid.add_row(Text("metrics", style="dim"), "none logged at this step")
    return grid


class DetailsPanel(VerticalScroll, can_focus=False):

    def compose(self):
        yield Static("", id="details-body")

    def show(self, run: Run | None, ckpt: Checkpoint | None, reasons: tuple[str, ...] | None = None,
             deleted: bool = False, shorten: Callable[[str], str] = str) -> None:
        body = self.query_one("#details-body", Static)
        if run is None or ckpt is None:
            body.update("no step selected")
        else:
            body.update(describe_checkpoint(run, ckpt, reasons, deleted, shorten(ckpt.location)))
