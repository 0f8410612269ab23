"""The main screen: runs on the left, the selected run's steps, plot and details on the right.

Every store call happens in a thread worker of this screen (dialogs run their
own); results come back through ``call_from_thread``, and this screen's worker
errors reach one handler, which shows them.
"""

from __future__ import annotations

import gc
import time

from functools import partial
from collections.abc import Iterator
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.geometry import Size
from textual.screen import Screen
from textual.widgets import Input, Label, Static, Tree
from textual.worker import Worker, WorkerState, get_current_worker

from ...core.errors import CkptError, NotFound
from ...core.fork import ForkResult
from ...core.models import Checkpoint, Run
from ...core.policy import NO_SETTINGS, POLICY_FILE, Policies, Resolved, Settings, plan_for, resolve
from ...core.retention import Plan, Policy, best_checkpoint, metric_columns, tied_best_steps
from ...core.store import RunSize, Space
from ...formatting import size, step_ranges
from ..hints import empty_hint, layout_names
from ..keymap import keys_in_effect, with_ids
from ..legend import legend_line
from ..memo import Memo, RunCache
from ..widgets import CheckpointTable, DetailsPanel, KeyFooter, MetricPlot, RunSummary, RunTree, StatusLine
from ..widgets.notice import Notice, NoticeRack
from ..widgets.run_tree import DENIED, ORDERS
from ..widgets.status_line import StatusPart
from ...core.events import deletion_events
from ..activity import fork_event, saved_event
from .activity import ACTIVITY_BINDINGS, ActivityLogging
from .compare import COMPARE_BINDINGS
from .disk import DISK_BINDINGS, StepFiles
from .reuse import KeptFrameCompositor, ReusableDialog
from .live import LiveRefresh
from .step_tools import NEEDS_POLICY, NEEDS_RUN, NEEDS_STEP, STEP_BINDINGS, StepTools

if TYPE_CHECKING:
    from collections.abc import Callable

    from textual.timer import Timer
    from textual.widget import Widget

    from ..head_start import HeadStart
    from .confirm import DeletionReport
    from .metric_picker import MetricChoice

# Dialogs are imported when first opened: the first frame does not wait for them.

RunKey = tuple[str, str]
READING_POLICIES = "its saved policies are still being read"
LOADING_DELAY = 0.3  # seconds a pane waits before it shows a loading indicator
SIZES_EVERY = 0.5  # seconds between two batches of run sizes shown while a large location is sized


def read_policies(store, listing: dict[str, list[str]]) -> Policies:
    """Every listed run's policy files, read at once (in a worker: never on the event loop)."""
    policies = Policies(store)
    for project, runs in listing.items():
        for run in runs:
            try:
                policies.found(project, run)
            except CkptError:
                continue  # the run vanished since it was listed: reading it says so
    return policies


def toggled(steps: frozenset[int], step: int) -> frozenset[int]:
    return steps - {step} if step in steps else steps | {step}


def slim_text(plan: Plan, ckpt: Checkpoint) -> str | None:
    """What the preview's slimming does to ``ckpt``, or why it keeps its training state."""
    for slim in plan.slim:
        if slim.key == ckpt.key:
            files = ", ".join(slim.files[:3]) + (f" and {len(slim.files) - 3} more" if len(slim.files) > 3 else "")
            return f"frees {size(slim.bytes)}: {files}"
    for refused in plan.slim_refused:
        if (refused.step, refused.name) == ckpt.key:
            return f"keeps its training state: {refused.reason}"
    return None


def without_pins(policy: Policy) -> Policy:
    """``policy`` less its ``step:N`` rules: in the app, pins belong to their run."""
    return policy._replace(rules=tuple(r for r in policy.rules if r.kind != "step"))


def same_policy(a: Policy, b: Policy) -> bool:
    """The same rule, whatever the order its rules are written in."""
    return (a.metric, a.mode, a.smoothing, set(a.rules), a.full) == (b.metric, b.mode, b.smoothing, set(b.rules), b.full)


