"""Scan cost of a large local tree: ``ckpt-tui ls --json`` against ``du -sb``, as whole commands.

Generates an ART base (default: 100 runs x 1,000 checkpoints x 3 files, each run
with a ``history.jsonl``), then times both commands on the same warm tree,
interleaved, median of ``--repeat``, and prints the ratios of wall time and of CPU time
(user + system, its processes together) and the peak memory of ``ls`` (its largest
process). ``ls`` keeps what it found of the weights files, the runs' histories as it parsed them and
the names in each step folder under the user's cache folder (here one of the bench's own, empty at
first): the first ``ls`` is timed apart, with that cache empty; the rounds after it find the cache
written. Run:

    python bench/scan.py [--runs 100] [--steps 1000] [--repeat 5] [--against OTHER_CHECKOUT]

``--against`` times another checkout's ``ls --json`` (an older version) on the same tree in the same rounds.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "CKPT_TUI_SETTLE_SECONDS": "0"}  # just written: complete, not settling
ENV.pop("PYTHONDONTWRITEBYTECODE", None)  # from bytecode, as after pip install
DU_RATIO, PEAK_MB = 1.0, 64
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


def timed(command: list[str], cpu: list[float] | None = None, env: dict = ENV) -> float:
    """Wall seconds of ``command``; its CPU seconds (user + system, children included) go to ``cpu``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env, cwd=tempfile.gettempdir())
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if cpu is not None:
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return wall


def peak_memory(command: list[str]) -> int:
    """Peak RSS (bytes) of ``command``: the largest of its process and its workers."""
    code = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    done = subprocess.run([sys.executable, "-c", code, *command], check=True, capture_output=True, text=True, env=ENV)
    return int(done.stdout) * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--steps", type=int, default=1000, help="checkpoints per run")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--against", type=Path, help="another checkout of ckpt-tui, timed beside this one")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ckpt-tui-scan-bench-", dir=os.environ.get("BENCH_DIR")))
    try:
        base = root / ".art"
        build(base, args.runs, args.steps)
        ENV["XDG_CACHE_HOME"] = str(root / "cache")
        os.sync()
        du = ["du", "-sb", str(base)]
        ls = [sys.executable, "-m", "ckpt_tui", "ls", str(base), "--json"]
        import compileall

        compileall.compile_dir(str(ROOT / "ckpt_tui"), quiet=1)
        other = {**ENV, "PYTHONPATH": str(args.against.resolve())} if args.against else None
        if other:
            compileall.compile_dir(str(args.against / "ckpt_tui"), quiet=1)
        timed(du)  # warm the page cache
        cold_cpu: list[float] = []
        cold = timed(ls, cold_cpu)  # an empty verdict cache, as at a location's first scan
        times: dict[str, list[float]] = {"du": [], "ls": [], "python": [], "other": []}
        cpu: dict[str, list[float]] = {"du": [], "ls": [], "other": []}
        for _ in range(args.repeat):  # interleaved: both see the same machine
            times["du"].append(timed(du, cpu["du"]))
            times["ls"].append(timed(ls, cpu["ls"]))
            if other:
                times["other"].append(timed(ls, cpu["other"], other))
            times["python"].append(timed([sys.executable, "-c", "pass"]))
        t_du, t_ls, t_py = (statistics.median(times[k]) for k in ("du", "ls", "python"))
        c_du, c_ls = statistics.median(cpu["du"]), statistics.median(cpu["ls"])
        peak = peak_memory(ls)
        count = args.runs * args.steps
        print(f"tree: {args.runs} runs x {args.steps} checkpoints = {count} checkpoints, {count * len(FILES)} files; "
              f"median of {args.repeat}")
        print(f"du -sb                 {t_du * 1000:8.1f} ms wall {c_du * 1000:8.1f} ms CPU")
        print(f"ckpt-tui ls --json     {t_ls * 1000:8.1f} ms wall {c_ls * 1000:8.1f} ms CPU   ratio {t_ls / t_du:5.2f}x du "
              f"(goal: at most {DU_RATIO}x), CPU {c_ls / c_du:5.2f}x   peak memory {peak / 2**20:.0f} MB "
              f"(goal: at most {PEAK_MB} MB)")
        if other:
            t_other, c_other = statistics.median(times["other"]), statistics.median(cpu["other"])
            print(f"other checkout         {t_other * 1000:8.1f} ms wall {c_other * 1000:8.1f} ms CPU   ratio "
                  f"{t_other / t_du:5.2f}x du, CPU {c_other / c_du:5.2f}x")
        print(f"first ls, empty cache  {cold * 1000:8.1f} ms wall {cold_cpu[0] * 1000:8.1f} ms CPU   ratio "
              f"{cold / t_du:5.2f}x du, CPU {cold_cpu[0] / c_du:5.2f}x (once)")
        print(f"  of which interpreter {t_py * 1000:8.1f} ms; load average {os.getloadavg()[0]:.1f}")
    finally:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
