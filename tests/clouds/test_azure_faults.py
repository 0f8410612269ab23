"""Faults between the store and Azurite: throttling and server errors retried, blobs that cannot
be deleted reported by name, a server gone mid-prune, credentials and places that do not work."""

from __future__ import annotations

import json
import signal
import socket
from pathlib import Path

import pytest
from azurite import DIES, Azurite, AzureLocation, connection_string, container_client, free_port, use_location

from ckpt_tui.cli import main
from ckpt_tui.core import NotFound, Policy, StoreError, execute_plan, fork_checkpoint, plan_run
from ckpt_tui.stores.azure import AzureStore

pytestmark = pytest.mark.usefixtures("no_terminal")

RUN = "demo/models/agent-001/"


def step_keys(steps) -> set[str]:
    return {f"{RUN}checkpoints/{s:04d}/{f}" for s in steps for f in ("adapter_model.safetensors", "adapter_config.json")}


def quick(store: AzureStore) -> AzureStore:
    """The store with its retries' waits cut to nothing (the count of retries unchanged)."""
    connection = store.backend.connection
    connection.backoff = connection.backoff.replace(initial=0.0, maximum=0.0)
    return store


def quick_stores(monkeypatch, then=lambda store: store) -> None:
    """Every Azure store the command line opens is ``quick``, then passed to ``then``."""
    real = AzureStore.from_url
    monkeypatch.setattr(AzureStore, "from_url", lambda *args, **kwargs: then(quick(real(*args, **kwargs))))


def one_line(err: str) -> str:
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def test_server_busy_throttling_and_server_errors_are_retried(azurite, faulty_azure_art):
    proxy = azurite.proxy
    busy = proxy.add(503, method="GET", query="comp=list", times=2)
    assert len(quick(faulty_azure_art.store()).load_run("demo", "agent-001").checkpoints) == 12
    assert busy.hits == 2
    throttled = proxy.add(429, method="GET", path="history.jsonl", times=2)
    store = quick(faulty_azure_art.store())
    run = store.load_run("demo", "agent-001")
    assert throttled.hits == 2 and len(run.metrics.by_step) == 12
    internal = proxy.add(500, method="POST", query="comp=batch", times=1)
    store.delete_checkpoint("demo", "agent-001", run.checkpoint(0))
    assert internal.hits == 1 and not faulty_azure_art.keys(f"{RUN}checkpoints/0000/")


def test_dropped_connections_are_retried(azurite, faulty_azure_art):
    store = quick(faulty_azure_art.store())
    dropped = azurite.proxy.add(0, method="PUT", path="agent-001-b", times=2)
    assert fork_checkpoint(store, "demo", "agent-001", "agent-001-b", step=3).step == 3
    assert dropped.hits == 2
    assert faulty_azure_art.keys("demo/models/agent-001-b/") == {
        k.replace("agent-001/", "agent-001-b/") for k in step_keys([3])}
    lost_batch = azurite.proxy.add(0, method="POST", query="comp=batch", times=1)  # the SDK sends a POST once
    store.delete_checkpoint("demo", "agent-001", store.load_run("demo", "agent-001").checkpoint(0))
    assert lost_batch.hits == 1 and not faulty_azure_art.keys(f"{RUN}checkpoints/0000/")


def test_throttling_that_never_ends_is_one_line_and_deletes_nothing(azurite, faulty_azure_art, capsys, monkeypatch):
    before = faulty_azure_art.keys()
    azurite.proxy.add(503, method="POST", query="comp=batch", times=1000)
    quick_stores(monkeypatch)
    assert main(["prune", faulty_azure_art.url, "-r", "agent-001", "--yes"]) == 1
    err = capsys.readouterr().err
    assert "ServerBusy" in err and "Traceback" not in err
    remaining = faulty_azure_art.keys()
    assert {k for k in remaining if "/checkpoints/0" in k} == {k for k in before if "/checkpoints/0" in k}
    azurite.proxy.clear()
    assert main(["prune", faulty_azure_art.url, "-r", "agent-001", "--yes"]) == 0
    assert faulty_azure_art.keys(f"{RUN}checkpoints/") == step_keys([10, 11])


def test_where_batches_are_refused_blobs_are_deleted_one_by_one(azurite, faulty_azure_art):
    refused = azurite.proxy.add(501, method="POST", query="comp=batch", times=1000)
    store = faulty_azure_art.store()
    result = execute_plan(store, plan_run(store.load_run("demo", "agent-001"), Policy.parse("best,latest", "val/reward")))
    assert result.ok and sorted(d.step for d in result.deleted) == list(range(10)) and refused.hits >= 1
    assert faulty_azure_art.keys(f"{RUN}checkpoints/") == step_keys([10, 11])


def test_a_blob_that_cannot_be_deleted_is_reported_by_name_and_nothing_else_goes(azure_art):
    leased = f"{RUN}checkpoints/0003/adapter_config.json"
    lease = azure_art.client.get_blob_client(azure_art.prefix + leased).acquire_lease()
    store = azure_art.store()
    plan = plan_run(store.load_run("demo", "agent-001"), Policy.parse("best,latest", "val/reward"))
    result = execute_plan(store, plan)
    assert [d.step for d, _ in result.failed] == [3] and "LeaseIdMissing" in result.failed[0][1]
    assert leased in result.failed[0][1]
    assert sorted(d.step for d in result.deleted) == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    run = store.load_run("demo", "agent-001")
    assert [c.step for c in run.checkpoints] == [10, 11]
    assert [(c.step, c.note) for c in run.pending] == [(3, "interrupted delete")]
    lease.release()
    assert store.finish_interrupted("demo", "agent-001") == [f"{azure_art.url}/{RUN}checkpoints/0003"]
    assert azure_art.keys(f"{RUN}checkpoints/") == step_keys([10, 11])


