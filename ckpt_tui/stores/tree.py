"""One store for every tree of folders, on any backend: discovery, naming, load, delete, fork.

A location (a folder, an S3 prefix) holds runs: the sub-folders of a project's
folder named by a layout's ``runs_folder`` (ART models under ``{project}/models/``),
and any folder up to ``MAX_DEPTH`` below the location that directly holds a
trainer's step checkpoints (see ``layouts/``). The
store finds them once, then each operation resolves its run once: a prune
lists the run, reads the files its layout needs, and deletes every agreed step
in one pass through the backend's claims.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence

from ..core.errors import AlreadyExists, CkptError, NotFound, Refused, Replaced, StoreError, Unreadable
from ..core.metrics import Metrics, parse_history_lines, read_history_records
from ..core.models import Checkpoint, FileEntry, Pending, Run, Upload, bytes_once
from ..core.names import validate_name, validate_project
from ..core.policy import POLICY_FILE, PolicyPlace
from ..core.records import NamedTuple
from ..core.store import ByteCounter as _Counter
from ..core.store import ByteProgress, BytesCopied, CheckpointDone, ForkTarget, RunSize, Space, StepCopy, Store
from .backends.base import (MAX_SIDE_FILE, SLIM_RECORD, Backend, DeepListing, Entry, FileInfo, FlatListing, Kind,
                            StepListing, Usage, basename, deep_listing, grouped, join, parent, stream_lines)
from .claims import SLIM_ASIDE, Claims, MarkerClaims, NewRun, RenameClaims, StillWriting
from .layouts import Layout, detect, fork_layout, needs_look, runs_folder_layouts, scan_entries
from .layouts.base import FORKING_PREFIX
from .layouts.whole_files import SAFETENSORS, WEIGHT_SUFFIXES, Weights, file_problem, is_description
from .policy_places import policy_places, read_policy_file
from . import history_cache, listing_cache, verdict_cache
from .verdict_cache import IDENTITY, RECORD, settled

TYPE_CHECKING = False
if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor
    from pathlib import Path
    from typing import BinaryIO

WEIGHTS_ONLY = "weights only: training state removed"
# How many folders deep a location is searched for runs.
MAX_DEPTH = 4
SETTLE_VARIABLE = "CKPT_TUI_SETTLE_SECONDS"
DEFAULT_SETTLE_SECONDS = 60.0
# A new run's name is checked against a discovery at most this old (the one its own command
# made a moment ago), else against a new one: a run named so could have appeared since. A step
# is copied as a listing at most this old shows it (its own command's load), else listed again.
RECENT_SECONDS = 2.0
# Files the first (flat) listing of a location asks for: a location this small is listed whole
# in one request, and discovery and the loads of its runs are answered from that listing.
FLAT_PAGE = 5000
# Runs of a bucket whose plans execute at once (each has its own requests side by side).
PLANS_SIDE_BY_SIDE = 4


class RunPlace(NamedTuple):
    """Where a run lives: ``root`` is its own folder, ``ckpt_dir`` the one holding its steps.

    Runs found by name (ART's models) have their ``ckpt_dir`` (``checkpoints/``,
    or the model folder itself in ART's older layout) settled by their layout
    when the run is read.
    """

    project: str
    name: str
    root: str
    ckpt_dir: str
    layout: Layout
    notes: tuple[str, ...] = ()

    @property
    def found_by_name(self) -> bool:
        return bool(self.layout.runs_folder)


# The kinds an entry of every step is compared with, as plain names: on Python 3.11 each ``Kind.X``
# goes through the enum metaclass's __getattr__ (about 1,400 instructions).
_KIND_DIR, _KIND_FILE, _KIND_LINK, _KIND_OTHER = Kind.DIR, Kind.FILE, Kind.LINK, Kind.OTHER


class _Found:
    __slots__ = ("places", "named_projects", "notes", "unreadable", "unlisted", "listed", "flat")

    def __init__(self) -> None:
        self.places: dict[tuple[str, str], RunPlace] = {}
        self.named_projects: set[str] = set()  # projects holding a layout's runs folder
        self.notes: list[str] = []
        self.unreadable: list[str] = []  # folders it may not list (permissions)
        self.unlisted: set[str] = set()  # folders whose listing failed: in ``listed`` as empty
        self.listed: dict[str, list[Entry]] = {}  # what each folder listed held
        self.flat: FlatListing | None = None  # the location's first flat listing, where the backend has one


class _RunFiles:
    """A run's side files for its layout: read through the backend, fetched together when told."""

    def __init__(self, backend: Backend, place: RunPlace, links: dict[str, str], entries: list[Entry] = (),
                 children: dict[str, set[str]] | None = None, verdicts: _Verdicts | None = None,
                 contents: dict[str, set[str]] | None = None, walked: dict[str, list[FileInfo]] | None = None,
                 histories: _Histories | None = None) -> None:
        self.backend, self.place, self.links = backend, place, links
        self.histories = histories
        self.walked = walked or {}  # the files of step folders, where the load listed them already
        self.texts: dict[str, str | None] = {}
        self.entry_names = {e.name for e in entries}
        self.listed = children or {}
        self.contents = contents or {}  # what every step folder holds, from a listing of the whole folder
        self.verdicts = verdicts if verdicts is not None else _Verdicts()
        # Side files that are there but could not be read, and why: the run is then refused,
        # never decided on as if they were absent.
        self.unread: dict[str, str] = {}

    def prefetch(self, paths: list[str]) -> None:
        paths = [p for p in dict.fromkeys(paths) if p not in self.texts]
        for path, text in zip(paths, self.backend.map(self._read, paths)):
            self.texts[path] = text

    def _read(self, path: str, limit: int = MAX_SIDE_FILE) -> str | None:
        try:
            return self.backend.read_text(path, limit)
        except NotFound:
            return None
        except CkptError as exc:
            self.unread[path] = str(exc)
            return None

    def read_text(self, path: str, limit: int = MAX_SIDE_FILE) -> str | None:
        key = join(self.place.ckpt_dir, path)
        if key not in self.texts or (key in self.unread and limit > MAX_SIDE_FILE):
            self.unread.pop(key, None)
            self.texts[key] = self._read(key, limit)
        return self.texts[key]

    def read_run_lines(self, path: str) -> Iterator[bytes] | None:
        key = join(self.place.root, path)
        try:
            lines = self.backend.read_lines(key)
        except CkptError as exc:
            self.unread[key] = str(exc)
            return None
        return None if lines is None else self._noting_failures(key, lines)

    def read_run_metrics(self, path: str) -> Metrics | None:
        """``parse_history_lines`` of ``read_run_lines``; or, while the store keeps parsed histories
        (``history_cache``), what the last scan parsed of the very file opened now, if it is as it was."""
        histories = self.histories
        if histories is None or histories.path is None:
            lines = self.read_run_lines(path)
            return None if lines is None else parse_history_lines(lines)
        key = join(self.place.root, path)
        try:
            stream = self.backend.open(key)
        except NotFound:
            return None
        except CkptError as exc:
            self.unread[key] = str(exc)
            return None
        try:
            tag = history_cache.identity(stream.fileno())
        except BaseException:
            stream.close()
            raise
        if (kept := histories.parsed(tag)) is not None:
            stream.close()
            return Metrics(by_step=kept[0], malformed=kept[1], ignored=kept[2])
        read_at = time.time_ns()
        metrics = parse_history_lines(self._noting_failures(key, stream_lines(stream)))
        if key not in self.unread and settled(tag.decode("latin-1"), read_at):
            histories.keep_parsed(tag, (metrics.by_step, metrics.malformed, metrics.ignored))
        return metrics

    def _noting_failures(self, key: str, lines: Iterator[bytes]) -> Iterator[bytes]:
        """``lines`` until the storage fails mid-file: then why, as for a file not read."""
        try:
            yield from lines
        except CkptError as exc:
            self.unread[key] = str(exc)
        except Exception as exc:  # noqa: BLE001 - a disk's or a connection's error mid-stream
            self.unread[key] = f"cannot read {self.backend.url(key)}: {getattr(exc, 'strerror', None) or exc}"

    def read_run_text(self, path: str) -> str | None:
        key = join(self.place.root, path)
        if key not in self.texts:
            self.texts[key] = self._read(key)
        return self.texts[key]

    def link_target(self, name: str) -> str | None:
        return self.links.get(name)

    def names(self) -> set[str]:
        return self.entry_names

    def children(self, name: str) -> set[str]:
        return self.listed.get(name, set())

    def weights(self, names: Collection[str], archives: bool = False) -> dict[str, Weights]:
        if not names:
            return {}
        if self.backend.implicit_folders:
            # An object store shows an object only once its upload is whole: nothing is seen half
            # written, and reading headers would cost a request per file. What each step holds comes
            # from the listing of the whole folder, when the load made one (else: no verdict).
            return {name: Weights(payload=any(not is_description(n) for n in self.contents[name]))
                    for name in names if name in self.contents}
        listed: dict[str, list[FileInfo] | CkptError] = {n: self.walked[n] for n in names if n in self.walked}
        unlisted = [n for n in names if n not in listed]
        try:
            listed.update(self.backend.walk_many(self.place.ckpt_dir, unlisted) if unlisted else {})
        except CkptError:  # one step that cannot be listed: list them one by one
            listed.update(zip(unlisted, self.backend.map(self._walk, unlisted)))
        kinds = WEIGHT_SUFFIXES if archives else (SAFETENSORS,)
        found: dict[str, Weights] = {}
        judged: list[tuple[str, str, FileInfo]] = []  # (step, the file's path, the file)
        top = f"{self.place.ckpt_dir}/" if self.place.ckpt_dir else ""
        # Files an earlier scan found whole, as they were then (``_Verdicts.problem``'s first test, here
        # for every file of a large run): kept for the next scan, not judged.
        whole, found_whole = self.verdicts.whole, self.verdicts.found_whole
        kept: list[str] | None = None if found_whole is None else []  # their records, in the order found
        keep = kept.append if kept is not None else None
        only_safetensors = kinds == (SAFETENSORS,)  # then every file judged is one: its record ends in "s"
        for name, infos in listed.items():
            if isinstance(infos, CkptError):
                found[name] = Weights(problems=(str(infos),))
                continue
            payload = getattr(infos, "payload", None)  # a local walk's: its weights files alone, and whether
            if payload is None:                         # the step holds more than descriptions
                payload = any(not is_description(info.path) for info in infos)
            for info in infos:
                path = info.path
                if path.endswith(kinds):
                    if keep is not None and (tag := info.tag):
                        record = tag + ("s" if only_safetensors or path.endswith(SAFETENSORS) else "z")
                        if record in whole:
                            keep(record)
                            continue
                    judged.append((name, f"{top}{name}/{path}", info))
            found[name] = _PAYLOAD if payload else _DESCRIPTIONS_ONLY
        if kept:
            found_whole += "".join(kept).encode("latin-1")  # type: ignore[operator]
            self.verdicts.hits += len(kept)
        problem, backend = self.verdicts.problem, self.backend
        verdicts = backend.map(lambda item: problem(backend, item[1], item[2]), judged)
        for (name, _, _), verdict in zip(judged, verdicts):
            if verdict:
                found[name] = found[name]._replace(problems=(*found[name].problems, verdict))
        return found

    def _walk(self, name: str) -> list[FileInfo] | CkptError:
        try:
            return list(self.backend.walk(join(self.place.ckpt_dir, name)))
        except CkptError as exc:
            return exc


_PAYLOAD, _DESCRIPTIONS_ONLY = Weights(), Weights(payload=False)


class _Histories(threading.local):
    """Once told to ``keep`` a run's file of them (``history_cache``), the history its last scan parsed
    is taken for the file as it is now when its identity is the one recorded; one parsed now is
    recorded in its place.

    Per thread: only the thread reading the run it was told of uses or writes its record. A run
    read meanwhile by another thread of the store (an execution's read, an API caller's) reads its
    history afresh, and never takes one run's record (nor its identity and body from two records)."""

    def __init__(self) -> None:
        self.path: str | None = None
        self.kept: tuple[bytes, bytes] | None = None

    def keep(self, path: str | None) -> None:
        """Read the record at ``path`` (None: stop keeping)."""
        self.path = path
        self.kept = history_cache.load(path) if path is not None else None

    def parsed(self, tag: bytes) -> history_cache.Parsed | None:
        kept = self.kept
        if kept is None or kept[0] != tag:
            return None
        return history_cache.parsed(kept[1])

    def keep_parsed(self, tag: bytes, parsed: history_cache.Parsed) -> None:
        if self.path is not None and (body := history_cache.record(parsed)) is not None:
            history_cache.save(self.path, tag, body)
            self.kept = (tag, body)


class _Listings(threading.local):
    """Once told to ``keep`` a run's file of them (``listing_cache``), the names its last scan found
    in each step folder, taken by the backend for a folder as it was then; what this scan lists of
    the run's step folders is kept in their place. Per thread, as ``_Histories``."""

    def __init__(self) -> None:
        self.path: str | None = None
        self.before: dict[str, StepListing] = {}

    def keep(self, path: str | None) -> None:
        """Read the listings at ``path`` (None: stop keeping)."""
        self.path = path
        self.before = listing_cache.load(path) if path is not None else {}

    def usage_and_files(self, backend: Backend, folder: str,
                        names: list[str]) -> tuple[dict[str, Usage | CkptError], dict[str, list[FileInfo]]]:
        """The backend's ``usage_and_files_many`` of the steps ``names``, with the listings kept, if
        keeping; what it listed anew is kept when settled."""
        if self.path is None:
            return backend.usage_and_files_many(folder, names)
        before, now = self.before, {}
        started_ns = time.time_ns()  # what changes after this has later times than anything kept
        found = backend.usage_and_files_many(folder, names, before, now)
        fresh = [name for name, listing in now.items() if listing is not before.get(name)]
        for name in fresh:
            if not listing_cache.settled(now[name][0], started_ns):
                del now[name]  # listed again next time
        if fresh or len(now) != len(before):
            listing_cache.save(self.path, now)
        else:
            verdict_cache.touch(self.path)
        self.before = now
        return found


class _Verdicts:
    """What the bytes of weights files said, by path, size and time of writing: a file unchanged
    since it was judged is not read again (``watch`` loads its runs over and over). Once told to
    ``keep`` a location's verdicts, files found whole by an earlier scan (``verdict_cache``: by
    device, inode, size and times) are not read either, and those found whole now are kept."""

    LIMIT = 100_000

    def __init__(self) -> None:
        self.known: dict[tuple[str, int, float, str], str] = {}
        self.limit = self.LIMIT
        self.whole: set[str] = set()  # from the cache: files found whole before
        self.found_whole: bytearray | None = None  # files found whole now, while keeping: the cache's next records
        self.hits = 0  # records of ``whole`` found again (each put in ``found_whole``)

    def keep(self, whole: set[str] | None) -> None:
        """Trust the records ``whole`` of an earlier scan, and gather this scan's (None: stop)."""
        self.whole, self.found_whole = whole or set(), None if whole is None else bytearray()
        self.hits = 0

    def unchanged(self) -> bool:
        """Whether this scan found whole exactly the files the earlier one had (its records need no rewrite)."""
        return (bool(self.whole) and self.hits == len(self.whole) and self.found_whole is not None
                and len(self.found_whole) == self.hits * RECORD)

    def problem(self, backend: Backend, path: str, info: FileInfo) -> str:
        """``name: why`` when the file ``info`` (at ``path``, just listed) is not whole, else "".
        Threads may share it: a verdict is one dict item, and two threads judging the same file
        at once both read it, which does no harm."""
        record = ""
        if info.tag and self.found_whole is not None:  # kept for a local disk only: tags are identities
            record = info.tag + ("s" if path.endswith(SAFETENSORS) else "z")
            if record in self.whole:
                self.found_whole += record.encode("latin-1")
                self.hits += 1
                return ""
        # by the walk's tag too (device and inode on a disk): another file put in place with the same
        # size and time is judged afresh, never given the verdict of the one it replaced
        key = (path, info.size, info.mtime, info.tag)
        verdict = self.known.get(key)
        if verdict is not None:
            return verdict
        read_at = time.time_ns()
        replaced = []

        def opener(listed: str):
            try:
                return backend.open_listed(listed, info.tag)
            except Replaced:
                replaced.append(listed)
                raise

        # ``path`` ends as ``info.path`` does; a file that is not the one listed is not read, and says so
        why = file_problem(path, info.size, opener, None)
        verdict = f"{info.path}: {why}" if why else ""
        if why == "" and record and settled(info.tag, read_at):
            self.found_whole += record.encode("latin-1")  # type: ignore[operator]
        if replaced:  # a passing swap: the file listed is judged again at the next look, not held not whole
            return verdict
        if len(self.known) >= self.limit:
            self.known.clear()
        self.known[key] = verdict
        return verdict


class TreeStore(Store):
    """Runs in a tree of folders, on a disk or in a bucket."""

    def __init__(self, backend: Backend, location: str) -> None:
        self.backend = backend
        self.location = location
        self.claims: Claims = RenameClaims(backend) if backend.can_rename else MarkerClaims(backend)
        self._found: _Found | None = None
        self._found_at = 0.0  # time.monotonic() of the discovery in _found
        self._policies_forgotten_at = -1.0  # time.monotonic() of the last forget_policy_places()
        # _recent_listings of _found: by URL, and the listing each was made from, by folder
        self._recent: tuple[_Found, dict[str, list[Entry]], dict[str, list[Entry]]] | None = None
        self._lock = threading.Lock()
        self._run_pool: ThreadPoolExecutor | None = None
        self._verdicts = _Verdicts()
        self._histories = _Histories()
        self._listings = _Listings()
        self.settle_seconds = settle_seconds()
        self._policy_reads: dict = {}  # policy files read, by URL, until forget_policy_places()
        self._policy_above: dict = {}  # the folders above the location (folders_above), as long as those

    # -- discovery ----------------------------------------------------------------------
    def _list(self, path: str, notes: list[str], unreadable: list[str] | None = None,
              flat: FlatListing | None = None, unlisted: set[str] | None = None) -> list[Entry]:
        """A folder's entries (as ``flat`` shows them, where it shows the folder whole); one that
        cannot be listed is noted (and, for permissions, named in ``unreadable``) and holds nothing."""
        if flat is not None and (entries := flat.entries(path)) is not None:
            return entries
        try:
            return self.backend.list_dir(path)
        except CkptError as exc:
            notes.append(str(exc))
            if unlisted is not None:
                unlisted.add(path)
            if unreadable is not None and isinstance(exc, Unreadable):
                unreadable.append(path)
            return []

    def _naming(self, folder: str, layout: Layout) -> tuple[str, str, str]:
        """(project, run, run folder) for a folder holding step checkpoints."""
        parts = folder.split("/") if folder else []
        if parts and parts[-1] in layout.containers:
            parts = parts[:-1]  # Lightning's version_0/checkpoints is run version_0
        root = "/".join(parts)
        if not parts:
            return self.backend.outer_name, self.backend.root_name, root
        project = self.backend.root_name if len(parts) == 1 else "/".join(parts[:-1])
        return project, parts[-1], root

    def _named_runs(self, projects: list[tuple[str, Layout]], found: _Found) -> None:
        """Each sub-folder of a project's runs folder (ART's ``{project}/models/``) is a run."""
        folders = [join(p, layout.runs_folder) for p, layout in projects]
        listings = self.backend.map(lambda f: self._list(f, found.notes, found.unreadable, found.flat, found.unlisted), folders)
        found.listed.update(zip(folders, listings))
        for (project, layout), folder, entries in zip(projects, folders, listings):
            found.named_projects.add(project)
            for entry in sorted(entries):
                if entry.name.startswith("."):
                    self._note_stage(folder, entry, found)
                    continue
                root = join(folder, entry.name)
                if entry.kind is Kind.DIR:
                    found.places[(project, entry.name)] = RunPlace(project, entry.name, root, "", layout)
                elif entry.kind is Kind.LINK:
                    found.notes.append(f"{self.backend.url(root)} is a symbolic link; not followed")

    def _note_stage(self, folder: str, entry: Entry, found: _Found) -> None:
        """A fork's hidden staging folder holds whole checkpoints: never hidden from the user."""
        if entry.kind is Kind.DIR and entry.name.startswith(FORKING_PREFIX):
            found.notes.append(f"{self.backend.url(join(folder, entry.name))} is the copy of a fork in progress "
                               "or interrupted; the next fork into this folder removes it once abandoned")

    def connect(self) -> None:
        self.backend.check_root()

    def _discover(self) -> _Found:
        """Every run under the location, one listing per folder, level by level; a small location
        (or the part of a larger one its first flat listing shows whole) from that one listing."""
        found = _Found()
        # The location itself: its errors count.
        flat = found.flat = self.backend.flat_page("", FLAT_PAGE)
        level, depth = [""], 0
        while level:
            listings = ({"": self.backend.list_dir("") if flat is None or not flat.whole else flat.entries("")}
                        if depth == 0 else dict(zip(level, self.backend.map(
                            lambda f: self._list(f, found.notes, found.unreadable, flat, found.unlisted), level))))
            found.listed.update(listings)
            # Some names are steps only if the folder holds the trainer's files (Orbax's bare
            # numbers, DCP's step_N): look inside them together.
            inside = [join(f, e.name) for f in level for e in listings[f]
                      if e.kind is Kind.DIR and needs_look(e.name)]
            children = dict(zip(inside, self.backend.map(
                lambda f: {e.name for e in self._list(f, found.notes, found.unreadable, flat)}, inside)))
            below, named = [], []
            # In a project folder, a layout's runs folder holds runs found by name (ART's models/).
            runs_folders = {layout.runs_folder: layout for layout in runs_folder_layouts()} if depth == 1 else {}
            for folder in level:
                entries = listings[folder]
                named += [(folder, runs_folders[e.name]) for e in entries
                          if e.kind is Kind.DIR and e.name in runs_folders]
                scan = detect([(e.name, e.kind is Kind.DIR) for e in entries if e.kind in (Kind.DIR, Kind.FILE)],
                              lambda name, at=folder: children.get(join(at, name), set()))
                if scan is not None:
                    project, run, root = self._naming(folder, scan.layout)
                    found.places.setdefault((project, run), RunPlace(project, run, root, folder, scan.layout))
                    continue  # runs do not nest: what is inside a run belongs to its checkpoints
                for entry in entries:
                    if entry.name.startswith("."):
                        self._note_stage(folder, entry, found)
                        continue
                    path = join(folder, entry.name)
                    if entry.kind is Kind.DIR and depth < MAX_DEPTH and entry.name not in runs_folders:
                        below.append(path)
                    elif entry.kind is Kind.LINK and depth < MAX_DEPTH:
                        found.notes.append(f"{self.backend.url(path)} is a symbolic link; not followed")
            if named:
                self._named_runs(named, found)
            level, depth = sorted(below), depth + 1
        return found

    def _discovered(self, fresh: bool = False, max_age: float | None = None) -> _Found:
        """The runs found by the last discovery; a new one when ``fresh``, or when that one is
        older than ``max_age`` seconds."""
        with self._lock:
            stale = max_age is not None and time.monotonic() - self._found_at > max_age
            if fresh or stale or self._found is None:
                self._found_at = time.monotonic()
                self._found = self._discover()
            return self._found

    def _recent_flat(self) -> FlatListing | None:
        """The flat listing of the discovery of a moment ago (this command's): what a load shows
        may be that old; what an execution confirms is always listed again."""
        with self._lock:
            flat = self._found.flat if self._found is not None else None
        return flat if flat is not None and time.monotonic() - flat.listed_at <= RECENT_SECONDS else None

    def _place(self, project: str, run: str) -> RunPlace:
        place = self._discovered().places.get((project, run))
        if place is None:  # a run may have appeared since
            place = self._discovered(fresh=True).places.get((project, run))
        if place is None:
            validate_name(run, "run name")
            validate_project(project)
            raise NotFound(f"no run {run!r} in project {project!r} of {self.location}")
        return place

    @property
    def notes(self) -> list[str]:
        """What discovery could not read or would not follow."""
        return list(self._discovered().notes)

    @property
    def unreadable_folders(self) -> list[str]:
        return sorted(self._discovered().unreadable)

    def space(self) -> Space:
        """The backend's free space where it reports one (a disk); a bucket has no size to fill."""
        if self.backend.reports_free_space:
            return self.backend.free_space("")
        return Space(None, note="bucket: no size limit" if self.backend.implicit_folders else "")

    def list_projects(self) -> list[str]:
        found = self._discovered(fresh=True)
        return sorted({p for p, _ in found.places} | found.named_projects)

    def list_runs(self, project: str) -> list[str]:
        validate_project(project)
        return sorted(r for p, r in self._discovered().places if p == project)

    # -- loading ------------------------------------------------------------------------
    def _settle(self, place: RunPlace) -> RunPlace:
        """A run found by name gets its checkpoint folder from its layout (an ART model's
        ``checkpoints/`` or, pre-2025, the model folder), once per discovery."""
        if not place.found_by_name or place.ckpt_dir:
            return place
        flat = self._recent_flat()
        entries = flat.entries(place.root) if flat is not None else None
        entries = self.backend.list_dir(place.root) if entries is None else entries
        links = {e.name for e in entries if e.kind is Kind.LINK}
        steps_folder, layout = place.layout.settle({e.name for e in entries if e.kind is Kind.DIR}, links)
        ckpt_dir = join(place.root, steps_folder)
        notes = (f"{self.backend.url(ckpt_dir)} is a symbolic link; not followed",) if steps_folder in links else ()
        settled = place._replace(ckpt_dir=ckpt_dir, layout=layout, notes=notes)
        with self._lock:
            if self._found is not None and self._found.places.get((place.project, place.name)) == place:
                self._found.places[(place.project, place.name)] = settled
                self._found.listed[place.root] = entries
        return settled

    def _list_steps(self, place: RunPlace, deep: bool, fresh: bool = False) -> DeepListing:
        """The checkpoint folder's entries; with ``deep``, their sizes and contents too when one
        listing can tell (S3). A symlinked checkpoint folder is not listed at all. ``fresh``:
        listed now, never answered by the discovery's flat listing (an execution's re-read)."""
        if place.notes:
            return DeepListing([], {}, {})
        # The discovery's flat listing answers the first read of the folder after it, if that
        # read wants sizes (a load); any later read, and every execution, lists it again.
        flat = None if fresh else self._recent_flat()
        infos = flat.take_files(place.ckpt_dir) if flat is not None else None
        if deep and infos is not None:
            self.backend.remember(place.ckpt_dir, infos, flat.listed_at)  # for the deletion that may follow
            return deep_listing(infos)
        if deep and (listing := self.backend.list_deep(place.ckpt_dir)) is not None:
            return listing
        return DeepListing(self.backend.list_dir(place.ckpt_dir), {}, {})

    def _settled_listing(self, place: RunPlace, deep: bool, fresh: bool = False) -> tuple[RunPlace, DeepListing]:
        """``_settle`` and ``_list_steps``; a run's folder still to be settled is listed side by
        side with the checkpoint folder its layout names for new runs (ART's ``checkpoints/``),
        the one it settles on but for older runs: one round trip instead of two (a bucket's;
        a disk lists a folder in no time)."""
        if not (deep and place.found_by_name and not place.ckpt_dir and self.backend.implicit_folders
                and self._recent_flat() is None):
            place = self._settle(place)
            return place, self._list_steps(place, deep, fresh)
        likely = join(place.root, place.layout.fork_container)

        def guess() -> DeepListing | None:
            try:
                return self.backend.list_deep(likely)
            except CkptError:
                return None  # listed again below if it is the one, and fails there

        settled, guessed = self.backend.map(lambda read: read(), [lambda: self._settle(place), guess])
        if guessed is not None and settled.ckpt_dir == likely and not settled.notes:
            return settled, guessed
        return settled, self._list_steps(settled, deep, fresh)

    def _gone(self, place: RunPlace) -> bool:
        """Whether the run's folder was removed since discovery (an empty listing says no more)."""
        return bool(place.root) and not any(e.name == basename(place.root)
                                            for e in self.backend.list_dir(parent(place.root)))

    def _resolve(self, project: str, run: str, deep: bool = False,
                 fresh: bool = False) -> tuple[RunPlace, DeepListing]:
        """The run's place and its checkpoint folder's listing; NotFound if the run is gone."""
        place, listing = self._settled_listing(self._place(project, run), deep, fresh)
        if not listing.entries and self._gone(place):
            with self._lock:
                self._found = None
            raise NotFound(f"run {run!r} of project {project!r} is no longer in {self.location}")
        return place, listing

    def _links(self, place: RunPlace, entries: list[Entry]) -> dict[str, str]:
        """Symbolic links of the checkpoint folder and the entry of the same folder each points at."""
        links = {}
        for entry in entries:
            if entry.kind is _KIND_LINK:
                target = self.backend.link_target(join(place.ckpt_dir, entry.name))
                if target is not None:
                    links[entry.name] = target
        return links

    def load_run(self, project: str, run: str, with_metrics: bool = True, with_sizes: bool = True,
                 with_state: bool = False) -> Run:
        try:
            place, listing = self._resolve(project, run, deep=with_sizes or with_state)
        except Unreadable as exc:  # listed with its reason, never pruned; the other runs still load
            return Run(project, run, [], layout=self._place(project, run).layout.name, notes=[str(exc)],
                       unreadable=True)
        loaded = self._build(project, run, place, listing, with_metrics, with_sizes or with_state)
        return self._with_state(place, loaded) if with_state else loaded

    def run_size(self, project: str, run: str) -> RunSize:
        """The listing of the run's checkpoint folder and a ``du``-like walk of its step entries
        (hard links once): no side file, marker, claim or metric is read, no completeness judged.
        On a bucket, the one deep listing a full read starts with."""
        place, listing = self._resolve(project, run, deep=True)
        entries, looked = listing.entries, dict(listing.children)

        def children(name: str) -> Collection[str]:  # only for layouts that judge a step by its contents
            if name not in looked:
                looked[name] = {e.name for e in self._list(join(place.ckpt_dir, name), [])}
            return looked[name]

        scan = scan_entries(place.layout, [(e.name, e.kind is Kind.DIR) for e in entries if e.kind in (Kind.DIR, Kind.FILE)],
                            children, links=[e.name for e in entries if e.kind is Kind.LINK])
        names = [*scan.steps, *scan.pending]
        usage = listing.usage or self.backend.usage_many(place.ckpt_dir, names)
        here = [found for name in names if not isinstance(found := usage.get(name), NotFound)]  # else deleted meanwhile
        return RunSize(len(here) + len(scan.links), bytes_once(u for u in here if isinstance(u, Usage)))

    def _with_state(self, place: RunPlace, run: Run) -> Run:
        """Each complete checkpoint's training state, by its layout, from a listing of its files."""
        candidates = [c for c in run.checkpoints if not c.weights_only]
        files = self.backend.walk_many(place.ckpt_dir, [c.name for c in candidates])
        states = {c.key: place.layout.training_state(_own_files(c.name, files.get(c.name, ()))) for c in candidates}
        run.checkpoints = [c._replace(state=states[c.key]) if c.key in states else c for c in run.checkpoints]
        return run

    def read_for_execution(self, project: str, run: str) -> Run:
        """Finish interrupted work, then the run as it is now, without sizes: one listing
        serves both unless finishing changed something.

        Where the layout judges a step by what its folder holds (``checkpoint-N/`` of the HF
        Trainer, DeepSpeed, Megatron, DCP...) and the store lists a folder to the bottom in one
        go (S3, Azure), that is one listing without a delimiter, made now: a page per thousand
        objects, not a listing per step folder. It shows each step's objects as the listing by
        folder did, once the plan was made, and is kept for the deletion that follows (objects
        written into a step after it are the sweep's, as they were)."""
        place = self._settle(self._place(project, run))
        deep = self.backend.implicit_folders and place.layout.reads_step_folders
        place, listing = self._resolve(project, run, deep, fresh=True)
        removed, _problems = self.claims.finish(place.ckpt_dir, listing.entries)
        if removed:
            place, listing = self._resolve(project, run, deep, fresh=True)
        return self._build(project, run, place, listing, True, False)

    def _children(self, place: RunPlace, listing: DeepListing, dirs: list[tuple[str, bool]],
                  problems: list[str]) -> dict[str, set[str]]:
        """What step folders hold, for layouts that judge by it (from the deep listing when there
        is one); a folder that cannot be listed is noted in ``problems``."""
        layout = place.layout
        if layout.names_suffice():  # no step folder listed (ART): no question a folder
            return {}
        names = [n for n, is_dir in dirs if is_dir and layout.lists(n) and layout.step(n) is not None]
        missing = [n for n in names if n not in listing.children]
        listed = self.backend.map(lambda n: {e.name for e in self._list(join(place.ckpt_dir, n), problems)}, missing)
        return {**{n: listing.children[n] for n in names if n in listing.children}, **dict(zip(missing, listed))}

    def _build(self, project: str, run: str, place: RunPlace, listing: DeepListing, with_metrics: bool,
               with_sizes: bool) -> Run:
        layout, entries = place.layout, listing.entries
        dirs = [(e.name, e.kind is _KIND_DIR) for e in entries if e.kind is _KIND_DIR or e.kind is _KIND_FILE]
        problems = [f"{self.backend.url(join(place.ckpt_dir, e.name))} is neither a file nor a folder "
                    "(a FIFO, socket or device); not read" for e in entries
                    if e.kind is _KIND_OTHER and layout.step(e.name) is not None]
        children = self._children(place, listing, dirs, problems)
        scan = scan_entries(layout, dirs, lambda n: children.get(n, set()),
                            links=[e.name for e in entries if e.kind is _KIND_LINK])
        claims = self.claims.read(place.ckpt_dir, entries)
        names = [*scan.steps, *scan.pending]
        sizes: dict = listing.usage
        walked: dict[str, list[FileInfo]] = {}
        if with_sizes and names and not sizes:  # the files of the steps, read once for sizes and weights
            sizes, walked = self._listings.usage_and_files(self.backend, place.ckpt_dir, names)
        files = _RunFiles(self.backend, place, self._links(place, entries), entries, children, self._verdicts,
                          listing.children, walked, self._histories)
        files.prefetch([join(place.ckpt_dir, p) for p in layout.side_files(scan.steps, with_metrics)])
        found = layout.inspect(scan.steps, files, with_metrics)
        for name in [n for n, usage in sizes.items() if isinstance(usage, NotFound)]:
            scan.steps.pop(name, None)  # deleted since the listing (another prune): gone, not unreadable
            scan.pending.pop(name, None)
        complete, pending = [], []
        folders = {n for n, is_dir in dirs if is_dir}
        prefix = self.backend.url(place.ckpt_dir).rstrip("/") + "/"  # where every step's location starts
        empty_folder = (Pending.INCOMPLETE, "empty folder")
        implicit = self.backend.implicit_folders
        if implicit:
            for name in [n for n in scan.steps if n in folders and isinstance(u := sizes.get(n), Usage)
                         and u.files == 0]:
                del scan.steps[name]  # a prefix some servers still list after its objects went
        settle = self.settle_seconds if with_sizes else None
        now = time.time()  # one clock for the run: a step looks, if anything, younger than it is
        whole_run, claimed, in_progress, targets = claims.whole_run, claims.steps, found.in_progress, found.targets
        asked = bool(whole_run or claimed or in_progress)  # else no step has a reason from them (the usual run)
        evidence, usual_evidence = found.evidence, layout.complete_evidence
        settles = layout.settles if settle is not None else None
        folder_end = "/" if implicit else ""
        for name, step in scan.steps.items():
            usage = sizes.get(name)
            if type(usage) is Usage and not usage.files and name in folders and not implicit:
                # an empty step folder (unless it is in progress for a reason of its own)
                why = whole_run or claimed.get(name) or in_progress.get(name, empty_folder)
            else:
                why = (whole_run or claimed.get(name) or in_progress.get(name)) if asked else None
            if why is None and type(usage) is Usage:
                if settles is not None and usage.files and now - usage.mtime < settle and settles(name):
                    why = _settling(usage, settle, now)
                elif not usage.markers and name not in targets:
                    # The usual complete step (``_checkpoint`` made short)
                    complete.append(Checkpoint(step, usage.bytes, usage.mtime, name,
                                               prefix + name + folder_end if folder_end and name in folders
                                               else prefix + name, None,
                                               evidence.get(name, usual_evidence), usage.blobs))
                    continue
            target = targets.get(name, name)
            ckpt = self._checkpoint(prefix, target, step, sizes.get(name),
                                    why or (None, found.evidence.get(name, layout.complete_evidence)),
                                    name in folders and name not in found.targets, target)
            (pending if not ckpt.complete else complete).append(ckpt)
        for name, (step, why) in scan.pending.items():
            kind, detail = self._leftover(why, sizes.get(name))
            detail = layout.unfinished_evidence if kind is Pending.SAVE_IN_PROGRESS else detail
            pending.append(self._checkpoint(prefix, name, step, sizes.get(name), (kind, detail), name in folders))
        for name, step in scan.links.items():
            pending.append(Checkpoint(step, 0, 0.0, name, prefix + name, Pending.SYMLINK))
        metrics = self._metrics(place, scan.steps, found.metrics, sizes) if with_metrics else Metrics()
        unread = [f"{why}; nothing is deleted from this run until it can be read" for why in files.unread.values()]
        shown = {layout.entry(c.name) for c in complete + pending} if claims.deletions else set()
        # An interrupted delete whose steps are all gone shows in no row: say it is there.
        unfinished = [f"an interrupted delete ({where}) is not finished; the next prune or fork of this run "
                      "finishes it" for where, names in claims.deletions.items() if not shown.intersection(names)]
        return Run(project, run, complete, metrics, layout=layout.name, protected=dict(found.protected),
                   pending=pending, notes=[*place.notes, *problems, *unfinished, *unread],
                   resume_steps=frozenset(found.resume), refusal=unread[0] if unread else "")

    @staticmethod
    def _leftover(why: Pending, usage: Usage | CkptError | None) -> tuple[Pending, str]:
        """A ``.forking-`` leftover is an abandoned fork only once nobody has written to it for a day."""
        if why is Pending.ABANDONED_FORK:
            from .claims import abandoned

            last = usage.mtime if isinstance(usage, Usage) else None
            if last is None or not abandoned(None, last):
                return Pending.FORK_IN_PROGRESS, ""
        return why, ""

    def _checkpoint(self, prefix: str, path: str, step: int, usage: Usage | CkptError | None,
                    why: tuple[Pending | None, str] | None, folder: bool, name: str = "") -> Checkpoint:
        """``path``: what the location points at (the entry ``name`` itself, or a file inside it)."""
        name = name or path
        location = prefix + path + ("/" if folder and self.backend.implicit_folders else "")
        if isinstance(usage, CkptError):
            return Checkpoint(step, 0, 0.0, name, location, Pending.UNREADABLE, str(usage))
        usage = usage or Usage(0, 0.0, 0)
        pending, detail = why if why is not None else (None, "")
        slimmed = SLIM_RECORD in usage.markers
        if slimmed:
            detail = f"{WEIGHTS_ONLY}; {detail}" if detail else WEIGHTS_ONLY
        return Checkpoint(step, usage.bytes, usage.mtime, name, location, pending, detail, usage.blobs, slimmed)

    def _metrics(self, place: RunPlace, steps: dict[str, int], own: Metrics, sizes: dict) -> Metrics:
        """The layout's own metrics; TensorBoard event files when it has none (Megatron, verl), or
        merged with them (Lightning's names)."""
        layout = place.layout
        if not layout.reads_event_files:
            return own
        from .tensorboard import tensorboard_metrics, wants_event_metrics  # only for trainers that log there

        if not (layout.merges_event_files or wants_event_metrics(own)):
            return own
        skip = {join(place.ckpt_dir, name) for name in steps}
        def written() -> dict[int, float]:
            return self._written(place, steps, sizes)

        found = tensorboard_metrics(self.backend, place.root, skip=skip, label=f"{place.project}/{place.name}",
                                    written=written if layout.logger_versions else None,
                                    saves=written if layout.numbers_saves else None)
        return layout.merge_event_values(layout.from_event_steps(found), own)

    def _written(self, place: RunPlace, steps: dict[str, int], sizes: dict) -> dict[int, float]:
        """When the newest checkpoint of each step was written, by the event step of its values."""
        missing = [name for name in steps if not isinstance(sizes.get(name), Usage)]
        if missing:
            sizes = {**sizes, **self.backend.usage_many(place.ckpt_dir, missing)}
        newest: dict[int, float] = {}
        for name, step in steps.items():
            if isinstance(usage := sizes.get(name), Usage):
                newest[place.layout.event_step(step)] = max(newest.get(place.layout.event_step(step), 0.0),
                                                            usage.mtime)
        return newest

    def load_runs(self, pairs: Iterable[tuple[str, str]],
                  with_metrics: bool = True) -> Iterator[tuple[tuple[str, str], Run | CkptError]]:
        """Runs in order, read several at a time where the backend waits on a network."""
        if self.backend.parallelism <= 1:
            yield from super().load_runs(pairs, with_metrics)
            return

        def one(pair: tuple[str, str]) -> Run | CkptError:
            try:
                return self.load_run(*pair, with_metrics=with_metrics)
            except CkptError as exc:
                return exc

        pairs = list(pairs)
        with self._lock:
            if self._run_pool is None:
                from concurrent.futures import ThreadPoolExecutor  # a pool only where one is used

                self._run_pool = ThreadPoolExecutor(self.backend.parallelism, thread_name_prefix="ckpt-tui-runs")
        yield from zip(pairs, self._run_pool.map(one, pairs))

    def read_metrics(self, project: str, run: str) -> Metrics:
        return self.load_run(project, run, with_sizes=False).metrics

    def read_history(self, project: str, run: str) -> list[dict]:
        place = self._place(project, run)
        history = place.layout.history_file
        if history is None:
            raise Refused(f"{project}/{run} is a {place.layout.name} run: its log travels inside its "
                          "checkpoints; fork without --with-history")
        return read_history_records(self.backend.read_lines(join(place.root, history)) or ())[0]

    # -- deletion -----------------------------------------------------------------------
    def _refusal(self, run: Run, place: RunPlace, ckpt: Checkpoint, complete: set,
                 protected_ok: bool = False) -> CkptError | None:
        """Why a checkpoint must not be deleted (``protected_ok``: slimmed), judged on ``run``
        as just loaded (None: it may)."""
        if ckpt.key not in complete or place.layout.step(ckpt.name) != ckpt.step:
            return NotFound(f"{run.project}/{run.name}: step {ckpt.step} is not a complete checkpoint here")
        if protected_ok:
            resumed = ckpt.step in run.resume_steps or ckpt.step == run.latest_step
            return Refused(f"{run.project}/{run.name}: step {ckpt.step} is resumed from") if resumed else None
        kept = run.protected.get(ckpt.step) if ckpt.step is not None else None
        if kept:
            return Refused(f"{run.project}/{run.name}: step {ckpt.step} is kept ({', '.join(kept)})")
        return None

    def delete_checkpoints(self, run: Run, checkpoints: list[Checkpoint], done: CheckpointDone | None = None,
                           should_cancel: Callable[[], bool] | None = None) -> dict[tuple[int, str], str]:
        place = self._settle(self._place(run.project, run.name))
        complete = {c.key for c in run.checkpoints}
        outcome: dict[tuple[int, str], str] = {}
        allowed = []
        for ckpt in checkpoints:
            refusal = self._refusal(run, place, ckpt, complete)
            if refusal is None:
                allowed.append(ckpt)
            else:
                outcome[ckpt.key] = str(refusal)
                if done is not None:
                    done(ckpt)
        outcome.update(self._by_entry(place, allowed, done, lambda entries, told: self.claims.delete(
            place.ckpt_dir, entries, told, should_cancel)))
        return outcome

    @staticmethod
    def _by_entry(place: RunPlace, checkpoints: list[Checkpoint], done: CheckpointDone | None,
                  claim: Callable[[list[Checkpoint], CheckpointDone | None], dict]) -> dict[tuple[int, str], str]:
        """``claim`` on the entries the checkpoints are (Lightning's ``val/`` sub-folder for the file
        inside it), its outcome and progress told of the checkpoints themselves."""
        entries = {c.key: c._replace(name=place.layout.entry(c.name)) for c in checkpoints}
        original = {entry.key: c for c, entry in zip(checkpoints, entries.values())}
        told = None if done is None else (lambda entry: done(original[entry.key]))
        outcome = claim(list(entries.values()), told)
        return {key: outcome[entry.key] for key, entry in entries.items() if entry.key in outcome}

    def slim_checkpoints(self, run: Run, checkpoints: list[Checkpoint], done: CheckpointDone | None = None,
                         should_cancel: Callable[[], bool] | None = None) -> dict[tuple[int, str], str]:
        """Each step's training state as its files are now, by its layout; the rest is the claims'."""
        place = self._settle(self._place(run.project, run.name))
        complete = {c.key for c in run.checkpoints}
        outcome: dict[tuple[int, str], str] = {}
        files = self.backend.walk_many(place.ckpt_dir, [c.name for c in checkpoints])
        allowed = []
        for ckpt in checkpoints:
            state = place.layout.training_state(_own_files(ckpt.name, files.get(ckpt.name, ())))
            refusal = self._refusal(run, place, ckpt, complete, protected_ok=True)
            why = str(refusal) if refusal is not None else state.refusal or (None if state.files else "nothing to slim")
            if why is None:
                allowed.append((ckpt, state.files))
                continue
            outcome[ckpt.key] = why
            if done is not None:
                done(ckpt)
        outcome.update(self.claims.slim(place.ckpt_dir, allowed, done, should_cancel))
        return outcome

    def delete_checkpoint(self, project: str, run: str, checkpoint: Checkpoint) -> None:
        loaded = self.load_run(project, run, with_metrics=False, with_sizes=False)
        place = self._settle(self._place(project, run))
        refusal = self._refusal(loaded, place, checkpoint, {c.key for c in loaded.checkpoints})
        if refusal is not None:
            raise refusal
        why = self.delete_checkpoints(loaded, [checkpoint])[checkpoint.key]
        if why:
            raise StoreError(f"step {checkpoint.step} of {project}/{run} not deleted: {why}")

    def finish_interrupted(self, project: str, run: str) -> list[str]:
        place, listing = self._resolve(project, run)
        removed, _problems = self.claims.finish(place.ckpt_dir, listing.entries)
        return removed  # what could not be finished stays listed as pending, with its reason

    def load_finished(self, project: str, run: str, with_metrics: bool = True) -> Run:
        """One listing of the run serves both, unless finishing changed something."""
        try:
            place, listing = self._resolve(project, run, deep=True)
        except Unreadable:
            return self.load_run(project, run, with_metrics)
        try:
            removed = bool(self.claims.finish(place.ckpt_dir, listing.entries)[0])
        except CkptError:
            removed = True  # part of it may be gone: read it again (its leftovers stay pending)
        if removed:
            place, listing = self._resolve(project, run, deep=True)
        return self._build(project, run, place, listing, with_metrics, True)

    # -- files of ckpt-tui's own ----------------------------------------------------------
    def incomplete_uploads(self) -> list[Upload]:
        return self.backend.incomplete_uploads("") if self.backend.has_incomplete_uploads else []

    def run_folder(self, project: str, run: str) -> str | None:
        return self._place(project, run).root

    def abort_uploads(self, uploads: list[Upload]) -> dict[str, str]:
        def abort(upload: Upload) -> str:
            try:
                self.backend.abort_upload(upload)
                return ""
            except CkptError as exc:
                return str(exc)

        return {u.upload_id: why for u, why in zip(uploads, self.backend.map(abort, uploads)) if why}

    @property
    def deletion_note(self) -> str | None:  # type: ignore[override]
        from ..core.hidden import soft_delete_note

        return soft_delete_note(self.backend.soft_delete_seconds())

    @property
    def plans_side_by_side(self) -> int:
        """Runs of a bucket are pruned four at a time: each run's re-listing, marker and
        deletions wait on the server; a disk's deletions do not."""
        return PLANS_SIDE_BY_SIDE if self.backend.implicit_folders else 1

    def read_ahead(self, pairs: Sequence[tuple[str, str]]) -> None:
        """The runs' policy files read side by side (settling each run's folder, whose listing
        serves its load too): in a bucket, two round trips for all the runs instead of one each."""
        if not self.backend.implicit_folders or len(pairs) < 2:
            return

        def read(pair: tuple[str, str]) -> None:
            try:
                self.policy_places(*pair)
            except CkptError:
                pass  # the load says why it cannot be read

        read(pairs[0])  # the folders above the runs, once
        self.backend.map(read, list(pairs[1:]))

    def policy_places(self, project: str, run: str) -> list[PolicyPlace]:
        place = self._place(project, run)
        try:
            place = self._settle(place)  # settled now: its folder listed once for both
        except CkptError:
            pass  # the load says why it cannot be read
        named = (place.project, place.name) if place.found_by_name else None
        return policy_places(self.backend, place.root, named, self._policy_reads, self._recent_listings(),
                             self._policy_above)

    def _recent_listings(self) -> dict[str, list[Entry]]:
        """The folders the discovery of a moment ago listed (with what they held), by the URL of the
        policy file each may hold: its own command's, not to be listed again."""
        with self._lock:
            # A listing made before the policy files were last forgotten may miss one saved since.
            if (self._found is None or time.monotonic() - self._found_at > RECENT_SECONDS
                    or self._found_at <= self._policies_forgotten_at):
                return {}
            if self._recent is None or self._recent[0] is not self._found:
                self._recent = (self._found, {}, {})
            _, urls, made = self._recent  # asked for each run: each listing's URL made once
            for folder, entries in self._found.listed.items():
                if made.get(folder) is not entries:
                    made[folder] = entries
                    urls[self.backend.url(join(folder, POLICY_FILE))] = entries
            return dict(urls)

    def location_policy_file(self) -> tuple[bytes | None, str | None]:
        return read_policy_file(self.backend, "")

    def forget_policy_places(self) -> None:
        with self._lock:
            if self._policy_reads:  # files read already: one may have been saved since the listing
                self._policies_forgotten_at = time.monotonic()
        self._policy_reads.clear()
        self._policy_above.clear()

    def read_location_file(self, name: str) -> str | None:
        return self.backend.read_text(_location_file(name))

    def location_file_version(self, name: str) -> tuple | None:
        path = self.backend.local_path(_location_file(name))
        if path is None:
            return None
        # Opened as the read opens it (never through a link; a FIFO without blocking), and looked
        # at by its descriptor: an open is what makes a network file system (NFS's close-to-open)
        # ask the server, where a ``stat`` may answer from attributes cached for up to a minute.
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        except OSError:  # missing too: a file made meanwhile is read, and a version of none would stand for it
            return None
        try:
            info = os.fstat(fd)
        except OSError:
            return None
        finally:
            os.close(fd)
        if not stat.S_ISREG(info.st_mode):
            return None
        version = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
        # A file changed in the clock's last tick, or on a file system with coarse times, may be
        # changed again with its size and times as they were (git's "racily clean" files): no version.
        return version if settled(IDENTITY.pack(*version).decode("latin-1"), time.time_ns()) else None

    def write_location_file(self, name: str, text: str) -> None:
        self.backend.write(_location_file(name), text.encode())
        with self._lock:
            self._policies_forgotten_at = time.monotonic()  # the listings made before miss this file

    @property
    def appends_in_place(self) -> bool:
        return self.backend.appends_in_place

    def append_location_file(self, name: str, text: str) -> None:
        if not self.backend.appends_in_place:
            return super().append_location_file(name, text)
        self.backend.append(_location_file(name), text.encode())

    # -- forks --------------------------------------------------------------------------
    def checkpoint_location(self, project: str, run: str, checkpoint: Checkpoint) -> str:
        return checkpoint.location or self.backend.url(self._step_path(project, run, checkpoint))

    def _step_path(self, project: str, run: str, checkpoint: Checkpoint) -> str:
        place = self._settle(self._place(project, run))
        if place.layout.step(checkpoint.name) != checkpoint.step:
            raise NotFound(f"{project}/{run}: {checkpoint.name!r} is not the name of step {checkpoint.step}")
        return join(place.ckpt_dir, checkpoint.name)

    def checkpoint_files(self, run: Run, checkpoint: Checkpoint) -> list[FileEntry]:
        path = self._step_path(run.project, run.name, checkpoint)
        infos = self._recently_listed(path)
        files = [FileEntry(info.path or checkpoint.name, info.size)
                 for info in (infos if infos is not None else self.backend.walk(path))]
        if not files:
            raise NotFound(f"{run.project}/{run.name}: step {checkpoint.step} holds no files (deleted meanwhile?)")
        return files

    def _recently_listed(self, path: str) -> list[FileInfo] | None:
        """The files of step ``path`` as the listing of its folder kept by a load a moment ago
        shows them (a step folder's objects; a single-file step, itself), else None."""
        listed = self.backend.listings.get(parent(path), max_age=RECENT_SECONDS)
        group = grouped(listed).get(basename(path)) if listed is not None else None
        if not group:
            return None
        return [f for f in group if f.path] or group

    def _single_file(self, run: Run, checkpoint: Checkpoint) -> bool:
        path = self._step_path(run.project, run.name, checkpoint)
        return not any(e.name == checkpoint.name and e.kind is Kind.DIR for e in self.backend.list_dir(parent(path)))

    def _file_path(self, run: Run, checkpoint: Checkpoint, rel: str) -> str:
        step = self._step_path(run.project, run.name, checkpoint)
        return step if rel == checkpoint.name and self._single_file(run, checkpoint) else join(step, rel)

    def download_checkpoint(self, run: Run, checkpoint: Checkpoint, directory: Path,
                            progress: ByteProgress | None = None) -> None:
        files = self.checkpoint_files(run, checkpoint)
        step = self._step_path(run.project, run.name, checkpoint)
        single = self._single_file(run, checkpoint)
        counter = _Counter(sum(f.bytes for f in files), progress)
        self.backend.map(lambda f: self.backend.get_file(step if single else join(step, f.path),
                                                         os.path.join(directory, f.path), counter), files)

    def open_checkpoint_file(self, run: Run, checkpoint: Checkpoint, path: str) -> BinaryIO:
        return self.backend.open(self._file_path(run, checkpoint, path))

    def local_checkpoint_path(self, run: Run, checkpoint: Checkpoint) -> str | None:
        return self.backend.local_path(self._step_path(run.project, run.name, checkpoint))

    def can_copy_to(self, other: Store) -> bool:
        return isinstance(other, TreeStore) and other.backend.can_copy_from(self.backend)

    def _fork_layout(self, source_run: Run, checkpoint: Checkpoint) -> Layout:
        """The new run's layout: the source's, as its layout names forks (ART for W&B and ART's older layout)."""
        return fork_layout(source_run.layout, checkpoint.name)

    def _new_place(self, project: str, run: str, layout: Layout, container: str) -> tuple[Backend, RunPlace]:
        """Where a new run ``project/run`` goes (and on which backend), creating nothing.

        An existing run is refused. When the location is itself one run, a new
        run of its project goes beside it, in the folder holding it.
        """
        try:
            found = self._discovered(max_age=RECENT_SECONDS)
        except NotFound:
            found = _Found()  # a location that does not exist yet: the fork creates it
        existing = found.places.get((project, run))
        if existing is not None:
            settled = self._settle(existing)
            if not self.claims.fork_in(settled.ckpt_dir):  # a fork that died part-way may be taken over
                raise AlreadyExists(f"{project}/{run} already exists in {self.location}; a fork creates a "
                                    "new run: choose another name; nothing copied")
            return self.backend, settled
        validate_name(run, "run name")
        if layout.runs_folder:
            validate_name(project, "project name")
            root = join(project, layout.runs_folder, run)
            return self.backend, RunPlace(project, run, root, join(root, layout.fork_container), layout)
        siblings = [p for (proj, _), p in sorted(found.places.items()) if proj == project and not p.found_by_name]
        if siblings and not siblings[0].root:  # the location is this project's only run
            outer = self.backend.parent()
            if any(e.name == run for e in outer.list_dir("")):
                raise AlreadyExists(f"{outer.url(run)} exists; nothing copied")
            return outer, RunPlace(project, run, run, join(run, container), layout)
        if siblings:
            root = join(parent(siblings[0].root), run)
        elif any(not p.root for p in found.places.values()):
            raise Refused(f"{self.location} is a single run of project {self.backend.outer_name!r}; "
                          "fork into that project, or into another location (--to-location)")
        else:
            validate_name(project, "project name")
            root = join(project, run)
        return self.backend, RunPlace(project, run, root, join(root, container), layout)

    def _seen_free(self, root: str) -> bool:
        """Whether the discovery a new run's name was just checked against (at most
        ``RECENT_SECONDS`` old) listed the folder that would hold ``root``, or one above it,
        without it: nothing was there, no run, no object, no fork's marker."""
        with self._lock:
            found = self._found if time.monotonic() - self._found_at <= RECENT_SECONDS else None
        path = root
        while found is not None and path:
            above, name = parent(path), basename(path)
            if above in found.unlisted:
                return False
            if (entries := found.listed.get(above)) is not None:
                return all(e.name != name for e in entries)
            path = above
        return False

    def fork_target(self, source_run: Run, checkpoint: Checkpoint, to_project: str, to_run: str) -> ForkTarget:
        layout = self._fork_layout(source_run, checkpoint)
        backend, place = self._new_place(to_project, to_run, layout, layout.fork_container)
        return ForkTarget(backend.url(place.root, folder=True), backend is self.backend,
                          layout.history_file is not None)

    def fork_into(self, source: Store, source_run: Run, checkpoint: Checkpoint, to_project: str,
                  to_run: str, history: list[dict] | None = None,
                  progress: ByteProgress | None = None) -> Checkpoint:
        layout = self._fork_layout(source_run, checkpoint)
        if history is not None and layout.history_file is None:
            raise Refused(f"{layout.name} runs keep no history file; fork without --with-history; "
                          "nothing copied")
        files = source.checkpoint_files(source_run, checkpoint)
        single = (len(files) == 1 and files[0].path == checkpoint.name and layout.step_kind != "dir"
                  and layout.step(checkpoint.name) is not None)
        container = layout.fork_container
        backend, place = self._new_place(to_project, to_run, layout, container)
        name = layout.checkpoint_name(checkpoint.step, like=checkpoint.name)
        new = NewRun(place.root, container, name, [""] if single else [f.path for f in files])
        new.seen_free = backend is self.backend and self._seen_free(place.root)
        if layout.tracker is not None:
            new.tracker = (layout.tracker, layout.tracker_text(checkpoint.step).encode())
        if history is not None:
            import json  # forks only: a listing starts without it

            new.history = (layout.history_file, "".join(json.dumps(r) + "\n" for r in history).encode())
        counter = _Counter(sum(f.bytes for f in files), progress)
        claims = self.claims if backend is self.backend else type(self.claims)(backend)
        claims.create_run(new, lambda step: _fill(backend, step, single, files, source, source_run,
                                                   checkpoint, counter))
        with self._lock:
            self._found = None  # a new run
        location = backend.url(new.step_path(), folder=not single)
        if backend.implicit_folders:  # no hard links to tell: the files copied are what it holds
            return Checkpoint(checkpoint.step, counter.total, time.time(), name, location)
        usage = backend.usage(new.step_path())
        return Checkpoint(checkpoint.step, usage.bytes, usage.mtime, name, location, blobs=usage.blobs)

    def limit_caches(self, files: int) -> None:
        self._verdicts.limit = files

    # -- offload: the same runs at the same places (mirror.py) ------------------------------
    def forget_runs(self) -> None:
        """Discover the runs again at the next read (some were written meanwhile)."""
        with self._lock:
            self._found = None

    def offload_run_files(self, source: Store, source_run: Run) -> int:
        from .mirror import offload_run_files

        return offload_run_files(self, source, source_run)

    def offload_steps(self, source: Store, source_run: Run, checkpoints: list[Checkpoint],
                      copied: BytesCopied | None = None) -> dict[tuple[int, str], StepCopy | CkptError]:
        from .mirror import offload_steps

        return offload_steps(self, source, source_run, checkpoints, copied)

    def mirrored_run(self, source: Store, project: str, run: str) -> Run | None:
        from .mirror import mirrored_run

        return mirrored_run(self, source, project, run)


def _fill(backend: Backend, step: str, single: bool, files: list[FileEntry], source: Store, source_run: Run,
          checkpoint: Checkpoint, counter: _Counter) -> None:
    """Copy the checkpoint's files to ``step`` of ``backend``, the cheapest way the two stores allow."""
    def target(f: FileEntry) -> str:
        return step if single else join(step, f.path)

    if isinstance(source, TreeStore) and backend.can_copy_from(source.backend):
        origin = source._step_path(source_run.project, source_run.name, checkpoint)
        # Only a step of one file named as the step may be that file alone: only then list to tell.
        source_single = (len(files) == 1 and files[0].path == checkpoint.name
                         and source._single_file(source_run, checkpoint))
        _every(backend, lambda f: backend.copy_from(
            source.backend, origin if source_single else join(origin, f.path), target(f), counter), files)
    elif backend.local_path(step) is not None and not single:
        backend.make_dirs(step)
        from pathlib import Path  # a fork, not a listing, needs it

        source.download_checkpoint(source_run, checkpoint, Path(backend.local_path(step)), counter.as_progress())
    elif (local := source.local_checkpoint_path(source_run, checkpoint)) is not None:
        _every(backend, lambda f: backend.put_file(
            local if os.path.isfile(local) else os.path.join(local, f.path), target(f), counter), files)
    else:
        def stream(f: FileEntry) -> None:
            with source.open_checkpoint_file(source_run, checkpoint, f.path) as handle:
                backend.put_stream(handle, target(f), counter)

        _every(backend, stream, files)


def _every(backend: Backend, write: Callable[[FileEntry], None], files: list[FileEntry]) -> None:
    """``write`` of every file side by side; the first failure is raised once no write is running
    any more (those not started by then are not started): a copy still running when another
    failed, or when the command was interrupted, would write its object after the fork had
    removed the ones it named (a partial step of a run without its marker)."""
    state = threading.Condition()
    running, stopped = [0], [False]

    def attempt(f: FileEntry) -> BaseException | None:
        with state:
            if stopped[0]:
                return None
            running[0] += 1
        try:
            write(f)
        except BaseException as exc:  # noqa: BLE001 - raised below, once no write is running
            with state:
                stopped[0] = True
            return exc
        finally:
            with state:
                running[0] -= 1
                state.notify_all()
        return None

    try:
        failures = [exc for exc in backend.map(attempt, files) if exc is not None]
    except BaseException:  # Ctrl-C while waiting: the copies under way end first
        with state:
            stopped[0] = True
            try:
                while running[0]:
                    state.wait()
            except KeyboardInterrupt:  # Ctrl-C again: leave what was named for a later operation
                if running[0]:
                    raise StillWriting() from None
                raise
        raise
    if failures:
        raise failures[0]


def _own_files(name: str, files: Iterable[FileInfo]) -> list[tuple[str, int]]:
    """A step's (path, bytes), without the files slimming itself writes (a single-file step: its name)."""
    return [(f.path or name, f.size) for f in files
            if f.path != SLIM_RECORD and not f.path.startswith(SLIM_ASIDE + "/")]


def _location_file(name: str) -> str:
    """A file name directly in the location: never a path that leads elsewhere."""
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise Refused(f"{name!r} is not a file name")
    return name


def settle_seconds() -> float:
    """How long a step of a layout without a completion marker must stay unchanged before it
    counts as complete: ``$CKPT_TUI_SETTLE_SECONDS``, a minute by default."""
    text = os.environ.get(SETTLE_VARIABLE, "").strip()
    if not text:
        return DEFAULT_SETTLE_SECONDS
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 365 * 24 * 3600:
        raise Refused(f"${SETTLE_VARIABLE} must be a number of seconds between 0 and a year, not {text[:40]!r}")
    return value


def _settling(usage: Usage | CkptError | None, window: float, now: float) -> tuple[Pending, str] | None:
    """A step written to less than ``window`` seconds before ``now`` (or after it) has not settled."""
    if not isinstance(usage, Usage) or not usage.files:
        return None
    age = now - usage.mtime
    if age >= window:
        return None
    return Pending.SETTLING, (f"newest file written {max(age, 0):.0f}s ago; complete once unchanged for "
                              f"{window:g}s (this trainer writes no completion marker)")
