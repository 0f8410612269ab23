"""Hugging Face Trainer output directories written by transformers itself (tests/fixtures/hf-trainer)."""

import json
import os
import shutil
from pathlib import Path

import pytest

from ckpt_tui.cli import main
from ckpt_tui.core import Policy, Refused, execute_plan, fork_checkpoint, plan_run
from ckpt_tui.core.metrics import metrics_from_records
from ckpt_tui.stores.local import LocalStore

from layout_trees import tree_bytes

RUNS = {"full-model": list(range(4, 25, 4)), "lora-adapter": list(range(5, 31, 5))}


def trainer_state(run_dir: Path) -> dict:
    newest = max(run_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    return json.loads((newest / "trainer_state.json").read_text())


def steps_on_disk(run_dir: Path) -> set[int]:
    return {int(p.name.split("-")[1]) for p in run_dir.iterdir() if p.name.startswith("checkpoint-")}


def test_runs_steps_and_sizes(hf_fixture):
    store = LocalStore(hf_fixture)
    assert store.list_projects() == ["hf-trainer"]
    assert store.list_runs("hf-trainer") == ["full-model", "lora-adapter"]
    for name, steps in RUNS.items():
        run = store.load_run("hf-trainer", name)
        assert run.layout == "hf" and [c.step for c in run.checkpoints] == steps
        for ckpt in run.checkpoints:
            on_disk = {p.name: p.stat().st_size for p in (hf_fixture / name / ckpt.name).iterdir()}
            assert {f.path: f.bytes for f in store.checkpoint_files(run, ckpt)} == on_disk
            assert ckpt.bytes == sum(on_disk.values()) and ckpt.name == f"checkpoint-{ckpt.step}"


@pytest.mark.parametrize("name", RUNS)
def test_metrics_come_from_the_newest_trainer_state(hf_fixture, name):
    state = trainer_state(hf_fixture / name)
    run = LocalStore(hf_fixture).load_run("hf-trainer", name)
    assert run.metrics.by_step == metrics_from_records(state["log_history"]).by_step
    evals = {r["step"]: r["eval_loss"] for r in state["log_history"] if "eval_loss" in r}
    assert dict(run.metrics.series("eval_loss")) == evals and set(evals) == set(RUNS[name])
    assert len(run.metrics.series("loss")) == state["global_step"]


@pytest.mark.parametrize("name, trainer_best", [("full-model", 4), ("lora-adapter", 10)])
def test_best_eval_loss_agrees_with_the_trainer_and_survives_a_prune(hf_fixture, name, trainer_best):
    state = trainer_state(hf_fixture / name)
    assert state["best_model_checkpoint"].endswith(f"checkpoint-{trainer_best}")
    store = LocalStore(hf_fixture)
    run = store.load_run("hf-trainer", name)
    assert run.protected == {trainer_best: ("trainer's best",)}
    plan = plan_run(run, Policy.parse("best,latest", "eval_loss", "min"))
    assert plan.best_step == trainer_best and plan.best_value == pytest.approx(state["best_metric"])
    assert plan.reasons()[trainer_best] == ("best eval_loss", "trainer's best")
    result = execute_plan(store, plan)
    assert steps_on_disk(hf_fixture / name) == {trainer_best, RUNS[name][-1]}
    assert {d.step for d in result.deleted} == set(RUNS[name]) - {trainer_best, RUNS[name][-1]}


def test_the_trainers_best_is_kept_even_without_a_best_rule(hf_fixture):
    store = LocalStore(hf_fixture)
    plan = plan_run(store.load_run("hf-trainer", "full-model"), Policy.parse("latest", "none"))
    assert plan.reasons() == {4: ("trainer's best",), 24: ("latest",)}
    execute_plan(store, plan)
    assert steps_on_disk(hf_fixture / "full-model") == {4, 24}


def test_the_store_refuses_to_delete_the_trainers_best(hf_fixture):
    store = LocalStore(hf_fixture)
    run = store.load_run("hf-trainer", "full-model")
    with pytest.raises(Refused, match="trainer's best"):
        store.delete_checkpoint("hf-trainer", "full-model", run.checkpoint(4))
    assert (hf_fixture / "full-model" / "checkpoint-4" / "trainer_state.json").exists()


def test_a_save_in_progress_is_shown_and_never_deleted(hf_fixture):
    run_dir = hf_fixture / "full-model"
    shutil.copytree(run_dir / "checkpoint-8", run_dir / "tmp-checkpoint-28")
    store = LocalStore(hf_fixture)
    run = store.load_run("hf-trainer", "full-model")
    assert run.latest_step == 24
    assert [(c.step, c.name, c.note, c.complete) for c in run.pending] == [
        (28, "tmp-checkpoint-28", "save in progress: tmp-checkpoint-N: the Trainer renames it to checkpoint-N when the save is done", False)]
    plan = plan_run(run, Policy.parse("latest", "none"))
    assert [(p.step, p.reasons) for p in plan.pending] == [(28, ("save in progress: tmp-checkpoint-N: the Trainer renames it to checkpoint-N when the save is done",))]
    execute_plan(store, plan)
    assert (run_dir / "tmp-checkpoint-28" / "trainer_state.json").exists()


def test_the_output_dir_itself_is_a_location(hf_fixture):
    store = LocalStore(hf_fixture / "lora-adapter")
    assert store.list_projects() == ["hf-trainer"] and store.list_runs("hf-trainer") == ["lora-adapter"]
    assert [c.step for c in store.load_run("hf-trainer", "lora-adapter").checkpoints] == RUNS["lora-adapter"]


def test_fork_writes_a_new_output_dir_in_the_same_layout(hf_fixture):
    store = LocalStore(hf_fixture)
    result = fork_checkpoint(store, "hf-trainer", "full-model", "full-model-b", step=8)
    new = hf_fixture / "full-model-b"
    assert os.listdir(new) == ["checkpoint-8"] and result.location == str(new / "checkpoint-8")
    assert tree_bytes(new / "checkpoint-8") == tree_bytes(hf_fixture / "full-model" / "checkpoint-8")
    forked = store.load_run("hf-trainer", "full-model-b")
    assert forked.layout == "hf" and [c.step for c in forked.checkpoints] == [8]
    # Its log is the one the checkpoint carries: up to step 8.
    state = json.loads((new / "checkpoint-8" / "trainer_state.json").read_text())
    assert max(forked.metrics.by_step) == 8 == state["global_step"]
    # The Trainer's best at step 8 was step 4, which the new run does not hold.
    assert state["best_model_checkpoint"].endswith("checkpoint-4") and forked.protected == {}


def test_fork_with_history_is_refused_for_hf_and_writes_nothing(hf_fixture):
    with pytest.raises(Refused, match="with-history"):
        fork_checkpoint(LocalStore(hf_fixture), "hf-trainer", "full-model", "x", with_history=True)
    assert sorted(os.listdir(hf_fixture)) == ["full-model", "lora-adapter"]


def test_cli_forks_the_only_run_of_an_output_dir(hf_fixture, capsys):
    assert main(["fork", str(hf_fixture / "full-model"), "--to", "again", "--step", "12", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["project"], out["run"], out["step"]) == ("hf-trainer", "full-model", 12)
    assert (hf_fixture / "again" / "checkpoint-12" / "model.safetensors").exists()
    # Two runs now sit side by side: the source must be named.
    assert main(["fork", str(hf_fixture), "--to", "third"]) == 2
    assert "holds 3 runs" in capsys.readouterr().err
    assert main(["fork", str(hf_fixture), "-p", "hf-trainer", "-r", "again", "--to", "third"]) == 0


def test_cli_ls_and_prune_show_the_layout_and_the_trainers_reason(hf_fixture, capsys):
    assert main(["ls", str(hf_fixture), "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)["runs"]
    assert [(r["run"], r["layout"]) for r in runs] == [("full-model", "hf"), ("lora-adapter", "hf")]
    assert main(["prune", str(hf_fixture), "-r", "lora-adapter", "-p", "hf-trainer",
                 "--metric", "eval_loss", "--mode", "min", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "best eval_loss, trainer's best" in out and "delete  4 step(s): 5, 15, 20, 25" in out
