"""A Ray Tune trial and a Ray Train v2 run in S3 (``storage_path="s3://…"`` writes the same tree
under the prefix): the same decisions as on disk and as Ray's own."""

from __future__ import annotations

from test_s3_layouts import uploaded

from ckpt_tui.core import execute_plan, plan_run
from ckpt_tui.stores.layouts.ray import SNAPSHOT_REASON


def ray_truth(trainer_tree, name: str):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent.parent / "layouts"))
    from test_ray import ray_rule

    root, truth = trainer_tree(name)
    return root, truth, ray_rule(truth)


def in_s3(moto_server, trainer_tree, name: str, run_folder: str):
    """The fixture's run folder uploaded, its store, its one run loaded, the truth and Ray's rule."""
    root, truth, rule = ray_truth(trainer_tree, name)
    location = uploaded(moto_server, root / run_folder)
    store = location.store()
    (project,) = store.list_projects()
    (run_name,) = store.list_runs(project)
    return location, store, store.load_run(project, run_name), truth, rule


def test_tune_prune_in_s3_keeps_what_ray_keeps(moto_server, trainer_tree):
    location, store, run, truth, rule = in_s3(moto_server, trainer_tree, "ray/tune", "exp")
    assert run.layout == "ray" and {c.step: run.metrics.value(c.step, "loss") for c in run.checkpoints} == {
        int(p[-6:]): info["loss"] for p, info in truth["checkpoints"].items()}
    execute_plan(store, plan_run(run, rule))
    left = sorted({"/".join(k.split("/")[:2]) for k in location.keys() if "/checkpoint_" in k})
    assert left == truth["kept_by_ray"]


def test_train_v2_in_s3_keeps_what_its_snapshot_lists(moto_server, trainer_tree):
    location, store, run, truth, rule = in_s3(moto_server, trainer_tree, "ray/train-v2", "train-run")
    plan = plan_run(run, rule)
    names = {c.step: c.name for c in run.checkpoints}
    assert sorted(names[k.step] for k in plan.keep if set(k.reasons) - {SNAPSHOT_REASON}) == truth["kept_by_ray"]
    execute_plan(store, plan)
    assert sorted({k.split("/")[0] for k in location.keys() if k.startswith("checkpoint_2")}) == sorted(
        truth["checkpoints"])
