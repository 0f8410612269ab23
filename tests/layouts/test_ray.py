"""Runs Ray 2.60 wrote itself (tests/fixtures/ray): a Tune trial and a Ray Train v2 run, checked
against what Ray kept with ``CheckpointConfig(num_to_keep=2, checkpoint_score_attribute="loss",
checkpoint_score_order="min")`` for the same reports."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from ckpt_tui.cli import main
from ckpt_tui.core import Pending, Policy, execute_plan, plan_run
from ckpt_tui.stores.layouts.ray import SNAPSHOT_REASON
from ckpt_tui.stores.local import LocalStore


def ray_rule(truth: dict) -> Policy:
    """Ray's CheckpointConfig as a rule: the num_to_keep best by the attribute, and the latest."""
    rule = truth["rule"]
    return Policy.parse(f"top:{rule['num_to_keep']},latest", rule["checkpoint_score_attribute"],
                        rule["checkpoint_score_order"])


def only_run(root: Path):
    store = LocalStore(root)
    (project,) = store.list_projects()
    (run,) = store.list_runs(project)
    return store, store.load_run(project, run)


def kept_on_disk(root: Path, truth: dict) -> list[str]:
    return sorted(str(p.relative_to(root).as_posix()) for p in root.rglob("checkpoint_*") if p.is_dir())


def test_tune_metrics_are_the_reports_that_named_each_checkpoint(trainer_tree):
    root, truth = trainer_tree("ray/tune")
    _, run = only_run(root / "exp")
    assert run.layout == "ray"
    by_name = {c.name: c for c in run.checkpoints}
    for path, info in truth["checkpoints"].items():
        ckpt = by_name[path.split("/")[-1]]
        assert run.metrics.value(ckpt.step, "loss") == info["loss"]
        assert run.metrics.value(ckpt.step, "training_iteration") == info["report"] + 1
        assert "named in result.json" in ckpt.detail


def test_tune_prune_keeps_what_ray_keeps(trainer_tree):
    root, truth = trainer_tree("ray/tune")
    store, run = only_run(root / "exp")
    execute_plan(store, plan_run(run, ray_rule(truth)))
    assert kept_on_disk(root / "exp", truth) == truth["kept_by_ray"]


def test_a_checkpoint_no_report_names_yet_is_a_save_in_progress(trainer_tree):
    root, truth = trainer_tree("ray/tune")
    trial = root / "exp" / truth["kept_by_ray"][0].split("/")[0]
    shutil.copytree(trial / "checkpoint_000005", trial / "checkpoint_000006")
    store, run = only_run(root / "exp")
    assert [(c.name, c.pending) for c in run.pending] == [("checkpoint_000006", Pending.SAVE_IN_PROGRESS)]
    execute_plan(store, plan_run(run, Policy.parse("latest", "none")))
    assert sorted(os.listdir(trial)).count("checkpoint_000006") == 1


def test_tune_progress_csv_alone_gives_the_same_metrics(trainer_tree):
    root, truth = trainer_tree("ray/tune")
    for result in (root / "exp").rglob("result.json"):
        result.unlink()
    _, run = only_run(root / "exp")
    assert {c.step: run.metrics.value(c.step, "loss") for c in run.checkpoints} == {
        int(p[-6:]): info["loss"] for p, info in truth["checkpoints"].items()}


def test_train_v2_rule_selects_what_ray_keeps_and_the_snapshot_is_honoured(trainer_tree):
    root, truth = trainer_tree("ray/train-v2")
    store, run = only_run(root / "train-run")
    assert run.layout == "ray-train"
    names = {c.step: c.name for c in run.checkpoints}
    losses = {names[c.step]: run.metrics.value(c.step, "loss") for c in run.checkpoints}
    assert losses == {p: info["loss"] for p, info in truth["checkpoints"].items()}
    plan = plan_run(run, ray_rule(truth))
    by_rule = sorted(names[k.step] for k in plan.keep if set(k.reasons) - {SNAPSHOT_REASON})
    assert by_rule == truth["kept_by_ray"]
    # Ray refuses to resume a run missing a folder its snapshot lists: all of them stay.
    execute_plan(store, plan)
    assert kept_on_disk(root / "train-run", truth) == sorted(truth["checkpoints"])


def test_train_v2_untracked_folders_may_go(trainer_tree):
    root, truth = trainer_tree("ray/train-v2")
    run_dir = root / "train-run"
    first = sorted(truth["checkpoints"])[0]
    shutil.copytree(run_dir / first, run_dir / "checkpoint_2020-01-01_00-00-00.000001")
    store, run = only_run(run_dir)
    execute_plan(store, plan_run(run, Policy.parse("latest", "none")))
    assert "checkpoint_2020-01-01_00-00-00.000001" not in os.listdir(run_dir)


@pytest.mark.parametrize("fixture", ["ray/tune", "ray/train-v2"])
def test_path_names_the_checkpoint_folder(trainer_tree, capsys, fixture):
    root, truth = trainer_tree(fixture)
    best = min(truth["checkpoints"], key=lambda p: truth["checkpoints"][p]["loss"])
    location = root / ("exp" if fixture == "ray/tune" else "train-run")
    assert main(["path", str(location), "--best", "--metric", "loss", "--mode", "min"]) == 0
    assert capsys.readouterr().out.strip() == str(location / best)