def test_a_server_gone_mid_prune_leaves_no_step_looking_whole_and_the_next_prune_finishes(
        azurite, faulty_azure_art, monkeypatch, capsys):
    quick_stores(monkeypatch)
    # The deletion reaches the server, which dies before it answers: the store cannot tell what went.
    azurite.proxy.add(DIES, method="POST", query="comp=batch")
    assert main(["prune", faulty_azure_art.url, "-r", "agent-001", "--keep", "latest", "--yes"]) == 1
    assert "Azure storage at" in one_line(capsys.readouterr().err)
    azurite.proxy.down = False
    run = quick(faulty_azure_art.store()).load_run("demo", "agent-001")
    keys = faulty_azure_art.keys(f"{RUN}checkpoints/")
    for checkpoint in run.checkpoints:  # whatever is listed as a checkpoint is whole
        assert {k for k in keys if f"/{checkpoint.name}/" in k} == step_keys([checkpoint.step])
    assert main(["prune", faulty_azure_art.url, "-r", "agent-001", "--keep", "latest", "--yes"]) == 0
    assert faulty_azure_art.keys(f"{RUN}checkpoints/") == step_keys([10, 11])  # 10: the best


@pytest.mark.slow
def test_azurite_killed_mid_prune_is_one_line_and_exit_1(tmp_path: Path, art_base, monkeypatch, capsys):
    server = Azurite(tmp_path / "data", free_port()).start()
    try:
        container_client(server.endpoint).create_container()
        location = use_location(monkeypatch, AzureLocation.fresh(server.endpoint))
        location.upload(art_base)
        def server_dies(store):
            deleting = store.backend.delete_files

            def kill_then_delete(paths):
                server.stop(signal.SIGKILL)
                return deleting(paths)

            store.backend.delete_files = kill_then_delete
            return store

        quick_stores(monkeypatch, server_dies)
        assert main(["prune", location.url, "-r", "agent-001", "--yes", "--json"]) == 1
        out, err = capsys.readouterr()
        assert json.loads(out)["freed_bytes"] == 0
        assert "prune failed: cannot reach Azure storage" in one_line(err)
        assert "Traceback" not in err
    finally:
        server.stop()


def test_access_denied_is_one_line(azurite, faulty_azure_art, capsys):
    azurite.proxy.add(403, method="GET", times=1)
    assert main(["ls", faulty_azure_art.url]) == 1
    assert "access denied" in one_line(capsys.readouterr().err)


def test_missing_container_and_unreachable_endpoint(azurite, monkeypatch, capsys):
    use_location(monkeypatch, AzureLocation.fresh(azurite.endpoint))
    with pytest.raises(NotFound, match="no container 'no-such-container'"):
        AzureStore.from_url("az://no-such-container/art").list_projects()
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/devstoreaccount1"
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", connection_string(closed))
    quick_stores(monkeypatch)
    assert main(["ls", "az://ckpt-tests/art"]) == 1
    assert f"cannot reach Azure storage at {closed}" in one_line(capsys.readouterr().err)


def test_credentials_tried_in_order_and_named_when_they_fail(azurite, azure_art, monkeypatch, capsys):
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING")
    at = ["--endpoint-url", azurite.endpoint]
    assert main(["ls", azure_art.url, *at]) == 1
    assert "no Azure storage account" in one_line(capsys.readouterr().err)
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT", "devstoreaccount1")
    monkeypatch.setenv("AZURE_STORAGE_KEY", "bm90IHRoZSBrZXk=")
    assert main(["ls", azure_art.url, *at]) == 1
    assert "AZURE_STORAGE_KEY for account devstoreaccount1" in one_line(capsys.readouterr().err)
    from azurite import ACCOUNT_KEY

    monkeypatch.setenv("AZURE_STORAGE_KEY", ACCOUNT_KEY)
    assert main(["ls", azure_art.url, *at, "--json"]) == 0
    assert [r["run"] for r in json.loads(capsys.readouterr().out)["runs"]][0] == "agent-001"
    monkeypatch.delenv("AZURE_STORAGE_KEY")
    monkeypatch.setitem(__import__("sys").modules, "azure.identity", None)  # azure-identity not installed
    assert main(["ls", azure_art.url, *at]) == 1
    err = one_line(capsys.readouterr().err)
    assert "AZURE_STORAGE_SAS_TOKEN" in err and "azure-identity" in err


def test_a_sas_token_is_used_when_set(azurite, azure_art, monkeypatch, capsys):
    from datetime import datetime, timedelta, timezone

    from azure.storage.blob import ContainerSasPermissions, generate_container_sas
    from azurite import ACCOUNT, ACCOUNT_KEY, CONTAINER

    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING")
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT", ACCOUNT)
    read_only = generate_container_sas(ACCOUNT, CONTAINER, account_key=ACCOUNT_KEY,
                                       permission=ContainerSasPermissions(read=True, list=True),
                                       expiry=datetime.now(timezone.utc) + timedelta(hours=1))
    monkeypatch.setenv("AZURE_STORAGE_SAS_TOKEN", read_only)
    at = ["--endpoint-url", azurite.endpoint]
    assert main(["ls", azure_art.url, *at, "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["runs"]) == 3
    assert main(["prune", azure_art.url, *at, "-r", "agent-001", "--yes"]) == 1
    err = capsys.readouterr().err
    assert "AZURE_STORAGE_SAS_TOKEN" in err and "Traceback" not in err
    assert len(azure_art.keys(f"{RUN}checkpoints/")) == 24
