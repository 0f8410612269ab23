"""One line with where we are, how much is stored, the rule, and the preview verdict."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class StatusLine(Static):

    def show(self, location: str, checkpoints: int, total_bytes: str, rule: str,
             preview: str | None = None) -> None:
        text = Text.assemble((location, "bold"), "  ", f"{checkpoints} checkpoints, {total_bytes}",
                             "  ", (rule, "italic"))
        if preview:
            text.append("  ")
            text.append(preview, style="bold red")
        self.update(text)
