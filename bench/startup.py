"""Start-up of whole commands: ``ckpt-tui --version`` and ``ckpt-tui ls`` of a one-step tree,
beside a bare ``python -c pass`` started the same way (the floor) and ``python -I -S -c pass``
(the interpreter without ``site``).

Every command runs from bytecode (as after ``pip install``), interleaved over ``--rounds``;
the median and the best round are printed, with what ckpt-tui adds to the bare interpreter.
An interpreter whose ``site`` runs ``.pth`` hooks (a sandbox's ``certifi`` hook) pays for them
in every line alike: the floor and the cost over it are printed apart, and each command is
also judged as the interpreter without ``site`` plus its cost over the floor.
``--importtime`` adds the modules ``ls`` imports that cost the most, those the bare
interpreter imports left out (``python -X importtime``, best of five). Run:

    python bench/startup.py [--rounds 21] [--importtime] [--against OTHER_CHECKOUT] [--venv]

``--venv`` times what a user gets from ``pip install``: this checkout installed (not editable) into a
fresh virtual environment (``python -m venv``, whose interpreter runs none of the global site-packages'
hooks), its ``ckpt-tui`` console script against that environment's ``python -c pass``. The environment
is kept under the temporary folder, named after the checkout's commit (and its uncommitted changes), so
a second run starts at once.

``--against`` times the same two commands of another checkout (an older version) in the same rounds.
"""

from __future__ import annotations

import argparse
import collections
import compileall
import hashlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLOOR_MS = 60


def environment(root: Path = ROOT) -> dict:
    env = {**os.environ, "PYTHONPATH": str(root)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def one_step_tree(base: Path) -> Path:
    folder = base / "project" / "models" / "run" / "checkpoints" / "0001"
    folder.mkdir(parents=True)
    (folder / "adapter_model.safetensors").write_bytes(b"x" * 64)
    (base / "project" / "models" / "run" / "history.jsonl").write_text('{"step": 1, "val/reward": 0.5}\n')
    return base


# Commands run outside any checkout: ``python -m`` puts the working directory first on the path,
# which would make ``--against`` time this checkout twice when run from its root.
OUTSIDE = tempfile.gettempdir()


def timed(command: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env, cwd=OUTSIDE)
    return time.perf_counter() - start


def import_times(command: list[str], env: dict, python: str = sys.executable) -> dict[str, int]:
    """Each module's cumulative import time (microseconds), best of five runs."""
    best: dict[str, int] = collections.defaultdict(lambda: 10**12)
    for _ in range(5):
        done = subprocess.run([python, "-X", "importtime", *command[1:]], env=env, cwd=OUTSIDE,
                              capture_output=True, text=True, check=True)
        for match in re.finditer(r"import time:\s+\d+ \|\s+(\d+) \|\s*(\S+)", done.stderr):
            best[match[2]] = min(best[match[2]], int(match[1]))
    return best


def import_costs(command: list[str], env: dict, shown: int = 25, python: str = sys.executable) -> None:
    """The modules ``command`` imports beyond the bare interpreter's, largest cumulative time first."""
    bare = import_times([python, "-c", "pass"], env, python)
    best = {name: micros for name, micros in import_times(command, env, python).items() if name not in bare}
    print(f"\nlargest cumulative imports of `{' '.join(command[-2:])}` beyond the bare interpreter's "
          "(microseconds, best of 5):")
    for name, micros in sorted(best.items(), key=lambda item: -item[1])[:shown]:
        print(f"{micros:8d}  {name}")


def checkout_key() -> str:
    """The checkout's commit, and a digest of its uncommitted changes to the package, if any."""
    def git(*args: str) -> bytes:
        return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True).stdout

    key = git("rev-parse", "--short=12", "HEAD").decode().strip()
    changes = git("diff", "HEAD", "--", "ckpt_tui", "pyproject.toml")
    changes += b"".join((ROOT / name).read_bytes() for name in git(
        "ls-files", "--others", "--exclude-standard", "--", "ckpt_tui").decode().split())
    return f"{key}-{hashlib.sha256(changes).hexdigest()[:8]}" if changes else key


