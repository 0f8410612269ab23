"""The app's first paint and key latency, against Textual's own floor, in one run.

    python bench/app.py                 # everything below (about a minute)
    python bench/app.py --first-paint   # only the first paint
    python bench/app.py --keys          # only key latency and preview time
    python bench/app.py --compare       # only the compare chart of 10 runs x 20,000 steps
    python bench/app.py --keys --only i,shift,search,M   # only keys whose names start so
    python bench/app.py --keys --only=D,L,C,jump,M       # (either spelling)

First paint: both programs are started as whole commands in the same harness, a
pseudo-terminal of 120x36 with TERM=xterm-256color (as over SSH), and timed from
the start of the process to the first bytes of a marker on the terminal:

- the floor: a bare Textual app drawing a 20-row DataTable (``floor_app.py``),
  until its last row is on screen;
- ``ckpt-tui`` on a generated tree of 10,000 checkpoints: until its frame (the
  top line with the location) is on screen, until the run list is, and until
  the first run's steps are (the table's header).

Both start from bytecode, as after ``pip install``.

Key latency: in the same pty harness, on a run of 20,000 steps (its location's
activity log holding 300 entries of another session, which L lists), from writing
a key to the last bytes of the screen update it causes (nothing more written for
150 ms after them); the 95th percentile per key, the floor app's for Down/Up
beside it, and the time of a preview (v) of that run.
"""

from __future__ import annotations

import os
import pty
import select
import statistics
import struct
import sys
import tempfile
import termios
import fcntl
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FLOOR = Path(__file__).with_name("floor_app.py")
SIZE = (120, 36)
ROUNDS = 11
FIRST_CONTENT_GOAL = 1.15  # first content against a bare Textual app's first paint plus du -sb
KEY_GOAL, JUMP_GOAL = 0.050, 0.100  # seconds: any key's p95; a jump and a mark by condition
COMPARE_GOAL = 0.200  # seconds: the compare chart of 10 runs x 20,000 steps drawn
TREE_RUNS = 10  # 10 runs of 1,000 checkpoints
BIG_RUN = 20_000
LOG_ENTRIES = 300  # in the location's activity log, from another session: L lists the newest 200
# As over SSH; and every step of the freshly built tree counts as settled at once (on a loaded
# machine building takes longer than the minute a step must stay unchanged, and the last ones
# would be shown as saves in progress).
CHILD_ENV = {"TERM": "xterm-256color", "CKPT_TUI_SETTLE_SECONDS": "0"}


def build_tree(base: Path, runs: int, steps: int) -> Path:
    """Runs of ``steps`` checkpoints saved every 7 minutes, the last one a day ago (the demo's
    fixed clock would put the steps of a long run in the future: saves still being written)."""
    from datetime import datetime, timedelta, timezone

    from ckpt_tui import demo

    demo.DEMO_EPOCH = datetime.now(timezone.utc) - timedelta(days=1, minutes=7 * steps)
    specs = tuple(demo.DemoRun("bench", f"run-{i:02d}", steps, 1, val_every=10) for i in range(runs))
    return demo.build_demo(base, runs=specs)


def write_log(base: Path, entries: int) -> None:
    """The location's activity log as another session left it: ``entries`` deletions, which L lists."""
    import json
    from datetime import datetime, timedelta, timezone

    start = datetime.now(timezone.utc) - timedelta(days=2)
    lines = (json.dumps({"time": (start + timedelta(minutes=i)).isoformat(), "project": "bench", "run": "run-00",
                         "step": i, "action": "deleted", "bytes": 1_234_567 + i,
                         "reasons": ["rule: keep best val/reward + latest"], "user": "alice"}) for i in range(entries))
    (base / ".ckpt-tui.log").write_text("".join(line + "\n" for line in lines))


def cpu_ms(pid: int) -> float:
    """CPU milliseconds of all the threads of a running process so far (0 once it is gone)."""
    total = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/schedstat") as stat:
                total += int(stat.read().split()[0])
    except OSError:
        pass  # ended meanwhile
    return total / 1e6


