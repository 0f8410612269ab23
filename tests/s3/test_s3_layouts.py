"""Hugging Face, Megatron/slime, verl, Lightning and Orbax trees in S3: the same runs, steps,
metrics and protected steps as on disk; prune, fork and interrupted work with markers."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "layouts"))
sys.path.insert(0, str(Path(__file__).parent.parent / "clouds"))

from azurite import AzureLocation, azurite, azurite_server, use_location  # noqa: E402,F401 - fixtures
from layout_trees import (LIGHTNING_FILES, blob, lightning_dir, megatron_save, near_misses,  # noqa: E402
                          orbax_dir, tree_bytes, verl_dir)
from s3_servers import Location, upload_tree  # noqa: E402

from ckpt_tui.cli import main  # noqa: E402
from ckpt_tui.core import (AlreadyExists, Pending, Policy, Refused, execute_plan, fork_checkpoint,  # noqa: E402
                           plan_run)
from ckpt_tui.stores import claims  # noqa: E402
from ckpt_tui.stores.claims import DELETING_MARKER, FORK_MARKER  # noqa: E402
from ckpt_tui.stores.local import LocalStore  # noqa: E402

LATEST_ONLY = Policy.parse("latest", "none")
TRACKER = "latest_checkpointed_iteration.txt"


def uploaded(endpoint: str, local: Path) -> Location:
    """``local`` (a folder) uploaded under a fresh prefix, keeping its name: ``{prefix}{local.name}/``."""
    location = Location.fresh(endpoint)
    upload_tree(location.client, location.bucket, f"{location.prefix}{local.name}/", local)
    location.prefix += f"{local.name}/"
    location.local = local
    return location


def same_run(got, want, got_store, want_store) -> None:
    assert (got.project, got.name, got.layout) == (want.project, want.name, want.layout)
    assert [(c.step, c.name, c.bytes, sorted(got_store.checkpoint_files(got, c))) for c in got.checkpoints] == [
        (c.step, c.name, c.bytes, sorted(want_store.checkpoint_files(want, c))) for c in want.checkpoints]
    assert [(c.step, c.name, c.note) for c in got.pending] == [(c.step, c.name, c.note) for c in want.pending]
    assert got.metrics.by_step == want.metrics.by_step
    assert got.protected == want.protected


def abandoned_later(monkeypatch) -> None:
    """Move the store's clock past the age at which an unfinished fork counts as abandoned."""
    real_now = claims._now
    monkeypatch.setattr(claims, "_now", lambda: real_now() + claims.ABANDONED_FORK_SECONDS + 60)


# -- discovery ------------------------------------------------------------------------
@pytest.fixture
def mixed(tmp_path: Path, hf_fixture: Path) -> Path:
    """Every layout in one folder, with near misses and a hidden folder (no links: S3 has none)."""
    base = tmp_path / "exps"
    os.makedirs(base)
    os.rename(hf_fixture / "lora-adapter", base / "hf-lora")
    blob(base / "hf-lora" / "tmp-checkpoint-35" / "adapter_model.safetensors", 7)  # a save in progress
    megatron_save(base / "slime-run")
    blob(base / "slime-run" / "hf" / "iter_0000030" / "config.json", 2)  # slime's HF export
    verl_dir(base / "verl-run")
    lightning_dir(base / "lit" / "lightning_logs" / "version_0", last_link=None, best_k=(100,))
    orbax_dir(base / "jax" / "orbax")
    orbax_dir(base / "jax" / "prefixed", prefix="state", in_progress=None)
    near_misses(base / "scratch")
    blob(base / ".trash" / "checkpoint-1" / "x.bin", 10)
    return base


def test_a_mixed_tree_reads_as_on_disk(moto_server, mixed):
    location = uploaded(moto_server, mixed)
    store, local = location.store(), LocalStore(mixed)
    assert store.list_projects() == local.list_projects() == ["exps", "jax", "lit/lightning_logs"]
    for project in local.list_projects():
        assert store.list_runs(project) == local.list_runs(project)
        for run in local.list_runs(project):
            same_run(store.load_run(project, run), local.load_run(project, run), store, local)
    hf = store.load_run("exps", "hf-lora")
    assert hf.protected == {10: ("trainer's best",)}
    assert [(c.step, c.pending) for c in hf.pending] == [(35, Pending.SAVE_IN_PROGRESS)]
    assert store.load_run("exps", "slime-run").protected == {30: ("tracker",)}
    assert store.load_run("jax", "orbax").metrics.series("accuracy") == [(100, 0.1), (200, 0.2), (300, 0.3)]
    lit = store.load_run("lit/lightning_logs", "version_0")
    assert lit.checkpoints[0].location == f"{location.url}/lit/lightning_logs/version_0/checkpoints/{LIGHTNING_FILES[100]}"


