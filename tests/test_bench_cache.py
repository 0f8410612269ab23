"""The benchmarks that run ckpt-tui keep its cache in their own scratch folder, never the user's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.mark.slow
@pytest.mark.parametrize("command", [["prune.py", "--steps", "20", "--layouts", "art", "--repeat", "1"],
                                     ["stress.py", "--only", "prune-kill-disk", "--kills", "1", "--seed", "1"]],
                         ids=lambda c: c[0])
def test_a_benchmark_leaves_the_users_cache_alone(tmp_path, command):
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "XDG_CACHE_HOME"} | {"HOME": str(home)}
    done = subprocess.run([sys.executable, str(BENCH / command[0]), *command[1:]], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert list(home.iterdir()) == []  # no ~/.cache/ckpt-tui
