"""The app's first paint and key latency, against Textual's own floor, in one run.

    python bench/app.py                 # everything below (about a minute)
    python bench/app.py --first-paint   # only the first paint
    python bench/app.py --keys          # only key latency and preview time

First paint: both programs are started as whole commands in the same harness, a
pseudo-terminal of 120x36 with TERM=xterm-256color (as over SSH), and timed from
the start of the process to the first bytes of a marker on the terminal:

- the floor: a bare Textual app drawing a 20-row DataTable (``--floor``), until
  its last row is on screen;
- ``ckpt-tui`` on a generated tree of 10,000 checkpoints: until its frame (the
  top line with the location) is on screen, and until the run list and the
  first run's steps are.

Key latency: the app driven headless (Textual's own test driver, in process) on
a run of 20,000 steps, from pressing a key to the screen refreshed after it; the
95th percentile per key, and the time of a preview (v) of that run.
"""

from __future__ import annotations

import asyncio
import os
import pty
import select
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import fcntl
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIZE = (120, 36)
ROUNDS = 7
TREE_RUNS = 10  # 10 runs of 1,000 checkpoints
BIG_RUN = 20_000


def floor_app() -> None:
    """The floor: a bare Textual app that draws a 20-row table."""
    from textual.app import App
    from textual.widgets import DataTable

    class Floor(App):
        def compose(self):
            yield DataTable()

        def on_mount(self) -> None:
            table = self.query_one(DataTable)
            table.add_columns("step", "size", "modified", "val/reward")
            table.add_rows((f"row {i}", f"{i * 7} MB", "2026-11-20 09:00", f"0.{i:03d}") for i in range(20))

    Floor().run()


def build_tree(base: Path, runs: int, steps: int) -> Path:
    from ckpt_tui.demo import DemoRun, build_demo

    specs = tuple(DemoRun("bench", f"run-{i:02d}", steps, 1, val_every=10) for i in range(runs))
    return build_demo(base, runs=specs)


def time_to_markers(command: list[str], markers: list[bytes], timeout: float = 30.0) -> list[float]:
    """Seconds from starting ``command`` in a pty until each marker has appeared."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: a terminal as over SSH
        os.environ.update(TERM="xterm-256color", COLUMNS=str(SIZE[0]), LINES=str(SIZE[1]))
        os.environ.pop("COLORTERM", None)
        os.execvp(command[0], command)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", SIZE[1], SIZE[0], 0, 0))
    start = time.perf_counter()
    seen, found, output = {}, 0, b""
    try:
        while len(seen) < len(markers) and time.perf_counter() - start < timeout:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if not ready:
                continue
            try:
                output += os.read(fd, 65536)
            except OSError:
                break
            for marker in markers:
                if marker not in seen and marker in output:
                    seen[marker] = time.perf_counter() - start
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(fd)
    missing = [m for m in markers if m not in seen]
    if missing:
        raise RuntimeError(f"{command}: never showed {missing}")
    return [seen[m] for m in markers]


def first_paint() -> None:
    with tempfile.TemporaryDirectory(prefix="paint") as tmp:
        base = build_tree(Path(tmp) / ".art", TREE_RUNS, 1000)
        floor_cmd = [sys.executable, __file__, "--floor"]
        app_cmd = [sys.executable, "-m", "ckpt_tui", str(base)]
        floors, frames, lists = [], [], []
        for _ in range(ROUNDS):  # interleaved, so that both see the same machine
            floors.append(time_to_markers(floor_cmd, [b"row 19"])[0])
            frame, listed = time_to_markers(app_cmd, [b"/paint", b"run-09"])
            frames.append(frame)
            lists.append(listed)
    floor, frame, listed = (statistics.median(x) for x in (floors, frames, lists))
    print(f"first paint, medians of {ROUNDS} (10,000 checkpoints, pty {SIZE[0]}x{SIZE[1]}):")
    print(f"  floor (bare Textual app, 20-row DataTable)  {floor * 1000:6.0f} ms")
    print(f"  ckpt-tui frame on screen                    {frame * 1000:6.0f} ms  "
          f"ratio {frame / floor:.2f}x  ({(frame - floor) * 1000:+.0f} ms)")
    print(f"  ckpt-tui run list and steps on screen       {listed * 1000:6.0f} ms  "
          f"ratio {listed / floor:.2f}x")


async def key_latency() -> None:
    from datetime import timezone

    from ckpt_tui.app.app import CkptApp
    from ckpt_tui.app.widgets import CheckpointTable

    with tempfile.TemporaryDirectory() as tmp:
        base = build_tree(Path(tmp) / ".art", 1, BIG_RUN)
        app = CkptApp(str(base), timezone=timezone.utc, cursor_blink=False)
        async with app.run_test(size=SIZE) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
            table = app.screen.query_one(CheckpointTable)
            while len(table.rows) < BIG_RUN or not app.screen.metrics_ready:
                await pilot.pause(0.05)
            await app.workers.wait_for_complete()
            await pilot.pause()
            table.focus()

            async def timed(key: str) -> float:
                start = time.perf_counter()
                await pilot.press(key)
                await pilot.pause()  # the screen refreshed after the key
                return time.perf_counter() - start

            print(f"key press to updated screen, run of {BIG_RUN:,} steps (headless, {SIZE[0]}x{SIZE[1]}):")
            sequences = {
                "down/up": ["up", "down"] * 20, "pagedown/pageup": ["pageup", "pagedown"] * 10,
                "home/end": ["home", "end"] * 10, "space (mark)": ["up", "space"] * 10,
                "p (pin)": ["p", "p"] * 10, "d (direction)": ["d"] * 21, "s (sort)": ["s"] * 12,
                "n/N (jump)": ["n", "N"] * 10, "v, Esc (preview)": ["v", "escape"] * 5,
            }
            worst = 0.0
            for name, keys in sequences.items():
                times = sorted([await timed(k) for k in keys])
                p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
                if not name.startswith("v"):
                    worst = max(worst, p95)
                print(f"  {name:<18} p95 {p95 * 1000:6.1f} ms   median {statistics.median(times) * 1000:6.1f} ms")
            previews = []
            for _ in range(5):
                previews.append(await timed("v"))
                await timed("escape")
            print(f"  worst p95 over keys {worst * 1000:.1f} ms; preview (v) of the run: "
                  f"median {statistics.median(previews) * 1000:.0f} ms, max {max(previews) * 1000:.0f} ms")


def main() -> None:
    args = sys.argv[1:]
    if args == ["--floor"]:
        floor_app()
        return
    if shutil.which(sys.executable) is None:
        raise SystemExit("no python")
    if not args or "--first-paint" in args:
        first_paint()
    if not args or "--keys" in args:
        asyncio.run(key_latency())


if __name__ == "__main__":
    main()
