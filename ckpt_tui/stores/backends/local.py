"""A folder on this machine's disk (or a mounted one)."""

from __future__ import annotations

import errno
import functools
import os
import stat
import sys
from collections.abc import Iterable, Iterator, Mapping

from ...core.errors import CkptError, NoLocation, NotFound, NotRead, Refused, Replaced, Unreadable
from ...core.models import Blob
from ...core.store import Space
from ..layouts.whole_files import DESCRIPTION_SUFFIXES, WEIGHT_SUFFIXES, is_description
from ..verdict_cache import IDENTITY
from .base import (MAX_SIDE_FILE, STEP_MARKERS, Backend, BytesDone, Entry, ErrorTable, Exists, FileInfo, Kind,
                   StepListing, Usage, join)

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ctypes
    from typing import BinaryIO

CHUNK = 8 * 1024 * 1024
_RENAME_NOREPLACE = 1
_AT_FDCWD = -100


def _describe(exc: BaseException) -> tuple[tuple[str | int, ...], str]:
    code = getattr(exc, "errno", None)
    return ((code,), os.strerror(code)) if code else ((), str(exc))


# The disk's errors, as the project's. A missing file is handled where it is met: it means
# "absent" to a read, "gone" to a deletion, and a problem elsewhere.
LOCAL_ERRORS = ErrorTable(
    catches=("OSError",),
    codes={errno.EACCES: Unreadable, errno.EPERM: Unreadable, errno.EEXIST: Exists, errno.ENOTEMPTY: Exists},
    describe=_describe,
)


# One write with O_APPEND: writers at once each add their whole text, none replaces another's.
_APPEND_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
# What those flags make an open fail with: a link (O_NOFOLLOW), a FIFO with no reader (O_NONBLOCK).
_APPEND_REFUSALS = {errno.ELOOP: " is a symbolic link", errno.ENXIO: " is not a regular file"}


def os_error(exc: OSError, what: str) -> CkptError:
    """One line for an OSError: ``Unreadable`` for permissions, ``Exists`` for a target that is there."""
    return LOCAL_ERRORS.translate(exc, what)


# The kinds as plain names: on Python 3.11 each ``Kind.X`` goes through the enum metaclass's __getattr__.
_KIND_DIR, _KIND_FILE, _KIND_LINK, _KIND_OTHER = Kind.DIR, Kind.FILE, Kind.LINK, Kind.OTHER


def _kind(entry: os.DirEntry) -> Kind:
    try:  # a link is neither a folder nor a file when not followed: the usual entry, a folder, asks once
        if entry.is_dir(follow_symlinks=False):
            return _KIND_DIR
        if entry.is_file(follow_symlinks=False):
            return _KIND_FILE
        if entry.is_symlink():
            return _KIND_LINK
    except OSError:
        pass
    return _KIND_OTHER


def _what(mode: int) -> str:
    """What a file that is not a regular one is, for a message."""
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
    return next((name for test, name in kinds if test(mode)), "a special file")


@functools.cache
def _renameat2() -> ctypes._CFuncPtr | None:
    """libc's renameat2, looked up at the first rename: listing never loads ctypes."""
    import ctypes

    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return function


def rename_no_replace(source: str, target: str) -> None:
    """Rename, failing with FileExistsError when ``target`` exists (even an empty folder)."""
    if (renameat2 := _renameat2()) is not None:
        if renameat2(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), _RENAME_NOREPLACE) == 0:
            return
        import ctypes

        code = ctypes.get_errno()
        if code not in (errno.ENOSYS, errno.EINVAL):  # a filesystem without the flag: fall back
            raise OSError(code, os.strerror(code), target)
    if os.path.lexists(target):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), target)
    os.rename(source, target)