def test_side_files_are_fetched_only_when_a_layout_reads_them(moto_server, hf_fixture):
    location = uploaded(moto_server, hf_fixture)
    store = location.store()
    store.list_projects()
    sent = []
    store.client.meta.events.register("before-parameter-build.s3.GetObject",
                                      lambda params, **_: sent.append(params["Key"]))
    store.load_run("hf-trainer", "full-model")
    assert sent == [f"{location.prefix}full-model/checkpoint-24/trainer_state.json"]
    sent.clear()
    store.load_run("hf-trainer", "full-model", with_metrics=False)
    assert len(sent) == 1  # the trainer's best is protected with or without metrics


# -- prune on moto and SeaweedFS ---------------------------------------------------------
def test_hf_prune_keeps_the_trainers_best(s3_endpoint, hf_fixture):
    location = uploaded(s3_endpoint, hf_fixture)
    store = location.store()
    before = location.keys()
    run = store.load_run("hf-trainer", "lora-adapter")
    plan = plan_run(run, Policy.parse("best,latest", "eval_loss", "min"))
    assert plan.best_step == 10 and plan.reasons()[10] == ("best eval_loss", "trainer's best")
    with pytest.raises(Refused, match="trainer's best"):
        store.delete_checkpoint("hf-trainer", "lora-adapter", run.checkpoint(10))
    result = execute_plan(store, plan)
    assert result.ok and {d.step for d in result.deleted} == {5, 15, 20, 25}
    gone = {k for k in before if k.split("/")[0] == "lora-adapter"
            and k.split("/")[1] in {"checkpoint-5", "checkpoint-15", "checkpoint-20", "checkpoint-25"}}
    assert gone and location.keys() == before - gone
    assert [c.step for c in store.load_run("hf-trainer", "lora-adapter").checkpoints] == [10, 30]


def test_lightning_prune_deletes_single_objects_only(s3_endpoint, tmp_path):
    lightning_dir(tmp_path / "lightning_logs" / "version_0", last_link=None, best_k=(100,))
    ckpts = tmp_path / "lightning_logs" / "version_0" / "checkpoints"
    (ckpts / "last.ckpt").write_bytes((ckpts / LIGHTNING_FILES[300]).read_bytes())  # a copy, as in S3
    location = uploaded(s3_endpoint, tmp_path / "lightning_logs")
    store = location.store()
    run = store.load_run("lightning_logs", "version_0")
    assert [c.step for c in run.checkpoints] == [100, 200, 300] and run.protected == {100: ("trainer's best",)}
    assert run.metrics.series("val_loss") == [(100, 0.5), (200, 0.3), (300, 0.4)]
    assert execute_plan(store, plan_run(run, LATEST_ONLY)).ok
    assert location.keys("version_0/") == {f"version_0/{p}" for p in (
        "hparams.yaml", "checkpoints/last.ckpt", "checkpoints/best_k_models.yaml",
        f"checkpoints/{LIGHTNING_FILES[100]}", f"checkpoints/{LIGHTNING_FILES[300]}")}


# -- trackers ---------------------------------------------------------------------------
def test_megatron_tracker_prune_and_fork(moto_server, tmp_path):
    save = megatron_save(tmp_path / "runs" / "glm-rl")
    blob(save / "hf" / "iter_0000030" / "config.json", 2)
    location = uploaded(moto_server, tmp_path / "runs")
    store = location.store()
    run = store.load_run("runs", "glm-rl")
    assert run.protected == {30: ("tracker",)}
    assert [(c.step, c.pending) for c in run.pending] == [(40, Pending.NEWER_THAN_TRACKER)]
    assert {d.step for d in execute_plan(store, plan_run(run, LATEST_ONLY)).deleted} == {10, 20}
    assert {k.split("/")[1] for k in location.keys("glm-rl/")} == {"hf", "iter_0000030", "iter_0000040", TRACKER}

    fork_checkpoint(store, "runs", "glm-rl", "b", step=30)
    assert location.keys("b/") == {f"b/iter_0000030/{f}" for f in ("__0_0.distcp", ".metadata", "common.pt", "metadata.json")
                                   } | {f"b/{TRACKER}"}
    assert location.client.get_object(Bucket=location.bucket, Key=f"{location.prefix}b/{TRACKER}")[
        "Body"].read() == b"30\n"
    assert store.load_run("runs", "b").protected == {30: ("tracker",)}
    with pytest.raises(AlreadyExists):
        fork_checkpoint(store, "runs", "glm-rl", "b", step=30)


