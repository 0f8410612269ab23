"""Saved policies in a GCS bucket; ``watch`` there (beside a trainer: tests/s3/test_s3_watch.py)."""

from __future__ import annotations

import json

from clouds.gcs_servers import GCSLocation, new_bucket

from ckpt_tui.cli import main
from ckpt_tui.core import Policy
from ckpt_tui.policy_file import POLICY_FILE, load, save_run_policy


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
