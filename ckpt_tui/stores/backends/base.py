"""What a storage backend offers: a dozen basic operations on paths, and what is built on them.

Paths are relative to the backend's root, with ``/`` between parts and ``""``
for the root itself. Everything about runs, layouts, claims and forks lives
once above this, in the tree store; a backend knows nothing of checkpoints.

A backend implements the primitives (the abstract methods: naming, ``check_root``,
``list_dir``, ``walk``, ``open``, ``create_new``, ``write``, ``delete_files``,
``put_stream``); everything else has a default built on them (reading a small file,
tree deletion, downloads, uploads, copies within and across backends, listings and
their cache), which a backend overrides only where it has something faster. What a
backend can do beyond that it says with capability flags, which callers check
instead of calling and being refused. See ``docs/backends.md``.
"""

from __future__ import annotations

import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from enum import Enum
from types import MappingProxyType

from ...core.errors import AlreadyExists, CkptError, NotFound, NotRead, Refused, StoreError
from ...core.models import Blob, Upload
from ...core.records import NamedTuple
from ...core.store import Space

TYPE_CHECKING = False
if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor
    from typing import Any, BinaryIO, Union

    from ...core.checksums import Digest

# Files a layout reads (trackers, trainer state, histories) are small; anything larger is not one.
MAX_SIDE_FILE = 64 * 1024 * 1024
_WORKER = "ckpt-tui-io"
# Bytes a stream is read by, line by line.
LINE_CHUNK = 1024 * 1024
# Called with a number of bytes just transferred.
BytesDone = Callable[[int], None]
# Bytes a stream is copied by (downloads, uploads and copies built on ``open`` and ``put_stream``).
COPY_CHUNK = 8 * 1024 * 1024
# Tries of a key that a deletion request reports failed (``BucketBackend.delete_in_batches``).
KEY_ERROR_ROUNDS = 3
# Sends one deletion request for keys: {key: (why, whether another try may do better)} for those that failed.
SendDeletions = Callable[[list[str]], dict[str, tuple[str, bool]]]
# Listings kept for the deletion that follows a load, bounded in files.
LISTING_CACHE_FILES = 2_000_000


class Kind(Enum):
    FILE = "file"
    DIR = "dir"
    LINK = "link"  # never followed
    OTHER = "other"  # sockets, devices: never checkpoints


class Entry(NamedTuple):
    """One name in a folder. ``tag`` identifies the content's version where the backend
    has one (an S3 ETag); ``mtime`` is seconds since the epoch."""

    name: str
    kind: Kind
    size: int = 0
    mtime: float = 0.0
    tag: str = ""


class FileInfo(NamedTuple):
    """A regular file below some folder, by its path relative to that folder."""

    path: str
    size: int
    mtime: float
    tag: str = ""


# Files of ours inside a step folder, which a scan reports when it meets them: a slimmed step's record.
SLIM_RECORD = ".ckpt-tui-slim.json"
STEP_MARKERS = frozenset({SLIM_RECORD})


class Usage(NamedTuple):
    """What a folder (or single file) holds: apparent bytes (hard links once), newest write, shared
    blobs, and which of ``STEP_MARKERS`` it holds directly."""

    bytes: int
    mtime: float
    files: int
    blobs: tuple[Blob, ...] = ()
    markers: frozenset[str] = frozenset()


# A step folder's names as a listing found them, with what ``fstat`` told of the folder just before:
# (device, inode, mtime_ns, ctime_ns), (its names). An entry added, removed or renamed in a folder
# changes its times; a folder put in its place has another inode or change time.
StepListing = tuple[tuple[int, int, int, int], Sequence[str]]


class DeepListing(NamedTuple):
    """A folder listed to the bottom in one go: its entries, each entry's usage, and for
    each sub-folder the names directly in it."""

    entries: list[Entry]
    usage: dict[str, Usage]
    children: dict[str, set[str]]


def join(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p.strip("/"))


def parent(path: str) -> str:
    return path.rpartition("/")[0]


def basename(path: str) -> str:
    return path.rpartition("/")[2]


def grouped(infos: Iterable[FileInfo]) -> dict[str, list[FileInfo]]:
    """Files below a folder by the entry of the folder they belong to, their paths
    relative to it (a file directly in the folder is its own group, path "")."""
    groups: dict[str, list[FileInfo]] = {}
    for info in infos:
        name, sep, rest = info.path.partition("/")
        groups.setdefault(name, []).append(info._replace(path=rest if sep else ""))
    return groups


