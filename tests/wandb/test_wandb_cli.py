"""``ckpt-tui ls|prune|fork wandb://...`` end to end, against the fake W&B server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from art_on_wandb import ENTITY, TIMEOUT, lora_files

from ckpt_tui.cli import main

LOCATION = f"wandb://{ENTITY}"


@pytest.fixture(autouse=True)
def short_timeout(monkeypatch):
    monkeypatch.setenv("WANDB_HTTP_TIMEOUT", str(int(TIMEOUT)))  # the SDK wants whole seconds


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_ls_json_lists_every_model_with_metrics(fake, capsys):
    code, out, err = run_cli(capsys, "ls", LOCATION, "--json")
    assert code == 0, err
    doc = json.loads(out)
    runs = {(r["project"], r["run"]): r for r in doc["runs"]}
    assert set(runs) == {("demo", "agent-001"), ("demo", "agent-002"), ("other", "agent-x")}
    first = runs["demo", "agent-001"]
    assert [c["step"] for c in first["checkpoints"]] == list(range(12))
    assert first["checkpoints"][7]["metrics"]["val/reward"] == pytest.approx(0.9)
    assert first["checkpoints"][7]["location"] == "wandb://ent/demo/agent-001:v7"
    assert first["total_bytes"] == sum(sum(map(len, lora_files(s, "agent-001").values())) for s in range(12))
    assert [p["name"] for p in runs["demo", "agent-002"]["pending"]] == ["v6"]


def test_ls_one_model_as_a_table(fake, capsys):
    code, out, _ = run_cli(capsys, "ls", f"{LOCATION}/demo", "-r", "agent-001")
    assert code == 0
    assert "demo/agent-001" in out and "0.9" in out


def test_prune_deletes_on_wandb_and_reports(fake, capsys):
    code, out, err = run_cli(capsys, "prune", LOCATION, "-p", "demo", "-r", "agent-001", "--dry-run")
    assert code == 0 and fake.deleted == []
    code, out, err = run_cli(capsys, "prune", LOCATION, "-p", "demo", "-r", "agent-001", "--yes", "--json")
    assert code == 0, err
    doc = json.loads(out)
    deleted = sorted(d["step"] for d in doc["plans"][0]["deleted"])
    assert deleted == [0, 1, 3, 4, 5, 6, 8, 9, 10]
    assert sorted(int(d["version"][1:]) for d in fake.deleted) == deleted
    assert all(d["deleteAliases"] for d in fake.deleted)


def test_prune_without_the_metric_is_refused(fake, capsys):
    code, _, err = run_cli(capsys, "prune", LOCATION, "-p", "demo", "-r", "agent-002", "--yes")
    assert code == 2 and "val/reward" in err
    assert fake.deleted == []


def test_fork_by_link_and_to_a_local_base(fake, capsys, tmp_path: Path):
    code, out, err = run_cli(capsys, "fork", LOCATION, "-p", "demo", "-r", "agent-001", "--to", "agent-cli",
                             "--step", "7", "--json")
    assert code == 0, err
    assert json.loads(out)["location"] == "wandb://ent/demo/agent-cli:v0"
    assert [a["alias"] for a in fake.links[0]["aliases"]] == ["step7"]

    base = tmp_path / "art"
    code, out, err = run_cli(capsys, "fork", LOCATION, "-p", "demo", "-r", "agent-001", "--to", "agent-cli",
                             "--not-after-step", "8", "--to-location", str(base))
    assert code == 0, err
    step_dir = base / "demo" / "models" / "agent-cli" / "checkpoints" / "0008"
    assert {p.name: p.read_bytes() for p in step_dir.iterdir()} == lora_files(8, "agent-001")


def test_a_failing_server_is_one_line_on_stderr(fake, capsys):
    fake.fault = "500"
    code, out, err = run_cli(capsys, "ls", LOCATION)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("ckpt-tui: ") and "Traceback" not in err
