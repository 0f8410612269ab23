"""What a storage backend offers: a handful of basic operations on paths.

Paths are relative to the backend's root, with ``/`` between parts and ``""``
for the root itself. Everything about runs, layouts, claims and forks lives
once above this, in the tree store; a backend knows nothing of checkpoints.
"""

from __future__ import annotations

import contextlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from enum import Enum
from typing import TYPE_CHECKING, BinaryIO, NamedTuple

from ...core.errors import CkptError, NotFound, NotRead
from ...core.models import Blob, Upload

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

# Files a layout reads (trackers, trainer state, histories) are small; anything larger is not one.
MAX_SIDE_FILE = 64 * 1024 * 1024
_WORKER = "ckpt-tui-io"
# Bytes a stream is read by, line by line.
LINE_CHUNK = 1024 * 1024
# Called with a number of bytes just transferred.
BytesDone = Callable[[int], None]


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


class Backend(ABC):
    """The basic operations. ``parallelism`` says how many calls are worth making at once
    (a network store: many; a disk: a few)."""

    can_rename = False
    parallelism = 1
    # Folders exist only through what they hold (S3): an empty one is no folder at all.
    implicit_folders = False
    # Keeps the parts of uploads never completed (S3 multipart), which no listing of files shows.
    has_incomplete_uploads = False

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

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
        for info in self.walk(path):
            total += info.size
            newest = max(newest, info.mtime)
            count += 1
        return Usage(total, newest, count)

    def list_deep(self, path: str) -> DeepListing | None:
        """``list_dir``, usages and sub-folder names from one listing, where the backend can
        (S3: a listing without a delimiter); None where that costs more than listing level by level."""
        return None

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

    @abstractmethod
    def read_file(self, path: str, limit: int = MAX_SIDE_FILE) -> bytes | None:
        """A small file's content; None only when nothing is there. A file that is there but
        is not read raises ``NotRead`` saying why (not a regular file, a folder, a link leading
        outside the root, larger than ``limit``); one that may not be read, ``Unreadable``.
        What is not a regular file is never opened for reading: a FIFO never blocks a read."""

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
        return _lines(stream)

    def link_target(self, path: str) -> str | None:
        """For a symbolic link, the name of the entry of the same folder it points at (else None)."""
        return None

    @abstractmethod
    def open(self, path: str) -> BinaryIO:
        """A file to read as a stream; ``NotFound`` when absent, ``NotRead`` when it is not a
        regular file or is a link leading outside the root (never opened then)."""

    def local_path(self, path: str) -> str | None:
        """Where ``path`` is on this machine's disk, if it is on one."""
        return None

    # -- writing ------------------------------------------------------------------------
    @abstractmethod
    def create_new(self, path: str, data: bytes) -> bool:
        """Create a file unless one exists (False then); never replaces."""

    @abstractmethod
    def write(self, path: str, data: bytes) -> None:
        """Create or replace a small file; readers see the old content or the new, never half."""

    @abstractmethod
    def make_dirs(self, path: str) -> None:
        """Create a folder and its parents (nothing to do where folders are implicit)."""

    @abstractmethod
    def delete_files(self, paths: list[str]) -> dict[str, str]:
        """Delete files; {path: error} for those that failed (a missing one counts as deleted)."""

    @abstractmethod
    def delete_tree(self, path: str) -> None:
        """Delete a folder with everything in it, or a single file."""

    def rename(self, source: str, target: str) -> None:
        """Atomic rename that never replaces an existing target (backends with ``can_rename``)."""
        raise NotImplementedError

    # -- bytes no listing of files shows -------------------------------------------------
    def incomplete_uploads(self, path: str) -> list[Upload]:
        """Uploads started below ``path`` and never completed nor aborted, with the bytes their
        parts hold (paths relative to the root); [] where there are none (``has_incomplete_uploads``)."""
        return []

    def abort_upload(self, upload: Upload) -> None:
        """Abort an incomplete upload, freeing its parts (one already gone counts as aborted)."""

    def soft_delete_seconds(self) -> float | None:
        """How long the storage keeps what is deleted, billed and restorable (GCS soft delete);
        None where a deletion frees the bytes at once."""
        return None

    # -- transfers ----------------------------------------------------------------------
    @abstractmethod
    def copy_file(self, source: str, target: str, done: BytesDone | None = None) -> None:
        """Copy within this backend (server-side where there is a server)."""

    def can_copy_from(self, other: Backend) -> bool:
        """Whether ``copy_from`` can copy out of ``other`` without the bytes passing through here."""
        return other is self

    def copy_from(self, other: Backend, source: str, target: str, done: BytesDone | None = None) -> None:
        self.copy_file(source, target, done)

    @abstractmethod
    def get_file(self, source: str, local_target: str, done: BytesDone | None = None) -> None:
        """Download a file to this machine's disk."""

    @abstractmethod
    def put_file(self, local_source: str, target: str, done: BytesDone | None = None) -> None:
        """Upload a file from this machine's disk."""

    @abstractmethod
    def put_stream(self, stream: BinaryIO, target: str, done: BytesDone | None = None) -> None:
        """Upload from a stream (another store's file)."""

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


def _lines(stream: BinaryIO, longest: int = MAX_SIDE_FILE) -> Iterator[bytes]:
    """The lines of ``stream``, each cut at ``longest`` bytes, holding one line at a time."""
    with contextlib.closing(stream):
        pieces: list[bytes] = []
        size = 0
        while block := stream.read(LINE_CHUNK):
            *ends, rest = block.split(b"\n")
            for end in ends:
                pieces.append(end[:max(0, longest - size)])
                yield b"".join(pieces)
                pieces, size = [], 0
            if size < longest:
                pieces.append(rest[:longest - size])
                size += len(pieces[-1])
        if pieces:
            yield b"".join(pieces)
