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
    priority: float = 1  # higher stays longer


SEPARATOR = "  "


def fit_parts(parts: list[StatusPart], width: int) -> Text:
    def fits(indexes: list[int]) -> bool:
        return len(SEPARATOR.join(parts[i].text for i in indexes)) <= width

    shown = [i for i, p in enumerate(parts) if p.text]
    dropped: list[int] = []
    while len(shown) > 1 and not fits(shown):
        dropped.append(min(shown, key=lambda i: parts[i].priority))
        shown.remove(dropped[-1])
    for index in reversed(dropped):  # the room a long part left: a shorter, less important one takes it
        if fits(candidate := sorted([*shown, index])):
            shown = candidate
    shown = [parts[i] for i in shown]
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
        if list(parts) != self.parts:  # the same line is not drawn again on each key press
            self.parts = list(parts)
            self.refresh()

    def render(self) -> Text:
        return fit_parts(self.parts, max(self.content_size.width, 1))
