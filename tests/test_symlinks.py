"""Symbolic links are never followed: not into another run, not out of the location."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_run import run_cli

from ckpt_tui.core import Policy, plan_run
from ckpt_tui.stores.local import LocalStore

pytestmark = pytest.mark.usefixtures("no_terminal")

MODELS = "demo/models"


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.is_symlink()}


def steps(base: Path, model: str) -> list[str]:
    return sorted(p.name for p in (base / MODELS / model / "checkpoints").iterdir())


def test_a_run_whose_checkpoints_folder_links_to_another_run_is_never_pruned(art_base, capsys):
    own = art_base / MODELS / "agent-002" / "checkpoints"
    shutil.rmtree(own)
    own.symlink_to(art_base / MODELS / "agent-001" / "checkpoints", target_is_directory=True)
    before = snapshot(art_base / MODELS / "agent-001")
    # agent-002's history would make agent-001's best step (10) a deletion.
    code, out, _ = run_cli(capsys, "prune", art_base, "-p", "demo", "-r", "agent-002", "--yes", "--json")
    assert code == 0 and json.loads(out)["plans"][0]["delete"] == []
    assert snapshot(art_base / MODELS / "agent-001") == before
    code, out, _ = run_cli(capsys, "ls", art_base, "--json")
    run = next(r for r in json.loads(out)["runs"] if r["run"] == "agent-002")
    assert code == 0 and run["checkpoints"] == []
    assert any("symbolic link; not followed" in note for note in run["notes"])
    code, out, _ = run_cli(capsys, "ls", art_base)
    assert code == 0 and "agent-002/checkpoints is a symbolic link; not followed" in out


def test_linked_projects_runs_and_steps_are_shown_never_pruned_or_forked_into(art_base, capsys):
    (art_base / "alias").symlink_to(art_base / "demo", target_is_directory=True)
    (art_base / MODELS / "agent-003").symlink_to(art_base / MODELS / "agent-001", target_is_directory=True)
    (art_base / MODELS / "agent-002" / "checkpoints" / "0009").symlink_to(
        art_base / MODELS / "agent-001" / "checkpoints" / "0003", target_is_directory=True)
    code, out, err = run_cli(capsys, "ls", art_base, "--json")
    listed = json.loads(out)
    assert code == 0 and {r["run"] for r in listed["runs"]} == {"agent-001", "agent-002", "agent-legacy"}
    assert {n.split("/")[-1].split()[0] for n in listed["notes"]} == {"alias", "agent-003"}
    agent2 = next(r for r in listed["runs"] if r["run"] == "agent-002")
    assert [(p["name"], p["note"]) for p in agent2["pending"]] == [("0009", "symbolic link, not followed")]
    code, _, err = run_cli(capsys, "ls", art_base)
    assert code == 0 and "alias is a symbolic link; not followed" in err
    before = snapshot(art_base / MODELS / "agent-001")
    code, _, err = run_cli(capsys, "prune", art_base, "-p", "demo", "-r", "agent-002", "--yes")
    assert code == 0 and steps(art_base, "agent-002") == ["0003", "0005", "0009"]
    assert snapshot(art_base / MODELS / "agent-001") == before
    for target in ("agent-003", "agent-002"):  # a linked run, a run with a linked step
        code, _, err = run_cli(capsys, "fork", art_base, "-p", "demo", "-r", "agent-legacy", "--to", target)
        assert code == 2 and "exists" in err
    assert snapshot(art_base / MODELS / "agent-001") == before
    assert (art_base / MODELS / "agent-003").is_symlink()


def test_a_history_linked_out_of_the_location_is_not_read(art_base, tmp_path, capsys):
    history = art_base / MODELS / "agent-001" / "history.jsonl"
    outside = tmp_path / "outside.jsonl"
    shutil.move(history, outside)
    history.symlink_to(outside)
    assert LocalStore(art_base).load_run("demo", "agent-001").metrics.by_step == {}
    code, _, err = run_cli(capsys, "prune", art_base, "-p", "demo", "-r", "agent-001", "--yes")
    assert code == 2 and "leading out of" in err and len(steps(art_base, "agent-001")) == 12
    history.unlink()
    shutil.copy(outside, art_base / "demo" / "history-copy.jsonl")
    history.symlink_to("../../history-copy.jsonl")  # a link inside the location is read
    assert LocalStore(art_base).load_run("demo", "agent-001").metrics.value(10, "val/reward") > 0.8


def hf_run(root: Path, state: dict) -> Path:
    for step in (5, 10, 15):
        (root / f"checkpoint-{step}").mkdir(parents=True)
        (root / f"checkpoint-{step}" / "model.safetensors").write_bytes(b"w" * step)
        (root / f"checkpoint-{step}" / "trainer_state.json").write_text(json.dumps(state))
    return root


def test_a_trainer_state_linked_out_of_the_location_is_not_read(tmp_path):
    state = {"best_model_checkpoint": "out/checkpoint-5",
             "log_history": [{"step": s, "eval_loss": 1 / s} for s in (5, 10, 15)]}
    run = hf_run(tmp_path / "base" / "out", {})
    (tmp_path / "state.json").write_text(json.dumps(state))
    newest = run / "checkpoint-15" / "trainer_state.json"
    newest.unlink()
    newest.symlink_to(tmp_path / "state.json")
    loaded = LocalStore(tmp_path / "base").load_run("base", "out")
    assert loaded.protected == {} and loaded.metrics.by_step == {}
    newest.unlink()
    shutil.copy(tmp_path / "state.json", newest)  # the same content, as a file: read
    loaded = LocalStore(tmp_path / "base").load_run("base", "out")
    assert loaded.protected == {5: ("trainer's best",)} and loaded.metrics.value(15, "eval_loss") == 1 / 15


def test_a_tracker_linked_out_of_the_location_is_not_read(tmp_path):
    from layouts.layout_trees import megatron_save

    run = megatron_save(tmp_path / "base" / "run", tracker=None)
    (tmp_path / "tracker.txt").write_text("10")
    (run / "latest_checkpointed_iteration.txt").symlink_to(tmp_path / "tracker.txt")
    loaded = LocalStore(tmp_path / "base").load_run("base", "run")
    assert [c.step for c in loaded.checkpoints] == [10, 20, 30, 40] and loaded.protected == {}
    plan = plan_run(loaded, Policy.parse("latest", "none"))  # not read is not absent: refused
    assert plan.delete == [] and "leading out of" in plan.refused
    (run / "latest_checkpointed_iteration.txt").unlink()
    shutil.copy(tmp_path / "tracker.txt", run / "latest_checkpointed_iteration.txt")
    assert [c.step for c in LocalStore(tmp_path / "base").load_run("base", "run").checkpoints] == [10]
