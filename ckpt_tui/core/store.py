"""The interface every storage backend implements. The core only talks to this."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence

from .errors import CkptError, NotFound, Refused
from .metrics import Metrics
from .models import Checkpoint, FileEntry, Run, Upload
from .names import validate_name, validate_project
from .policy import POLICY_FILE, PolicyPlace
from .records import NamedTuple

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path  # only where a checkpoint is downloaded
    from typing import BinaryIO, TypeVar

    T = TypeVar("T")
# Called with (bytes_done, bytes_total) while a checkpoint is copied.
ByteProgress = Callable[[int, int], None]
# Called with a number of bytes just copied (from several threads at once).
BytesCopied = Callable[[int], None]
# Called once per checkpoint a deletion has finished with (deleted, gone or failed).
CheckpointDone = Callable[[Checkpoint], None]
# Outcomes of ``Store.delete_checkpoints`` besides an error message.
DELETED = ""
GONE = "already deleted by another process"  # not a failure: the end state is the one asked for
NOT_REACHED = "not reached: stopped"


class ForkTarget(NamedTuple):
    """Where a fork would create its run, found before anything is copied."""

    url: str  # the new run's folder, in full
    listed: bool  # inside the opened location: listed with its runs once created
    history: bool  # the new run keeps a history file that the source's records can go to


class ByteCounter:
    """Thread-safe byte counter feeding a ``(done, total)`` callback."""

    def __init__(self, total: int, callback: ByteProgress | None) -> None:
        self.total, self.done = total, 0
        self._callback = callback
        self._lock = threading.Lock()

    def __call__(self, amount: int) -> None:
        with self._lock:
            self.done += amount
            if self._callback is not None:
                self._callback(min(self.done, self.total), self.total)

    def as_progress(self) -> ByteProgress:
        """As a ``(done, total)`` callback, for a store that reports totals itself."""
        start = self.done

        def progress(done: int, total: int) -> None:
            with self._lock:
                self.done = start + done
            if self._callback is not None:
                self._callback(min(self.done, self.total), self.total)

        return progress


class StepCopy(NamedTuple):
    """A step held, verified, at the same place in another location (``offload``)."""

    copied: bool  # False: it was there already, with the same content
    files: int
    bytes: int
    location: str


class Space(NamedTuple):
    """Room for new files where a location is: ``free`` and ``total`` bytes of the filesystem
    holding it, where the store reports them; else None, and ``note`` says what it reports instead."""

    free: int | None
    total: int | None = None
    note: str = ""


class RunSize(NamedTuple):
    """What a listing of a run's files tells before any of them is read: its step entries, as
    the rows a full read shows (complete or not: a full read may find some still being written;
    leftovers of interrupted work included) and its bytes on storage, each hard-linked file once."""

    steps: int
    bytes: int


class Store(ABC):
    """A location holding projects -> runs -> per-step checkpoints.

    Implementations never touch anything outside a run's checkpoint directory
    or prefix when deleting, and make a half-deleted checkpoint impossible to
    mistake for a whole one. Optional abilities have working defaults here.
    """

    location: str
    # A line shown where a deletion is confirmed (W&B: storage comes back later).
    deletion_note: str | None = None

    def connect(self) -> None:
        """Check credentials up front; the app calls this from a worker."""

    @property
    def notes(self) -> list[str]:
        """Lines about what the location holds but could not read or would not follow."""
        return []

    @property
    def unreadable_folders(self) -> list[str]:
        """Folders under the location it may not list (permissions), relative to it."""
        return []

    def space(self) -> Space:
        """Room for new checkpoints where the location is, as its store reports it."""
        return Space(None, note="free space not reported")

    @abstractmethod
    def list_projects(self) -> list[str]: ...

    @abstractmethod
    def list_runs(self, project: str) -> list[str]: ...

    @abstractmethod
    def load_run(self, project: str, run: str, with_metrics: bool = True, with_sizes: bool = True,
                 with_state: bool = False) -> Run:
        """Complete checkpoints (sorted by step), pending ones, metrics, layout.

        ``with_sizes=False`` may leave ``bytes`` at 0 where sizes cost a listing of their own;
        ``with_state`` reads each checkpoint's training state (what slimming would remove).
        """

    def limit_caches(self, files: int) -> None:
        """Remember at most about ``files`` files' worth between reads (what a weights file's bytes
        said): for a reader that holds a few runs at a time, as the app does; ``watch``, which reads
        the same runs over and over, keeps the default."""

    def run_size(self, project: str, run: str) -> RunSize | None:
        """The run's rows and bytes from a listing of its files alone, for a list to show before
        its runs are read in full; None where the store has no cheaper way than reading the run."""
        return None

    def load_runs(self, pairs: Iterable[tuple[str, str]],
                  with_metrics: bool = True) -> Iterator[tuple[tuple[str, str], Run | CkptError]]:
        """Each run, or the error that kept it from loading: one bad run never hides the others."""
        for pair in pairs:
            try:
                yield pair, self.load_run(*pair, with_metrics=with_metrics)
            except CkptError as exc:
                yield pair, exc

    def map_runs(self, pairs: Iterable[tuple[str, str]], function: Callable[[Run], T],
                 with_metrics: bool = True) -> Iterator[tuple[tuple[str, str], T | CkptError]]:
        """``function`` of each run, in order; a store may read (and apply it to) several at once,
        in other processes (so ``function`` is a module-level function and its result pickles)."""
        for pair, run in self.load_runs(pairs, with_metrics):
            yield pair, run if isinstance(run, CkptError) else function(run)

    @abstractmethod
    def read_metrics(self, project: str, run: str) -> Metrics: ...

    def read_history(self, project: str, run: str) -> list[dict]:
        """Raw history records, for forking a run with its history."""
        raise Refused(f"{project}/{run} keeps no history file here; fork without --with-history")

    @abstractmethod
    def delete_checkpoint(self, project: str, run: str, checkpoint: Checkpoint) -> None:
        """Delete one checkpoint so that an interruption never leaves it looking whole."""

    def slim_checkpoints(self, run: Run, checkpoints: list[Checkpoint], done: CheckpointDone | None = None,
                         should_cancel: Callable[[], bool] | None = None) -> dict[tuple[int, str], str]:
        """Remove the training state of checkpoints of ``run``, keeping their weights; the outcome
        of each, as for ``delete_checkpoints``."""
        return {c.key: f"{self.location} cannot slim checkpoints" for c in checkpoints}

    def delete_checkpoints(self, run: Run, checkpoints: list[Checkpoint],
                           done: CheckpointDone | None = None,
                           should_cancel: Callable[[], bool] | None = None) -> dict[tuple[int, str], str]:
        """Delete checkpoints of ``run`` (as just loaded); the outcome of each, by key:
        ``DELETED``, ``GONE``, ``NOT_REACHED`` or an error message.

        Stops between checkpoints when ``should_cancel()`` says so.
        """
        outcome: dict[tuple[int, str], str] = {}
        for ckpt in checkpoints:
            if should_cancel is not None and should_cancel():
                outcome[ckpt.key] = NOT_REACHED
                continue
            try:
                self.delete_checkpoint(run.project, run.name, ckpt)
                outcome[ckpt.key] = DELETED
            except CkptError as exc:
                outcome[ckpt.key] = str(exc)
            if done is not None:
                done(ckpt)
        return outcome

    def read_for_execution(self, project: str, run: str) -> Run:
        """Finish interrupted work on the run, then read it as it is now (sizes may be left at 0)."""
        self.finish_interrupted(project, run)
        return self.load_run(project, run, with_sizes=False)


    @abstractmethod
    def finish_interrupted(self, project: str, run: str) -> list[str]:
        """Finish interrupted deletions and clean abandoned forks; return what was removed.

        Raises nothing for one leftover that cannot be removed: it stays listed as pending.
        """

    def load_finished(self, project: str, run: str, with_metrics: bool = True) -> Run:
        """``finish_interrupted``, then ``load_run`` with sizes: the run as it is once its
        interrupted work is done (or, where that cannot be done, listed as pending)."""
        try:
            self.finish_interrupted(project, run)
        except CkptError:
            pass  # e.g. a read-only location: its leftovers stay listed as pending
        return self.load_run(project, run, with_metrics=with_metrics)

    @abstractmethod
    def checkpoint_location(self, project: str, run: str, checkpoint: Checkpoint) -> str: ...

    # -- bytes no listing of checkpoints shows (``core.hidden``) ----------------------
    def incomplete_uploads(self) -> list[Upload]:
        """Uploads started under the location and never completed nor aborted (S3 multipart),
        paths relative to the location; [] where the store has no such thing."""
        return []

    def run_folder(self, project: str, run: str) -> str | None:
        """The run's folder or prefix relative to the location ("" for the location itself);
        None where runs are not folders."""
        return None

    def abort_uploads(self, uploads: list[Upload]) -> dict[str, str]:
        """Abort incomplete uploads; {upload id: error} for those that could not be."""
        return {u.upload_id: f"{self.location} has no incomplete uploads to abort" for u in uploads}

    # -- files of ckpt-tui's own at the base of the location (saved policies) ---------
    def read_location_file(self, name: str) -> str | None:
        """The text of a small file directly in the location; None where there is none
        (or the store keeps no such files). One that is there but is not read raises
        ``Unreadable``, saying why: ``NotRead`` for a FIFO, a folder, a link leading out of
        the location or a file too large; ``Unreadable`` itself for permissions."""
        return None

    def location_file_version(self, name: str) -> Hashable | None:
        """What changes when the small file ``name`` directly in the location does (a disk's
        size, times and inode, of the regular file the read would open), where that costs less
        than reading it; None (the file is read again) where it does not, where it cannot be
        told, or for a file changed too lately to be told apart from its next change."""
        return None

    @property
    def plans_side_by_side(self) -> int:
        """How many runs' plans may execute at once (``execute_plans``): one, but where the
        store's requests mostly wait on a server."""
        return 1

    def read_ahead(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Read side by side, where the store gains from it, what ``policy_places`` and the loads
        of these runs will read one run after another (a bucket's run folders)."""

    def policy_places(self, project: str, run: str) -> list[PolicyPlace]:
        """Where the run's policy files may be, nearest first (``core.policy``): here, the
        location's own file, naming the run as the location does."""
        data, problem = self.location_policy_file()
        return [PolicyPlace(f"{self.location.rstrip('/')}/{POLICY_FILE}", data, problem, project, run)]

    def location_policy_file(self) -> tuple[bytes | str | None, str | None]:
        """The location's own policy file: its content (None: there is none), or why it is
        there but was not read."""
        return self.read_location_file(POLICY_FILE), None

    def forget_policy_places(self) -> None:
        """Read the policy files again at the next ``policy_places``."""

    def write_location_file(self, name: str, text: str) -> None:
        """Create or replace a small file directly in the location; readers see the old
        text or the new, never half."""
        raise Refused(f"{self.location} cannot hold ckpt-tui's files; nothing written")

    @property
    def appends_in_place(self) -> bool:
        """Whether ``append_location_file`` adds in one write (a disk), so writers at once lose nothing."""
        return False

    def append_location_file(self, name: str, text: str) -> None:
        """Add ``text`` at the end of a small file directly in the location (made if missing).
        Here by reading and writing it again, which any store can (two writers at once may lose
        one's text); a store on a disk appends in place, where two writers lose nothing."""
        self.write_location_file(name, (self.read_location_file(name) or "") + text)

    # -- forks ------------------------------------------------------------------
    def checkpoint_files(self, run: Run, checkpoint: Checkpoint) -> list[FileEntry]:
        """The files of one checkpoint (what a fork copies)."""
        raise Refused(f"{self.location} cannot list the files of a checkpoint")

    def download_checkpoint(self, run: Run, checkpoint: Checkpoint, directory: Path,
                            progress: ByteProgress | None = None) -> None:
        """Write the checkpoint's files under ``directory`` (a fork into a disk stages there)."""
        raise Refused(f"{self.location} cannot copy checkpoints elsewhere")

    def open_checkpoint_file(self, run: Run, checkpoint: Checkpoint, path: str) -> BinaryIO:
        """One file of the checkpoint, to stream into another store."""
        raise Refused(f"{self.location} cannot stream checkpoint files; fork to a directory first")

    def local_checkpoint_path(self, run: Run, checkpoint: Checkpoint) -> str | None:
        """The checkpoint's path on this machine, when it is on a disk."""
        return None

    def can_copy_to(self, other: Store) -> bool:
        """Whether ``fork_into`` on ``other`` can copy from here without moving bytes through us."""
        return other is self

    def fork_target(self, source_run: Run, checkpoint: Checkpoint, to_project: str,
                    to_run: str) -> ForkTarget | None:
        """Where ``fork_into`` would put ``to_project/to_run`` (None where it cannot say);
        raises what ``fork_into`` would refuse with."""
        return None

    def fork_into(self, source: Store, source_run: Run, checkpoint: Checkpoint, to_project: str,
                  to_run: str, history: list[dict] | None = None,
                  progress: ByteProgress | None = None) -> Checkpoint:
        """Create the new run ``to_project/to_run`` here holding ``checkpoint`` of ``source_run``.

        Atomic: staged, then published with its history last; never overwrites.
        """
        raise Refused(f"cannot create runs in {self.location}; fork into a directory or S3 instead")

    # -- offload: the same runs, at the same places, in another location -----------------
    def offload_run_files(self, source: Store, source_run: Run) -> int:
        """Copy the run's own small files (history, trackers) here, at the same place, replacing
        older copies: the location then reads as the source does. How many were written."""
        raise Refused(f"cannot offload into {self.location}; offload to a directory or a bucket")

    def offload_steps(self, source: Store, source_run: Run, checkpoints: list[Checkpoint],
                      copied: BytesCopied | None = None) -> dict[tuple[int, str], StepCopy | CkptError]:
        """Hold ``checkpoints`` of ``source_run`` here at the same places: written, every file
        verified (size and checksum), then published, each step whole or not at all. A step
        already here with the same content is left as it is; one here with other content gets
        ``Conflict``, and nothing of it is overwritten. The outcome of each, by key."""
        raise Refused(f"cannot offload into {self.location}; offload to a directory or a bucket")

    def mirrored_run(self, source: Store, project: str, run: str) -> Run | None:
        """The run of this location at the same place as ``project/run`` of ``source`` (None: none)."""
        return None


def list_runs(store: Store, project: str | None = None, run: str | None = None) -> list[tuple[str, str]]:
    """(project, run) pairs selected by optional filters, in name order: ``run`` alone selects the
    run of that name in every project that has one. ``NotFound`` when a well-formed name selects
    nothing; ``InvalidName`` when a name could never be one."""
    projects = store.list_projects()
    if project is not None and project not in projects:
        validate_project(project)  # a name that could never be a project is bad usage
        raise NotFound(f"no project {project!r} in {store.location}")
    pairs = []
    for proj in [project] if project is not None else projects:
        runs = store.list_runs(proj)
        if run is not None:
            if run not in runs:
                if project is not None:
                    validate_name(run, "run name")
                    raise NotFound(f"no run {run!r} in project {proj!r} of {store.location}")
                continue
            runs = [run]
        pairs.extend((proj, r) for r in runs)
    if run is not None and not pairs:
        validate_name(run, "run name")
        raise NotFound(f"no run {run!r} in any project of {store.location}")
    return pairs


def runs_to_act_on(store: Store, project: str | None = None, run: str | None = None) -> list[tuple[str, str]]:
    """``list_runs`` for a command that deletes or moves: ``run`` alone naming runs of several
    projects is refused, since one name then stands for runs nobody named apart."""
    pairs = list_runs(store, project, run)
    refuse_run_of_several_projects(pairs, project, run)
    return pairs


def refuse_run_of_several_projects(pairs: list[tuple[str, str]], project: str | None, run: str | None) -> None:
    projects = {p for p, _ in pairs}
    if run is not None and project is None and len(projects) > 1:
        raise Refused(f"--run {run} names runs of {len(projects)} projects "
                      f"({', '.join(f'{p}/{r}' for p, r in pairs[:5])}); pass --project too")


def single_run(store: Store, project: str | None = None, run: str | None = None) -> tuple[str, str]:
    """The one run selected (the location's only run when neither is given); refused otherwise."""
    if project is not None and run is not None:
        return project, run
    pairs = list_runs(store, project, run)
    if not pairs:  # nothing there to choose: not found, as a missing run is
        raise NotFound(f"{store.location} holds no runs")
    if len(pairs) != 1:
        found = ", ".join(f"{p}/{r}" for p, r in pairs[:5]) + (", ..." if len(pairs) > 5 else "")
        raise Refused(f"{store.location} holds {len(pairs)} runs ({found or 'none'}); "
                      "pass --project and --run")
    return pairs[0]
