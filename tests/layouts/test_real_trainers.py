"""Trees DeepSpeed, torch DCP, Megatron, torchtune, NeMo 2 and the HF Trainer with DeepSpeed wrote
(tests/fixtures/real-trainers), checked against what each library itself says (``truth.json``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ckpt_tui.cli import main
from ckpt_tui.core import Pending, Policy, Unreadable, execute_plan, fork_checkpoint, plan_run
from ckpt_tui.core.execute import single_run
from ckpt_tui.core.resume import resume_checkpoint
from ckpt_tui.stores.local import LocalStore

LATEST_ONLY = Policy.parse("latest", "none")
TREES = ["dcp-steps", "deepspeed-zero1", "deepspeed-zero3", "megatron-dcp", "torchtune-async", "torchtune-lora",
         "nemo2", "hf-deepspeed"]


def load(root: Path):
    store = LocalStore(root)
    project, run = single_run(store)
    return store, store.load_run(project, run)


def kept_by_the_library(truth: dict) -> set[str]:
    """What a latest-only prune must leave: the latest complete step and what the library protects."""
    return {name for name, step in truth["complete"].items()
            if step == truth["latest_complete_step"] or str(step) in truth["protected"]}


@pytest.mark.parametrize("name", TREES)
def test_steps_completeness_and_protection_as_the_library_says(trainer_tree, name):
    root, truth = trainer_tree(f"real-trainers/{name}")
    _, run = load(root)
    assert truth["layout"].split()[0] == run.layout
    assert {c.name: c.step for c in run.checkpoints} == truth["complete"]
    assert {c.name: c.step for c in run.pending} == {n: v["step"] for n, v in truth["incomplete"].items()}
    # Every checkpoint says why it is complete, or why not.
    assert all(c.complete and c.detail for c in run.checkpoints)
    assert all(c.pending in (Pending.INCOMPLETE, Pending.NEWER_THAN_TRACKER, Pending.SAVE_IN_PROGRESS) and c.detail
               for c in run.pending)
    assert set(run.protected) == {int(step) for step in truth["protected"]}
    assert resume_checkpoint(run).step == truth["latest_complete_step"]


@pytest.mark.parametrize("name", TREES)
def test_a_prune_leaves_what_the_library_needs(trainer_tree, name):
    root, truth = trainer_tree(f"real-trainers/{name}")
    store, run = load(root)
    folder = root / truth["run_dir"]
    before = set(os.listdir(folder))
    result = execute_plan(store, plan_run(run, LATEST_ONLY))
    assert result.ok and {d.name for d in result.deleted} == set(truth["complete"]) - kept_by_the_library(truth)
    # Unfinished saves, trackers, zero_to_fp32.py, recipe_state/, NeMo's -unfinished file: all still there.
    assert set(os.listdir(folder)) == before - {d.name for d in result.deleted}


@pytest.mark.parametrize("name", ["dcp-steps", "deepspeed-zero1", "megatron-dcp", "torchtune-async", "nemo2"])
def test_a_fork_writes_the_same_layout(trainer_tree, name):
    root, truth = trainer_tree(f"real-trainers/{name}")
    store, run = load(root)
    source = run.checkpoint(truth["latest_complete_step"])
    result = fork_checkpoint(store, run.project, run.name, run.name + "-b")
    forked_store = LocalStore(root.parent) if run.project == store.backend.outer_name else store
    forked = forked_store.load_run(run.project, run.name + "-b")
    assert result.step == source.step and forked.layout == run.layout
    assert [(c.step, c.name, c.bytes) for c in forked.checkpoints] == [(source.step, source.name, source.bytes)]
    assert forked.pending == [] and forked.checkpoints[0].detail


def test_deepspeed_latest_names_the_tag_a_fork_writes(trainer_tree):
    root, truth = trainer_tree("real-trainers/deepspeed-zero1")
    store, run = load(root)
    fork_checkpoint(store, run.project, run.name, "again", step=4)
    assert (root.parent / "again" / "latest").read_text() == "global_step4"  # no newline, as DeepSpeed writes it
    assert LocalStore(root.parent).load_run(run.project, "again").protected == {4: ("latest file",)}
    unfinished = run.pending[0]
    assert unfinished.pending is Pending.NEWER_THAN_TRACKER
    assert "zero_pp_rank_0_mp_rank_00_optim_states.pt" in unfinished.detail  # the shard it lacks


def test_megatron_torch_dist_below_the_tracker_without_metadata_is_unfinished(trainer_tree):
    root, _ = trainer_tree("real-trainers/megatron-dcp")
    (root / "latest_checkpointed_iteration.txt").write_text("40")  # a restart saved past a broken 40
    (root / "iter_0000050").mkdir()
    for part in ("common.pt", "metadata.json", ".metadata", "__0_0.distcp"):
        (root / "iter_0000050" / part).write_bytes((root / "iter_0000030" / part).read_bytes())
    (root / "latest_checkpointed_iteration.txt").write_text("50")
    _, run = load(root)
    assert [c.step for c in run.checkpoints] == [10, 20, 30, 50]
    assert [(c.step, c.pending) for c in run.pending] == [(40, Pending.INCOMPLETE)]
    assert "metadata.json" in run.pending[0].detail


def test_nemo_metrics_best_and_the_last_copy(trainer_tree, capsys):
    root, truth = trainer_tree("real-trainers/nemo2")
    store, run = load(root)
    metric = truth["metric"]
    assert dict(run.metrics.series(metric["name"])) == {int(s): v for s, v in metric["values"].items()} | {49: 2.05}
    plan = plan_run(run, Policy.parse("best,latest", metric["name"], metric["mode"]))
    assert plan.best_steps == [metric["best_step"]]
    # Two checkpoints of step 39, the -last copy NeMo resumes from and the one it copies: both kept, by name.
    kept = {k.name: k.reasons for k in plan.keep}
    assert kept[truth["last_entry"]] == ("latest", "-last (NeMo resumes from it)")
    assert main(["path", str(root), "--best", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert (found["step"], found["metric"], found["layout"]) == (metric["best_step"], "val_loss", "nemo2")
    assert found["path"] == str(root / truth["run_dir"] / found["name"])


def test_hf_with_deepspeed_inside_stays_one_hf_run(trainer_tree):
    root, truth = trainer_tree("real-trainers/hf-deepspeed")
    _, run = load(root)
    metric = truth["metric"]
    assert dict(run.metrics.series(metric["name"])) == {int(s): v for s, v in metric["values"].items()}
    plan = plan_run(run, Policy.parse("best,latest", metric["name"], metric["mode"]))
    assert plan.best_step == metric["best_step_by_trainer"]
    inner = {n: d["latest"] for n, d in truth["deepspeed_inside"].items()}
    assert all((root / n / "latest").read_text() == tag for n, tag in inner.items())


def test_torchtune_epochs_and_its_recipe_state(trainer_tree):
    root, truth = trainer_tree("real-trainers/torchtune-lora")
    store, run = load(root)
    assert run.checkpoints[-1].name == truth["library_view"]["get_largest_iter_folder(output_dir)"]
    assert "1 of 1 model shards" in run.checkpoints[0].detail
    (root / "epoch_2" / "model-00001-of-00001.safetensors").rename(root / "epoch_2" / "model-00001-of-00002.safetensors")
    _, run = load(root)
    assert [(c.name, c.pending) for c in run.pending] == [("epoch_2", Pending.INCOMPLETE)]
    assert run.pending[0].detail == "1 of 2 model shards"
    assert resume_checkpoint(run).name == "epoch_1"
    assert (root / "recipe_state" / "recipe_state.pt").exists()


def test_a_step_folder_that_cannot_be_listed_is_noted_and_the_run_still_loads(trainer_tree, monkeypatch):
    root, truth = trainer_tree("real-trainers/dcp-steps")
    store = LocalStore(root)
    real_list = store.backend.list_dir

    def refuse(path: str):
        if path.endswith("step_20"):
            raise Unreadable(f"cannot read {path}: permission denied")
        return real_list(path)

    monkeypatch.setattr(store.backend, "list_dir", refuse)
    run = store.load_run(*single_run(store))
    assert any("step_20" in note and "permission denied" in note for note in run.notes)
    assert {c.name for c in run.checkpoints} == set(truth["complete"]) - {"step_20"}  # never taken as whole


def test_a_deepspeed_tag_missing_a_rank_is_unfinished(trainer_tree):
    root, _ = trainer_tree("real-trainers/deepspeed-zero3")
    tag = root / "global_step6"
    (tag / "zero_pp_rank_0_mp_rank_00_optim_states.pt").rename(tag / "zero_pp_rank_1_mp_rank_00_optim_states.pt")
    _, run = load(root)
    assert [c.name for c in run.checkpoints] == ["global_step3", "global_step9"]
    assert [(c.name, c.pending) for c in run.pending] == [("global_step6", Pending.INCOMPLETE)]
    assert "zero_pp_rank_0_mp_rank_00_optim_states.pt" in run.pending[0].detail