def _remove_tree(path: str) -> None:
    """Remove a folder as ``rm -rf`` does: its files unlinked through one descriptor of the
    folder (opened without following a link), then the folder; a subfolder, or anything
    that resists, is left to ``_remove_deep``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return
    except OSError:
        return _remove_deep(path)
    try:
        for name in os.listdir(fd):
            try:
                os.unlink(name, dir_fd=fd)
            except OSError:
                pass  # a subfolder, or gone already: _remove_deep says what is wrong, if anything
    finally:
        os.close(fd)
    try:
        os.rmdir(path)
    except FileNotFoundError:
        pass
    except OSError:
        _remove_deep(path)


def _remove_deep(path: str) -> None:
    """``shutil.rmtree`` that lets entries vanish under it: another process finishing
    the same interrupted delete removes them too, and that is no failure."""
    def vanished(function: object, name: str, error: object) -> None:
        exc = error if isinstance(error, BaseException) else error[1]  # type: ignore[index]
        if isinstance(exc, FileNotFoundError):
            return
        if isinstance(exc, OSError):  # with the full path: rmtree reports names relative to their folder
            raise type(exc)(exc.errno, exc.strerror, name)
        raise exc

    import shutil  # imported where used: a listing never needs it

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=vanished)
    else:
        shutil.rmtree(path, onerror=vanished)


_KIND = 0o170000
_DIR = 0o040000
_FILE = 0o100000
_new = tuple.__new__  # a named tuple made without its __new__, written in Python
_NO_MARKERS: frozenset[str] = frozenset()
_identify = IDENTITY.pack
_READ_LISTED = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
# A folder opened only to look names up from it: no read permission needed (O_PATH, on Linux).
_OPEN_PATH = getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY | os.O_CLOEXEC


# A folder opened to list it and look its entries up from it, never through a link (a link gives ENOTDIR).
_READ_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_NESTING = 200  # folders within a step: one descriptor each is open while the walk is below it


def _swapped(path: str, what: str = "listed as a folder") -> Unreadable:
    return Unreadable(f"{path}: {what}, it is no longer one (a symbolic link is not followed); not read")


def _not_a_folder(root: str, dir_fd: int | None, within: int) -> None:
    """Raise for ``root``, which opening as a folder found to be none: NotADirectoryError for a file
    (a step of one file: its own usage); ``Unreadable`` for a link or anything else, listed as a folder."""
    mode = os.lstat(root[within + 1:] if dir_fd is not None else root, dir_fd=dir_fd).st_mode
    if mode & _KIND == _FILE:
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), root)
    raise _swapped(root, "listed as a step")


class WeightFiles(list):
    """What a walk of a step keeps of its files for the whole-file checks: its weights files (by
    ``WEIGHT_SUFFIXES``, each with its identity as its tag) and ``payload``, whether any of its files
    is not a description (a config, a README): the rest need no object each."""

    __slots__ = ("payload",)  # set once the step is walked


def folder_usage(root: str, files: list[FileInfo] | None = None, dir_fd: int | None = None,
                 within: int = 0, weights: WeightFiles | None = None) -> Usage:
    """Apparent bytes of the regular files under ``root`` (each hard-linked file once),
    newest modification, file count, and the hard-linked files as blobs; every regular
    file is also added to ``files`` when given (as ``walk`` lists them), a weights file
    with its identity as its tag (``verdict_cache.IDENTITY``).

    Every folder is opened from its parent's descriptor without following a link (``root``
    itself from ``dir_fd``, a descriptor of the folder ``root[:within]`` names, when given), listed
    and its entries looked up from its own descriptor, as ``du`` does: a folder swapped for a
    link after it was listed is never walked through; the step is then ``Unreadable``. Plain
    strings, no generators or per-file objects: this is the inner loop of every listing, and
    it decides how close a scan gets to ``du -sb``. An entry that vanishes meanwhile (another
    process deleting) is skipped; ``root`` renamed aside or removed meanwhile (walked below it, or
    with entries gone) raises FileNotFoundError.

    ``weights`` (in place of ``files``) is given only the weights files, and told whether the step
    holds more than descriptions: what the whole-file checks need, without an object for every
    file. The usual step, a folder of regular files alone (none hard-linked, none a marker, none
    vanishing meanwhile), is read in one pass of its own; anything else is walked as described.
    """
    total, newest, count = 0, 0.0, 0
    linked: dict[tuple[int, int], list] | None = None
    lstat, add, listdir, close = os.lstat, None if files is None else files.append, os.listdir, os.close
    markers: frozenset[str] = frozenset()
    look_again = False
    open_ = os.open
    try:  # root looked up from dir_fd, or by its path; never through a link
        fd = open_(root[within + 1:] if dir_fd is not None else root, _READ_FOLDER, dir_fd=dir_fd)
    except NotADirectoryError:
        _not_a_folder(root, dir_fd, within)
    try:
        names = listdir(fd)
    except FileNotFoundError:  # the folder went since it was opened (renamed aside by a prune)
        names = []
    except BaseException:
        close(fd)
        raise
    if names and add is None and STEP_MARKERS.isdisjoint(names):
        try:
            payload = False
            for name in names:
                st = lstat(name, dir_fd=fd)
                if st.st_mode & _KIND != _FILE or st.st_nlink > 1:
                    break  # not the usual step: walked below
                size, mtime = st.st_size, st.st_mtime
                total += size
                if mtime > newest:
                    newest = mtime
                if weights is not None:
                    if name.endswith(WEIGHT_SUFFIXES):
                        weights.append(_new(FileInfo, (name, size, mtime, _identify(
                            st.st_dev, st.st_ino, size, st.st_mtime_ns, st.st_ctime_ns).decode("latin-1"))))
                        payload = True
                    elif not payload and not name.lower().endswith(DESCRIPTION_SUFFIXES):
                        payload = True
            else:
                close(fd)
                if weights is not None:
                    weights.payload = payload
                return _new(Usage, (total, newest, len(names), (), markers))
        except FileNotFoundError:
            pass  # an entry gone meanwhile: walked below, which tells what is left
        except BaseException:
            close(fd)
            raise
        total, newest = 0, 0.0
        if weights is not None:
            del weights[:]
    if weights is not None:  # every file listed, then what ``weights`` keeps of them
        files = []
        add = files.append
    # Folders still to walk: (the parent's [descriptor, children not yet opened], name, path below root).
    stack: list[tuple[list[int], str, str]] = []
    prefix = ""
    try:
        while True:
            if prefix:
                try:
                    names = listdir(fd)
                except FileNotFoundError:  # the folder went since it was opened (renamed aside by a prune)
                    names = []
            if not prefix and not STEP_MARKERS.isdisjoint(names):
                markers = STEP_MARKERS.intersection(names)
            folders: list[str] | None = None
            for name in names:
                try:
                    st = lstat(name, dir_fd=fd)
                except FileNotFoundError:
                    look_again = True
                    continue
                kind = st.st_mode & _KIND
                if kind == _DIR:
                    if folders is None:
                        folders = [name]
                    else:
                        folders.append(name)
                    continue
                if kind != _FILE:
                    continue  # symlinks are not followed, as du does not
                size, mtime = st.st_size, st.st_mtime
                if add is not None:
                    tag = _identify(st.st_dev, st.st_ino, size, st.st_mtime_ns, st.st_ctime_ns).decode("latin-1") \
                        if name.endswith(WEIGHT_SUFFIXES) else ""
                    add(_new(FileInfo, (prefix + name, size, mtime, tag)))
                if st.st_nlink > 1:
                    linked = linked if linked is not None else {}
                    seen = linked.get((st.st_dev, st.st_ino))
                    if seen is not None:
                        seen[2] += 1
                        continue  # counted once, as du does
                    linked[(st.st_dev, st.st_ino)] = [size, st.st_nlink, 1]
                total += size
                count += 1
                if mtime > newest:
                    newest = mtime
            if folders is not None:
                if prefix.count("/") >= MAX_NESTING:
                    raise Unreadable(f"{root}: folders nested more than {MAX_NESTING} deep; not read")
                look_again = True  # below root: whether root is still there is asked at the end
                parent = [fd, len(folders)]
                stack.extend((parent, name, prefix + name + "/") for name in reversed(folders))
            else:
                close(fd)
            fd = -1
            while stack and fd < 0:  # the next folder, opened from its parent's descriptor
                parent, name, prefix = stack.pop()
                try:
                    fd = open_(name, _READ_FOLDER, dir_fd=parent[0])
                except FileNotFoundError:
                    look_again = True  # removed while we looked: what is gone holds nothing
                except NotADirectoryError:  # a link (or a file) now where a folder was listed
                    raise _swapped(f"{root}/{prefix[:-1]}") from None
                finally:
                    parent[1] -= 1
                    if not parent[1]:
                        close(parent[0])
                        parent[0] = -1
            if fd < 0:
                break
    except BaseException:
        if fd >= 0:
            close(fd)
        for parent in {id(p): p for p, _, _ in stack}.values():
            if parent[0] >= 0:
                close(parent[0])
        raise
    if look_again:  # entries went, or the walk went below root: was root renamed aside (by a prune) meanwhile?
        # Then it is gone, not counted as if here; a step of files alone (the usual one) costs no look more.
        os.lstat(root[within + 1:] if dir_fd is not None else root, dir_fd=dir_fd)
    blobs = () if linked is None else tuple(Blob(f"{dev}:{ino}", size, links, here)
                                            for (dev, ino), (size, links, here) in linked.items())
    if weights is not None:
        weights.extend(f for f in files if f.path.endswith(WEIGHT_SUFFIXES))  # type: ignore[union-attr]
        weights.payload = any(not is_description(f.path) for f in files)  # type: ignore[union-attr]
    return _new(Usage, (total, newest, count, blobs, markers))


class _Descriptor:
    """A file opened for a few reads, straight on its descriptor (no second ``fstat`` as in
    ``FileIO``, no buffer): what the whole-file checks call on a stream."""

    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __enter__(self) -> _Descriptor:
        return self

    def close(self, *exc: object) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    __exit__ = close  # one call a file, not two

    def read(self, size: int = -1) -> bytes:
        """``size`` bytes, fewer only at the end (all that is left when ``size`` is negative)."""
        parts = []
        while size:
            part = os.read(self.fd, size if size > 0 else CHUNK)
            if not part:
                break
            if len(part) == size and not parts:
                return part  # the usual case: one read gives all that was asked
            parts.append(part)
            size = max(size - len(part), 0) if size > 0 else size
        return b"".join(parts)

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return os.lseek(self.fd, offset, whence)


class LocalBackend(Backend):
    error_table = LOCAL_ERRORS
    can_rename = True
    can_copy_server_side = True  # the kernel copies (copy_file_range), never through a stream of ours
    reports_free_space = True
    has_exclusive_create = True
    appends_in_place = True

    def __init__(self, root: str | os.PathLike) -> None:
        super().__init__()
        self.root = os.path.abspath(os.fspath(root))
        self.real_root = os.path.realpath(self.root)

    def _abs(self, path: str) -> str:
        return os.path.join(self.root, path) if path else self.root

    @property
    def root_name(self) -> str:
        return os.path.basename(self.real_root) or "local"

    @property
    def outer_name(self) -> str:
        return os.path.basename(os.path.dirname(self.real_root)) or "local"

    def url(self, path: str, folder: bool = False) -> str:
        return self._abs(path)

    def parent(self) -> LocalBackend:
        return LocalBackend(os.path.dirname(self.real_root))

    def check_root(self) -> None:
        if not os.path.isdir(self.root):
            raise NoLocation(f"no directory at {self.root}")

    def inside(self, path: str) -> bool:
        """Whether ``path`` resolves (links and all) to somewhere inside the root."""
        real = os.path.realpath(self._abs(path))
        return real == self.real_root or real.startswith(self.real_root.rstrip(os.sep) + os.sep)

    # -- reading ------------------------------------------------------------------------
    def list_dir(self, path: str) -> list[Entry]:
        try:
            with os.scandir(self._abs(path)) as listing:
                entries = list(listing)
            try:  # named tuples made without their Python __new__; the usual entry, a folder, told by its type
                return [_new(Entry, (e.name, _KIND_DIR if e.is_dir(follow_symlinks=False) else _kind(e), 0, 0.0, ""))
                        for e in entries]
            except OSError:  # a folder whose entries' types must be looked up, one failing: each says
                return [_new(Entry, (e.name, _kind(e), 0, 0.0, "")) for e in entries]
        except (FileNotFoundError, NotADirectoryError):
            if not path:
                raise NoLocation(f"no directory at {self.root}") from None
            return []
        except OSError as exc:
            raise os_error(exc, f"cannot list {self._abs(path)}") from None

    def walk(self, path: str) -> Iterator[FileInfo]:
        top = self._abs(path)
        try:
            st = os.lstat(top)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise os_error(exc, f"cannot read {top}") from None
        if stat.S_ISREG(st.st_mode):
            yield FileInfo("", st.st_size, st.st_mtime)  # "": the path itself
            return
        if not stat.S_ISDIR(st.st_mode):
            return
        stack = [(top, "")]
        try:
            while stack:
                folder, prefix = stack.pop()
                with os.scandir(folder) as entries:
                    for entry in entries:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append((entry.path, f"{prefix}{entry.name}/"))
                        elif entry.is_file(follow_symlinks=False):
                            info = entry.stat(follow_symlinks=False)
                            yield FileInfo(prefix + entry.name, info.st_size, info.st_mtime)
        except OSError as exc:
            raise os_error(exc, f"cannot read {top}") from None

    def usage(self, path: str) -> Usage:
        top = self._abs(path)
        try:
            st = os.lstat(top)
            if stat.S_ISDIR(st.st_mode):
                usage = folder_usage(top if path else self.real_root)  # the location may be a link
                return usage if usage.mtime else usage._replace(mtime=st.st_mtime)
            if stat.S_ISREG(st.st_mode):
                blobs = (Blob(f"{st.st_dev}:{st.st_ino}", st.st_size, st.st_nlink),) if st.st_nlink > 1 else ()
                return Usage(st.st_size, st.st_mtime, 1, blobs)
            return Usage(0, st.st_mtime, 0)
        except FileNotFoundError:
            raise NotFound(f"{top} no longer exists") from None
        except OSError as exc:
            raise os_error(exc, f"cannot read {top}") from None

    def usage_many(self, folder: str, names: Iterable[str]) -> dict[str, Usage | CkptError]:
        """``usage`` of each entry, trying each as a folder first: one ``lstat`` less per step."""
        return self._usage_many(folder, names, None)

    def usage_and_files_many(self, folder: str, names: Iterable[str],
                             listed_before: Mapping[str, StepListing] | None = None,
                             listed_now: dict[str, StepListing] | None = None) -> tuple[dict[str, Usage | CkptError],
                                                                                        dict[str, list[FileInfo]]]:
        """``usage_many``, and the weights files of each folder read whole (``WeightFiles``: what
        the whole-file checks read of a step), from one pass. A step folder's names are those of
        ``listed_before`` when the folder is the very one listed then (device, inode, modification
        and change times: an entry added, removed or renamed changes the times), else listed anew;
        each usual step's listing goes to ``listed_now``."""
        walked: dict[str, list[FileInfo]] = {}
        return self._usage_many(folder, names, walked, listed_before, listed_now), walked

    def _usage_many(self, folder: str, names: Iterable[str], walked: dict[str, list[FileInfo]] | None,
                    listed_before: Mapping[str, StepListing] | None = None,
                    listed_now: dict[str, StepListing] | None = None) -> dict[str, Usage | CkptError]:
        base = self._abs(folder) + "/"
        found: dict[str, Usage | CkptError] = {}
        try:  # the steps' files looked up from their folder, reached from the root without a link
            dir_fd: int | None = self._open_folder(folder)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                # A link (or no folder) now where a folder was listed: whole paths would lead
                # through it, perhaps out of the root. Each step is unreadable, nothing is read.
                refused = Unreadable(f"{base[:-1]}: it or a folder above it is no longer a folder "
                                     "(a symbolic link is not followed)")
                return dict.fromkeys(names, refused)
            dir_fd = None  # each by its whole path: what cannot be read is said for each step
        within = len(base) - 1
        # The usual step (a folder of regular files alone, none hard-linked, none a marker, none
        # vanishing meanwhile) read here in one pass, as ``folder_usage`` reads it, without a call a
        # step; anything else (or anything failing) is left to ``folder_usage``, which walks it anew.
        plain = walked is not None and dir_fd is not None
        lstat, listdir, open_, close, fstat = os.lstat, os.listdir, os.open, os.close, os.fstat
        before = (listed_before or {}).get
        keep_listing = listed_now.__setitem__ if listed_now is not None else None
        try:
            for name in names:
                weights = None if walked is None else WeightFiles()
                if plain:
                    try:
                        fd = open_(name, _READ_FOLDER, dir_fd=dir_fd)
                    except OSError:
                        fd = -1  # a file, a link, gone, not readable: ``folder_usage`` says which
                    if fd >= 0:
                        try:
                            if keep_listing is not None:  # the folder as it is before its names are read
                                st = fstat(fd)
                                seen = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
                                listing = before(name)
                                if listing is None or listing[0] != seen:
                                    listing = (seen, listdir(fd))
                                listed = listing[1]
                            else:
                                listed = listdir(fd)
                            if listed and STEP_MARKERS.isdisjoint(listed):
                                total, newest, payload = 0, 0.0, False
                                for entry in listed:
                                    st = lstat(entry, dir_fd=fd)
                                    if st.st_mode & _KIND != _FILE or st.st_nlink > 1:
                                        break  # not the usual step
                                    size, mtime = st.st_size, st.st_mtime
                                    total += size
                                    if mtime > newest:
                                        newest = mtime
                                    if entry.endswith(WEIGHT_SUFFIXES):
                                        tag = _identify(st.st_dev, st.st_ino, size, st.st_mtime_ns,
                                                        st.st_ctime_ns).decode("latin-1")
                                        keep = weights.append  # type: ignore[union-attr]
                                        keep(_new(FileInfo, (entry, size, mtime, tag)))
                                        payload = True
                                    elif not payload and not entry.lower().endswith(DESCRIPTION_SUFFIXES):
                                        payload = True
                                else:
                                    weights.payload = payload  # type: ignore[union-attr]
                                    found[name] = _new(Usage, (total, newest, len(listed), (), _NO_MARKERS))
                                    walked[name] = weights  # type: ignore[index]
                                    if keep_listing is not None:
                                        keep_listing(name, listing)
                                    continue
                        except OSError:
                            pass  # an entry gone meanwhile, or not readable: walked below, which tells
                        finally:
                            close(fd)
                        weights = WeightFiles()  # what the pass kept is not kept
                try:
                    usage = folder_usage(base + name, None, dir_fd, within, weights)
                    found[name] = usage if usage.files else self.usage(join(folder, name))
                    if usage.files and weights is not None:
                        walked[name] = weights  # type: ignore[index]
                except NotADirectoryError:
                    found[name] = self.usage(join(folder, name))
                except FileNotFoundError:  # removed since it was listed (another prune): gone
                    found[name] = NotFound(f"{base + name} no longer exists")
                except CkptError as exc:  # emptied, then removed before its own ``usage``: gone too
                    found[name] = exc
                except OSError as exc:
                    found[name] = os_error(exc, f"cannot read {base + name}")
        finally:
            if dir_fd is not None:
                os.close(dir_fd)
        return found

    def _open_folder(self, folder: str) -> int:
        """A descriptor of ``folder``, each of its components opened from the one above without
        following a link (ENOTDIR or ELOOP where one is now a link); the root as named."""
        fd = os.open(self.root, _OPEN_PATH)
        try:
            for part in folder.split("/"):
                if part:
                    inner = os.open(part, _OPEN_PATH | os.O_NOFOLLOW, dir_fd=fd)
                    os.close(fd)
                    fd = inner
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _open_regular(self, path: str) -> BinaryIO:
        """``path`` opened for reading if it is a regular file, or a link to one inside the root.

        Checked with ``lstat`` before opening, so that a FIFO or a device is never opened;
        opened without blocking and checked again with ``fstat``, so that one swapped in
        meanwhile is never read either."""
        target = self._abs(path)
        st = os.lstat(target)
        if stat.S_ISLNK(st.st_mode):
            if not self.inside(path):
                raise NotRead(f"{target} is a symbolic link leading out of {self.root}; not read")
            st = os.stat(target)
        if not stat.S_ISREG(st.st_mode):
            raise NotRead(f"{target} is {_what(st.st_mode)}, not a regular file; not read")
        fd = os.open(target, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise NotRead(f"{target} is {_what(st.st_mode)}, not a regular file; not read")
            return os.fdopen(fd, "rb")
        except BaseException:
            os.close(fd)
            raise

    def read_file(self, path: str, limit: int = MAX_SIDE_FILE) -> bytes | None:
        target = self._abs(path)
        try:
            with self._open_regular(path) as handle:
                if os.fstat(handle.fileno()).st_size > limit:
                    raise NotRead(f"{target} is larger than {limit:,} bytes; not read")
                data = handle.read(limit + 1)
            if len(data) > limit:  # grew since
                raise NotRead(f"{target} is larger than {limit:,} bytes; not read")
            return data
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise os_error(exc, f"cannot read {target}") from None

    def entry(self, folder: str, name: str) -> Entry | None:
        """One ``lstat``: a policy file is looked for in every folder above a location, where one
        may hold thousands of entries."""
        path = self._abs(join(folder, name))
        try:
            mode = os.lstat(path).st_mode
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise os_error(exc, f"cannot read {path}") from None
        kind = (Kind.DIR if stat.S_ISDIR(mode) else Kind.FILE if stat.S_ISREG(mode)
                else Kind.LINK if stat.S_ISLNK(mode) else Kind.OTHER)
        return Entry(name, kind)

    def link_target(self, path: str) -> str | None:
        link = self._abs(path)
        if not os.path.islink(link):
            return None
        target = os.path.realpath(link)
        folder = os.path.realpath(os.path.dirname(link))
        return os.path.basename(target) if os.path.dirname(target) == folder else None

    def open(self, path: str) -> BinaryIO:
        try:
            return self._open_regular(path)
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"{self._abs(path)} no longer exists") from None
        except OSError as exc:
            raise os_error(exc, f"cannot read {self._abs(path)}") from None

    def open_listed(self, path: str, tag: str = "") -> BinaryIO:
        """A file the walk has just ``lstat``-ed as regular, opened without a second ``lstat``: never
        through a link (``O_NOFOLLOW``), without blocking, and left unread unless ``fstat`` finds it
        still regular and, given the walk's ``tag``, the very file the walk found (device and inode: a
        step folder swapped for a link since is not read through). Read straight from the descriptor:
        the whole-file checks read a few bytes once."""
        target = f"{self.root}/{path}"
        try:
            fd = os.open(target, _READ_LISTED)
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"{target} no longer exists") from None
        except OSError as exc:
            raise os_error(exc, f"cannot read {target}") from None
        try:
            st = os.fstat(fd)
            mode = st.st_mode
            if mode & _KIND != _FILE:
                raise NotRead(f"{target} is {_what(mode)}, not a regular file; not read")
            if tag and _identify(st.st_dev, st.st_ino, 0, 0, 0)[:16] != tag.encode("latin-1")[:16]:
                # Not the file the walk found: its folder was swapped (for a link?) or it was replaced.
                raise Replaced(f"{target} is not the file listed a moment ago (its folder or it was replaced); "
                              "not read")
            return _Descriptor(fd)
        except BaseException:
            os.close(fd)
            raise

    def local_path(self, path: str) -> str | None:
        return self._abs(path)

    def free_space(self, path: str) -> Space:
        """Bytes free, and in all, on the filesystem holding ``path`` (or its nearest existing folder)."""
        target = self._abs(path)
        while not os.path.isdir(target) and os.path.dirname(target) != target:
            target = os.path.dirname(target)
        import shutil

        try:
            usage = shutil.disk_usage(target)
        except OSError as exc:
            raise os_error(exc, f"cannot read free space at {target}") from None
        return Space(usage.free, usage.total)

    # -- writing ------------------------------------------------------------------------
    def create_new(self, path: str, data: bytes) -> bool:
        target = self._abs(path)
        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        except OSError as exc:
            raise os_error(exc, f"cannot write {target}") from None
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return True

    def write(self, path: str, data: bytes) -> None:
        target = self._abs(path)
        tmp = os.path.join(os.path.dirname(target), f".{os.path.basename(target)}.{os.urandom(4).hex()}")
        try:
            with open(tmp, "xb") as handle:
                handle.write(data)
            os.replace(tmp, target)
        except OSError as exc:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise os_error(exc, f"cannot write {target}") from None

    def append(self, path: str, data: bytes) -> None:
        target = self._abs(path)
        try:
            handle = os.open(target, _APPEND_FLAGS, 0o644)
        except OSError as exc:
            raise Refused(f"{target}{_APPEND_REFUSALS.get(exc.errno, f': {exc.strerror}')}") from None
        try:
            if not stat.S_ISREG(os.fstat(handle).st_mode):
                raise Refused(f"{target} is not a regular file")
            os.write(handle, data)
        finally:
            os.close(handle)

    def make_dirs(self, path: str) -> None:
        try:
            os.makedirs(self._abs(path), exist_ok=True)
        except OSError as exc:
            raise os_error(exc, f"cannot create {self._abs(path)}") from None

    def delete_files(self, paths: list[str]) -> dict[str, str]:
        failed = {}
        for path in paths:
            try:
                os.unlink(self._abs(path))
            except FileNotFoundError:
                pass
            except OSError as exc:
                failed[path] = str(os_error(exc, f"cannot delete {self._abs(path)}"))
        return failed

    def delete_tree(self, path: str) -> None:
        target = self._abs(path)
        try:
            if stat.S_ISDIR(os.lstat(target).st_mode):
                _remove_tree(target)
            else:
                os.unlink(target)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise os_error(exc, f"cannot remove {exc.filename or target}") from None

    def rename(self, source: str, target: str) -> None:
        try:
            rename_no_replace(self._abs(source), self._abs(target))
        except FileNotFoundError:
            raise NotFound(f"{self._abs(source)} no longer exists") from None
        except OSError as exc:
            error = os_error(exc, f"cannot rename {self._abs(source)}")
            if isinstance(error, Exists):
                raise Exists(f"{self._abs(target)} exists; nothing overwritten") from None
            raise error from None

    # -- transfers ----------------------------------------------------------------------
    def _copy(self, source: str, target: str, done: BytesDone | None) -> None:
        import shutil

        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy2(source, target, follow_symlinks=False)
            if done is not None:
                done(os.lstat(target).st_size)
        except OSError as exc:
            raise os_error(exc, f"cannot copy {source}") from None

    def copy_file(self, source: str, target: str, done: BytesDone | None = None) -> None:
        self._copy(self._abs(source), self._abs(target), done)

    def can_copy_from(self, other: Backend) -> bool:
        return isinstance(other, LocalBackend)

    def copy_from(self, other: Backend, source: str, target: str, done: BytesDone | None = None) -> None:
        if not isinstance(other, LocalBackend):
            return super().copy_from(other, source, target, done)
        self._copy(other._abs(source), self._abs(target), done)

    def get_file(self, source: str, local_target: str, done: BytesDone | None = None) -> None:
        self._copy(self._abs(source), local_target, done)

    def put_file(self, local_source: str, target: str, done: BytesDone | None = None) -> None:
        self._copy(local_source, self._abs(target), done)

    def put_stream(self, stream: BinaryIO, target: str, done: BytesDone | None = None) -> None:
        path = self._abs(target)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "xb") as handle:
                while chunk := stream.read(CHUNK):
                    handle.write(chunk)
                    if done is not None:
                        done(len(chunk))
        except OSError as exc:
            raise os_error(exc, f"cannot write {path}") from None

