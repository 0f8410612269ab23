"""Fork the highlighted step into a new run: names checked as you type, copy with progress."""

from __future__ import annotations

from collections.abc import Callable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, ProgressBar

from ...core.errors import InvalidName
from ...core.models import Checkpoint
from ...core.names import validate_name
from ...formatting import size

RunKey = tuple[str, str]


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


class ForkScreen(ModalScreen[RunKey | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, project: str, run: str, checkpoint: Checkpoint, known: set[RunKey],
                 start: Callable[[ForkScreen, str, str], None], cursor_blink: bool = True) -> None:
        super().__init__()
        self.project = project
        self.run = run
        self.checkpoint = checkpoint
        self.known = known
        self.start = start
        self.cursor_blink = cursor_blink
        self.running = False

    def compose(self) -> ComposeResult:
        with Vertical(id="fork", classes="dialog") as dialog:
            dialog.border_title = "Fork a step into a new run"
            yield Label(f"from [b]{self.project}/{self.run}[/b] step [b]{self.checkpoint.step}[/b] "
                        f"({size(self.checkpoint.bytes)})", id="fork-source")
            yield Label("new model name")
            yield Input(placeholder=f"{self.run}-fork", id="fork-name")
            yield Label("project")
            yield Input(self.project, id="fork-project")
            yield Label("type a new model name", id="fork-problem", classes="hint")
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

    @on(Input.Changed)
    def check(self) -> None:
        project, run = self.target
        problem = fork_problem(project, run, self.known) if run else "type a new model name"
        label = self.query_one("#fork-problem", Label)
        label.update(problem or f"will create {project}/{run} with step {self.checkpoint.step}")
        label.set_class(bool(problem and run), "error")
        self.query_one("#fork-go", Button).disabled = problem is not None or self.running

    @on(Input.Submitted)
    @on(Button.Pressed, "#fork-go")
    def go(self) -> None:
        project, run = self.target
        if self.running or fork_problem(project, run, self.known):
            self.app.bell()
            return
        self.running = True
        for widget in (*self.query(Input), self.query_one("#fork-go", Button)):
            widget.disabled = True
        self.query_one(ProgressBar).display = True
        self.query_one("#fork-problem", Label).update(f"copying into {project}/{run}…")
        self.start(self, project, run)

    def advance(self, done: int, total: int) -> None:
        self.query_one(ProgressBar).update(total=max(total, 1), progress=done)

    def failed(self, message: str) -> None:
        """The copy was refused or failed: show why and let the user try another name."""
        self.running = False
        for widget in self.query(Input):
            widget.disabled = False
        self.query_one(ProgressBar).display = False
        label = self.query_one("#fork-problem", Label)
        label.update(message)
        label.set_class(True, "error")
        self.query_one("#fork-name", Input).focus()
        self.check()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        if not self.running:  # a copy in flight finishes or cleans up its temporary directory
            self.dismiss(None)
