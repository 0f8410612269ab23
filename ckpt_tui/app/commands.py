"""Command palette entries for every action of the main screen, and the key list."""

from __future__ import annotations

from functools import partial

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider

NAVIGATION = [
    Binding("↑ ↓  k j", "", "Move in the run list or the step table"),
    Binding("PgUp PgDn", "", "Page through the steps"),
    Binding("Home End  g G", "", "First / last step"),
    Binding("← →", "", "Scroll the step table sideways"),
    Binding("Enter", "", "Go from the run list to its steps"),
    Binding("Tab  Shift+Tab", "", "Move focus: filter, runs, steps"),
    Binding("Ctrl+P", "", "Command palette"),
]


def help_sections() -> list[tuple[str, list[Binding]]]:
    from .screens.main import MainScreen

    return [("Actions", list(MainScreen.BINDINGS)), ("Moving around", NAVIGATION)]


class CkptCommands(Provider):
    """The main screen's bindings, by name, with their keys."""

    def _commands(self):
        from .screens.main import MainScreen

        screen = self.screen
        if not isinstance(screen, MainScreen):
            return []
        return [(binding.tooltip or binding.description, binding,
                 partial(screen.run_action, binding.action)) for binding in MainScreen.BINDINGS]

    async def discover(self) -> Hits:
        for name, binding, run in self._commands():
            yield DiscoveryHit(name, run, help=f"key: {binding.key}")

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, binding, run in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), run, help=f"key: {binding.key}")
