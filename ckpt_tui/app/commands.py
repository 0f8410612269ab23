"""Command palette entries: the actions bound on the screen and its focused widget."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from .screens.help import key_names

# The system commands already offer these.
SYSTEM_ACTIONS = {"app.quit", "app.pop_screen"}


class CkptCommands(Provider):
    """Each action by what it does (``Fork: copy the highlighted step…``), with its keys."""

    def _commands(self):
        found: dict[tuple, tuple] = {}
        for key, active in self.screen.active_bindings.items():
            binding = active.binding
            if not binding.description or binding.action in SYSTEM_ACTIONS:
                continue
            entry = found.setdefault((active.node, binding.action), (binding, active.node, []))
            entry[2].append(key)
        for binding, node, keys in found.values():
            name = binding.description
            if binding.tooltip and binding.tooltip.lower() != name.lower():
                name = f"{name}: {binding.tooltip[0].lower()}{binding.tooltip[1:]}"
            yield name, f"key {key_names(','.join(keys))}", partial(self.app.run_action, binding.action, node)

    async def discover(self) -> Hits:
        for name, keys, run in self._commands():
            yield DiscoveryHit(name, run, help=keys)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, keys, run in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), run, help=keys)
