"""Peak memory of the app and of ``ls --json`` on the same location of 100,000 checkpoints.

Builds the tree of ``scan.py`` (100 runs x 1,000 checkpoints x 3 files, each run with its
history), then measures the peak resident memory (VmHWM; for ``ls``, its largest process)

* of ``ckpt-tui ls LOC --json``;
* of the app on the same location in a pseudo-terminal (as ``app.py`` starts it), once
  it has shown the first run's steps and then drawn nothing for ``--settle`` seconds
  (every run's summary read by then);

and prints the ratio against the floor of 2x. The app's figure is the largest of its
processes (any child is sampled while it lives). A bare Textual app drawing a 20-row table (``floor_app.py``) is measured the same
way, for what Textual alone takes. Run:

    python bench/memory.py [--runs 100] [--steps 1000] [--settle 15]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from app import FLOOR, child_pids, compile_package, time_to_markers
from scan import ENV, build, peak_memory

FLOOR_RATIO = 2.0


def peak_of(pid: int) -> int:
    """The highest resident memory of a running process, in bytes (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def app_peak(command: list[str], markers: list[bytes], settle: float) -> tuple[int, int]:
    """Peak resident memory of the app's own process and of its largest child process."""
    import threading

    peaks: dict[int, int] = {}
    started: list[int] = []
    done = threading.Event()

    def sample() -> None:  # children live a while only: their peak is sampled while they do
        while not done.wait(0.02):
            for pid in started:
                for child in child_pids(pid):
                    peaks[child] = max(peaks.get(child, 0), peak_of(child))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    own: list[int] = []

    def before_exit(pid: int) -> None:
        own.append(peak_of(pid))

    try:
        time_to_markers(command, markers, timeout=600, settle=settle, before_exit=before_exit,
                        on_start=started.append)
    finally:
        done.set()
        sampler.join()
    return own[0], max(peaks.values(), default=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--steps", type=int, default=1000)
    # Under load a quiet spell of 5 s came before every run was read: the figure was too low.
    parser.add_argument("--settle", type=float, default=15.0, help="seconds without drawing that end the app's run")
    args = parser.parse_args()
    compile_package()
    os.environ.update(ENV)
    root = Path(tempfile.mkdtemp(prefix="ckpt-tui-memory-bench-", dir=os.environ.get("BENCH_DIR")))
    try:
        base = root / ".art"
        build(base, args.runs, args.steps)
        ls = peak_memory([sys.executable, "-m", "ckpt_tui", "ls", str(base), "--json"])
        textual, _ = app_peak([sys.executable, str(FLOOR)], [b"row 19"], args.settle)
        own, child = app_peak([sys.executable, "-m", "ckpt_tui", str(base)], [b"run-000", b"modified"], args.settle)
        app = max(own, child)
        print(f"tree: {args.runs * args.steps} checkpoints in {args.runs} runs")
        print(f"ckpt-tui ls --json            {ls / 2**20:7.1f} MB")
        print(f"bare Textual app (floor_app)  {textual / 2**20:7.1f} MB   ratio {textual / ls:5.2f}x ls: Textual alone")
        print(f"ckpt-tui (the app)            {own / 2**20:7.1f} MB   its run-reading child {child / 2**20:.1f} MB")
        print(f"  largest app process: ratio {app / ls:5.2f}x ls (goal: at most {FLOOR_RATIO}x), "
              f"{app / textual:.2f}x a bare Textual app")
    finally:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
