"""Running a command without root's permission bypass, so that mode 000 means something."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DROPPED = "cap_dac_override,cap_dac_read_search"


def unprivileged(argv: list[str]) -> list[str]:
    """``argv`` as a command that file permissions apply to; skips the test when that cannot be arranged."""
    if os.geteuid() != 0:
        return argv
    capsh = shutil.which("capsh")
    if capsh is None:
        pytest.skip("running as root without capsh (apt-get install libcap2-bin): cannot drop the "
                    "permission bypass that hides these errors")
    return [capsh, f"--drop={DROPPED}", "--", "-c", shlex.join(argv)]


NO_BYPASS = "CKPT_TUI_TEST_NO_BYPASS"  # set in the commands run_python starts


def bypass_dropped() -> bool:
    """Whether file permissions apply to this process (not root, or started by run_python)."""
    return os.geteuid() != 0 or os.environ.get(NO_BYPASS) == "1"


def run_python(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``python ARGS`` from this checkout, without root's permission bypass."""
    env = {**os.environ, NO_BYPASS: "1", "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}
    return subprocess.run(unprivileged([sys.executable, *args]), capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=120)
