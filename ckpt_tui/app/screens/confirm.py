"""Confirm a deletion, then follow it: focus starts on Cancel, only Delete deletes."""

from __future__ import annotations

from collections.abc import Callable

from rich.table import Table
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, ProgressBar, Static

from ...core.retention import Plan
from ...formatting import size, step_ranges


def deletion_summary(plans: list[Plan]) -> Table:
    table = Table.grid(padding=(0, 1))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    table.add_column(justify="right", no_wrap=True)
    for plan in plans:
        table.add_row(f"{plan.project}/{plan.run}", f"steps {step_ranges(plan.delete_steps)}",
                      size(plan.freed_bytes))
    return table


class ConfirmDelete(ModalScreen[bool]):
    """Lists what goes; Delete hands over to ``start``, which reports progress back here."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    AUTO_FOCUS = "#cancel"

    def __init__(self, plans: list[Plan], start: Callable[[ConfirmDelete], None],
                 store_note: str | None = None) -> None:
        super().__init__()
        self.plans = plans
        self.store_note = store_note
        self.start = start
        self.running = False
        self.stop_requested = False

    @property
    def steps(self) -> int:
        return sum(len(p.delete) for p in self.plans)

    @property
    def total_bytes(self) -> int:
        return sum(p.freed_bytes for p in self.plans)

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm", classes="dialog") as dialog:
            dialog.border_title = "Delete checkpoints"
            yield Label(f"Delete [b]{self.steps}[/b] checkpoint(s) from {len(self.plans)} run(s), "
                        f"freeing [b]{size(self.total_bytes)}[/b]?", id="confirm-question")
            with VerticalScroll(id="confirm-list"):
                yield Static(deletion_summary(self.plans))
            yield Label("Best and latest steps are never deleted; the run is re-read first.",
                        classes="hint")
            if self.store_note:
                yield Label(self.store_note, classes="hint")
            yield ProgressBar(total=self.steps, show_eta=False, id="delete-progress")
            yield Label("", id="delete-status")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button(f"Delete {self.steps}", id="delete", variant="error")

    def on_mount(self) -> None:
        self.query_one(ProgressBar).display = False

    @on(Button.Pressed, "#delete")
    def confirmed(self) -> None:
        if self.running:
            return
        self.running = True
        self.query_one(ProgressBar).display = True
        self.query_one("#delete", Button).disabled = True
        self.query_one("#cancel", Button).label = "Stop"
        self.query_one("#delete-status", Label).update("deleting…")
        self.start(self)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        if not self.running:
            self.dismiss(False)
        elif not self.stop_requested:
            self.stop_requested = True
            self.query_one("#delete-status", Label).update("stopping after the current checkpoint…")

    def should_cancel(self) -> bool:
        """Read from the deleting thread, between checkpoints."""
        return self.stop_requested

    def advance(self, done: int, label: str) -> None:
        self.query_one(ProgressBar).update(progress=done)
        if not self.stop_requested:
            self.query_one("#delete-status", Label).update(label)
