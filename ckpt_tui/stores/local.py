"""Checkpoints on a local (or mounted) disk: ART bases and every trainer's output folders."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator

from ..core.errors import CkptError
from ..core.models import Run
from . import history_cache, listing_cache, verdict_cache
from .backends.local import LocalBackend
from .tree import TreeStore

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TypeVar

    T = TypeVar("T")
# Reading this many runs is worth more processes: a scan is mostly system calls and small
# Python loops, and threads share one interpreter lock.
RUNS_FOR_PROCESSES = 8
MAX_PROCESSES = 4


class LocalStore(TreeStore):
    """A folder of runs: an ART base, a trainer's output folder, or a tree of both.

    Never follows a symbolic link: runs, checkpoint folders and steps that are
    links are shown with a note and never pruned or forked into.
    """

    def __init__(self, base: str | os.PathLike) -> None:
        super().__init__(LocalBackend(base), os.fspath(base))
        self.base = os.fspath(base)

    @classmethod
    def from_url(cls, url: str, **options: object) -> LocalStore:
        """A directory, written as a path or ``file://PATH`` (store options do not apply to it)."""
        return cls(url.removeprefix("file://"))

    def load_runs(self, pairs: Iterable[tuple[str, str]],
                  with_metrics: bool = True) -> Iterator[tuple[tuple[str, str], Run | CkptError]]:
        return self.map_runs(pairs, _same, with_metrics)

    def map_runs(self, pairs: Iterable[tuple[str, str]], function: Callable[[Run], T],
                 with_metrics: bool = True) -> Iterator[tuple[tuple[str, str], T | CkptError]]:
        """Many runs are read, and ``function`` applied, by one process per core, in order.

        Only from a process with no other thread (the command line): forking
        beside running threads is unsafe, and the app reads runs one by one.
        """
        pairs = list(pairs)
        verdict_cache.forget_old()
        workers = min(len(os.sched_getaffinity(0)), MAX_PROCESSES, len(pairs) // (RUNS_FOR_PROCESSES // 2))
        if workers < 2 or len(pairs) < RUNS_FOR_PROCESSES or threading.active_count() > 1:
            for pair in pairs:
                yield pair, _read(self, pair, function, with_metrics)
            return
        yield from _forked_map(self, pairs, function, with_metrics, workers)


def _same(run: Run) -> Run:
    return run


def _read(store: LocalStore, pair: tuple[str, str], function: Callable[[Run], T],
          with_metrics: bool) -> T | CkptError:
    """One run of many, trusting the weights files its last listing found whole (``verdict_cache``),
    the history it parsed (``history_cache``) and the names of its step folders (``listing_cache``),
    each if unchanged, and keeping what this one finds for the next."""
    cache = verdict_cache.cache_file(store.backend.real_root, *pair)
    store._verdicts.keep(verdict_cache.load(cache) if cache else set())
    store._histories.keep(history_cache.cache_file(store.backend.real_root, *pair) if with_metrics else None)
    store._listings.keep(listing_cache.cache_file(store.backend.real_root, *pair))
    try:
        run = store.load_run(*pair, with_metrics=with_metrics)
        if cache and store._verdicts.unchanged():
            verdict_cache.touch(cache)  # the same records: only kept from being forgotten as unused
        elif cache:
            verdict_cache.save(cache, store._verdicts.found_whole or b"")
        return function(run)
    except CkptError as exc:
        return exc
    finally:
        store._verdicts.keep(None)
        store._histories.keep(None)
        store._listings.keep(None)


# Processes, pipes and pickles are imported where runs are forked: a small listing starts without them.
# Each task a worker takes from the shared pipe: the index of its first run, 4 bytes. Tasks are
# written before the workers start, so they fit in the smallest buffer a pipe has (4 KiB).
_MAX_TASKS = 1024
_HEADER = 8  # before each result: the index of its run, then the length of its pickle (4 bytes each)
_RAW = 1 << 31  # set in that length: the result is bytes, sent as they are (a run's JSON), not pickled


def _forked_map(store: LocalStore, pairs: list[tuple[str, str]], function: Callable[[Run], T],
                with_metrics: bool, workers: int) -> Iterator[tuple[tuple[str, str], T | CkptError]]:
    """``function`` of each run, read by ``workers`` forked processes, in order.

    The workers take runs from one pipe as they finish the last (so they end together) and
    send each result back, pickled, on a pipe of their own; a result that comes early waits
    here for those before it. Forked straight (no ``multiprocessing``): nothing to import or
    set up before the first run is read, and the workers start from what the store has already
    discovered."""
    chunk = max(1, -(-len(pairs) // min(_MAX_TASKS, workers * 64)))  # runs a task: small, for an even end
    tasks_read, tasks_write = os.pipe()
    tasks = memoryview(b"".join(start.to_bytes(4, "little") for start in range(0, len(pairs), chunk)))
    while tasks:
        tasks = tasks[os.write(tasks_write, tasks):]
    os.close(tasks_write)
    import pickle  # noqa: F401 - here, once: not again in each worker
    import signal

    children: dict[int, int] = {}  # result pipe -> worker's pid
    try:
        for _ in range(workers):
            results_read, results_write = os.pipe()
            pid = os.fork()
            if pid == 0:  # the worker: never returns into the caller's code
                os.close(results_read)
                _work(store, pairs, function, with_metrics, chunk, tasks_read, results_write)
            os.close(results_write)
            children[results_read] = pid
        os.close(tasks_read)
        tasks_read = -1
        yield from _in_order(pairs, children)
    finally:
        if tasks_read >= 0:
            os.close(tasks_read)
        for fd, pid in children.items():
            os.close(fd)
            try:
                os.kill(pid, signal.SIGKILL)  # ended already, or a reader gone: it only reads
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)


def _work(store: LocalStore, pairs: list[tuple[str, str]], function: Callable, with_metrics: bool,
          chunk: int, tasks: int, results: int) -> None:
    """A worker's life: runs from the task pipe until it is empty, each result framed on ``results``;
    an exception other than a run's own error goes back as the result that raises it."""
    import pickle

    code = 0
    try:
        while len(task := os.read(tasks, 4)) == 4:
            start = int.from_bytes(task, "little")
            for index in range(start, min(start + chunk, len(pairs))):
                try:
                    result: object = _read(store, pairs[index], function, with_metrics)
                except Exception as exc:  # noqa: BLE001 - raised again where the results are read
                    result = _Raised(exc)
                if type(result) is bytes:
                    data, length = result, len(result) | _RAW
                else:
                    data = pickle.dumps(result, pickle.HIGHEST_PROTOCOL)
                    length = len(data)
                header = index.to_bytes(4, "little") + length.to_bytes(4, "little")
                sent = os.writev(results, (header, data))  # no copy of a run's JSON to put its header before
                if sent < _HEADER:
                    header = header[sent:]
                    while header:
                        header = header[os.write(results, header):]
                    sent = _HEADER
                view = memoryview(data)[sent - _HEADER:]
                while view:
                    view = view[os.write(results, view):]
    except BaseException:  # noqa: BLE001 - interrupted, or the reader left: end quietly
        code = 1
    finally:
        os._exit(code)  # nothing of the parent's (buffers, exit handlers) runs twice


class _Raised:
    """An exception a worker met, sent back to be raised where the results are read."""

    def __init__(self, exc: Exception) -> None:
        import pickle

        try:
            pickle.loads(pickle.dumps(exc))
            self.exc = exc
        except Exception:  # noqa: BLE001 - an exception that does not travel: its words do
            self.exc = RuntimeError(f"{type(exc).__name__}: {exc}")


def _in_order(pairs: list[tuple[str, str]], children: dict[int, int]) -> Iterator[tuple[tuple[str, str], object]]:
    """The workers' results, in the order of ``pairs``."""
    import pickle
    import select

    buffers = {fd: bytearray() for fd in children}
    early: dict[int, object] = {}
    poller = select.poll()
    for fd in children:
        poller.register(fd, select.POLLIN)
    open_fds = len(children)
    for index, pair in enumerate(pairs):
        while index not in early:
            if not open_fds:
                raise RuntimeError(f"a worker process reading runs ended before reading {pair[0]}/{pair[1]}")
            for fd, _event in poller.poll():
                data = os.read(fd, 1 << 16)
                if not data:
                    poller.unregister(fd)
                    open_fds -= 1
                buffer = buffers[fd]
                buffer += data
                while len(buffer) >= _HEADER and len(buffer) >= _HEADER + (size := (length := _length(buffer, 4)) & ~_RAW):
                    with memoryview(buffer) as view, view[_HEADER:_HEADER + size] as data:  # one copy, if any
                        early[_length(buffer, 0)] = data.tobytes() if length & _RAW else pickle.loads(data)
                    del buffer[:_HEADER + size]
        result = early.pop(index)
        if isinstance(result, _Raised):
            raise result.exc
        yield pair, result


def _length(buffer: bytearray, at: int) -> int:
    return int.from_bytes(buffer[at:at + 4], "little")
