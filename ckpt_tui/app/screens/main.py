"""The main screen: runs on the left, the selected run's steps, plot and details on the right.

Every store call happens in a thread worker; results come back through
``call_from_thread`` and worker errors reach one handler, which shows them.
"""

from __future__ import annotations

from dataclasses import replace

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, Tree
from textual.worker import Worker, WorkerState, get_current_worker

from ...core.errors import CkptError, NotFound
from ...core.execute import DeletionResult, execute_plan
from ...core.fork import ForkResult, fork_checkpoint
from ...core.models import Run
from ...core.retention import Plan, Policy, plan_run
from ...formatting import size, step_ranges
from ..widgets import CheckpointTable, DetailsPanel, MetricPlot, RunSummary, RunTree, StatusLine
from .confirm import ConfirmDelete
from .error import ErrorScreen
from .fork import ForkScreen
from .help import HelpScreen
from .metric_picker import MetricPicker
from .rules import RuleChooser

RunKey = tuple[str, str]
MODES = ("auto", "max", "min")
DEFAULT_COLUMNS = ("val/", "train/reward")


def default_columns(names: list[str], policy: Policy, extra: set[str]) -> list[str]:
    """``val/*`` and ``train/reward`` first, the chosen metric always, then picked ones."""
    shown = [n for n in names if n.startswith(DEFAULT_COLUMNS) or n == policy.metric or n in extra]
    if policy.metric in shown:
        shown.remove(policy.metric)
        shown.insert(0, policy.metric)
    return shown


