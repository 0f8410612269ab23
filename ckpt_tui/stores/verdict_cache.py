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
they were (git's "racily clean" entries). Nor for a file whose change time is a whole number of
milliseconds: a file system keeping coarse times (FAT's 2 s, Lustre's or sshfs's 1 s), or no change
time at all, may give a later write the very times recorded, and its clock may not be this one.

One file a run (named by a digest of the location's real path and the run's names), rewritten
whole each time the run is read with the files found whole (only touched when they are the very
files recorded): files deleted since drop out. At
most ``MAX_RECORDS`` files a run; cache files untouched for ``MAX_AGE_DAYS`` are removed.
"""

from __future__ import annotations

import os
import struct
import time
from binascii import crc32

IDENTITY = struct.Struct("<QQqqq")  # device, inode, size, mtime_ns, ctime_ns
RECORD = IDENTITY.size + 1  # and one character: the check made (safetensors header, zip archive end)
MAGIC = b"ckpt-tui whole weights v3\n"  # v2: an unreadable safetensors header is no longer whole; v3: nor one
# of 1 to 7 bytes (its header's length cut)
MAX_RECORDS = 200_000  # 8.2 MB on disk at most, about 20 MB in memory
MAX_AGE_DAYS = 30
RACY_NS = 1_000_000_000
COARSE_NS = 1_000_000  # change times all multiples of this come from a coarse clock (a fine one: 1 in a million)


def settled(tag: str, now_ns: int) -> bool:
    """Whether the file ``tag`` was last changed long enough before ``now_ns``, by a clock fine enough,
    for a verdict on it to last."""
    _dev, _ino, _size, mtime_ns, ctime_ns = IDENTITY.unpack(tag.encode("latin-1"))
    return max(mtime_ns, ctime_ns) < now_ns - RACY_NS and ctime_ns % COARSE_NS != 0


FOLDER = "whole-weights"
KINDS = (FOLDER, "histories", "step-listings")  # this cache's folder, ``history_cache``'s, ``listing_cache``'s


def cache_file(location: str, project: str, run: str, kind: str = FOLDER) -> str | None:
    """Where what ``kind`` (one of ``KINDS``) keeps of a run of the location ``location`` (a real path)
    is kept, the verdicts by default; None without a home."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if not os.path.isabs(root):
        return None
    # Two runs of the same name cost each other their records, nothing more (a record matches one file):
    # two CRCs name the file, without loading a hash library (hashlib's OpenSSL costs 3 ms of start-up).
    name = os.fsencode(f"{location}\0{project}\0{run}")
    return os.path.join(root, "ckpt-tui", kind, f"{crc32(name):08x}{crc32(name[::-1]):08x}")


def load(path: str) -> set[str]:
    """The records kept at ``path``; none when it is missing, unreadable or not one of ours."""
    data = read_own(path, len(MAGIC) + MAX_RECORDS * RECORD)
    if data is None:
        return set()
    body = len(data) - len(MAGIC)
    if not data.startswith(MAGIC) or body % RECORD:
        return set()
    text = data.decode("latin-1")
    return {text[at:at + RECORD] for at in range(len(MAGIC), len(text), RECORD)}


def read_own(path: str, largest: int) -> bytes | None:
    """The bytes of ``path`` when it is a regular file of this user's of at most ``largest`` bytes
    (not through a link, never waiting on a FIFO); else None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if (st.st_mode & 0o170000) != 0o100000 or st.st_uid != os.getuid() or st.st_size > largest:
            return None
        return os.read(fd, st.st_size)
    except OSError:
        return None
    finally:
        os.close(fd)


def save(path: str, records: bytes | bytearray) -> None:
    """``records`` (the first ``MAX_RECORDS``) written at ``path`` in place of what was there, at once.
    Failing to write is no failure of the scan."""
    write_own(path, [MAGIC, memoryview(records)[:MAX_RECORDS * RECORD]])


def touch(path: str) -> None:
    """``path``'s modification time set to now, in a folder of this user's, never through a link
    (what ``forget_old`` goes by); failing is no failure of the scan."""
    folder, name = os.path.split(path)
    try:
        folder_fd = _open_own_folder(folder)
    except OSError:
        return
    try:
        os.utime(name, dir_fd=folder_fd, follow_symlinks=False)
    except OSError:
        pass
    finally:
        os.close(folder_fd)


def write_own(path: str, parts: list[bytes | memoryview]) -> None:
    """``parts`` written at ``path`` in place of what was there, at once (a temporary file renamed),
    in a folder of this user's; failing to write is no failure of the scan."""
    folder, name = os.path.split(path)
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        folder_fd = _open_own_folder(folder)
    except OSError:
        return
    try:
        temporary = f"{name}.{os.getpid()}.tmp"
        # Not through a link, nor waiting on a FIFO put there: either fails, and nothing is kept.
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                     0o600, dir_fd=folder_fd)
        try:
            try:
                for view in map(memoryview, parts):
                    while view:
                        view = view[os.write(fd, view):]
            finally:
                os.close(fd)
            os.replace(temporary, name, src_dir_fd=folder_fd, dst_dir_fd=folder_fd)
        except BaseException:  # a full disk, a quota, an interruption: no part-written file left behind
            try:
                os.unlink(temporary, dir_fd=folder_fd)
            except OSError:
                pass
            raise
    except OSError:
        pass
    finally:
        os.close(folder_fd)


def _open_own_folder(folder: str) -> int:
    """The cache folder opened, when it is a folder of this user's and no symbolic link to one elsewhere
    (files are written and removed there)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    if os.fstat(fd).st_uid != os.getuid():
        os.close(fd)
        raise PermissionError(f"{folder} is not the user's own")
    return fd


def _is_cache_file(name: str) -> bool:
    """Whether ``name`` is one ``cache_file`` gives (or its temporary); nothing else there is removed."""
    digest, _, rest = name.partition(".")
    pid = rest.removesuffix(".tmp")
    return len(digest) == 16 and all(c in "0123456789abcdef" for c in digest) \
        and (not rest or (pid != rest and pid.isdigit()))


def forget_old() -> None:
    """Remove the cache files no listing has written for ``MAX_AGE_DAYS`` (runs deleted or not read
    since), of the verdicts, the parsed histories (``history_cache``) and the step listings
    (``listing_cache``) alike."""
    folder = cache_file("", "", "")
    if folder is None:
        return
    oldest = time.time() - MAX_AGE_DAYS * 86400
    for kind in KINDS:
        _forget_in(os.path.join(os.path.dirname(os.path.dirname(folder)), kind), oldest)


def _forget_in(folder: str, oldest: float) -> None:
    try:
        folder_fd = _open_own_folder(folder)
    except OSError:
        return
    try:
        names = os.listdir(folder_fd)
    except OSError:
        names = []
    for name in filter(_is_cache_file, names):
        try:
            if os.lstat(name, dir_fd=folder_fd).st_mtime < oldest:
                os.unlink(name, dir_fd=folder_fd)
        except OSError:
            pass
    os.close(folder_fd)