def child_pids(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            return [int(child) for child in children.read().split()]
    except OSError:
        return []


def time_to_markers(command: list[str], markers: list[bytes], timeout: float = 30.0, settle: float = 0.0,
                    before_exit: Callable[[int], None] | None = None,
                    on_start: Callable[[int], None] | None = None, cpu: list | None = None) -> list[float]:
    """Seconds from starting ``command`` in a pty until each marker has appeared; with
    ``settle``, the program then runs until it has drawn nothing for that long, and
    ``before_exit`` is given its pid before it is killed (``on_start`` once it started).
    With ``cpu``, the CPU milliseconds of the program and of its child processes (sampled
    while they live) when each marker appeared are added to it."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: a terminal as over SSH
        os.environ.update(CHILD_ENV, COLUMNS=str(SIZE[0]), LINES=str(SIZE[1]))
        os.environ.pop("COLORTERM", None)
        os.execvp(command[0], command)
    if on_start is not None:
        on_start(pid)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", SIZE[1], SIZE[0], 0, 0))
    start = time.perf_counter()
    seen, output, children = {}, b"", {}
    try:
        while len(seen) < len(markers) and time.perf_counter() - start < timeout:
            if cpu is not None:  # children are sampled while they live: once reaped, their time is gone
                children.update((child, cpu_ms(child) or children.get(child, 0)) for child in child_pids(pid))
            ready, _, _ = select.select([fd], [], [], 0.005 if cpu is not None else 0.05)
            if not ready:
                continue
            try:
                output += os.read(fd, 65536)
            except OSError:
                break
            for marker in markers:
                if marker not in seen and marker in output:
                    seen[marker] = time.perf_counter() - start
                    if cpu is not None:
                        cpu.append((cpu_ms(pid), sum(children.values())))
        quiet_since = time.perf_counter()
        while settle and time.perf_counter() - quiet_since < settle and time.perf_counter() - start < timeout:
            if select.select([fd], [], [], 0.05)[0]:
                try:
                    os.read(fd, 65536)
                except OSError:
                    break
                quiet_since = time.perf_counter()
        if before_exit is not None:
            before_exit(pid)
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(fd)
    missing = [m for m in markers if m not in seen]
    if missing:
        raise RuntimeError(f"{command}: never showed {missing}")
    return [seen[m] for m in markers]


def compile_package() -> None:
    """Bytecode for ckpt_tui, as ``pip install`` leaves it (and as Textual has it): without
    it, an environment with PYTHONDONTWRITEBYTECODE compiles every module at each start."""
    import compileall

    compileall.compile_dir(str(ROOT / "ckpt_tui"), quiet=1)


def first_paint() -> None:
    compile_package()
    with tempfile.TemporaryDirectory(prefix="paint") as tmp:
        base = build_tree(Path(tmp) / ".art", TREE_RUNS, 1000)
        floor_cmd = [sys.executable, str(FLOOR)]
        du_cmd = ["du", "-sb", str(base)]
        app_cmd = [sys.executable, "-m", "ckpt_tui", str(base)]
        floors, dus, frames, lists, contents, steps = [], [], [], [], [], []
        floor_cpu, du_cpu, app_cpu = [], [], []  # CPU ms at the marker: what other load does not inflate much
        for _ in range(ROUNDS):  # interleaved, so that all three see the same machine
            cpu: list = []
            floors.append(time_to_markers(floor_cmd, [b"row 19"], cpu=cpu)[0])
            dus.append(du_seconds(du_cmd, du_cpu))
            # The frame, the run names, every run's size (the total on the top line), the first run's steps.
            frame, listed, sized, shown = time_to_markers(app_cmd, [b"/paint", b"run-09", b"10000 checkpoints",
                                                                    b"modified"], cpu=cpu)
            floor_cpu.append(cpu[0][0])
            app_cpu.append(cpu[3])  # at first content: the app's own process, and its child processes
            frames.append(frame)
            lists.append(listed)
            contents.append(sized)
            steps.append(shown)
    print(f"first paint over {ROUNDS} rounds (10,000 checkpoints, pty {SIZE[0]}x{SIZE[1]}); the best "
          "round is the figure least disturbed by other load, the median is shown beside it:")
    floor = min(floors)
    for name, times in (("floor (bare Textual app, 20-row DataTable)", floors), ("du -sb of the tree", dus),
                        ("ckpt-tui frame on screen", frames), ("ckpt-tui run list on screen", lists),
                        ("ckpt-tui run names and sizes on screen", contents),
                        ("ckpt-tui first run's steps on screen", steps)):
        best, median = min(times), statistics.median(times)
        ratio = "" if times in (floors, dus) else (f"  ratio {best / floor:.2f}x ({(best - floor) * 1000:+.0f} ms), "
                                                   f"median ratio {median / statistics.median(floors):.2f}x")
        print(f"  {name:<42} best {best * 1000:4.0f} ms  median {median * 1000:4.0f} ms{ratio}")
    # First content against the sum of the two floors: a bare Textual app's first paint and du -sb.
    both = [f + d for f, d in zip(floors, dus)]
    print(f"  first content (run names and sizes) against bare app + du -sb: best {min(contents) / min(both):.2f}x, "
          f"median {statistics.median(contents) / statistics.median(both):.2f}x, "
          f"per round median {statistics.median(c / b for c, b in zip(contents, both)):.2f}x "
          f"(goal: at most {FIRST_CONTENT_GOAL}x)")
    own, children = statistics.median(c for c, _ in app_cpu), statistics.median(c for _, c in app_cpu)
    floor_ms, du_ms = statistics.median(floor_cpu), statistics.median(du_cpu)
    print(f"  CPU medians: floor {floor_ms:.0f} ms at its paint, du -sb {du_ms:.0f} ms; ckpt-tui at first content "
          f"{own:.0f} ms in its own process ({own / floor_ms:.2f}x the floor's), {children:.0f} ms in the "
          f"size pass started beside it; own process against floor + du {own / (floor_ms + du_ms):.2f}x")


def du_seconds(command: list[str], cpu: list[float]) -> float:
    """Wall seconds of ``du`` until it printed its figure; its CPU milliseconds added to ``cpu``."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds = time_to_markers(command, [command[-1].encode()])[0]
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu.append((after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000)
    return seconds


class Terminal:
    """A program in a pseudo-terminal: type keys, time what it writes back."""

    def __init__(self, command: list[str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.environ.update(CHILD_ENV, COLUMNS=str(SIZE[0]), LINES=str(SIZE[1]))
            os.environ.pop("COLORTERM", None)
            os.execvp(command[0], command)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", SIZE[1], SIZE[0], 0, 0))
        self.output = b""
        self.cpu = 0.0  # CPU seconds the last key press cost

    def read(self, timeout: float) -> bytes:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        chunk = os.read(self.fd, 1 << 16) if ready else b""
        self.output += chunk
        return chunk

    def wait_for(self, marker: bytes, timeout: float = 60.0) -> None:
        start = time.perf_counter()
        while marker not in self.output:
            if time.perf_counter() - start > timeout:
                raise RuntimeError(f"never showed {marker!r}")
            self.read(0.05)

    def settle(self, quiet: float = 0.3) -> None:
        while self.read(quiet):
            pass

    def press(self, key: bytes, quiet: float = 0.15) -> tuple[float, float]:
        """Seconds from the key to the first bytes written back, and to the last
        (the screen complete: nothing more is written for ``quiet`` seconds)."""
        self.settle(0.05)
        cpu = self.cpu_seconds()
        start = time.perf_counter()
        os.write(self.fd, key)
        if not self.read(5.0):
            raise RuntimeError(f"{key!r} changed nothing on screen")
        first = last = time.perf_counter()
        while self.read(quiet):
            last = time.perf_counter()
        self.cpu = self.cpu_seconds() - cpu  # what the key cost the program, whatever else runs
        return first - start, last - start

    def cpu_seconds(self) -> float:
        """CPU time of all the program's threads so far (nanoseconds in schedstat)."""
        total = 0
        for task in os.listdir(f"/proc/{self.pid}/task"):
            try:
                with open(f"/proc/{self.pid}/task/{task}/schedstat") as stat:
                    total += int(stat.read().split()[0])
            except OSError:
                pass  # a thread that just ended
        return total / 1e9

    def close(self) -> None:
        os.kill(self.pid, 9)
        os.waitpid(self.pid, 0)
        os.close(self.fd)


KEYS = {"down/up": [b"\x1b[B", b"\x1b[A"], "pagedown/pageup": [b"\x1b[6~", b"\x1b[5~"],
        "home/end": [b"\x1b[H", b"\x1b[F"], "space (mark)": [b"\x1b[A", b" "],
        "p (pin)": [b"p"], "d (direction)": [b"d"], "s (sort)": [b"s"], "n/N (jump)": [b"n", b"N"],
        "shift+up (range)": [b"\x1b[1;2A"], "i (invert marks)": [b"i"], "a i (all, invert)": [b"a", b"i"],
        "D (files, open/close)": [b"D", b"D"], "L (activity log)": [b"L", b"L"],
        "C (compare, open/close)": [b"C", b"C"]}
JUMPS = (b"12000", b"500", b"19999", b"7777", b"15000")
CONDITIONS = (b"val/reward < 0.5", b"size > 1k and step < 9000", b"step >= 100 and step <= 200")


def p95(times: list[float]) -> float:
    times = sorted(times)
    return times[min(len(times) - 1, int(len(times) * 0.95))]


def chosen(name: str, only: tuple[str, ...]) -> bool:
    """Whether the key (or key sequence) ``name`` is measured: all of them unless ``--only`` names some."""
    return not only or name.startswith(only)


def key_latency(only: tuple[str, ...] = ()) -> None:
    compile_package()
    floor = Terminal([sys.executable, str(FLOOR)])
    floor.wait_for(b"row 19")
    floor_times, floor_cpu = [], []
    for key in [b"\x1b[B", b"\x1b[A"] * 15:
        floor_times.append(floor.press(key)[1])
        floor_cpu.append(floor.cpu)
    floor.close()
    with tempfile.TemporaryDirectory(prefix="keys") as tmp:
        base = build_tree(Path(tmp) / ".art", 1, BIG_RUN)
        write_log(base, LOG_ENTRIES)
        app = Terminal([sys.executable, "-m", "ckpt_tui", str(base)])
        app.wait_for(b"20000 checkpoints")
        app.settle(1.0)
        app.press(b"\r")  # from the run list to the steps
        print(f"key press to updated screen, run of {BIG_RUN:,} steps (pty {SIZE[0]}x{SIZE[1]}, "
              f"until nothing more is written for 150 ms):")
        print(f"  floor (bare Textual app, DataTable down/up)  p95 {p95(floor_times) * 1000:6.1f} ms  "
              f"CPU p95 {p95(floor_cpu) * 1000:5.1f} ms")
        worst = worst_cpu = 0.0

        def timed(key: bytes) -> tuple[float, float]:
            """Wall seconds to the complete screen, and the CPU seconds the key cost."""
            return app.press(key)[1], app.cpu

        for name, keys in KEYS.items():
            if not chosen(name, only):
                continue
            times = [(app.press(key), app.cpu) for key in keys * (30 // len(keys))]
            full, cpu = p95([t for (_, t), _ in times]), p95([c for _, c in times])
            worst, worst_cpu = max(worst, full), max(worst_cpu, cpu)
            print(f"  {name:<24} p95 {full * 1000:6.1f} ms  CPU p95 {cpu * 1000:5.1f} ms  "
                  f"(first bytes p95 {p95([t for (t, _), _ in times]) * 1000:5.1f} ms)")
        jumps, enters, nexts, marks, typing = [], [], [], [], []
        for target in JUMPS if chosen("jump", only) or chosen("typing", only) else ():
            app.press(b":")
            typing += [timed(bytes([c])) for c in target]
            jumps.append(timed(b"\r"))
        for text in (b"0.51", b"1234") if chosen("search", only) or chosen("typing", only) else ():
            app.press(b"/")
            os.write(app.fd, b"\x15")  # ctrl+u: the dialog opens with the last search in it
            app.settle(0.1)
            typing += [timed(bytes([c])) for c in text]
            enters.append(timed(b"\r"))
            nexts.extend(timed(b"n") for _ in range(5))
        for text in CONDITIONS if chosen("M", only) or chosen("typing", only) else ():
            app.press(b"M")
            typing += [timed(bytes([c])) for c in text]  # the dialog counts as you type
            marks.append(timed(b"\r"))

        def summary(times: list[tuple[float, float]]) -> str:
            if not times:
                return "not measured"
            walls, cpus = [w for w, _ in times], [c for _, c in times]
            return (f"median {statistics.median(walls) * 1000:6.1f} ms  max {max(walls) * 1000:6.1f} ms  "
                    f"CPU median {statistics.median(cpus) * 1000:5.1f} ms  max {max(cpus) * 1000:5.1f} ms")

        if jumps:
            print(f"  jump (: N Enter)          {summary(jumps)}  (goal: at most {JUMP_GOAL * 1000:.0f} ms)")
        if marks:
            print(f"  mark by condition (M)     {summary(marks)}  (goal: at most {JUMP_GOAL * 1000:.0f} ms)")
        if enters:
            searches = enters + nexts

            def each(times: list[tuple[float, float]]) -> str:
                return " ".join(f"{w * 1000:.0f}/{c * 1000:.0f}" for w, c in times)

            print(f"  search (/ Enter, n)       p95 {p95([w for w, _ in searches]) * 1000:6.1f} ms  "
                  f"CPU p95 {p95([c for _, c in searches]) * 1000:5.1f} ms  (goal: at most {KEY_GOAL * 1000:.0f} ms)\n"
                  f"    each, wall/CPU ms: Enter {each(enters)}; n {each(nexts)}")
        if typing:
            print(f"  typing in those dialogs   p95 {p95([w for w, _ in typing]) * 1000:6.1f} ms  "
                  f"CPU p95 {p95([c for _, c in typing]) * 1000:5.1f} ms")
        previews = []
        for _ in range(5 if chosen("v", only) else 0):
            previews.append(app.press(b"v")[1])
            app.press(b"\x1b", quiet=0.3)  # Esc clears the preview (after ESCDELAY)
        app.close()
    print(f"  worst key p95 {worst * 1000:.1f} ms ({worst / p95(floor_times):.2f}x the floor; "
          f"goal: at most {KEY_GOAL * 1000:.0f} ms), CPU p95 {worst_cpu * 1000:.1f} ms" + (
          f"; preview (v) of the run: median {statistics.median(previews) * 1000:.0f} ms, "
          f"max {max(previews) * 1000:.0f} ms" if previews else ""))


def compare_chart(runs: int = 10, steps: int = BIG_RUN) -> None:
    """The compare chart of ``runs`` runs of ``steps`` logged steps each, headless, in-process:
    from the curves in memory to the frame drawn (first draw, then redraws with smoothing)."""
    import asyncio
    import math

    from textual.app import App
    from ckpt_tui.app.widgets.plotext_chart import ChartPlot

    from ckpt_tui.app.screens.compare import CompareRuns, Curve
    from ckpt_tui.core.retention import Policy

    curves = [Curve(f"run-{i}", [(s, math.sin(s / 700 + i) + s / steps) for s in range(steps)]) for i in range(runs)]

    class Bench(App):
        CSS_PATH = ROOT / "ckpt_tui" / "app" / "app.tcss"

    async def measure() -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        app = Bench()
        async with app.run_test(size=SIZE) as pilot:
            firsts = []
            for _ in range(5):  # the dialog opened afresh each time
                dialog = CompareRuns([], Policy(metric="val/reward"))
                dialog.read_curves = lambda: None  # the curves are given below
                await app.push_screen(dialog)
                await pilot.pause()
                start, cpu = time.perf_counter(), time.process_time()
                await dialog.show_curves(curves, ChartPlot)
                await pilot.pause()
                firsts.append((time.perf_counter() - start, time.process_time() - cpu))
                if len(firsts) < 5:
                    app.pop_screen()
                    await pilot.pause()
            redraws = []
            for key in ("right_square_bracket", "right_square_bracket", "plus", "left", "comma") * 2:
                start, cpu = time.perf_counter(), time.process_time()
                await pilot.press(key)
                await pilot.pause()
                redraws.append((time.perf_counter() - start, time.process_time() - cpu))
            return firsts, redraws

    # CPU time beside wall time: on a loaded machine the wall clock counts other programs' turns.
    firsts, redraws = asyncio.run(measure())
    walls, cpus = [w for w, _ in redraws], [c for _, c in redraws]
    first = (statistics.median(w for w, _ in firsts), statistics.median(c for _, c in firsts))
    print(f"compare chart, {runs} runs x {steps:,} steps: first draw median of 5 {first[0] * 1000:.0f} ms "
          f"(CPU {first[1] * 1000:.0f} ms; goal: at most {COMPARE_GOAL * 1000:.0f} ms); "
          f"redraw ([ ] + - ← ,) median {statistics.median(walls) * 1000:.0f} ms "
          f"(CPU {statistics.median(cpus) * 1000:.0f} ms), max {max(walls) * 1000:.0f} ms (CPU {max(cpus) * 1000:.0f} ms)")


def main() -> None:
    args = sys.argv[1:]
    if not args or "--first-paint" in args:
        first_paint()
    if not args or "--keys" in args:
        only = next((a.split("=", 1)[1] for a in args if a.startswith("--only=")), None)
        if "--only" in args:
            only = args[args.index("--only") + 1]
        only = tuple(only.split(",")) if only else ()
        key_latency(only)
    if not args or "--compare" in args:
        compare_chart()


if __name__ == "__main__":
    main()
