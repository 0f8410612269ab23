"""Faults injected between the store and moto: retries, failures reported by key, clear errors."""

from __future__ import annotations

import socket

import pytest

from ckpt_tui.cli import main
from ckpt_tui.core import NotFound, Policy, StoreError, execute_plan, fork_checkpoint, plan_run
from ckpt_tui.stores.s3 import S3Store

RUN = "demo/models/agent-001/"


def step_keys(steps) -> set[str]:
    return {f"{RUN}checkpoints/{s:04d}/{f}" for s in steps
            for f in ("adapter_model.safetensors", "adapter_config.json")}


def test_slowdown_and_server_errors_are_retried(faulty_server, faulty_art_bucket):
    faults = faulty_server.faults
    slowdown = faults.add("error", method="GET", query="list-type", times=2, status=503, code="SlowDown")
    store = faulty_art_bucket.store()
    assert len(store.load_run("demo", "agent-001").checkpoints) == 12
    assert slowdown.hits == 2
    internal = faults.add("error", method="POST", query="delete", times=1, status=500, code="InternalError")
    store.delete_checkpoint("demo", "agent-001", store.load_run("demo", "agent-001").checkpoint(0))
    assert internal.hits == 1
    assert not faulty_art_bucket.keys(f"{RUN}checkpoints/0000/")


def test_dropped_connections_are_retried(faulty_server, faulty_art_bucket):
    faults = faulty_server.faults
    store = faulty_art_bucket.store()
    dropped_get = faults.add("drop", method="GET", path="history.jsonl", times=1)
    run = store.load_run("demo", "agent-001")
    assert dropped_get.hits == 1 and len(run.metrics.by_step) == 12
    dropped_copy = faults.add("drop", method="PUT", path="agent-001-b", times=2)
    result = fork_checkpoint(store, "demo", "agent-001", "agent-001-b", step=3)
    assert dropped_copy.hits == 2 and result.step == 3
    assert faulty_art_bucket.keys("demo/models/agent-001-b/") == {
        k.replace("agent-001/", "agent-001-b/") for k in step_keys([3])}


def test_per_key_delete_errors_are_retried(faulty_server, faulty_art_bucket):
    fault = faulty_server.faults.add("key_errors", method="POST", query="delete", times=1,
                                     failing_key=lambda key: "/0002/" in key)
    store = faulty_art_bucket.store()
    plan = plan_run(store.load_run("demo", "agent-001"), Policy.parse("latest,step:5", None))
    result = execute_plan(store, plan)
    assert fault.hits == 1 and result.ok
    assert faulty_art_bucket.keys(f"{RUN}checkpoints/") == step_keys([5, 11])


def test_persistent_key_errors_are_reported_by_key_and_nothing_else_goes(faulty_server, faulty_art_bucket):
    before = faulty_art_bucket.keys()
    failing = f"{faulty_art_bucket.prefix}{RUN}checkpoints/0003/adapter_config.json"
    fault = faulty_server.faults.add("key_errors", method="POST", query="delete", times=100,
                                     failing_key=lambda key: key == failing)
    store = faulty_art_bucket.store()
    store.backend.retry_pause = 0.0
    plan = plan_run(store.load_run("demo", "agent-001"), Policy.parse("best,latest", "val/reward"))
    result = execute_plan(store, plan)
    assert [d.step for d, _ in result.failed] == [3]
    assert failing in result.failed[0][1] and "InternalError" in result.failed[0][1]
    assert sorted(d.step for d in result.deleted) == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    assert fault.hits >= 3  # first try and the retries
    remaining = faulty_art_bucket.keys()
    assert remaining - before == {k for k in remaining if ".ckpt-tui-deleting-" in k}
    assert before - remaining == step_keys([0, 1, 2, 4, 5, 6, 7, 8, 9]) | {
        f"{RUN}checkpoints/0003/adapter_model.safetensors"}
    run = store.load_run("demo", "agent-001")
    assert [c.step for c in run.checkpoints] == [10, 11]
    assert [(c.step, c.note) for c in run.pending] == [(3, "interrupted delete")]
    faulty_server.faults.clear()
    assert store.finish_interrupted("demo", "agent-001") == [f"{faulty_art_bucket.url}/{RUN}checkpoints/0003"]
    assert faulty_art_bucket.keys(f"{RUN}checkpoints/") == step_keys([10, 11])


