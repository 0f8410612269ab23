"""A prune from the command line on a disk: what it removes, and how (the renamed-aside steps
several at a time, as nothing can stop it half-way)."""

from __future__ import annotations

import io
import sys
import threading

import pytest

from ckpt_tui.cli import main
from ckpt_tui.stores.backends.local import LocalBackend

WAIT = 10.0  # bounds a wait that a second removal in flight ends at once


@pytest.fixture(autouse=True)
def no_terminal(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))


def art_run(base, name: str, steps: int):
    run = base / "proj" / "models" / name
    for step in range(steps):
        folder = run / "checkpoints" / f"{step:04d}"
        folder.mkdir(parents=True)
        (folder / "adapter_model.safetensors").write_bytes(b"x" * 64)
    (run / "history.jsonl").write_text("".join(f'{{"step": {s}, "val/reward": 0.5}}\n' for s in range(steps)))
    return run / "checkpoints"


@pytest.mark.parametrize("runs", [1, 2])
def test_cli_prune_removes_the_steps_of_each_run_side_by_side(tmp_path, monkeypatch, capsys, runs):
    """The first two removals of each run wait for each other: one after another, the first
    would wait alone (and fail)."""
    folders = [art_run(tmp_path / ".art", f"run-{i}", 6) for i in range(runs)]
    real = LocalBackend.delete_tree
    lock, calls, overlapped = threading.Lock(), [0], []
    pairs = threading.Barrier(2, timeout=WAIT)

    def delete_tree(self, path: str) -> None:
        with lock:
            calls[0] += 1
            first_two = calls[0] % 5 in (1, 2)  # the first two of each run's five
        if first_two:
            pairs.wait()  # BrokenBarrierError when no other removal is in flight
            overlapped.append(path)
        real(self, path)

    monkeypatch.setattr(LocalBackend, "delete_tree", delete_tree)
    code = main(["prune", str(tmp_path / ".art"), "--keep", "latest", "--metric", "none", "--yes"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"deleted {5 * runs} checkpoint(s)" in out
    assert len(overlapped) == 2 * runs
    for folder in folders:
        assert sorted(p.name for p in folder.iterdir()) == ["0005"]


def test_cli_prune_interrupted_mid_removal_leaves_no_step_that_looks_whole(tmp_path, monkeypatch, capsys):
    """Ctrl-C (here: the process stopped) while the renamed-aside steps are removed side by side:
    each step is whole under its name or an interrupted delete, and the next prune finishes them."""
    folder = art_run(tmp_path / ".art", "run-0", 6)
    real = LocalBackend.delete_tree
    lock, calls = threading.Lock(), [0]

    def delete_tree(self, path: str) -> None:
        with lock:
            calls[0] += 1
            second = calls[0] == 2
        if second:  # half of this step's files gone, then the interrupt
            # only this step's folder is looked at: the others are being removed meanwhile
            next(p for p in folder.glob(".deleting-*/adapter_model.safetensors") if path in str(p)).unlink()
            raise KeyboardInterrupt
        real(self, path)

    monkeypatch.setattr(LocalBackend, "delete_tree", delete_tree)
    args = ["prune", str(tmp_path / ".art"), "--keep", "latest", "--metric", "none", "--yes"]
    assert main(args) == 130
    assert "interrupted" in capsys.readouterr().err
    for entry in folder.iterdir():  # whole under its name, or aside (an interrupted delete)
        assert entry.name.startswith(".deleting-") or (entry / "adapter_model.safetensors").exists(), entry.name
    assert any(entry.name.startswith(".deleting-") for entry in folder.iterdir())
    monkeypatch.setattr(LocalBackend, "delete_tree", real)
    assert main(args) == 0, capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == ["0005"]
