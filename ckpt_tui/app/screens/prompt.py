"""A one-line question: a step to go to, a text to search, a condition to mark by.

``check`` says, as the user types, what the answer would do (or what is wrong
with it, starting with ``!``); Enter gives the text to ``answered`` unless it is
wrong (Esc gives None). ``answered`` runs as the dialog closes, before the screen
below is drawn again: what it changes there is drawn in that same frame (a
result callback would run after it, and draw everything a second time).
"""

from __future__ import annotations

from collections.abc import Callable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input, Label

from ..widgets.notice import text_height
from .reuse import HOLD_LIMIT, ReusableDialog, lay_out_for_repaint

Check = Callable[[str], str]  # a line about the text; a line starting with "!" refuses it
Answered = Callable[[str | None], None]


class Prompt(ReusableDialog):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="cancel_prompt")]

    def __init__(self, title: str, hint: str, check: Check | None = None, value: str = "",
                 cursor_blink: bool = True, restrict: str | None = None, answered: Answered | None = None) -> None:
        super().__init__()
        self._ask(title, hint, check, value, cursor_blink, restrict, answered)

    def _ask(self, title: str, hint: str, check: Check | None, value: str, cursor_blink: bool,
             restrict: str | None, answered: Answered | None) -> None:
        self.title_text, self.hint, self.check, self.value = title, hint, check, value
        self.cursor_blink, self.restrict, self.answered = cursor_blink, restrict, answered

    def reuse(self, title: str, hint: str, check: Check | None = None, value: str = "",
              cursor_blink: bool = True, restrict: str | None = None, answered: Answered | None = None) -> None:
        self._ask(title, hint, check, value, cursor_blink, restrict, answered)
        self.query_one("#prompt").border_title = title
        field = self.query_one(Input)
        field.restrict, field.cursor_blink = restrict, cursor_blink
        self._filling = True
        field.value = value
        self._filling = False
        field.cursor_position = len(value)
        self.show_hint(hint)
        field.focus()

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt", classes="dialog") as dialog:
            dialog.border_title = self.title_text
            yield Input(self.value, id="prompt-input", restrict=self.restrict)
            yield Label(self.hint, id="prompt-hint", classes="hint")

    def on_mount(self) -> None:
        field = self.query_one(Input)
        field.cursor_blink = self.cursor_blink
        field.focus()
        # A watcher runs as the text changes, so that the hint is drawn in the frame that draws the
        # text; Input's Changed message is handled after that frame, and drew the hint in one of
        # its own 20-30 ms later.
        self.watch(field, "value", self.typed, init=False)

    def typed(self, value: str) -> None:
        if not self._filling:  # the text a reused dialog starts with: its hint is said as it opens
            self.show_hint(self.check(value) if self.check and value.strip() else self.hint)

    def show_hint(self, line: str) -> None:
        label = self.query_one("#prompt-hint", Label)
        label.set_class(line.startswith("!"), "error")
        if line == self._hint_shown:
            return
        # Laid out again only when the hint takes more or fewer lines: not at each key typed.
        height = text_height(label)
        label.update(line.removeprefix("!"), layout=False)
        if height is None or text_height(label) != height:
            label.refresh(layout=True)
        self._hint_shown = line

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text or (self.check is not None and self.check(text).startswith("!")):
            self.app.bell()
            return
        self.answer(text)

    def action_cancel(self) -> None:
        self.answer(None)

    _hint_shown: str | None = None  # the line under the field
    _filling = False  # while a reused dialog is given its text

    _below: Screen | None = None  # the screen below while this dialog closes, drawn once
    _waits = 0  # for that screen to have handled what the answer changed, and for this dialog's suspension

    def answer(self, text: str | None) -> None:
        """Closes the dialog; the screen below is drawn once, with what ``answered`` changes in it."""
        self._draw_below()  # a close before this one still held: drawn now
        below = self.app.screen_stack[-2]
        self.app._begin_batch()
        self._below, self._waits = below, 2
        self.app.set_timer(HOLD_LIMIT, self._draw_below)  # never held longer than that
        try:
            self.dismiss(text)
            if self.answered is not None:
                self.answered(text)  # the screen below is current again, not drawn yet
            for widget in below.walk_children(Widget):
                widget._check_refresh()  # what changed is told to the screen now, not as each widget idles
        finally:
            below.call_later(self._handled_below)

    def _handled_below(self) -> None:
        self._waits -= 1
        if not self._waits:
            self._draw_below()

    def on_screen_suspend(self) -> None:
        # Textual asks the screen below for a repaint as it suspends this dialog: drawn after that.
        self._handled_below()

    def _draw_below(self) -> None:
        below, self._below = self._below, None
        if below is not None:
            lay_out_for_repaint(below)
            self.app._end_batch()
            below._on_timer_update()
