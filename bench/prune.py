"""Local prune against ``rm -rf`` of the same step folders, as whole commands.

Builds the same run twice (ART's ``checkpoints/NNNN/`` or the HF Trainer's
``checkpoint-N/``, three files a step), then times

* ``rm -rf`` of every step folder but the latest, on one copy;
* ``ckpt-tui prune LOC --keep latest --metric none --yes`` on the other
  (the whole command: start-up, discovery, scan, re-read, re-plan, delete);

and prints the ratio for each size, so that growth with the number of steps
shows as well. Run:

    python bench/prune.py                      # 5,000 and 20,000 steps, ART and HF, median of 5
    python bench/prune.py --steps 1000 2000 --layouts hf
"""

from __future__ import annotations

import argparse
import json
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
RM_RATIO = 1.5
FILES = {"art": ("adapter_model.safetensors", "adapter_config.json", "README.md"),
         "hf": ("model.safetensors", "optimizer.pt", "trainer_state.json")}


def step_dirs(root: Path, layout: str, steps: int) -> list[Path]:
    if layout == "art":
        return [root / "bench" / "models" / "run" / "checkpoints" / f"{s:04d}" for s in range(steps)]
    return [root / "run" / f"checkpoint-{s}" for s in range(steps)]


def build(root: Path, layout: str, steps: int) -> None:
    for step, folder in enumerate(step_dirs(root, layout, steps)):
        folder.mkdir(parents=True)
        for name in FILES[layout]:
            body = b"x" * 64
            if name == "trainer_state.json":  # the newest holds the whole log; older ones a line
                log = [{"step": s, "loss": 1 / (s + 1)} for s in (range(steps) if step == steps - 1 else [step])]
                body = json.dumps({"global_step": step, "log_history": log}).encode()
            (folder / name).write_bytes(body)
    if layout == "art":
        history = root / "bench" / "models" / "run" / "history.jsonl"
        history.write_text("".join(f'{{"step": {s}, "val/reward": {s % 97 / 97}}}\n' for s in range(steps)))


def timed(command: list[str], cpu: list[float], cwd: Path | None = None) -> float:
    """Wall seconds of ``command``; its CPU seconds (user + system, children included) go to ``cpu``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=ENV, cwd=cwd)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return wall


def measure(scratch: Path, layout: str, steps: int, repeat: int) -> tuple[float, float, float, float]:
    """Medians of ``repeat`` for each (wall, then CPU seconds), on fresh copies flushed to disk
    (so that neither pays for the other's writeback), alternating the two."""
    t_rm, t_ours, c_rm, c_ours = [], [], [], []
    for attempt in range(repeat):
        floor_tree, our_tree = scratch / f"{layout}-{steps}-{attempt}-rm", scratch / f"{layout}-{steps}-{attempt}"
        build(floor_tree, layout, steps)
        shutil.copytree(floor_tree, our_tree, symlinks=True)
        os.sync()
        subprocess.run(["du", "-sb", str(floor_tree), str(our_tree)], check=True, stdout=subprocess.DEVNULL)
        doomed = step_dirs(floor_tree, layout, steps)[:-1]  # named from their folder: 20,000 full paths pass ARG_MAX
        t_rm.append(timed(["rm", "-rf", *(p.name for p in doomed)], c_rm, cwd=doomed[0].parent))
        os.sync()
        t_ours.append(timed([sys.executable, "-m", "ckpt_tui", "prune", str(our_tree), "--keep", "latest",
                             "--metric", "none", "--yes"], c_ours))
        left = [p.name for p in step_dirs(our_tree, layout, steps) if p.exists()]
        assert left == [step_dirs(our_tree, layout, steps)[-1].name], left[:5]
        shutil.rmtree(floor_tree)
        shutil.rmtree(our_tree)
        os.sync()
    return tuple(statistics.median(times) for times in (t_rm, t_ours, c_rm, c_ours))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[5000, 20000])
    parser.add_argument("--layouts", nargs="+", choices=sorted(FILES), default=["art", "hf"])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    import compileall

    compileall.compile_dir(str(ROOT / "ckpt_tui"), quiet=1)
    print(f"{'layout':<6} {'steps':>7} {'rm -rf':>9} {'ckpt-tui':>9} {'ratio':>7} {'per step':>10} "
          f"{'CPU rm':>8} {'CPU ours':>9} {'CPU ratio':>9} {'load':>5}")
    with tempfile.TemporaryDirectory(prefix="ckpt-tui-prune-bench-", dir=os.environ.get("BENCH_DIR")) as tmp:
        ENV["XDG_CACHE_HOME"] = str(Path(tmp) / "cache")  # the user's own cache is left alone
        for layout in args.layouts:
            for steps in args.steps:
                t_rm, t_ours, c_rm, c_ours = measure(Path(tmp), layout, steps, args.repeat)
                print(f"{layout:<6} {steps:>7} {t_rm:>8.2f}s {t_ours:>8.2f}s {t_ours / t_rm:>6.2f}x "
                      f"{t_ours / steps * 1e6:>8.0f}us {c_rm:>7.2f}s {c_ours:>8.2f}s {c_ours / c_rm:>8.2f}x "
                      f"{os.getloadavg()[0]:>5.1f}", flush=True)
    print(f"ratio = ckpt-tui prune / rm -rf of the same step folders, medians (goal: at most {RM_RATIO}x)")


if __name__ == "__main__":
    main()