class FlatListing:
    """What one flat listing (no delimiter) of a tree shows, folder by folder, as a delimited
    listing of each folder would show it (fsspec's ``find`` filling its ``DirCache``): the
    entries of each folder and the files below it. ``infos`` are in the store's order (by
    name); a listing cut after a page (``whole`` false) shows whole only the folders whose
    names all sort before the last name it holds. Paths ending in ``/`` are folder
    placeholders: they show their folder, and are no files."""

    def __init__(self, infos: list[FileInfo], whole: bool) -> None:
        self.infos, self.whole = infos, whole
        self.listed_at = time.monotonic()
        self._taken: set[str] = set()
        self._lock = threading.Lock()
        self.last = infos[-1].path if infos else ""
        self._entries: dict[str, dict[str, Entry]] = {"": {}}
        for info in infos:
            folder, _, name = info.path.rpartition("/")
            self._add_folder(folder)
            if name and name not in self._entries[folder]:  # a folder and a file of one name: the folder wins
                self._entries[folder][name] = Entry(name, Kind.FILE, info.size, info.mtime, info.tag)

    def _add_folder(self, folder: str) -> None:
        """``folder``, and each folder above it not known yet, each shown in the one above."""
        child = ""
        while True:
            known = folder in self._entries
            entries = self._entries.setdefault(folder, {})
            if child:
                entries[child] = Entry(child, Kind.DIR)
            if known:
                return
            folder, _, child = folder.rpartition("/")

    def shows_whole(self, folder: str) -> bool:
        """Whether everything below ``folder`` is in the listing (a folder absent from a whole
        listing holds nothing)."""
        if self.whole:
            return True
        top = folder + "/"
        return bool(folder) and top < self.last and not self.last.startswith(top)

    def entries(self, folder: str) -> list[Entry] | None:
        """``list_dir(folder)`` as the listing shows it; None where it does not show it whole."""
        if not self.shows_whole(folder):
            return None
        return list(self._entries.get(folder, {}).values())

    def files(self, folder: str) -> list[FileInfo] | None:
        """``walk(folder)`` of a folder as the listing shows it; None where it does not show it whole."""
        if not self.shows_whole(folder):
            return None
        if not folder:
            return [i for i in self.infos if not i.path.endswith("/")]
        top = folder + "/"
        return [i._replace(path=i.path[len(top):]) for i in self.infos
                if i.path.startswith(top) and not i.path.endswith("/")]

    def take_files(self, folder: str) -> list[FileInfo] | None:
        """``files(folder)`` the first time it is asked for, then None: whatever read the folder
        first may have changed it since (a deletion, finishing one), so a later read lists it again."""
        with self._lock:
            if folder in self._taken:
                return None
            self._taken.add(folder)
        return self.files(folder)


def deep_listing(infos: list[FileInfo]) -> DeepListing:
    """``list_deep`` of a folder from ``walk``'s files below it."""
    entries: dict[str, Entry] = {}
    totals: dict[str, list] = {}
    children: dict[str, set[str]] = {}
    for info in infos:
        name, sep, rest = info.path.partition("/")
        if sep:
            entries[name] = Entry(name, Kind.DIR)
            children.setdefault(name, set()).add(rest.partition("/")[0])
        elif name not in entries:
            entries[name] = Entry(name, Kind.FILE, info.size, info.mtime, info.tag)
        total = totals.setdefault(name, [0, 0.0, 0])
        total[0] += info.size
        total[1] = max(total[1], info.mtime)
        total[2] += 1
    usage = {n: Usage(*t, markers=STEP_MARKERS.intersection(children.get(n, ()))) for n, t in totals.items()}
    return DeepListing(list(entries.values()), usage, children)


