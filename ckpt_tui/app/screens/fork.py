"""Fork the highlighted step into a new run: names checked as you type, copy with progress.

The dialog copies in its own worker and dismisses itself with the
:class:`ForkResult`; a refused or failed copy is shown here, to try another name.
"""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, ProgressBar
from textual.worker import Worker, WorkerState

from ...core.errors import CkptError, InvalidName
from ...core.fork import ForkResult, fork_checkpoint
from ...core.models import Checkpoint, Run
from ...core.names import validate_name
from ...core.store import ForkTarget
from ...formatting import size

RunKey = tuple[str, str]


class TickBox(Checkbox):
    """A checkbox whose box is empty when unchecked: not an X told apart by colour alone."""

    @property
    def _button(self):
        self.BUTTON_INNER = "X" if self.value else " "
        return super()._button


def free_name(project: str, run: str, known: set[RunKey]) -> str:
    """``run-fork``, or ``run-fork-2``... the first that is not a run of ``project`` yet."""
    name, n = f"{run}-fork", 2
    while (project, name) in known:
        name, n = f"{run}-fork-{n}", n + 1
    return name


def fork_problem(project: str, run: str, known: set[RunKey]) -> str | None:
    """Why (project, run) cannot be the fork's target, or None."""
    try:
        validate_name(project or "", "project name")
        validate_name(run, "model name")
    except InvalidName as exc:
        return str(exc)
    if (project, run) in known:
        return f"{project}/{run} already exists; choose a new model name"
    return None


