"""Peak memory of the app and of ``ls --json`` on the same location of 100,000 checkpoints.

Builds the tree of ``scan.py`` (100 runs x 1,000 checkpoints x 3 files, each run with its
history), then measures the peak resident memory (VmHWM; for ``ls``, its largest process)

* of ``ckpt-tui ls LOC --json``;
* of the app on the same location in a pseudo-terminal (as ``app.py`` starts it), once
  it has shown the first run's steps and then drawn nothing for ``--settle`` seconds
  (every run's summary read by then);

and prints the ratio against the floor of 2x. Run:

    python bench/memory.py [--runs 100] [--steps 1000] [--settle 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from app import compile_package, time_to_markers
from scan import ENV, build, peak_memory

FLOOR_RATIO = 2.0


def peak_of(pid: int) -> int:
    """The highest resident memory of a running process, in bytes."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM for {pid}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--settle", type=float, default=5.0, help="seconds without drawing that end the app's run")
    args = parser.parse_args()
    compile_package()
    os.environ.update(ENV)
    root = Path(tempfile.mkdtemp(prefix="ckpt-tui-memory-bench-", dir=os.environ.get("BENCH_DIR")))
    try:
        base = root / ".art"
        build(base, args.runs, args.steps)
        ls = peak_memory([sys.executable, "-m", "ckpt_tui", "ls", str(base), "--json"])
        peaks: list[int] = []
        time_to_markers([sys.executable, "-m", "ckpt_tui", str(base)], [b"run-000", b"modified"],
                        timeout=600, settle=args.settle, before_exit=lambda pid: peaks.append(peak_of(pid)))
        app = peaks[0]
        print(f"tree: {args.runs * args.steps} checkpoints in {args.runs} runs")
        print(f"ckpt-tui ls --json   {ls / 2**20:7.1f} MB")
        print(f"ckpt-tui (the app)   {app / 2**20:7.1f} MB   ratio {app / ls:5.2f}x ls (goal: at most {FLOOR_RATIO}x)")
    finally:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
