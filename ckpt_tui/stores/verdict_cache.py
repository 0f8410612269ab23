"""Weights files found whole by an earlier scan of a location on this machine's disk, kept under
the user's cache folder, so that a later scan need not open and read their headers again.

A file is known by what ``lstat`` tells of it, as git's index knows files: its device, inode,
size, modification and change times in nanoseconds (``IDENTITY``, packed and decoded as
latin-1: the ``FileInfo.tag`` of a weights file in a local walk), with
the kind of check its name asks for. Every file is still ``lstat``-ed by every scan (sizes stay
exact); only the header read is skipped for a file whose every field is as recorded. A file
rewritten in place gets a new change time, one replaced gets a new inode or change time, so
neither matches. Only verdicts of "whole" are kept, and never for a file changed less than
``RACY_NS`` before it was read: a write in the same tick of the clock could leave its times as
they were (git's "racily clean" entries).

One file a location (named by a digest of its real path), rewritten whole by each full scan with
the files that scan found whole: files deleted since drop out. At most ``MAX_RECORDS`` files a
location; cache files untouched for ``MAX_AGE_DAYS`` are removed.
"""

from __future__ import annotations

import os
import struct
import time

IDENTITY = struct.Struct("<QQqqq")  # device, inode, size, mtime_ns, ctime_ns
RECORD = IDENTITY.size + 1  # and one character: the check made (safetensors header, zip archive end)
MAGIC = b"ckpt-tui whole weights v1\n"
MAX_RECORDS = 500_000  # 20.5 MB on disk at most, about 45 MB in memory
MAX_AGE_DAYS = 30
RACY_NS = 1_000_000_000


def settled(tag: str, now_ns: int) -> bool:
    """Whether the file ``tag`` was last changed long enough before ``now_ns`` for a verdict on it to last."""
    _dev, _ino, _size, mtime_ns, ctime_ns = IDENTITY.unpack(tag.encode("latin-1"))
    return max(mtime_ns, ctime_ns) < now_ns - RACY_NS


def cache_file(location: str) -> str | None:
    """Where the verdicts of the location ``location`` (a real path) are kept; None without a home."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if not os.path.isabs(root):
        return None
    import hashlib  # here: a small listing starts without it

    digest = hashlib.sha256(os.fsencode(location)).hexdigest()[:32]
    return os.path.join(root, "ckpt-tui", "whole-weights", digest)


def load(path: str) -> set[str]:
    """The records kept at ``path``; none when it is missing, unreadable or not one of ours."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return set()
    try:
        st = os.fstat(fd)
        if (st.st_mode & 0o170000) != 0o100000 or st.st_uid != os.getuid() \
                or st.st_size > len(MAGIC) + MAX_RECORDS * RECORD:
            return set()
        data = os.read(fd, st.st_size)
    except OSError:
        return set()
    finally:
        os.close(fd)
    body = len(data) - len(MAGIC)
    if not data.startswith(MAGIC) or body % RECORD:
        return set()
    text = data.decode("latin-1")
    return {text[at:at + RECORD] for at in range(len(MAGIC), len(text), RECORD)}


def save(path: str, records: bytes | bytearray) -> None:
    """``records`` (the first ``MAX_RECORDS``) written at ``path`` in place of what was there, at once;
    old cache files beside it removed. Failing to write is no failure of the scan."""
    folder = os.path.dirname(path)
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        temporary = f"{path}.{os.getpid()}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            for view in (memoryview(MAGIC), memoryview(records)[:MAX_RECORDS * RECORD]):
                while view:
                    view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(temporary, path)
        _forget_old(folder)
    except OSError:
        pass


def _forget_old(folder: str) -> None:
    oldest = time.time() - MAX_AGE_DAYS * 86400
    for name in os.listdir(folder):
        try:
            if os.lstat(os.path.join(folder, name)).st_mtime < oldest:
                os.unlink(os.path.join(folder, name))
        except OSError:
            pass
