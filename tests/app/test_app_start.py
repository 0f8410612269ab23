"""Starting on a large location: runs read by a child process while the app starts, and
only a few runs held in memory (every run's summary is kept, and read again when the rule
changes)."""

from __future__ import annotations

import os

import pytest
from app_helpers import RecordingApp, main
from app_scenarios import settle

from ckpt_tui.app.memo import RunCache
from ckpt_tui.app.prefetch import Prefetch, is_local
from ckpt_tui.app.widgets import RunTree
from ckpt_tui.stores.local import LocalStore


def listed(base) -> list[tuple[str, str]]:
    store = LocalStore(base)
    return [(p, r) for p in store.list_projects() for r in store.list_runs(p)]


@pytest.mark.parametrize("readers", [1, 2])
def test_the_child_processes_send_every_run_once_as_the_store_reads_it(demo_base, readers):
    prefetch = Prefetch(str(demo_base), readers)
    try:
        store = LocalStore(demo_base)
        for key in reversed(listed(demo_base)):  # whichever comes first
            assert prefetch.take(key) == store.load_run(*key)
            assert prefetch.take(key) is None  # once: later reads go to the store
        assert prefetch.take(("email-agent", "not-a-run")) is None  # not listed: no wait
        assert len(prefetch.pids) == readers
    finally:
        prefetch.close()


def test_readers_wait_for_the_app_beyond_a_few_runs_and_read_on_for_a_run_it_waits_for(demo_base, monkeypatch):
    import ckpt_tui.app.prefetch as prefetch_module

    monkeypatch.setattr(prefetch_module, "BUFFERED", 1)
    prefetch = Prefetch(str(demo_base), 1)
    try:
        keys = listed(demo_base)
        store = LocalStore(demo_base)
        assert prefetch.take(keys[-1]) == store.load_run(*keys[-1])  # past the runs sent ahead of it
        assert len(prefetch._runs) <= len(keys) - 1
        for key in keys[:-1]:
            assert prefetch.take(key) == store.load_run(*key)
    finally:
        prefetch.close()


def test_a_run_the_child_cannot_read_is_read_by_the_app(tmp_path):
    prefetch = Prefetch(str(tmp_path / "gone"))  # the child fails at once: nothing is ever sent
    try:
        assert prefetch.take(("p", "r")) is None
    finally:
        prefetch.close()
    assert is_local(str(tmp_path)) and not is_local("s3://bucket/x") and not is_local(lambda: "x")


async def test_the_app_shows_the_runs_the_child_read(demo_base):
    taken = []

    class Counting(Prefetch):
        def take(self, key):
            run = super().take(key)
            taken.append((key, run is not None))
            return run

    prefetch = Counting(str(demo_base))
    app = RecordingApp(str(demo_base), prefetch=prefetch)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(pilot)
            screen = main(app)
            keys = listed(demo_base)
            assert set(screen.summaries) == set(keys)
            assert {key for key, given in taken if given} == set(keys)  # none read twice at start
            store = LocalStore(demo_base)
            first = store.load_run(*keys[0])
            assert screen.run == first and screen.table.rows  # the open run as the store reads it
            assert screen.summaries[keys[0]].checkpoints == len(first.checkpoints)
    finally:
        prefetch.close()


def test_the_run_cache_lets_the_oldest_runs_go_beyond_its_limit(demo_base, monkeypatch):
    monkeypatch.setattr(RunCache, "limit", 10)
    store, cache = LocalStore(demo_base), RunCache()
    keys = listed(demo_base)
    for key in keys:
        cache[key] = store.load_run(*key)
    gone = cache.trim({keys[0]})
    assert gone and all(run not in cache.values() for run in gone)
    assert keys[0] in cache and keys[-1] in cache  # kept as asked, and the newest
    assert sum(len(r.checkpoints) for k, r in cache.items() if k != keys[0]) <= 10 + len(cache[keys[-1]].checkpoints)
    assert len(cache) < len(keys)


async def test_runs_let_go_keep_their_summary_and_it_follows_the_rule(demo_base, monkeypatch):
    monkeypatch.setattr(RunCache, "limit", 1)  # only the open run and the last one read are held
    app = RecordingApp(str(demo_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main(app)
        keys = listed(demo_base)
        assert set(screen.runs) == {screen.current, keys[-1]}
        assert set(screen.summaries) == set(keys)
        other = ("email-agent", "agent-002")
        before = screen.summaries[other]
        await pilot.press("d", "d")  # auto -> max -> min: the best step of every run changes
        await settle(pilot)
        run = LocalStore(demo_base).load_run(*other)
        assert screen.summaries[other] == screen._summary(run) != before  # read again, by the new rule
        assert other not in screen.runs
        tree = screen.query_one(RunTree)
        assert f"★{screen.summaries[other].best}" in str(tree._leaves[other].label)
    assert os.path.isdir(demo_base)


def test_the_memo_lets_go_of_what_it_computed_from_a_run_let_go(demo_base):
    from ckpt_tui.app.memo import Memo

    store, memo = LocalStore(demo_base), Memo()
    first, second = (store.load_run(*key) for key in listed(demo_base)[:2])
    for run in (first, second):
        memo.get(run, "bytes", lambda run=run: run.total_bytes)
        memo.get(run.metrics, "names", run.metrics.names)
    memo.forget(first, first.metrics)
    owners = [owner for owner, _ in memo._items.values()]
    assert all(owner is not first and owner is not first.metrics for owner in owners) and len(owners) == 2


def test_the_command_reads_through_its_children_and_stops_them_when_it_quits(demo_base):
    """``ckpt-tui PATH`` in a terminal: the run list fills in, and quitting leaves no reader behind."""
    import fcntl
    import pty
    import select
    import struct
    import termios
    import signal
    import subprocess
    import sys
    import time

    pid, fd = pty.fork()
    if pid == 0:
        os.environ.update(TERM="xterm-256color")
        os.execvp(sys.executable, [sys.executable, "-m", "ckpt_tui", str(demo_base)])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 36, 120, 0, 0))
    latest = [b"L319", b"L89", b"L39", b"L59", b"L23", b"L149"]  # every run's summary in the run list
    output, children = b"", set()
    try:
        deadline = time.monotonic() + 120
        while not all(mark in output for mark in latest) and time.monotonic() < deadline:
            if select.select([fd], [], [], 0.1)[0]:
                output += os.read(fd, 65536)
            children |= set(subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True,
                                           text=True).stdout.split())
        assert all(mark in output for mark in latest)
        os.write(fd, b"q")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)
    assert children  # the readers ran
    assert not [c for c in children if os.path.exists(f"/proc/{c}")]  # and are gone
