"""Confirm a deletion, then carry it out: focus starts on Cancel, only Delete deletes.

The dialog runs the deletion in its own worker and dismisses itself with what
happened (a :class:`DeletionReport`), or with None when nothing was started.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.table import Table
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, ProgressBar, Static
from textual.worker import Worker, WorkerState, get_current_worker

from ...core.errors import CkptError
from ...core.execute import PlansResult, execute_plans
from ...core.retention import DeletedStep, Plan, SlimStep
from ...formatting import size, step_ranges


@dataclass(frozen=True, slots=True)
class DeletionReport:
    """The outcome of a deletion; ``error`` when it ended on an unexpected failure."""

    outcome: PlansResult
    stop_requested: bool = False
    error: str | None = None
    expected: bool = True  # the error is one a user can act on (permissions, network)


def deletion_summary(plans: list[Plan]) -> Table:
    table = Table.grid(padding=(0, 1))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    table.add_column(justify="right", no_wrap=True)
    for plan in plans:
        marked = plan.policy.marked & plan.delete_steps
        work = []
        if plan.delete:
            work.append(f"delete {step_ranges(plan.delete_steps)}" + (f" ({len(marked)} marked)" if marked else ""))
        if plan.slim:
            work.append(f"slim {step_ranges(s.step for s in plan.slim)}")
        table.add_row(f"{plan.project}/{plan.run}", "; ".join(work), size(plan.freed_bytes))
    return table


class ConfirmDelete(ModalScreen[DeletionReport | None]):
    """Lists what goes and, once confirmed, deletes it with progress; Stop works between checkpoints."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="cancel_delete")]
    AUTO_FOCUS = "#cancel"

    def __init__(self, plans: list[Plan], store_note: Callable[[], str | None] | None = None) -> None:
        """``store_note`` asks the store what a deletion leaves behind (a bucket's soft delete);
        it may send a request, so it runs in this dialog's worker."""
        super().__init__()
        self.plans = plans
        self.store_note = store_note
        self.running = False
        self.stop_requested = False

    @property
    def deletions(self) -> int:
        return sum(len(p.delete) for p in self.plans)

    @property
    def slims(self) -> int:
        return sum(len(p.slim) for p in self.plans)

    @property
    def steps(self) -> int:
        return self.deletions + self.slims

    @property
    def total_bytes(self) -> int:
        return sum(p.freed_bytes for p in self.plans)

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm", classes="dialog") as dialog:
            dialog.border_title = "Delete checkpoints" + (" and slim" if self.slims else "")
            deleted = f"[b]{self.deletions}[/b] checkpoint(s)"
            slimmed = f" and slim [b]{self.slims}[/b] (weights kept, training state removed)" if self.slims else ""
            yield Label(f"Delete {deleted}{slimmed} from {len(self.plans)} run(s), "
                        f"freeing [b]{size(self.total_bytes)}[/b]?", id="confirm-question")
            with VerticalScroll(id="confirm-list"):
                yield Static(deletion_summary(self.plans))
            yield Label("Best and latest steps are never deleted; the run is re-read first.",
                        classes="hint")
            yield Label("", id="store-note", classes="hint")
            yield ProgressBar(total=self.steps, show_eta=False, id="delete-progress")
            yield Label("", id="delete-status")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                label = f"Delete {self.deletions}" + (f", slim {self.slims}" if self.slims else "")
                yield Button(label, id="delete", variant="error")

    def on_mount(self) -> None:
        self.query_one(ProgressBar).display = False
        self.query_one("#store-note").display = False
        if self.store_note is not None:
            self.read_store_note()

    @work(thread=True, exclusive=True, exit_on_error=False, group="note")
    def read_store_note(self) -> None:
        try:
            note = self.store_note()
        except CkptError:
            return  # no note is no reason to refuse the deletion
        if note:
            self.app.call_from_thread(self._show_store_note, note)

    def _show_store_note(self, note: str) -> None:
        label = self.query_one("#store-note", Label)
        label.update(note)
        label.display = True

    @on(Button.Pressed, "#delete")
    def confirmed(self) -> None:
        if self.running:
            return
        self.running = True
        self.query_one(ProgressBar).display = True
        self.query_one("#delete", Button).disabled = True
        stop = self.query_one("#cancel", Button)
        stop.label = "Stop"
        # Tab and Enter must still reach Stop: nothing else takes the focus while deleting.
        self.query_one("#confirm-list").can_focus = False
        stop.focus()
        work = f"{self.deletions} checkpoint(s)" + (f", slimming {self.slims}" if self.slims else "")
        self.query_one("#confirm-question", Label).update(f"Deleting {work}: Stop (Enter) ends it "
                                                          "after the checkpoint in progress")
        self.query_one("#delete-status", Label).update("deleting…")
        self.delete_plans()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Esc (cancel, then stop) is greyed once a stop is asked for: the deletion ends after its checkpoint."""
        return None if action == "cancel" and self.stop_requested else True

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        if not self.running:
            self.dismiss(None)
        elif not self.stop_requested:
            self.stop_requested = True
            self.refresh_bindings()
            self.query_one("#delete-status", Label).update("stopping after the current checkpoint…")

    @work(thread=True, exclusive=True, exit_on_error=False, group="delete")
    def delete_plans(self) -> PlansResult:
        worker = get_current_worker()

        def progress(plan: Plan, done: int, total: int, item: DeletedStep | SlimStep) -> None:
            verb = "slimmed" if isinstance(item, SlimStep) else "deleted"
            self.app.call_from_thread(self.advance, done, f"{plan.project}/{plan.run}: step {item.step} {verb}")

        return execute_plans(self.app.open_store(), self.plans, progress,
                             lambda: worker.is_cancelled or self.stop_requested)

    @on(Worker.StateChanged)
    def worker_done(self, event: Worker.StateChanged) -> None:
        """The deletion ended: close with what it did (the worker is over, nothing to cancel)."""
        if event.worker.group != "delete":
            return
        if event.state == WorkerState.SUCCESS:
            self.dismiss(DeletionReport(event.worker.result, self.stop_requested))
        elif event.state == WorkerState.ERROR:
            error = event.worker.error
            expected = isinstance(error, (CkptError, OSError))
            message = str(error) if expected else f"{type(error).__name__}: {error}"
            self.dismiss(DeletionReport(PlansResult(), self.stop_requested, message, expected))

    def advance(self, done: int, label: str) -> None:
        self.query_one(ProgressBar).update(progress=done)
        if not self.stop_requested:
            self.query_one("#delete-status", Label).update(label)
