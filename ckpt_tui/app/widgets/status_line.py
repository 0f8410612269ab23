"""One line with where we are, how much is stored, the rule, and the preview verdict.

It never wraps: when the parts do not fit, the least important give way first.
"""

from __future__ import annotations

from typing import NamedTuple

from rich.text import Text
from textual.widget import Widget


class StatusPart(NamedTuple):
    text: str
    style: str = ""
    priority: int = 1  # higher stays longer


SEPARATOR = "  "


def fit_parts(parts: list[StatusPart], width: int) -> Text:
    shown = [p for p in parts if p.text]
    while len(shown) > 1 and len(SEPARATOR.join(p.text for p in shown)) > width:
        shown.remove(min(shown, key=lambda p: p.priority))
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    for index, part in enumerate(shown):
        if index:
            text.append(SEPARATOR)
        text.append(part.text, style=part.style)
    text.truncate(width, overflow="ellipsis")
    return text


class StatusLine(Widget):
    DEFAULT_CSS = "StatusLine { height: 1; }"

    def __init__(self, text: str = "", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.parts = [StatusPart(text, "bold", 3)]

    def show(self, *parts: StatusPart) -> None:
        self.parts = list(parts)
        self.refresh()

    def render(self) -> Text:
        return fit_parts(self.parts, max(self.content_size.width, 1))
