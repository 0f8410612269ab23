"""Lightning runs with TensorBoard loggers (tests/fixtures/lightning, written by Lightning 2.6.6 itself):
two fits into one checkpoint folder, and a file name whose label is not the monitored metric's."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ckpt_tui.cli import main
from ckpt_tui.core.execute import single_run
from ckpt_tui.stores.layouts.lightning import lightning_values
from ckpt_tui.stores.local import LocalStore


def as_written(trainer_tree, name: str) -> tuple[Path, dict]:
    """The fixture with each checkpoint's modification time as Lightning left it (git keeps none)."""
    root, truth = trainer_tree(name)
    for rel, info in truth["files"].items():
        os.utime(root / truth["ckpt_dir"] / rel, (info["mtime"], info["mtime"]))
    return root, truth


def step_of(name: str) -> int:
    return int(lightning_values(name)["step"])


def scores(truth: dict) -> dict[str, float]:
    """Each checkpoint file and the score the fit that wrote it recorded in ``best_k_models``."""
    return {name: score for fit in truth["fits"] for name, score in fit["callbacks"][0]["best_k_models"].items()}


def test_two_fits_show_the_trainers_metric_names(trainer_tree):
    root, truth = as_written(trainer_tree, "lightning/two-fits-logged")
    assert [fit["logger_version"] for fit in truth["fits"]] == [0, 1]
    store = LocalStore(root)
    run = store.load_run(*single_run(store))
    assert set(run.metrics.names()) == {"epoch", "train_loss", "val_loss", "val_acc", "val/acc"}


def test_each_checkpoint_has_the_value_of_the_fit_that_wrote_it(trainer_tree):
    root, truth = as_written(trainer_tree, "lightning/two-fits-logged")
    store = LocalStore(root)
    run = store.load_run(*single_run(store))
    recorded = scores(truth)
    newest = {}  # one value per step: a step both fits saved has the newer fit's
    for name in sorted(recorded, key=lambda n: truth["files"][n]["mtime"]):
        newest[step_of(name)] = recorded[name]
    assert {c.step for c in run.checkpoints} == set(newest)
    for step, score in newest.items():
        assert run.metrics.value(step, "val_loss") == pytest.approx(score, rel=1e-6)
    # The second fit also logged at steps 5 and 15, where only the first one saved.
    second = truth["fits"][1]["monitored_at_global_step"]
    assert run.metrics.value(15, "val_loss") != pytest.approx(second["15"]["val_loss"])


def test_prune_by_val_loss_plans_by_what_lightning_recorded(trainer_tree, capsys):
    root, truth = as_written(trainer_tree, "lightning/two-fits-logged")
    recorded = scores(truth)
    best = min(recorded, key=recorded.get)
    assert main(["prune", str(root), "--metric", "val_loss", "--keep", "best,latest", "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)["plans"][0]
    assert plan["refused"] is None and plan["best_step"] == step_of(best)
    assert best in {k["name"] for k in plan["keep"]}


def test_a_label_unlike_the_metric_is_merged_with_the_logger(trainer_tree, capsys):
    root, truth = as_written(trainer_tree, "lightning/custom-filename-logged")
    cb = truth["fits"][0]["callbacks"][0]
    assert cb["monitor"] == "val/acc" and "val_acc=" in cb["filename"]
    store = LocalStore(root)
    run = store.load_run(*single_run(store))
    monitored = truth["fits"][0]["monitored_at_global_step"]
    for ckpt in run.checkpoints:  # the logger's val/acc at every checkpoint, beside the name's val_acc
        assert run.metrics.value(ckpt.step, "val/acc") == pytest.approx(monitored[str(ckpt.step)]["val/acc"])
        assert run.metrics.value(ckpt.step, "val_loss") == pytest.approx(monitored[str(ckpt.step)]["val_loss"])
        assert run.metrics.value(ckpt.step, "val_acc") == pytest.approx(cb["best_k_models"][ckpt.name], abs=5e-5)
    assert main(["prune", str(root), "--metric", "val/acc", "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)["plans"][0]
    tied = sorted(step_of(n) for n, v in cb["best_k_models"].items() if v == cb["best_model_score"])
    assert plan["best_steps"] == tied and plan["best_step"] == step_of(cb["best_model_path"])
