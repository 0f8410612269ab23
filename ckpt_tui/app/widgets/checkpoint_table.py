"""The checkpoint table: a line-API view that renders only the rows on screen.

Textual's DataTable measures every cell when rows are added, which takes
seconds at 100k rows; here the cost of showing a run is one sort, and each
frame formats only the visible lines.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass
from itertools import compress, repeat
from operator import attrgetter, is_
from datetime import tzinfo

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.signal import Signal
from textual.strip import Strip

from ...core.models import Checkpoint, Run
from ...core.retention import Plan, SlimStep
from ...formatting import fit_number, fit_text, shared_steps, size, stamp, step_label
from ..keymap import with_ids

KEEP_WIDTH_LIMIT = 40
STEP_WIDTH_LIMIT = 32
METRIC_WIDTH = (8, 16)  # a metric column fits its name within these bounds
FROZEN = ("mark", "step")  # always on screen when the table scrolls sideways


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    width: int
    justify: str = "right"

    def cell(self, text: str) -> str:
        text = fit_text(text, self.width)
        return text.rjust(self.width) if self.justify == "right" else text.ljust(self.width)


def window(pieces: list[str], start: int, width: int) -> list[tuple[int, str]]:
    """The part of ``pieces`` (laid side by side) between ``start`` and ``start + width``.

    A piece cut by either edge shows ``…`` rather than some of its characters,
    so that a number is never shown with digits missing. Returns (index, text).
    """
    out: list[tuple[int, str]] = []
    x, end = 0, start + width
    for index, piece in enumerate(pieces):
        left, right = x, x + len(piece)
        x = right
        if right <= start or left >= end:
            continue
        if left >= start and right <= end:
            out.append((index, piece))
        elif left >= start and piece[end - left:].strip() == "":
            out.append((index, piece[: end - left]))  # only padding is cut
        else:
            shown = min(right, end) - max(left, start)
            out.append((index, "…" + " " * (shown - 1) if left < start else " " * (shown - 1) + "…"))
    return out


class CheckpointTable(ScrollView, can_focus=True):
    """Steps of one run: marker, step, size, time, metrics, and the preview verdict."""

    BINDINGS = with_ids([
        Binding("up,k", "cursor(-1)", "Up", show=False, id="step_up"),
        Binding("down,j", "cursor(1)", "Down", show=False, id="step_down"),
        Binding("pageup,ctrl+b", "page(-1)", "Page up", show=False, id="page_up"),
        Binding("pagedown,ctrl+f", "page(1)", "Page down", show=False, id="page_down"),
        Binding("home,g", "jump(0)", "First step", show=False, id="first_step"),
        Binding("end,G", "jump(-1)", "Last step", show=False, id="last_step"),
        Binding("slash", "screen.search_steps", "Search",
                tooltip="Search the steps and metric values as shown (n / N: next / previous match)"),
        Binding("shift+down", "screen.mark_range(1)", "Mark down", show=False, id="mark_down",
                tooltip="Mark the highlighted step and move down: hold Shift to mark a range"),
        Binding("shift+up", "screen.mark_range(-1)", "Mark up", show=False, id="mark_up",
                tooltip="Mark the highlighted step and move up"),
    ])
    COMPONENT_CLASSES = {
        "checkpoint-table--header",
        "checkpoint-table--cursor",
        "checkpoint-table--delete",
        "checkpoint-table--slim",
        "checkpoint-table--best",
        "checkpoint-table--latest",
        "checkpoint-table--sorted",
        "checkpoint-table--pending",
        "checkpoint-table--marked",
    }
    DEFAULT_CSS = """
    CheckpointTable { background: $surface; }
    CheckpointTable > .checkpoint-table--header { text-style: bold; background: $panel; }
    CheckpointTable > .checkpoint-table--sorted { text-style: bold underline; background: $panel; }
    CheckpointTable > .checkpoint-table--cursor { background: $primary 40%; }
    CheckpointTable:focus > .checkpoint-table--cursor { background: $primary; color: $text; }
    CheckpointTable > .checkpoint-table--delete { color: $error; text-style: strike; }
    CheckpointTable > .checkpoint-table--slim { color: $warning; text-style: italic; }
    CheckpointTable > .checkpoint-table--best { color: $success; text-style: bold; }
    CheckpointTable > .checkpoint-table--latest { color: $accent; }
    CheckpointTable > .checkpoint-table--pending { color: $text-muted; text-style: italic; }
    CheckpointTable > .checkpoint-table--marked { color: $warning; }
    """

    # Not repainted as a whole when the cursor moves: its watcher repaints the two rows.
    cursor_row: reactive[int] = reactive(0, always_update=True, repaint=False)

    def _size_updated(self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True) -> bool:
        # Textual's ScrollView (8.2.8, a private hook) compares the region the compositor arranges
        # in with the table's own virtual size (its rows), which always differ: each layout of the
        # screen (a toast shown or hidden, a dialog closed) refreshed both scrollbars, drawn again
        # in a frame of their own 20-30 ms after the layout's. They are fitted again only when the
        # table's size, rows or container change.
        fit = (size, self.virtual_size, container_size)
        if fit == self._scrollbars_fit:
            return self._container_size != container_size  # what ScrollView answers for the same size
        self._scrollbars_fit = fit
        return super()._size_updated(size, virtual_size, container_size, layout)

    def __init__(self, *, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        # Published with the step under the cursor (None for an empty run). A signal, not a
        # message: a subscriber updates in the same frame as the table (a message would take
        # a frame of its own, 20-30 ms later).
        self.highlighted_signal: Signal[Checkpoint | None] = Signal(self, "highlighted")
        self.run: Run | None = None
        self.plan: Plan | None = None
        self.metric_names: list[str] = []
        self.best_steps: frozenset[int] = frozenset()  # every step tied for best
        self.timezone: tzinfo | None = None
        self.rows: list[Checkpoint] = []
        self._scrollbars_fit: tuple[Size, Size, Size] | None = None  # see _size_updated
        self.columns: list[Column] = []
        self.sort_key = "step"
        self.sort_reverse = False
        self._reasons: dict[int, tuple[str, ...]] = {}
        self._deleted: set[int] = set()
        self._slims: dict[tuple[int, str], SlimStep] = {}
        self._pins: frozenset[int] = frozenset()
        self.marks: frozenset[int] = frozenset()
        self._shared: set[int] = set()
        self._step_width = 5
        self._measured: Run | None = None  # the run _shared and _step_width were computed for
        self._row_index: dict[str, int] | None = None
        self._sorted_for: tuple | None = None
        self._sorted_run: Run | None = None
        self._orders: dict[tuple, list[Checkpoint]] = {}  # the run's rows in each order sorted
        self._orders_for: Run | None = None
        self.search = ""  # the text n / N look for; empty: n / N go by marks and verdicts
        self._matches: set[str] = set()  # names of the checkpoints the search found (unique in a run)
        self._match_rows: list[int] | None = None  # their rows, in the order shown
        self._texts: dict[tuple[str, int], tuple[list[int], list[str]]] = {}
        self._texts_for: object = None  # the metrics _texts were written from
        self._names_for: object = None  # the run prepare_search read
        self._stepped: list[tuple[int, int, Checkpoint]] = []
        self._stepped_for: Run | None = None
        self._base_style: Style | None = None

    @property
    def best_step(self) -> int | None:
        """The earliest of the steps tied for best."""
        return min(self.best_steps) if self.best_steps else None

    # -- data ----------------------------------------------------------------
    def show(self, run: Run | None, metric_names: list[str], plan: Plan | None = None,
             best_steps: frozenset[int] = frozenset(), timezone: tzinfo | None = None,
             pins: frozenset[int] = frozenset(), marks: frozenset[int] = frozenset()) -> None:
        """Display ``run``; the cursor stays on the same step when it still exists."""
        current = self.highlighted
        shown = (self.run, self.plan, self.best_steps, self.timezone, self.columns, self.rows, self._pins, self.marks)
        same_run = (self.run is not None and run is not None
                    and (self.run.project, self.run.name) == (run.project, run.name))
        self.run, self.plan, self.best_steps, self.timezone = run, plan, best_steps, timezone
        self.metric_names = list(metric_names)
        self._measure(run)
        self._reasons = plan.reasons() if plan else {}
        self._deleted = plan.delete_steps if plan else set()
        self._slims = {s.key: s for s in plan.slim} if plan else {}
        self._pins = plan.policy.pins if plan else pins
        self.marks = plan.policy.marked if plan else marks
        self.columns = self._make_columns()
        if self.sort_key not in {c.key for c in self.columns}:
            self.sort_key, self.sort_reverse = "step", False
        self._sort()
        row = 0
        if same_run and current is not None:
            row = self.index_of(current)
        elif self.rows and self.sort_key == "step" and not self.sort_reverse:
            row = len(self.rows) - 1  # a fresh run opens on its latest step
        self.virtual_size = Size(self.total_width, len(self.rows) + 1)
        self.cursor_row = min(row, max(len(self.rows) - 1, 0))
        self.call_after_refresh(self.scroll_to_column, self.sort_key)
        self._repaint_since(*shown)

    def _repaint_since(self, run: Run | None, plan: Plan | None, best_steps: frozenset[int], timezone: tzinfo | None,
                       columns: list[Column], rows: list[Checkpoint], pins: frozenset[int],
                       marks: frozenset[int]) -> None:
        """Repaint the rows on screen whose pins or marks changed, when nothing else did (a
        range mark changes a row or two: drawing every row again costs a key press
        milliseconds); else the whole table."""
        if (run is not self.run or rows is not self.rows or plan is not None or self.plan is not None
                or (best_steps, timezone, columns) != (self.best_steps, self.timezone, self.columns)):
            self.refresh()
            return
        top = round(self.scroll_y)
        shown = range(top, min(top + self.page_height, len(self.rows)))
        changed = [index for index in shown if (step := self.rows[index].step) is not None
                   and ((step in pins) != (step in self._pins) or (step in marks) != (step in self.marks))]
        if len(changed) > len(shown) // 2:  # i: most rows, at a refresh each
            self.refresh()
            return
        for index in changed:
            self.refresh_line(index + 1)  # the header is the first line

    @property
    def highlighted(self) -> Checkpoint | None:
        return self.rows[self.cursor_row] if 0 <= self.cursor_row < len(self.rows) else None

    @property
    def total_width(self) -> int:
        return sum(c.width + 1 for c in self.columns)

    def row_of(self, step: int | None, name: str | None = None) -> int:
        """The row of the checkpoint named ``name`` (names are unique in a run), else of the
        first one at ``step``."""
        rows = self._rows_by_name()
        if name is not None and name in rows:
            return rows[name]
        return next((index for index, ckpt in enumerate(self.rows) if ckpt.step == step), 0)

    def _rows_by_name(self) -> dict[str, int]:
        if self._row_index is None:  # built on demand: one pass over the rows per sort
            self._row_index = {ckpt.name: index for index, ckpt in enumerate(self.rows)}
        return self._row_index

    def _measure(self, run: Run | None) -> None:
        """Steps held by several checkpoints, and the step column's width: once per run read."""
        if run is self._measured and run is not None:
            return
        self._measured = run
        self._shared = shared_steps(c.step for c in run.checkpoints + run.pending) if run else set()
        latest = run.latest_step if run else None
        named = [len(self._step_text(c)) for c in run.checkpoints + run.pending
                 if c.step in self._shared] if run else []
        self._step_width = min(max(5, len(str(latest or 0)), *named), STEP_WIDTH_LIMIT)

    @property
    def frozen_width(self) -> int:
        return sum(c.width + 1 for c in self.columns if c.key in FROZEN)

    def _make_columns(self) -> list[Column]:
        columns = [
            Column("mark", "", 3, "left"),
            Column("step", "step", self._step_width),
            Column("size", "size", 9),
        ]
        if self.plan is not None:
            # Next to the step, so that the verdict stays on screen at 80 columns.
            kept = [c for c in self.run.checkpoints if c.step not in self._deleted] if self.run else []
            widest = max((len(self._verdict(c)) for c in kept), default=0)
            columns.append(Column("keep", "keep because", min(max(13, widest), KEEP_WIDTH_LIMIT), "left"))
        columns.append(Column("mtime", "modified", 16, "left"))
        low, high = METRIC_WIDTH
        columns += [Column(f"metric:{m}", m, min(max(low, len(m) + 1), high)) for m in self.metric_names]
        return columns

    # -- sorting -------------------------------------------------------------
    def _sort_function(self) -> Callable[[Checkpoint], object]:
        key = self.sort_key
        if key == "size":
            return lambda c: c.bytes
        if key == "mtime":
            return lambda c: c.mtime
        if key == "keep":
            return lambda c: (c.step in self._deleted, c.key in self._slims, self._verdict(c), c.key)
        return lambda c: c.key

    def _by_metric(self, checkpoints: list[Checkpoint], metric: str) -> list[Checkpoint]:
        """Rows with a value sorted by it; rows without one last, in step order, whichever
        way the column is sorted. Every step goes through C (map, a list's sort by another
        list): 20,000 rows in a few milliseconds, a third of a sort calling a lambda per row."""
        values = dict(self.run.metrics.series(metric)) if self.run else {}
        steps = list(map(attrgetter("step"), checkpoints))
        has_value = list(map(values.__contains__, steps))
        present = list(compress(checkpoints, has_value))
        keys = list(map(values.__getitem__, compress(steps, has_value)))
        order = sorted(range(len(present)), key=keys.__getitem__, reverse=self.sort_reverse)
        return list(map(present.__getitem__, order)) + [c for c, has in zip(checkpoints, has_value) if not has]

    def _sort(self) -> None:
        key = (self.sort_key, self.sort_reverse)  # d moves the best step: no row moves
        if self.sort_key != "keep" and self._sorted_run is self.run and key == self._sorted_for:
            return  # the same rows in the same order: 20,000 of them take milliseconds to sort
        if self._orders_for is not self.run:
            self._orders, self._orders_for = {}, self.run
        self._sorted_run, self._sorted_for, self._row_index, self._match_rows = self.run, key, None, None
        if key in self._orders:  # s cycles through the columns: each order of a run is sorted once
            self.rows = self._orders[key]
            return
        # Saves in progress and interrupted deletes are shown too; they are never candidates.
        checkpoints = self.run.checkpoints if self.run else []
        if self.run and self.run.pending:
            checkpoints = sorted(checkpoints + self.run.pending, key=lambda c: c.key)
        if self.sort_key == "step":
            self.rows = list(reversed(checkpoints)) if self.sort_reverse else list(checkpoints)
        elif self.sort_key.startswith("metric:"):
            self.rows = self._by_metric(checkpoints, self.sort_key.removeprefix("metric:"))
        else:
            self.rows = sorted(checkpoints, key=self._sort_function(), reverse=self.sort_reverse)
        if self.sort_key != "keep":  # the verdicts change with the plan, not with the run
            self._orders[key] = self.rows

    def index_of(self, ckpt: Checkpoint) -> int:
        """The row of ``ckpt``: by identity, in C, while the run is the one shown (a name index
        of 20,000 rows costs a sort or a new best step milliseconds more); else by its name.
        The highlighted row, which a mark or a pin leaves where it is, is looked at first."""
        if 0 <= self.cursor_row < len(self.rows) and self.rows[self.cursor_row] is ckpt:
            return self.cursor_row
        try:
            return list(map(is_, self.rows, repeat(ckpt))).index(True)
        except ValueError:
            return self.row_of(ckpt.step, ckpt.name)

    def sort_by(self, key: str, reverse: bool | None = None) -> None:
        current = self.highlighted
        self.sort_key = key
        if reverse is not None:
            self.sort_reverse = reverse
        self._sort()
        self.cursor_row = self.index_of(current) if current is not None else 0
        self.refresh()

    def cycle_sort(self) -> str:
        """Sort by the next column (the marker column has nothing to sort); returns its label."""
        columns = [c for c in self.columns if c.key != "mark"]
        keys = [c.key for c in columns]
        index = keys.index(self.sort_key) if self.sort_key in keys else -1
        column = columns[(index + 1) % len(columns)]
        self.sort_by(column.key, reverse=False)
        self.scroll_to_column(column.key)
        return column.label

    def reverse_sort(self) -> None:
        self.sort_by(self.sort_key, reverse=not self.sort_reverse)

    def scroll_to_column(self, key: str) -> None:
        """Scroll sideways so that column ``key`` is on screen (the sorted column, say)."""
        x = 0
        view = self.scrollable_content_region.width - self.frozen_width
        if key in FROZEN:  # back to the step: the columns beside it show whole again
            self.scroll_to(x=0, animate=False, force=True)
            return
        for column in self.columns:
            if column.key in FROZEN:
                continue
            if column.key == key:
                if x < self.scroll_x:
                    self.scroll_to(x=x, animate=False, force=True)
                elif x + column.width + 1 > self.scroll_x + view:
                    self.scroll_to(x=x + column.width + 1 - view, animate=False, force=True)
                return
            x += column.width + 1

    # -- jumping -------------------------------------------------------------
    def go_to_step(self, step: int) -> Checkpoint | None:
        """Highlight the step nearest ``step`` (the lower one of two as near); returns it."""
        ordered = self._by_step()
        if not ordered:
            return None
        index = bisect.bisect_left(ordered, (step, -1))
        above = ordered[index][0] if index < len(ordered) else None
        below = ordered[index - 1][0] if index > 0 else None
        nearest = below if above is None or (below is not None and step - below <= above - step) else above
        nearest_ckpt = ordered[bisect.bisect_left(ordered, (nearest, -1))][2]  # the first checkpoint at that step
        self.cursor_row = self.row_of(nearest_ckpt.step, nearest_ckpt.name)
        return nearest_ckpt

    def _by_step(self) -> list[tuple[int, int, Checkpoint]]:
        """The run's checkpoints with a step, by step (then as the run lists them): once per run."""
        if self._stepped_for is not self.run:
            candidates = self.run.checkpoints + self.run.pending if self.run else []
            self._stepped = sorted((c.step, index, c) for index, c in enumerate(candidates) if c.step is not None)
            self._stepped_for = self.run
        return self._stepped

    def _shown_values(self, metric: str, width: int) -> tuple[list[int], list[str]]:
        """A metric's steps and its values as its column shows them: once per run's metrics."""
        metrics = self.run.metrics
        if self._texts_for is not metrics:
            self._texts, self._texts_for = {}, metrics
        if (metric, width) not in self._texts:
            series = metrics.series(metric)
            values = [value for _, value in series]
            texts = map(format, values, repeat(".4g"))  # what fit_number writes when it fits: in C
            self._texts[metric, width] = ([step for step, _ in series], [
                text if len(text) <= width else fit_number(value, width) for text, value in zip(texts, values)])
        return self._texts[metric, width]

    def find(self, text: str) -> int:
        """Remember the steps whose number or a shown metric value (as the table writes it)
        holds ``text``; returns how many."""
        self.search, self._match_rows = text, None
        names_at, shown_values = self.prepare_search()
        steps = {int(number) for number in self._step_numbers if text in number}
        for numbers, texts in shown_values:
            steps.update(compress(numbers, [text in shown for shown in texts]))
        self._matches = {name for step in steps for name in names_at.get(step, ())}
        return len(self._matches)

    def prepare_search(self) -> tuple[dict[int, list[str]], list[tuple[list[int], list[str]]]]:
        """What a search looks at: the checkpoints' names at each step (the steps written out
        in ``_step_numbers``), once per run, and each metric column's steps and values as shown."""
        if self._names_for is not self.run:
            self._names_at = {}
            for step, _, ckpt in self._by_step():
                self._names_at.setdefault(step, []).append(ckpt.name)
            self._step_numbers = list(map(str, self._names_at))
            self._names_for = self.run
        self._rows_by_name()  # where n / N find the matches
        return self._names_at, [self._shown_values(column.key.removeprefix("metric:"), column.width)
                                for column in self.columns if column.key.startswith("metric:")]

    def matches(self, ckpt: Checkpoint) -> bool:
        return ckpt.name in self._matches

    def clear_search(self) -> bool:
        found, self.search, self._matches, self._match_rows = bool(self.search), "", set(), None
        return found

    def next_match(self, direction: int) -> bool:
        """The next row the search found, past the last row round to the first."""
        if self._match_rows is None:  # once per search and order, without a pass over the rows
            rows = self._rows_by_name()
            self._match_rows = sorted(rows[name] for name in self._matches if name in rows)
        return self._to_next(self._match_rows, direction)

    def _to_next(self, rows: list[int], direction: int) -> bool:
        """Move to the first of ``rows`` (ascending) after the cursor that way, wrapping round."""
        others = [r for r in rows if r != self.cursor_row]
        if not others:
            return False
        if direction > 0:
            index = bisect.bisect_right(others, self.cursor_row)
            self.cursor_row = others[index % len(others)]
        else:
            index = bisect.bisect_left(others, self.cursor_row) - 1
            self.cursor_row = others[index]
        return True

    def _kind(self, ckpt: Checkpoint) -> str:
        """What a row is, for n/N: in a preview, deleted or kept; else marked-out or plain."""
        if self.plan is not None:
            return "delete" if ckpt.step in self._deleted else "slim" if ckpt.key in self._slims else "keep"
        notable = (ckpt.step in self.best_steps or ckpt.step == (self.run.latest_step if self.run else None)
                   or ckpt.step in self._pins or ckpt.step in self.marks)
        return "notable" if notable else "plain"

    def jump_to_change(self, direction: int) -> bool:
        """Move to the next row (``direction`` 1 or -1) of another kind: in a preview, the
        next kept row among deleted ones and back; outside one, the next row with a mark.
        Wraps round, as a search does."""
        if not self.rows:
            return False
        if self.plan is None:  # rows with a mark: few, found with one pass of set look-ups
            latest = self.run.latest_step if self.run else None
            notable = ({latest} | self.best_steps | self._pins | self.marks) - {None}
            return self._to_next([i for i, c in enumerate(self.rows) if c.step in notable], direction)
        here = self._kind(self.rows[self.cursor_row])
        count = len(self.rows)
        for offset in range(1, count):  # past the last row, round to the first
            row = (self.cursor_row + direction * offset) % count
            kind = self._kind(self.rows[row])
            if kind != here if self.plan is not None else kind == "notable":
                self.cursor_row = row
                return True
        return False

    # -- cursor --------------------------------------------------------------
    @property
    def page_height(self) -> int:
        return max(self.scrollable_content_region.height - 1, 1)

    def watch_cursor_row(self, previous: int, row: int) -> None:
        top = self.scroll_offset.y
        self._scroll_to_cursor()
        # A new virtual size takes effect at the next layout, which may clamp the scroll above.
        self.call_after_refresh(self._scroll_to_cursor)
        if self.scroll_offset.y == top:  # else the scroll repaints every row
            self.refresh_line(previous + 1)
            self.refresh_line(row + 1)
        self.highlighted_signal.publish(self.highlighted)

    def _scroll_to_cursor(self) -> None:
        top = round(self.scroll_y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False, force=True)
        elif self.cursor_row >= top + self.page_height:
            self.scroll_to(y=self.cursor_row - self.page_height + 1, animate=False, force=True)

    def _move_to(self, row: int) -> None:
        if self.rows:
            self.cursor_row = max(0, min(row, len(self.rows) - 1))

    def action_cursor(self, delta: int) -> None:
        self._move_to(self.cursor_row + delta)

    def action_page(self, direction: int) -> None:
        self._move_to(self.cursor_row + direction * self.page_height)

    def action_jump(self, row: int) -> None:
        self._move_to(row if row >= 0 else len(self.rows) - 1)

    def on_click(self, event: events.Click) -> None:
        if event.y >= 1:
            self._move_to(round(self.scroll_y) + event.y - 1)

    def on_resize(self) -> None:
        self._scroll_to_cursor()

    def watch_show_horizontal_scrollbar(self) -> None:
        # The scrollbar takes a line from the page: keep the cursor row in view.
        self.call_after_refresh(self._scroll_to_cursor)

    # -- rendering -----------------------------------------------------------
    def _cells(self, ckpt: Checkpoint) -> list[str]:
        cells = []
        for column in self.columns:
            key = column.key
            if key == "mark":
                text = "…  " if not ckpt.complete else ("★" if ckpt.step in self.best_steps else " ") + (
                    "L" if self.run and ckpt.step == self.run.latest_step else
                    "P" if ckpt.step in self._pins else " ") + (
                    "M" if ckpt.step in self.marks else "W" if ckpt.weights_only else " ")
            elif key == "step":
                text = self._step_text(ckpt, column.width)
            elif key == "size":
                text = size(ckpt.bytes)
            elif key == "mtime":
                text = stamp(ckpt.mtime, self.timezone)
            elif key == "keep":
                text = ckpt.note if not ckpt.complete else self._verdict(ckpt)
            else:
                value = self.run.metrics.value(ckpt.step, key.removeprefix("metric:")) if self.run else None
                text = fit_number(value, column.width)
            cells.append(column.cell(text))
        return cells

    def _step_text(self, ckpt: Checkpoint, width: int = 0) -> str:
        """The step; its name too where another checkpoint has the same step, cut at the front
        when too long (``-v1``, ``-last`` end the names that share a step)."""
        text = step_label(ckpt.step, ckpt.name, self._shared)
        if not width or len(text) <= width or ckpt.step is None:
            return text
        return f"{ckpt.step} (…{ckpt.name[len(str(ckpt.step)) + 4 - width:]})"

    def _verdict(self, ckpt: Checkpoint) -> str:
        if ckpt.step in self._deleted:
            return "DEL marked" if ckpt.step in self.marks else "DEL"
        reasons = ", ".join(self._reasons.get(ckpt.step, ()))
        slim = self._slims.get(ckpt.key)
        return f"SLIM -{size(slim.bytes)}; {reasons}" if slim else reasons

    def _line(self, pieces: list[str], width: int) -> list[tuple[int, str]]:
        """Frozen columns, then the scrolled rest; (column index, text) pairs."""
        frozen = len([c for c in self.columns if c.key in FROZEN])
        out = list(enumerate(pieces[:frozen]))
        rest = window(pieces[frozen:], round(self.scroll_x), max(width - self.frozen_width, 0))
        return out + [(index + frozen, text) for index, text in rest]

    def _header(self, width: int) -> Strip:
        header = self.get_component_rich_style("checkpoint-table--header")
        sorted_style = self.get_component_rich_style("checkpoint-table--sorted")
        pieces = []
        for column in self.columns:
            label = column.label
            if column.key == self.sort_key:
                # The arrow must show: the label gives way to it.
                label = fit_text(label, column.width - 1) + ("▼" if self.sort_reverse else "▲")
            pieces.append(column.cell(label) + " ")
        segments = [Segment(text, sorted_style if self.columns[index].key == self.sort_key else header)
                    for index, text in self._line(pieces, width)]
        return Strip(segments).extend_cell_length(width, header)

    @property
    def base_style(self) -> Style:
        """The widget's own style (Textual works it out through every ancestor at each call:
        milliseconds a frame when asked for every row)."""
        if self._base_style is None:
            self._base_style = self.rich_style
        return self._base_style

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._base_style = None

    def _row_style(self, index: int, ckpt: Checkpoint) -> Style:
        style = self.base_style
        if not ckpt.complete:
            style += self.get_component_rich_style("checkpoint-table--pending")
        elif ckpt.step in self._deleted:
            style += self.get_component_rich_style("checkpoint-table--delete")
        elif ckpt.key in self._slims:
            style += self.get_component_rich_style("checkpoint-table--slim")
        elif ckpt.step in self.marks:
            style += self.get_component_rich_style("checkpoint-table--marked")
        elif ckpt.step in self.best_steps:
            style += self.get_component_rich_style("checkpoint-table--best")
        elif self.run is not None and ckpt.step == self.run.latest_step:
            style += self.get_component_rich_style("checkpoint-table--latest")
        if index == self.cursor_row:
            style += self.get_component_rich_style("checkpoint-table--cursor")
        return style

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if y == 0:
            return self._header(width)
        index = round(self.scroll_y) + y - 1
        if index >= len(self.rows):
            return Strip.blank(width, self.base_style)
        ckpt = self.rows[index]
        fill = self._row_style(index, ckpt)
        text = "".join(piece for _, piece in self._line([cell + " " for cell in self._cells(ckpt)], width))
        return Strip([Segment(text, fill)]).crop_extend(0, width, fill)
