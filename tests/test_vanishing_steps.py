"""A step deleted while a run is being read is gone; the run still loads (on a disk)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from vanishing import RUN, check_loads, load_while_deleting

import ckpt_tui.stores.backends.local as local_backend
from ckpt_tui.core import Pending
from ckpt_tui.stores.local import LocalStore

CHECKPOINTS = "demo/models/agent-001/checkpoints"


def delete_like_a_prune(folder: Path, step: int) -> None:
    """Rename the step aside, then remove its files one by one, then the folder."""
    aside = folder / f".deleting-{step}-other-0"
    os.rename(folder / f"{step:04d}", aside)
    for root, _dirs, files in os.walk(aside):
        for name in files:
            os.unlink(os.path.join(root, name))
    shutil.rmtree(aside)


def test_a_step_emptied_then_removed_while_counted_is_gone(art_base: Path, monkeypatch):
    folder = art_base / CHECKPOINTS
    real = os.listdir
    looks: list[int] = []

    def listing(path=".", /):
        if isinstance(path, int) and os.readlink(f"/proc/self/fd/{path}") == str(folder / "0004"):
            # another prune empties the step as it is counted (no file left to look at), then removes it
            looks.append(path)
            for name in real(path):
                os.unlink(name, dir_fd=path)
            if len(looks) == 2:  # counted again, from the start: empty, then gone
                os.rmdir(folder / "0004")
        return real(path)

    monkeypatch.setattr(local_backend.os, "listdir", listing)
    run = LocalStore(art_base).load_run(*RUN)
    assert len(looks) == 2
    assert 4 not in [c.step for c in run.checkpoints]
    assert [c for c in run.pending if c.pending is Pending.UNREADABLE] == []
    assert not (folder / "0004").exists()


def test_runs_load_while_another_thread_deletes_their_steps(art_base: Path):
    folder = art_base / CHECKPOINTS
    steps = list(range(10))
    runs = load_while_deleting(LocalStore(art_base), steps, lambda step: delete_like_a_prune(folder, step))
    check_loads(runs, steps, kept=[10, 11])
