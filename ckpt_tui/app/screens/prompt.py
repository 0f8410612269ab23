"""A one-line question: a step to go to, a text to search, a condition to mark by.

``check`` says, as the user types, what the answer would do (or what is wrong
with it, starting with ``!``); Enter returns the text unless it is wrong.
"""

from __future__ import annotations

from collections.abc import Callable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

Check = Callable[[str], str]  # a line about the text; a line starting with "!" refuses it


class Prompt(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, hint: str, check: Check | None = None, value: str = "",
                 cursor_blink: bool = True, restrict: str | None = None) -> None:
        super().__init__()
        self.title_text, self.hint, self.check, self.value = title, hint, check, value
        self.cursor_blink, self.restrict = cursor_blink, restrict

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt", classes="dialog") as dialog:
            dialog.border_title = self.title_text
            yield Input(self.value, id="prompt-input", restrict=self.restrict)
            yield Label(self.hint, id="prompt-hint", classes="hint")

    def on_mount(self) -> None:
        field = self.query_one(Input)
        field.cursor_blink = self.cursor_blink
        field.focus()

    @on(Input.Changed)
    def changed(self, event: Input.Changed) -> None:
        label = self.query_one("#prompt-hint", Label)
        line = self.check(event.value) if self.check and event.value.strip() else self.hint
        label.update(line.removeprefix("!"))
        label.set_class(line.startswith("!"), "error")

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text or (self.check is not None and self.check(text).startswith("!")):
            self.app.bell()
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)
