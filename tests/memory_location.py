"""A fresh place in the in-memory store, used as tests use an S3 ``Location``: ``url``,
``store()``, ``put``, ``keys``, ``upload`` of a tree built on disk."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from ckpt_tui.stores.backends.memory import Files, files_named


@dataclass
class MemoryLocation:
    name: str
    prefix: str  # ends with "/"
    local: Path | None = None  # the tree uploaded there, on disk
    endpoint: str | None = None  # no server: no --endpoint-url

    @classmethod
    def fresh(cls, local: Path | None = None) -> MemoryLocation:
        location = cls(f"m-{uuid.uuid4().hex[:10]}", "t/", local)
        if local is not None:
            location.upload(local)
        return location

    @property
    def url(self) -> str:
        return f"memory://{self.name}/{self.prefix.rstrip('/')}"

    @property
    def files(self) -> Files:
        return files_named(self.name)

    def store(self, **kwargs):
        from ckpt_tui.stores.memory import MemoryStore

        return MemoryStore.from_url(self.url, **kwargs)

    def put(self, key: str, body: bytes = b"") -> None:
        self.files.put(self.prefix + key, body)

    def delete(self, key: str) -> None:
        with self.files.lock:
            del self.files.objects[self.prefix + key]

    def keys(self, under: str = "") -> set[str]:
        """Keys below the prefix, relative to it."""
        return {key[len(self.prefix):] for key, _ in self.files.below(self.prefix + under)}

    def upload(self, root: Path) -> None:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                self.put(path.relative_to(root).as_posix(), path.read_bytes())

    def age(self, seconds: float) -> None:
        """Make every file already there look written ``seconds`` ago."""
        with self.files.lock:
            for key, stored in self.files.objects.items():
                if key.startswith(self.prefix):
                    self.files.objects[key] = stored._replace(mtime=stored.mtime - seconds)