class MainScreen(StepTools, ActivityLogging, LiveRefresh, Screen[None]):
    # Help and Quit first: the footer is cut from the right on narrow terminals.
    BINDINGS = with_ids([
        Binding("question_mark", "help", "Help", tooltip="Show every key and the legend"),
        Binding("q", "app.quit", "Quit", tooltip="Quit"),
        Binding("slash", "filter", "Filter", tooltip="Filter runs by name"),
        Binding("v", "preview_run", "Preview", tooltip="Preview what the rule deletes in this run"),
        Binding("V", "preview_project", "Preview project", show=False,
                tooltip="Preview every run of this project, each with its own plan"),
        Binding("x,delete", "delete", "Delete", tooltip="Delete what the preview marks (asks first)"),
        Binding("space", "mark", "Mark", show=False,
                tooltip="Mark or unmark the highlighted step for deletion (in the step table)"),
        Binding("n", "jump(1)", "Next", show=False, id="next_match",
                tooltip="Next match of the step search; else the next kept row among deleted ones and back "
                "(outside a preview: the next marked row); wraps round"),
        Binding("N", "jump(-1)", "Previous", show=False, id="previous_match", tooltip="The same, upwards"),
        Binding("m", "pick_metric", "Metric", tooltip="Choose the metric that defines the best step"),
        Binding("d", "cycle_direction", "Max/min", show=False,
                tooltip="Cycle the metric direction: auto, max, min"),
        Binding("u", "choose_rules", "Rules", tooltip="Choose the retention rule"),
        Binding("p", "pin", "Pin", show=False, tooltip="Pin or unpin the highlighted step (always kept)"),
        Binding("s", "sort", "Sort", show=False, tooltip="Sort the steps by the next column"),
        Binding("S", "reverse_sort", "Reverse sort", show=False, tooltip="Reverse the sort order"),
        Binding("o", "order_runs", "Order", show=False,
                tooltip="Order the projects and their runs by name, size, checkpoints or latest step"),
        Binding("f", "fork", "Fork", tooltip="Copy the highlighted step into a new run"),
        Binding("O", "offload", "Offload", show=False,
                tooltip="Move what the rule does not keep to another location, verified, then free it here"),
        Binding("w", "save_policy", "Save rule",
                tooltip=f"Save this run's metric, direction, rule and pins to {POLICY_FILE} at the location"),
        Binding("r", "refresh", "Refresh", show=False, tooltip="Re-read the location"),
        Binding("c", "copy_path", "Copy path", show=False,
                tooltip="Copy the highlighted step's path or URL to the clipboard (OSC 52)"),
        Binding("escape", "clear", "Clear preview", show=False, tooltip="Clear the search, the preview or the filter"),
        *STEP_BINDINGS,
        *ACTIVITY_BINDINGS,
        *DISK_BINDINGS,
        *COMPARE_BINDINGS,
    ])

    def __init__(self) -> None:
        super().__init__()
        self._compositor = KeptFrameCompositor()  # drawn again as it was when a dialog opens or closes
        self.listing: dict[str, list[str]] | None = None
        self.listing_error: str | None = None
        self.unreadable: list[str] = []  # folders of the location it may not list, shown as such
        self.free = Space(None)  # free space as the store reports it, read with the listing
        self.runs: RunCache = RunCache()  # the runs read lately; every run's summary is kept
        self.summaries: dict[RunKey, RunSummary] = {}
        self.current: RunKey | None = None
        self.run: Run | None = None
        self.metrics_ready = False
        self.plans: dict[RunKey, Plan] = {}
        self.preview_scope: str | None = None
        self.extra_columns: set[str] = set()
        self.noted: set[RunKey] = set()
        self.metrics_noted: set[RunKey] = set()  # runs whose unreadable metrics were said
        # Pins and marks belong to a run, never to the rule.
        self.pins: dict[RunKey, frozenset[int]] = {}
        self.marks: dict[RunKey, frozenset[int]] = {}
        # The rule of a run: what was changed in this session, over the command line's flags,
        # over the location's saved policies (read with the run list), over the defaults.
        self.policies: Policies | None = None  # the core's, once the location is listed
        self.policy_error: str | None = None  # the saved policies cannot be used: nothing is deleted
        self.session: Settings = NO_SETTINGS
        self._bases: dict[RunKey | None, tuple[Policy, frozenset[int], str | None]] = {}
        self.stated: set[RunKey] = set()  # runs read with their training state (for slimming)
        self.memo = Memo()
        self._unread: list[RunKey] = []  # runs whose summary is read after the first run's
        self._sizing: set[RunKey] = set()  # listed runs not read in full since: their sizes may be shown
        self._opening: RunKey | None = None  # the run the listing selected, read once the sizes are shown
        self._indicators: dict[Widget, Timer] = {}  # loading indicators not shown yet
        self._bottom_mounted = False
        self.empty_hint: str | None = None  # where to look instead, when the location holds no runs
        self.forked: RunKey | None = None  # a run just forked: said when the listing does not hold it
        self._disabled_state: tuple | None = None  # what the disabled actions were worked out from
        self._disabled: frozenset[str] = frozenset()
        self._policy_reads: dict[RunKey, str] = {}  # runs whose policy files a worker reads: reading, read, gone
        self._policies_read = 0  # how many times policy files arrived: resolutions made before are stale
        self._dialog_token: object | None = None  # the dialog last opened by open_when_read
        self._dialog_timer: Timer | None = None  # ... which opens it if it is not open by then
        self._table_title: str | None = None  # the run the step table's border names
        self._plot: MetricPlot | None = None  # the chart and the details, once mounted
        self._details: DetailsPanel | None = None

    # -- layout --------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield StatusLine(f"{self.app.location_label}  opening…", id="status")
        with Horizontal(id="body"):
            with Vertical(id="sidebar"):  # the filter field is mounted above the runs on "/"
                yield RunTree(id="runs")
            with Vertical(id="main"):
                yield Static("", id="empty")
                yield CheckpointTable(id="checkpoints")
                yield Label(legend_line(), id="legend")
                yield Horizontal(id="bottom")  # the chart and the details: mounted after the first frame
        yield KeyFooter()
        if not self.app._disable_notifications:  # the layer toasts are drawn on exists
            yield NoticeRack()

    def on_mount(self) -> None:
        tree = self.query_one(RunTree)
        self._loading(tree, True)
        tree.focus()
        self.table.highlighted_signal.subscribe(self, self.step_highlighted, immediate=True)
        # Read while the frame is drawn: listing a location is short, and the run list then
        # follows the frame closely (the chart and the details wait for the first run's steps).
        self.load_listing()

    def on_unmount(self) -> None:
        self.stop_live()

    def _mount_bottom_later(self) -> None:
        """The chart and the details, once what they describe is on screen."""
        if not self._bottom_mounted:
            self._bottom_mounted = True
            self.call_after_refresh(self._mount_bottom)

    async def _mount_bottom(self) -> None:
        plot, details = MetricPlot(id="plot"), DetailsPanel(id="details")
        await self.query_one("#bottom").mount_all([plot, details])
        # Kept at hand: a query walks the screen's widgets, on every move of the cursor.
        self._plot, self._details = plot, details
        if self.run is not None:
            self.refresh_view()

    def _screen_resized(self, size: Size) -> None:
        """Textual lays out every screen below a dialog being opened, given the size it has
        already (a whole layout of this screen: tens of milliseconds on each dialog opened).
        Done still when the size differs or a widget of this screen waits for its update (a
        repaint of the screen as a whole, asked as the dialog opens, needs no layout)."""
        below = self.is_attached and self.app.screen is not self
        pending = (self._layout_required or self._scroll_required or self._recompose_required
                   or self._dirty_widgets or self._layout_widgets)
        if not below or pending or size != self._compositor.size:
            super()._screen_resized(size)

    def on_resize(self) -> None:
        self.set_class(self.size.width < 100, "-narrow")
        self.set_class(self.size.height < 30, "-short")
        # At 80 columns the palette's entry would push Fork out of the footer (Ctrl+P still works).
        footer, wide = self.query_one(KeyFooter), self.size.width >= 100
        if footer.show_command_palette != wide:
            footer.show_command_palette = wide
            footer.refresh(recompose=True)

    @property
    def policy(self) -> Policy:
        """The rule in force for the current run (before its pins, marks and a picked metric)."""
        return self.base_policy(self.current)

    @property
    def overrides(self) -> Settings:
        return Settings(**{**self.app.flags.values(), **self.session.values()})

    def resolved(self, key: RunKey | None, run: Run | None = None, flags: Settings | None = None) -> Resolved:
        """The core's resolution of a run's policy (with a metric picked among those ``run``
        logs, when given): the session's changes over the flags over the run's policy files."""
        project, name = key or ("", "")
        flags = self.overrides if flags is None else flags
        metrics = self.metric_names(run) if run is not None else None
        if self.policies is None or key is None:
            return resolve(project, name, [], flags, metrics)
        state = self._policy_reads.get(key)
        if state == "gone":  # vanished since the listing: shown as it was until the next one drops it
            return resolve(project, name, [], flags, metrics)
        if not self.policies.has_read(project, name):  # files are read in a worker, never on the event loop
            if state is None:
                self._policy_reads[key] = "reading"
                self.read_run_policies(self.policies, key)
            return resolve(project, name, [], flags, metrics)._replace(problem=READING_POLICIES)
        return self.policies.resolve(project, name, metrics, flags)  # read already: no I/O

    @work(thread=True, exit_on_error=False, group="policies")
    def read_run_policies(self, policies: Policies, key: RunKey) -> None:
        """The policy files of a run the listing's worker did not read."""
        try:
            policies.found(*key)
            gone = False
        except CkptError:
            gone = True
        self.app.call_from_thread(self.run_policies_read, policies, key, gone)

    def run_policies_read(self, policies: Policies, key: RunKey, gone: bool) -> None:
        if policies is self.policies:
            self._policy_reads[key] = "gone" if gone else "read"
            self.show_policies(policies, policies.problem())

    def _base(self, key: RunKey | None) -> tuple[Policy, frozenset[int], str | None]:
        """A run's rule without pins, its saved pins, and why its saved policy cannot be used."""
        if key not in self._bases:
            resolved = self.resolved(key)
            self._bases[key] = (without_pins(resolved.policy), frozenset(resolved.policy.pins), resolved.problem)
        return self._bases[key]

    def base_policy(self, key: RunKey | None) -> Policy:
        return self._base(key)[0]

    def pins_of(self, key: RunKey | None) -> frozenset[int]:
        """The run's pins: as changed in this session, else as saved."""
        if key is None:
            return frozenset()
        return self.pins[key] if key in self.pins else self._base(key)[1]

    def policy_problem(self, key: RunKey | None) -> str | None:
        """Why previews and deletions are refused: the saved policies cannot be used."""
        return self.policy_error or self._base(key)[2]

    def change_policy(self, **settings: object) -> None:
        """Change the rule for every run in this session (until saved, nothing is written)."""
        self.session = self.session._replace(**settings)
        self._bases.clear()
        self._policy_changed()

    _table: CheckpointTable | None = None

    @property
    def table(self) -> CheckpointTable:
        """The step table, composed once with the screen: looked up once (the footer asks for it
        through ``check_action`` once per key it shows, every time the keys are worked out)."""
        if self._table is None:
            self._table = self.query_one(CheckpointTable)
        return self._table

    @property
    def notice(self) -> Notice | None:
        """The toast kept mounted for the marks and search messages (none while toasts are not shown)."""
        try:
            return self.query_one(NoticeRack).notice
        except NoMatches:
            return None

    def run_resolved(self, run: Run) -> Resolved:
        key = (run.project, run.name)
        return self.memo.get(run.metrics, ("resolved", key, self.overrides, id(self.policies), self._policies_read),
                             lambda: self.resolved(key, run))

    def policy_for(self, run: Run, key: RunKey | None = None) -> Policy:
        """The rule for one run: its own pins and marks, and the metric the core resolves
        for it (a metric it logs, picked, when nothing names one it does not log)."""
        key = key or (run.project, run.name)
        policy = without_pins(self.run_resolved(run).policy)
        return policy.with_steps(self.pins_of(key), self.marks.get(key, frozenset()))

    def saved_state(self, key: RunKey) -> str | None:
        """For the top line: whether the run's rule is the saved one, or differs from it."""
        stored = self.resolved(key, flags=self.app.flags)
        if stored.problem:
            return None
        if same_policy(without_pins(stored.policy), self.base_policy(key)) and stored.policy.pins == self.pins_of(key):
            used = len(stored.files_used)
            return (f"saved in {POLICY_FILE}" if used == 1 else f"saved in {used} {POLICY_FILE} files") if used else None
        return "unsaved: w saves"

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
        unreadable = store.unreadable_folders
        self.free = self.app.free_space()  # a bucket or W&B says what it reports instead
        policies = read_policies(store, listing)
        problem = policies.problem()
        worker = get_current_worker()
        if not worker.is_cancelled:
            keys = [(p, r) for p, runs in listing.items() for r in runs]
            head_start = self.app.take_head_start()  # sizes read while the app started, drawn with the list
            ready = dict(head_start.results(keys, lambda: worker.is_cancelled, wait=False)) if head_start else {}
            self.app.call_from_thread(self._show_listed, policies, problem, listing, select, unreadable, ready)
            self._read_sizes(store, [key for key in keys if key not in ready], head_start)

    def _show_listed(self, policies: Policies, problem: str | None, listing: dict[str, list[str]],
                     select: RunKey | None, unreadable: list[str], sizes: dict[RunKey, RunSize | None]) -> None:
        """The listing, its policies and the run sizes known already, on one screen update."""
        self.show_policies(policies, problem)
        self.show_listing(listing, select, unreadable)
        if sized := {key: measured for key, measured in sizes.items() if measured is not None}:
            self.show_sizes(sized)

    def _read_sizes(self, store, keys: list[RunKey], head_start: HeadStart | None) -> None:
        """Every run's rows and bytes from the store's size-only pass (a ``du``-like walk), shown
        before the full reads fill in completeness, latest and best; in the listing's worker."""
        worker, found, posted = get_current_worker(), {}, time.monotonic()
        for key, measured in self._sizes(store, keys, head_start, lambda: worker.is_cancelled):
            if worker.is_cancelled:
                return
            if measured is None:
                continue  # a size is optional; the run's full read says what is wrong
            found[key] = measured
            if time.monotonic() - posted > SIZES_EVERY:  # a large location: the list fills as it goes
                self.app.call_from_thread(self.show_sizes, found)
                found, posted = {}, time.monotonic()
        if not worker.is_cancelled:
            self.app.call_from_thread(self.show_sizes, found, True)

    def _sizes(self, store, keys: list[RunKey], head_start: HeadStart | None,
               stopped) -> Iterator[tuple[RunKey, RunSize | None]]:
        """Each run's size (None where it cannot be read): first those the process started
        before the app sends, then the store's size-only pass for the rest."""
        left = dict.fromkeys(keys)
        if head_start is not None:
            for key, measured in head_start.results(keys, stopped):
                del left[key]
                yield key, measured
        for key in left:
            if stopped():
                return
            try:
                measured = store.run_size(*key)
            except Exception:  # noqa: BLE001 - a size is optional; the run's full read says what is wrong
                measured = None
            else:
                if measured is None:
                    return  # the store has no cheaper way than the full reads
            yield key, measured

    @work(thread=True, exclusive=True, exit_on_error=False, group="run")
    def load_run(self, key: RunKey) -> None:
        """Steps first (fast), metrics after, so that the table appears early."""
        worker = get_current_worker()
        store = self.app.open_store()
        run = self._read(store, key, with_metrics=False)
        if worker.is_cancelled:
            return
        self.app.call_from_thread(self.show_run, run, False)
        run = run._replace(metrics=store.read_metrics(*key))
        if not worker.is_cancelled:
            self.app.call_from_thread(self.run_loaded, run)

    def _read(self, store, key: RunKey, with_metrics: bool = True) -> Run:
        """A run, with each checkpoint's training state where its rule slims (in a worker)."""
        with_state = self.base_policy(key).full is not None
        run = store.load_run(*key, with_metrics=with_metrics, with_state=with_state)
        (self.stated.add if with_state else self.stated.discard)(key)  # one operation: safe from a thread
        return run

    @work(thread=True, exclusive=True, exit_on_error=False, group="summaries")
    def load_summaries(self, keys: list[RunKey]) -> None:
        worker = get_current_worker()
        store = self.app.open_store()
        for key in keys:
            if worker.is_cancelled:
                return
            try:
                run = self._read(store, key)
            except Exception:  # noqa: BLE001 - a summary is optional; opening the run shows the error
                self.app.call_from_thread(self._read_failed, key)
                continue
            self.app.call_from_thread(self.run_loaded, run)

    @work(thread=True, exclusive=True, exit_on_error=False, group="preview")
    def load_project(self, project: str, runs: list[str]) -> None:
        store, worker, loaded = self.app.open_store(), get_current_worker(), []
        for name in runs:
            if worker.is_cancelled:  # Esc: the runs not read yet are left alone
                return
            loaded.append(self._read(store, (project, name)))
        if not worker.is_cancelled:
            self.app.call_from_thread(self.show_project_preview, loaded)

    # -- showing -----------------------------------------------------------------
    def show_policies(self, policies: Policies, problem: str | None) -> None:
        if problem and problem != self.policy_error:
            self.notify(f"{problem}\nNothing is previewed or deleted until it is fixed (r reads it again).",
                        title="Saved policies", severity="error", timeout=20)
        if policies is not self.policies:
            self._policy_reads = {}
        self.policies, self.policy_error = policies, problem
        self._policies_read += 1  # resolutions made before are made again
        self._bases.clear()
        if self.runs:
            self._policy_changed()

    def show_sizes(self, sizes: dict[RunKey, RunSize], last: bool = False) -> None:
        """Rows and bytes of runs not read in full since the listing (a full read's summary,
        which judged each step complete or not, is never replaced by these); after the last,
        the run the listing selected is read."""
        fresh = {key: RunSummary(found.steps, found.bytes, None, None) for key, found in sizes.items()
                 if key in self._sizing}
        self.summaries.update(fresh)
        self.query_one(RunTree).update_summaries(fresh)
        self._show_status()
        if last:
            self._open_selected()

    def _open_selected(self) -> None:
        """The run the listing selected, unless another was opened meanwhile."""
        target, self._opening = self._opening, None
        if target is not None and target == self.current:
            self.open_run(target, force=True)

    def show_listing(self, listing: dict[str, list[str]], select: RunKey | None = None,
                     unreadable: list[str] = ()) -> None:
        self.listing, self.listing_error, self.unreadable = listing, None, list(unreadable)
        self._sizing = {(p, r) for p, runs in listing.items() for r in runs} - set(self.runs)
        tree = self.query_one(RunTree)
        self._loading(tree, False)
        if self.focused is None:
            tree.focus()  # the loading indicator had taken the focus away
        pattern = self.filter_text
        target = tree.show_runs(listing, self.summaries, pattern, select or self.current, self.unreadable)
        forked, self.forked = self.forked, None
        if forked is not None and forked not in {(p, r) for p, runs in listing.items() for r in runs}:
            self.notify(f"{forked[0]}/{forked[1]} was created outside {self.app.location_label}: "
                        "open its folder's parent to see it", title="Fork", severity="warning", timeout=12)
        if target is None:
            self.current, self.run = None, None
            self.refresh_view()
            if pattern:
                self.notify(f"no run matches {pattern!r}", severity="warning")
        else:  # its steps are read once every run's size is shown: nothing competes with those
            self.current, self._opening = target, target
            self._table_waits_for(target)
        if target is None:  # otherwise once the run's steps are shown (or fail to load)
            self._mount_bottom_later()
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
            self._opening = None
            self._table_waits_for(key)
            self.load_run(key)

    def _table_waits_for(self, key: RunKey) -> None:
        if self.run is None or (self.run.project, self.run.name) != key:
            self._loading(self.table, True)

    def run_loaded(self, run: Run) -> None:
        # A run of 20,000 steps is ~10^5 long-lived objects: without this, a full collection
        # now and then (35 ms) lands in the middle of a key press. They hold no cycles, so
        # reference counting still frees them when the run is read again. Only for the run
        # shown: what else is frozen then (garbage cycles of reading) is never collected, and
        # freezing at every run a large location summarises would keep growing the app.
        key = (run.project, run.name)
        if key == self.current:
            gc.freeze()
        if run.metrics.notes and key not in self.metrics_noted and key == self.current:
            self.metrics_noted.add(key)
            self.notify("\n".join(run.metrics.notes), title=f"{run.project}/{run.name}",
                        severity="warning", timeout=10)
        self.runs[key] = run
        self._sizing.discard(key)
        for gone in self.runs.trim({self.current, *self.plans}):
            if gone is not self.run:
                self.memo.forget(gone, gone.metrics)
        self.summaries[key] = self._summary(run)
        self.query_one(RunTree).update_summary(key, self.summaries[key])
        if key == self.current:
            self.show_run(run)
        else:
            self._show_status()

    def _read_failed(self, key: RunKey) -> None:
        """A run whose full read failed is no longer waited for (its size stays shown)."""
        self._sizing.discard(key)
        self._show_status()

    def show_run(self, run: Run, metrics_ready: bool = True) -> None:
        if (run.project, run.name) != self.current:
            return
        self.run, self.metrics_ready = run, metrics_ready
        if metrics_ready:
            self.start_live()  # the run shown is followed on disk, once read in full
        self._loading(self.table, False)
        self._mount_bottom_later()
        self._read_the_rest()
        key = (run.project, run.name)
        if run.notes and key not in self.noted:  # what could not be read or was not followed: said once
            self.noted.add(key)
            self.notify("\n".join(run.notes), title=f"{run.project}/{run.name}", severity="warning", timeout=10)
        if metrics_ready and key in self.plans:
            self.plans[key] = self._plan(run)
        self.refresh_view()
        if metrics_ready:
            self.call_after_refresh(self.prepare_never)  # once the run is drawn
            self.call_after_refresh(self._prepare_dialogs)

    def _summary(self, run: Run) -> RunSummary:
        policy = self.policy_for(run)
        best, _ = self.best_of(run, policy)
        total = self.memo.get(run, "bytes", lambda: run.total_bytes)
        # Refused as a preview would be: the policy cannot be used, or its metric chooses no best.
        refused = bool(self.policy_problem((run.project, run.name))) or (
            policy.needs_metric and policy.metric is not None and best is None and len(run.checkpoints) > 1)
        return RunSummary(len(run.checkpoints), total, run.latest_step, best, refused, run.unreadable)

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

    def tied_best(self) -> frozenset[int]:
        """Every step of the current run tied for best (from the preview when there is one)."""
        run = self.run
        plan = self.plans.get(self.current) if self.current else None
        if plan is not None:
            return frozenset(plan.best_steps)
        if run is None or not self.metrics_ready:
            return frozenset()
        policy = self.policy_for(run)
        if policy.metric is None:
            return frozenset()
        return self.memo.get(run, ("tied", policy.metric, policy.mode, policy.smoothing),
                             lambda: tied_best_steps(run, policy.metric, policy.mode, policy.smoothing))

    def refresh_view(self) -> None:
        run, key = self.run, self.current
        self._show_empty()
        plan = self.plans.get(key) if key else None
        policy = self.current_best()[0]
        columns = metric_columns(self.metric_names(run), policy.metric, self.extra_columns) if run else []
        # The table then publishes its highlighted step, which redraws the plot and the details.
        self.table.show(run, columns, plan, self.tied_best(), self.app.timezone,
                        self.pins_of(key), self.marks.get(key, frozenset()))
        title = f"{run.project}/{run.name}" if run else None  # the run shown
        if title != self._table_title:  # a title set repaints the whole table, even the same one
            self._table_title = title
            self.table.border_title = Text(title) if title else None
        self._show_status()

    def _show_plot(self) -> None:
        run, ckpt = self.run, self.table.highlighted
        policy, best_step, best_value = self.current_best()
        loading = run is not None and not self.metrics_ready
        plot = self._plot
        if plot is None:
            return  # not mounted yet: drawn once it is
        plot.loading = loading
        plot.show(policy.metric, self.series(run, policy.metric) if run else [], policy.direction_label,
                  best_step, best_value, ckpt.step if ckpt else None, policy.smoothing, loading=loading,
                  unreadable=run is not None and run.unreadable)

    def _show_empty(self) -> None:
        """With no run to show, say what was searched and how to look elsewhere."""
        empty = self.query_one("#empty", Static)
        nothing = self.listing_error is not None or (self.listing is not None and not any(self.listing.values()))
        self.set_class(nothing, "-empty")
        if nothing:
            found = self.listing_error or "no runs found"
            hint = f"{self.empty_hint}\n\n" if self.empty_hint else ""
            empty.update(
                f"[b]{found}[/b]\n\n{hint}Searched [b]{self.app.location_label}[/b] up to four levels down for "
                f"checkpoints of {layout_names()}.\n\n"
                "Open another location with [b]ckpt-tui PATH[/b] (a directory, s3://bucket/prefix, "
                "gs://bucket/prefix, az://container/prefix or wandb://entity), or press [b]r[/b] to read this "
                "one again.")
            if self.empty_hint is None and self.listing_error is None:
                self.find_empty_hint()

    @work(thread=True, exclusive=True, exit_on_error=False, group="hint")
    def find_empty_hint(self) -> None:
        hint = empty_hint(self.app.location)
        if hint:
            self.app.call_from_thread(self._hint_found, hint)

    def _hint_found(self, hint: str) -> None:
        self.empty_hint = hint
        self._show_empty()

    def _show_details(self) -> None:
        ckpt = self.table.highlighted
        plan = self.plans.get(self.current) if self.current else None
        reasons = plan.reasons().get(ckpt.step) if plan and ckpt else None
        deleted = bool(plan and ckpt and ckpt.step in plan.delete_steps)
        names = self.metric_names(self.run) if self.run and self.metrics_ready else None
        tags = self._tags(ckpt) if ckpt else ()
        slim = slim_text(plan, ckpt) if plan and ckpt else None
        if self._details is not None:
            self._details.show(self.run, ckpt, reasons, deleted, self.app.display_location, tags, names, slim)

    def _tags(self, ckpt: Checkpoint) -> tuple[str, ...]:
        """What the marker column says about a step, in words."""
        step = ckpt.step
        policy = self.current_best()[0]
        smoothed = policy.smoothing is not None and policy.smoothing < 1
        best_tag = f"best {policy.metric}" + (f" by its moving average (smoothing {policy.smoothing:g}), "
                                              "not its raw value" if smoothed else "")
        tags = {best_tag: step in self.tied_best(), "latest": self.run is not None and step == self.run.latest_step,
                "pinned": step in self.pins_of(self.current) | policy.pins,
                "marked for deletion": step in self.marks.get(self.current, frozenset()),
                "weights only (slimmed: never offered for resuming)": ckpt.weights_only}
        return tuple(tag for tag, on in tags.items() if on)

    def preview_freed(self) -> int:
        """The bytes the previewed plans free, as the core counts them."""
        return sum(p.freed_bytes for p in self.plans.values() if not p.refused)

    def free_text(self) -> str:
        """``41.0 GB free``; in a preview, ``free 41.0 GB -> 79.2 GB`` (the core's bytes freed on top)."""
        free = self.free.free
        if free is None:
            return self.free.note
        freed = self.preview_freed() if self.preview_scope else 0
        return f"free {size(free)} -> {size(free + freed)}" if freed else f"{size(free)} free"

    def preview_text(self) -> str | None:
        if not self.preview_scope:
            return None
        plans = list(self.plans.values())
        steps = sum(len(p.delete) for p in plans if not p.refused)
        slims = sum(len(p.slim) for p in plans if not p.refused)
        freed = self.preview_freed()
        work = f"delete {steps} step{'s' * (steps != 1)}" + (f", slim {slims}" if slims else "")
        # Short, so that the free space now and after it keeps its room on the line at 120 columns.
        runs = f"{len(plans)} run{'s' * (len(plans) != 1)} " if self.preview_scope == "project" else ""
        text = f"{runs}would {work}, free {size(freed)}"
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
        elif self._sizing:  # sizes known; latest, best and completeness still being read
            totals += f" · reading runs {total_runs - len(self._sizing)}/{total_runs}…"
        parts = [location, StatusPart(totals, "", 1)]
        if self.free.free is not None or self.free.note:
            after = self.preview_scope and self.free.free is not None  # free X -> Y: the preview's outcome
            parts.append(StatusPart(self.free_text(), "", 1.6 if after else 0))
        if self.run is not None:
            policy = self.policy_for(self.run, self.current) if self.metrics_ready else self.policy
            resolved = self.run_resolved(self.run) if self.metrics_ready else None
            parts.append(StatusPart(policy.describe(explain_auto=True), "italic", 2))
            if self.run.unreadable:
                parts.append(StatusPart(DENIED, "bold red", 4))
            elif resolved is not None and resolved.pick_note:
                parts.append(StatusPart(resolved.pick_note, "yellow", 1.5))  # notes give way before the rule
            elif self.metrics_ready and policy.metric and policy.metric not in self.metric_names(self.run):
                parts.append(StatusPart(f"{policy.metric} not logged here (m)", "yellow", 2))
            saved = self.saved_state(self.current) if self.current else None
            if saved:
                parts.append(StatusPart(saved, "green" if saved.startswith("saved") else "yellow", 1.5))
        else:
            parts.append(StatusPart(self.policy.describe(explain_auto=True), "italic", 2))
        if self.policy_error:
            parts.append(StatusPart(f"{POLICY_FILE} invalid: nothing is deleted", "bold red", 4))
        preview = self.preview_text()
        if preview:
            parts.append(StatusPart(preview, "bold red", 5))
        self.query_one(StatusLine).show(*parts)
        self.actions_changed()

    def step_highlighted(self, _checkpoint=None) -> None:
        self.actions_changed()
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

    @property
    def loaded(self) -> bool:
        """The current run is on screen with its metrics: what most actions need."""
        return self.run is not None and self.metrics_ready and self.current is not None

    def disabled_actions(self) -> frozenset[str]:
        """The actions that cannot run now: worked out again only when what they depend on changes."""
        try:
            ckpt = self.table.highlighted  # query_one is cached: this runs for every binding shown
        except NoMatches:  # before the screen is composed
            ckpt = None
        state = (id(self.run), self.metrics_ready, self.current, id(ckpt), id(self.listing), id(self.policies),
                 self.policy_error, self.session, bool(self.preview_scope), self._policies_read)
        if state != self._disabled_state:
            self._disabled_state, self._disabled = state, self._work_out_disabled(ckpt)
        return self._disabled

    def _work_out_disabled(self, ckpt: Checkpoint | None) -> frozenset[str]:
        disabled = set()
        if ckpt is None:
            disabled |= NEEDS_STEP
        elif not ckpt.complete:
            disabled.add("fork")  # a save in progress is never forked
        elif not ckpt.location:
            disabled.add("copy_path")
        if not self.loaded:
            disabled |= NEEDS_RUN
            if not self.preview_scope:
                disabled.add("delete")
        elif self.policy_for(self.run).metric is None:
            disabled |= {"cycle_direction", "compare_runs"}
        if self.policy_problem(self.current):
            disabled |= NEEDS_POLICY
        if self.policy_error:
            disabled.add("save_policy")
        if self.listing is None:
            disabled.add("order_runs")
        if self.run is None:
            disabled |= {"sort", "reverse_sort"}
        return frozenset(disabled)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Disabled (None), not hidden, when it cannot run now: greyed in the footer, its key does nothing."""
        return None if action in self.disabled_actions() else True

    def actions_changed(self) -> None:
        """Grey or light the footer's keys when what can run changes."""
        before = self._disabled
        if self.disabled_actions() != before:
            self.refresh_bindings()

    def _loading(self, widget: Widget, waiting: bool) -> None:
        """A loading indicator on ``widget`` once a wait has lasted LOADING_DELAY. A local read
        is over by then: nothing flashes, the focus stays, the first paint is not delayed."""
        timer = self._indicators.pop(widget, None)
        if timer is not None:
            timer.stop()
        if not waiting:
            widget.loading = False
        elif not widget.loading:
            self._indicators[widget] = self.set_timer(LOADING_DELAY, partial(setattr, widget, "loading", True))

    # -- errors --------------------------------------------------------------
    @on(Worker.StateChanged)
    def worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        group = event.worker.group
        if group == "listing":
            self._open_selected()  # listed, then failed: the selected run is read all the same
            self._loading(self.query_one(RunTree), False)
            self._mount_bottom_later()
            self.listing_error = str(error)
            self._show_empty()
            self._show_status()
        if group in ("run", "preview"):
            if self.current is not None:
                self._read_failed(self.current)
            self._loading(self.table, False)
            self._mount_bottom_later()
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
                                                   self.current, self.unreadable)
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
        elif self._cancel_project_preview():
            self.notify("project preview cancelled", timeout=3)
        elif self.table.clear_search():
            self.app.notify("search cleared: n / N go by marks again", title="Search", timeout=2, replace=True)
        elif self.query_one(RunTree).clear_selection():
            self.notify("no run selected for comparing", timeout=2)
        elif self.preview_scope:
            self._clear_preview()
            self.refresh_view()
        elif field is not None and field.value:
            field.value = ""
            field.display = False

    def _cancel_project_preview(self) -> bool:
        """Stop a project preview still reading its runs; True if there was one."""
        reading = [w for w in self.workers.cancel_group(self, "preview") if w.state in (WorkerState.PENDING,
                                                                                          WorkerState.RUNNING)]
        if reading:
            self.table.loading = False
            self._show_status()
        return bool(reading)

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
                       self.current, self.unreadable)
        self.notify(f"projects and runs ordered by {tree.order}" + ("" if tree.order == "name" else ", largest first"),
                    timeout=2)

    def action_jump(self, direction: int) -> None:
        table = self.table
        if not (table.next_match(direction) if table.search else table.jump_to_change(direction)):
            self.app.bell()  # nothing further that way, as at the end of a list

    def action_refresh(self) -> None:
        self.runs.clear()
        self._clear_preview()
        self.load_listing(self.current)

    def compare_choice(self) -> tuple[list[RunKey], str]:
        """The runs ``C`` compares and the dialog's title: those selected in the run list (Space),
        else the project under the run list's cursor, else the current run's project."""
        tree = self.query_one(RunTree)
        if tree.selected:
            keys = [key for key in tree.run_keys if key in tree.selected]
            return keys, f"{len(keys)} selected runs"
        node = tree.cursor_node
        project = node.data if self.focused is tree and node is not None and isinstance(node.data, str) \
            else self.current[0]
        return [(project, run) for run in (self.listing or {}).get(project, [])], project

    def action_compare_runs(self) -> None:
        policy = self.policy_for(self.run)  # the core's resolution for the current run
        keys, scope = self.compare_choice()
        from .compare import CompareRuns

        dialog = CompareRuns.open(self.app, keys, policy, self, self.runs, f"{policy.metric} across {scope}")
        dialog.reads_curves, store = False, self.app.open_store
        self.open_when_read(dialog, lambda: dialog.read(store()), dialog.given_curves)

    def action_show_disk(self) -> None:
        ckpt = self.table.highlighted
        StepFiles.open(self.app, self.run, ckpt, self.preview_freed()).show()

    def _prepare_dialogs(self) -> None:
        """The step files dialog (``D``) and the activity log (``L``, the log read for it) built
        ahead once a run is shown (once a session): their first opening then costs what the next
        ones do, not their composing, styling and first layout."""
        ckpt = self.table.highlighted
        if self.run is not None and ckpt is not None and self.app.screen is self:
            StepFiles.prepare(self.app, self.run, ckpt, 0)
            self.prepare_activity()

    def open_when_read(self, dialog: ReusableDialog, read: Callable[[], object], show: Callable[[object], object]) -> None:
        """Open a dialog whose content ``read`` reads (in a worker) once ``show`` has given it to it:
        drawn once, with it; or, when reading takes longer than LOADING_DELAY, before, saying that
        it reads. A dialog opened since replaces it."""
        if self._dialog_timer is not None:
            self._dialog_timer.stop()
        token = self._dialog_token = object()
        self._dialog_timer = self.set_timer(LOADING_DELAY, partial(self._open_waiting, dialog, token))
        self._read_for_dialog(dialog, token, read, show)

    @work(thread=True, exclusive=True, exit_on_error=False, group="dialog")
    def _read_for_dialog(self, dialog: Screen, token: object, read: Callable[[], object],
                         show: Callable[[object], object]) -> None:
        self.app.call_from_thread(self._dialog_read, dialog, token, show, read())

    async def _dialog_read(self, dialog: Screen, token: object, show: Callable[[object], object],
                           found: object) -> None:
        if token is self._dialog_token:  # else read for a dialog opened before
            shown = show(found)
            if shown is not None:
                await shown
            self._open_waiting(dialog, token)

    def _open_waiting(self, dialog: ReusableDialog, token: object) -> None:
        if token is self._dialog_token and self._dialog_timer is not None:
            self._dialog_timer.stop()  # a timer firing redraws the screen: none once the dialog is open
            self._dialog_timer = None
            dialog.show()

    def action_copy_path(self) -> None:
        ckpt = self.table.highlighted
        self.app.copy_to_clipboard(ckpt.location)
        self.notify(f"copied {ckpt.location}", timeout=4)

    def help_sections(self) -> list[tuple[str, list[Binding]]]:
        """Every key, from the bindings of this screen and of the widgets it holds, as the keymap left them."""
        keymap = self.app._keymap  # what set_keymap was given; Textual applies it key by key
        return [(title, keys_in_effect(bindings, keymap)) for title, bindings in
                (("Actions", self.BINDINGS), ("Run list", RunTree.BINDINGS), ("Steps", CheckpointTable.BINDINGS))]

    def action_help(self) -> None:
        from .help import HelpScreen

        self.app.push_screen(HelpScreen(self.help_sections()))

    # -- actions: the rule -----------------------------------------------------
    def _policy_changed(self) -> None:
        unstated = {k for k in self.runs if self.base_policy(k).full is not None and k not in self.stated}
        if self.current in unstated:
            self.open_run(self.current, force=True)  # its preview is planned again once read
        if self.preview_scope == "project" and unstated & set(self.plans):
            self.action_preview_project()
        for key in list(self.plans):
            if key in self.runs:
                self.plans[key] = self._plan(self.runs[key])
        tree = self.query_one(RunTree)
        # Marks and pins change no run's figures: the run list is labelled again only for new ones.
        changed = {key: summary for key, run in self.runs.items()
                   if (summary := self._summary(run)) != self.summaries.get(key)}
        if changed:
            self.summaries.update(changed)
            tree.update_summaries(changed)
        # Runs read before and let go: read again for their summaries (best step, refusal).
        listed = [(p, r) for p, runs in (self.listing or {}).items() for r in runs]
        due = [key for key in listed if key not in self.runs and key not in self._unread]
        if any(key in self.summaries and key not in self._sizing for key in due):
            self.load_summaries(due)  # with those not read yet, if a first reading was under way
        if self.preview_scope == "project":
            tree.show_frees({k: p.freed_bytes for k, p in self.plans.items() if not p.refused})
        self.refresh_view()

    def action_pick_metric(self) -> None:
        from .metric_picker import MetricPicker

        shown = self.policy_for(self.run).metric

        def chosen(choice: MetricChoice | None) -> None:
            if choice is None:
                return
            if choice.metric and choice.metric != "none":
                self.extra_columns.add(choice.metric)
            # None: as the flags and policy files say, else a metric each run logs.
            self.change_policy(metric=choice.metric, mode=choice.mode)

        self.app.push_screen(MetricPicker(self.metric_names(self.run), shown, self.policy.mode,
                                          self.session.metric is None and self.app.flags.metric is None), chosen)

    def action_cycle_direction(self) -> None:
        from .metric_picker import next_mode

        self.change_policy(mode=next_mode(self.policy.mode))
        # The top line shows the direction, (auto→min) or (max).

    def action_choose_rules(self) -> None:
        key = self.current
        current = (without_pins(self.policy_for(self.run)) if self.run is not None and self.metrics_ready
                   else self.policy)

        def chosen(policy: Policy | None) -> None:
            if policy is None:
                return
            if policy.pins and key is not None:  # step:N typed out: a pin of this run
                self.pins[key] = self.pins_of(key) | policy.pins
            policy = without_pins(policy)
            changed = {name: value for name, value, before in (
                ("keep", policy.keep_text or "latest", current.keep_text),
                ("full", policy.full_text or "", current.full_text or ""),
                ("metric", policy.metric, current.metric)) if value != before}
            self.change_policy(**changed)

        pinned = [f"{run} {step_ranges(steps)}" for (_, run), steps in self.pins.items() if steps]
        note = f"pins stay with their runs: {'; '.join(pinned)} (p unpins)" if pinned else ""
        from .rules import RuleChooser

        shown = without_pins(self.policy_for(self.run)) if self.run is not None and self.metrics_ready else self.policy
        self.app.push_screen(RuleChooser(shown._replace(marked=frozenset()), self.app.cursor_blink, note), chosen)

    def action_save_policy(self) -> None:
        """Save the current run's rule (metric, direction, rules, pins; never marks) in the
        location's policy file, which ls, prune and watch read too."""
        self.save_policy(self.current, self.policy_for(self.run)._replace(marked=frozenset()))

    @work(thread=True, exclusive=True, exit_on_error=False, group="save")
    def save_policy(self, key: RunKey, policy: Policy) -> None:
        from ...policy_file import save_run_policy

        store = self.app.open_store()
        saved = save_run_policy(store, *key, policy)
        policies = read_policies(store, self.listing or {})
        self.app.call_from_thread(self.policy_saved, key, policy, saved.path, policies)

    def policy_saved(self, key: RunKey, policy: Policy, path: str, policies: Policies) -> None:
        self.record([saved_event(*key, policy.describe(), path, self.app.clock())])
        self.show_policies(policies, None)
        self.notify(f"{key[0]}/{key[1]}: {policy.describe()}\nin {path}", title="Saved", timeout=6)

    def action_pin(self) -> None:
        ckpt = self.table.highlighted
        self.set_pin(self.current, ckpt.step, ckpt.step not in self.pins_of(self.current))

    def set_pin(self, key: RunKey, step: int, pinned: bool) -> None:
        """Pin or unpin a step of a run (from the steps, or the compare chart's best); a pinned
        step is unmarked. The row's P and the top line say it; no toast to cover the screen."""
        pins = self.pins_of(key)
        self.pins[key] = pins | {step} if pinned else pins - {step}
        self.marks[key] = self.marks.get(key, frozenset()) - {step}
        self._policy_changed()

    def action_mark(self) -> None:
        """Space in the step table: mark a step for deletion, as in ncdu; latest and best refuse."""
        ckpt = self.table.highlighted
        marks = self.marks.get(self.current, frozenset())
        if ckpt.step not in marks:
            why = self._never(self.run).get(ckpt.step)
            if why:
                self.notify(f"step {ckpt.step} cannot be marked: it is always kept ({why})", severity="warning", timeout=4)
                return
        self.marks[self.current] = toggled(marks, ckpt.step)
        self._policy_changed()
        self.table.action_cursor(1)

    # -- actions: preview and delete ---------------------------------------------
    def _plan(self, run: Run) -> Plan:
        """The run's plan by the core, with this run's pins and marks; refused while its saved
        policy cannot be used."""
        resolved = self.run_resolved(run)
        plan = plan_for(run, resolved._replace(policy=self.policy_for(run)))
        problem = self.policy_problem((run.project, run.name))
        if problem and not plan.refused:
            plan.refuse(problem)
        return plan

    def action_preview_run(self) -> bool:
        tree = self.query_one(RunTree)
        node = tree.cursor_node
        if self.focused is tree and node is not None and isinstance(node.data, str):
            self.action_preview_project(node.data)  # on a project's row: that project
            return False
        plan = self._plan(self.run)
        self._clear_preview()
        self.plans, self.preview_scope = {self.current: plan}, "run"
        if plan.refused:
            self.notify(plan.refused, title="Refused", severity="warning", timeout=12)
        elif plan.slim_refused:
            self.notify(f"{len(plan.slim_refused)} kept step(s) keep their training state: "
                        f"{plan.slim_refused[0].reason}", title="Slimming", severity="warning", timeout=8)
        self.refresh_view()
        return True

    def action_preview_project(self, project: str | None = None) -> None:
        project = project or self.current[0]
        self.table.loading = True
        self.query_one(StatusLine).show(StatusPart(self.app.location_label, "bold", 3),
                                        StatusPart(f"previewing {project}…", "bold", 5))
        self.load_project(project, list((self.listing or {}).get(project, [])))

    def show_project_preview(self, runs: list[Run]) -> None:
        self.table.loading = False
        for run in runs:
            key = (run.project, run.name)
            self.runs[key] = run
            self._sizing.discard(key)
            self.summaries[key] = self._summary(run)
            self.query_one(RunTree).update_summary(key, self.summaries[key])
        self.plans = {(r.project, r.name): self._plan(r) for r in runs}
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
        plans = [p for p in self.plans.values() if (p.delete or p.slim) and not p.refused]
        if not plans:
            refused = [p.refused for p in self.plans.values() if p.refused]
            self.notify("\n".join(refused) or "nothing to delete or slim under this rule",
                        title="Refused" if refused else "Delete", severity="warning", timeout=12)
            return
        self.app.clear_notifications()  # a toast must not cover the dialog's buttons
        from .confirm import ConfirmDelete

        store = self.app.store
        note = (lambda: store.deletion_note) if store is not None else None
        self.app.push_screen(ConfirmDelete(plans, note), self.deletion_done)

    def deletion_done(self, report: DeletionReport | None) -> None:
        if report is None:
            return
        outcome = report.outcome
        self.record(deletion_events(outcome.results, self.app.clock()))
        self._forget_deleted(outcome.results)
        planned = sum(len(r.plan.delete) + len(r.plan.slim) for r in outcome.results)
        done = outcome.deleted + outcome.slimmed
        slimmed = f", slimmed {outcome.slimmed}" if outcome.slimmed else ""
        message = f"deleted {outcome.deleted} checkpoint(s){slimmed}, freed {size(outcome.freed_bytes)}"
        gone = sum(len(r.gone) for r in outcome.results)
        if gone:
            message += f"; {gone} {'was' if gone == 1 else 'were'} already gone (deleted by another process)"
        if (outcome.cancelled or report.stop_requested) and done < planned:
            message = f"stopped: {message}; {planned - done} left as they were"
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
            if result.slim_failed:
                steps = step_ranges(item.step for item, _ in result.slim_failed)
                notes.append(f"{name}: {len(result.slim_failed)} step(s) not slimmed ({steps}): "
                             f"{result.slim_failed[0][1]}")
        notes += outcome.refusals + outcome.failures
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
            run = run._replace(checkpoints=[c for c in run.checkpoints if (c.step, c.name) not in gone])
            self.runs[key] = run
            self.summaries[key] = self._summary(run)
            self.query_one(RunTree).update_summary(key, self.summaries[key])
            if key == self.current:
                self.run = run
        self._clear_preview()
        self.refresh_view()

    def action_offload(self) -> None:
        from .offload import offload_from

        offload_from(self)

    # -- actions: fork -----------------------------------------------------------
    def action_fork(self) -> None:
        self.open_fork(self.current, self.table.highlighted, self.run)

    def open_fork(self, key: RunKey, ckpt: Checkpoint, run: Run | None) -> None:
        """The fork dialog for a step of a run (from the steps, or the compare chart's best)."""
        if not ckpt.complete:
            self.notify(f"{ckpt.name} is {ckpt.note or 'incomplete'}: only whole checkpoints can be forked",
                        severity="warning")
            return
        known = {(p, r) for p, runs in (self.listing or {}).items() for r in runs}
        from .fork import ForkScreen

        self.app.push_screen(ForkScreen(*key, ckpt, known, self.app.cursor_blink, run), self.fork_done)

    def fork_done(self, result: ForkResult | None) -> None:
        if result is None:
            return
        self.record([fork_event(result, self.app.clock())])
        history = f" with {result.history_records} history record(s)" if result.history_records else ""
        self.notify(f"forked {result.project}/{result.run} step {result.step} ({size(result.bytes)}) "
                    f"into {result.to_project}/{result.to_run}{history}\n{result.location}", title="Fork", timeout=8)
        self.current = None
        self.load_listing((result.to_project, result.to_run))
        self.forked = (result.to_project, result.to_run)