def test_verl_fork_writes_its_tracker_and_never_joins_a_run(moto_server, tmp_path):
    verl_dir(tmp_path / "checkpoints" / "gsm8k", tracker="10")
    verl_dir(tmp_path / "checkpoints" / "gsm8k-b", steps=(15,), tracker="15")
    location = uploaded(moto_server, tmp_path / "checkpoints")
    store = location.store()
    run = store.load_run("checkpoints", "gsm8k")
    assert run.layout == "verl" and run.protected == {10: ("tracker",)} and [c.step for c in run.pending] == [15]
    before = location.keys("gsm8k-b/")
    with pytest.raises(AlreadyExists, match="a fork creates a new run"):
        fork_checkpoint(store, "checkpoints", "gsm8k", "gsm8k-b", step=5)
    assert location.keys("gsm8k-b/") == before
    fork_checkpoint(store, "checkpoints", "gsm8k", "gsm8k-c", step=5)
    forked = store.load_run("checkpoints", "gsm8k-c")
    assert [c.step for c in forked.checkpoints] == [5] and forked.protected == {5: ("tracker",)}
    execute_plan(store, plan_run(store.load_run("checkpoints", "gsm8k-b"), LATEST_ONLY))
    assert {k.split("/")[1] for k in location.keys("gsm8k-b/")} == {"global_step_15", TRACKER}


# -- Orbax ----------------------------------------------------------------------------------
def test_orbax_prune_and_fork(moto_server, tmp_path):
    orbax_dir(tmp_path / "jax" / "run1")
    location = uploaded(moto_server, tmp_path / "jax")
    store = location.store()
    run = store.load_run("jax", "run1")
    assert [(c.step, c.pending) for c in run.pending] == [(400, Pending.SAVE_IN_PROGRESS)]
    plan = plan_run(run, Policy.parse("best,latest", "loss", "min"))
    assert plan.best_step == 300 and execute_plan(store, plan).ok
    assert {k.split("/")[1] for k in location.keys("run1/")} == {"300", "400.orbax-checkpoint-tmp-1712345678"}
    fork_checkpoint(store, "jax", "run1", "run2")
    assert store.load_run("jax", "run2").metrics.series("loss") == [(300, 1 / 300)]


# -- markers for single-object steps ----------------------------------------------------------
def test_an_interrupted_lightning_delete_is_pending_until_finished(moto_server, tmp_path):
    lightning_dir(tmp_path / "logs" / "version_0", last_link=None)
    location = uploaded(moto_server, tmp_path / "logs")
    store = location.store()
    location.put(f"version_0/checkpoints/{DELETING_MARKER}x", json.dumps({"steps": [LIGHTNING_FILES[100]]}).encode())
    run = store.load_run("logs", "version_0")
    assert [c.step for c in run.checkpoints] == [200, 300]
    assert [(c.step, c.note) for c in run.pending] == [(100, "interrupted delete")]
    result = execute_plan(store, plan_run(run, LATEST_ONLY))
    assert [d.step for d in result.deleted] == [200]
    assert location.keys("version_0/checkpoints/") == {f"version_0/checkpoints/{LIGHTNING_FILES[300]}"}


