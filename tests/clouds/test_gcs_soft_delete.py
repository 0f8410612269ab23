"""GCS soft delete: ``ls`` and ``prune`` say how long the bucket keeps what is deleted, from the
bucket's own policy (gcp-storage-emulator keeps it as GCS does: 7 days on a new bucket)."""

from __future__ import annotations

import json
from pathlib import Path

from clouds.gcs_servers import GCSLocation, new_bucket

from ckpt_tui.cli import main


def soft_delete_location(endpoint: str, art_base: Path, retention: int | None) -> GCSLocation:
    """The ART tree in a bucket of its own, its soft-delete retention set (None: the server's default)."""
    location = GCSLocation.fresh(endpoint, new_bucket(endpoint))
    if retention is not None:
        bucket = location.client.bucket(location.bucket)
        bucket.soft_delete_policy.retention_duration_seconds = retention
        bucket.patch()
    location.upload(art_base)
    return location


def ls_json(location: GCSLocation, capsys) -> dict:
    assert main(["ls", location.url, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_ls_and_prune_say_what_the_buckets_soft_delete_keeps(gcp_emulator_server, gcs_env, art_base, capsys):
    endpoint = gcs_env(gcp_emulator_server)
    default = soft_delete_location(endpoint, art_base, None)
    assert "keeps deleted objects for 7 days (soft delete)" in ls_json(default, capsys)["deletion_note"]
    assert main(["ls", default.url]) == 0
    assert "note: this bucket keeps deleted objects for 7 days (soft delete)" in capsys.readouterr().out

    two_days = soft_delete_location(endpoint, art_base, 2 * 86400)
    assert main(["prune", two_days.url, "-r", "agent-001", "--yes"]) == 0
    assert "note: this bucket keeps deleted objects for 2 days (soft delete)" in capsys.readouterr().err

    off = soft_delete_location(endpoint, art_base, 0)
    assert ls_json(off, capsys)["deletion_note"] is None
    assert main(["prune", off.url, "-r", "agent-001", "--yes"]) == 0
    assert "soft delete" not in capsys.readouterr().err


def test_a_server_without_soft_delete_policy_gets_no_note(fake_gcs_server, gcs_env, art_base, capsys):
    location = soft_delete_location(gcs_env(fake_gcs_server), art_base, None)
    assert ls_json(location, capsys)["deletion_note"] is None
