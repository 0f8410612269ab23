"""Bytes a bucket bills that no listing of checkpoints shows: incomplete multipart uploads (a
save killed mid-upload leaves its parts behind for good), and what a soft-deleting store keeps
after a deletion.

Each upload belongs to the run whose folder holds its key; ``prune --abort-uploads-older``
aborts a run's uploads started longer ago than a threshold, never a younger one: that may be
a save in progress.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from .errors import CkptError, Refused
from .models import Upload
from .rules import duration_seconds
from .store import Store

RunKey = tuple[str, str]


def parse_age(text: str) -> int:
    """``--abort-uploads-older``'s duration in seconds (``0s`` aborts every upload: only for
    when no trainer is writing)."""
    seconds = duration_seconds(text)
    if seconds is None:
        raise Refused(f"--abort-uploads-older needs a duration such as 1d, 12h, 30m or 0s, not {text.strip()!r}")
    return seconds


class Uploads:
    """Incomplete uploads of one run (or of none), as ``ls`` and ``prune`` report them."""

    __slots__ = ("uploads",)

    def __init__(self, uploads: list[Upload] | None = None) -> None:
        self.uploads = [] if uploads is None else uploads

    @property
    def count(self) -> int:
        return len(self.uploads)

    @property
    def bytes(self) -> int:
        return sum(u.bytes for u in self.uploads)

    @property
    def oldest(self) -> float | None:
        """When the oldest was started (seconds since the epoch)."""
        return min((u.initiated for u in self.uploads), default=None)

    def to_json(self, now: float) -> dict:
        return {"count": self.count, "bytes": self.bytes,
                "oldest_age_seconds": round(now - self.oldest, 3) if self.oldest is not None else None,
                "uploads": [{"path": u.path, "upload_id": u.upload_id, "initiated": u.initiated,
                             "age_seconds": round(now - u.initiated, 3), "bytes": u.bytes, "parts": u.parts}
                            for u in self.uploads]}


def attribute(uploads: Iterable[Upload], folders: dict[RunKey, str | None]) -> tuple[dict[RunKey, Uploads], Uploads]:
    """Each upload to the run whose folder (relative to the location) holds its path, the
    deepest such folder when runs nest in one another's names; the rest apart. A run's folder
    ``f`` holds ``f/...``, never ``f-2/...``."""
    by_depth = sorted(((folder, key) for key, folder in folders.items() if folder is not None),
                      key=lambda pair: -len(pair[0]))
    runs: dict[RunKey, Uploads] = {}
    elsewhere = Uploads()
    for upload in uploads:
        owner = next((key for folder, key in by_depth if not folder or upload.path.startswith(folder + "/")), None)
        (runs.setdefault(owner, Uploads()) if owner is not None else elsewhere).uploads.append(upload)
    return runs, elsewhere


def uploads_by_run(store: Store, pairs: Iterable[RunKey]) -> tuple[dict[RunKey, Uploads], Uploads, str | None]:
    """The location's incomplete uploads by run (only runs that have some), those outside every
    run of ``pairs``, and why they could not be listed (credentials that may list objects but
    not uploads): never a reason to hide the checkpoints. One listing of the location, nothing
    at all where the store keeps no uploads."""
    try:
        uploads = store.incomplete_uploads()
        if not uploads:
            return {}, Uploads(), None
        return *attribute(uploads, {pair: store.run_folder(*pair) for pair in pairs}), None
    except CkptError as exc:
        return {}, Uploads(), str(exc)


def older_than(uploads: Iterable[Upload], seconds: float, now: float | None = None) -> list[Upload]:
    """Uploads started at least ``seconds`` before ``now``."""
    now = time.time() if now is None else now
    return [u for u in uploads if now - u.initiated >= seconds]


class AbortResult:
    __slots__ = ("aborted", "failed")

    def __init__(self, aborted: list[Upload] | None = None, failed: list[tuple[Upload, str]] | None = None) -> None:
        self.aborted = [] if aborted is None else aborted
        self.failed = [] if failed is None else failed

    @property
    def freed_bytes(self) -> int:
        return sum(u.bytes for u in self.aborted)

    def to_json(self, now: float) -> dict:
        return {"aborted": Uploads(self.aborted).to_json(now)["uploads"], "freed_bytes": self.freed_bytes,
                "failed": [{"path": u.path, "upload_id": u.upload_id, "error": why} for u, why in self.failed]}


def abort_old_uploads(store: Store, planned: Iterable[Upload], seconds: float, now: float | None = None) -> AbortResult:
    """Abort the planned uploads that are still there and still at least ``seconds`` old, read
    again now: one completed or aborted since the preview is left alone, and nothing the
    preview did not show is touched."""
    planned = {(u.path, u.upload_id) for u in planned}
    if not planned:
        return AbortResult()
    current = [u for u in store.incomplete_uploads() if (u.path, u.upload_id) in planned]
    due = older_than(current, seconds, now)
    failed = store.abort_uploads(due)
    return AbortResult([u for u in due if u.upload_id not in failed],
                       [(u, failed[u.upload_id]) for u in due if u.upload_id in failed])


def soft_delete_note(seconds: float | None) -> str | None:
    """What a prune says where the store keeps deleted objects (GCS soft delete: 7 days by default)."""
    if not seconds:
        return None
    from humanize import naturaldelta

    return (f"this bucket keeps deleted objects for {naturaldelta(seconds)} (soft delete): "
            "they stay billed, and restorable, until then")
