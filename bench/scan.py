"""Scan cost of a large local tree: ``ckpt-tui ls --json`` against ``du -sb``.

Generates an ART base with 10,000 checkpoints (two files each, sparse weights),
then times both commands on the same warm tree and prints the ratio. Run:

    python bench/scan.py [--checkpoints 10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ckpt_tui.demo import DemoRun, build_demo
from ckpt_tui.stores.local import LocalStore


def best_of(command: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return min(times)


def scan_only(base: Path, repeat: int) -> float:
    """In-process: sizes, times and files of every checkpoint, no history, no output."""
    store = LocalStore(base)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for project in store.list_projects():
            for run in store.list_runs(project):
                store.load_run(project, run, with_metrics=False)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    per_run = args.checkpoints // args.runs
    runs = tuple(DemoRun("bench", f"run-{i:03d}", per_run, 1, val_every=10) for i in range(args.runs))
    root = Path(tempfile.mkdtemp(prefix="ckpt-tui-bench-"))
    try:
        base = build_demo(root / ".art", runs=runs)
        ls = [sys.executable, "-m", "ckpt_tui", "ls", str(base), "--json"]
        du = ["du", "-sb", str(base)]
        python = [sys.executable, "-c", "pass"]
        best_of(du, 1), best_of(ls, 1)  # warm the page cache
        t_du, t_ls, t_py = best_of(du, args.repeat), best_of(ls, args.repeat), best_of(python, args.repeat)
        print(f"tree: {args.runs} runs x {per_run} checkpoints = {args.runs * per_run} checkpoints")
        print(f"du -sb                 {t_du * 1000:8.1f} ms")
        print(f"ckpt-tui ls --json     {t_ls * 1000:8.1f} ms   ratio {t_ls / t_du:5.2f}x du")
        print(f"  of which interpreter {t_py * 1000:8.1f} ms   without it {(t_ls - t_py) / t_du:5.2f}x du")
        t_scan = scan_only(base, args.repeat)
        print(f"scan only (in process) {t_scan * 1000:8.1f} ms   ratio {t_scan / t_du:5.2f}x du")
    finally:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
