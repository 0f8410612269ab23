"""Trees written by the trainers themselves, and TensorBoard logs, read in an Azure container as on disk."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "layouts"))

from layout_trees import megatron_save  # noqa: E402

from ckpt_tui.core import Policy, execute_plan, plan_run  # noqa: E402
from ckpt_tui.stores.local import LocalStore  # noqa: E402

REAL_TREES = ["real-trainers/deepspeed-zero1", "real-trainers/nemo2", "real-trainers/torchtune-lora",
              "lightning/slash-metric", "orbax/in-progress"]


def same_run(got, want, got_store, want_store) -> None:
    assert (got.project, got.name, got.layout) == (want.project, want.name, want.layout)
    assert [(c.step, c.name, c.bytes, sorted(got_store.checkpoint_files(got, c))) for c in got.checkpoints] == [
        (c.step, c.name, c.bytes, sorted(want_store.checkpoint_files(want, c))) for c in want.checkpoints]
    assert [(c.step, c.name, c.note) for c in got.pending] == [(c.step, c.name, c.note) for c in want.pending]
    assert got.metrics.by_step == want.metrics.by_step and got.protected == want.protected


@pytest.mark.parametrize("name", REAL_TREES)
def test_trainer_trees_read_and_pruned_in_azure_as_on_disk(azure_location, trainer_tree, name):
    root, _ = trainer_tree(name)
    azure_location.prefix += f"{root.parent.name}/"  # the folder keeps its name, as on disk
    azure_location.upload(root.parent)
    store, local = azure_location.store(), LocalStore(root.parent)
    (project, run), = local_pairs = [(p, r) for p in local.list_projects() for r in local.list_runs(p)]
    assert [(p, r) for p in store.list_projects() for r in store.list_runs(p)] == local_pairs
    got, want = store.load_run(project, run), local.load_run(project, run)
    same_run(got, want, store, local)
    assert [c.detail for c in got.checkpoints + got.pending] == [c.detail for c in want.checkpoints + want.pending]
    assert [c.location.removeprefix(azure_location.url).rstrip("/") for c in got.checkpoints] == [
        c.location.removeprefix(str(root.parent)) for c in want.checkpoints]
    latest = Policy.parse("latest", "none")
    deleted = execute_plan(store, plan_run(got, latest)).deleted
    assert sorted(d.name for d in deleted) == sorted(d.name for d in execute_plan(local, plan_run(want, latest)).deleted)
    same_run(store.load_run(project, run), local.load_run(project, run), store, local)


def test_tensorboard_event_files_are_read_in_azure_too(azure_location, tmp_path):
    pytest.importorskip("tensorboard")
    from test_tensorboard import megatron_logs, write_events

    save = megatron_save(tmp_path / "runs" / "gpt")
    megatron_logs(save)
    write_events(save / "iter_0000010", [(10, {"lm-loss": 99.0})])  # inside a checkpoint: not the run's log
    azure_location.upload(tmp_path)
    got = azure_location.store().load_run("runs", "gpt")
    want = LocalStore(tmp_path / "runs").load_run("runs", "gpt")
    assert got.metrics.names() == ["learning-rate", "lm-loss"] and got.metrics.by_step == want.metrics.by_step
