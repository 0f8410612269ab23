"""Projects and their runs, with a one-line summary per run."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.binding import Binding
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from ...formatting import size

RunKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class RunSummary:
    checkpoints: int
    bytes: int
    latest: int | None
    best: int | None


def run_label(name: str, summary: RunSummary | None) -> Text:
    label = Text(name)
    if summary is None:
        return label
    details = f"  {summary.checkpoints} · {size(summary.bytes)}"
    if summary.latest is not None:
        details += f" · L{summary.latest}"
    if summary.best is not None:
        details += f" ★{summary.best}"
    label.append(details, style="dim")
    return label


class RunTree(Tree[RunKey | str]):
    """Project nodes hold the project name; run leaves hold (project, run)."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("runs", id=id)
        self.show_root = False
        self.guide_depth = 2
        self._leaves: dict[RunKey, TreeNode] = {}

    def show_runs(self, listing: dict[str, list[str]], summaries: dict[RunKey, RunSummary],
                  pattern: str = "", select: RunKey | None = None) -> RunKey | None:
        """Rebuild the tree with runs whose name contains ``pattern``; return the run under the cursor."""
        self.clear()
        self._leaves = {}
        pattern = pattern.lower()
        for project, runs in listing.items():
            shown = [r for r in runs if pattern in r.lower() or pattern in project.lower()]
            if not shown and pattern:
                continue
            node = self.root.add(Text(project, style="bold"), data=project, expand=True)
            for run in shown:
                key = (project, run)
                self._leaves[key] = node.add_leaf(run_label(run, summaries.get(key)), data=key)
        target = select if select in self._leaves else next(iter(self._leaves), None)
        if target is not None:
            self.select_run(target)
        return target

    def update_summary(self, key: RunKey, summary: RunSummary) -> None:
        node = self._leaves.get(key)
        if node is not None:
            node.set_label(run_label(key[1], summary))

    @property
    def run_keys(self) -> list[RunKey]:
        return list(self._leaves)

    def select_run(self, key: RunKey) -> bool:
        node = self._leaves.get(key)
        if node is None:
            return False
        # A new node has no line until the tree is laid out again.
        self.call_after_refresh(self.move_cursor, node, animate=False)
        return True
