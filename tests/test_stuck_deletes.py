"""A step that cannot be removed fails alone: later prunes, and the other runs, go on."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import ckpt_tui.stores
from ckpt_tui.cli import main
from ckpt_tui.core import StoreError
from ckpt_tui.stores.local import LocalStore

pytestmark = pytest.mark.usefixtures("no_terminal")

MODELS = "demo/models"


def names(base: Path, model: str) -> list[str]:
    return sorted(p.name for p in (base / MODELS / model / "checkpoints").iterdir())


def add_step(base: Path, model: str, step: int) -> None:
    ckpts = base / MODELS / model / "checkpoints"
    shutil.copytree(ckpts / "0011" if (ckpts / "0011").exists() else ckpts / "0005", ckpts / f"{step:04d}")
    with open(base / MODELS / model / "history.jsonl", "a") as handle:
        handle.write(f'{{"step": {step}, "val/reward": 0.01}}\n')


@pytest.fixture
def immutable_file(art_base: Path):
    """Step 4 of agent-001 holds a file nobody may remove (``chattr +i``)."""
    target = art_base / MODELS / "agent-001" / "checkpoints" / "0004" / "adapter_config.json"
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed")
    done = subprocess.run(["chattr", "+i", str(target)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot make a file immutable here: {done.stderr.strip()}")
    yield target
    for leftover in art_base.rglob("adapter_config.json"):
        subprocess.run(["chattr", "-i", str(leftover)], capture_output=True)


def test_a_step_that_cannot_be_removed_fails_alone_and_blocks_nothing_after(art_base, immutable_file, capsys):
    code = main(["prune", str(art_base), "--yes"])
    out, err = capsys.readouterr()
    assert code == 1
    [line] = err.strip().splitlines()
    assert line.startswith("ckpt-tui: demo/agent-001: step 4 not deleted: cannot remove ")
    assert "/.deleting-4-" in line and line.endswith("/adapter_config.json: Operation not permitted "
                                                     "(left as an interrupted delete)")
    assert names(art_base, "agent-001")[-2:] == ["0010", "0011"] and names(art_base, "agent-002") == ["0003", "0005"]
    # Later prunes of every run go on; the leftover stays listed, never counted as a step.
    add_step(art_base, "agent-001", 12)
    add_step(art_base, "agent-002", 6)
    code = main(["prune", str(art_base), "--yes"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "  skip    4 (.deleting-4-" in out and "interrupted delete" in out
    assert [n for n in names(art_base, "agent-001") if not n.startswith(".")] == ["0010", "0012"]
    assert names(art_base, "agent-002") == ["0003", "0006"]


class OneRunFails(LocalStore):
    """A store on which reading agent-001 again at execution fails (a network or disk error)."""

    def read_for_execution(self, project, run):
        if run == "agent-001":
            raise StoreError("cannot list the run: Input/output error")
        return super().read_for_execution(project, run)


def test_a_run_that_fails_as_a_whole_does_not_stop_the_others(art_base, monkeypatch, capsys):
    monkeypatch.setattr(ckpt_tui.stores, "open_store", lambda location, **options: OneRunFails(location))
    code = main(["prune", str(art_base), "--yes"])
    out, err = capsys.readouterr()
    assert code == 1
    assert err.strip().splitlines() == [
        "ckpt-tui: demo/agent-001: prune failed: cannot list the run: Input/output error"]
    assert len(names(art_base, "agent-001")) == 12
    assert names(art_base, "agent-002") == ["0003", "0005"]
    assert sorted(p.name for p in (art_base / MODELS / "agent-legacy").iterdir() if p.name.isdigit()) == ["0003"]
