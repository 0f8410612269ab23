"""Slim: kept checkpoints outside --full lose their training state and keep their weights."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "layouts"))

from layout_trees import lightning_dir, megatron_save, verl_dir  # noqa: E402

import ckpt_tui  # noqa: E402
from ckpt_tui.cli import main  # noqa: E402
from ckpt_tui.core import Pending, Policy, execute_plan, fork_checkpoint, plan_run  # noqa: E402
from ckpt_tui.core.resume import resume_checkpoint  # noqa: E402
from ckpt_tui.stores.backends.base import SLIM_RECORD  # noqa: E402
from ckpt_tui.stores.local import LocalStore  # noqa: E402

HF_STATE = {"optimizer.pt", "scheduler.pt", "rng_state.pth"}
POLICY = Policy.parse("every:8,best,latest", "eval_loss", "min", full="last:1")


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.is_file()}


def test_the_plan_slims_kept_steps_outside_full_and_frees_their_training_state(hf_fixture):
    run = LocalStore(hf_fixture).load_run("hf-trainer", "full-model", with_state=True)
    plan = plan_run(run, POLICY)
    # Kept: 4 (best), 8 and 16 (every 8), 24 (latest); the latest stays whole whatever --full says.
    assert sorted(k.step for k in plan.keep) == [4, 8, 16, 24]
    assert [s.step for s in plan.slim] == [4, 8, 16]
    on_disk = {p.name: p.stat().st_size for p in (hf_fixture / "full-model" / "checkpoint-8").iterdir()}
    slim = plan.slim[1]
    assert set(slim.files) == HF_STATE and slim.bytes == sum(on_disk[f] for f in HF_STATE)
    assert plan.freed_bytes == sum(d.bytes for d in plan.delete) + sum(s.bytes for s in plan.slim)
    data = plan.to_json()
    assert data["full"] == "last:1" and data["slim"][1] == {"step": 8, "name": "checkpoint-8",
                                                             "bytes": slim.bytes, "files": sorted(HF_STATE)}
    # Without --full nothing is slimmed, as before.
    assert plan_run(run, Policy.parse("every:8,best,latest", "eval_loss", "min")).slim == []


@pytest.mark.parametrize("name", ["full-model", "lora-adapter"])
def test_slimming_removes_only_training_state_and_keeps_the_rest_byte_for_byte(hf_fixture, name):
    store = LocalStore(hf_fixture)
    plan = plan_run(store.load_run("hf-trainer", name, with_state=True), POLICY)
    before = {s.name: digests(hf_fixture / name / s.name) for s in plan.slim}
    result = execute_plan(store, plan)
    assert result.ok and [s.step for s in result.slimmed] == [s.step for s in plan.slim]
    assert result.freed_bytes == plan.freed_bytes
    for step, files in before.items():
        after = digests(hf_fixture / name / step)
        assert after.pop(SLIM_RECORD) and after == {f: h for f, h in files.items() if f not in HF_STATE}
        record = json.loads((hf_fixture / name / step / SLIM_RECORD).read_text())
        assert sorted(record["removed"]) == sorted(HF_STATE)
    run = store.load_run("hf-trainer", name)
    slimmed = {c.step for c in run.checkpoints if c.weights_only}
    assert slimmed == {s.step for s in plan.slim} and run.latest_step not in slimmed
    assert all("weights only" in c.detail for c in run.checkpoints if c.weights_only)
    # Resuming is only ever offered from a whole checkpoint.
    assert resume_checkpoint(run).step == run.latest_step
    with pytest.raises(ckpt_tui.core.NotFound, match="weights only"):
        resume_checkpoint(run, step=min(slimmed))
    # A later prune knows: nothing to slim twice, and a fork of a slimmed step is weights only too.
    assert plan_run(store.load_run("hf-trainer", name, with_state=True), POLICY).slim == []
    fork_checkpoint(store, "hf-trainer", name, f"{name}-w", step=min(slimmed))
    assert all(c.weights_only for c in store.load_run("hf-trainer", f"{name}-w").checkpoints)


def test_what_the_trainer_resumes_from_stays_whole(tmp_path):
    verl_dir(tmp_path / "ck" / "ppo", steps=(5, 10, 15, 20), tracker="15")
    store = LocalStore(tmp_path / "ck")
    run = store.load_run("ck", "ppo", with_state=True)
    plan = plan_run(run, Policy.parse("every:5", "none", full="step:0"))
    # 15 is the tracker's (verl resumes from it), 20 is newer than it: neither is touched.
    assert [s.step for s in plan.slim] == [5, 10]
    assert set(plan.slim[0].files) == {"actor/optim_world_size_1_rank_0.pt"}
    execute_plan(store, plan)
    step5 = tmp_path / "ck" / "ppo" / "global_step_5"
    assert not (step5 / "actor" / "optim_world_size_1_rank_0.pt").exists()
    assert (step5 / "actor" / "model_world_size_1_rank_0.pt").exists() and (step5 / "data.pt").exists()
    assert (tmp_path / "ck" / "ppo" / "global_step_15" / "actor" / "optim_world_size_1_rank_0.pt").exists()


def test_layouts_that_cannot_be_slimmed_say_why_and_stay_whole(tmp_path, art_base):
    megatron_save(tmp_path / "runs" / "glm", steps=(10, 20, 30, 40), tracker="40")
    lightning_dir(tmp_path / "lit" / "version_0", last_link=None)
    cases = [(LocalStore(tmp_path / "runs"), "runs", "glm", "torch_dist"),
             (LocalStore(tmp_path / "lit"), "lit", "version_0", "one file"),
             (LocalStore(art_base), "demo", "agent-001", "no training state")]
    for store, project, name, why in cases:
        run = store.load_run(project, name, with_state=True)
        plan = plan_run(run, Policy.parse("last:3", "none", full="latest"))
        assert plan.slim == [] and plan.slim_refused and all(why in r.reason for r in plan.slim_refused), name
        assert all(r.step != run.latest_step for r in plan.slim_refused)


def test_an_interrupted_slim_is_pending_and_finished_by_the_next_prune(hf_fixture, monkeypatch):
    store = LocalStore(hf_fixture)
    plan = plan_run(store.load_run("hf-trainer", "full-model", with_state=True), POLICY)
    real = store.backend.delete_tree

    def die_on_step_8(path):
        if "checkpoint-8" in path:
            raise KeyboardInterrupt  # the process is killed with step 8's files aside
        return real(path)

    monkeypatch.setattr(store.backend, "delete_tree", die_on_step_8)
    with pytest.raises(KeyboardInterrupt):
        execute_plan(store, plan)
    monkeypatch.undo()
    run = store.load_run("hf-trainer", "full-model")
    # Every step the interrupted slim named is pending until the slim is finished, done ones too.
    assert [(c.step, c.pending) for c in run.pending] == [(s, Pending.INTERRUPTED_SLIM) for s in (4, 8, 16)]
    assert resume_checkpoint(run).step == 24
    execute_plan(store, plan_run(store.load_run("hf-trainer", "full-model", with_state=True), POLICY))
    run = store.load_run("hf-trainer", "full-model")
    assert run.pending == [] and {c.step for c in run.checkpoints if c.weights_only} == {4, 8, 16}
    folder = hf_fixture / "full-model" / "checkpoint-8"
    assert not HF_STATE & set(os.listdir(folder)) and not (folder / ".ckpt-tui-slimmed").exists()
    assert not [n for n in os.listdir(hf_fixture / "full-model") if n.startswith(".ckpt-tui-slimming-")]


def test_cli_prune_full_previews_slims_and_says_what_it_did(hf_fixture, capsys):
    args = ["prune", str(hf_fixture), "-r", "full-model", "-p", "hf-trainer", "--metric", "eval_loss",
            "--keep", "every:8,best,latest", "--full", "last:1"]
    assert main([*args, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "slim          8" in out and "optimizer.pt" in out and "and slim 3" in out
    assert main([*args, "--yes", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)["plans"][0]
    assert [s["step"] for s in data["slimmed"]] == [4, 8, 16] and data["slim_failed"] == []
    assert data["freed_bytes"] == sum(d["bytes"] for d in data["deleted"]) + sum(s["bytes"] for s in data["slimmed"])
    assert main(["path", str(hf_fixture), "-p", "hf-trainer", "-r", "full-model", "--step", "8"]) == 1
    assert "weights only" in capsys.readouterr().err


def test_the_python_api_slims_with_full(hf_fixture):
    result = ckpt_tui.delete_checkpoints(hf_fixture, "hf-trainer", "lora-adapter", best_checkpoint_metric="eval_loss",
                                         keep="best,latest", full="latest")
    assert [s.step for s in result.slimmed] == [10]
    assert not (hf_fixture / "lora-adapter" / "checkpoint-10" / "optimizer.pt").exists()
    assert (hf_fixture / "lora-adapter" / "checkpoint-10" / "adapter_model.safetensors").exists()


def test_a_slimmed_adapter_and_model_still_load(hf_fixture):
    """With transformers and PEFT installed, what a slim keeps is what they load."""
    transformers = pytest.importorskip("transformers")
    store = LocalStore(hf_fixture)
    execute_plan(store, plan_run(store.load_run("hf-trainer", "full-model", with_state=True), POLICY))
    transformers.AutoModelForCausalLM.from_pretrained(hf_fixture / "full-model" / "checkpoint-8")
    peft = pytest.importorskip("peft")
    ckpt_tui.delete_checkpoints(hf_fixture, "hf-trainer", "lora-adapter", best_checkpoint_metric="eval_loss",
                                full="latest")
    config = peft.PeftConfig.from_pretrained(hf_fixture / "lora-adapter" / "checkpoint-10")
    assert config.peft_type


def test_training_resumes_from_the_whole_step_a_slim_leaves(hf_fixture, tmp_path):
    """With transformers installed: the Trainer resumes (optimizer, scheduler, RNG) from the step
    ``path --latest`` gives after a slim, and trains on."""
    transformers = pytest.importorskip("transformers")
    store = LocalStore(hf_fixture)
    execute_plan(store, plan_run(store.load_run("hf-trainer", "full-model", with_state=True), POLICY))
    whole = resume_checkpoint(store.load_run("hf-trainer", "full-model"))
    assert not whole.weights_only and HF_STATE <= set(os.listdir(whole.location))
    model = transformers.AutoModelForCausalLM.from_pretrained(whole.location)
    rows = [{"input_ids": [i % 50, (i + 1) % 50, (i + 2) % 50, (i + 3) % 50]} for i in range(64)]
    data = [{**row, "labels": row["input_ids"]} for row in rows]
    args = transformers.TrainingArguments(output_dir=str(tmp_path / "out"), max_steps=whole.step + 2,
                                          per_device_train_batch_size=2, save_strategy="no", report_to=[],
                                          use_cpu=True, logging_steps=1)
    trainer = transformers.Trainer(model=model, args=args, train_dataset=data)
    trainer.train(resume_from_checkpoint=whole.location)
    assert trainer.state.global_step == whole.step + 2
