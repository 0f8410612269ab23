"""Moving through many steps and marking many at once: the main screen's step tools.

Jump to a step number, search the step table, mark a range, every step, the
inverse, or the steps a condition picks. Which steps stay whatever is marked
is the planner's answer (``never_marked``), never decided here.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import compress
from typing import TYPE_CHECKING

from textual import work
from textual.binding import Binding
from textual.worker import get_current_worker

from ...core.conditions import EXAMPLES, Columns, never_marked, parse_conditions
from ...core.errors import CkptError
from ...formatting import step_ranges

if TYPE_CHECKING:
    from ...core.models import Run
    from ...core.retention import Policy

STEP_BINDINGS = [
    Binding("colon,J", "jump_to_step", "Go to step", show=False,
            tooltip="Go to a step number (the nearest step there is)"),
    Binding("a", "mark_all", "Mark all", show=False,
            tooltip="Mark every step of the run (not those that must stay)"),
    Binding("i", "invert_marks", "Invert marks", show=False,
            tooltip="Mark the unmarked steps and unmark the marked ones"),
    Binding("M", "mark_where", "Mark where", show=False,
            tooltip="Mark the steps a condition picks: val/reward < 0.5, older than 7d, size > 1G"),
    Binding("W", "choose_full_state", "Slim", show=False,
            tooltip="Slim kept steps to their weights: choose which keep full state (optimizer, scheduler, RNG)"),
]


def skipped_text(skipped: dict[int, str]) -> str:
    """``2 skipped: latest (19999); pinned (12, 40)``: what stays, grouped by why."""
    if not skipped:
        return ""
    groups: dict[str, list[int]] = {}
    for step, why in sorted(skipped.items()):
        groups.setdefault(why, []).append(step)
    return f"{len(skipped)} skipped: " + "; ".join(f"{why} ({step_ranges(steps)})" for why, steps in groups.items())


# Actions on the highlighted step: shown disabled (greyed in the footer) while there is none.
NEEDS_STEP = frozenset({"fork", "copy_path", "show_disk", "pin", "mark", "mark_range", "jump_to_step", "jump",
                        "search_steps"})
# Actions on the current run, its steps and metrics read: disabled while it loads or there is none.
NEEDS_RUN = frozenset({"preview_run", "preview_project", "pick_metric", "save_policy", "mark", "mark_range",
                       "mark_all", "invert_marks", "mark_where", "compare_runs", "cycle_direction", "offload"})
# Actions the saved policies must allow: disabled while they cannot be used (the top line says why).
NEEDS_POLICY = frozenset({"preview_run", "preview_project", "delete", "offload"})


class StepTools:
    """Actions of the main screen on the steps of the current run (mixed into ``MainScreen``)."""

    # -- jump and search -------------------------------------------------------
    def action_jump_to_step(self) -> None:
        from .prompt import Prompt

        def chosen(text: str | None) -> None:
            if text is not None and self.run is not None:
                found = self.table.go_to_step(int(text))
                self.table.focus()
                if found is not None and found.step != int(text):
                    self.notify(f"no step {text}; the nearest is {found.step}", timeout=3)

        first = self.run.checkpoints[0].step if self.run.checkpoints else 0
        Prompt.open(self.app, "Go to step", f"a step number, {first}-{self.run.latest_step or 0}: the nearest "
                    "step there is", cursor_blink=self.app.cursor_blink, restrict=r"\d*", answered=chosen).show()

    def action_search_steps(self) -> None:
        from .prompt import Prompt

        def chosen(text: str | None) -> None:
            if text is None:
                return
            count = self.table.find(text)
            self.table.focus()
            if count and (self.table.highlighted is None or not self.table.matches(self.table.highlighted)):
                self.table.next_match(1)
            # One toast for the search, as for the marks: a new search says its count in it.
            self.app.notify(f"{count} step(s) match {text!r}" + (": n / N for the next / previous, Esc clears"
                                                                    if count else ""),
                            title="Search", severity="information" if count else "warning", timeout=4, replace=True)

        Prompt.open(self.app, "Search steps", "a step number or a metric value, as the table shows it",
                    value=self.table.search, cursor_blink=self.app.cursor_blink, answered=chosen).show()
        self.call_after_refresh(self.table.prepare_search)  # read while the text is typed, not on Enter

    def action_choose_full_state(self) -> None:
        """The rule chooser, at its *Full state for* field: what slimming keeps."""
        self.action_choose_rules()
        chooser = self.app.screen
        if chooser is not self:
            chooser.call_after_refresh(lambda: chooser.query_one("#full-text").focus())

    # -- marks in bulk -----------------------------------------------------------
    def _set_marks(self, marks: frozenset[int], skipped: dict[int, str], verb: str) -> None:
        before = self.marks.get(self.current, frozenset())
        self.marks[self.current] = marks
        self._policy_changed()
        added, removed = len(marks - before), len(before - marks)
        changed = ", ".join(part for part in (f"marked {added}" if added else "",
                                              f"unmarked {removed}" if removed else "") if part) or "no change"
        # One toast for the marks, saying the last count: a held key would stack dozens of them.
        self.app.notify(f"{verb}: {changed}; {len(marks)} marked in all" + (f"\n{skipped_text(skipped)}" if skipped else ""),
                        title="Marks", timeout=8 if skipped else 4, replace=True)

    def _never_key(self, run: Run) -> tuple[str, Policy]:
        policy = self.policy_for(run)._replace(marked=frozenset())  # marks do not change the answer
        return ("never marked", policy)

    def _never(self, run: Run) -> dict[int, str]:
        """Steps that stay whatever is marked: a plan of the whole run, made once per run and rule
        (for the run shown, most often worked out ahead in a worker: see ``prepare_never``)."""
        key = self._never_key(run)
        return self.memo.get(run, key, lambda: never_marked(run, key[1]))

    def prepare_never(self) -> None:
        """Once the current run is read in full (and after each new read of it), the steps that
        stay whatever is marked are worked out in a worker, so that the first ``i`` or ``a``
        of a run of 20,000 steps does not make a plan of the whole run on the event loop."""
        run = self.run
        if run is None or not self.metrics_ready or self.memo.holds(run, key := self._never_key(run)):
            return
        self._work_out_never(run, key)

    @work(thread=True, exclusive=True, exit_on_error=False, group="never marked")
    def _work_out_never(self, run: Run, key: tuple[str, Policy]) -> None:
        worker = get_current_worker()
        never = never_marked(run, key[1])
        if not worker.is_cancelled:
            self.app.call_from_thread(self._never_worked_out, run, key, never)

    def _never_worked_out(self, run: Run, key: tuple[str, Policy], never: dict[int, str]) -> None:
        # Kept only for the run still shown, under the rule it was worked out for (the key):
        # a run read again or switched meanwhile is not held by the memo for nothing.
        if run is self.run:
            self.memo.get(run, key, lambda: never)

    def mark_steps(self, steps: Iterable[int], verb: str) -> None:
        """Add ``steps`` to the run's marks, less those that stay whatever is marked."""
        never = self._never(self.run)
        wanted = steps if isinstance(steps, frozenset) else frozenset(steps)
        # The steps that stay are a few: looked up among the wanted ones, not the other way round.
        skipped = {s: why for s, why in never.items() if s in wanted}
        self._set_marks(self.marks.get(self.current, frozenset()) | wanted.difference(skipped), skipped, verb)

    def _steps(self, run: Run) -> frozenset[int]:
        """Every step number of ``run``, made once per run (``a`` and ``i`` on 20,000 steps)."""
        return self.memo.get(run, "steps", lambda: frozenset(c.step for c in run.checkpoints))

    def action_mark_all(self) -> None:
        self.mark_steps(self._steps(self.run), "every step")

    def action_invert_marks(self) -> None:
        never = self._never(self.run)
        marks = self.marks.get(self.current, frozenset())
        steps = self._steps(self.run)
        skipped = {s: why for s, why in never.items() if s in steps}  # a few steps, not every one
        self._set_marks(steps.difference(marks, skipped), skipped, "inverted")

    def action_mark_range(self, direction: int) -> None:
        """Shift+arrows: mark the highlighted step (never unmark) and move on."""
        ckpt = self.table.highlighted
        marks = self.marks.get(self.current, frozenset())
        if ckpt.step not in marks:
            why = self._never(self.run).get(ckpt.step) if ckpt.complete else (ckpt.note or "incomplete")
            if why:
                self.app.notify(f"step {ckpt.step} stays: {why}", title="Marks", severity="warning", timeout=3,
                            replace=True)  # held shift+arrows: one toast, not one per step
            else:
                self.marks[self.current] = marks | {ckpt.step}
                self._policy_changed()
        self.table.action_cursor(direction)

    def _columns(self, run: Run) -> Columns:
        """The run's checkpoints as columns for conditions, made once per run."""
        return self.memo.get(run, "columns", lambda: Columns(run))

    def _picked(self, run: Run, text: str) -> list[bool]:
        """Whether ``text`` picks each step of ``run``, in the run's order (raises what is wrong with
        it): the last answer is kept, so that Enter does not pick again what the dialog counted as
        the text was typed."""
        last = getattr(self, "_last_picked", None)
        if last is None or last[0] is not run or last[1] != text:
            conditions = parse_conditions(text, self.metric_names(run))
            last = self._last_picked = (run, text, self._columns(run).matching(conditions))
        return last[2]

    def condition_check(self, run: Run, text: str) -> str:
        """What marking by ``text`` would do, as the user types it: counted, no step listed."""
        try:
            picked = self._picked(run, text)
        except CkptError as exc:
            return f"!{exc}"
        columns = self._columns(run)
        marks, skipped = columns.picked_steps(picked, self._never(run))
        return f"marks {marks} of {len(columns.index)} steps" + (
            f"; {skipped_text(skipped)}" if skipped else "")

    def action_mark_where(self) -> None:
        from .prompt import Prompt

        run, key = self.run, self.current

        def chosen(text: str | None) -> None:
            if text is None or self.current != key:
                return
            self.mark_steps(compress(self._columns(run).steps, self._picked(run, text)), f"where {text}")

        dialog = Prompt.open(self.app, "Mark the steps where", f"for example {EXAMPLES}",
                             lambda text: self.condition_check(run, text), cursor_blink=self.app.cursor_blink,
                             answered=chosen)
        dialog.show()
        dialog.call_after_refresh(self._prepare_columns, run)  # once the dialog is drawn, not at a key typed

    def _prepare_columns(self, run: Run) -> None:
        """The columns a condition is compared over, and the values of the metric in force (the one
        most often typed), made once the dialog is on screen."""
        metric = self.policy_for(run).metric
        columns = self._columns(run)
        if metric is not None and metric in self.metric_names(run):
            columns.values(metric)
