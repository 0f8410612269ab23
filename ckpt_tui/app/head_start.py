"""Run sizes read while Textual is imported: a local location's ``du``-like size pass, started
in a forked process before the app's imports, so that it runs on another core meanwhile.

The process lists the location and sends each run's ``RunSize`` down a pipe, in the order it
lists them; the run list's worker takes them from there once the app's frame is up, and sizes
itself whatever the process did not send (it ended early, was killed, or the listing changed).
A run the process could not size is left unsized, as the app's own pass leaves it: its full
read says what is wrong. The process ends when it has sent the last size, and is killed and
reaped when the app ends (Ctrl+C included) or its worker stops reading.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import threading
from collections.abc import Callable, Iterable, Iterator

from ..core.store import RunSize, Store

RunKey = tuple[str, str]
_LENGTH = 4  # bytes before each message: the length of its pickle
# A message: a run and its size, or None where the process could not size it.
Sized = tuple[RunKey, "RunSize | None"]


def local_path(location: object) -> str | None:
    """The directory a location names, or None for anything else (a bucket, W&B, the demo)."""
    if not isinstance(location, str):
        return None
    scheme, sep, rest = location.partition("://")
    return rest if scheme == "file" else None if sep else location


def size_every_run(store: Store, send: Callable[[Sized], None]) -> None:
    """The child's work: every listed run's size, each sent as soon as it is known."""
    for project in store.list_projects():
        for run in store.list_runs(project):
            try:
                size = store.run_size(project, run)
            except Exception:  # noqa: BLE001 - the run's full read in the app says what is wrong
                size = None
            send(((project, run), size))


class HeadStart:
    """The forked size pass of one location, read by one reader (``results``)."""

    def __init__(self, pid: int, fd: int) -> None:
        self._pid: int | None = pid
        self._fd = fd
        self._lock = threading.Lock()
        self._taken = False  # a reader took the pipe: it closes it
        self._wanted: set[RunKey] | None = None  # the runs the reader waits for
        self._buffer = bytearray()  # received, not yet a whole message

    @property
    def pid(self) -> int | None:
        return self._pid

    @classmethod
    def start(cls, location: object) -> HeadStart | None:
        """The size pass of a local ``location``, on a machine with a core to spare; None when
        it does not apply (not a directory, one core, threads running: forking beside threads
        is unsafe)."""
        path = local_path(location)
        if path is None or len(os.sched_getaffinity(0)) < 2 or threading.active_count() > 1:
            return None
        # Imported before the fork: the child sizes at once, and the app finds its store's module
        # imported (not imported in a thread beside Textual's imports, which it would slow).
        from ..stores import local  # noqa: F401

        return cls.fork(path, size_every_run)

    @classmethod
    def fork(cls, path: str, work: Callable[[Store, Callable[[Sized], None]], None]) -> HeadStart:
        """``work`` on the store of ``path`` in a forked process, its messages sent back."""
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns into the caller's code
            os.close(read_end)
            _child(path, work, write_end)
        os.close(write_end)
        return cls(pid, read_end)

    def results(self, keys: Iterable[RunKey], stopped: Callable[[], bool], wait: bool = True) -> Iterator[Sized]:
        """The sizes of the runs in ``keys`` (those of the first call) the process sends, as they
        come (the process's order); ends when it has sent the last of them, ends, or ``stopped()``
        (checked between waits): the process is reaped then. Without ``wait``, only the sizes
        that have arrived already: the others are left for the next call."""
        with self._lock:
            if self._fd < 0:
                return
            self._taken = True
            if self._wanted is None:
                self._wanted = set(keys)
        finished = True
        try:
            while self._wanted and not stopped():
                if not select.select([self._fd], [], [], 0.1 if wait else 0)[0]:
                    if wait:
                        continue
                    finished = False
                    return
                data = os.read(self._fd, 1 << 16)
                if not data:
                    return
                self._buffer += data
                yield from self._messages()
        finally:
            if finished:
                self.close(reader=True)

    def _messages(self) -> Iterator[Sized]:
        """The whole messages received, for the runs still wanted."""
        buffer = self._buffer
        while len(buffer) >= _LENGTH and len(buffer) >= _LENGTH + (size := int.from_bytes(buffer[:_LENGTH], "little")):
            key, found = pickle.loads(buffer[_LENGTH:_LENGTH + size])
            del buffer[:_LENGTH + size]
            if key in self._wanted:
                self._wanted.discard(key)
                yield key, found

    def close(self, reader: bool = False) -> None:
        """Kill the process if it still runs, reap it, and let go of the pipe (which a reader,
        once it took it, lets go of itself: never closed under it)."""
        with self._lock:
            if self._pid is not None:
                try:
                    os.kill(self._pid, signal.SIGKILL)  # done already, or no longer wanted
                except ProcessLookupError:
                    pass
                os.waitpid(self._pid, 0)
                self._pid = None
            if (reader or not self._taken) and self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def __enter__(self) -> HeadStart:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _child(path: str, work: Callable[[Store, Callable[[Sized], None]], None], fd: int) -> None:
    """Size the location, each run framed on ``fd``; a failure to open it is the app's to say."""
    code = 0
    try:
        import gc

        gc.disable()  # a short life of small objects that form no cycles
        from ..stores.local import LocalStore

        def send(message: Sized) -> None:
            data = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
            view = memoryview(len(data).to_bytes(_LENGTH, "little") + data)
            while view:
                view = view[os.write(fd, view):]

        work(LocalStore(path), send)
    except BaseException:  # noqa: BLE001 - interrupted, the reader gone, or the location unreadable
        code = 1
    finally:
        os._exit(code)  # nothing of the parent's (buffers, exit handlers) runs twice
