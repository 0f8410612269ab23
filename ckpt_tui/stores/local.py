"""Checkpoints on a local (or mounted) disk: ART bases and every trainer's output folders."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from ..core.errors import CkptError
from ..core.models import Run
from .backends.local import LocalBackend
from .tree import TreeStore

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
        workers = min(len(os.sched_getaffinity(0)), MAX_PROCESSES, len(pairs) // (RUNS_FOR_PROCESSES // 2))
        if workers < 2 or len(pairs) < RUNS_FOR_PROCESSES or threading.active_count() > 1:
            for pair in pairs:
                yield pair, _read(self, pair, function, with_metrics)
            return
        import multiprocessing  # here: the app, which never forks, does not pay for the import
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_open_in_worker,
                                 initargs=(self.base,)) as pool:
            # Small chunks (one run each for up to 64 runs a worker): the workers end together,
            # where a last chunk of several runs kept one core busy while the other waited.
            chunk = max(1, len(pairs) // (workers * 64))
            results = pool.map(_read_in_worker, pairs, [function] * len(pairs), [with_metrics] * len(pairs),
                               chunksize=chunk)
            yield from zip(pairs, results)


def _same(run: Run) -> Run:
    return run


def _read(store: LocalStore, pair: tuple[str, str], function: Callable[[Run], T],
          with_metrics: bool) -> T | CkptError:
    try:
        return function(store.load_run(*pair, with_metrics=with_metrics))
    except CkptError as exc:
        return exc


_worker_store: LocalStore | None = None


def _open_in_worker(base: str) -> None:
    global _worker_store
    _worker_store = LocalStore(base)


def _read_in_worker(pair: tuple[str, str], function: Callable[[Run], T], with_metrics: bool) -> T | CkptError:
    assert _worker_store is not None
    return _read(_worker_store, pair, function, with_metrics)
