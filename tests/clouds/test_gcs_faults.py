"""Faults between the GCS store and fake-gcs-server: throttling and server errors retried, dropped
connections, a server killed mid-prune, refused and missing credentials in one clear line."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from clouds.gcs_servers import FakeGCS, GCSLocation, art_location

from ckpt_tui.cli import main
from ckpt_tui.core import NotFound, Policy, StoreError, execute_plan, fork_checkpoint, plan_run
from ckpt_tui.stores.backends import gcs as gcs_backend
from ckpt_tui.stores.backends.http import Backoff
from ckpt_tui.stores.claims import DELETING_MARKER
from ckpt_tui.stores.gcs import GCSStore

RUN = "demo/models/agent-001/"


def step_keys(steps, run: str = RUN) -> set[str]:
    return {f"{run}checkpoints/{s:04d}/{f}" for s in steps for f in ("adapter_model.safetensors", "adapter_config.json")}


def impatient(store: GCSStore, seconds: float = 0.5) -> GCSStore:
    """Retries give up after ``seconds`` (a fault meant to last)."""
    store.backend.backoff = Backoff(initial=0.01, maximum=0.05, seconds=seconds)
    store.backend.retry_pause = 0.0
    return store


def one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err.strip()


def test_throttling_and_server_errors_are_retried(faulty_gcs):
    server, location = faulty_gcs
    throttled = server.faults.add("error", method="GET", query="prefix", times=2, status=429, code="rateLimitExceeded")
    store = location.store()
    assert len(store.load_run("demo", "agent-001").checkpoints) == 12
    assert throttled.hits == 2
    unavailable = server.faults.add("error", method="DELETE", times=2, status=503, code="backendError")
    store.delete_checkpoint("demo", "agent-001", store.load_run("demo", "agent-001").checkpoint(0))
    assert unavailable.hits == 2
    assert not location.keys(f"{RUN}checkpoints/0000/")
    uploads = server.faults.add("error", method="POST", query="uploadType", times=2, status=503)
    fork_checkpoint(store, "demo", "agent-001", "agent-up", step=3, to_store=store,
                    with_history=True)
    assert uploads.hits == 2 and location.keys("demo/models/agent-up/checkpoints/") == step_keys(
        [3], "demo/models/agent-up/")


def test_dropped_connections_are_retried(faulty_gcs):
    server, location = faulty_gcs
    store = location.store()
    dropped_read = server.faults.add("drop", method="GET", path="history.jsonl", times=1)
    run = store.load_run("demo", "agent-001")
    assert dropped_read.hits == 1 and len(run.metrics.by_step) == 12
    dropped_copy = server.faults.add("drop", method="POST", path="rewriteTo", times=2)
    assert fork_checkpoint(store, "demo", "agent-001", "agent-001-b", step=3).step == 3
    assert dropped_copy.hits == 2
    assert location.keys("demo/models/agent-001-b/") == step_keys([3], "demo/models/agent-001-b/")


def test_lasting_errors_on_one_object_fail_that_step_only(faulty_gcs):
    server, location = faulty_gcs
    before = location.keys()
    failing = server.faults.add("error", method="DELETE", path=f"{RUN}checkpoints/0003/adapter_config.json",
                                times=1000, status=500, code="internalError")
    store = impatient(location.store())
    result = execute_plan(store, plan_run(store.load_run("demo", "agent-001"), Policy.parse("best,latest", "val/reward")))
    assert [d.step for d, _ in result.failed] == [3] and "0003/adapter_config.json" in result.failed[0][1]
    assert sorted(d.step for d in result.deleted) == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    assert failing.hits >= 2
    assert before - location.keys() == step_keys([0, 1, 2, 4, 5, 6, 7, 8, 9]) | {
        f"{RUN}checkpoints/0003/adapter_model.safetensors"}
    run = store.load_run("demo", "agent-001")
    assert [c.step for c in run.checkpoints] == [10, 11]
    assert [(c.step, c.note) for c in run.pending] == [(3, "interrupted delete")]
    server.faults.clear()
    assert store.finish_interrupted("demo", "agent-001") == [f"{location.url}/{RUN}checkpoints/0003"]
    assert location.keys(f"{RUN}checkpoints/") == step_keys([10, 11])


def test_a_server_killed_mid_prune_leaves_the_rest_pending_and_the_next_prune_finishes(
        tmp_path: Path, gcs_env, art_base: Path, monkeypatch):
    server = FakeGCS(tmp_path, persistent=True).start()
    try:
        location = art_location(gcs_env(server.endpoint), art_base)
        store = impatient(location.store())
        backend = store.backend
        real_delete = backend.delete_files

        def killed_half_way(paths: list[str]) -> dict[str, str]:
            if DELETING_MARKER in paths[0]:
                return real_delete(paths)
            half = len(paths) // 2
            failed = real_delete(paths[:half])
            server.kill()
            return {**failed, **real_delete(paths[half:])}

        monkeypatch.setattr(backend, "delete_files", killed_half_way)
        plan = plan_run(store.load_run("demo", "agent-001"), Policy.parse("best,latest", "val/reward"))
        try:
            result = execute_plan(store, plan)
            assert result.failed and not result.ok
        except StoreError as exc:
            assert "cannot reach the GCS endpoint" in str(exc)
        monkeypatch.undo()
        gcs_env(server.endpoint)
        server.start()  # the same port, the same objects
        keys = location.keys(f"{RUN}checkpoints/")
        assert step_keys([10, 11]) <= keys  # best and latest untouched
        assert [k for k in keys if DELETING_MARKER in k]  # the claim says what is unfinished
        run = store.load_run("demo", "agent-001")
        assert [c.step for c in run.checkpoints][-2:] == [10, 11]
        assert all(c.note == "interrupted delete" for c in run.pending)
        again = execute_plan(store, plan_run(store.load_run("demo", "agent-001"),
                                             Policy.parse("best,latest", "val/reward")))
        assert again.ok
        assert location.keys(f"{RUN}checkpoints/") == step_keys([10, 11])
    finally:
        server.kill()


# -- one clear line -----------------------------------------------------------------------------
def test_access_denied_is_one_clear_line(faulty_gcs, capsys):
    server, location = faulty_gcs
    server.faults.add("error", method="GET", query="prefix", times=1, status=403, code="forbidden")
    assert main(["ls", location.url]) == 1
    assert "access denied" in one_line(capsys)


def test_credentials_the_server_rejects_are_one_clear_line(faulty_gcs, capsys):
    server, location = faulty_gcs
    server.faults.add("error", method="GET", query="prefix", times=1, status=401, code="unauthorized")
    assert main(["ls", location.url]) == 1
    assert "rejected the Google Cloud credentials" in one_line(capsys)


def test_missing_bucket_and_unreachable_endpoint(fake_gcs_server, gcs_env, capsys, monkeypatch):
    gcs_env(fake_gcs_server)
    with pytest.raises(NotFound, match="no bucket 'ckpt-missing-bucket'"):
        GCSStore.from_url("gs://ckpt-missing-bucket/art").list_projects()
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    gcs_env(closed)
    monkeypatch.setattr(gcs_backend, "CONNECT_SECONDS", 0.3)
    assert main(["ls", "gs://bucket/art"]) == 1
    assert f"cannot reach the GCS endpoint {closed}" in one_line(capsys)


def test_no_credentials_is_one_line_naming_what_was_tried(gcs_env, capsys):
    assert main(["ls", "gs://bucket/art"]) == 1
    line = one_line(capsys)
    assert "no Google Cloud credentials found" in line and "GOOGLE_APPLICATION_CREDENTIALS" in line
    assert "application default credentials" in line and "metadata server" in line


@pytest.mark.parametrize("content", [None, b"{not json", b'{"type": "service_account"}'])
def test_a_missing_or_broken_key_file_is_one_line_naming_it(gcs_env, tmp_path, monkeypatch, capsys, content):
    key = tmp_path / "key.json"
    if content is not None:
        key.write_bytes(content)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    assert main(["ls", "gs://bucket/art"]) == 1
    assert f"cannot use GOOGLE_APPLICATION_CREDENTIALS={key}" in one_line(capsys)


def test_a_key_whose_token_is_refused_is_one_line_naming_it(gcs_env, tmp_path, monkeypatch, capsys):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    with socket.socket() as sock:  # the token endpoint: nothing listens there
        sock.bind(("127.0.0.1", 0))
        token_uri = f"http://127.0.0.1:{sock.getsockname()[1]}/token"
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    key = tmp_path / "key.json"
    key.write_text(json.dumps({"type": "service_account", "project_id": "p", "private_key_id": "1",
                               "private_key": private, "client_email": "ckpt@p.iam.gserviceaccount.com",
                               "client_id": "1", "token_uri": token_uri}))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    monkeypatch.setattr(gcs_backend, "CONNECT_SECONDS", 0.3)
    assert main(["ls", "gs://bucket/art"]) == 1
    assert f"cannot use the Google Cloud credentials from GOOGLE_APPLICATION_CREDENTIALS={key}" in one_line(capsys)


def test_the_emulator_is_used_anonymously(fake_gcs_server, gcs_env):
    location = GCSLocation.fresh(gcs_env(fake_gcs_server))
    backend = location.store().backend
    assert "STORAGE_EMULATOR_HOST" in backend.source and "anonymously" in backend.source
