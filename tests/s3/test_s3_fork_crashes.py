"""Forks into, out of and within S3 killed part-way: never half a run that looks whole; a retry succeeds."""

from __future__ import annotations

import json
import os

import pytest
from killed import cli_killed_at

from ckpt_tui.cli import main
from ckpt_tui.stores.claims import FORK_MARKER

pytestmark = pytest.mark.usefixtures("no_terminal")

S3 = "ckpt_tui.stores.backends.s3:S3Backend"
COPY = "demo/models/copy"


def ls(location_args: list[str], capsys) -> dict:
    assert main(["ls", *location_args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


# The history is written only if absent, killed at its content (the marker names its path too).
@pytest.mark.parametrize("where, needle", [("copy_from", "adapter_model"), ("create_new", "train/reward")])
def test_a_fork_with_history_in_s3_killed_part_way_is_pending_and_a_retry_succeeds(art_bucket, capsys,
                                                                                     where, needle):
    location = [art_bucket.url, "--endpoint-url", art_bucket.endpoint]
    args = ["fork", *location, "-p", "demo", "-r", "agent-001", "--to", "copy", "--with-history"]
    cli_killed_at(f"{S3}.{where}", needle, *args)
    assert f"{COPY}/checkpoints/{FORK_MARKER}" in art_bucket.keys(COPY)
    run = next((r for r in ls(location, capsys)["runs"] if r["run"] == "copy"), None)
    assert run is None or (run["checkpoints"] == [] and run["latest_step"] is None)
    assert main([str(a) for a in args]) == 0, capsys.readouterr().err
    keys = art_bucket.keys(COPY)
    assert f"{COPY}/history.jsonl" in keys and not any(FORK_MARKER in k for k in keys)
    assert {k.split("/")[4] for k in keys if "/checkpoints/" in k} == {"0011"}


def test_a_fork_from_s3_to_a_directory_killed_part_way_stages_inside_it(art_bucket, tmp_path, tmpdir_env, capsys):
    target = tmp_path / "elsewhere"
    args = ["fork", art_bucket.url, "--endpoint-url", art_bucket.endpoint, "-p", "demo", "-r", "agent-002",
            "--to", "copy", "--to-location", target]
    cli_killed_at(f"{S3}.get_file", "adapter_model", *args, env=tmpdir_env)
    assert os.listdir(tmpdir_env["TMPDIR"]) == []
    assert [p.name.split("-")[1] for p in (target / "demo" / "models").iterdir()] == ["copy"]  # .forking-copy-…
    assert main([str(a) for a in args]) == 0
    assert sorted(os.listdir(target / "demo" / "models")) == ["copy"]
    assert sorted(os.listdir(target / COPY / "checkpoints")) == ["0005"]


def test_a_fork_from_a_directory_to_s3_killed_part_way_and_retried(art_base, s3_location, tmpdir_env, capsys):
    location = [s3_location.url, "--endpoint-url", s3_location.endpoint]
    args = ["fork", art_base, "-p", "demo", "-r", "agent-002", "--to", "copy", "--to-location", s3_location.url,
            "--endpoint-url", s3_location.endpoint]
    cli_killed_at(f"{S3}.put_file", "adapter_model", *args, env=tmpdir_env)
    assert os.listdir(tmpdir_env["TMPDIR"]) == []
    assert all(r["checkpoints"] == [] for r in ls(location, capsys)["runs"])
    assert main([str(a) for a in args]) == 0
    keys = s3_location.keys(COPY)
    assert not any(FORK_MARKER in k for k in keys) and {k.split("/")[4] for k in keys} == {"0005"}
