"""Projects and their runs, with per-project totals and a one-line summary per run."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.binding import Binding
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from ...formatting import count, size
from ..keymap import with_ids

RunKey = tuple[str, str]
# How the runs of a project can be ordered (``o`` cycles through them).
ORDERS = ("name", "size", "checkpoints", "latest")
MIN_WIDTH = 15


@dataclass(frozen=True, slots=True)
class RunSummary:
    checkpoints: int
    bytes: int
    latest: int | None
    best: int | None
    refused: bool = False  # its rule cannot apply (no metric to choose best by, a policy file in the way)
    unreadable: bool = False  # its folder may not be read


REFUSED_MARK = "✗"
SELECTED_MARK = "● "  # before the name of a run selected for comparing
DENIED = "permission denied"


def figure_options(summary: RunSummary | None, frees: int | None) -> list[str]:
    """The figures beside a run's name, from the richest to the essential.

    Latest and best matter most: the count and the size are abbreviated, then
    dropped, before they are. In a project preview, what the run frees comes
    first and replaces the size.
    """
    if summary is None:
        return ["…"]
    if summary.unreadable:
        return [DENIED]
    marks = " ".join(part for part in (
        REFUSED_MARK if summary.refused else "",
        f"L{summary.latest}" if summary.latest is not None else "",
        f"★{summary.best}" if summary.best is not None else "") if part)
    if frees is not None:
        short = f"-{size(frees)}" if frees else "nothing"  # sizes read as in ls, never abbreviated
        return [f"{summary.checkpoints} · {short} · {marks}", f"{short} {marks}",
                f"{short} ★{summary.best}" if summary.best is not None else short, short]
    short = size(summary.bytes)
    return [" · ".join(p for p in (str(summary.checkpoints), short, marks) if p),
            " ".join(p for p in (count(summary.checkpoints), short, marks) if p),
            " ".join(p for p in (count(summary.checkpoints), marks) if p), marks or short]


def _styled(figures: str, frees: int | None) -> Text:
    text = Text(figures, style="dim")
    text.highlight_words([DENIED], "red")
    if frees is not None:
        text.highlight_regex(r"-[\d.]+ ?[kMGTP]?B(ytes)?", "bold red")
    return text


def fits(name: str, figures: str, width: int) -> bool:
    return len(name) + 2 + len(figures) <= width


def labelled(name: str, options: list[str], width: int, frees: int | None = None,
             name_style: str = "") -> Text:
    """``name`` and the richest figures that fit beside it in ``width``; the name is cut
    (with an ellipsis) only when even the essential figures do not fit otherwise."""
    figures = next((f for f in options if fits(name, f, width)), options[-1])
    room = max(width - len(figures) - 2, 4)
    shown = name if len(name) <= room else name[: room - 1] + "…"
    gap = " " * max(width - len(shown) - len(figures), 2)
    return Text.assemble((shown, name_style), gap, _styled(figures, frees))


def run_label(name: str, summary: RunSummary | None, width: int, frees: int | None = None,
              level: int = 0) -> Text:
    """``level`` skips the richest figures, so that all runs of a list read alike."""
    options = figure_options(summary, frees)
    return labelled(name, options[min(level, len(options) - 1):], width, frees)


def project_label(project: str, summaries: list[RunSummary | None], runs: int, width: int) -> Text:
    known = [s for s in summaries if s is not None]
    total = (size(sum(s.bytes for s in known)) if known else "") + ("…" if len(known) < len(summaries) else "")
    options = [f"{runs} run{'s' if runs != 1 else ''} · {total}", f"{runs} · {total}", total]
    return labelled(project, options, width, name_style="bold")


def set_label(node: TreeNode, label: Text) -> None:
    """A new label costs the tree a layout pass: only when it says something new."""
    if node.label != label:
        node.set_label(label)


class RunTree(Tree[RunKey | str]):
    """Project nodes hold the project name; run leaves hold (project, run)."""

    BINDINGS = with_ids([
        Binding("j", "cursor_down", "Down", show=False, id="next_run", tooltip="Next run"),
        Binding("k", "cursor_up", "Up", show=False, id="previous_run", tooltip="Previous run"),
        Binding("home,g", "first", "First", show=False, id="first_run", tooltip="First run"),
        Binding("end,G", "last", "Last", show=False, id="last_run", tooltip="Last run"),
        Binding("enter", "select_cursor", "Open", show=False,
                tooltip="Open the run's steps; on a project, fold or unfold it"),
        Binding("space", "toggle_node", "Fold / select", show=False,
                tooltip="Fold or unfold a project; on a run, select it for comparing (C)"),
    ])

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("runs", id=id)
        self.show_root = False
        self.guide_depth = 2
        self.auto_expand = False  # Enter on a project folds it; on a run it opens the steps
        self.order = "name"
        self._leaves: dict[RunKey, TreeNode] = {}
        self._projects: dict[str, TreeNode] = {}
        self._summaries: dict[RunKey, RunSummary] = {}
        self._frees: dict[RunKey, int] = {}
        self._denied: dict[str, TreeNode] = {}  # folders that may not be listed
        self.selected: set[RunKey] = set()  # runs selected for comparing (Space)

    @property
    def label_width(self) -> int:
        # Leaves are indented by the guides of one level, plus the scrollbar's room.
        return max(self.scrollable_content_region.width - self.guide_depth - 2, MIN_WIDTH)

    def _ordered(self, project: str, runs: list[str]) -> list[str]:
        if self.order == "name":
            return list(runs)  # the store lists them by name

        def figure(run: str) -> tuple[bool, int]:
            summary = self._summaries.get((project, run))
            if summary is None:
                return (True, 0)  # not read yet: last
            value = {"size": summary.bytes, "checkpoints": summary.checkpoints,
                     "latest": summary.latest if summary.latest is not None else -1}[self.order]
            return (False, -value)

        return sorted(runs, key=lambda run: (*figure(run), run))

    def _ordered_projects(self, listing: dict[str, list[str]]) -> list[str]:
        """Projects in the same order as their runs: by total size, checkpoints, latest step."""
        if self.order == "name":
            return list(listing)

        def figure(project: str) -> tuple[bool, int]:
            known = [s for r in listing[project] if (s := self._summaries.get((project, r))) is not None]
            if not known:
                return (True, 0)
            if self.order == "latest":
                return (False, -max((s.latest for s in known if s.latest is not None), default=-1))
            return (False, -sum(s.bytes if self.order == "size" else s.checkpoints for s in known))

        return sorted(listing, key=lambda project: (*figure(project), project))

    def show_runs(self, listing: dict[str, list[str]], summaries: dict[RunKey, RunSummary],
                  pattern: str = "", select: RunKey | None = None,
                  unreadable: list[str] = ()) -> RunKey | None:
        """Rebuild the tree with runs whose name contains ``pattern``; return the run under the cursor.
        ``unreadable`` folders (permissions) stay listed, saying so."""
        folded = {p for p, node in self._projects.items() if not node.is_expanded}
        self._summaries = summaries
        self.selected &= {(p, r) for p, runs in listing.items() for r in runs}  # gone runs leave the selection
        self.clear()
        self._leaves, self._projects, self._denied = {}, {}, {}
        pattern = pattern.lower()
        for project in self._ordered_projects(listing):
            runs = listing[project]
            shown = [r for r in runs if pattern in r.lower() or pattern in project.lower()]
            if not shown and pattern:
                continue
            node = self.root.add(project, data=project, expand=project not in folded)
            self._projects[project] = node
            for run in self._ordered(project, shown):
                key = (project, run)
                self._leaves[key] = node.add_leaf(run, data=key)
            self._label_project(project)
        for folder in unreadable:
            if pattern in folder.lower():
                self._denied[folder] = self.root.add_leaf(folder, data=folder)
        self.relabel()
        target = select if select in self._leaves else next(iter(self._leaves), None)
        if target is not None:
            self.select_run(target)
        return target

    def _label_project(self, project: str) -> None:
        node = self._projects[project]
        keys = [node.data for node in node.children]
        set_label(node, project_label(project, [self._summaries.get(k) for k in keys], len(keys),
                                      self.label_width + self.guide_depth))

    def _level(self) -> int:
        """The richest figures every run's name fits beside, so that the list reads alike."""
        options = {key: figure_options(self._summaries.get(key), self._frees.get(key)) for key in self._leaves}
        for level in range(4):
            if all(fits(self._shown_name(key), opts[min(level, len(opts) - 1)], self.label_width)
                   for key, opts in options.items()):
                return level
        return 3

    def _shown_name(self, key: RunKey) -> str:
        return SELECTED_MARK + key[1] if key in self.selected else key[1]

    def _label_run(self, key: RunKey, level: int) -> None:
        label = run_label(self._shown_name(key), self._summaries.get(key), self.label_width, self._frees.get(key), level)
        if key in self.selected:
            label.stylize("bold cyan", 0, len(SELECTED_MARK))
        set_label(self._leaves[key], label)

    def relabel(self) -> None:
        level = self._level()
        for key in self._leaves:
            self._label_run(key, level)
        for project in self._projects:
            self._label_project(project)
        for folder, node in self._denied.items():
            set_label(node, labelled(folder, [DENIED], self.label_width + self.guide_depth, name_style="bold"))

    def update_summary(self, key: RunKey, summary: RunSummary) -> None:
        self.update_summaries({key: summary})

    def update_summaries(self, summaries: dict[RunKey, RunSummary]) -> None:
        """Several runs' figures at once: the list is labelled again once."""
        self._summaries.update(summaries)
        if not self._leaves.keys().isdisjoint(summaries):
            self.relabel()

    def show_frees(self, frees: dict[RunKey, int]) -> None:
        """What a project preview frees per run, shown beside each name (empty: none)."""
        self._frees = dict(frees)
        self.relabel()

    def on_resize(self) -> None:
        self.relabel()

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

    def action_first(self) -> None:
        self.cursor_line = 0

    def action_last(self) -> None:
        self.cursor_line = self.last_line

    def action_toggle_node(self) -> None:
        """On a project: fold or unfold it; on a run: select it for comparing, or not."""
        node = self.cursor_node
        if node is not None and isinstance(node.data, tuple):
            self.selected ^= {node.data}
            self.relabel()
        else:
            super().action_toggle_node()

    def clear_selection(self) -> bool:
        """Forget the runs selected for comparing; True if there were any."""
        had = bool(self.selected)
        self.selected = set()
        if had:
            self.relabel()
        return had

    def action_select_cursor(self) -> None:
        node = self.cursor_node
        if node is not None and isinstance(node.data, str):
            node.toggle()
        else:
            super().action_select_cursor()
