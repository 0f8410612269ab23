"""Runs Lightning's own ModelCheckpoint wrote (tests/fixtures/lightning, real-trainers/lightning-*) and an
interrupted Orbax save (tests/fixtures/orbax), checked against what the library says (``truth.json``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ckpt_tui.cli import main
from ckpt_tui.core import Pending, Policy, execute_plan, fork_checkpoint, plan_run
from ckpt_tui.core.execute import single_run
from ckpt_tui.core.resume import resume_checkpoint
from ckpt_tui.stores.layouts.lightning import lightning_values
from ckpt_tui.stores.local import LocalStore

LATEST_ONLY = Policy.parse("latest", "none")


def load(root: Path):
    store = LocalStore(root)
    project, run = single_run(store)
    return store, store.load_run(project, run)


def callback(truth: dict, fit: int = 0) -> dict:
    return truth["fits"][fit]["callbacks"][0]


def step_of(name: str) -> int:
    return int(lightning_values(name)["step"])


def prune_json(root: Path, capsys, *args: str) -> dict:
    assert main(["prune", str(root), *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)["plans"][0]


# -- ties: every tied step is kept, Lightning's own best among them --------------------------
def test_a_tie_for_best_keeps_lightnings_best_model_path(trainer_tree, capsys):
    root, truth = trainer_tree("real-trainers/lightning-top3_link")
    cb = callback(truth)
    _, run = load(root)
    scores = cb["best_k_models"]
    best = min(scores.values())
    tied = sorted(step_of(n) for n, v in scores.items() if v == best)
    assert len(tied) == 2 and step_of(cb["best_model_path"]) == tied[0]  # Lightning keeps the earlier
    for rules in ("best,latest", "top:1"):
        plan = plan_run(run, Policy.parse(rules, cb["monitor"], cb["mode"]))
        kept = {k.step for k in plan.keep}
        assert set(tied) <= kept
    plan = prune_json(root, capsys, "--metric", "val_loss", "--dry-run")
    assert plan["best_steps"] == tied and plan["best_step"] == tied[0]
    reasons = {k["name"]: k["reasons"] for k in plan["keep"]}
    assert "best val_loss (tied)" in reasons[cb["best_model_path"]]


def test_the_target_of_last_ckpt_is_kept(trainer_tree):
    root, truth = trainer_tree("real-trainers/lightning-top3_link")
    ckpts = root / truth["ckpt_dir"]
    store, run = load(root)
    target = truth["files"]["last.ckpt"]["target"]
    assert "last.ckpt" in run.protected[step_of(target)]
    execute_plan(store, plan_run(run, LATEST_ONLY))
    assert os.path.exists(ckpts / "last.ckpt") and (ckpts / callback(truth)["best_model_path"]).exists()


def test_names_carry_the_values_lightning_monitored(trainer_tree):
    root, truth = trainer_tree("real-trainers/lightning-all_min")
    store, run = load(root)
    cb = callback(truth)
    assert {c.name for c in run.checkpoints} == set(cb["best_k_models"])
    for name, score in cb["best_k_models"].items():
        assert run.metrics.value(step_of(name), "val_loss") == pytest.approx(score, abs=5e-5)  # 4 decimals
    plan = plan_run(run, Policy.parse("best,latest", cb["monitor"], cb["mode"]))
    assert plan.best_step == step_of(cb["best_model_path"])
    execute_plan(store, plan)
    assert sorted(os.listdir(root / truth["ckpt_dir"])) == sorted(
        {cb["best_model_path"], "epoch=7-step=40-val_loss=0.6612.ckpt", "last.ckpt"})


# -- default names: metrics come from the logger, one step later --------------------------
def test_logged_values_belong_to_the_checkpoint_saved_after_them(trainer_tree):
    root, truth = trainer_tree("lightning/default-names")
    _, run = load(root)
    fit = truth["fits"][0]
    steps = [c.step for c in run.checkpoints]
    assert truth["tensorboard_steps"]["val_loss"] == [s - 1 for s in steps]  # where the logger wrote them
    for step, values in fit["monitored_at_global_step"].items():
        for name, value in values.items():
            assert run.metrics.value(int(step), name) == pytest.approx(value, rel=1e-6)
    for step in steps:  # the loss of the batch that made the step, not of the batch after it
        assert run.metrics.value(step, "train_loss") == pytest.approx(fit["train_loss_at_global_step"][str(step)])


def test_prune_by_the_monitored_metric_keeps_every_tied_step(trainer_tree, capsys):
    root, truth = trainer_tree("lightning/default-names")
    cb = callback(truth)
    best = max(cb["best_k_models"].values())
    tied = sorted(step_of(n) for n, v in cb["best_k_models"].items() if v == best)
    plan = prune_json(root, capsys, "--metric", cb["monitor"], "--yes")
    assert plan["best_steps"] == tied and plan["best_step"] == step_of(cb["best_model_path"])
    assert (root / truth["ckpt_dir"] / cb["best_model_path"]).exists()
    assert prune_json(root, capsys, "--metric", "val_loss", "--dry-run")["refused"] is None


# -- a second fit: -v1 names and last-v1.ckpt --------------------------------------------------
def test_last_v1_and_its_target_are_kept(trainer_tree, capsys):
    root, truth = trainer_tree("lightning/two-fits")
    ckpts = root / truth["ckpt_dir"]
    target = truth["files"]["last-v1.ckpt"]["target"]
    assert callback(truth, 1)["last_model_path"] == "last-v1.ckpt"
    plan = prune_json(root, capsys, "--keep", "latest", "--metric", "none", "--yes")
    assert os.path.exists(ckpts / "last-v1.ckpt") and (ckpts / target).exists()  # nothing dangles
    assert "last-v1.ckpt" in {r for k in plan["keep"] if k["name"] == target for r in k["reasons"]}
    # Two checkpoints of step 5 (one per fit): told apart by name in the plan and on screen.
    assert sorted(d["name"] for d in plan["deleted"]) == ["epoch=0-step=5-v1.ckpt", "epoch=0-step=5.ckpt"]


def test_checkpoints_of_one_step_are_named_in_text(trainer_tree, capsys):
    root, _ = trainer_tree("lightning/two-fits")
    assert main(["prune", str(root), "--keep", "latest", "--metric", "none", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "5 (epoch=0-step=5-v1.ckpt), 5 (epoch=0-step=5.ckpt)" in out
    assert "10 (epoch=1-step=10-v1.ckpt)" in out and " 15 " in out and "15 (" not in out
    assert main(["ls", str(root), "--run", root.name]) == 0
    assert "10 (epoch=1-step=10.ckpt)" in capsys.readouterr().out


# -- a monitored metric named val/acc ------------------------------------------------------------
def test_a_slash_in_the_metric_makes_a_sub_folder_per_checkpoint(trainer_tree, capsys):
    root, truth = trainer_tree("lightning/slash-metric")
    ckpts = root / truth["ckpt_dir"]
    cb = callback(truth)
    store, run = load(root)
    assert {c.name for c in run.checkpoints} == set(cb["best_k_models"])  # the paths Lightning records
    for name, score in cb["best_k_models"].items():
        assert run.metrics.value(step_of(name), "val/acc") == pytest.approx(score, abs=5e-5)
    assert main(["path", str(root), "--best", "--metric", "val/acc"]) == 0
    assert capsys.readouterr().out.strip() == str(ckpts / cb["best_model_path"])  # the file to load
    fork_checkpoint(store, run.project, run.name, "copy", step=10)
    copied = root.parent / "copy" / "checkpoints"
    assert [str(p.relative_to(copied)) for p in copied.rglob("*.ckpt")] == [
        n for n in cb["best_k_models"] if step_of(n) == 10]
    execute_plan(store, plan_run(run, LATEST_ONLY))
    assert sorted(os.listdir(ckpts)) == ["epoch=2-step=15-val"]


def test_val_acc_in_names_answers_for_val_acc_monitored(trainer_tree, capsys):
    root, truth = trainer_tree("lightning/slash-metric-no-insert")
    cb = callback(truth)
    assert cb["monitor"] == "val/acc" and not cb["auto_insert_metric_name"]
    plan = prune_json(root, capsys, "--metric", "val/acc", "--dry-run")
    assert plan["refused"] is None and plan["best_step"] == step_of(cb["best_model_path"])
    assert main(["ls", str(root), "--json"]) == 0
    names = {m for c in json.loads(capsys.readouterr().out)["runs"][0]["checkpoints"] for m in c["metrics"]}
    assert names == {"epoch", "val_acc"}  # listed as logged, once


# -- Orbax 0.12: a save cut short ------------------------------------------------------------------
def test_an_orbax_save_in_progress_is_shown_and_left_alone(trainer_tree, capsys):
    root, truth = trainer_tree("orbax/in-progress")
    store, run = load(root)
    assert [c.step for c in run.checkpoints] == truth["library_view"]["CheckpointManager.all_steps()"]
    assert [(c.name, c.step, c.pending) for c in run.pending] == [
        (name, info["step"], Pending.SAVE_IN_PROGRESS) for name, info in truth["incomplete"].items()]
    assert all("commit_success.txt" in c.detail for c in run.checkpoints)
    assert dict(run.metrics.series("loss")) == {int(s): v for s, v in truth["metric"]["values"].items()}
    assert resume_checkpoint(run).step == truth["library_view"]["CheckpointManager.latest_step()"]
    execute_plan(store, plan_run(run, LATEST_ONLY))
    assert sorted(os.listdir(root)) == ["10", "15.orbax-checkpoint-tmp", "truth.json"]
    assert main(["ls", str(root), "--json"]) == 0
    pending = json.loads(capsys.readouterr().out)["runs"][0]["pending"]
    assert [(p["step"], p["complete"], p["pending"]) for p in pending] == [(15, False, "save in progress")]
