"""Every key, generated from the bindings themselves so it never drifts, and the legend."""

from __future__ import annotations

from collections.abc import Iterable

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from ..legend import LEGEND

KEY_NAMES = {"question_mark": "?", "slash": "/", "pageup": "PgUp", "pagedown": "PgDn", "escape": "Esc",
             "delete": "Del", "home": "Home", "end": "End", "up": "↑", "down": "↓", "left": "←",
             "right": "→", "tab": "Tab", "shift+tab": "Shift+Tab", "enter": "Enter", "space": "Space",
             "ctrl+b": "Ctrl+B", "ctrl+f": "Ctrl+F", "ctrl+p": "Ctrl+P"}

def key_names(keys: str) -> str:
    return " ".join(KEY_NAMES.get(k, k) for k in keys.split(","))


def binding_text(binding: Binding) -> str:
    """``Fork: copy the highlighted step into a new run``: the name, then what it does."""
    name, about = binding.description, binding.tooltip
    if about and about.lower() != name.lower():
        return f"{name}: {about[0].lower()}{about[1:]}" if name else about
    return name or about


def key_table(sections: Iterable[tuple[str, Iterable[Binding]]]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan", no_wrap=True, min_width=12)
    table.add_column()
    for title, bindings in sections:
        table.add_row(f"[u]{title}[/u]", "")
        for binding in bindings:
            table.add_row(key_names(binding.key), binding_text(binding))
    table.add_row("[u]Legend[/u]", "")
    for mark, _, meaning in LEGEND:
        table.add_row(mark, meaning)
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "app.pop_screen", "Close", id="close_help")]

    def __init__(self, sections: list[tuple[str, list[Binding]]]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help", classes="dialog") as dialog:
            dialog.border_title = "Keys"
            yield Static(key_table(self.sections))
            yield Label("Esc closes this screen. Ctrl+P opens the command palette.", classes="hint")
