"""Command palette entries: the actions bound on the screen and its focused widget."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from .screens.help import binding_text, key_names

# The system commands already offer these.
SYSTEM_ACTIONS = {"quit", "app.quit", "pop_screen", "app.pop_screen", "command_palette", "app.command_palette"}


class CkptCommands(Provider):
    """Each action by what it does (``Fork: copy the highlighted step…``), with its keys."""

    def _commands(self):
        found: dict[tuple, tuple] = {}
        for key, active in self.screen.active_bindings.items():
            binding = active.binding
            # Actions of this app carry a tooltip; Textual's own scrolling keys do not.
            if not binding.tooltip or binding.action in SYSTEM_ACTIONS:
                continue
            entry = found.setdefault((active.node, binding.action), (binding, active.node, []))
            entry[2].append(key)
        for binding, node, keys in found.values():
            run = partial(self.app.run_action, binding.action, node)
            yield binding_text(binding), f"key {key_names(','.join(keys))}", run

    async def discover(self) -> Hits:
        for name, keys, run in self._commands():
            yield DiscoveryHit(name, run, help=keys)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, keys, run in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), run, help=keys)
