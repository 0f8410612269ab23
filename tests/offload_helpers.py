"""What offload tests check: each step whole here, or whole and the same in the other location."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from killed import PATCH, REPO

from ckpt_tui.cli import main

RUN = "demo/models/agent-001"


def step_contents(folder: Path) -> dict[str, dict[str, str]]:
    """Each visible step folder of a checkpoint folder: its files (relative path -> sha256)."""
    steps = {}
    if not folder.is_dir():
        return steps
    for step in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        steps[step.name] = {f.relative_to(step).as_posix(): hashlib.sha256(f.read_bytes()).hexdigest()
                            for f in sorted(step.rglob("*")) if f.is_file()}
    return steps


def listed(location: list[str], capsys) -> dict[tuple[str, str], dict[str, dict]]:
    """``ls --json`` of a location: (project, run) -> complete checkpoints by name."""
    code = main(["ls", *location, "--json"])
    out = capsys.readouterr().out
    assert code in (0, 1), out
    return {(r["project"], r["run"]): {c["name"]: c for c in r["checkpoints"]} for r in json.loads(out)["runs"]}


def assert_whole_somewhere(original: dict[str, dict[str, str]], local: dict[str, dict[str, str]],
                           remote: dict[str, dict[str, str]], remote_complete: set[str]) -> None:
    """The invariant: every step is whole here, or listed complete there with the same bytes;
    and whatever the other location lists as complete holds exactly the original bytes."""
    for name, files in original.items():
        if local.get(name) == files:
            continue
        assert name not in local, f"step {name} is here, but not whole: {local.get(name)}"
        assert name in remote_complete and remote.get(name) == files, \
            f"step {name} is gone from here, but the other location does not hold it whole"
    for name in remote_complete:
        assert remote.get(name) == original[name], f"{name} is listed complete there with other bytes"


CHILD = PATCH + r"""
last, targets, argv = int(sys.argv[1]), sys.argv[2].split(","), sys.argv[3:]
calls = [0]

def counted(args):
    calls[0] += 1
    return calls[0] == last

for target in targets:
    patch(target, counted)
from ckpt_tui.cli import main
sys.exit(main(argv))
"""


def cli_killed_at_call(number: int, targets: list[str], *argv: object) -> subprocess.CompletedProcess:
    """Run ``ckpt-tui ARGV``, SIGKILLed at the ``number``-th call of any of ``targets``
    (``module:Class.method``); it may end first, when it makes fewer calls."""
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", CHILD, str(number), ",".join(targets), *map(str, argv)],
                          capture_output=True, text=True, env=environment, timeout=300)


def killed(done: subprocess.CompletedProcess) -> bool:
    assert done.returncode in (0, -signal.SIGKILL), (done.returncode, done.stdout, done.stderr)
    return done.returncode == -signal.SIGKILL
