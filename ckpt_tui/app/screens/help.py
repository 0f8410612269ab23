"""Every key, generated from the bindings themselves so it never drifts."""

from __future__ import annotations

from collections.abc import Iterable

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static


def key_names(keys: str) -> str:
    names = {"question_mark": "?", "slash": "/", "pageup": "PgUp", "pagedown": "PgDn",
             "escape": "Esc", "delete": "Del", "home": "Home", "end": "End", "up": "↑", "down": "↓",
             "tab": "Tab", "shift+tab": "Shift+Tab", "enter": "Enter"}
    return " ".join(names.get(k, k) for k in keys.split(","))


def key_table(sections: Iterable[tuple[str, Iterable[Binding]]]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan", no_wrap=True, min_width=12)
    table.add_column()
    for title, bindings in sections:
        table.add_row(f"[u]{title}[/u]", "")
        for binding in bindings:
            table.add_row(key_names(binding.key), binding.tooltip or binding.description)
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "app.pop_screen", "Close")]

    def __init__(self, sections: list[tuple[str, list[Binding]]]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help", classes="dialog") as dialog:
            dialog.border_title = "Keys"
            yield Static(key_table(self.sections))
            yield Label("Esc closes this screen. Ctrl+P opens the command palette.", classes="hint")
