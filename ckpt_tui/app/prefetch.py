"""The runs of a local location, read by a forked process while Textual starts.

Reading the runs of a large tree is mostly system calls and small Python loops;
in the app's own process it shares one interpreter lock with drawing. Forked
before Textual is imported (no thread runs yet), two child processes (one a core)
read the runs in the order the run list shows them, each every other run, and send
each one back pickled; the app takes each run from here the first time it reads
it, and reads it itself when a child failed on it, has not listed it, or is gone.
"""

from __future__ import annotations

import os
import pickle
import signal
import struct
import threading
from collections import Counter

from ..core.models import Run

RunKey = tuple[str, str]
HEADER = struct.Struct("!Q")
NICENESS = 10
BUFFERED = 8  # runs a reader sends ahead of the app (kept pickled): a tree of 100 runs is not held whole


def is_local(location: object) -> bool:
    """A directory on this machine (not a URL, not a function building one)."""
    return isinstance(location, str) and ("://" not in location or location.startswith("file://")) \
        and os.path.isdir(location.removeprefix("file://"))


class Prefetch:
    """Child processes reading every run of ``location`` (each its share, in the order
    they are listed); ``take`` hands each run over once."""

    def __init__(self, location: str, readers: int | None = None) -> None:
        self.readers = readers or max(1, min(2, len(os.sched_getaffinity(0))))
        self.pids: list[int] = []
        self._keys: list[RunKey] | None = None
        self._runs: dict[RunKey, bytes] = {}  # each run pickled, as sent
        self._taken: set[RunKey] = set()
        self._over: set[int] = set()  # readers that have sent all they will
        self._wanted: Counter[int | None] = Counter()  # readers whose runs the app waits for
        self._share: dict[RunKey, int] = {}  # which reader sends each run
        self._changed = threading.Condition()
        sources = []
        for share in range(self.readers):  # every fork before the first thread starts
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:  # a child: never returns
                for source in (read_end, *sources):
                    os.close(source)
                _read_runs(location, write_end, share, self.readers)
            os.close(write_end)
            self.pids.append(pid)
            sources.append(read_end)
        for share, source in enumerate(sources):
            threading.Thread(target=self._receive, args=(share, os.fdopen(source, "rb")), daemon=True,
                             name=f"prefetch-{share}").start()

    def _receive(self, share: int, source) -> None:
        try:
            with source:
                while self._room_for(share) and (header := source.read(HEADER.size)):
                    key = pickle.loads(source.read(HEADER.unpack(header)[0]))
                    data = source.read(HEADER.unpack(source.read(HEADER.size))[0])
                    with self._changed:
                        if key is None:  # the listing (the same from every reader)
                            if self._keys is None:
                                self._keys = pickle.loads(data)
                                self._share = {run: index % self.readers for index, run in enumerate(self._keys)}
                        elif key not in self._taken:
                            self._runs[key] = data  # unpickled when taken: bytes take a tenth of the room
                        self._changed.notify_all()
        except Exception:  # noqa: BLE001 - the child failed or was stopped mid-message
            pass
        finally:
            with self._changed:
                self._over.add(share)
                self._changed.notify_all()

    def _room_for(self, share: int) -> bool:
        """Wait while a reader has BUFFERED runs sent and not taken (its child then waits on
        the pipe), unless the app waits for one of its runs; False once closed."""
        with self._changed:
            while (share not in self._over and not self._wanted[share]
                   and sum(1 for key in self._runs if self._share[key] == share) >= BUFFERED):
                self._changed.wait()
            return share not in self._over

    def _pending(self, key: RunKey) -> bool:
        """Still to come from the reader whose share it is."""
        if self._keys is None:
            return len(self._over) < self.readers
        return key in self._share and self._share[key] not in self._over

    def take(self, key: RunKey) -> Run | None:
        """The run as a child read it, once; None when the app must read it itself. Waits
        while a child is still to send it (they read the runs in the order they are shown)."""
        with self._changed:
            while key not in self._runs and key not in self._taken and self._pending(key):
                share = self._share.get(key)
                self._wanted[share] += 1  # its reader reads on, however many runs wait here
                self._changed.notify_all()
                self._changed.wait()
                self._wanted[share] -= 1
            self._taken.add(key)
            self._changed.notify_all()  # room for the next run
            data = self._runs.pop(key, None)
        return pickle.loads(data) if data is not None else None

    def close(self) -> None:
        """Stop the children (when still reading) and free what they sent and nobody took."""
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
        with self._changed:
            self._runs.clear()
            self._over.update(range(self.readers))
            self._changed.notify_all()


def _read_runs(location: str, fd: int, share: int, readers: int) -> None:
    """In a child: list the location and send its share of the runs, every ``readers``-th
    from ``share`` on (None for one that fails)."""
    try:
        devnull = os.open(os.devnull, os.O_RDWR)
        for stream in (0, 1, 2):  # the terminal belongs to the app
            os.dup2(devnull, stream)
        os.nice(NICENESS)  # drawing first: the readers take the CPU the app leaves
        from ..core.errors import CkptError
        from ..stores import open_store

        store = open_store(location)
        store.connect()
        keys = [(project, run) for project in store.list_projects() for run in store.list_runs(project)]
        _send(fd, None, keys)
        for key in keys[share::readers]:
            try:
                run = store.load_run(*key, with_metrics=True)
            except CkptError:
                run = None  # the app reads it and says why
            _send(fd, key, run)
    except BaseException:  # noqa: BLE001 - whatever happens here, the app reads the runs itself
        pass
    finally:
        os._exit(0)


def _send(fd: int, key: RunKey | None, value: object) -> None:
    """A run (or, with no key, the listing): the key and the value pickled apart, each after its length."""
    head, data = (pickle.dumps(part, protocol=pickle.HIGHEST_PROTOCOL) for part in (key, value))
    view = memoryview(HEADER.pack(len(head)) + head + HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]
