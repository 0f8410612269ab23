"""``ckpt-tui watch``: keep runs pruned from beside the trainer, outside its processes.

The location is polled (on a disk, file notifications wake the loop early).
When a selected run has a new complete checkpoint, it is planned and executed
exactly as ``prune --yes`` does: interrupted work is finished, the run is read
again, and only the steps both plans delete go. A save in progress, a step
above a tracker and a step that appeared after the plan are never candidates.
Problems are reported once and retried at the next poll; nothing here is fatal
once the loop runs. A stop request lets the deletion in progress finish its
current checkpoint (the rest are put back whole) and ends the loop.

A run whose policy has an ``offload`` key is offloaded instead of pruned: what
its local rules do not keep goes to the key's location, verified, before it
leaves the disk (``core.offload``).
"""

from __future__ import annotations

import re
import signal
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .core import CkptError, NotFound, Pending, Refused, Run, Store, execute_plan
from .core.store import runs_to_act_on
from .core.policy import NO_SETTINGS, Policies, Resolved, Settings, finish_leftovers, plan_for
from .core.retention import Plan
from .core.events import Event, deletion_events
from .formatting import size
from .stores.local import LocalStore

if TYPE_CHECKING:
    from .core.offload import OffloadPlan

DEFAULT_INTERVAL = 30.0
# After a stop request: how long a watch that is not deleting may take to end its poll, and how
# often the main thread looks whether it did.
STOP_GRACE = 3.0
STOP_CHECK = 0.1
# Notifications come in bursts while a trainer writes: polls they cause are at least this far apart.
MIN_GAP = 1.0
Pair = tuple[str, str]
# What an interrupted deletion or fork of ours leaves: finished whenever a run is pruned.
LEFTOVERS = (Pending.INTERRUPTED_DELETE, Pending.ABANDONED_FORK)


Report = Callable[[Event], None]


# -- disk pressure ----------------------------------------------------------------------
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*(?:([kmgtp])(i?)b?|b?)$", re.IGNORECASE)
_PERCENT = re.compile(r"^(\d+(?:\.\d+)?)\s*%$")


@dataclass(frozen=True, slots=True)
class MinFree:
    """``--min-free``: prune only while the location's filesystem has less free space than this,
    a number of bytes or a fraction of its size."""

    bytes: int | None = None
    fraction: float | None = None

    @classmethod
    def parse(cls, text: str) -> MinFree:
        """``50G``, ``50GB`` (10^9), ``50GiB`` (2^30), ``750M``, ``1048576`` (bytes) or ``10%``."""
        text = text.strip()
        if match := _PERCENT.match(text):
            percent = float(match.group(1))
            if 0 < percent < 100:
                return cls(fraction=percent / 100)
        elif match := _SIZE.match(text):
            unit = "kmgtp".index(match.group(2).lower()) + 1 if match.group(2) else 0
            return cls(bytes=int(float(match.group(1)) * (1024 if match.group(3) else 1000) ** unit))
        raise Refused(f"--min-free {text!r}: give a size (50G, 500MB, 2TiB) or a percentage below 100 (10%)")

    def wanted(self, total: int) -> int:
        return self.bytes if self.bytes is not None else int(self.fraction * total)

    def short(self, store: Store) -> bool:
        """Whether the store reports less free space than asked where the location is."""
        space = store.space()
        return space.free is not None and space.free < self.wanted(space.total or 0)

    def __str__(self) -> str:
        return size(self.bytes) if self.bytes is not None else f"{self.fraction * 100:g}%"


def disk_path(store: Store) -> str | None:
    """The location's folder on this machine, when it is on a disk."""
    return store.base if isinstance(store, LocalStore) else None


# -- waking up and stopping ---------------------------------------------------------------
def follow_changes(path: str, wake: threading.Event, stop: threading.Event) -> threading.Thread | None:
    """Set ``wake`` on every change below ``path`` (inotify and the like, through ``watchfiles``);
    None when ``watchfiles`` is not installed, and polling alone drives the loop."""
    try:
        import watchfiles
    except ImportError:
        return None

    def follow() -> None:
        try:
            for _changes in watchfiles.watch(path, watch_filter=None, stop_event=stop, raise_interrupt=False):
                wake.set()
        except Exception:  # noqa: BLE001 - notifications only wake the loop early; polling goes on
            return

    thread = threading.Thread(target=follow, name="ckpt-tui-watchfiles", daemon=True)
    thread.start()
    return thread


