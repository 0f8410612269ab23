"""Run sizes read by a process forked before Textual is imported (``ckpt_tui.app.head_start``):
shown as the app's own size pass would show them; whatever the process does not send (it ends
early, is killed, cannot size a run) the app sizes itself or leaves to the run's full read; and
the process never outlives the app, whether the user quits or presses Ctrl+C."""

from __future__ import annotations

import os
import pty
import select
import signal
import sys
import time
from pathlib import Path

import pytest
from app_helpers import RecordingApp, main
from app_scenarios import settle

from ckpt_tui.app.head_start import HeadStart, local_path, size_every_run
from ckpt_tui.app.screens.main import MainScreen
from ckpt_tui.core.store import RunSize
from ckpt_tui.stores.local import LocalStore

REPO = Path(__file__).resolve().parents[2]


class CountedSizes(LocalStore):
    """The app's own size pass, counted."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sized: list[tuple[str, str]] = []

    def run_size(self, project, run):
        self.sized.append((project, run))
        return super().run_size(project, run)


def listed(store) -> list[tuple[str, str]]:
    return [(p, r) for p in store.list_projects() for r in store.list_runs(p)]


def alive(pid: int) -> bool:
    """Whether ``pid`` runs still (a zombie, ended but not reaped, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def never_ends(store, send) -> None:
    """A size pass that never sends anything: what a slow location looks like."""
    read_end, _ = os.pipe()
    os.read(read_end, 1)


class SizesSeen(MainScreen):
    """The main screen, keeping every size the run list was given."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes_seen: dict = {}

    def show_sizes(self, sizes, last=False) -> None:
        self.sizes_seen.update(sizes)
        super().show_sizes(sizes, last)


class SizesApp(RecordingApp):
    def get_default_screen(self) -> SizesSeen:
        return SizesSeen()


async def sizes_shown(demo_base: Path, head_start: HeadStart) -> tuple[dict, CountedSizes]:
    """The sizes the run list was given (before any full read's summary), and the app's store."""
    store = CountedSizes(demo_base)
    app = SizesApp(store, head_start=head_start)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert not app.said("rror")
        shown = main(app).sizes_seen
    head_start.close()
    assert head_start.pid is None  # reaped
    return shown, store


async def test_the_sizes_the_process_sends_are_shown_and_not_read_again(demo_base):
    head_start = HeadStart.fork(str(demo_base), size_every_run)
    pid = head_start.pid
    shown, store = await sizes_shown(demo_base, head_start)
    reference = LocalStore(demo_base)
    keys = listed(reference)
    assert shown == {key: reference.run_size(*key) for key in keys}
    assert store.sized == []  # none sized again in the app
    assert not alive(pid)


async def test_a_process_that_ends_early_leaves_the_other_runs_to_the_app(demo_base):
    keys = listed(LocalStore(demo_base))

    def first_only(store, send):  # a made-up size: seen on screen only if it came from the process
        send((keys[0], RunSize(999, 1)))

    shown, store = await sizes_shown(demo_base, HeadStart.fork(str(demo_base), first_only))
    reference = LocalStore(demo_base)
    assert shown == {keys[0]: RunSize(999, 1), **{key: reference.run_size(*key) for key in keys[1:]}}
    assert store.sized == keys[1:]


async def test_a_killed_process_leaves_every_run_to_the_app(demo_base):
    head_start = HeadStart.fork(str(demo_base), never_ends)
    pid = head_start.pid
    os.kill(pid, signal.SIGKILL)
    shown, store = await sizes_shown(demo_base, head_start)
    keys = listed(LocalStore(demo_base))
    assert shown == {key: LocalStore(demo_base).run_size(*key) for key in keys} and store.sized == keys
    assert not alive(pid)


async def test_a_run_the_process_cannot_size_is_left_to_its_full_read_as_in_the_app(demo_base):
    keys = listed(LocalStore(demo_base))

    def one_fails(store, send):
        real = store.run_size
        store.run_size = lambda project, run: 1 / 0 if (project, run) == keys[1] else real(project, run)
        size_every_run(store, send)

    shown, store = await sizes_shown(demo_base, HeadStart.fork(str(demo_base), one_fails))
    reference = LocalStore(demo_base)
    assert shown == {key: reference.run_size(*key) for key in keys if key != keys[1]}  # not sized again
    assert store.sized == []


def test_only_a_directory_gets_a_head_start():
    assert local_path("/data/ckpts") == "/data/ckpts" and local_path("file:///data") == "/data"
    assert local_path("s3://bucket/x") is None and local_path(lambda: "/x") is None


# The app as `ckpt-tui LOCATION` starts it, its size pass replaced by one that tells its pid
# through a FIFO and then waits forever: only the app ending it can end it.
PROBE = r"""
import os, signal, sys
from ckpt_tui.app import head_start

told = sys.argv[2]

def wait_forever(store, send):
    # Here the app leads the terminal's session, whose end hangs its processes up; under a
    # shell it does not: only the app may end this one.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    with open(told, "w") as fifo:
        fifo.write(str(os.getpid()))
    os.read(os.pipe()[0], 1)

head_start.size_every_run = wait_forever
from ckpt_tui.cli import main
sys.argv = ["ckpt-tui", sys.argv[1]]
sys.exit(main())
"""


def start_probe(location: Path, fifo: Path) -> tuple[int, int, int]:
    """The app in a pseudo-terminal; its pid, the terminal, and the pid of its size pass."""
    os.mkfifo(fifo)
    pid, terminal = pty.fork()
    if pid == 0:
        os.environ.update(TERM="xterm-256color", PYTHONPATH=str(REPO), COLUMNS="120", LINES="36")
        os.execv(sys.executable, [sys.executable, "-c", PROBE, str(location), str(fifo)])
    told, end, data = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK), time.monotonic() + 60, b""
    try:
        while not data and time.monotonic() < end:  # until the size pass runs and says its pid
            if select.select([told], [], [], 0.1)[0]:
                data = os.read(told, 64)
    finally:
        os.close(told)
    assert data, "the size pass never started"
    return pid, terminal, int(data)


def read_until(terminal: int, marker: bytes, deadline: float = 60.0) -> None:
    output, end = b"", time.monotonic() + deadline
    while marker not in output:
        assert time.monotonic() < end, f"never showed {marker!r}"
        if select.select([terminal], [], [], 0.1)[0]:
            output += os.read(terminal, 1 << 16)


def ended(pid: int, terminal: int) -> int:
    """The app's exit status, once it ended (the terminal drained meanwhile)."""
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            os.close(terminal)
            return status
        if select.select([terminal], [], [], 0.1)[0]:
            try:
                os.read(terminal, 1 << 16)
            except OSError:
                pass


@pytest.mark.parametrize("how", ["q", "sigint"])
def test_quitting_or_ctrl_c_before_the_sizes_arrive_leaves_no_process(demo_base, tmp_path, how):
    pid, terminal, sizer = start_probe(demo_base, tmp_path / "fifo")
    try:
        assert alive(sizer)
        if how == "q":
            read_until(terminal, b"opening")  # the frame is up
            os.write(terminal, b"q")
        else:  # Ctrl+C while the app starts: the signal a terminal sends before the app reads keys
            os.kill(pid, signal.SIGINT)
        ended(pid, terminal)
        assert not alive(sizer)
    finally:
        for process in (pid, sizer):
            try:
                os.kill(process, signal.SIGKILL)
            except ProcessLookupError:
                pass
