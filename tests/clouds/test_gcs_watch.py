"""``watch`` beside a trainer saving into GCS (polling), saved policies in a bucket, and
TensorBoard event files read from GCS."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from clouds.gcs_servers import GCSLocation, new_bucket

sys.path.insert(0, str(Path(__file__).parent.parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "layouts"))

from layout_trees import megatron_save  # noqa: E402
from watch_helpers import (Trainer, WatchProcess, best_step, check_latest_and_best_present,  # noqa: E402
                           eval_losses)

from ckpt_tui.cli import main  # noqa: E402
from ckpt_tui.core import Policy  # noqa: E402
from ckpt_tui.policy_file import POLICY_FILE, load, save_run_policy  # noqa: E402
from ckpt_tui.stores.local import LocalStore  # noqa: E402


def save_in_bucket(location: GCSLocation) -> Callable[[int, dict[str, bytes]], None]:
    """GCS has no rename: the files go to ``tmp-checkpoint-N/``, then to ``checkpoint-N/`` (state
    last), then the staging copy goes."""
    bucket = location.client.bucket(location.bucket)

    def save(step: int, files: dict[str, bytes]) -> None:
        for folder in (f"tmp-checkpoint-{step}", f"checkpoint-{step}"):
            for name, data in files.items():
                bucket.blob(f"{location.prefix}{folder}/{name}").upload_from_string(data)
        for name in files:
            bucket.delete_blob(f"{location.prefix}tmp-checkpoint-{step}/{name}")

    return save


def steps_in_bucket(location: GCSLocation) -> set[int]:
    return {int(key.split("/")[0].removeprefix("checkpoint-")) for key in location.keys()
            if key.startswith("checkpoint-")}


def test_watch_in_gcs_keeps_pace_with_a_trainer(fake_gcs_server, gcs_env):
    location = GCSLocation.fresh(gcs_env(fake_gcs_server))
    losses = eval_losses(12, seed=7)
    trainer = Trainer(save_in_bucket(location), losses)
    with WatchProcess(location.url, "--metric", "eval_loss", "--interval", "0.2") as watch:
        watch.started()
        trainer.start()
        while trainer.is_alive():
            check_latest_and_best_present(trainer, lambda: steps_in_bucket(location))
            time.sleep(0.02)
        assert trainer.error is None, trainer.error
        steps = list(range(1, len(losses) + 1))
        expected = {best_step(losses, steps), steps[-1]}
        watch.wait_for(lambda: {e["step"] for e in watch.actions("deleted")} == set(steps) - expected,
                       "every deletion reported")
        assert watch.terminate() == 0
    assert steps_in_bucket(location) == expected
    assert not watch.actions("error") and not watch.actions("failed")
    assert not [k for k in location.keys() if not k.startswith("checkpoint-")]  # no marker, no staging left


def test_the_policy_file_is_read_and_written_in_a_bucket(gcs_location, capsys):
    for step in range(4):
        gcs_location.put(f"proj/models/agent/checkpoints/{step:04d}/adapter_model.safetensors", b"w")
    store = gcs_location.store()
    assert not load(store).exists
    saved = save_run_policy(store, "proj", "agent", Policy.parse("latest,step:1", "none"))
    assert saved.path == f"{gcs_location.url}/{POLICY_FILE}" and POLICY_FILE in gcs_location.keys()
    assert load(gcs_location.store()) == saved
    assert main(["prune", gcs_location.url, "--yes", "--json"]) == 0
    assert [d["step"] for d in json.loads(capsys.readouterr().out)["plans"][0]["deleted"]] == [0, 2]
    gcs_location.put(POLICY_FILE, b'[projects.proj]\nmode = "sideways"\n')
    assert main(["watch", gcs_location.url]) == 2
    assert capsys.readouterr().err.strip() == (
        f'ckpt-tui: {gcs_location.url}/{POLICY_FILE}: projects.proj.mode: must be "max", "min" or "auto", '
        "not 'sideways'")


def test_a_policy_file_above_the_prefix_applies_up_to_the_bucket(gcs_endpoint, capsys):
    location = GCSLocation.fresh(gcs_endpoint, new_bucket(gcs_endpoint))
    for step in range(4):
        location.put(f"proj/models/agent/checkpoints/{step:04d}/adapter_model.safetensors", b"w")
    location.client.bucket(location.bucket).blob(POLICY_FILE).upload_from_string(
        b'[projects.proj.runs.agent]\nkeep = "latest,step:1"\nmetric = "none"\n')
    assert main(["prune", location.url, "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)["plans"][0]
    assert [d["step"] for d in plan["delete"]] == [0, 2]
    assert plan["policy"]["files"] == [f"gs://{location.bucket}/{POLICY_FILE}"]


def test_min_free_needs_a_disk(gcs_art_bucket, capsys):
    assert main(["watch", gcs_art_bucket.url, "--min-free", "10%"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"ckpt-tui: --min-free measures free space on a disk; {gcs_art_bucket.url} is not on one")


def test_tensorboard_event_files_are_read_in_gcs_too(gcs_location, tmp_path):
    pytest.importorskip("tensorboard")
    from test_tensorboard import megatron_logs, write_events

    save = megatron_save(tmp_path / "runs" / "gpt")
    megatron_logs(save)
    write_events(save / "iter_0000010", [(10, {"lm-loss": 99.0})])  # inside a checkpoint: not the run's log
    gcs_location.upload(tmp_path)
    store = GCSLocation(gcs_location.endpoint, gcs_location.bucket, gcs_location.prefix + "runs/").store()
    got = store.load_run("runs", "gpt")
    want = LocalStore(tmp_path / "runs").load_run("runs", "gpt")
    assert got.metrics.names() == ["learning-rate", "lm-loss"] and got.metrics.by_step == want.metrics.by_step
    assert got.metrics.notes == want.metrics.notes == []
