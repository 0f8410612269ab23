"""What every trainer layout shares: the Layout base class, the registry and how a folder's entries are sorted.

A layout is pure name logic plus what it reads through ``RunFiles``; it never
touches a path or an S3 key itself, so it behaves the same on every backend.
A layout module registers its layouts (``register``) when it is imported.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from fnmatch import fnmatchcase
from functools import cache

from ...core.lazy_pattern import LazyPattern
from ...core.metrics import Metrics
from ...core.models import Pending, TrainingState
from ...core.records import NamedTuple
from .whole_files import Weights

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol, TypeVar
else:
    Protocol = object  # structural for type checkers; a plain class when run

# Leftovers of our own interrupted work, beside the steps of a run.
DELETING_PREFIX = ".deleting-"
FORKING_PREFIX = ".forking-"
# A fork whose staging has not been written to for this long was abandoned
# (its process died); younger ones may still be in progress in another process.
ABANDONED_FORK_SECONDS = 24 * 3600
_LEFTOVER = LazyPattern(r"^\.(deleting|forking)-(\d+)-")

TRACKER_REASON = "tracker"
TRAINER_BEST = "trainer's best"
# Folder names that hold a run's checkpoints but do not name the run (Lightning's
# ``version_0/checkpoints``): the run is named after the folder above.
CONTAINERS = frozenset({"checkpoints", "checkpoint", "ckpts", "ckpt"})


def leftover_step(name: str) -> tuple[str, int] | None:
    """('deleting'|'forking', step) for the leftovers of an interrupted operation."""
    match = _LEFTOVER.match(name)
    return (match.group(1), int(match.group(2))) if match else None


def whole(text: str) -> int | None:
    """A non-negative integer written without sign or leading zeros, else None."""
    if text.isascii() and text.isdigit() and (text == "0" or not text.startswith("0")):
        return int(text)
    return None


class RunFiles(Protocol):
    """What a layout may read of one run, through whatever backend holds it."""

    def read_text(self, path: str, limit: int = ...) -> str | None:
        """A small file's text by its path relative to the checkpoint folder; None if absent
        (or there but not read: the run is then refused). ``limit``: the most bytes taken."""
        ...

    def read_run_text(self, path: str) -> str | None:
        """The same, relative to the run's own folder."""
        ...

    def read_run_lines(self, path: str) -> Iterable[bytes] | None:
        """A file of the run's own folder of any size, line by line (ART's ``history.jsonl``)."""
        ...

    def read_run_metrics(self, path: str) -> Metrics | None:
        """``parse_history_lines`` of ``read_run_lines`` (None: no such file), parsed once while unchanged
        where the store keeps parsed histories (a local disk's)."""
        ...

    def link_target(self, name: str) -> str | None:
        """For a symbolic link directly in the checkpoint folder, the name it points at."""
        ...

    def names(self) -> Collection[str]:
        """Every name directly in the checkpoint folder (sibling markers such as NeMo's ``-unfinished``)."""
        ...

    def children(self, name: str) -> Collection[str]:
        """Names directly inside step folder ``name``; empty unless the layout lists its step folders."""
        ...

    def weights(self, names: Collection[str], archives: bool = False) -> Mapping[str, Weights]:
        """For each step folder of ``names``, its weights files and the ``.safetensors`` ones cut
        short (with ``archives``, ``torch.save`` zip archives too); ``whole_files``: only the bytes
        that tell are read."""
        ...


class Summary(NamedTuple):
    """A layout's row of README's table of layouts (Markdown): how a step checkpoint looks, when it
    is complete, what is never deleted whatever the rule, where its metrics come from."""

    checkpoint: str
    complete: str
    kept: str
    metrics: str


