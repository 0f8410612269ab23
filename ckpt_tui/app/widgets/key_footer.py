"""Textual's footer, rebuilt only when the keys it shows change."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer


class KeyFooter(Footer):
    """Textual's Footer rebuilds all its keys after every change of bindings: a screen's
    start brings three (the screen, the focus, the first refresh) and most focus moves
    show the same keys. Rebuilding costs a layout of the footer (10-20 ms): done once for
    a burst, and only when what it shows differs."""

    _rebuild_pending = False
    _shown: tuple | None = None

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus or not self.is_attached or screen is not self.screen:
            return
        if not self._rebuild_pending:
            self._rebuild_pending = True
            self.call_after_refresh(self._rebuild)

    async def _rebuild(self) -> None:
        self._rebuild_pending = False
        if self.is_attached and self._keys() != self._shown:
            await self.recompose()

    def _keys(self) -> tuple:
        """What compose draws from: the keys shown, their state, and the palette's."""
        shown = tuple((binding.key, binding.action, binding.description, enabled, tooltip)
                      for _, binding, enabled, tooltip in self.screen.active_bindings.values()
                      if binding.show or binding.key == self.app.COMMAND_PALETTE_BINDING)
        return self._bindings_ready, self.show_command_palette, self.compact, shown

    def compose(self) -> ComposeResult:
        self._shown = self._keys()
        self.call_after_refresh(self._fit)
        yield from super().compose()

    def on_resize(self) -> None:
        self.call_after_refresh(self._fit)

    def _fit(self) -> None:
        """Keys that do not fit whole are left out rather than cut mid-word (80 columns)."""
        x, room, keys = 0, self.size.width, list(self.query("FooterKey"))  # the footer's own keys, by type name
        if not room or not self.is_attached:
            return  # not on screen: measured on the next resize
        if any(key.display and not key.outer_size.width for key in keys):
            self.call_after_refresh(self._fit)  # not laid out yet: measured once they are
            return
        for key in keys:
            if key.display:
                key.fit_width = key.outer_size.width  # measured while shown: kept when hidden
            x += getattr(key, "fit_width", 0)
            key.display = x <= room
