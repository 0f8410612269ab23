"""An Accelerate project written by Accelerate 1.16's own ``save_state`` (tests/fixtures/accelerate)."""

from __future__ import annotations

import os
from pathlib import Path


from ckpt_tui.cli import main
from ckpt_tui.core import Pending, Policy, execute_plan, plan_run
from ckpt_tui.core.execute import single_run
from ckpt_tui.stores.local import LocalStore


def as_written(trainer_tree) -> tuple[Path, dict]:
    """The project with each file's modification time as Accelerate left it (git keeps none)."""
    root, truth = trainer_tree("accelerate")
    for rel, mtime in truth["mtimes"].items():
        os.utime(root / "project" / rel, (mtime, mtime))
    return root / "project", truth


def load(root: Path):
    store = LocalStore(root)
    return store, store.load_run(*single_run(store))


def test_saves_are_numbered_by_accelerate_and_mapped_to_the_logged_step(trainer_tree):
    root, truth = as_written(trainer_tree)
    _, run = load(root)
    assert run.layout == "accelerate"
    by_name = {c.name: c for c in run.checkpoints}
    assert set(by_name) == set(truth["steps_by_checkpoint"])
    for name, step in truth["steps_by_checkpoint"].items():
        number = by_name[name].step
        assert number == int(name.split("_")[1])  # the save counter, said so
        assert "save counter, not a training step" in by_name[name].detail
        assert run.metrics.value(number, "global_step") == step  # the step the run logged before it
        assert run.metrics.value(number, "eval/loss") is not None


def test_keeping_the_last_saves_matches_total_limit(trainer_tree):
    root, truth = as_written(trainer_tree)
    store, run = load(root)
    execute_plan(store, plan_run(run, Policy.parse(f"last:{truth['total_limit']}", "none")))
    assert sorted(os.listdir(root / "checkpoints")) == truth["kept_by_accelerate"]


def test_a_save_without_its_random_states_is_unfinished(trainer_tree, capsys):
    root, truth = as_written(trainer_tree)
    os.unlink(root / "checkpoints" / "checkpoint_3" / "random_states_0.pkl")
    store, run = load(root)
    assert [(c.name, c.pending) for c in run.pending] == [("checkpoint_3", Pending.INCOMPLETE)]
    assert main(["prune", str(root), "--keep", "latest", "--metric", "none", "--yes", "--json"]) == 0
    assert sorted(os.listdir(root / "checkpoints")) == ["checkpoint_2", "checkpoint_3"]
    capsys.readouterr()


def test_slimming_keeps_the_weights(trainer_tree):
    root, _ = as_written(trainer_tree)
    store, _ = load(root)
    run = store.load_run(*single_run(store), with_state=True)
    state = {c.name: c.state for c in run.checkpoints}["checkpoint_0"]
    assert "optimizer.bin" in state.files and "random_states_0.pkl" in state.files
    assert "model.safetensors" not in state.files


def test_path_of_the_best_save_by_the_logged_metric(trainer_tree, capsys):
    root, _ = as_written(trainer_tree)
    _, run = load(root)
    best = min(run.checkpoints, key=lambda c: run.metrics.value(c.step, "eval/loss"))
    assert main(["path", str(root), "--best", "--metric", "eval/loss", "--mode", "min"]) == 0
    assert capsys.readouterr().out.strip() == str(root / "checkpoints" / best.name)


def test_numbers_that_do_not_follow_time_are_said(trainer_tree):
    root, truth = as_written(trainer_tree)
    first = root / "checkpoints" / "checkpoint_0"
    newest = max(truth["mtimes"].values()) + 10  # checkpoint_0 rewritten last, as by a resumed run
    for path in first.iterdir():
        os.utime(path, (newest, newest))
    _, run = load(root)
    assert any("do not follow time" in note and "1, 2, 3, 0" in note for note in run.metrics.notes)
    last_step = max(truth["steps_by_checkpoint"].values())
    assert run.metrics.value(0, "global_step") == last_step  # the values logged before it was written
