"""Incomplete multipart uploads, left open on moto and SeaweedFS: reported by ``ls`` per run,
aborted by ``prune --abort-uploads-older`` only when older than the threshold.

moto dates every multipart upload 2010-11-10 whatever the clock; SeaweedFS dates it when it
starts. Age is therefore tested through the core's injected clock on both servers, and a real
fresh upload is shown never to be aborted on SeaweedFS."""

from __future__ import annotations

import json

import pytest

from ckpt_tui.cli import main
from ckpt_tui.core.hidden import abort_old_uploads, uploads_by_run

DAY = 86400
RUN_1 = "demo/models/agent-001"
RUN_2 = "demo/models/agent-002"


def open_upload(location, key: str, *parts: int) -> str:
    """Start a multipart upload of ``key`` (below the location) with parts of these sizes; never completed."""
    client, full = location.client, location.prefix + key
    upload_id = client.create_multipart_upload(Bucket=location.bucket, Key=full)["UploadId"]
    for number, size in enumerate(parts, 1):
        client.upload_part(Bucket=location.bucket, Key=full, UploadId=upload_id, PartNumber=number,
                           Body=b"x" * size)
    return upload_id


def open_ids(location) -> set[str]:
    pages = location.client.get_paginator("list_multipart_uploads").paginate(
        Bucket=location.bucket, Prefix=location.prefix)
    return {u["UploadId"] for page in pages for u in page.get("Uploads", ())}


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def uploads(art_bucket) -> dict[str, str]:
    """Four uploads left open: two in agent-001's folder, one in agent-002's, one outside every run
    (in ``agent-001-x``, whose name merely begins with a run's)."""
    return {
        "run1-a": open_upload(art_bucket, f"{RUN_1}/checkpoints/0012/adapter_model.safetensors", 3000, 2000),
        "run1-b": open_upload(art_bucket, f"{RUN_1}/checkpoints/0013/adapter_model.safetensors", 700),
        "run2": open_upload(art_bucket, f"{RUN_2}/checkpoints/0006/adapter_model.safetensors", 1000),
        "outside": open_upload(art_bucket, "demo/models/agent-001-x/blob.bin", 400),
    }


def test_ls_reports_uploads_per_run(art_bucket, uploads, capsys):
    at = ["--endpoint-url", art_bucket.endpoint]
    code, out, _ = run_cli(capsys, "ls", art_bucket.url, *at, "--json")
    listing = json.loads(out)
    by_run = {r["run"]: r["incomplete_uploads"] for r in listing["runs"]}
    assert code == 0
    assert (by_run["agent-001"]["count"], by_run["agent-001"]["bytes"]) == (2, 5700)
    assert {u["upload_id"] for u in by_run["agent-001"]["uploads"]} == {uploads["run1-a"], uploads["run1-b"]}
    assert {u["path"]: u["parts"] for u in by_run["agent-001"]["uploads"]} == {
        f"{RUN_1}/checkpoints/0012/adapter_model.safetensors": 2, f"{RUN_1}/checkpoints/0013/adapter_model.safetensors": 1}
    assert by_run["agent-001"]["oldest_age_seconds"] >= 0
    assert (by_run["agent-002"]["count"], by_run["agent-002"]["bytes"]) == (1, 1000)
    assert by_run["agent-legacy"] == {"count": 0, "bytes": 0, "oldest_age_seconds": None, "uploads": []}
    outside = listing["incomplete_uploads_outside_runs"]
    assert [u["upload_id"] for u in outside["uploads"]] == [uploads["outside"]] and outside["bytes"] == 400
    # The open uploads add no step: agent-001 still ends at step 11.
    assert [r["latest_step"] for r in listing["runs"]] == [11, 5, 3]

    code, out, _ = run_cli(capsys, "ls", art_bucket.url, *at)
    lines = out.splitlines()
    run_line = next(i for i, line in enumerate(lines) if line.startswith("demo/agent-001 "))
    assert code == 0 and lines[run_line + 1].startswith("  incomplete uploads: 2, 5.7 kB, the oldest started ")
    assert any(line.startswith("incomplete uploads outside any run: 1, 400 Bytes") for line in lines)

    code, out, _ = run_cli(capsys, "ls", art_bucket.url, *at, "-p", "demo", "-r", "agent-002")
    assert code == 0 and "incomplete uploads: 1, 1.0 kB" in out and "outside any run" not in out


