"""The runs of a local location, read by a forked process while Textual starts.

Reading the runs of a large tree is mostly system calls and small Python loops;
in the app's own process it shares one interpreter lock with drawing. Forked
before Textual is imported (no thread runs yet), a child process reads every run
in the order the run list shows them, on the other core, and sends each one
back pickled; the app takes each run from here the first time it reads it, and
reads it itself when the child failed on it, has not listed it, or is gone.
"""

from __future__ import annotations

import os
import pickle
import signal
import struct
import threading

from ..core.models import Run

RunKey = tuple[str, str]
HEADER = struct.Struct("!Q")


def is_local(location: object) -> bool:
    """A directory on this machine (not a URL, not a function building one)."""
    return isinstance(location, str) and ("://" not in location or location.startswith("file://")) \
        and os.path.isdir(location.removeprefix("file://"))


class Prefetch:
    """A child process reading every run of ``location``; ``take`` hands each run over once."""

    def __init__(self, location: str) -> None:
        read_end, write_end = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the child: never returns
            os.close(read_end)
            _read_runs(location, write_end)
        os.close(write_end)
        self._file = os.fdopen(read_end, "rb")
        self._keys: list[RunKey] | None = None
        self._runs: dict[RunKey, Run | None] = {}
        self._taken: set[RunKey] = set()
        self._over = False
        self._changed = threading.Condition()
        threading.Thread(target=self._receive, daemon=True, name="prefetch").start()

    def _receive(self) -> None:
        try:
            while header := self._file.read(HEADER.size):
                message = pickle.loads(self._file.read(HEADER.unpack(header)[0]))
                with self._changed:
                    if message[0] == "keys":
                        self._keys = message[1]
                    else:
                        _, key, run = message
                        if key not in self._taken:
                            self._runs[key] = run
                    self._changed.notify_all()
        except Exception:  # noqa: BLE001 - the child failed or was stopped mid-message
            pass  # the child failed or was stopped: the app reads what it did not send
        finally:
            with self._changed:
                self._over = True
                self._changed.notify_all()

    def take(self, key: RunKey) -> Run | None:
        """The run as the child read it, once; None when the app must read it itself. Waits
        while the child is still to send it (it reads the runs in the order they are shown)."""
        with self._changed:
            while not self._over and key not in self._runs and (self._keys is None or key in self._keys):
                self._changed.wait()
            self._taken.add(key)
            return self._runs.pop(key, None)

    def close(self) -> None:
        """Stop the child (when still reading) and free what it sent and nobody took."""
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(self.pid, 0)
        with self._changed:
            self._runs.clear()
            self._over = True
            self._changed.notify_all()


def _read_runs(location: str, fd: int) -> None:
    """In the child: list the location and send every run (None for one that fails)."""
    try:
        devnull = os.open(os.devnull, os.O_RDWR)
        for stream in (0, 1, 2):  # the terminal belongs to the app
            os.dup2(devnull, stream)
        from ..core.errors import CkptError
        from ..stores import open_store

        store = open_store(location)
        store.connect()
        keys = [(project, run) for project in store.list_projects() for run in store.list_runs(project)]
        _send(fd, ("keys", keys))
        for key in keys:
            try:
                run = store.load_run(*key, with_metrics=True)
            except CkptError:
                run = None  # the app reads it and says why
            _send(fd, ("run", key, run))
    except BaseException:  # noqa: BLE001 - whatever happens here, the app reads the runs itself
        pass
    finally:
        os._exit(0)


def _send(fd: int, message: tuple) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]