def test_lightning_fork_and_a_fork_in_progress(moto_server, tmp_path, monkeypatch):
    lightning_dir(tmp_path / "logs" / "version_0", last_link=None)
    location = uploaded(moto_server, tmp_path / "logs")
    store = location.store()
    result = fork_checkpoint(store, "logs", "version_0", "version_0-b", step=200)
    key = f"version_0-b/checkpoints/{LIGHTNING_FILES[200]}"
    assert location.keys("version_0-b/") == {key} and result.location == f"{location.url}/{key}"
    assert store.load_run("logs", "version_0-b").metrics.value(200, "val_loss") == 0.3
    # Another process is copying step 300 into version_0-c: its marker names what it writes.
    claim = f"version_0-c/checkpoints/{LIGHTNING_FILES[300]}"
    marker = f"version_0-c/checkpoints/{FORK_MARKER}"
    location.put(marker, json.dumps({"owner": {"host": "elsewhere", "pid": 1}, "root": "version_0-c",
                                     "paths": [claim]}).encode())
    location.put(claim, b"\0" * 5)
    run = store.load_run("logs", "version_0-c")
    assert run.checkpoints == []
    assert [(c.step, c.pending, c.bytes) for c in run.pending] == [(300, Pending.FORK_IN_PROGRESS, 5)]
    with pytest.raises(Refused, match="in progress"):
        fork_checkpoint(store, "logs", "version_0", "version_0-c", step=300)
    assert store.finish_interrupted("logs", "version_0-c") == []
    assert location.keys("version_0-c/") == {claim, marker}
    abandoned_later(monkeypatch)
    assert [c.pending for c in store.load_run("logs", "version_0-c").pending] == [Pending.ABANDONED_FORK]
    assert store.finish_interrupted("logs", "version_0-c") == [f"{location.url}/version_0-c"]
    assert location.keys("version_0-c/") == set()


def test_an_orbax_fork_killed_before_its_metadata_is_invisible_and_taken_over(moto_server, tmp_path, monkeypatch):
    orbax_dir(tmp_path / "jax" / "run1", in_progress=None)
    location = uploaded(moto_server, tmp_path / "jax")
    location.put(f"run9/{FORK_MARKER}", json.dumps({"owner": {"host": "elsewhere", "pid": 1}, "root": "run9",
                                                  "paths": ["run9/300/default/d/chunk0"]}).encode())
    location.put("run9/300/default/d/chunk0", b"\0" * 9)
    store = location.store()
    assert store.list_runs("jax") == ["run1"]  # without Orbax's own files, 300 is no step yet
    abandoned_later(monkeypatch)
    fork_checkpoint(store, "jax", "run1", "run9", step=300)
    assert location.keys("run9/") == {k.replace("run1/", "run9/") for k in location.keys("run1/300/")}
    assert [c.step for c in store.load_run("jax", "run9").checkpoints] == [300]


# -- across stores, and the command line --------------------------------------------------------
def test_forks_between_s3_and_disk_keep_the_layout(moto_server, tmp_path, hf_fixture):
    lightning_dir(tmp_path / "logs" / "version_0", last_link=None)
    location = uploaded(moto_server, tmp_path / "logs")
    store = location.store()
    disk = LocalStore(tmp_path / "logs")
    fork_checkpoint(store, "logs", "version_0", "pulled", step=100, to_store=disk)
    assert os.listdir(tmp_path / "logs" / "pulled" / "checkpoints") == [LIGHTNING_FILES[100]]
    fork_checkpoint(disk, "logs", "pulled", "pushed", step=100, to_store=store)
    assert location.keys("pushed/") == {f"pushed/checkpoints/{LIGHTNING_FILES[100]}"}
    assert store.load_run("logs", "pushed").layout == "lightning"

    hf = uploaded(moto_server, hf_fixture)
    hf_store = hf.store()
    with pytest.raises(Refused, match="with-history"):
        fork_checkpoint(hf_store, "hf-trainer", "full-model", "x", with_history=True)
    fork_checkpoint(LocalStore(hf_fixture), "hf-trainer", "full-model", "full-model-b", step=8, to_store=hf_store)
    forked = hf_store.load_run("hf-trainer", "full-model-b")
    assert forked.layout == "hf" and [c.step for c in forked.checkpoints] == [8] and max(forked.metrics.by_step) == 8
    assert tree_bytes(hf_fixture / "full-model" / "checkpoint-8") == {
        k.split("/", 2)[2]: hf.client.get_object(Bucket=hf.bucket, Key=hf.prefix + k)["Body"].read()
        for k in hf.keys("full-model-b/checkpoint-8/")}