def fresh_venv() -> Path:
    """This checkout ``pip install``-ed (not editable) into a virtual environment of its own, kept
    under the temporary folder by the checkout's commit: built once, then reused."""
    venv = Path(tempfile.gettempdir()) / f"ckpt-tui-startup-venv-{checkout_key()}"
    built = venv / ".built"  # written last: a venv without it was interrupted, and is made again
    if built.exists():
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    print(f"building {venv} (python -m venv, then pip install of this checkout) ...", flush=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PIP_USER")}
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-input", str(ROOT)],
                   check=True, env=env, cwd=OUTSIDE)
    built.touch()
    return venv


def venv_commands(base: Path) -> tuple[dict[str, list[str]], dict]:
    """The console script of a fresh virtual environment, beside that environment's bare interpreter."""
    venv = fresh_venv()
    python, script = str(venv / "bin" / "python"), str(venv / "bin" / "ckpt-tui")
    env = {k: v for k, v in environment().items() if k != "PYTHONPATH"}
    return {"python -c pass": [python, "-c", "pass"],
            "python -I -S -c pass": [python, "-I", "-S", "-c", "pass"],
            "ckpt-tui --version": [script, "--version"],
            "ckpt-tui ls (one step)": [script, "ls", str(base)]}, env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--importtime", action="store_true")
    parser.add_argument("--against", type=Path, help="another checkout of ckpt-tui, timed beside this one")
    parser.add_argument("--venv", action="store_true",
                        help="time the console script of this checkout pip-installed into a fresh venv")
    args = parser.parse_args()
    compileall.compile_dir(str(ROOT / "ckpt_tui"), quiet=1)
    env = environment()
    envs = {}
    with tempfile.TemporaryDirectory(prefix="ckpt-tui-startup-") as tmp:
        base = one_step_tree(Path(tmp) / ".art")
        commands = {"python -c pass": [sys.executable, "-c", "pass"],
                    "python -I -S -c pass": [sys.executable, "-I", "-S", "-c", "pass"],
                    "ckpt-tui --version": [sys.executable, "-m", "ckpt_tui", "--version"],
                    "ckpt-tui ls (one step)": [sys.executable, "-m", "ckpt_tui", "ls", str(base)]}
        if args.venv:
            commands, env = venv_commands(base)
            print(f"in a fresh venv: {Path(commands['ckpt-tui --version'][0])}")
        if args.against:
            compileall.compile_dir(str(args.against / "ckpt_tui"), quiet=1)
            for label in ("ckpt-tui --version", "ckpt-tui ls (one step)"):
                other = label.replace("ckpt-tui", "other")
                commands[other], envs[other] = commands[label], environment(args.against.resolve())
        times: dict[str, list[float]] = {label: [] for label in commands}
        for _ in range(args.rounds):  # interleaved: every command sees the same machine
            for label, command in commands.items():
                times[label].append(timed(command, envs.get(label, env)))
        bare = statistics.median(times["python -c pass"])
        no_site = statistics.median(times["python -I -S -c pass"])
        print(f"floor: `python -c pass` {bare * 1000:.1f} ms (median of {args.rounds}), of which its site "
              f"{(bare - no_site) * 1000:.1f} ms (`python -I -S -c pass` {no_site * 1000:.1f} ms); "
              f"load average {os.getloadavg()[0]:.1f}")
        print(f"{'command':<24}{'median ms':>10}{'best ms':>9}{'over bare':>11}{'x bare':>8}"
              f"{'no site + over':>16}  goal {FLOOR_MS} ms")
        for label, runs in times.items():
            median = statistics.median(runs)
            line = (f"{label:<24}{median * 1000:10.1f}{min(runs) * 1000:9.1f}{(median - bare) * 1000:+11.1f}"
                    f"{median / bare:7.2f}x")
            if not label.startswith(("python", "other")):
                alone = no_site + median - bare  # this command on an interpreter without site hooks
                line += f"{alone * 1000:14.1f}  " + (
                    "ok" if median * 1000 <= FLOOR_MS else f"{'ok' if alone * 1000 <= FLOOR_MS else 'over'} without site")
            print(line)
        print("over bare: what ckpt-tui adds to the interpreter; no site + over: the command on an interpreter "
              "that runs no site hooks")
        if args.importtime:
            python = commands["python -c pass"][0]
            ls = commands["ckpt-tui ls (one step)"]
            import_costs([python, *ls] if args.venv else ls, env, python=python)


if __name__ == "__main__":
    main()