class ListingCache:
    """Deep listings of folders (every file below each), kept between the load that made
    them and the deletion that follows, as fsspec's ``DirCache``: bounded in files (the
    oldest listing goes first), optionally expiring after ``expiry`` seconds, and
    forgotten below any path the backend deletes through the base's derived operations."""

    def __init__(self, max_files: int = LISTING_CACHE_FILES, expiry: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_files, self.expiry, self.clock = max_files, expiry, clock
        self._listings: dict[str, tuple[float, list[FileInfo]]] = {}
        self._lock = threading.Lock()

    def put(self, folder: str, infos: list[FileInfo], listed_at: float | None = None) -> None:
        with self._lock:
            self._listings.pop(folder, None)
            if len(infos) > self.max_files:
                return
            while self._listings and self._files() + len(infos) > self.max_files:
                del self._listings[next(iter(self._listings))]
            self._listings[folder] = (self.clock() if listed_at is None else listed_at, infos)

    def get(self, folder: str, take: bool = False, max_age: float | None = None) -> list[FileInfo] | None:
        """The listing of ``folder`` if one is kept and fresh enough (and at most ``max_age``
        seconds old); ``take`` forgets it (what follows is a deletion, which makes it stale)."""
        with self._lock:
            kept = self._listings.pop(folder, None) if take else self._listings.get(folder)
            if kept is None or (self.expiry is not None and self.clock() - kept[0] > self.expiry):
                self._listings.pop(folder, None)
                return None
            return kept[1] if max_age is None or self.clock() - kept[0] <= max_age else None

    def forget(self, path: str) -> None:
        """Drop every listing that shows ``path`` or anything below it."""
        with self._lock:
            for folder in [f for f in self._listings if folder_below(path, f) or folder_below(f, path)]:
                del self._listings[folder]

    def clear(self) -> None:
        with self._lock:
            self._listings.clear()

    def __contains__(self, folder: str) -> bool:
        return self.get(folder) is not None

    def _files(self) -> int:
        return sum(len(infos) for _, infos in self._listings.values())


def folder_below(path: str, top: str) -> bool:
    """Whether ``path`` is ``top`` or below it (every path is below the root, "")."""
    return not top or path == top or path.startswith(top + "/")


# -- errors ------------------------------------------------------------------------------------
class Missing(NotFound):
    """Nothing is at the path asked for (a provider's "no such key", "blob not found")."""


class Exists(AlreadyExists):
    """A create-only write found something there (a failed precondition, ``EEXIST``)."""


# An entry of an error table: the project's error class (given "{what}: {detail}"), or a
# function of (backend, what, detail) making the error, for a message of its own.
if TYPE_CHECKING:
    ErrorRule = Union[type[CkptError], Callable[[Any, str, str], CkptError]]


def _no_codes(exc: BaseException) -> tuple[tuple[str | int, ...], str]:
    return (), str(exc)


class ErrorTable(NamedTuple):
    """A provider's errors mapped to the project's, in one place per backend (as s3fs's
    ``errors.py``): ``Backend.errors`` translates whatever a provider raises through it.

    ``catches``: names of the provider's exception classes to translate (names, so that a
    table is written without importing its SDK); anything else goes through untouched.
    ``codes`` maps an error code (a provider's code, an HTTP status, an errno) to a rule;
    ``exceptions`` maps an exception class name to one. ``describe`` gives an exception's
    codes, most specific first, and a one-line detail. What no entry names is a ``StoreError``."""

    catches: tuple[str, ...]
    codes: Mapping[str | int, ErrorRule] = MappingProxyType({})
    exceptions: Mapping[str, ErrorRule] = MappingProxyType({})
    describe: Callable[[BaseException], tuple[tuple[str | int, ...], str]] = _no_codes

    def handles(self, exc: BaseException) -> bool:
        return not isinstance(exc, CkptError) and any(c.__name__ in self.catches for c in type(exc).__mro__)

    def rule(self, exc: BaseException) -> ErrorRule:
        codes, _ = self.describe(exc)
        for code in codes:
            if code in self.codes:
                return self.codes[code]
        return next((self.exceptions[c.__name__] for c in type(exc).__mro__ if c.__name__ in self.exceptions),
                    StoreError)

    def translate(self, exc: BaseException, what: str, backend: Any = None) -> CkptError:
        """The project's error for ``exc``, met while doing ``what`` ("cannot read s3://b/k")."""
        rule = self.rule(exc)
        detail = self.describe(exc)[1]
        if isinstance(rule, type):
            return rule(f"{what}: {detail}" if detail else what)
        return rule(backend, what, detail)


# Capability flags, each with the method a backend that sets it must define.
CAPABILITIES = {
    "can_rename": "rename",
    "can_copy_server_side": "copy_file",
    "reports_free_space": "free_space",
    "has_exclusive_create": "create_new",
    "appends_in_place": "append",
    "has_incomplete_uploads": "incomplete_uploads",
}


class Backend(ABC):
    """The basic operations, and what is derived from them.

    Capabilities (class attributes; callers check them instead of calling and being refused):

    * ``can_rename``: ``rename`` is atomic and never replaces (a disk). Without it, deletions
      and forks are claimed by marker files instead of renames.
    * ``can_copy_server_side``: ``copy_file`` copies within the store without the bytes passing
      through ``open`` and ``put_stream`` (S3's CopyObject, a disk's own copy).
    * ``reports_free_space``: ``free_space`` says how many bytes new files may take, of how many.
    * ``has_exclusive_create``: ``create_new`` is one atomic create-only write (``O_EXCL``,
      S3's ``If-None-Match: *``). Without it the base checks, writes and reads back, which
      narrows a race between two writers but does not close it.
    * ``appends_in_place``: ``append`` adds to the end of a file in one write (``O_APPEND``), so
      writers at once each add their whole text. Without it a caller reads and writes again.
    * ``implicit_folders``: folders exist only through what they hold (object stores); an empty
      one is no folder at all, ``make_dirs`` has nothing to do and deleting a tree is deleting
      its files.
    * ``has_incomplete_uploads``: the store keeps the parts of uploads never completed (S3
      multipart), which no listing of files shows; ``incomplete_uploads`` lists them and
      ``abort_upload`` frees them.
    * ``lists_folder_markers``: ``listing_of`` names the folder markers it meets (the zero-byte
      ``{step}/`` objects some tools write), so that a deleted step's marker is deleted where
      one was written, and only there: a folder a server still shows once its objects are gone
      (SeaweedFS) holds no object, and is left to the server, as every other client leaves it.

    ``parallelism`` says how many calls are worth making at once (a network store: many; a disk: a few).
    """

    can_rename = False
    can_copy_server_side = False
    reports_free_space = False
    has_exclusive_create = False
    appends_in_place = False
    implicit_folders = False
    has_incomplete_uploads = False
    lists_folder_markers = False
    parallelism = 1
    # How this backend's provider errors read as the project's (see ``errors``).
    error_table: ErrorTable | None = None

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        for flag, method in CAPABILITIES.items():
            if getattr(cls, flag) and getattr(cls, method) is getattr(Backend, method):
                raise TypeError(f"{cls.__name__} sets {flag} but does not define {method}()")
        if not cls.implicit_folders:
            for method in ("make_dirs", "delete_tree"):
                if getattr(cls, method) is getattr(Backend, method):
                    raise TypeError(f"{cls.__name__} has real folders (implicit_folders is False) "
                                    f"but does not define {method}()")

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self.listings = ListingCache()

    def errors(self, what: str) -> _Translated:
        """Translate what the provider raises inside into the project's errors, by ``error_table``:
        ``Missing`` where nothing is there, ``Exists`` where a create-only write found something,
        ``Unreadable`` for permissions, otherwise one line saying ``what`` failed and why."""
        return _Translated(self, what)

    # -- naming ---------------------------------------------------------------------
    @property
    @abstractmethod
    def root_name(self) -> str:
        """The last part of the root (a run or project name when the location is one)."""

    @property
    @abstractmethod
    def outer_name(self) -> str:
        """The name of the folder holding the root."""

    @abstractmethod
    def url(self, path: str, folder: bool = False) -> str:
        """What a user can paste: an absolute path, an ``s3://`` URL (ending in ``/`` for a folder)."""

    @abstractmethod
    def parent(self) -> Backend:
        """The same storage, rooted one folder up (where a run beside a single-run location goes)."""

    @abstractmethod
    def check_root(self) -> None:
        """Raise ``NotFound`` (or a store error) when the root cannot be used at all."""

    # -- reading ------------------------------------------------------------------------
    @abstractmethod
    def list_dir(self, path: str) -> list[Entry]:
        """One level. [] when ``path`` does not exist; raises ``Unreadable`` when it may not be read."""

    @abstractmethod
    def walk(self, path: str) -> Iterator[FileInfo]:
        """Every regular file below ``path``; links are skipped. A file ``path`` yields itself, as ``""``."""

    def usage(self, path: str) -> Usage:
        total, newest, count = 0, 0.0, 0
        markers = set()
        for info in self.walk(path):
            total += info.size
            newest = max(newest, info.mtime)
            count += 1
            if info.path in STEP_MARKERS:
                markers.add(info.path)
        return Usage(total, newest, count, markers=frozenset(markers))

    def list_deep(self, path: str) -> DeepListing | None:
        """``list_dir``, usages and sub-folder names from one listing, where the backend can
        (S3: a listing without a delimiter); None where that costs more than listing level by
        level. A backend that makes one keeps it (``remember``) for ``listing``."""
        return None

    def flat_page(self, path: str, most: int) -> FlatListing | None:
        """The first page of a flat listing of ``path`` (at most ``most`` files, fewer where the
        server's pages are smaller): one request that shows a small tree whole, folder by
        folder. None where the backend has no such listing (a disk lists folder by folder)."""
        return None

    def remember(self, folder: str, infos: list[FileInfo], listed_at: float | None = None) -> None:
        """Keep a deep listing of ``folder`` (``walk``'s files; made at ``time.monotonic()``
        ``listed_at``, by default now) for ``listing`` to reuse."""
        self.listings.put(folder, infos, listed_at)

    def listing(self, folder: str, fresh: bool = False, keep: bool = False) -> dict[str, list[FileInfo]]:
        """Every file below ``folder`` grouped by the entry of ``folder`` it belongs to (a file
        directly in ``folder`` is its own group, path ""). The listing kept by the last load
        of the folder is reused unless ``fresh``, and then forgotten unless ``keep`` (a
        deletion makes it stale)."""
        cached = None if fresh else self.listings.get(folder, take=not keep)
        return grouped(cached if cached is not None else self.walk(folder))

    def listing_of(self, folder: str, names: Iterable[str],
                   markers: set[str] | None = None) -> dict[str, list[FileInfo]]:
        """``listing(folder, fresh=True)`` for ``names`` only (entries with no file are left out);
        where the backend ``lists_folder_markers``, the names whose folder marker it met are
        added to ``markers``."""
        names = sorted(set(names))
        found = self.map(lambda name: list(self.walk(join(folder, name))), names)
        return {name: infos for name, infos in zip(names, found) if infos}

    def walk_many(self, folder: str, names: Iterable[str]) -> dict[str, list[FileInfo]]:
        """``walk`` of several entries of one folder (paths relative to each entry)."""
        names = list(names)
        return dict(zip(names, self.map(lambda n: list(self.walk(join(folder, n))), names)))

    def usage_many(self, folder: str, names: Iterable[str]) -> dict[str, Usage | CkptError]:
        """``usage`` of several entries of one folder; an error for an entry that cannot be read."""
        def one(name: str) -> Usage | CkptError:
            try:
                return self.usage(join(folder, name))
            except CkptError as exc:
                return exc

        names = list(names)
        return dict(zip(names, self.map(one, names)))

    def usage_and_files_many(self, folder: str, names: Iterable[str],
                             listed_before: Mapping[str, StepListing] | None = None,
                             listed_now: dict[str, StepListing] | None = None) -> tuple[dict[str, Usage | CkptError],
                                                                                        dict[str, list[FileInfo]]]:
        """``usage_many``, and ``walk_many`` of the entries a backend read whole on the way (a disk:
        every folder, each by its weights files alone, with whether it holds more than descriptions:
        ``local.WeightFiles``; none by default). A backend that knows when a folder is unchanged (a
        disk, by its times) takes the names of such a folder from ``listed_before`` instead of
        listing it, and puts what it listed of the usual folders in ``listed_now``; by default
        both are left alone."""
        return self.usage_many(folder, names), {}

    def read_file(self, path: str, limit: int = MAX_SIDE_FILE) -> bytes | None:
        """A small file's content; None only when nothing is there. A file that is there but
        is not read raises ``NotRead`` saying why (not a regular file, a folder, a link leading
        outside the root, larger than ``limit``); one that may not be read, ``Unreadable``.
        What is not a regular file is never opened for reading: a FIFO never blocks a read.

        By default: ``open``, and at most ``limit`` bytes read."""
        try:
            stream = self.open(path)
        except NotFound:
            return None
        try:
            data = stream.read(limit + 1)
        finally:
            stream.close()
        if len(data) > limit:
            raise NotRead(f"{self.url(path)} is larger than {limit:,} bytes; not read")
        return data

    def read_bytes(self, path: str, limit: int = MAX_SIDE_FILE) -> bytes | None:
        """``read_file`` for ckpt-tui's own markers: None also for one that is there but not
        read (it is no marker of ours)."""
        try:
            return self.read_file(path, limit)
        except NotRead:
            return None

    def read_text(self, path: str, limit: int = MAX_SIDE_FILE) -> str | None:
        """``read_file`` decoded: None when absent, ``NotRead`` or ``Unreadable`` when there but not read."""
        data = self.read_file(path, limit)
        return None if data is None else data.decode("utf-8", errors="replace")

    def read_lines(self, path: str) -> Iterator[bytes] | None:
        """A file of any size, line by line (split on ``\\n`` only) as it streams in; None when
        absent, ``NotRead`` or ``Unreadable`` as ``read_file``. A line longer than
        ``MAX_SIDE_FILE`` is cut there (no JSON reader takes it whole)."""
        try:
            stream = self.open(path)
        except NotFound:
            return None
        return stream_lines(stream)

    def link_target(self, path: str) -> str | None:
        """For a symbolic link, the name of the entry of the same folder it points at (else None)."""
        return None

    def entry(self, folder: str, name: str) -> Entry | None:
        """``folder``'s entry ``name`` as ``list_dir`` gives it, None when there is none. By default
        from the listing; a backend that can ask for one name lists nothing."""
        return next((e for e in self.list_dir(folder) if e.name == name), None)

    @abstractmethod
    def open(self, path: str) -> BinaryIO:
        """A file to read as a stream; ``NotFound`` when absent, ``NotRead`` when it is not a
        regular file or is a link leading outside the root (never opened then)."""

    def open_listed(self, path: str, tag: str = "") -> BinaryIO:
        """``open`` of a regular file a listing has just shown (the whole-file checks of a scan), its
        ``FileInfo.tag`` given: a backend may skip looking again at what the listing told, and refuse
        (``NotRead``) a file that is not the one listed. By default: ``open``."""
        return self.open(path)

    def local_path(self, path: str) -> str | None:
        """Where ``path`` is on this machine's disk, if it is on one."""
        return None

    def digest(self, info: FileInfo) -> Digest | None:
        """The checksum the store keeps of a listed file's content (from its ``tag``), if any."""
        return None

    def free_space(self, path: str) -> Space:
        """Bytes free, and in all, where ``path`` is (backends with ``reports_free_space``)."""
        raise NotImplementedError(f"{type(self).__name__} does not report free space")

    # -- writing ------------------------------------------------------------------------
    def create_new(self, path: str, data: bytes) -> bool:
        """Create a file unless one exists (False then); never replaces.

        Atomic in backends with ``has_exclusive_create``. By default: False when a file is
        there, else written and read back, False when another writer's content is found."""
        if self.read_bytes(path) is not None:
            return False
        self.write(path, data)
        return self.read_bytes(path) == data

    @abstractmethod
    def write(self, path: str, data: bytes) -> None:
        """Create or replace a small file; readers see the old content or the new, never half."""

    def append(self, path: str, data: bytes) -> None:
        """Add ``data`` at the end of a regular file (made if missing) in one write (backends
        with ``appends_in_place``); a link, FIFO or device there is refused, not followed or waited on."""
        raise NotImplementedError(f"{type(self).__name__} does not append in place")

    def make_dirs(self, path: str) -> None:
        """Create a folder and its parents (nothing to do where folders are implicit)."""

    @abstractmethod
    def delete_files(self, paths: list[str]) -> dict[str, str]:
        """Delete files; {path: error} for those that failed (a missing one counts as deleted)."""

    def delete_tree(self, path: str) -> None:
        """Delete a folder with everything in it, or a single file.

        By default (folders implicit): every file ``walk`` finds, deleted with ``delete_files``."""
        self.listings.forget(path)
        paths = [join(path, info.path) for info in self.walk(path)]
        failed = self.delete_files(paths)
        if failed:
            where, why = next(iter(failed.items()))
            raise StoreError(f"cannot delete {self.url(where)}: {why}")

    def rename(self, source: str, target: str) -> None:
        """Atomic rename that never replaces an existing target (backends with ``can_rename``)."""
        raise NotImplementedError(f"{type(self).__name__} cannot rename")

    # -- bytes no listing of files shows -------------------------------------------------
    def incomplete_uploads(self, path: str) -> list[Upload]:
        """Uploads started below ``path`` and never completed nor aborted, with the bytes their
        parts hold (paths relative to the root); [] where there are none (``has_incomplete_uploads``)."""
        return []

    def abort_upload(self, upload: Upload) -> None:
        """Abort an incomplete upload, freeing its parts (one already gone counts as aborted)."""

    def soft_delete_seconds(self) -> float | None:
        """How long the storage keeps what is deleted, billed and restorable (GCS soft delete);
        None where a deletion frees the bytes at once. Asked where a deletion is confirmed, the
        app's included: a backend that must ask its server asks once and keeps the answer."""
        return None

    # -- transfers ----------------------------------------------------------------------
    def copy_file(self, source: str, target: str, done: BytesDone | None = None) -> None:
        """Copy within this backend: server-side in backends with ``can_copy_server_side``,
        else streamed through ``open`` and ``put_stream``."""
        self.copy_from(self, source, target, done)

    def can_copy_from(self, other: Backend) -> bool:
        """Whether ``copy_from`` can copy out of ``other`` without the bytes passing through here."""
        return other is self and self.can_copy_server_side

    def copy_from(self, other: Backend, source: str, target: str, done: BytesDone | None = None) -> None:
        """Copy ``source`` of ``other`` (any backend) to ``target`` here: server-side where
        ``can_copy_from`` says so, else streamed from ``other.open`` into ``put_stream``."""
        if other is self and self.can_copy_server_side:
            self.copy_file(source, target, done)
            return
        stream = other.open(source)
        try:
            self.put_stream(stream, target, done)
        finally:
            stream.close()

    def get_file(self, source: str, local_target: str, done: BytesDone | None = None) -> None:
        """Download a file to this machine's disk. By default: ``open``, copied by chunks."""
        import contextlib

        try:
            os.makedirs(os.path.dirname(local_target) or ".", exist_ok=True)
            with contextlib.closing(self.open(source)) as stream, open(local_target, "wb") as handle:
                while chunk := stream.read(COPY_CHUNK):
                    handle.write(chunk)
                    if done is not None:
                        done(len(chunk))
        except OSError as exc:
            raise StoreError(f"cannot write {local_target}: {exc.strerror or exc}") from None

    def put_file(self, local_source: str, target: str, done: BytesDone | None = None) -> None:
        """Upload a file from this machine's disk. By default: ``put_stream`` of it."""
        try:
            handle = open(local_source, "rb")
        except OSError as exc:
            raise StoreError(f"cannot read {local_source}: {exc.strerror or exc}") from None
        with handle:
            self.put_stream(handle, target, done)

    @abstractmethod
    def put_stream(self, stream: BinaryIO, target: str, done: BytesDone | None = None) -> None:
        """Upload from a stream (another store's file), calling ``done`` with bytes as they go."""

    # -- concurrency --------------------------------------------------------------------
    def map(self, function: Callable, items: list) -> list:
        """``function`` over ``items``, in parallel where the backend gains from it.

        Called from one of its own workers it runs in that worker: a worker waiting
        on others of the same pool could wait forever."""
        if self.parallelism <= 1 or len(items) <= 1 or threading.current_thread().name.startswith(_WORKER):
            return [function(item) for item in items]
        with self._pool_lock:
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor  # a pool only where one is used

                self._pool = ThreadPoolExecutor(self.parallelism, thread_name_prefix=_WORKER)
        return list(self._pool.map(function, items))


def parse_bucket_url(url: str, scheme: str, container: str = "bucket") -> tuple[str, str]:
    """``scheme://bucket/some/prefix`` -> (``bucket``, ``some/prefix/``)."""
    start, expected = f"{scheme}://", f"{scheme}://{container}/prefix"
    if not url.startswith(start):
        raise Refused(f"not a {start} location: {url!r} (expected {expected})")
    bucket, _, prefix = url[len(start):].partition("/")
    if not bucket:
        raise Refused(f"no {container} in {url!r} (expected {expected})")
    prefix = "/".join(part for part in prefix.split("/") if part)
    return bucket, f"{prefix}/" if prefix else ""


class BucketBackend(Backend):
    """Keys in a bucket (a container, a named memory) below a prefix, as object stores hold them:
    folders implicit, names and URLs made from ``scheme``, ``bucket`` and ``prefix``."""

    implicit_folders = True
    scheme = ""

    def __init__(self, bucket: str, prefix: str = "") -> None:
        super().__init__()
        self.bucket = bucket
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"

    def key(self, path: str) -> str:
        return self.prefix + path

    def folder_key(self, path: str) -> str:
        """The key every object in folder ``path`` begins with."""
        return self.key(path) + "/" if path else self.prefix

    def _parts(self) -> list[str]:
        return self.prefix.rstrip("/").split("/") if self.prefix else []

    @property
    def root_name(self) -> str:
        parts = self._parts()
        return parts[-1] if parts else self.bucket

    @property
    def outer_name(self) -> str:
        parts = self._parts()
        return parts[-2] if len(parts) > 1 else self.bucket if parts else self.scheme

    def url(self, path: str, folder: bool = False) -> str:
        return f"{self.scheme}://{self.bucket}/{self.key(path)}" + ("/" if folder and path else "")

    # Seconds before the second try of keys a deletion request reported failed (twice that
    # before the third...).
    retry_pause = 0.2

    def delete_in_batches(self, paths: list[str], size: int, send: SendDeletions) -> dict[str, str]:
        """``delete_files`` by requests of at most ``size`` keys, side by side. ``send(keys)``
        makes one request and gives the keys that failed: why, and whether another try may
        do better; those are sent again, ``KEY_ERROR_ROUNDS`` tries in all. {path: why} for
        the files that still failed."""
        def batch(keys: list[str]) -> dict[str, str]:
            failed: dict[str, str] = {}
            for attempt in range(KEY_ERROR_ROUNDS):
                if attempt:
                    time.sleep(self.retry_pause * attempt)
                answers = send(keys)
                for key in keys:
                    failed.pop(key, None)
                failed.update((key, why) for key, (why, _) in answers.items())
                keys = [key for key, (_, again) in answers.items() if again]
                if not keys:
                    break
            return failed

        keys = [self.key(p) for p in paths]
        failed: dict[str, str] = {}
        for result in self.map(batch, [keys[i:i + size] for i in range(0, len(keys), size)]):
            failed.update(result)
        return {key[len(self.prefix):]: why for key, why in failed.items()}

    def prefix_above(self) -> str:
        """The prefix one folder up, for ``parent``; refused at the bucket itself."""
        if not self.prefix:
            raise Refused(f"{self.scheme}://{self.bucket} has no folder above it")
        return self.prefix.rstrip("/").rpartition("/")[0]


class DeepListingBackend(BucketBackend):
    """An object store whose one listing without a delimiter costs less than listing level
    by level (S3, Azure Blob): ``list_deep``, ``walk_many`` and ``usage_many`` from it, the
    listing kept (``remember``) for the deletion that may follow."""

    def list_deep(self, path: str) -> DeepListing:
        infos = list(self.walk(path))
        self.remember(path, infos)  # for the deletion that may follow
        return deep_listing(infos)

    def walk_many(self, folder: str, names: Iterable[str]) -> dict[str, list[FileInfo]]:
        groups = self.listing(folder, keep=True)
        return {name: groups.get(name, []) for name in names}

    def usage_many(self, folder: str, names: Iterable[str]) -> dict[str, Usage]:
        usage = self.list_deep(folder).usage
        return {name: usage.get(name, Usage(0, 0.0, 0)) for name in names}


class _Translated:
    """``Backend.errors``: what a provider raises inside, translated by the backend's ``error_table``
    (a class, not contextlib's decorator: a listing starts without contextlib)."""

    __slots__ = ("backend", "what")

    def __init__(self, backend: Backend, what: str) -> None:
        self.backend, self.what = backend, what

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, traceback: object) -> None:
        if not isinstance(exc, Exception):
            return
        table = self.backend.error_table
        if table is None or not table.handles(exc):
            return
        raise table.translate(exc, self.what, self.backend) from None


def stream_lines(stream: BinaryIO, longest: int = MAX_SIDE_FILE) -> Iterator[bytes]:
    """The lines of ``stream``, each cut at ``longest`` bytes, holding one line at a time."""
    try:
        pieces: list[bytes] = []
        size = 0
        while block := stream.read(LINE_CHUNK):
            *ends, rest = block.split(b"\n")
            if ends and pieces:  # a line begun in an earlier block ends here
                pieces.append(ends[0][:max(0, longest - size)])
                yield b"".join(pieces)
                pieces, size = [], 0
                del ends[0]
            if len(block) <= longest:  # the usual lines, whole in one block: handed on without a copy
                yield from ends
            else:
                for end in ends:
                    yield end if len(end) <= longest else end[:longest]
            if size < longest:
                pieces.append(rest[:longest - size])
                size += len(pieces[-1])
        if pieces:
            yield b"".join(pieces)
    finally:
        stream.close()


_lines = stream_lines
