"""Everything about the highlighted step: where it is, its files, its metrics.

Focusable (Tab), so that metrics below the fold can be scrolled to.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.table import Table
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from ...core.models import Checkpoint, Run
from ...formatting import number, size
from .one_layout import LaidOutOnce

LABEL_WIDTH = 14  # a long metric name is cut, never the value beside it


def history_problems(run: Run) -> list[str]:
    """What was skipped reading the run's metrics, as ``ls`` reports it."""
    problems = [f"{run.metrics.malformed} malformed record(s) skipped"] if run.metrics.malformed else []
    if run.metrics.ignored:
        problems.append(f"{run.metrics.ignored} value(s) ignored (NaN, infinite or not numbers)")
    return problems


def describe_checkpoint(run: Run, ckpt: Checkpoint, reasons: tuple[str, ...] | None,
                        deleted: bool, location: str, tags: tuple[str, ...] = (),
                        names: list[str] | None = None, slim: str | None = None) -> Table:
    """``tags``: what the marker column says (``best``, ``latest``, ``pinned``,
    ``marked for deletion``). ``slim``: what slimming does to this step (or why it cannot). ``names``: every metric of the run, each on its line
    ("-" where this step has none). The rows are the same for every step of a run,
    so that moving between steps keeps the lines where they are."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold", no_wrap=True, max_width=LABEL_WIDTH, overflow="ellipsis")
    grid.add_column(overflow="fold")
    marked = "marked for deletion" in tags
    verdict = ("delete (marked)" if marked else "delete") if deleted else ", ".join(reasons) if reasons else "-"
    grid.add_row("step", f"{ckpt.step} ({ckpt.name})" if ckpt.step is not None else ckpt.name)
    if not ckpt.complete:
        grid.add_row("state", Text(f"{ckpt.note or 'incomplete'}: never deleted or forked", style="yellow"))
    else:
        grid.add_row("state", Text(", ".join(tags) or "-", style="yellow" if marked else ""))
    # Why it counts as complete (or what is missing): the evidence its layout found.
    grid.add_row("complete", Text(ckpt.detail or "-", style="dim"))
    grid.add_row("path", Text(location or "-"))
    grid.add_row("size", size(ckpt.bytes))
    if reasons is not None or deleted:
        grid.add_row("plan", Text(verdict, style="red" if deleted else "green"))
    if slim:
        grid.add_row("slim", Text(slim, style="yellow"))
    for problem in history_problems(run):  # on every step of the run: it stays in view
        grid.add_row(Text("history", style="yellow"), Text(problem, style="yellow"))
    values = run.metrics.at(ckpt.step)
    for name in names if names is not None else sorted(values):
        grid.add_row(Text(name, style="cyan", overflow="ellipsis", no_wrap=True), number(values.get(name)))
    if not values and not names:
        grid.add_row(Text("metrics", style="dim"), "none logged at this step")
    return grid


class DetailsBody(LaidOutOnce, Static):
    """The details' text: its height is worked out by the layout that places it."""


class DetailsPanel(LaidOutOnce, VerticalScroll):

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shape: tuple | None = None
        self._shown: tuple | None = None  # the run and step it shows, and what it was told of them

    def compose(self):
        yield DetailsBody("", id="details-body")

    def _shape_of(self, grid: Table, location: str, tags: tuple[str, ...], ckpt: Checkpoint,
                  names: list[str], slim: str | None) -> tuple:
        """How many lines each row that may wrap takes, estimated without rendering."""
        label = min(max([5, *(len(n) for n in names)]), LABEL_WIDTH)
        room = max(self.query_one("#details-body").content_size.width - label - 1, 1)
        texts = [location or "-", ", ".join(tags) or "-", ckpt.detail or "-", slim or ""]
        return (len(grid.rows), room, *(-(-len(text) // room) for text in texts))

    def show(self, run: Run | None, ckpt: Checkpoint | None, reasons: tuple[str, ...] | None = None,
             deleted: bool = False, shorten: Callable[[str], str] = str, tags: tuple[str, ...] = (),
             names: list[str] | None = None, slim: str | None = None) -> None:
        # The same step said the same way (s sorting the rows, i leaving the step's marks as they
        # were): the text stands. Rendering the grid again costs a key press milliseconds.
        location = shorten(ckpt.location) if ckpt is not None else ""
        said = (reasons, deleted, location, tags, names, slim)
        shown = self._shown
        if shown is not None and shown[0] is run and shown[1] is ckpt and shown[2] == said:
            return
        self._shown = (run, ckpt, said)
        body = self.query_one("#details-body", Static)
        if run is None or ckpt is None:
            content, shape = "no step selected", None
        else:
            content = describe_checkpoint(run, ckpt, reasons, deleted, location, tags, names, slim)
            # What decides how many lines the text takes: the rows, and the lengths that may wrap.
            shape = self._shape_of(content, location, tags, ckpt, names or [], slim)
        # A layout pass redraws the whole screen: only when the text may take more or fewer lines.
        body.update(content, layout=shape is None or shape != self._shape)
        self._shape = shape
