"""Crashes at an exact point: the CLI in a child process that SIGKILLs itself on reaching a chosen call.

SIGKILL runs no handler, no ``finally`` and no ``atexit``: what it leaves is what
a power cut or the OOM killer leaves.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# Replaces ``module:Class.method`` by a version that SIGKILLs the process when ``when(args)`` says so.
PATCH = r"""
import importlib, os, signal, sys

def patch(target, when):
    module_name, _, qualname = target.partition(":")
    owner = importlib.import_module(module_name)
    *path, name = qualname.split(".")
    for part in path:
        owner = getattr(owner, part)
    real = getattr(owner, name)

    def dying(*args, **kwargs):
        if when(args):
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)

    setattr(owner, name, dying)
"""

CHILD = PATCH + r"""
target, needle, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
patch(target, lambda args: needle in " ".join(map(str, args)))
from ckpt_tui.cli import main
sys.exit(main(argv))
"""


def cli_killed_at(target: str, needle: str, *argv: object, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``ckpt-tui ARGV``, killed at the first call of ``target`` (``module:Class.method``)
    whose arguments mention ``needle``; fails if the process was not killed there."""
    environment = {**os.environ, **(env or {}), "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", CHILD, target, needle, *map(str, argv)],
                          capture_output=True, text=True, env=environment, timeout=120)
    assert done.returncode == -signal.SIGKILL, (done.returncode, done.stdout, done.stderr)
    return done
