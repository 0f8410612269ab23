"""Files held in this process's memory, named by ``memory://NAME/prefix``: the primitives only.

Built on nothing but the base's primitives (no rename, no server-side copy,
folders implicit, as an object store), so that the claims and the tree store are
tested on a backend that overrides none of the base's derived operations.
Every backend of one NAME shares its files, as fsspec's memory filesystem.
"""

from __future__ import annotations

import hashlib
import io
import threading
import time
from collections.abc import Iterator
from typing import BinaryIO, NamedTuple

from ...core.errors import NotFound
from .base import BucketBackend, BytesDone, Entry, FileInfo, Kind, parse_bucket_url

CHUNK = 1024 * 1024


class Stored(NamedTuple):
    data: bytes
    mtime: float
    tag: str


class Files:
    """One NAME's files by key, behind one lock."""

    def __init__(self) -> None:
        self.objects: dict[str, Stored] = {}
        self.lock = threading.Lock()

    def put(self, key: str, data: bytes, exclusive: bool = False) -> bool:
        """Store ``data`` under ``key``; with ``exclusive``, only if nothing is there (False then)."""
        stored = Stored(data, time.time(), f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"')
        with self.lock:
            if exclusive and key in self.objects:
                return False
            self.objects[key] = stored
        return True

    def below(self, prefix: str) -> list[tuple[str, Stored]]:
        with self.lock:
            return sorted((k, v) for k, v in self.objects.items() if k.startswith(prefix))


_named: dict[str, Files] = {}
_named_lock = threading.Lock()


def files_named(name: str) -> Files:
    """The files of ``memory://name``, created empty on first use."""
    with _named_lock:
        return _named.setdefault(name, Files())


def forget(name: str) -> None:
    """Drop every file of ``memory://name``."""
    with _named_lock:
        _named.pop(name, None)


def parse_url(url: str) -> tuple[str, str]:
    """``memory://name/some/prefix`` -> (``name``, ``some/prefix/``)."""
    return parse_bucket_url(url, "memory", "NAME")


class MemoryBackend(BucketBackend):
    scheme = "memory"
    has_exclusive_create = True
    parallelism = 4  # calls side by side, so that the tree store's parallel paths run here too

    def __init__(self, name: str, prefix: str = "") -> None:
        super().__init__(name, prefix)
        self.files = files_named(name)

    def parent(self) -> MemoryBackend:
        return MemoryBackend(self.bucket, self.prefix_above())

    def check_root(self) -> None:
        """Memory is always there."""

    def list_dir(self, path: str) -> list[Entry]:
        prefix = self.folder_key(path)
        entries: dict[str, Entry] = {}
        for key, stored in self.files.below(prefix):
            name, sep, _ = key[len(prefix):].partition("/")
            if sep:
                entries[name] = Entry(name, Kind.DIR)
            elif name and name not in entries:  # a folder and a file of one name: the folder wins
                entries[name] = Entry(name, Kind.FILE, len(stored.data), stored.mtime, stored.tag)
        return list(entries.values())

    def walk(self, path: str) -> Iterator[FileInfo]:
        prefix = self.folder_key(path)
        found = [FileInfo(key[len(prefix):], len(s.data), s.mtime, s.tag)
                 for key, s in self.files.below(prefix) if key[len(prefix):]]
        if not found and path:
            with self.files.lock:
                single = self.files.objects.get(self.key(path))
            if single is not None:
                found = [FileInfo("", len(single.data), single.mtime, single.tag)]
        yield from found

    def open(self, path: str) -> BinaryIO:
        with self.files.lock:
            stored = self.files.objects.get(self.key(path))
        if stored is None:
            raise NotFound(f"{self.url(path)} no longer exists")
        return io.BytesIO(stored.data)

    def create_new(self, path: str, data: bytes) -> bool:
        return self.files.put(self.key(path), data, exclusive=True)

    def write(self, path: str, data: bytes) -> None:
        self.files.put(self.key(path), data)

    def delete_files(self, paths: list[str]) -> dict[str, str]:
        with self.files.lock:
            for path in paths:
                self.files.objects.pop(self.key(path), None)
        return {}

    def put_stream(self, stream: BinaryIO, target: str, done: BytesDone | None = None) -> None:
        chunks = []
        while chunk := stream.read(CHUNK):
            chunks.append(chunk)
            if done is not None:
                done(len(chunk))
        self.files.put(self.key(target), b"".join(chunks))
