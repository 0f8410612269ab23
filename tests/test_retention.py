import pytest

from ckpt_tui.core import Checkpoint, Metrics, Pending, Policy, Refused, Run, parse_rules, plan_run, resolve_mode
from ckpt_tui.core.metrics import metrics_from_records


def make_run(values: dict[int, float] | None = None, steps=range(10), metric="val/reward",
             protected=None) -> Run:
    records = [{"step": s, metric: v} for s, v in (values or {}).items()]
    ckpts = [Checkpoint(step=s, bytes=100 + s, mtime=0.0, name=f"{s:04d}") for s in steps]
    return Run("p", "r", ckpts, metrics_from_records(records), protected=protected or {})


def kept(plan):
    return {k.step for k in plan.keep}


def test_default_keeps_best_and_latest_and_frees_the_rest():
    run = make_run({2: 0.9, 5: 0.3, 8: 0.5})
    plan = plan_run(run, Policy())
    assert kept(plan) == {2, 9}
    assert plan.reasons()[2] == ("best val/reward",)
    assert plan.reasons()[9] == ("latest",)
    assert plan.freed_bytes == sum(100 + s for s in range(10) if s not in (2, 9))
    assert plan.best_step == 2 and plan.latest_step == 9


def test_best_is_chosen_among_existing_checkpoints_only():
    # Step 20 was the best ever logged but its checkpoint is gone.
    run = make_run({20: 1.0, 3: 0.4, 6: 0.2}, steps=[3, 6, 7])
    assert plan_run(run, Policy()).best_step == 3


@pytest.mark.parametrize("mode, values", [("max", {1: 0.5, 4: 0.5, 6: 0.1}), ("min", {1: 0.1, 4: 0.1, 6: 0.5})])
def test_every_step_tied_for_best_is_kept(mode, values):
    plan = plan_run(make_run(values, steps=range(8)), Policy(mode=mode))
    # The earliest is the one trainers (Lightning, the HF Trainer) call best; both are kept.
    assert plan.best_step == 1 and plan.best_steps == [1, 4]
    assert plan.reasons()[1] == plan.reasons()[4] == ("best val/reward (tied)",)
    assert {1, 4, 7} == {k.step for k in plan.keep}


def test_top_k_counts_tied_values_like_best():
    run = make_run({1: 0.9, 2: 0.9, 3: 0.5, 4: 0.5, 5: 0.1}, steps=range(7))
    kept = {k.step for k in plan_run(run, Policy.parse("top:1,latest")).keep}
    assert kept == {1, 2, 6}
    kept = {k.step for k in plan_run(run, Policy.parse("top:3,latest")).keep}
    assert kept == {1, 2, 3, 4, 6}  # 3 and 4 share the third-best value


def test_auto_minimises_losses_and_maximises_the_rest():
    assert resolve_mode("train/loss", "auto") == "min"
    assert resolve_mode("eval_loss", "auto") == "min"
    assert resolve_mode("val/reward", "auto") == "max"
    assert resolve_mode("loss/accuracy", "auto") == "max"
    run = make_run({1: 0.9, 2: 0.1, 3: 0.5}, metric="train/loss")
    assert plan_run(run, Policy(metric="train/loss")).best_step == 2
    assert plan_run(run, Policy(metric="train/loss", mode="max")).best_step == 1


def test_missing_metric_refuses_and_deletes_nothing():
    run = make_run({1: 0.5}, metric="train/reward")
    plan = plan_run(run, Policy(metric="val/reward"))
    assert plan.refused and "val/reward" in plan.refused and "train/reward" in plan.refused
    assert plan.delete == [] and kept(plan) == set(range(10))


def test_metric_only_on_deleted_steps_also_refuses():
    run = make_run({50: 0.5}, steps=range(5))
    assert plan_run(run, Policy()).refused


def test_no_metric_keeps_latest_only_when_asked_explicitly():
    run = make_run({}, steps=range(4))
    plan = plan_run(run, Policy.parse("latest", metric="none"))
    assert kept(plan) == {3} and not plan.refused
    with pytest.raises(Refused):
        Policy.parse("best,latest", metric="none")


@pytest.mark.parametrize("rules, expected", [
    ("latest", {9}),
    ("last:3", {7, 8, 9}),
    ("every:4", {0, 4, 8, 9}),
    ("step:5", {5, 9}),
    ("step:5,step:6,latest", {5, 6, 9}),
])
def test_rules_without_metric_still_keep_best_and_latest(rules, expected):
    run = make_run({1: 0.99})
    assert kept(plan_run(run, Policy.parse(rules))) == expected | {1}


def test_top_k_keeps_the_k_best():
    run = make_run({0: 0.1, 2: 0.8, 4: 0.9, 6: 0.7, 8: 0.2})
    plan = plan_run(run, Policy.parse("top:3"))
    assert kept(plan) == {2, 4, 6, 9}
    assert plan.reasons()[4] == ("best val/reward", "top 3 val/reward")


