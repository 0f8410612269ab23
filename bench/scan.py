"""Scan cost of a large local tree: ``ckpt-tui ls --json`` against ``du -sb``, as whole commands.

Generates an ART base (default: 100 runs x 1,000 checkpoints x 3 files, each run
with a ``history.jsonl``), then times both commands on the same warm tree,
best of ``--repeat``, and prints the ratio and the peak memory of ``ls``. Run:

    python bench/scan.py [--runs 100] [--steps 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FILES = ("adapter_model.safetensors", "adapter_config.json", "README.md")


def build(base: Path, runs: int, steps: int) -> None:
    for r in range(runs):
        model = base / "bench" / "models" / f"run-{r:03d}"
        for step in range(steps):
            folder = model / "checkpoints" / f"{step:04d}"
            folder.mkdir(parents=True)
            for name in FILES:
                with open(folder / name, "wb") as handle:
                    handle.write(b"x" * (64 + step % 7))
        with open(model / "history.jsonl", "w") as history:
            history.writelines(f'{{"step": {s}, "train/loss": {1 / (s + 1):.6f}, "val/reward": {s % 97 / 97:.4f}}}\n'
                               for s in range(steps))


def best_of(command: list[str], repeat: int) -> tuple[float, int]:
    """Fastest wall time of ``repeat`` runs, and the largest peak RSS (bytes) of any child so far."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return min(times), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--steps", type=int, default=1000, help="checkpoints per run")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ckpt-tui-scan-bench-", dir=os.environ.get("BENCH_DIR")))
    try:
        base = root / ".art"
        build(base, args.runs, args.steps)
        os.sync()
        du = ["du", "-sb", str(base)]
        ls = [sys.executable, "-m", "ckpt_tui", "ls", str(base), "--json"]
        best_of(du, 1)  # warm the page cache
        t_du, _ = best_of(du, args.repeat)
        t_ls, peak = best_of(ls, args.repeat)
        t_py, _ = best_of([sys.executable, "-c", "pass"], args.repeat)
        count = args.runs * args.steps
        print(f"tree: {args.runs} runs x {args.steps} checkpoints = {count} checkpoints, {count * len(FILES)} files")
        print(f"du -sb                 {t_du * 1000:8.1f} ms")
        print(f"ckpt-tui ls --json     {t_ls * 1000:8.1f} ms   ratio {t_ls / t_du:5.2f}x du "
              f"(goal: at most 1.5x)   peak memory {peak / 2**20:.0f} MB (goal: at most 150 MB)")
        print(f"  of which interpreter {t_py * 1000:8.1f} ms")
    finally:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