class ForkScreen(ModalScreen[ForkResult | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="cancel_fork")]

    def __init__(self, project: str, run: str, checkpoint: Checkpoint, known: set[RunKey],
                 cursor_blink: bool = True, source: Run | None = None) -> None:
        super().__init__()
        self.project = project
        self.run = run
        self.checkpoint = checkpoint
        self.known = known
        self.cursor_blink = cursor_blink
        self.source = source  # the run read, to ask the store where the fork goes
        self.running = False
        self.fork_target: ForkTarget | None = None
        self._wanted: RunKey | None = None  # the name whose destination is to be shown
        self._looking = False  # a look-up runs

    def compose(self) -> ComposeResult:
        with Vertical(id="fork", classes="dialog") as dialog:
            dialog.border_title = "Fork a step into a new run"
            yield Label(f"from [b]{self.project}/{self.run}[/b] step [b]{self.checkpoint.step}[/b] "
                        f"({size(self.checkpoint.bytes)})", id="fork-source")
            yield Label("new model name")
            yield Input(free_name(self.project, self.run, self.known), id="fork-name")
            yield Label("project")
            yield Input(self.project, id="fork-project")
            yield TickBox(f"also copy the metric history up to step {self.checkpoint.step}",
                          id="fork-history")
            yield Label("type a new model name", id="fork-problem", classes="hint")
            yield Label("", id="fork-target", classes="hint")
            yield ProgressBar(total=max(self.checkpoint.bytes, 1), show_eta=False, id="fork-progress")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Fork", id="fork-go", variant="primary", disabled=True)

    def on_mount(self) -> None:
        self.query_one(ProgressBar).display = False
        for field in self.query(Input):
            field.cursor_blink = self.cursor_blink
        self.query_one("#fork-name", Input).focus()

    @property
    def target(self) -> RunKey:
        return (self.query_one("#fork-project", Input).value.strip(),
                self.query_one("#fork-name", Input).value)

    @property
    def with_history(self) -> bool:
        return self.query_one("#fork-history", TickBox).value

    @on(Input.Changed)
    def check(self) -> None:
        project, run = self.target
        problem = fork_problem(project, run, self.known) if run else "type a new model name"
        label = self.query_one("#fork-problem", Label)
        label.update(problem or f"will create {project}/{run} with step {self.checkpoint.step}")
        label.set_class(bool(problem and run), "error")
        self.query_one("#fork-go", Button).disabled = problem is not None or self.running
        if not self.running:
            self.fork_target = None
            self.query_one("#fork-target", Label).update("")
            self._wanted = (project, run) if problem is None and self.source is not None else None
            if self._wanted is not None and not self._looking:
                self._looking = True
                self.find_target(*self._wanted)

    @work(thread=True, exit_on_error=False, group="target")
    def find_target(self, project: str, run: str) -> None:
        """Ask the store where the new run would go: shown in full before anything is copied."""
        try:
            target, problem = self.app.open_store().fork_target(self.source, self.checkpoint, project, run), None
        except CkptError as exc:
            target, problem = None, str(exc)
        self.app.call_from_thread(self.show_target, (project, run), target, problem)

    def show_target(self, key: RunKey, target: ForkTarget | None, problem: str | None) -> None:
        self._looking = False
        if key != self._wanted or self.running:  # typed on since: one look-up at a time, for the last name
            if self._wanted is not None and not self.running:
                self._looking = True
                self.find_target(*self._wanted)
            return
        self.fork_target = target
        label = self.query_one("#fork-target", Label)
        label.set_class(problem is not None, "error")
        if problem is not None:
            label.update(problem)
            self.query_one("#fork-go", Button).disabled = True
            return
        if target is None:
            return
        where = f"into {self.app.display_location(target.url)}"
        if not target.listed:
            where += f"\noutside {self.app.location_label}: it will not be listed here"
        label.update(where)
        history = self.query_one("#fork-history", TickBox)
        history.display = target.history  # the history of other layouts travels inside the checkpoint
        if not target.history:
            history.value = False

    @on(Input.Submitted)
    @on(Button.Pressed, "#fork-go")
    def go(self) -> None:
        project, run = self.target
        if self.running or fork_problem(project, run, self.known):
            self.app.bell()
            return
        self._set_running(True)
        for widget in (*self.query(Input), self.query_one("#fork-go", Button),
                       self.query_one("#fork-history", TickBox)):
            widget.disabled = True
        self.query_one(ProgressBar).display = True
        self.query_one("#fork-problem", Label).update(f"copying into {project}/{run}…")
        self.copy(project, run, self.with_history)

    @work(thread=True, exclusive=True, exit_on_error=False, group="fork")
    def copy(self, to_project: str, to_run: str, with_history: bool) -> ForkResult:
        def progress(done: int, total: int) -> None:
            self.app.call_from_thread(self.advance, done, total)

        return fork_checkpoint(self.app.open_store(), self.project, self.run, to_run, to_project,
                               step=self.checkpoint.step, with_history=with_history, progress=progress)

    @on(Worker.StateChanged)
    def copy_done(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "fork":
            return
        if event.state == WorkerState.SUCCESS:
            self.dismiss(event.worker.result)
        elif event.state == WorkerState.ERROR:
            error = event.worker.error
            self.failed(str(error) if isinstance(error, (CkptError, OSError))
                        else f"{type(error).__name__}: {error}")

    def advance(self, done: int, total: int) -> None:
        self.query_one(ProgressBar).update(total=max(total, 1), progress=done)

    def failed(self, message: str) -> None:
        """The copy was refused or failed: show why and let the user try another name."""
        self._set_running(False)
        for widget in (*self.query(Input), self.query_one("#fork-history", TickBox)):
            widget.disabled = False
        self.query_one(ProgressBar).display = False
        self.check()
        label = self.query_one("#fork-problem", Label)
        label.update(message)
        label.set_class(True, "error")
        self.query_one("#fork-name", Input).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Esc is greyed while copying: a copy in flight finishes or cleans up its temporary directory."""
        return None if action == "cancel" and self.running else True

    def _set_running(self, running: bool) -> None:
        self.running = running
        self.refresh_bindings()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        if not self.running:  # the button too: a copy in flight is never left half done
            self.dismiss(None)