def test_reasons_accumulate_and_are_unique():
    run = make_run({9: 0.9, 1: 0.1})
    plan = plan_run(run, Policy.parse("best,latest,last:2,every:3,step:9"))
    assert plan.reasons()[9] == ("best val/reward", "latest", "last 2", "every 3", "pinned")


def test_trainer_protected_steps_are_kept_with_their_reason():
    run = make_run({1: 0.9}, protected={4: ("tracker",)})
    plan = plan_run(run, Policy())
    assert plan.reasons()[4] == ("tracker",)


def test_pending_checkpoints_are_never_candidates():
    run = make_run({1: 0.9}, steps=range(3))
    run.pending.append(Checkpoint(5, 10, 0.0, ".deleting-5-x", pending=Pending.INTERRUPTED_DELETE))
    plan = plan_run(run, Policy())
    assert plan.latest_step == 2 and 5 not in plan.delete_steps
    assert [(p.step, p.reasons) for p in plan.pending] == [(5, ("interrupted delete",))]


def test_smoothing_can_change_the_best_step():
    # A single spike at step 3 wins raw, a sustained plateau wins smoothed.
    values = {0: 0.1, 1: 0.1, 2: 0.1, 3: 0.95, 4: 0.1, 5: 0.8, 6: 0.8, 7: 0.8, 8: 0.8}
    run = make_run(values, steps=range(9))
    assert plan_run(run, Policy()).best_step == 3
    assert plan_run(run, Policy(smoothing=0.3)).best_step == 8


def test_empty_run_has_an_empty_plan():
    plan = plan_run(make_run({}, steps=[]), Policy())
    assert plan.keep == [] and plan.delete == [] and not plan.refused


@pytest.mark.parametrize("text", ["best,oops", "last", "last:x", "top:0", "every:-1", "latest:3", ""])
def test_bad_rules_are_refused(text):
    with pytest.raises(Refused):
        parse_rules(text)


def test_policy_describe_and_pins():
    policy = Policy.parse("best,latest,last:2").toggle_pin(40)
    assert policy.pins == {40}
    assert policy.describe() == "keep best val/reward (max) + latest + last 2 + pinned 40"
    assert policy.toggle_pin(40).pins == frozenset()
    assert Policy().describe() == "keep best val/reward (max) + latest"


def test_plan_json_has_the_documented_keys():
    data = plan_run(make_run({2: 0.9}), Policy()).to_json()
    assert {"project", "run", "metric", "mode", "keep", "delete", "freed_bytes"} <= set(data)
    assert data["keep"][0] == {"step": 2, "name": "0002", "bytes": 102, "reasons": ["best val/reward"]}
    assert data["mode"] == "max"


def test_metrics_object_default_is_empty():
    assert Metrics().names() == []


def test_the_best_across_runs_is_an_existing_step_every_tie_kept():
    from ckpt_tui.core.retention import best_across

    a = make_run({1: 0.5, 12: 0.99, 3: 0.7})._replace(name="a")  # step 12 logged, its checkpoint gone
    b = make_run({2: 0.7, 4: 0.2})._replace(name="b")
    c = make_run({})._replace(name="c")  # logs nothing
    assert [(r.name, s, v) for r, s, v in best_across([a, b, c], "val/reward")] == [("a", 3, 0.7), ("b", 2, 0.7)]
    assert [(r.name, s) for r, s, _ in best_across([a, b], "val/reward", "min")] == [("b", 4)]
    assert best_across([c], "val/reward") == []


def test_best_checkpoint_and_suggested_metric():
    from ckpt_tui.core.retention import best_checkpoint, suggest_metric

    run = make_run({1: 0.3, 4: 0.1, 7: 0.2}, metric="eval_loss")
    assert best_checkpoint(run, "eval_loss") == (4, 0.1)
    assert best_checkpoint(run, "eval_loss", "max") == (1, 0.3)
    assert best_checkpoint(run, "val/reward") is None
    assert suggest_metric(["loss", "eval_loss", "learning_rate"]) == "eval_loss"
    assert suggest_metric(["train/reward", "val/reward"]) == "val/reward"
    assert suggest_metric(["eval_accuracy", "epoch"]) == "eval_accuracy"
    assert suggest_metric([]) is None


def test_marked_steps_are_deleted_unless_latest_best_pinned_or_protected():
    run = make_run({2: 0.9, 5: 0.3}, protected={4: ("trainer's best",)})
    policy = Policy.parse("best,latest,last:5").with_steps(pins=frozenset({6}),
                                                           marked=frozenset({2, 4, 6, 7, 9}))
    plan = plan_run(run, policy)
    # 7 would stay under last:5; marked by hand, it goes. Best, latest, pinned, protected stay.
    assert plan.delete_steps == {0, 1, 3, 7}
    assert {2, 4, 6, 9} <= kept(plan)
    assert policy.describe().endswith("+ 5 marked for deletion")


