"""The highlighted step's files, as ncdu shows a folder: largest first, with what each is.

The files are listed in this dialog's own worker; free space is the filesystem's
where the step is on a disk (object stores report none).
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from ...core.errors import CkptError
from ...core.filekinds import TRAINING_STATE_KINDS, by_size
from ...core.models import Checkpoint, Run
from ...core.store import Space
from ...formatting import size

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


class StepFiles(ModalScreen[None]):
    BINDINGS = [Binding("escape,D,q", "dismiss", "Close")]

    def __init__(self, run: Run, checkpoint: Checkpoint, freed: int = 0) -> None:
        super().__init__()
        self.run, self.checkpoint, self.freed = run, checkpoint, freed
        self.rows: list[tuple[str, int, str]] = []  # (path, bytes, kind) once read

    def compose(self) -> ComposeResult:
        with Vertical(id="disk", classes="dialog") as dialog:
            dialog.border_title = f"{self.run.project}/{self.run.name} step {self.checkpoint.step}: files"
            yield Label(f"{size(self.checkpoint.bytes)} in all; reading its files…", id="disk-total")
            with VerticalScroll(id="disk-list"):
                yield Static("", id="disk-files")
            yield Label("", id="disk-free", classes="hint")

    def on_mount(self) -> None:
        self.read_files()

    @work(thread=True, exclusive=True, exit_on_error=False, group="disk")
    def read_files(self) -> None:
        try:
            files, problem = self.app.open_store().checkpoint_files(self.run, self.checkpoint), None
        except (CkptError, OSError) as exc:
            files, problem = [], str(exc)
        free = self.app.free_space()
        self.app.call_from_thread(self.show_files, by_size(files, self.checkpoint.state), problem, free)

    def show_files(self, rows: list[tuple[str, int, str]], problem: str | None, free: Space) -> None:
        self.rows = rows
        state = sum(b for _, b, kind in rows if kind in TRAINING_STATE_KINDS or kind == "training state")
        total = self.query_one("#disk-total", Label)
        if problem:
            total.update(problem)
            total.add_class("error")
        else:
            total.update(f"{len(rows)} file(s), {size(sum(b for _, b, _ in rows))}; training state "
                         f"{size(state)} (what slimming frees)")
        self.query_one("#disk-files", Static).update(files_table(rows))
        self.query_one("#disk-free", Label).update(free_text(free, self.freed))
