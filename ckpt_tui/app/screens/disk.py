"""The highlighted step's files, as ncdu shows a folder: largest first, with what each is.

The files are listed in this dialog's own worker; free space is the filesystem's
where the step is on a disk (object stores report none).
"""

from __future__ import annotations

from typing import NamedTuple

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Label, Static

from ...core.errors import CkptError
from ...core.filekinds import TRAINING_STATE_KINDS, by_size
from ...core.models import Checkpoint, Run
from ...core.store import Space
from ...formatting import size
from .reuse import ReusableDialog

DISK_BINDINGS = [
    Binding("D", "show_disk", "Files", show=False,
            tooltip="The highlighted step's files, largest first: weights, optimizer, scheduler, RNG, config; "
                    "and the filesystem's free space"),
]
BAR = 12


def files_table(rows: list[tuple[str, int, str]]) -> Table:
    total = sum(b for _, b, _ in rows) or 1
    table = Table.grid(padding=(0, 1))
    for justify in ("right", "left", "left", "left"):
        table.add_column(justify=justify, no_wrap=justify == "right")
    for path, nbytes, kind in rows:
        filled = round(BAR * nbytes / total)
        style = "yellow" if kind in TRAINING_STATE_KINDS or kind == "training state" else ""
        table.add_row(size(nbytes), "█" * filled + "░" * (BAR - filled), Text(kind, style=style), path)
    return table


def free_text(space: Space, freed: int) -> str:
    free = space.free
    if free is None:
        return f"free space: {space.note or 'not reported by this store'}"
    after = f" -> {size(free + freed)} after the preview" if freed else ""
    return f"filesystem: free {size(free)}{after}"


def read_step_files(app, run: Run, checkpoint: Checkpoint) -> StepFilesRead:
    """The step's files, largest first, what went wrong listing them, and free space (in a worker)."""
    try:
        files, problem = app.open_store().checkpoint_files(run, checkpoint), None
    except (CkptError, OSError) as exc:
        files, problem = [], str(exc)
    return StepFilesRead(by_size(files, checkpoint.state), problem, app.free_space())


class StepFilesRead(NamedTuple):
    rows: list[tuple[str, int, str]]  # (path, bytes, kind)
    problem: str | None
    free: Space


class StepFiles(ReusableDialog):
    """Reads the step's files in its own worker, opened again for each step."""

    BINDINGS = [Binding("escape,D,q", "dismiss", "Close", id="close_disk")]

    def __init__(self, run: Run, checkpoint: Checkpoint, freed: int = 0) -> None:
        super().__init__()
        self.run, self.checkpoint, self.freed = run, checkpoint, freed
        self.found: StepFilesRead | None = None
        self._said: dict[str, object] = {}  # what each label shows

    @property
    def rows(self) -> list[tuple[str, int, str]]:
        return self.found.rows if self.found is not None else []

    def compose(self) -> ComposeResult:
        with Vertical(id="disk", classes="dialog"):
            yield Label("", id="disk-total")
            with VerticalScroll(id="disk-list"):
                yield Static("", id="disk-files")
            yield Label("", id="disk-free", classes="hint")

    def on_mount(self) -> None:
        self._show()
        if self.prepared:  # built ahead: the files are read when it is opened (``reuse``)
            self.call_after_refresh(self.lay_out_ahead)
        else:
            self.read_files()

    def reuse(self, run: Run, checkpoint: Checkpoint, freed: int = 0) -> None:
        """Another step: drawn once its files are read. The same step again: drawn at once as it was,
        and again only if its files or the free space changed meanwhile."""
        if not (run is self.run and checkpoint is self.checkpoint and freed == self.freed and self.found):
            self.run, self.checkpoint, self.freed, self.found = run, checkpoint, freed, None
            self._show()
        self.query_one("#disk-list").scroll_home(animate=False)
        self.read_files()

    @work(thread=True, exclusive=True, exit_on_error=False, group="disk")
    def read_files(self) -> None:
        checkpoint = self.checkpoint
        self.app.call_from_thread(self.show_files, checkpoint, read_step_files(self.app, self.run, checkpoint))

    def show_files(self, checkpoint: Checkpoint, found: StepFilesRead) -> None:
        if checkpoint is self.checkpoint:  # else read for a step shown before
            self.found = found
            self._show()
            self.content_arrived()

    def ready_to_draw(self) -> bool:
        return self.found is not None  # shown again, drawn with its files (or when the hold ends)

    def _show(self) -> None:
        title = f"{self.run.project}/{self.run.name} step {self.checkpoint.step}: files"
        dialog = self.query_one("#disk")
        if dialog.border_title != title:
            dialog.border_title = title
        found = self.found
        self.query_one("#disk-total", Label).set_class(bool(found and found.problem), "error")
        if found is None:
            total = f"{size(self.checkpoint.bytes)} in all; reading its files…"
        elif found.problem:
            total = found.problem
        else:
            rows = found.rows
            state = sum(b for _, b, kind in rows if kind in TRAINING_STATE_KINDS or kind == "training state")
            total = (f"{len(rows)} file(s), {size(sum(b for _, b, _ in rows))}; training state "
                     f"{size(state)} (what slimming frees)")
        self._say("#disk-total", total)
        self._say("#disk-files", found.rows if found else None, lambda rows: "" if rows is None else files_table(rows))
        self._say("#disk-free", free_text(found.free, self.freed) if found else "")

    def _say(self, label: str, content: object, render=lambda content: content) -> None:
        """Updates a label whose content changed: one updated with the same (the same step shown
        again, its free space as rounded) would be laid out and drawn again."""
        if self._said.get(label, self) != content:
            self._said[label] = content
            self.query_one(label, Static).update(render(content))
