"""The main screen: runs on the left, the selected run's steps, plot and details on the right.

Every store call happens in a thread worker of this screen (dialogs run their
own); results come back through ``call_from_thread``, and this screen's worker
errors reach one handler, which shows them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, Static, Tree
from textual.worker import Worker, WorkerState, get_current_worker

from ...core.errors import CkptError, NotFound
from ...core.fork import ForkResult
from ...core.models import Run
from ...core.retention import DEFAULT_METRIC, Plan, Policy, best_checkpoint, metric_for, plan_run
from ...formatting import size, step_ranges
from ..memo import Memo
from ..widgets import CheckpointTable, DetailsPanel, MetricPlot, RunSummary, RunTree, StatusLine
from ..widgets.run_tree import ORDERS
from ..widgets.status_line import StatusPart

if TYPE_CHECKING:
    from .confirm import DeletionReport
    from .metric_picker import MetricChoice

# Dialogs are imported when first opened: the first frame does not wait for them.

RunKey = tuple[str, str]
DEFAULT_COLUMNS = ("val/", "train/reward")


def default_columns(names: list[str], metric: str | None, extra: set[str]) -> list[str]:
    """``val/*`` and ``train/reward`` first, the chosen metric always, then picked ones."""
    shown = [n for n in names if n.startswith(DEFAULT_COLUMNS) or n == metric or n in extra]
    if metric in shown:
        shown.remove(metric)
        shown.insert(0, metric)
    return shown


def toggled(steps: frozenset[int], step: int) -> frozenset[int]:
    return steps - {step} if step in steps else steps | {step}


class MainScreen(Screen[None]):
    # Help and Quit first: the footer is cut from the right on narrow terminals.
    BINDINGS = [
        Binding("question_mark", "help", "Help", tooltip="Show every key and the legend"),
        Binding("q", "app.quit", "Quit", tooltip="Quit"),
        Binding("slash", "filter", "Filter", tooltip="Filter runs by name"),
        Binding("v", "preview_run", "Preview", tooltip="Preview what the rule deletes in this run"),
        Binding("V", "preview_project", "Preview project", show=False,
                tooltip="Preview every run of this project, each with its own plan"),
        Binding("x,delete", "delete", "Delete", tooltip="Delete what the preview marks (asks first)"),
        Binding("space", "mark", "Mark", show=False,
                tooltip="Mark or unmark the highlighted step for deletion (in the step table)"),
        Binding("n", "jump(1)", "Next", show=False,
                tooltip="Next kept row among deleted ones and back (outside a preview: next marked row)"),
        Binding("N", "jump(-1)", "Previous", show=False, tooltip="The same, upwards"),
        Binding("m", "pick_metric", "Metric", tooltip="Choose the metric that defines the best step"),
        Binding("d", "cycle_direction", "Max/min", show=False,
                tooltip="Cycle the metric direction: auto, max, min"),
        Binding("u", "choose_rules", "Rules", tooltip="Choose the retention rule"),
        Binding("p", "pin", "Pin", show=False, tooltip="Pin or unpin the highlighted step (always kept)"),
        Binding("s", "sort", "Sort", show=False, tooltip="Sort the steps by the next column"),
        Binding("S", "reverse_sort", "Reverse sort", show=False, tooltip="Reverse the sort order"),
        Binding("o", "order_runs", "Order runs", show=False,
                tooltip="Order the runs by name, size, checkpoints or latest step"),
        Binding("f", "fork", "Fork", tooltip="Copy the highlighted step into a new run"),
        Binding("r", "refresh", "Refresh", show=False, tooltip="Re-read the location"),
        Binding("c", "copy_path", "Copy path", show=False,
                tooltip="Copy the highlighted step's path or URL to the clipboard (OSC 52)"),
        Binding("escape", "clear", "Clear preview", show=False, tooltip="Clear the preview or the filter"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.listing: dict[str, list[str]] | None = None
        self.listing_error: str | None = None
        self.runs: dict[RunKey, Run] = {}
        self.summaries: dict[RunKey, RunSummary] = {}
        self.current: RunKey | None = None
        self.run: Run | None = None
        self.metrics_ready = False
        self.plans: dict[RunKey, Plan] = {}
        self.preview_scope: str | None = None
        self.extra_columns: set[str] = set()
        self.noted: set[RunKey] = set()
        # Pins and marks belong to a run, never to the rule.
        self.pins: dict[RunKey, frozenset[int]] = {}
        self.marks: dict[RunKey, frozenset[int]] = {}
        self.memo = Memo()
        self._unread: list[RunKey] = []  # runs whose summary is read after the first run's

    # -- layout --------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield StatusLine(f"{self.app.location_label}  opening…", id="status")
        with Horizontal(id="body"):
            with Vertical(id="sidebar"):  # the filter field is mounted above the runs on "/"
                yield RunTree(id="runs")
            with Vertical(id="main"):
                yield Static("", id="empty")
                yield CheckpointTable(id="checkpoints")
                yield Label("★ best · L latest · P pinned · M marked · DEL deleted by the preview · "
                            "? every key", id="legend")
                yield Horizontal(id="bottom")  # the chart and the details: mounted after the first frame
        yield Footer()

    def on_mount(self) -> None:
        tree = self.query_one(RunTree)
        tree.loading = True
        tree.focus()
        self.table.highlighted_signal.subscribe(self, self.step_highlighted, immediate=True)
        # The frame first (a thread reading the location would hold the interpreter's lock
        # meanwhile), then the run list; the chart and the details after it.
        self.call_after_refresh(self.load_listing)

    async def _mount_bottom(self) -> None:
        if self.query(MetricPlot):
            return
        await self.query_one("#bottom").mount_all([MetricPlot(id="plot"), DetailsPanel(id="details")])
        if self.run is not None:
            self.refresh_view()

    def on_resize(self) -> None:
        self.set_class(self.size.width < 100, "-narrow")
        self.set_class(self.size.height < 30, "-short")
        # At 80 columns the palette's entry would push Fork out of the footer (Ctrl+P still works).
        footer, wide = self.query_one(Footer), self.size.width >= 100
        if footer.show_command_palette != wide:
            footer.show_command_palette = wide
            footer.refresh(recompose=True)

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

    def policy_for(self, run: Run, key: RunKey | None = None) -> Policy:
        """The rule for one run: its own pins and marks, and a metric it logs when
        the metric in force is not logged and the user did not insist on it."""
        key = key or (run.project, run.name)
        policy = self.policy
        if self.app.auto_metric and policy.metric is not None:
            picked = metric_for(self.metric_names(run), policy.metric)
            if picked != policy.metric:
                policy = policy.with_metric(picked)
        return policy.with_steps(self.pins.get(key, frozenset()), self.marks.get(key, frozenset()))

    def metric_names(self, run: Run) -> list[str]:
        return self.memo.get(run.metrics, "names", run.metrics.names)

    def best_of(self, run: Run, policy: Policy) -> tuple[int | None, float | None]:
        """The best step and its value under ``policy`` (no plan needed: pins and marks
        do not change which step is best)."""
        if policy.metric is None:
            return None, None
        best = self.memo.get(run, ("best", policy.metric, policy.mode, policy.smoothing),
                             lambda: best_checkpoint(run, policy.metric, policy.mode, policy.smoothing))
        return best or (None, None)

    def series(self, run: Run, metric: str | None) -> list[tuple[int, float]]:
        if metric is None:
            return []
        return self.memo.get(run.metrics, ("series", metric), lambda: run.metrics.series(metric))

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
    def load_project(self, project: str, runs: list[str]) -> None:
        store = self.app.open_store()
        loaded = [store.load_run(project, name) for name in runs]
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self.show_project_preview, loaded)

    # -- showing -----------------------------------------------------------------
    def show_listing(self, listing: dict[str, list[str]], select: RunKey | None = None) -> None:
        self.listing, self.listing_error = listing, None
        tree = self.query_one(RunTree)
        tree.loading = False
        if self.focused is None:
            tree.focus()  # the loading indicator had taken the focus away
        pattern = self.filter_text
        target = tree.show_runs(listing, self.summaries, pattern, select or self.current)
        if target is None:
            self.current, self.run = None, None
            self.refresh_view()
            if pattern:
                self.notify(f"no run matches {pattern!r}", severity="warning")
        else:
            self.open_run(target, force=True)
        self.call_after_refresh(self._mount_bottom)
        keys = [(p, r) for p, runs in listing.items() for r in runs]
        self.summaries = {k: s for k, s in self.summaries.items() if k in keys}
        self._show_status()
        # The other runs are read once the first one is on screen: not competing with it.
        self._unread = [k for k in keys if k not in self.runs and k != target]
        if target is None:
            self._read_the_rest()

    def _read_the_rest(self) -> None:
        if self._unread:
            self.load_summaries(self._unread)
            self._unread = []

    def open_run(self, key: RunKey, force: bool = False) -> None:
        if key == self.current and not force:
            return
        self.current = key
        if key in self.runs and not force:
            self.show_run(self.runs[key])
        else:
            if self.run is None or (self.run.project, self.run.name) != key:
                self.table.loading = True
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
        self.table.loading = False
        self._read_the_rest()
        key = (run.project, run.name)
        if run.notes and key not in self.noted:  # what could not be read or was not followed: said once
            self.noted.add(key)
            self.notify("\n".join(run.notes), title=f"{run.project}/{run.name}", severity="warning", timeout=10)
        if metrics_ready and key in self.plans:
            self.plans[key] = plan_run(run, self.policy_for(run))
        self.refresh_view()

    def _summary(self, run: Run) -> RunSummary:
        best, _ = self.best_of(run, self.policy_for(run))
        total = self.memo.get(run, "bytes", lambda: run.total_bytes)
        return RunSummary(len(run.checkpoints), total, run.latest_step, best)

    def current_best(self) -> tuple[Policy, int | None, float | None]:
        """The current run's rule, best step and best value (from the preview when there is one)."""
        run = self.run
        plan = self.plans.get(self.current) if self.current else None
        if plan is not None:
            return plan.policy, plan.best_step, plan.best_value
        if run is None or not self.metrics_ready:
            return self.policy, None, None
        policy = self.policy_for(run)
        return (policy, *self.best_of(run, policy))

    def refresh_view(self) -> None:
        run, key = self.run, self.current
        self._show_empty()
        plan = self.plans.get(key) if key else None
        policy, best_step, _ = self.current_best()
        columns = default_columns(self.metric_names(run), policy.metric, self.extra_columns) if run else []
        # The table then publishes its highlighted step, which redraws the plot and the details.
        self.table.show(run, columns, plan, best_step, self.app.timezone,
                        self.pins.get(key, frozenset()), self.marks.get(key, frozenset()))
        self._show_status()

    def _show_plot(self) -> None:
        run, ckpt = self.run, self.table.highlighted
        policy, best_step, best_value = self.current_best()
        loading = run is not None and not self.metrics_ready
        plots = self.query(MetricPlot)
        if not plots:
            return  # not mounted yet: drawn once it is
        plot = plots.first()
        plot.loading = loading
        plot.show(policy.metric, self.series(run, policy.metric) if run else [], policy.direction_label,
                  best_step, best_value, ckpt.step if ckpt else None, policy.smoothing, loading=loading)

    def _show_empty(self) -> None:
        """With no run to show, say what was searched and how to look elsewhere."""
        empty = self.query_one("#empty", Static)
        nothing = self.listing_error is not None or (self.listing is not None and not any(self.listing.values()))
        self.set_class(nothing, "-empty")
        if nothing:
            found = self.listing_error or "no runs found"
            empty.update(
                f"[b]{found}[/b]\n\nSearched [b]{self.app.location_label}[/b] up to four levels down for "
                "checkpoints of ART, Hugging Face Trainer/TRL, Megatron-LM, verl, Lightning and Orbax.\n\n"
                "Open another location with [b]ckpt-tui PATH[/b] (a directory, s3://bucket/prefix or "
                "wandb://entity), or press [b]r[/b] to read this one again.")

    def _show_details(self) -> None:
        ckpt = self.table.highlighted
        plan = self.plans.get(self.current) if self.current else None
        reasons = plan.reasons().get(ckpt.step) if plan and ckpt else None
        deleted = bool(plan and ckpt and ckpt.step in plan.delete_steps)
        names = self.metric_names(self.run) if self.run and self.metrics_ready else None
        tags = self._tags(ckpt.step) if ckpt else ()
        for details in self.query(DetailsPanel):
            details.show(self.run, ckpt, reasons, deleted, self.app.display_location, tags, names)

    def _tags(self, step: int) -> tuple[str, ...]:
        """What the marker column says about ``step``, in words."""
        policy, best, _ = self.current_best()
        tags = {f"best {policy.metric}": step == best, "latest": self.run is not None and step == self.run.latest_step,
                "pinned": step in self.pins.get(self.current, frozenset()) | policy.pins,
                "marked for deletion": step in self.marks.get(self.current, frozenset())}
        return tuple(tag for tag, on in tags.items() if on)

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
        location = StatusPart(self.app.location_label, "bold", 3)
        if self.listing is None:
            what = "could not open" if self.listing_error else "opening…"
            self.query_one(StatusLine).show(location, StatusPart(what, "italic", 2))
            return
        total_runs = sum(len(runs) for runs in self.listing.values())
        summaries = [s for k, s in self.summaries.items()]
        totals = f"{sum(s.checkpoints for s in summaries)} checkpoints, {size(sum(s.bytes for s in summaries))}"
        if len(summaries) < total_runs:
            totals = f"reading runs {len(summaries)}/{total_runs}…"
        parts = [location, StatusPart(totals, "", 1)]
        if self.run is not None:
            policy = self.policy_for(self.run, self.current) if self.metrics_ready else self.policy
            parts.append(StatusPart(policy.describe(explain_auto=True), "italic", 2))
            if policy.metric != self.policy.metric:
                parts.append(StatusPart(f"picked: {self.policy.metric} not logged", "yellow", 2))
            elif self.metrics_ready and policy.metric and policy.metric not in self.metric_names(self.run):
                parts.append(StatusPart(f"{policy.metric} not logged here (m)", "yellow", 2))
        else:
            parts.append(StatusPart(self.policy.describe(explain_auto=True), "italic", 2))
        preview = self.preview_text()
        if preview:
            parts.append(StatusPart(preview, "bold red", 5))
        self.query_one(StatusLine).show(*parts)

    def step_highlighted(self, _checkpoint=None) -> None:
        self._show_details()
        if self.run is not None:
            self._show_plot()

    @on(Tree.NodeHighlighted)
    def run_highlighted(self, event: Tree.NodeHighlighted) -> None:
        if isinstance(event.node.data, tuple):
            self.open_run(event.node.data)

    @on(Tree.NodeSelected)
    def run_selected(self, event: Tree.NodeSelected) -> None:
        if isinstance(event.node.data, tuple):
            self.table.focus()

    def _ready(self) -> bool:
        """True when the highlighted run is loaded; otherwise says why not."""
        if self.listing is not None and not any(self.listing.values()):
            self.notify("no runs here: open another location, or r to read this one again",
                        severity="warning")
            return False
        if self.run is None or not self.metrics_ready or self.current is None:
            self.notify("the run is still loading", severity="warning")
            return False
        return True

    # -- errors --------------------------------------------------------------
    @on(Worker.StateChanged)
    def worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        group = event.worker.group
        if group == "listing":
            self.query_one(RunTree).loading = False
            self.call_after_refresh(self._mount_bottom)
            self.listing_error = str(error)
            self._show_empty()
            self._show_status()
        if group in ("run", "preview"):
            self.table.loading = False
            self._read_the_rest()
        if not isinstance(error, (CkptError, OSError)):
            from .error import ErrorScreen

            self.app.push_screen(ErrorScreen("Unexpected error", f"{type(error).__name__}: {error}"))
            return
        self.notify(str(error), title="Error", severity="error", timeout=12)
        if isinstance(error, NotFound) and group in ("run", "preview"):
            self.runs.pop(self.current, None)
            self.load_listing()  # the run vanished: show what is there now

    # -- actions: browsing -----------------------------------------------------
    def action_filter(self) -> None:
        field = self._filter_field()
        if field is None:
            field = Input(placeholder="filter runs", id="filter")
            field.cursor_blink = self.app.cursor_blink
            self.query_one("#sidebar").mount(field, before=0)
        field.display = True
        field.focus()

    def _filter_field(self) -> Input | None:
        fields = self.query("#filter")
        return fields.first(Input) if fields else None

    @property
    def filter_text(self) -> str:
        field = self._filter_field()
        return field.value if field is not None else ""

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        target = self.query_one(RunTree).show_runs(self.listing or {}, self.summaries, event.value,
                                                   self.current)
        if target is not None:
            self.open_run(target)

    @on(Input.Submitted, "#filter")
    def filter_done(self) -> None:
        self.query_one(RunTree).focus()

    def action_clear(self) -> None:
        field = self._filter_field()
        if field is not None and field.has_focus:
            if not field.value:
                field.display = False
            self.query_one(RunTree).focus()
        elif self.preview_scope:
            self._clear_preview()
            self.refresh_view()
        elif field is not None and field.value:
            field.value = ""
            field.display = False

    def _clear_preview(self) -> None:
        self.plans, self.preview_scope = {}, None
        self.query_one(RunTree).show_frees({})

    def action_sort(self) -> None:
        self.table.cycle_sort()  # the header's ▲ shows it, and the column is scrolled into view

    def action_reverse_sort(self) -> None:
        self.table.reverse_sort()

    def action_order_runs(self) -> None:
        tree = self.query_one(RunTree)
        tree.order = ORDERS[(ORDERS.index(tree.order) + 1) % len(ORDERS)]
        tree.show_runs(self.listing or {}, self.summaries, self.filter_text,
                       self.current)
        self.notify(f"runs ordered by {tree.order}" + ("" if tree.order == "name" else ", largest first"),
                    timeout=2)

    def action_jump(self, direction: int) -> None:
        if not self.table.jump_to_change(direction):
            self.app.bell()  # nothing further that way, as at the end of a list

    def action_refresh(self) -> None:
        self.runs.clear()
        self._clear_preview()
        self.load_listing(self.current)

    def action_copy_path(self) -> None:
        ckpt = self.table.highlighted
        if ckpt is None or not ckpt.location:
            self.notify("no step highlighted", severity="warning")
            return
        self.app.copy_to_clipboard(ckpt.location)
        self.notify(f"copied {ckpt.location}", timeout=4)

    def help_sections(self) -> list[tuple[str, list[Binding]]]:
        """Every key, from the bindings of this screen and of the widgets it holds."""
        return [("Actions", list(self.BINDINGS)), ("Run list", list(RunTree.BINDINGS)),
                ("Steps", list(CheckpointTable.BINDINGS))]

    def action_help(self) -> None:
        from .help import HelpScreen

        self.app.push_screen(HelpScreen(self.help_sections()))

    # -- actions: the rule -----------------------------------------------------
    def _policy_changed(self) -> None:
        for key in list(self.plans):
            if key in self.runs:
                self.plans[key] = plan_run(self.runs[key], self.policy_for(self.runs[key]))
        tree = self.query_one(RunTree)
        for key, run in self.runs.items():
            self.summaries[key] = self._summary(run)
            tree.update_summary(key, self.summaries[key])
        if self.preview_scope == "project":
            tree.show_frees({k: p.freed_bytes for k, p in self.plans.items() if not p.refused})
        self.refresh_view()

    def action_pick_metric(self) -> None:
        if not self._ready():
            return
        from .metric_picker import MetricPicker

        shown = self.policy_for(self.run).metric

        def chosen(choice: MetricChoice | None) -> None:
            if choice is None:
                return
            self.app.auto_metric = choice.metric is None
            metric = choice.metric or DEFAULT_METRIC
            if choice.metric:
                self.extra_columns.add(choice.metric)
            self.policy = self.policy.with_metric(metric, choice.mode)

        self.app.push_screen(MetricPicker(self.metric_names(self.run), shown, self.policy.mode,
                                          self.app.auto_metric), chosen)

    def action_cycle_direction(self) -> None:
        if self.policy.metric is None:
            self.notify("choose a metric first (m)", severity="warning")
            return
        from .metric_picker import next_mode

        self.policy = self.policy.with_metric(self.policy.metric, next_mode(self.policy.mode))
        # The top line shows the direction, (auto→min) or (max).

    def action_choose_rules(self) -> None:
        def chosen(policy: Policy | None) -> None:
            if policy is not None:
                self.policy = policy

        pinned = [f"{run} {step_ranges(steps)}" for (_, run), steps in self.pins.items() if steps]
        note = f"pins stay with their runs: {'; '.join(pinned)} (p unpins)" if pinned else ""
        from .rules import RuleChooser

        self.app.push_screen(RuleChooser(self.policy, self.app.cursor_blink, note), chosen)

    def action_pin(self) -> None:
        ckpt = self.table.highlighted
        if ckpt is None or self.current is None:
            return
        pins = self.pins.get(self.current, frozenset())
        self.pins[self.current] = toggled(pins, ckpt.step)
        self.marks[self.current] = self.marks.get(self.current, frozenset()) - {ckpt.step}
        self._policy_changed()  # the row's P and the top line say it; no toast to cover the screen

    def action_mark(self) -> None:
        """Space in the step table: mark a step for deletion, as in ncdu; latest and best refuse."""
        ckpt = self.table.highlighted
        if ckpt is None or self.current is None or not self._ready():
            return
        marks = self.marks.get(self.current, frozenset())
        if ckpt.step not in marks:
            why = self._unmarkable(ckpt)
            if why:
                self.notify(f"step {ckpt.step} cannot be marked: {why}", severity="warning", timeout=4)
                return
        self.marks[self.current] = toggled(marks, ckpt.step)
        self._policy_changed()
        self.table.action_cursor(1)

    def _unmarkable(self, ckpt) -> str | None:
        policy, best, _ = self.current_best()
        if not ckpt.complete:
            return f"it is {ckpt.note or 'incomplete'}"
        if ckpt.step == self.run.latest_step:
            return "it is the latest step, which is always kept"
        if ckpt.step == best:
            return f"it is the best step by {policy.metric}, which is always kept"
        if ckpt.step in self.pins.get(self.current, frozenset()):
            return "it is pinned (p unpins it)"
        if ckpt.step in self.run.protected:
            return ", ".join(self.run.protected[ckpt.step])
        return None

    # -- actions: preview and delete ---------------------------------------------
    def action_preview_run(self) -> bool:
        if not self._ready():
            return False
        plan = plan_run(self.run, self.policy_for(self.run))
        self._clear_preview()
        self.plans, self.preview_scope = {self.current: plan}, "run"
        if plan.refused:
            self.notify(plan.refused, title="Refused", severity="warning", timeout=12)
        self.refresh_view()
        return True

    def action_preview_project(self) -> None:
        if not self._ready():
            return
        project = self.current[0]
        self.table.loading = True
        self.query_one(StatusLine).show(StatusPart(self.app.location_label, "bold", 3),
                                        StatusPart(f"previewing {project}…", "bold", 5))
        self.load_project(project, list((self.listing or {}).get(project, [])))

    def show_project_preview(self, runs: list[Run]) -> None:
        self.table.loading = False
        for run in runs:
            key = (run.project, run.name)
            self.runs[key] = run
            self.summaries[key] = self._summary(run)
            self.query_one(RunTree).update_summary(key, self.summaries[key])
        self.plans = {(r.project, r.name): plan_run(r, self.policy_for(r)) for r in runs}
        self.preview_scope = "project"
        self.query_one(RunTree).show_frees({k: p.freed_bytes for k, p in self.plans.items() if not p.refused})
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
        self.app.clear_notifications()  # a toast must not cover the dialog's buttons
        note = self.app.store.deletion_note if self.app.store is not None else None
        from .confirm import ConfirmDelete

        self.app.push_screen(ConfirmDelete(plans, note), self.deletion_done)

    def deletion_done(self, report: DeletionReport | None) -> None:
        if report is None:
            return
        outcome = report.outcome
        self._forget_deleted(outcome.results)
        planned = sum(len(r.plan.delete) for r in outcome.results)
        message = f"deleted {outcome.deleted} checkpoint(s), freed {size(outcome.freed_bytes)}"
        if (outcome.cancelled or report.stop_requested) and outcome.deleted < planned:
            message = f"stopped: {message}; {planned - outcome.deleted} left in place"
        notes = []
        for result in outcome.results:
            name = f"{result.plan.project}/{result.plan.run}"
            if result.spared:
                notes.append(f"{name}: spared {step_ranges(d.step for d in result.spared)} "
                             "(the run changed since the preview)")
            if result.failed:
                steps = step_ranges(item.step for item, _ in result.failed)
                notes.append(f"{name}: {len(result.failed)} step(s) not deleted ({steps}): "
                             f"{result.failed[0][1]}")
        notes += outcome.refusals
        if report.error and not report.expected:
            from .error import ErrorScreen

            self.app.push_screen(ErrorScreen("Unexpected error", report.error))
        elif report.error:
            notes.append(report.error)
        failed = not outcome.ok or outcome.refusals or report.error
        self.notify("\n".join([message, *notes]), title="Deletion",
                    severity="error" if failed else "information", timeout=12 if notes else 6)
        self.action_refresh()

    def _forget_deleted(self, results) -> None:
        """Take deleted steps off the screen at once; the re-read that follows confirms it."""
        for result in results:
            key = (result.plan.project, result.plan.run)
            gone = {(d.step, d.name) for d in result.deleted}
            self.marks[key] = self.marks.get(key, frozenset()) - {d.step for d in result.deleted}
            run = self.runs.get(key)
            if run is None:
                continue
            run = replace(run, checkpoints=[c for c in run.checkpoints if (c.step, c.name) not in gone])
            self.runs[key] = run
            self.summaries[key] = self._summary(run)
            self.query_one(RunTree).update_summary(key, self.summaries[key])
            if key == self.current:
                self.run = run
        self._clear_preview()
        self.refresh_view()

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
        known = {(p, r) for p, runs in (self.listing or {}).items() for r in runs}
        from .fork import ForkScreen

        self.app.push_screen(ForkScreen(*self.current, ckpt, known, self.app.cursor_blink), self.fork_done)

    def fork_done(self, result: ForkResult | None) -> None:
        if result is None:
            return
        history = f" with {result.history_records} history record(s)" if result.history_records else ""
        self.notify(f"forked {result.project}/{result.run} step {result.step} ({size(result.bytes)}) "
                    f"into {result.to_project}/{result.to_run}{history}", title="Fork", timeout=6)
        self.current = None
        self.load_listing((result.to_project, result.to_run))
