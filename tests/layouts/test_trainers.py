"""Megatron-LM/slime, verl, Lightning and Orbax trees: listing, protected steps, prune and fork."""

import os
import shutil

import pytest
from layout_trees import (LIGHTNING_FILES, blob, lightning_dir, listing, megatron_save, orbax_dir, tree_bytes,
                          verl_dir)

from ckpt_tui.core import AlreadyExists, Pending, Policy, execute_plan, fork_checkpoint, plan_run
from ckpt_tui.stores.local import LocalStore

LATEST_ONLY = Policy.parse("latest", "none")


def prune(store: LocalStore, project: str, run: str, policy: Policy = LATEST_ONLY):
    return execute_plan(store, plan_run(store.load_run(project, run), policy))


# -- Megatron-LM / slime ---------------------------------------------------------
def test_megatron_tracker_protects_and_a_later_save_is_unfinished(tmp_path):
    save = megatron_save(tmp_path / "runs" / "glm-rl")
    (save / "hf" / "iter_0000030").mkdir(parents=True)  # slime's HF export beside the saves
    (save / "hf" / "iter_0000030" / "config.json").write_text("{}")
    store = LocalStore(tmp_path / "runs")
    run = store.load_run("runs", "glm-rl")
    assert run.layout == "megatron" and [c.step for c in run.checkpoints] == [10, 20, 30]
    assert run.protected == {30: ("tracker",)}
    assert [(c.step, c.note) for c in run.pending] == [
        (40, "newer than the tracker (save unfinished): latest_checkpointed_iteration.txt names step 30")]
    assert run.checkpoint(20).bytes == 1001 + 40 + 100 + len('{"sharded_backend": "torch_dist"}')
    result = prune(store, "runs", "glm-rl")
    assert {d.step for d in result.deleted} == {10, 20}
    assert listing(save) == ["hf", "iter_0000030", "iter_0000040", "latest_checkpointed_iteration.txt"]
    assert (save / "hf" / "iter_0000030" / "config.json").exists()


def test_megatron_fork_writes_the_iteration_and_its_tracker(tmp_path):
    megatron_save(tmp_path / "runs" / "a")
    store = LocalStore(tmp_path / "runs")
    fork_checkpoint(store, "runs", "a", "b", step=20)
    new = tmp_path / "runs" / "b"
    assert listing(new) == ["iter_0000020", "latest_checkpointed_iteration.txt"]
    assert (new / "latest_checkpointed_iteration.txt").read_text().strip() == "20"
    assert tree_bytes(new / "iter_0000020") == tree_bytes(tmp_path / "runs" / "a" / "iter_0000020")
    # A fork creates a new run: a second one into the same name is refused, and changes nothing.
    with pytest.raises(AlreadyExists, match="a fork creates a new run"):
        fork_checkpoint(store, "runs", "a", "b", step=10)
    assert listing(new) == ["iter_0000020", "latest_checkpointed_iteration.txt"]
    assert store.load_run("runs", "b").protected == {20: ("tracker",)}
    with pytest.raises(AlreadyExists):
        fork_checkpoint(store, "runs", "a", "b", step=20)


# -- verl -----------------------------------------------------------------------------
def test_verl_steps_tracker_and_fork(tmp_path):
    root = verl_dir(tmp_path / "checkpoints" / "gsm8k-ppo", tracker="10")
    store = LocalStore(tmp_path / "checkpoints")
    run = store.load_run("checkpoints", "gsm8k-ppo")
    assert run.layout == "verl" and [c.step for c in run.checkpoints] == [5, 10]
    assert run.protected == {10: ("tracker",)} and [c.step for c in run.pending] == [15]
    assert {f.path for f in store.checkpoint_files(run, run.checkpoint(5))} >= {"data.pt",
                                                                                "actor/huggingface/config.json"}
    fork_checkpoint(store, "checkpoints", "gsm8k-ppo", "gsm8k-ppo-b", step=5)
    new = tmp_path / "checkpoints" / "gsm8k-ppo-b"
    assert listing(new) == ["global_step_5", "latest_checkpointed_iteration.txt"]
    assert (new / "latest_checkpointed_iteration.txt").read_text().strip() == "5"
    prune(store, "checkpoints", "gsm8k-ppo")
    assert listing(root) == ["global_step_10", "global_step_15", "latest_checkpointed_iteration.txt"]


# -- PyTorch Lightning ---------------------------------------------------------
def test_lightning_files_metrics_and_pointers(tmp_path):
    lightning_dir(tmp_path / "lightning_logs" / "version_0", last_link=300, best_k=(100,))
    store = LocalStore(tmp_path / "lightning_logs")
    assert store.list_projects() == ["lightning_logs"] and store.list_runs("lightning_logs") == ["version_0"]
    run = store.load_run("lightning_logs", "version_0")
    assert run.layout == "lightning" and [c.step for c in run.checkpoints] == [100, 200, 300]
    assert [c.bytes for c in run.checkpoints] == [2000, 2001, 2002]
    assert run.metrics.series("val_loss") == [(100, 0.5), (200, 0.3), (300, 0.4)]
    assert run.protected == {300: ("last.ckpt",), 100: ("trainer's best",)}
    plan = plan_run(run, Policy.parse("best,latest", "val_loss", "min"))
    assert plan.best_step == 200 and plan.delete == []
    prune(store, "lightning_logs", "version_0")
    ckpts = tmp_path / "lightning_logs" / "version_0" / "checkpoints"
    assert listing(ckpts) == sorted([LIGHTNING_FILES[100], LIGHTNING_FILES[300], "best_k_models.yaml",
                                     "last.ckpt"])
    assert os.readlink(ckpts / "last.ckpt") == LIGHTNING_FILES[300]