@dataclass(slots=True)
class Signals:
    """What SIGINT and SIGTERM have asked. The first one only sets ``asked``; later SIGTERMs are
    ignored and a second SIGINT interrupts at once.

    Nothing else happens in the handler: setting an ``Event`` there can deadlock on the lock the
    interrupted code holds in its ``wait``, and an exception raised inside ``Thread.join`` (3.11)
    marks the thread as ended while it still runs."""

    asked: bool = False

    def handler(self, signum: int, _frame: object) -> None:
        if self.asked:
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            return
        self.asked = True


@contextmanager
def stop_on_signals() -> Iterator[Signals]:
    """SIGINT and SIGTERM handled by a ``Signals`` while inside."""
    signals = Signals()
    previous = {sig: signal.signal(sig, signals.handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield signals
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run_until_signalled(start: Callable[[], Watch], interval: float = DEFAULT_INTERVAL) -> bool:
    """``start()`` (opening the location, checking the policy), then the watch it returns run in
    a thread of its own until SIGINT or SIGTERM. This thread only waits and answers signals, from
    before ``start()`` on: no read, however long it takes, keeps a signal from being answered.

    On a stop, a deletion in progress finishes its current checkpoint and puts the rest back;
    a poll that is not deleting and has not ended within ``STOP_GRACE`` seconds (a read that
    does not return) is left behind: False then."""
    failed: list[BaseException] = []

    def work() -> None:
        try:
            watch.run(interval)
        except BaseException as exc:  # noqa: BLE001 - raised again in the main thread
            failed.append(exc)

    with stop_on_signals() as signals:
        watch = _started(start, signals)
        if watch is None:
            return True  # stopped before anything was watched
        worker = threading.Thread(target=work, name="ckpt-tui-watch", daemon=True)
        worker.start()
        while worker.is_alive() and not signals.asked:
            worker.join(STOP_CHECK)
        watch.request_stop()  # here, not in the handler: no lock of the interrupted code is held
        deadline = time.monotonic() + STOP_GRACE
        while worker.is_alive():
            worker.join(STOP_CHECK)
            if time.monotonic() > deadline and watch.idle():
                return not worker.is_alive()
    if failed:
        raise failed[0]
    return True


def _started(start: Callable[[], Watch], signals: Signals) -> Watch | None:
    """``start()`` in a thread of its own, the main thread only waiting: a read that blocks in
    ``start()`` is not interrupted by a signal the kernel hands to another thread, so it must
    not be the thread that answers signals. None when a stop came first (the opening thread is
    left behind; it holds no claim)."""
    outcome: list[Watch | BaseException] = []

    def opening() -> None:
        try:
            outcome.append(start())
        except BaseException as exc:  # noqa: BLE001 - raised again in the main thread
            outcome.append(exc)

    opener = threading.Thread(target=opening, name="ckpt-tui-watch-start", daemon=True)
    opener.start()
    while opener.is_alive() and not signals.asked:
        opener.join(STOP_CHECK)
    if signals.asked or not outcome:
        return None
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


# -- the loop -------------------------------------------------------------------------------
def _has_leftovers(run: Run) -> bool:
    return any(c.pending in LEFTOVERS for c in run.pending)


class Watch:
    """Keeps the selected runs of ``store`` pruned: ``cycle()`` polls once, ``run()`` until stopped.

    ``flags`` override the runs' policy files, which are read again at every
    poll: a changed file plans every run again. ``report`` receives every event.
    """

    def __init__(self, store: Store, project: str | None = None, run: str | None = None,
                 flags: Settings = NO_SETTINGS, report: Report = lambda event: None,
                 min_free: MinFree | None = None, open_location: Callable[[str], Store] | None = None) -> None:
        self.store, self.project, self.run_name, self.flags = store, project, run, flags
        self.open_location = open_location
        self.targets: dict[str, Store] = {}  # offload targets, each opened once
        self.report, self.min_free = report, min_free
        self.root = disk_path(store)
        if min_free is not None and store.space().free is None:
            raise Refused(f"--min-free measures free space on a disk; {store.location} is not on one")
        self.policies = Policies(store, flags)
        self.stop, self.wake = threading.Event(), threading.Event()
        self.seen: dict[Pair, set[tuple[int, str]]] = {}  # complete checkpoints at the last poll
        self.new: dict[Pair, set[tuple[int, str]]] = {}  # ... of which not yet planned
        self.todo: set[Pair] = set()  # runs to plan and prune
        self.refused: set[Pair] = set()  # runs whose missing metric was reported
        self.problems: dict[Hashable, str] = {}  # the last problem reported, per place it occurred
        self.deleting = 0  # deletions under way: a stop waits for them, whatever else it leaves
        self.gate = threading.Lock()  # guards ``deleting`` against a deletion starting after a stop

    def check(self) -> None:
        """Fail fast on a policy that cannot apply to a run already there."""
        try:
            pairs = runs_to_act_on(self.store, self.project, self.run_name)
        except NotFound:
            pairs = []  # the trainer has not written it yet
        for project, run in pairs:
            self.policies.resolve(project, run).checked()  # an invalid file stops here

    def request_stop(self) -> None:
        self.stop.set()
        self.wake.set()

    def run(self, interval: float = DEFAULT_INTERVAL) -> None:
        """Poll every ``interval`` seconds (sooner on file changes) until ``request_stop()``."""
        follower = follow_changes(self.root, self.wake, self.stop) if self.root is not None else None
        try:
            while not self.stop.is_set():
                self.wake.clear()
                started = time.monotonic()
                self.cycle()
                self.stop.wait(min(interval, MIN_GAP))
                self.wake.wait(max(0.0, interval - (time.monotonic() - started)))
        finally:
            self.stop.set()
            if follower is not None:
                follower.join(timeout=2)

    def cycle(self) -> None:
        """One poll: each selected run with a new complete checkpoint is planned and pruned."""
        pairs: list[Pair] = []
        if not (self._guard("policy", self._read_policies)
                and self._guard("runs", lambda: pairs.extend(runs_to_act_on(self.store, self.project, self.run_name)))):
            return
        for pair in pairs:
            if self.stop.is_set():
                return
            self._guard(pair, lambda pair=pair: self._poll(pair))

    # -- one run ---------------------------------------------------------------------------
    def _read_policies(self) -> None:
        if self.policies.refresh():
            self.seen.clear()  # a new policy: every run is planned again
        self.policies.check()  # a file that cannot be used stops this poll, before anything is deleted

    def _poll(self, pair: Pair) -> None:
        """Note the run's new complete checkpoints; prune when there are some (and space is short)."""
        run = self.store.load_run(*pair, with_metrics=False, with_sizes=False)
        keys = {c.key for c in run.checkpoints}
        added = keys - self.seen.get(pair, set())
        self.seen[pair] = keys
        if added:
            self.new[pair] = (self.new.get(pair, set()) | added) & keys
        if added or _has_leftovers(run):  # what a failed or stopped deletion left is retried too
            self.todo.add(pair)
        if pair in self.todo and (self.min_free is None or self.min_free.short(self.store)):
            self._prune(pair)

    def _prune(self, pair: Pair) -> None:
        slims = self.policies.resolve(*pair).policy.full is not None
        run = self.store.load_run(*pair, with_state=slims)
        # What the full read calls complete: a step the quick poll took for one (a folder still
        # empty) is seen as new again at the next poll, until it is complete.
        self.seen[pair] = {c.key for c in run.checkpoints}
        resolved = self.policies.resolve(*pair, run.metrics.names())
        offload = self._offload_plan(run, resolved)
        plan = offload.plan if offload is not None else plan_for(run, resolved, unattended=True)
        if plan.refused:
            if pair not in self.refused:  # a refusal is told once, not at every poll
                self.refused.add(pair)
                self.report(Event("refused", *pair, reasons=(plan.refused,)))
            self._done(pair)
            return
        self.refused.discard(pair)
        new = self.new.pop(pair, set())
        for kept in plan.keep:
            if kept.key in new:
                self.report(Event("kept", *pair, kept.step, kept.bytes, kept.reasons))
        if not plan.delete and not plan.slim:
            if plan.source is not None and _has_leftovers(plan.source):
                # As execution would have first, had there been anything to delete.
                with self._deletion() as go:
                    finished = finish_leftovers(self.store, [plan]) if go else []
                for _plan, what, removed in finished:
                    if removed:
                        self.report(Event("finished", *pair, reasons=(f"removed {what}",)))
                    else:
                        self._problem((pair, "leftovers"), Event("failed", *pair, reasons=(what,)))
            self._done(pair)
            return
        if offload is not None:
            self._offload(pair, offload)
        else:
            self._execute(pair, plan)

    @contextmanager
    def _deletion(self) -> Iterator[bool]:
        """Whether a deletion may start (not after a stop request); counted while it runs."""
        with self.gate:
            go = not self.stop.is_set()
            self.deleting += go
        try:
            yield go
        finally:
            with self.gate:
                self.deleting -= go

    def idle(self) -> bool:
        """After a stop request: True once no deletion runs, and then none ever starts."""
        with self.gate:
            return self.stop.is_set() and self.deleting == 0

    def _execute(self, pair: Pair, plan: Plan) -> None:
        with self._deletion() as go:
            if not go:
                return  # stopped: the run stays to do at the next start
            result = execute_plan(self.store, plan, should_cancel=self._should_stop_deleting)
        self._tell(pair, deletion_events([result]))
        if result.ok and not result.cancelled:
            self._done(pair)

    def _done(self, pair: Pair) -> None:
        """Nothing left to do on the run until its next new checkpoint; failures told are forgotten."""
        self.todo.discard(pair)
        self._clear(lambda key: isinstance(key, tuple) and key[0] == pair)

    # -- offload: with an ``offload`` key, steps go to its target before they leave the disk ---------
    def _offload_plan(self, run: Run, resolved: Resolved) -> OffloadPlan | None:
        from .core.offload import offload_target, plan_offload

        to = offload_target(resolved)
        if to is None:
            return None
        if to not in self.targets:
            from .stores import open_store

            self.targets[to] = (self.open_location or open_store)(to)
        return plan_offload(self.store, self.targets[to], run, resolved, None, to, unattended=True)

    def _offload(self, pair: Pair, offload: OffloadPlan) -> None:
        from .core.offload import execute_offload, offload_events

        with self._deletion() as go:
            if not go:
                return  # stopped: the run stays to do at the next start
            result = execute_offload(self.store, self.targets[offload.to], offload,
                                     should_cancel=self._should_stop_deleting)
        self._tell(pair, offload_events(result))
        if result.ok and not result.cancelled:
            self._done(pair)

    def _tell(self, pair: Pair, events: list[Event]) -> None:
        from .app.activity import append_on_disk

        problem = append_on_disk(self.store, events)  # .ckpt-tui.log, as the app writes it
        if problem:
            self._problem("activity log", Event("error", reasons=(problem,)))
        for event in events:
            if event.problem:
                self._problem((pair, event.step, event.reasons), event)
            else:
                self.report(event)

    def _should_stop_deleting(self) -> bool:
        """Between checkpoints: on a stop request, or once there is free space enough again."""
        return self.stop.is_set() or (self.min_free is not None and not self.min_free.short(self.store))

    # -- problems ---------------------------------------------------------------------------
    def _guard(self, where: Hashable, work: Callable[[], None]) -> bool:
        """Whether ``work()`` went through; if not, why is reported: never fatal, retried at the next poll."""
        try:
            work()
        except CkptError as exc:
            message = str(exc)
        except OSError as exc:
            message = f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc)
        except Exception as exc:  # noqa: BLE001 - a watcher beside a trainer must outlive a glitch
            message = f"{type(exc).__name__}: {exc}"
        else:
            self._clear(lambda key: key == where)
            return True
        project, run = where if isinstance(where, tuple) else (None, None)
        self._problem(where, Event("error", project, run, reasons=(message,)))
        return False

    def _problem(self, where: Hashable, event: Event) -> None:
        """Report a problem unless the same one was reported last time at the same place."""
        message = "; ".join(event.reasons)
        if self.problems.get(where) != message:
            self.problems[where] = message
            self.report(event)

    def _clear(self, matches: Callable[[Hashable], bool]) -> None:
        for key in [k for k in self.problems if matches(k)]:
            del self.problems[key]