class Inspection:
    """What a layout learns from the files beside the checkpoints."""

    __slots__ = ("protected", "in_progress", "metrics", "resume", "evidence", "targets")

    def __init__(self) -> None:
        self.protected: dict[int, tuple[str, ...]] = {}
        self.in_progress: dict[str, tuple[Pending, str]] = {}  # entry name -> why
        self.metrics = Metrics()
        self.resume: set[int] = set()  # protected steps the trainer resumes from: kept whole
        # Entry name -> why it counts as complete (the layout's ``complete_evidence`` otherwise).
        self.evidence: dict[str, str] = {}
        # Entry name -> the file inside it that names the checkpoint and is pointed at (Lightning's ``val/``
        # sub-folders hold one ``.ckpt``: its path is what Lightning records in ``best_k_models``).
        self.targets: dict[str, str] = {}

    def incomplete(self, name: str, why: str, pending: Pending = Pending.INCOMPLETE) -> None:
        """``name`` is unfinished; a second reason adds to the first."""
        if name in self.in_progress:
            pending, first = self.in_progress[name]
            why = f"{first}; {why}" if first else why
        self.in_progress[name] = (pending, why)

    def attest(self, name: str, why: str) -> None:
        """Evidence that ``name`` is complete; more adds to what was said."""
        self.evidence[name] = f"{self.evidence[name]}; {why}" if self.evidence.get(name) else why

    def judge(self, name: str, complete: bool, why: str) -> None:
        """A verdict on ``name`` and its reason, either way."""
        if complete:
            self.attest(name, why)
        else:
            self.incomplete(name, why)

    def protect(self, step: int, reason: str, resume: bool = False) -> None:
        reasons = self.protected.get(step, ())
        if reason not in reasons:
            self.protected[step] = reasons + (reason,)
        if resume:
            self.resume.add(step)