def test_lightning_last_copy_is_never_a_step(tmp_path):
    ckpts = lightning_dir(tmp_path / "logs" / "version_1", last_link=None)
    shutil.copy(ckpts / LIGHTNING_FILES[300], ckpts / "last.ckpt")
    store = LocalStore(tmp_path / "logs")
    run = store.load_run("logs", "version_1")
    assert "last.ckpt" not in {c.name for c in run.checkpoints + run.pending}
    prune(store, "logs", "version_1")
    assert listing(ckpts) == [LIGHTNING_FILES[300], "last.ckpt"]


def test_lightning_single_file_delete_is_crash_safe(tmp_path, monkeypatch):
    ckpts = lightning_dir(tmp_path / "logs" / "version_0", last_link=None)
    store = LocalStore(tmp_path / "logs")
    real_unlink = os.unlink

    def crash(path, *args, **kwargs):
        if os.path.basename(path).startswith(".deleting-100-"):
            raise OSError(5, "Input/output error")
        return real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", crash)
    result = prune(store, "logs", "version_0")
    assert [d.step for d, _ in result.failed] == [100] and [d.step for d in result.deleted] == [200]
    monkeypatch.setattr(os, "unlink", real_unlink)
    run = store.load_run("logs", "version_0")
    assert [c.step for c in run.checkpoints] == [300]
    assert [(c.step, c.note) for c in run.pending] == [(100, "interrupted delete")]
    prune(store, "logs", "version_0")
    assert listing(ckpts) == [LIGHTNING_FILES[300]]


def test_lightning_fork_copies_the_file_under_its_name(tmp_path):
    lightning_dir(tmp_path / "logs" / "version_0")
    store = LocalStore(tmp_path / "logs")
    result = fork_checkpoint(store, "logs", "version_0", "version_0-b", step=200)
    target = tmp_path / "logs" / "version_0-b" / "checkpoints" / LIGHTNING_FILES[200]
    assert result.location == str(target) and target.read_bytes() == b"\0" * 2001
    assert listing(target.parent) == [LIGHTNING_FILES[200]]
    assert store.load_run("logs", "version_0-b").metrics.value(200, "val_loss") == 0.3


# -- Orbax ----------------------------------------------------------------------------
@pytest.mark.parametrize("prefix", ["", "state"])
def test_orbax_steps_metrics_and_saves_in_progress(tmp_path, prefix):
    root = orbax_dir(tmp_path / "jax" / "run1", prefix=prefix)
    store = LocalStore(tmp_path / "jax")
    run = store.load_run("jax", "run1")
    assert run.layout == "orbax" and [c.step for c in run.checkpoints] == [100, 200, 300]
    assert run.metrics.series("loss") == [(100, 0.01), (200, 0.005), (300, 1 / 300)]
    assert [(c.step, c.note) for c in run.pending] == [(400, "save in progress: a .orbax-checkpoint-tmp name: Orbax renames the step when the save is done")]
    plan = plan_run(run, Policy.parse("best,latest", "accuracy", "max"))
    assert plan.best_step == 300 and [d.step for d in plan.delete] == [100, 200]
    execute_plan(store, plan)
    tmp_name = f"{prefix + '_' if prefix else ''}400.orbax-checkpoint-tmp-1712345678"
    assert listing(root) == [f"{prefix + '_' if prefix else ''}300", tmp_name]
    fork_checkpoint(store, "jax", "run1", "run2")
    assert listing(tmp_path / "jax" / "run2") == [f"{prefix + '_' if prefix else ''}300"]


def test_megatron_legacy_iterations_rest_on_the_tracker(tmp_path):
    save = tmp_path / "runs" / "legacy"
    for step in (10, 20):
        blob(save / f"iter_{step:07d}" / "mp_rank_00" / "model_optim_rng.pt", 50)  # no metadata.json: legacy
    (save / "latest_checkpointed_iteration.txt").write_text("20")
    run = LocalStore(tmp_path / "runs").load_run("runs", "legacy")
    assert [(c.step, c.detail) for c in run.checkpoints] == [
        (10, "before the step latest_checkpointed_iteration.txt names (20)"),
        (20, "named by latest_checkpointed_iteration.txt")]


def test_an_orbax_step_with_an_item_still_under_its_temporary_name_is_unfinished(tmp_path):
    root = orbax_dir(tmp_path / "jax" / "run1", in_progress=None)
    (root / "300" / "default").rename(root / "300" / "default.orbax-checkpoint-tmp")
    run = LocalStore(tmp_path / "jax").load_run("jax", "run1")
    assert [c.step for c in run.checkpoints] == [100, 200]
    assert [(c.step, c.pending, c.detail) for c in run.pending] == [
        (300, Pending.SAVE_IN_PROGRESS, "item(s) still under a temporary name: default.orbax-checkpoint-tmp")]
