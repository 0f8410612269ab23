"""Checkpoint folders of the RL trainers, written by each trainer's own save code where it runs on a
CPU (tests/fixtures/<trainer>), checked against the trainer's own cleanup (``truth.json``)."""

from __future__ import annotations

import os

from ckpt_tui.cli import main
from ckpt_tui.core import Pending, Policy, execute_plan, plan_run
from ckpt_tui.stores.local import LocalStore


def test_nemo_rl_keeps_what_remove_old_checkpoints_keeps(trainer_tree):
    root, truth = trainer_tree("nemo-rl")
    rule = truth["rule"]
    store = LocalStore(root / "results")
    run = store.load_run("results", "grpo")
    assert run.layout == "nemo-rl"
    assert [(c.name, c.pending) for c in run.pending] == [(n, Pending.SAVE_IN_PROGRESS) for n in truth["in_progress"]]
    assert {c.name: run.metrics.value(c.step, rule["metric_name"]) for c in run.checkpoints} == truth["rewards"]
    policy = Policy.parse(f"top:{rule['keep_top_k']},latest", rule["metric_name"],
                          "max" if rule["higher_is_better"] else "min")
    plan = plan_run(run, policy)
    assert f"step_{plan.best_step}" == truth["best_checkpoint"]
    execute_plan(store, plan)
    assert sorted(os.listdir(root / "results" / "grpo")) == sorted(
        truth["kept_by_remove_old_checkpoints"] + truth["in_progress"])


def test_nemo_rl_slims_the_optimizer_and_paths_the_step(trainer_tree, capsys):
    root, truth = trainer_tree("nemo-rl")
    store = LocalStore(root / "results")
    run = store.load_run("results", "grpo", with_state=True)
    state = run.checkpoints[0].state
    assert state.files == ("policy/optimizer/optim.pt",)
    assert main(["path", str(root / "results"), "--best", "--metric", "val:reward", "--mode", "max"]) == 0
    assert capsys.readouterr().out.strip() == str(root / "results" / "grpo" / truth["best_checkpoint"])


def test_nemo_rl_old_step_during_a_swap_is_left_alone(trainer_tree):
    root, _ = trainer_tree("nemo-rl")
    grpo = root / "results" / "grpo"
    os.rename(grpo / "step_3", grpo / "old_step_3")  # _rename_checkpoint's swap, cut short
    store = LocalStore(root / "results")
    run = store.load_run("results", "grpo")
    assert ("old_step_3", Pending.SAVE_IN_PROGRESS) in [(c.name, c.pending) for c in run.pending]
    execute_plan(store, plan_run(run, Policy.parse("latest", "none")))
    assert sorted(os.listdir(grpo)) == ["old_step_3", "step_6", "tmp_step_7"]


def test_skyrl_keeps_what_cleanup_old_checkpoints_keeps(trainer_tree):
    root, truth = trainer_tree("skyrl")
    store = LocalStore(root / "ckpts")
    run = store.load_run("skyrl", "ckpts")
    assert run.layout == "skyrl" and sorted(c.name for c in run.checkpoints) == sorted(truth["complete"])
    assert [c.name for c in run.pending] == list(truth["incomplete"])
    assert run.protected == {truth["tracker"]: ("tracker",)} and run.resume_steps == {truth["tracker"]}
    execute_plan(store, plan_run(run, Policy.parse(f"last:{truth['max_ckpts_to_keep']}", "none")))
    assert sorted(n for n in os.listdir(root / "ckpts") if n.startswith("global_step_")) == sorted(
        truth["kept_by_cleanup_old_checkpoints"] + list(truth["incomplete"]))


def test_skyrl_slims_optimizer_and_scheduler(trainer_tree):
    root, _ = trainer_tree("skyrl")
    run = LocalStore(root / "ckpts").load_run("skyrl", "ckpts", with_state=True)
    assert run.checkpoints[0].state.files == ("policy/lr_scheduler_state.pt", "policy/optimizer_state.pt")


def test_prime_rl_keeps_what_maybe_clean_keeps(trainer_tree):
    root, truth = trainer_tree("prime-rl")
    store = LocalStore(root / "outputs")
    run = store.load_run("prime-rl", "outputs")
    assert run.layout == "prime-rl" and sorted(c.name for c in run.checkpoints) == sorted(truth["complete"])
    assert [(c.name, c.pending) for c in run.pending] == [(n, Pending.INCOMPLETE) for n in truth["incomplete"]]
    rule = truth["rule"]
    execute_plan(store, plan_run(run, Policy.parse(f"last:{rule['keep_last']},every:{rule['keep_interval']}", "none")))
    assert sorted(os.listdir(root / "outputs" / "checkpoints")) == sorted(
        truth["kept_by_maybe_clean"] + list(truth["incomplete"]))


def test_prime_rl_slims_the_trainer_state_only_beside_stable_weights(trainer_tree):
    root, _ = trainer_tree("prime-rl")
    ckpts = root / "outputs" / "checkpoints"
    (ckpts / "step_2" / "STABLE").unlink()
    run = LocalStore(root / "outputs").load_run("prime-rl", "outputs", with_state=True)
    states = {c.name: c.state for c in run.checkpoints}
    assert "STABLE" in states["step_2"].refusal
    assert states["step_4"].files == ("trainer/.metadata", "trainer/__0_0.distcp", "trainer/dataloader/rank_0.pt")


def test_openrlhf_exports_are_offered_to_the_rules_with_their_tags(trainer_tree):
    root, truth = trainer_tree("openrlhf")
    store = LocalStore(root)
    run = store.load_run("openrlhf", "sft")
    assert run.layout == "openrlhf"
    assert sorted((c.step, c.name) for c in run.checkpoints) == sorted(
        (s, n) for s in (10, 20, 30, 40) for n in (f"global_step{s}", f"global_step{s}_hf"))
    execute_plan(store, plan_run(run, Policy.parse("latest", "none")))
    assert sorted(os.listdir(root / "sft")) == [truth["latest"], f"{truth['latest']}_hf", "latest", "zero_to_fp32.py"]


def test_openrlhf_best_tag_latest_and_metric(trainer_tree):
    root, truth = trainer_tree("openrlhf")
    store = LocalStore(root)
    run = store.load_run("ppo", "_actor")
    rewards = {c.name: run.metrics.value(c.step, "eval_reward") for c in run.checkpoints}
    assert {n: rewards[n] for n in truth["rewards"]} == truth["rewards"]
    best_step = int(truth["best_tag"].removeprefix("best_global_step"))
    assert "OpenRLHF's best" in " ".join(run.protected[best_step])
    execute_plan(store, plan_run(run, Policy.parse("latest", "none")))
    left = set(os.listdir(root / "ppo" / "_actor"))
    assert {truth["latest"], truth["best_tag"], "latest", "zero_to_fp32.py"} <= left
    assert "global_step10" not in left and "global_step30" not in left


def test_openrlhf_slims_the_optimizer_states(trainer_tree):
    root, _ = trainer_tree("openrlhf")
    run = LocalStore(root).load_run("openrlhf", "sft", with_state=True)
    states = {c.name: c.state for c in run.checkpoints}
    assert states["global_step10"].files == ("zero_pp_rank_0_mp_rank_00_optim_states.pt",)
    assert states["global_step10_hf"].files == ()
