"""A Lightning checkpoint of a ``val/…`` metric in S3: named by the path Lightning records, deleted whole."""

from __future__ import annotations

from test_s3_layouts import uploaded

from ckpt_tui.core import Policy, execute_plan, plan_run


def test_a_slash_checkpoint_is_named_as_lightning_records_it_and_deleted_whole(moto_server, trainer_tree):
    root, truth = trainer_tree("lightning/slash-metric")
    location = uploaded(moto_server, root.parent)
    store = location.store()
    run = store.load_run("trees", root.name)
    best_k = truth["fits"][0]["callbacks"][0]["best_k_models"]
    assert {c.name for c in run.checkpoints} == set(best_k)
    execute_plan(store, plan_run(run, Policy.parse("latest", "none")))
    left = {k.removeprefix(f"{root.name}/checkpoints/") for k in location.keys() if "/checkpoints/" in k}
    assert left == {max(best_k, key=lambda n: int(n.split("step=")[1].split("-")[0]))}
