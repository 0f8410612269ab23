"""Offload the previewed run: the steps its rule does not keep go to another location, verified,
then leave this one (``core.offload``).

The dialog plans against the target in a worker (where each step is, what would
move), then copies in its own worker with a progress bar showing bytes and rate,
and dismisses itself with the :class:`OffloadResult`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, ProgressBar, Static
from textual.worker import Worker, WorkerState

from ...core.errors import CkptError
from ...core.models import Run
from ...core.offload import OffloadPlan, OffloadResult, execute_offload, offload_events, offload_target, plan_offload
from ...core.policy import Resolved
from ...formatting import size, step_ranges

if TYPE_CHECKING:
    from .main import MainScreen


class OffloadScreen(ModalScreen[OffloadResult | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="cancel_offload")]

    def __init__(self, run: Run, resolved: Resolved, cursor_blink: bool = True) -> None:
        super().__init__()
        self.source_run, self.resolved, self.cursor_blink = run, resolved, cursor_blink
        self.offload: OffloadPlan | None = None
        self.running = False
        self.started = 0.0

    def compose(self) -> ComposeResult:
        with Vertical(id="offload", classes="dialog") as dialog:
            dialog.border_title = "Offload steps to another location"
            # Static, not Label: the explanation wraps at 80 columns instead of being cut.
            yield Static(f"from [b]{self.source_run.project}/{self.source_run.name}[/b]: the steps the rule "
                         "does not keep are copied, verified, then deleted here")
            yield Static("to (a directory, s3://, gs:// or az://bucket/prefix)")
            yield Input(offload_target(self.resolved) or "", id="offload-to")
            yield Label("", id="offload-plan", classes="hint")
            yield ProgressBar(total=1, show_eta=False, id="offload-progress")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Offload", id="offload-go", variant="primary", disabled=True)

    def on_mount(self) -> None:
        self.query_one(ProgressBar).display = False
        field = self.query_one(Input)
        field.cursor_blink = self.cursor_blink
        field.focus()
        if field.value:
            self.look(field.value)

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        if self.offload is not None and self.offload.to == event.value.strip():
            self.go()
        elif event.value.strip():
            self.look(event.value)

    @on(Input.Changed)
    def changed(self) -> None:
        self.offload = None
        self.query_one("#offload-go", Button).disabled = True
        self.query_one("#offload-plan", Label).update("Enter: see what would move")

    def look(self, to: str) -> None:
        self.query_one("#offload-plan", Label).update(f"reading {to}…")
        self.plan(to.strip())

    @work(thread=True, exclusive=True, exit_on_error=False, group="plan")
    def plan(self, to: str) -> OffloadPlan:
        from ...stores import open_store

        target = open_store(to, **self.app.store_options)
        return plan_offload(self.app.open_store(), target, self.source_run, self.resolved, None, to)

    def planned(self, offload: OffloadPlan) -> None:
        plan = offload.plan
        counts = offload.counts()
        where = (f"{counts['disk']} step(s) here only, {counts['both']} in both, {counts['remote']} there only"
                 + (f"\n{offload.note}" if offload.note else ""))
        if plan.refused or not plan.delete:
            text = plan.refused or "nothing to offload under this rule"
        else:
            text = (f"moves {len(plan.delete)} step(s) ({step_ranges(plan.delete_steps)}), "
                    f"frees {size(offload.frees_bytes)} here")
        self.query_one("#offload-plan", Label).update(f"{where}\n{text}")
        self.offload = offload
        self.query_one("#offload-go", Button).disabled = bool(plan.refused or not plan.delete)

    @on(Button.Pressed, "#offload-go")
    def go(self) -> None:
        if self.running or self.offload is None or not self.offload.plan.delete:
            self.app.bell()
            return
        self.running = True
        self.query_one(Input).disabled = True
        self.query_one("#offload-go", Button).disabled = True
        self.query_one(ProgressBar).display = True
        self.started = time.monotonic()
        self.copy(self.offload)

    @work(thread=True, exclusive=True, exit_on_error=False, group="offload")
    def copy(self, offload: OffloadPlan) -> OffloadResult:
        from ...stores import open_store

        def progress(done: int, total: int) -> None:
            self.app.call_from_thread(self.advance, done, total)

        target = open_store(offload.to, **self.app.store_options)
        return execute_offload(self.app.open_store(), target, offload, progress)

    def advance(self, done: int, total: int) -> None:
        self.query_one(ProgressBar).update(total=max(total, 1), progress=done)
        rate = done / max(time.monotonic() - self.started, 1e-6)
        self.query_one("#offload-plan", Label).update(f"copied {size(done)} / {size(total)}, {size(rate)}/s")

    @on(Worker.StateChanged)
    def worker_done(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.SUCCESS:
            if event.worker.group == "plan":
                self.planned(event.worker.result)
            elif event.worker.group == "offload":
                self.dismiss(event.worker.result)
        elif event.state == WorkerState.ERROR:
            error = event.worker.error
            self.running = False
            self.query_one(Input).disabled = False
            label = self.query_one("#offload-plan", Label)
            label.update(str(error) if isinstance(error, (CkptError, OSError)) else f"{type(error).__name__}: {error}")
            label.set_class(True, "error")

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        if not self.running:  # a copy in flight finishes its batch: every step stays whole somewhere
            self.dismiss(None)


def offload_from(screen: MainScreen) -> None:
    """The main screen's offload key: the current run, under the rule in force (the key is
    disabled while the run loads or its saved policies cannot be used)."""
    run = screen.run
    resolved = screen.run_resolved(run)

    def done(result: OffloadResult | None) -> None:
        if result is None:
            return
        screen.record(offload_events(result))
        problems = [why for _, why in result.conflicts + result.failed]
        screen.notify("\n".join([f"offloaded {len(result.deleted)} step(s) to {result.offload.to}, freed "
                                 f"{size(result.freed_bytes)} here", *problems[:3]]),
                      title="Offload", severity="error" if problems else "information", timeout=12 if problems else 6)
        screen.action_refresh()

    screen.app.push_screen(OffloadScreen(run, resolved, screen.app.cursor_blink), done)
