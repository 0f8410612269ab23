"""The names in a run's step folders as the last scan of a location on this machine's disk listed
them, kept under the user's cache folder beside ``verdict_cache``'s records: a later scan takes a
folder's names from here instead of listing it again when the folder is the very one listed then.

A folder is known by what ``fstat`` tells of it, opened just before its names were read: device,
inode, modification and change times in nanoseconds. Creating, removing or renaming an entry in a
folder sets both times, and a folder put in its place has another inode or change time, so a
folder whose names changed never matches (git's untracked cache skips unchanged folders alike).
Its files are still ``lstat``-ed one by one at every scan: sizes and the whole-file verdicts stay
exact. As for those verdicts, nothing is kept of a folder changed less than
``RACY_NS`` before it was read (an entry added in the same tick of the clock could
leave its times as they were), nor of one whose change time is a whole number of milliseconds (a
coarse clock). Only the usual step folder is kept: regular files alone, none hard-linked, no marker.

One file a run (named as the run's verdict file is), with a CRC, rewritten when the run's listings
are not the ones recorded; removed with the verdicts' once unused for ``verdict_cache.MAX_AGE_DAYS``.
"""

from __future__ import annotations

import marshal
from binascii import crc32
from collections.abc import Iterable

from . import verdict_cache
from .backends.base import StepListing

FOLDER = "step-listings"
MAGIC = b"ckpt-tui step listings v1\n"
MAX_BYTES = 32 * 1024 * 1024  # some 200,000 step folders: a larger run is listed each time
RACY_NS = verdict_cache.RACY_NS
_HEAD = len(MAGIC) + 4  # then a CRC-32 of the body, then the body


def cache_file(location: str, project: str, run: str) -> str | None:
    """Where the step listings of a run of ``location`` (a real path) are kept; None without a home."""
    return verdict_cache.cache_file(location, project, run, FOLDER)


def load(path: str) -> dict[str, StepListing]:
    """The listings kept at ``path``; none when missing, unreadable, damaged or not one of ours."""
    data = verdict_cache.read_own(path, _HEAD + MAX_BYTES)
    if data is None or len(data) < _HEAD or not data.startswith(MAGIC):
        return {}
    body = memoryview(data)[_HEAD:]
    if int.from_bytes(data[len(MAGIC):_HEAD], "little") != crc32(body):
        return {}
    try:
        found = marshal.loads(body)
    except (EOFError, ValueError, TypeError):
        return {}
    return found if type(found) is dict and _well_formed(found.values()) else {}


def _well_formed(listings: Iterable[StepListing]) -> bool:
    """Whether each listing is (a tuple, names) and every name one a folder's listing can give."""
    names_sets: dict[int, tuple] = {}  # each set of names looked at once: steps share them
    for kept in listings:
        if type(kept) is not tuple or len(kept) != 2 or type(kept[0]) is not tuple or type(kept[1]) is not tuple:
            return False
        names_sets[id(kept[1])] = kept[1]
    return all(type(name) is str and name not in (".", "..", "") and "/" not in name and "\0" not in name
               for names in names_sets.values() for name in names)


def settled(seen: tuple[int, int, int, int], now_ns: int) -> bool:
    """Whether a folder ``seen`` so was last changed long enough before ``now_ns``, by a clock fine
    enough, for its names to be taken for its own while it stays so."""
    _dev, _ino, mtime_ns, ctime_ns = seen
    return max(mtime_ns, ctime_ns) < now_ns - RACY_NS and ctime_ns % verdict_cache.COARSE_NS != 0


def save(path: str, listings: dict[str, StepListing]) -> None:
    """``listings`` at ``path`` in place of what was there, at once; failing to write is no failure
    (nor is a run too large to keep)."""
    shared: dict[tuple[str, ...], tuple[str, ...]] = {}  # steps mostly hold the same names: kept once,
    kept = {}                                            # written once (then referred to) and read once
    for step, (seen, names) in listings.items():
        names = tuple(names)
        kept[step] = (seen, shared.setdefault(names, names))
    body = marshal.dumps(kept)
    if len(body) <= MAX_BYTES:
        verdict_cache.write_own(path, [MAGIC, crc32(body).to_bytes(4, "little"), body])