def test_marks_and_pins_of_one_policy_do_not_leak_into_the_base_policy():
    base = Policy()
    mine = base.with_steps(pins=frozenset({3}), marked=frozenset({1}))
    assert base.pins == frozenset() and base.marked == frozenset()
    assert mine.pins == {3} and mine.marked == {1}


def test_auto_direction_is_spelled_out_on_request():
    assert Policy(metric="eval_loss").describe(explain_auto=True) == "keep best eval_loss (auto→min) + latest"
    assert Policy(metric="eval_loss", mode="min").describe(explain_auto=True) == "keep best eval_loss (min) + latest"
    assert Policy(metric="eval_loss").describe() == "keep best eval_loss (min) + latest"


def test_metric_for_keeps_a_logged_metric_and_picks_one_otherwise():
    from ckpt_tui.core.retention import metric_for

    assert metric_for(["val/reward", "eval_loss"], "val/reward") == "val/reward"
    assert metric_for(["eval_loss", "loss"], "val/reward") == "eval_loss"
    assert metric_for([], "val/reward") == "val/reward"  # nothing logged: nothing to pick


def test_execute_plans_goes_on_past_a_refused_plan(tmp_path):
    from ckpt_tui.core import execute_plans
    from ckpt_tui.demo import DemoRun, build_demo
    from ckpt_tui.stores.local import LocalStore

    base = build_demo(tmp_path / ".art", runs=(DemoRun("p", "a", 6, 1), DemoRun("p", "b", 4, 1)))
    store = LocalStore(base)
    plans = [plan_run(store.load_run("p", r), Policy()) for r in ("a", "b")]
    # Run a loses its metric between preview and execution: its plan is refused, b's goes ahead.
    (base / "p" / "models" / "a" / "history.jsonl").write_text("")
    seen = []
    outcome = execute_plans(store, plans, lambda plan, done, total, item: seen.append((plan.run, done, total)))
    assert len(outcome.refusals) == 1 and "p/a" in outcome.refusals[0]
    assert [r.plan.run for r in outcome.results] == ["b"]
    assert outcome.deleted == len(plans[1].delete) and outcome.ok
    assert seen and seen[-1] == ("b", len(plans[0].delete) + len(plans[1].delete),
                                 len(plans[0].delete) + len(plans[1].delete))


# -- rules as objects: each knows its text, what it keeps, why, and whether it needs a metric -------
def test_each_rule_knows_whether_it_needs_a_metric_and_reads_back_as_written():
    rules = parse_rules("best,latest,last:3,every:10,top:2,step:4,budget:50G,interval:1h")
    assert [r.needs_metric for r in rules] == [True, False, False, False, True, False, False, False]
    assert ",".join(map(str, rules)) == "best,latest,last:3,every:10,top:2,step:4,budget:50G,interval:1h"
    assert str(parse_rules("budget:2GiB,interval:90m")[0]) == "budget:2Gi" and parse_rules("budget:2Gi")[0].n == 2 * 2**30
    assert str(parse_rules("interval:90m")[0]) == "interval:90m" and parse_rules("interval:2d")[0].n == 2 * 86400
    for bad in ("budget:lots", "budget:" + "9" * 40, "interval:1y", "interval:0h"):
        with pytest.raises(Refused, match="budget|interval"):
            parse_rules(bad)


def test_budget_keeps_the_newest_steps_that_fit_counting_best_latest_and_pins():
    # Steps 0..9 of 100+s bytes; best 2 (102) and latest 9 (109) count first: 211 of 450.
    run = make_run({2: 0.9, 5: 0.3, 8: 0.5})
    plan = plan_run(run, Policy(parse_rules("best,latest,budget:450")))
    assert kept(plan) == {2, 7, 8, 9}  # 211 + 108 + 107 = 426; 106 more would not fit
    assert plan.reasons()[8] == ("within 450B",) and "within 450B" in plan.policy.describe()


def test_interval_keeps_one_step_per_interval_of_wall_time():
    ckpts = [Checkpoint(step=s, bytes=1, mtime=s * 1200.0, name=f"{s:04d}") for s in range(10)]  # 20 min apart
    run = Run("p", "r", ckpts, metrics_from_records([]))
    plan = plan_run(run, Policy(parse_rules("latest,interval:1h"), None))
    assert kept(plan) == {0, 3, 6, 9} and plan.reasons()[3] == ("one per 1h",)


@pytest.mark.parametrize("full, whole", [("interval:1h", {0, 3, 6, 9}), ("budget:3", {7, 8, 9}), ("last:2", {8, 9})])
def test_rules_reading_sizes_and_times_choose_whole_steps_when_only_full_names_them(full, whole):
    from ckpt_tui.core.retention import whole_steps

    ckpts = [Checkpoint(step=s, bytes=1, mtime=s * 1200.0, name=f"{s:04d}") for s in range(10)]  # 20 min apart
    run = Run("p", "r", ckpts, metrics_from_records([]))
    policy = Policy.parse("latest,last:10", metric="none", full=full)
    assert whole_steps(run, policy, kept=set(range(10))) == whole