class MainScreen(Screen[None]):
    BINDINGS = [
        Binding("slash", "filter", "Filter", tooltip="Filter runs by name"),
        Binding("s", "sort", "Sort", tooltip="Sort the steps by the next column"),
        Binding("S", "reverse_sort", "Reverse sort", show=False, tooltip="Reverse the sort order"),
        Binding("m", "pick_metric", "Metric", tooltip="Choose the metric that defines the best step"),
        Binding("d", "cycle_direction", "Max/min", tooltip="Cycle the metric direction: auto, max, min"),
        Binding("u", "choose_rules", "Rules", tooltip="Choose the retention rule"),
        Binding("p", "pin", "Pin", tooltip="Pin or unpin the highlighted step (always kept)"),
        Binding("v", "preview_run", "Preview", tooltip="Preview what the rule deletes in this run"),
        Binding("V", "preview_project", "Preview project", show=False,
                tooltip="Preview every run of this project, each with its own plan"),
        Binding("x,delete", "delete", "Delete", tooltip="Delete what the preview marks (asks first)"),
        Binding("f", "fork", "Fork", tooltip="Copy the highlighted step into a new run"),
        Binding("r", "refresh", "Refresh", tooltip="Re-read the location"),
        Binding("c", "copy_path", "Copy path", show=False,
                tooltip="Copy the highlighted step's path or URL to the clipboard (OSC 52)"),
        Binding("escape", "clear", "Clear preview", show=False, tooltip="Clear the preview or the filter"),
        Binding("question_mark", "help", "Help", tooltip="Show every key"),
        Binding("q", "app.quit", "Quit", tooltip="Quit"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.listing: dict[str, list[str]] = {}
        self.runs: dict[RunKey, Run] = {}
        self.summaries: dict[RunKey, RunSummary] = {}
        self.current: RunKey | None = None
        self.run: Run | None = None
        self.metrics_ready = False
        self.plans: dict[RunKey, Plan] = {}
        self.preview_scope: str | None = None
        self.extra_columns: set[str] = set()
        self.noted: set[RunKey] = set()

    # -- layout --------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield StatusLine("opening…", id="status")
        with Horizontal(id="body"):
            with Vertical(id="sidebar"):
                yield Input(placeholder="filter runs", id="filter")
                yield RunTree(id="runs")
            with Vertical(id="main"):
                yield CheckpointTable(id="checkpoints")
                with Horizontal(id="bottom"):
                    yield MetricPlot(id="plot")
                    yield DetailsPanel(id="details")
        yield Footer()

    def on_mount(self) -> None:
        filter_input = self.query_one("#filter", Input)
        filter_input.display = False
        filter_input.cursor_blink = self.app.cursor_blink
        self.query_one(RunTree).focus()
        self.load_listing()

    def on_resize(self) -> None:
        self.set_class(self.size.width < 100, "-narrow")
        self.set_class(self.size.height < 30, "-short")

    @property
    def policy(self) -> Policy:
        return self.app.policy

    @policy.setter
    def policy(self, policy: Policy) -> None:
        self.app.policy = policy
        self._policy_changed()

    @property
    def table(self) -> CheckpointTable:
        return self.query_one(CheckpointTable)

    # -- loading (workers) -----------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="listing")
    def load_listing(self, select: RunKey | None = None) -> None:
        store = self.app.open_store()
        listing = {project: store.list_runs(project) for project in store.list_projects()}
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self.show_listing, listing, select)

    @work(thread=True, exclusive=True, exit_on_error=False, group="run")
    def load_run(self, key: RunKey) -> None:
        """Steps first (fast), metrics after, so that the table appears early."""
        worker = get_current_worker()
        store = self.app.open_store()
        run = store.load_run(*key, with_metrics=False)
        if worker.is_cancelled:
            return
        self.app.call_from_thread(self.show_run, run, False)
        run = replace(run, metrics=store.read_metrics(*key))
        if not worker.is_cancelled:
            self.app.call_from_thread(self.run_loaded, run)

    @work(thread=True, exclusive=True, exit_on_error=False, group="summaries")
    def load_summaries(self, keys: list[RunKey]) -> None:
        worker = get_current_worker()
        store = self.app.open_store()
        for key in keys:
            if worker.is_cancelled:
                return
            try:
                run = store.load_run(*key)
            except Exception:  # noqa: BLE001 - a summary is optional; opening the run shows the error
                continue
            self.app.call_from_thread(self.run_loaded, run)

    @work(thread=True, exclusive=True, exit_on_error=False, group="preview")
    def load_project(self, project: str) -> None:
        store = self.app.open_store()
        runs = [store.load_run(project, name) for name in self.listing.get(project, [])]
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self.show_project_preview, runs)

    # -- showing -----------------------------------------------------------------
    def show_listing(self, listing: dict[str, list[str]], select: RunKey | None = None) -> None:
        self.listing = listing
        pattern = self.query_one("#filter", Input).value
        target = self.query_one(RunTree).show_runs(listing, self.summaries, pattern, select or self.current)
        if target is None:
            self.current, self.run = None, None
            self.refresh_view()
            self.notify("no runs here" if not pattern else f"no run matches {pattern!r}", severity="warning")
        else:
            self.open_run(target, force=True)
        keys = [(p, r) for p, runs in listing.items() for r in runs]
        self.load_summaries([k for k in keys if k not in self.runs and k != target])

    def open_run(self, key: RunKey, force: bool = False) -> None:
        if key == self.current and not force:
            return
        self.current = key
        if key in self.runs and not force:
            self.show_run(self.runs[key])
        else:
            self.load_run(key)

    def run_loaded(self, run: Run) -> None:
        key = (run.project, run.name)
        if run.metrics.notes and key not in self.runs and key == self.current:
            self.notify("\n".join(run.metrics.notes), title=f"{run.project}/{run.name}",
                        severity="warning", timeout=10)
        self.runs[key] = run
        self.summaries[key] = self._summary(run)
        self.query_one(RunTree).update_summary(key, self.summaries[key])
        if key == self.current:
            self.show_run(run)
        else:
            self._show_status()

    def show_run(self, run: Run, metrics_ready: bool = True) -> None:
        if (run.project, run.name) != self.current:
            return
        self.run, self.metrics_ready = run, metrics_ready
        key = (run.project, run.name)
        if run.notes and key not in self.noted:  # what could not be read or was not followed: said once
            self.noted.add(key)
            self.notify("\n".join(run.notes), title=f"{run.project}/{run.name}", severity="warning", timeout=10)
        if metrics_ready and key in self.plans:
            self.plans[key] = plan_run(run, self.policy)
        self.refresh_view()

    def _summary(self, run: Run) -> RunSummary:
        best = plan_run(run, self.policy).best_step if self.policy.metric else None
        return RunSummary(len(run.checkpoints), run.total_bytes, run.latest_step, best)

    def refresh_view(self) -> None:
        run = self.run
        plan = self.plans.get(self.current) if self.current else None
        live = plan or (plan_run(run, self.policy) if run and self.metrics_ready else None)
        best_step = live.best_step if live else None
        columns = default_columns(run.metrics.names(), self.policy, self.extra_columns) if run else []
        self.table.show(run, columns, plan, best_step, self.app.timezone)
        metric = self.policy.metric
        self.query_one(MetricPlot).show(
            metric, run.metrics.series(metric) if run and metric else [], self.policy.direction,
            best_step, live.best_value if live else None)
        self._show_details()
        self._show_status()

    def _show_details(self) -> None:
        ckpt = self.table.highlighted
        plan = self.plans.get(self.current) if self.current else None
        reasons = plan.reasons().get(ckpt.step) if plan and ckpt else None
        deleted = bool(plan and ckpt and ckpt.step in plan.delete_steps)
        self.query_one(DetailsPanel).show(self.run, ckpt, reasons, deleted, self.app.display_location)

    def preview_text(self) -> str | None:
        if not self.preview_scope:
            return None
        plans = list(self.plans.values())
        steps = sum(len(p.delete) for p in plans if not p.refused)
        freed = sum(p.freed_bytes for p in plans if not p.refused)
        text = f"preview ({self.preview_scope}): would delete {steps} steps, free {size(freed)}"
        refused = sum(1 for p in plans if p.refused)
        return text + (f"; {refused} run(s) refused" if refused else "")

    def _show_status(self) -> None:
        summaries = self.summaries.values()
        checkpoints = sum(s.checkpoints for s in summaries)
        total = sum(s.bytes for s in summaries)
        self.query_one(StatusLine).show(self.app.location_label, checkpoints, size(total),
                                        self.policy.describe(), self.preview_text())

    @on(CheckpointTable.Highlighted)
    def step_highlighted(self) -> None:
        self._show_details()

    @on(Tree.NodeHighlighted)
    def run_highlighted(self, event: Tree.NodeHighlighted) -> None:
        if isinstance(event.node.data, tuple):
            self.open_run(event.node.data)

    @on(Tree.NodeSelected)
    def run_selected(self, event: Tree.NodeSelected) -> None:
        if isinstance(event.node.data, tuple):
            self.table.focus()

    # -- errors --------------------------------------------------------------
    @on(Worker.StateChanged)
    def worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        message = str(error) if isinstance(error, (CkptError, OSError)) else None
        screen = self.app.screen
        if isinstance(screen, ForkScreen) and screen.running:
            screen.failed(message or f"{type(error).__name__}: {error}")
            return
        if isinstance(screen, ConfirmDelete) and screen.running:
            screen.dismiss(False)
        if message is None:
            self.app.push_screen(ErrorScreen("Unexpected error", f"{type(error).__name__}: {error}"))
            return
        self.notify(message, title="Error", severity="error", timeout=12)
        if isinstance(error, NotFound) and event.worker.group in ("run", "preview"):
            self.runs.pop(self.current, None)
            self.load_listing()  # the run vanished: show what is there now

    # -- actions: browsing -----------------------------------------------------
    def action_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.display = True
        field.focus()

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        target = self.query_one(RunTree).show_runs(self.listing, self.summaries, event.value, self.current)
        if target is not None:
            self.open_run(target)

    @on(Input.Submitted, "#filter")
    def filter_done(self) -> None:
        self.query_one(RunTree).focus()

    def action_clear(self) -> None:
        field = self.query_one("#filter", Input)
        if field.has_focus:
            if not field.value:
                field.display = False
            self.query_one(RunTree).focus()
        elif self.preview_scope:
            self.plans, self.preview_scope = {}, None
            self.refresh_view()
        elif field.value:
            field.value = ""
            field.display = False

    def action_sort(self) -> None:
        label = self.table.cycle_sort()
        self.notify(f"sorted by {label}", timeout=2)

    def action_reverse_sort(self) -> None:
        self.table.reverse_sort()

    def action_refresh(self) -> None:
        self.runs.clear()
        self.plans, self.preview_scope = {}, None
        self.load_listing(self.current)

    def action_copy_path(self) -> None:
        ckpt = self.table.highlighted
        if ckpt is None or not ckpt.location:
            self.notify("no step highlighted", severity="warning")
            return
        self.app.copy_to_clipboard(ckpt.location)
        self.notify(f"copied {ckpt.location}", timeout=4)

    def action_help(self) -> None:
        from ..commands import help_sections

        self.app.push_screen(HelpScreen(help_sections()))

    # -- actions: the rule -----------------------------------------------------
    def _policy_changed(self) -> None:
        for key in list(self.plans):
            if key in self.runs:
                self.plans[key] = plan_run(self.runs[key], self.policy)
        for key, run in self.runs.items():
            self.summaries[key] = self._summary(run)
            self.query_one(RunTree).update_summary(key, self.summaries[key])
        self.refresh_view()

    def action_pick_metric(self) -> None:
        if self.run is None or not self.metrics_ready:
            self.notify("the run is still loading", severity="warning")
            return

        def chosen(metric: str | None) -> None:
            if metric:
                self.extra_columns.add(metric)
                self.policy = self.policy.with_metric(metric)

        self.app.push_screen(MetricPicker(self.run.metrics.names(), self.policy.metric,
                                          self.policy.direction), chosen)

    def action_cycle_direction(self) -> None:
        if self.policy.metric is None:
            self.notify("choose a metric first (m)", severity="warning")
            return
        mode = MODES[(MODES.index(self.policy.mode) + 1) % len(MODES)]
        self.policy = self.policy.with_metric(self.policy.metric, mode)
        self.notify(f"{self.policy.metric}: {mode} ({self.policy.direction} is better)", timeout=3)

    def action_choose_rules(self) -> None:
        def chosen(policy: Policy | None) -> None:
            if policy is not None:
                self.policy = policy

        self.app.push_screen(RuleChooser(self.policy, self.app.cursor_blink), chosen)

    def action_pin(self) -> None:
        ckpt = self.table.highlighted
        if ckpt is None:
            return
        pinned = ckpt.step not in self.policy.pins
        self.policy = self.policy.toggle_pin(ckpt.step)
        self.notify(f"{'pinned' if pinned else 'unpinned'} step {ckpt.step}", timeout=3)

    # -- actions: preview and delete ---------------------------------------------
    def action_preview_run(self) -> bool:
        if self.run is None or not self.metrics_ready or self.current is None:
            self.notify("the run is still loading", severity="warning")
            return False
        plan = plan_run(self.run, self.policy)
        self.plans, self.preview_scope = {self.current: plan}, "run"
        if plan.refused:
            self.notify(plan.refused, title="Refused", severity="warning", timeout=12)
        self.refresh_view()
        return True

    def action_preview_project(self) -> None:
        if self.current is None:
            return
        self.load_project(self.current[0])

    def show_project_preview(self, runs: list[Run]) -> None:
        for run in runs:
            self.runs[(run.project, run.name)] = run
        self.plans = {(r.project, r.name): plan_run(r, self.policy) for r in runs}
        self.preview_scope = "project"
        refused = [p.refused for p in self.plans.values() if p.refused]
        if refused:
            self.notify("\n".join(refused), title="Refused", severity="warning", timeout=12)
        if self.current in self.runs:
            self.run, self.metrics_ready = self.runs[self.current], True
        self.refresh_view()

    def action_delete(self) -> None:
        if not self.preview_scope and not self.action_preview_run():
            return
        plans = [p for p in self.plans.values() if p.delete and not p.refused]
        if not plans:
            refused = [p.refused for p in self.plans.values() if p.refused]
            self.notify("\n".join(refused) or "nothing to delete under this rule",
                        title="Refused" if refused else "Delete", severity="warning", timeout=12)
            return
        note = self.app.store.deletion_note if self.app.store is not None else None
        self.app.push_screen(ConfirmDelete(plans, self.delete_plans, note))

    @work(thread=True, exclusive=True, exit_on_error=False, group="delete")
    def delete_plans(self, screen: ConfirmDelete) -> None:
        worker = get_current_worker()
        store = self.app.open_store()
        results: list[DeletionResult] = []
        refusals: list[str] = []
        base = 0

        def stop() -> bool:
            return worker.is_cancelled or screen.should_cancel()

        for plan in screen.plans:
            if stop():
                break

            def progress(done: int, total: int, item, plan: Plan = plan, base: int = base) -> None:
                self.app.call_from_thread(screen.advance, base + done,
                                          f"{plan.project}/{plan.run}: step {item.step}")

            try:
                results.append(execute_plan(store, plan, progress, stop))
            except CkptError as exc:
                refusals.append(str(exc))
            base += len(plan.delete)
        self.app.call_from_thread(self.deletion_done, screen, results, refusals)

    def deletion_done(self, screen: ConfirmDelete, results: list[DeletionResult],
                      refusals: list[str]) -> None:
        screen.dismiss(True)
        deleted = sum(len(r.deleted) for r in results)
        freed = sum(r.freed_bytes for r in results)
        planned = screen.steps
        stopped = any(r.cancelled for r in results) or screen.stop_requested
        message = f"deleted {deleted} checkpoint(s), freed {size(freed)}"
        if stopped and deleted < planned:
            message = f"stopped: {message}; {planned - deleted} left in place"
        notes = []
        for result in results:
            name = f"{result.plan.project}/{result.plan.run}"
            if result.spared:
                notes.append(f"{name}: spared {step_ranges(d.step for d in result.spared)} "
                             "(the run changed since the preview)")
            if result.failed:
                steps = step_ranges(item.step for item, _ in result.failed)
                notes.append(f"{name}: {len(result.failed)} step(s) not deleted ({steps}): "
                             f"{result.failed[0][1]}")
        notes += refusals
        failed = any(r.failed for r in results) or refusals
        self.notify("\n".join([message, *notes]), title="Deletion",
                    severity="error" if failed else "information", timeout=12 if notes else 6)
        self.action_refresh()

    # -- actions: fork -----------------------------------------------------------
    def action_fork(self) -> None:
        ckpt = self.table.highlighted
        if self.current is None or ckpt is None:
            self.notify("no step highlighted", severity="warning")
            return
        if not ckpt.complete:
            self.notify(f"{ckpt.name} is {ckpt.note or 'incomplete'}: only whole checkpoints can be forked",
                        severity="warning")
            return
        known = {(p, r) for p, runs in self.listing.items() for r in runs}
        self.app.push_screen(ForkScreen(*self.current, ckpt, known, self.fork_step,
                                        self.app.cursor_blink))

    @work(thread=True, exclusive=True, exit_on_error=False, group="fork")
    def fork_step(self, screen: ForkScreen, to_project: str, to_run: str) -> None:
        store = self.app.open_store()

        def progress(done: int, total: int) -> None:
            self.app.call_from_thread(screen.advance, done, total)

        try:
            result = fork_checkpoint(store, screen.project, screen.run, to_run, to_project,
                                     step=screen.checkpoint.step, progress=progress)
        except CkptError as exc:
            self.app.call_from_thread(screen.failed, str(exc))
            return
        self.app.call_from_thread(self.fork_done, screen, result)

    def fork_done(self, screen: ForkScreen, result: ForkResult) -> None:
        screen.dismiss((result.to_project, result.to_run))
        self.notify(f"forked {result.project}/{result.run} step {result.step} ({size(result.bytes)}) "
                    f"into {result.to_project}/{result.to_run}", title="Fork", timeout=6)
        self.current = None
        self.load_listing((result.to_project, result.to_run))