def test_abort_only_uploads_older_than_the_threshold(art_bucket, uploads):
    """The threshold, with the clock injected: an hour after the uploads started nothing is
    aborted; two days after, the selected run's are, and no other run's."""
    store = art_bucket.store()
    by_run, _elsewhere, _problem = uploads_by_run(store, [("demo", "agent-001"), ("demo", "agent-002")])
    run1 = by_run[("demo", "agent-001")].uploads
    started = max(u.initiated for u in run1)

    young = abort_old_uploads(store, run1, DAY, now=started + 3600)
    assert young.aborted == [] and open_ids(art_bucket) == set(uploads.values())

    old = abort_old_uploads(store, run1, DAY, now=started + 2 * DAY)
    assert {u.upload_id for u in old.aborted} == {uploads["run1-a"], uploads["run1-b"]}
    assert old.freed_bytes == 5700 and old.failed == []
    assert open_ids(art_bucket) == {uploads["run2"], uploads["outside"]}

    again = abort_old_uploads(store, run1, DAY, now=started + 2 * DAY)  # already gone: nothing to do
    assert again.aborted == [] and again.failed == []


def test_prune_aborts_uploads_with_a_zero_threshold(art_bucket, uploads, capsys):
    at = ["--endpoint-url", art_bucket.endpoint]
    code, out, _ = run_cli(capsys, "prune", art_bucket.url, *at, "-r", "agent-001", "--keep", "best,latest,last:99",
                           "--abort-uploads-older", "0s", "--dry-run")
    assert code == 0 and "incomplete uploads: abort 2 older than 0s, freeing 5.7 kB (dry run)" in out
    assert open_ids(art_bucket) == set(uploads.values())

    code, out, _ = run_cli(capsys, "prune", art_bucket.url, *at, "-r", "agent-001", "--keep", "best,latest,last:99",
                           "--abort-uploads-older", "0s", "--yes", "--json")
    report = json.loads(out)["incomplete_uploads"]
    assert code == 0 and report["older_than_seconds"] == 0 and report["freed_bytes"] == 5700
    assert {u["upload_id"] for u in report["aborted"]} == {uploads["run1-a"], uploads["run1-b"]}
    assert open_ids(art_bucket) == {uploads["run2"], uploads["outside"]}  # other runs' and stray ones stay
    assert len(art_bucket.keys(f"{RUN_1}/checkpoints/")) == 24  # no checkpoint deleted


@pytest.mark.parametrize("s3_endpoint", ["seaweedfs"], indirect=True)
def test_a_fresh_upload_is_never_aborted(art_bucket, capsys):
    """SeaweedFS dates an upload when it starts: one just started is younger than a day."""
    fresh = open_upload(art_bucket, f"{RUN_1}/checkpoints/0012/adapter_model.safetensors", 1000)
    at = ["--endpoint-url", art_bucket.endpoint]
    code, out, _ = run_cli(capsys, "prune", art_bucket.url, *at, "-r", "agent-001", "--abort-uploads-older", "1d",
                           "--yes")
    assert code == 0 and "incomplete uploads: abort 0 older than 1d, freeing 0 Bytes; 1 younger kept" in out
    assert "aborted 0 incomplete upload(s)" in out and open_ids(art_bucket) == {fresh}

    code, out, _ = run_cli(capsys, "prune", art_bucket.url, *at, "-r", "agent-001", "--abort-uploads-older", "0s",
                           "--yes")
    assert code == 0 and "aborted 1 incomplete upload(s), freed 1.0 kB" in out and open_ids(art_bucket) == set()


def test_a_bad_duration_is_one_line_and_exit_2(tmp_path, capsys):
    """Refused before the location is even opened."""
    for bad in ("1 day", "-1d", "1y", "", "1.5d"):
        code, out, err = run_cli(capsys, "prune", str(tmp_path), f"--abort-uploads-older={bad}", "--yes")
        assert code == 2 and out == "" and len(err.splitlines()) == 1
        assert "--abort-uploads-older needs a duration such as 1d" in err


def test_uploads_that_may_not_be_listed_hide_nothing_else(faulty_art_bucket, faulty_server, capsys):
    """Credentials that may list objects but not uploads: ls lists the runs and says so; prune
    asked to abort says it could not, and exits 1."""
    open_upload(faulty_art_bucket, f"{RUN_1}/checkpoints/0012/adapter_model.safetensors", 100)
    faulty_server.faults.add("error", method="GET", query="uploads", times=99, status=403, code="AccessDenied")
    at = ["--endpoint-url", faulty_art_bucket.endpoint]
    code, out, err = run_cli(capsys, "ls", faulty_art_bucket.url, *at, "--json")
    assert code == 0 and len(json.loads(out)["runs"]) == 3
    assert "note: incomplete uploads not listed: access denied" in err
    code, out, err = run_cli(capsys, "prune", faulty_art_bucket.url, *at, "-r", "agent-001",
                             "--abort-uploads-older", "0s", "--yes")
    assert code == 1 and "incomplete uploads not listed, none aborted: access denied" in err
    assert "deleted 10 checkpoint(s)" in out  # the checkpoints were pruned all the same