class Layout:
    """One trainer's naming of step checkpoints inside a run folder.

    ``step_kind`` says whether a step is a folder (``"dir"``), a file
    (``"file"``) or either (``"any"``). ``markers``, when set, are names one of
    which a step folder must hold, for layouts whose names alone are too common
    to trust (Orbax's bare numbers). ``history_file`` is a metrics log in the
    run folder that a fork may copy; ``tracker`` a file naming the last
    finished save. ``reads_step_folders`` lists every step folder when a run is
    loaded, for layouts that judge completeness by what a step holds
    (``RunFiles.children``). ``complete_evidence`` says why a step counts as
    complete when ``inspect`` says nothing more.
    """

    name = ""
    # For people (README, the app's empty location): what the layout is called, the trainers that
    # write it, and its row of README's table of layouts.
    display_name = ""
    trainers: tuple[str, ...] = ()
    summary: Summary | None = None
    # Ties between layouts claiming as many entries of a folder go to the lower preference (this
    # package's layouts use 0 to 150, and Orbax, tried once per prefix, 1000).
    preference = 500
    # Folder names that hold a run's steps without naming the run (see ``CONTAINERS``).
    containers: frozenset[str] = CONTAINERS
    # A folder, directly in a project folder, each sub-folder of which is a run of this layout
    # whatever it holds (ART's ``{project}/models/``): its runs are found by name, never detected.
    runs_folder = ""
    # Whether a run forked from a store that keeps no layout of its own (W&B) is written in this one.
    reference = False
    step_kind = "dir"
    markers: frozenset[str] = frozenset()
    tracker: str | None = None
    history_file: str | None = None
    reads_step_folders = False
    # False where a name alone is too common to trust (``step_10``, ``epoch_3``): ``confirms`` decides.
    trusts_names = True
    complete_evidence = ""
    # Why a name ``in_progress_step`` recognises is unfinished.
    unfinished_evidence = ""
    # The folder a forked run keeps its steps in (Lightning's and NeMo's ``checkpoints/``).
    fork_container = ""
    # Whether the layout's own metrics (if any) leave room for TensorBoard event files.
    reads_event_files = True
    # Whether event files are read even when the layout has metrics of its own (values from
    # checkpoint names then fill in what the event files lack), and whether folders of event files
    # are successive versions of one logger, one per fit into the same checkpoint folder.
    merges_event_files = False
    logger_versions = False
    # Whether step names number saves, not training steps (Accelerate's ``checkpoint_{i}``): event
    # files' values then go to the save written after them.
    numbers_saves = False

    # Names of steps, the step in the group ``step`` (written without leading zeros), for layouts
    # whose ``step`` is no more than that.
    step_pattern: re.Pattern[str] | None = None

    def step(self, name: str) -> int | None:
        """The step of a complete checkpoint's entry name, else None."""
        if self.step_pattern is None:
            raise NotImplementedError
        match = self.step_pattern.match(name)
        return whole(match.group("step")) if match else None

    def in_progress_step(self, name: str) -> int | None:
        """The step of a save the trainer has not finished, else None."""
        return None

    def settles(self, name: str) -> bool:
        """Whether step ``name`` has no completion marker (ART, torchtune's ``epoch_N``): it counts as
        complete only once it has settled, its newest file older than the settle window."""
        return False

    def entry(self, name: str) -> str:
        """The entry of the checkpoint folder that checkpoint ``name`` is (itself, or the sub-folder
        holding it): what is deleted."""
        return name

    def checkpoint_name(self, step: int, like: str = "") -> str:
        """The name this layout gives step ``step`` (``like``: the source's name, for forks)."""
        raise NotImplementedError

    def accepts(self, is_dir: bool) -> bool:
        return self.step_kind == "any" or (self.step_kind == "dir") == is_dir

    def needs_look(self, name: str) -> bool:
        """Whether a folder of this name is a step only if what it holds says so (``confirms``)."""
        return (bool(self.markers) or not self.trusts_names) and self.step(name) is not None

    def confirms(self, children: Collection[str]) -> bool:
        return not self.markers or not self.markers.isdisjoint(children)

    def accepts_run(self, steps: Mapping[str, int]) -> bool:
        """Whether a folder whose entries this layout claims is one of its runs (discovery)."""
        return True

    def lists(self, name: str) -> bool:
        """Whether loading a run lists the step folder ``name`` (see ``RunFiles.children``)."""
        return self.reads_step_folders or self.needs_look(name)

    def from_event_steps(self, metrics: Metrics) -> Metrics:
        """TensorBoard values keyed by the step of the checkpoint they belong to (the trainer's
        logging offset, where it has one)."""
        return metrics

    def merge_event_values(self, events: Metrics, own: Metrics) -> Metrics:
        """The event files' values, and the layout's own where the event files have none."""
        for step, values in own.by_step.items():
            into = events.by_step.setdefault(step, {})
            for name, value in values.items():
                into.setdefault(name, value)
        events.aliases = {**own.aliases, **events.aliases}
        return events

    def event_step(self, step: int) -> int:
        """The event step at which the trainer logged the values of the checkpoint of ``step``."""
        return step

    def tracker_text(self, step: int) -> str:
        return f"{step}\n"

    def training_state(self, files: Sequence[tuple[str, int]]) -> TrainingState:
        """Which of a step's ``(path, bytes)`` files are training state, or why it cannot be slimmed."""
        return TrainingState(refusal=f"{self.name} checkpoints cannot be slimmed in place")

    def side_files(self, steps: Mapping[str, int], with_metrics: bool = True) -> list[str]:
        """Paths ``inspect`` will read, so that a remote store can fetch them together beforehand."""
        return [self.tracker] if self.tracker is not None else []

    def inspect(self, steps: Mapping[str, int], files: RunFiles, with_metrics: bool = True) -> Inspection:
        """Protected steps, unfinished saves and metrics, from the files beside ``steps``."""
        found = Inspection()
        if self.tracker is not None:
            tracked = parse_tracker(files.read_text(self.tracker))
            apply_tracker(found, steps, tracked, self.tracker)
            if tracked is None:
                untracked(found, steps, self.tracker)
        return found

    # -- hooks of discovery and forks ------------------------------------------------------
    def variants(self) -> tuple[Layout, ...]:
        """This layout and every one its runs may turn out to be once settled (``settle``)."""
        return (self,)

    def candidates(self, entries: Sequence[tuple[str, bool]]) -> Sequence[Layout]:
        """The layouts detection tries on a folder's ``(name, is_dir)`` entries for this one."""
        return (self,)

    def may_be_step(self, name: str) -> bool:
        """Whether discovery must look inside a folder of this name to tell whether it is a step of
        this layout (or of one of its ``candidates``)."""
        return self.needs_look(name)

    def settle(self, folders: Collection[str], links: Collection[str]) -> tuple[str, Layout]:
        """For a run found by name (``runs_folder``): the folder holding its steps, relative to the
        run's own ("" for itself), and the layout it turns out to be, from the names of the run
        folder's sub-folders and symbolic links."""
        return self.fork_container, self

    def fork_layout(self, like: str) -> Layout:
        """The layout of a new run forked from this layout's checkpoint named ``like``."""
        return self

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


