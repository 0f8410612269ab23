"""Widgets whose new size needs no second layout of the screen."""

from __future__ import annotations


class LaidOutOnce:
    """Mixed into a widget whose size is decided by the layout that gives it (no child or
    content of its own depends on its virtual size): when that layout changes its virtual size,
    Textual lays the whole screen out again (a second pass and a second frame, milliseconds a key
    press). ``_size_updated`` is Textual's private hook (pinned version); with ``layout=False`` it
    still records the sizes and updates scrollbars, and a scrollbar that appears or goes still
    asks for a layout of its own."""

    def _size_updated(self, size, virtual_size, container_size, layout: bool = True) -> bool:
        return super()._size_updated(size, virtual_size, container_size, layout=False)