def test_access_denied_is_one_clear_line(faulty_server, faulty_art_bucket, capsys):
    faulty_server.faults.add("error", method="GET", times=1, status=403, code="AccessDenied")
    code = main(["ls", faulty_art_bucket.url, "--endpoint-url", faulty_server.endpoint])
    err = capsys.readouterr().err
    assert code == 1 and "access denied" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_missing_bucket_and_unreachable_endpoint(moto_server, capsys):
    with pytest.raises(NotFound, match="no bucket 'ckpt-missing-bucket'"):
        S3Store.from_url("s3://ckpt-missing-bucket/art", endpoint_url=moto_server).list_projects()
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    assert main(["ls", "s3://bucket/art", "--endpoint-url", closed]) == 1
    err = capsys.readouterr().err
    assert f"cannot reach the S3 endpoint {closed}" in err and "Traceback" not in err


def test_no_credentials(moto_server, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(StoreError, match="no AWS credentials found"):
        S3Store.from_url("s3://bucket/art", endpoint_url=moto_server).list_projects()
    with pytest.raises(StoreError, match="nope"):
        S3Store.from_url("s3://bucket/art", endpoint_url=moto_server, profile="nope")


def test_endpoint_from_the_environment(moto_art_bucket, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_art_bucket.endpoint)
    assert S3Store.from_url(moto_art_bucket.url).list_runs("demo")[:1] == ["agent-001"]


def test_a_request_timeout_is_retried_and_other_bad_requests_are_not(faulty_server, faulty_art_bucket):
    """S3 answers 400 RequestTimeout when it waited too long for a request: botocore tries
    again, and so does the light client; another 400 is an answer, not tried again."""
    faults = faulty_server.faults
    store = faulty_art_bucket.store()
    timeout = faults.add("error", method="GET", query="list-type", times=2, status=400, code="RequestTimeout")
    assert len(store.load_run("demo", "agent-001").checkpoints) == 12
    assert timeout.hits == 2
    bad = faults.add("error", method="GET", query="list-type", times=5, status=400, code="InvalidArgument")
    with pytest.raises(StoreError, match="InvalidArgument"):
        faulty_art_bucket.store().load_run("demo", "agent-001")
    assert bad.hits == 1


def test_an_object_answered_without_last_modified_is_read(faulty_server, faulty_art_bucket):
    """A HEAD answer without Last-Modified: the object is read, dated no older than now."""
    import time

    faulty_server.faults.add("no_header", method="HEAD", times=1, code="Last-Modified")
    store = faulty_art_bucket.store()
    before = time.time()
    (info,) = store.backend.walk(f"{RUN}history.jsonl")
    assert info.size == (faulty_art_bucket.local / RUN / "history.jsonl").stat().st_size
    assert info.mtime >= before


def test_a_fork_marker_written_by_a_try_whose_answer_was_lost_is_its_own(faulty_server, faulty_art_bucket):
    """The marker's PUT (If-None-Match: *) is done but answered 503: tried again, it meets
    412 on its own marker, which is not another fork's."""
    from ckpt_tui.core import fork_checkpoint
    from ckpt_tui.stores.claims import FORK_MARKER

    lost = faulty_server.faults.add("lost_answer", method="PUT", path=FORK_MARKER, times=1)
    store = faulty_art_bucket.store()
    fork_checkpoint(store, "demo", "agent-001", "agent-001-r", step=4)
    assert lost.hits == 1
    new = "demo/models/agent-001-r/"
    assert faulty_art_bucket.keys(new) == {f"{new}checkpoints/0004/{f}" for f in
                                           ("adapter_model.safetensors", "adapter_config.json")}
    assert [c.step for c in store.load_run("demo", "agent-001-r").checkpoints] == [4]
