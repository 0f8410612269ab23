"""Unreadable folders are listed with a note and never pruned; everything readable still works.

Root reads everything, so these run the CLI and the app without root's permission
bypass (see ``unprivileged.py``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from unprivileged import REPO, run_python

MODELS = "demo/models"


@pytest.fixture
def locked(art_base: Path):
    """The ART tree with a root-owned-looking lost+found, a project, a run and a step of mode 000."""
    (art_base / "lost+found").mkdir()
    secret = art_base / "secret" / "models" / "hidden" / "checkpoints" / "0001"
    secret.mkdir(parents=True)
    (secret / "adapter_model.safetensors").write_bytes(b"s" * 10)
    closed = [art_base / "lost+found", art_base / "secret", art_base / MODELS / "agent-002",
              art_base / MODELS / "agent-001" / "checkpoints" / "0003"]
    for path in closed:
        path.chmod(0)
    yield art_base
    for path in closed:
        path.chmod(0o755)


def names(base: Path, model: str) -> list[str]:
    return sorted(p.name for p in (base / MODELS / model / "checkpoints").iterdir())


def test_ls_lists_what_it_can_read_and_notes_the_rest(locked):
    done = run_python("-m", "ckpt_tui", "ls", str(locked), "--json")
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    runs = {r["run"]: r for r in listed["runs"]}
    assert set(runs) == {"agent-001", "agent-002", "agent-legacy"}
    assert len(runs["agent-001"]["checkpoints"]) == 11 and len(runs["agent-legacy"]["checkpoints"]) == 4
    assert [(p["name"], p["note"].split(":")[0]) for p in runs["agent-001"]["pending"]] == [("0003", "unreadable")]
    assert "Permission denied" in runs["agent-001"]["pending"][0]["note"]
    assert runs["agent-002"]["checkpoints"] == [] and "Permission denied" in runs["agent-002"]["notes"][0]
    assert runs["agent-002"]["total_bytes"] is None and runs["agent-001"]["total_bytes"] > 0  # unknown, not 0
    assert sorted(n.split(":")[0].rsplit("/", 1)[-1] for n in listed["notes"]) == ["lost+found", "secret"]
    done = run_python("-m", "ckpt_tui", "ls", str(locked))
    assert done.returncode == 0 and "demo/agent-legacy" in done.stdout
    (row,) = [line for line in done.stdout.splitlines() if line.startswith("demo/agent-002 ")]
    assert row.split()[1:5] == ["art", "0", "?", "-"], row
    assert "Permission denied" in done.stdout and "lost+found: Permission denied" in done.stderr


def test_prune_prunes_what_it_can_read_and_nothing_else(locked):
    done = run_python("-m", "ckpt_tui", "prune", str(locked), "--dry-run")
    assert done.returncode == 1, done.stderr  # a run left unpruned: not done, though the rest is
    assert [line for line in done.stderr.splitlines() if "agent-002" in line] == [
        f"ckpt-tui: demo/agent-002: not read: cannot list {locked / MODELS / 'agent-002'}: Permission denied"]
    done = run_python("-m", "ckpt_tui", "prune", str(locked), "--yes", "--json")
    assert done.returncode == 1, done.stderr
    pruned = json.loads(done.stdout)
    assert [(e["project"], e["run"]) for e in pruned["errors"]] == [("demo", "agent-002")]
    assert "Permission denied" in pruned["errors"][0]["error"]
    plans = {p["run"]: p for p in pruned["plans"]}
    assert plans["agent-002"]["delete"] == []
    assert [d["step"] for d in plans["agent-001"]["deleted"]] == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    assert names(locked, "agent-001") == ["0003", "0010", "0011"]
    assert sorted(p.name for p in (locked / MODELS / "agent-legacy").iterdir() if p.name.isdigit()) == ["0003"]
    os.chmod(locked / MODELS / "agent-002", 0o755)
    assert names(locked, "agent-002") == [f"{s:04d}" for s in range(6)]


@pytest.mark.app
def test_the_app_lists_every_run_and_says_which_it_cannot_read(locked):
    done = run_python(str(REPO / "tests" / "app_probe.py"), str(locked), "down")
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["listing"] == {"demo": ["agent-001", "agent-002", "agent-legacy"]}
    assert shown["loaded"]["demo/agent-001"] == 11 and shown["loaded"]["demo/agent-legacy"] == 4
    assert shown["current"] == ["demo", "agent-002"] and shown["steps"] == []
    assert any("agent-002" in note and "Permission denied" in note for note in shown["notes"])
    # Both unreadable folders and the unreadable run stay listed, saying why, with no metric hint.
    denied = [line.split()[0] for line in shown["tree"] if line.endswith("permission denied")]
    assert denied == ["agent-002", "lost+found", "secret"], shown["tree"]
    assert "permission denied" in shown["status"] and "not logged here" not in shown["status"]
    assert shown["plot"] == "this run could not be read (permission denied)", shown["plot"]