def test_cli_on_a_single_hf_output_dir(moto_server, hf_fixture, capsys):
    location = uploaded(moto_server, hf_fixture / "full-model")
    at = ["--endpoint-url", location.endpoint]
    assert main(["ls", location.url, *at, "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)["runs"]
    assert [(r["project"], r["run"], r["layout"]) for r in runs] == [(location.prefix.split("/")[0], "full-model", "hf")]
    assert main(["prune", location.url, *at, "--metric", "eval_loss", "--mode", "min", "--dry-run"]) == 0
    assert "best eval_loss, trainer's best" in capsys.readouterr().out
    assert main(["fork", location.url, *at, "--to", "again", "--step", "12"]) == 0
    capsys.readouterr()
    parent = Location(location.endpoint, location.bucket, location.prefix.split("/")[0] + "/", location.client)
    assert {k.split("/")[1] for k in parent.keys("again/")} == {"checkpoint-12"}


@pytest.mark.parametrize("server", ["moto", pytest.param("azurite", marks=pytest.mark.azure)])
def test_tensorboard_event_files_are_read_in_a_bucket_too(request, tmp_path, server):
    pytest.importorskip("tensorboard")
    from test_tensorboard import megatron_logs, write_events

    save = megatron_save(tmp_path / "runs" / "gpt")
    megatron_logs(save)
    write_events(save / "iter_0000010", [(10, {"lm-loss": 99.0})])  # inside a checkpoint: not the run's log
    location = bucket_copy(request, server, tmp_path / "runs")
    got = location.store().load_run("runs", "gpt")
    want = LocalStore(tmp_path / "runs").load_run("runs", "gpt")
    assert got.metrics.names() == ["learning-rate", "lm-loss"] and got.metrics.by_step == want.metrics.by_step
    assert got.metrics.notes == want.metrics.notes == []


# -- trees written by the trainers themselves ---------------------------------------------------
REAL_TREES = ["real-trainers/dcp-steps", "real-trainers/deepspeed-zero1", "real-trainers/megatron-dcp",
              "real-trainers/torchtune-async", "real-trainers/torchtune-lora", "real-trainers/nemo2",
              "lightning/default-names", "lightning/slash-metric", "orbax/in-progress"]


def bucket_copy(request: pytest.FixtureRequest, server: str, local: Path) -> Location | AzureLocation:
    """``uploaded`` to moto, or to Azurite with its connection string in the environment."""
    if server != "azurite":
        return uploaded(request.getfixturevalue(f"{server}_server"), local)
    location = AzureLocation.fresh(request.getfixturevalue("azurite").endpoint)
    location.prefix += f"{local.name}/"
    location.upload(local)
    return use_location(request.getfixturevalue("monkeypatch"), location)


@pytest.mark.parametrize("server", ["moto", pytest.param("azurite", marks=pytest.mark.azure)])
@pytest.mark.parametrize("name", REAL_TREES)
def test_trainer_trees_read_in_a_bucket_as_on_disk(request, trainer_tree, name, server):
    root, _ = trainer_tree(name)
    location = bucket_copy(request, server, root.parent)
    store, local = location.store(), LocalStore(root.parent)
    (project, run), = local_pairs = [(p, r) for p in local.list_projects() for r in local.list_runs(p)]
    assert [(p, r) for p in store.list_projects() for r in store.list_runs(p)] == local_pairs
    got, want = store.load_run(project, run), local.load_run(project, run)
    same_run(got, want, store, local)
    assert [c.detail for c in got.checkpoints + got.pending] == [c.detail for c in want.checkpoints + want.pending]
    assert all(c.detail for c in got.checkpoints)
    # The same places (a folder's URL ends in "/"), down to the file inside Lightning's val/ sub-folders.
    assert [c.location.removeprefix(location.url).rstrip("/") for c in got.checkpoints] == [
        c.location.removeprefix(str(root.parent)) for c in want.checkpoints]


def test_deepspeed_prune_and_fork_in_s3(moto_server, trainer_tree):
    root, truth = trainer_tree("real-trainers/deepspeed-zero1")
    location = uploaded(moto_server, root.parent)
    store = location.store()
    run = store.load_run("trees", root.name)
    assert run.protected == {8: ("latest file",)} and [c.name for c in run.pending] == ["global_step10"]
    assert {d.name for d in execute_plan(store, plan_run(run, LATEST_ONLY)).deleted} == {
        "global_step2", "global_step4", "global_step6"}
    assert {k.split("/")[1] for k in location.keys(f"{root.name}/")} == {
        "global_step8", "global_step10", "latest", "zero_to_fp32.py", "zero_to_torch.py", "truth.json"}
    fork_checkpoint(store, "trees", root.name, "again", step=8)
    assert location.client.get_object(Bucket=location.bucket, Key=f"{location.prefix}again/latest")[
        "Body"].read() == b"global_step8"
    assert {k.split("/", 1)[1] for k in location.keys("again/")} == {
        "latest", *(f"global_step8/{f.split('/', 1)[1]}" for f in truth["files"] if f.startswith("global_step8/"))}
