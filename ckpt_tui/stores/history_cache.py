"""A run's history file (ART's ``history.jsonl``) as the last scan of a location on this machine's
disk parsed it, kept under the user's cache folder beside ``verdict_cache``'s records: a later scan
of an unchanged history skips parsing it (a thousand lines take about 1 ms; the record, a tenth).

The history is known by what ``fstat`` tells of the very file opened to read it: device, inode, size,
modification and change times in nanoseconds (``verdict_cache.IDENTITY``). A line appended changes
its size and times, a rewrite (even of the same size) its times, a replacement its inode: none
matches, and the file is parsed again. As for weights verdicts, nothing is kept of a file changed
less than ``verdict_cache.RACY_NS`` before it was read, nor of one whose change time is a whole
number of milliseconds (a coarse clock), nor of a read that failed part-way.

One file a run (named as the run's verdict file is), holding one history: written only when the
history parsed is not the one recorded. Cache files untouched for ``verdict_cache.MAX_AGE_DAYS``
are removed with the verdicts'.
"""

from __future__ import annotations

import marshal
import os
from binascii import crc32

from . import verdict_cache

FOLDER = "histories"
MAGIC = b"ckpt-tui parsed history v1\n"
# A parsed history larger than this (some 200,000 logged steps) is parsed each time, never kept.
MAX_BYTES = 8 * 1024 * 1024
_HEAD = len(MAGIC) + verdict_cache.IDENTITY.size + 4  # then a CRC-32 of the body, then the body

Parsed = tuple  # (by_step, malformed lines, ignored values), as ``Metrics`` holds them


def cache_file(location: str, project: str, run: str) -> str | None:
    """Where the parsed history of a run of ``location`` (a real path) is kept; None without a home."""
    return verdict_cache.cache_file(location, project, run, FOLDER)


def identity(fd: int) -> bytes:
    """What ``fstat`` tells of the file open as ``fd``, as it is recorded."""
    st = os.fstat(fd)
    return verdict_cache.IDENTITY.pack(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def load(path: str) -> tuple[bytes, bytes] | None:
    """(identity, body) kept at ``path``; None when missing, unreadable, damaged or not one of ours."""
    data = verdict_cache.read_own(path, _HEAD + MAX_BYTES)
    if data is None or len(data) < _HEAD or not data.startswith(MAGIC):
        return None
    head = len(MAGIC) + verdict_cache.IDENTITY.size
    body = data[_HEAD:]
    if int.from_bytes(data[head:_HEAD], "little") != crc32(body):
        return None
    return data[len(MAGIC):head], body


def parsed(body: bytes) -> Parsed | None:
    """The parsed history of a record's body (new objects each time); None if it is not one."""
    try:
        found = marshal.loads(body)
    except (EOFError, ValueError, TypeError):
        return None
    if not (isinstance(found, tuple) and len(found) == 3 and isinstance(found[0], dict)):
        return None
    return found


def record(history: Parsed) -> bytes | None:
    """The body of a record of ``history`` (None when too large to keep)."""
    body = marshal.dumps(history)
    return body if len(body) <= MAX_BYTES else None


def save(path: str, tag: bytes, body: bytes) -> None:
    """One record at ``path`` in place of what was there, at once; failing to write is no failure."""
    verdict_cache.write_own(path, [MAGIC, tag, crc32(body).to_bytes(4, "little"), body])