if TYPE_CHECKING:
    L = TypeVar("L", bound=Layout)
_REGISTERED: dict[str, Layout] = {}


def register(layout: L) -> L:
    """Make ``layout`` known to discovery, forks and every list of trainers: a layout module calls
    it on each layout it defines, when imported."""
    known = _REGISTERED.get(layout.name)
    if known is not None and known is not layout:
        raise ValueError(f"two layouts are named {layout.name!r}: {known!r} and {layout!r}")
    _REGISTERED[layout.name] = layout
    registered.cache_clear()
    return layout


def unregister(layout: Layout) -> None:
    """Forget a registered layout (a layout defined for a while, as in a test)."""
    if _REGISTERED.get(layout.name) is layout:
        del _REGISTERED[layout.name]
        registered.cache_clear()


@cache
def registered() -> tuple[Layout, ...]:
    """Every registered layout, in order of preference."""
    return tuple(sorted(_REGISTERED.values(), key=lambda layout: (layout.preference, layout.name)))


def parse_tracker(text: str | None) -> int | None:
    """The iteration in ``latest_checkpointed_iteration.txt`` (None for ``release`` or junk)."""
    if text is None:
        return None
    value = text.strip()
    return int(value) if value.isascii() and value.isdigit() else None


def apply_tracker(found: Inspection, steps: Mapping[str, int], tracked: int | None,
                  tracker: str = "latest_checkpointed_iteration.txt", reason: str = TRACKER_REASON) -> None:
    """The tracked step is protected; a later one was never finished (the tracker is written last)."""
    if tracked is None:
        return
    for name, step in steps.items():
        if step == tracked:
            found.protect(step, reason, resume=True)
            found.attest(name, f"named by {tracker}")
        elif step > tracked:
            found.incomplete(name, f"{tracker} names step {tracked}", Pending.NEWER_THAN_TRACKER)
        else:
            found.attest(name, f"before the step {tracker} names ({tracked})")


def untracked(found: Inspection, names: Iterable[str], tracker: str) -> None:
    """No tracker naming a step yet: the trainer writes it after each save, so nothing is known whole
    (a first save in progress looks exactly like this)."""
    for name in names:
        found.incomplete(name, f"no {tracker} naming a step yet (the trainer writes it after each save)")


def matching_state(files: Sequence[tuple[str, int]], patterns: Iterable[str]) -> TrainingState:
    """The files whose path matches one of ``patterns`` (``fnmatch``, ``*`` crosses no ``/``)."""
    patterns = tuple(patterns)
    found = [(path, size) for path, size in files
             if any(fnmatchcase(path, p) and p.count("/") == path.count("/") for p in patterns)]
    return TrainingState(tuple(sorted(p for p, _ in found)), sum(s for _, s in found))


class RunScan:
    """A run folder's entries sorted out by one layout."""

    __slots__ = ("layout", "steps", "pending", "links")

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.steps: dict[str, int] = {}  # complete checkpoints
        self.pending: dict[str, tuple[int, Pending]] = {}  # name -> (step, why)
        self.links: dict[str, int] = {}  # step names that are symbolic links


def scan_entries(layout: Layout, entries: Iterable[tuple[str, bool]],
                 children: Callable[[str], Collection[str]] | None = None,
                 links: Iterable[str] = ()) -> RunScan:
    """Sort ``(name, is_dir)`` entries into complete steps and unfinished ones.

    ``children(name)`` lists a step folder, for names that need a look; ``links``
    are entries that are symbolic links (never followed, never steps).
    """
    scan = RunScan(layout)
    for name, is_dir in entries:
        if name[:1] == "." and (left := leftover_step(name)) is not None:  # leftovers are hidden names
            why = Pending.INTERRUPTED_DELETE if left[0] == "deleting" else Pending.ABANDONED_FORK
            scan.pending[name] = (left[1], why)
        elif (step := layout.step(name)) is not None and layout.accepts(is_dir):
            if not layout.needs_look(name) or (is_dir and children is not None and layout.confirms(children(name))):
                scan.steps[name] = step
        elif (step := layout.in_progress_step(name)) is not None:
            scan.pending[name] = (step, Pending.SAVE_IN_PROGRESS)
    for name in links:
        if (step := layout.step(name)) is not None:
            scan.links[name] = step
    return scan
