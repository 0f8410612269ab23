"""The Azure store against Azurite over real HTTP: locations, listing, claims, prune, fork, path, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from azurite import AzureLocation
from clouds.reads import check_a_first_page_that_shows_part_of_the_location, check_one_listing_of_a_small_location, ls_imports

from ckpt_tui.cli import main
from ckpt_tui.core import AlreadyExists, Policy, Refused, execute_plan, fork_checkpoint, plan_run
from ckpt_tui.stores import open_store
from ckpt_tui.stores.azure import AzureStore
from ckpt_tui.stores.backends.azure import Place
from ckpt_tui.stores.local import LocalStore

RUNS = ["agent-001", "agent-002", "agent-legacy"]
RUN = "demo/models/agent-001/"


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_azure_sdk_is_imported_only_for_azure_locations():
    code = ("import sys, ckpt_tui.cli, ckpt_tui.stores; ckpt_tui.stores.open_store('/tmp'); "
            "assert not [m for m in sys.modules if m.startswith('azure')], 'azure imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_ls_reads_without_the_sdk_and_lists_a_small_location_once(azure_art, monkeypatch, capsys):
    from ckpt_tui.stores.backends.azure import AzureBackend

    assert not {"azure.storage.blob", "urllib3"} & ls_imports(azure_art.url, azure_art.environment())
    check_one_listing_of_a_small_location(AzureBackend, azure_art.url, monkeypatch, capsys)


def test_ls_of_a_location_larger_than_a_page_lists_only_what_the_page_does_not_show(azure_art, monkeypatch, capsys):
    from ckpt_tui.stores.backends.azure import AzureBackend

    check_a_first_page_that_shows_part_of_the_location(AzureBackend, azure_art.url, azure_art.keys(RUN),
                                                       monkeypatch, capsys)


@pytest.mark.parametrize(("url", "account", "container", "prefix", "shown"), [
    ("az://ckpts", None, "ckpts", "", "az://ckpts/"),
    ("az://ckpts//team//art/", None, "ckpts", "team/art/", "az://ckpts/team/art/x"),
    ("abfs://ckpts@acct.dfs.core.windows.net/team/art", "acct", "ckpts", "team/art/",
     "abfs://ckpts@acct.dfs.core.windows.net/team/art/x"),
    ("abfss://ckpts@acct.dfs.core.chinacloudapi.cn/art", "acct", "ckpts", "art/",
     "abfss://ckpts@acct.dfs.core.chinacloudapi.cn/art/x"),
    ("https://acct.blob.core.windows.net/ckpts/art", "acct", "ckpts", "art/",
     "https://acct.blob.core.windows.net/ckpts/art/x"),
])
def test_locations(url, account, container, prefix, shown):
    place = Place(url)
    assert (place.account, place.container, place.prefix) == (account, container, prefix)
    assert place.base + prefix + ("x" if prefix else "") == shown


@pytest.mark.parametrize(("url", "why"), [
    ("az://", "no container"), ("https://example.com/ckpts/art", "names no Azure storage account"),
    ("abfs://ckpts/art", "names no Azure storage account"),
])
def test_bad_locations_are_refused(url, why):
    with pytest.raises(Refused, match=why):
        Place(url)


def test_lists_the_art_tree_like_the_local_store(azure_art):
    azure, local = azure_art.store(), LocalStore(azure_art.local)
    assert isinstance(open_store(azure_art.url), AzureStore)
    assert azure.list_projects() == ["demo"] and azure.list_runs("demo") == RUNS
    for name in RUNS:
        got, want = azure.load_run("demo", name), local.load_run("demo", name)
        assert got.layout == want.layout
        assert [(c.step, c.name, c.bytes) for c in got.checkpoints] == [
            (c.step, c.name, c.bytes) for c in want.checkpoints]
        assert [sorted(azure.checkpoint_files(got, c)) for c in got.checkpoints] == [
            sorted(local.checkpoint_files(want, c)) for c in want.checkpoints]
        assert got.metrics.by_step == want.metrics.by_step
        assert got.pending == [] and all(c.mtime > 0 for c in got.checkpoints)
    run = azure.load_run("demo", "agent-001")
    assert run.checkpoints[3].location == f"{azure_art.url}/{RUN}checkpoints/0003/"


def test_names_with_any_character_are_listed_as_written(azure_location):
    names = ["run/model_name=0--val_loss=2.08-step=19/w.bin", "run/a b+c%20d&e#f?g/w.bin", "run/ünï☃/w.bin"]
    azure_location.put_many(dict.fromkeys(names, b"xy"))
    backend = azure_location.store().backend
    assert sorted(e.name for e in backend.list_dir("run")) == sorted(n.split("/")[1] for n in names)
    assert sorted(f.path for f in backend.walk("run")) == sorted(n.removeprefix("run/") for n in names)
    assert [(f.path, f.size) for f in backend.walk(names[1])] == [("", 2)]
    assert [e.name for e in backend.list_dir(names[0].rpartition("/")[0])] == ["w.bin"]


def test_listings_read_what_the_sdk_reads(azure_location):
    """Listing pages are parsed here, not by the SDK: the same names, sizes, times and ETags."""
    azure_location.put_many({f"run/{i:02d}/{name}": b"x" * i for i in range(12) for name in ("a", "b/c")})
    backend = azure_location.store().backend
    sdk = {b.name.removeprefix(azure_location.prefix + "run/"): (b.size, b.last_modified.timestamp(), b.etag)
           for b in azure_location.client.list_blobs(name_starts_with=azure_location.prefix + "run/")}
    assert {f.path: (f.size, f.mtime, f.tag) for f in backend.walk("run")} == sdk
    backend.listing_page_size = 5  # several pages
    assert {f.path: (f.size, f.mtime, f.tag) for f in backend.walk("run")} == sdk
    assert sorted(e.name for e in backend.list_dir("run")) == [f"{i:02d}" for i in range(12)]


def test_claims_are_created_only_once(azure_location):
    backend = azure_location.store().backend
    assert backend.create_new("claim", b"first") is True
    assert backend.create_new("claim", b"second") is False
    assert backend.read_file("claim") == b"first"


def test_prune_deletes_exactly_the_planned_blobs(azure_art):
    store = azure_art.store()
    plan = plan_run(store.load_run("demo", "agent-001"), Policy.parse("best,latest", "val/reward"))
    result = execute_plan(store, plan)
    assert result.ok and [d.step for d in result.deleted] == list(range(10))
    assert azure_art.keys(RUN) == {RUN + "history.jsonl", RUN + "state.json"} | {
        f"{RUN}checkpoints/{step}/{f}" for step in ("0010", "0011")
        for f in ("adapter_model.safetensors", "adapter_config.json")}


def test_deleting_more_blobs_than_one_batch_holds(azure_location):
    names = [f"many/{i:04d}" for i in range(300)]
    azure_location.put_many(dict.fromkeys(names, b"x"))
    backend = azure_location.store().backend
    assert backend.delete_files(names + ["many/never-there"]) == {}
    assert azure_location.keys("many/") == set()


def test_fork_is_server_side_and_never_joins_a_run(azure_art, monkeypatch):
    store = azure_art.store()
    monkeypatch.setattr(type(store.backend), "put_stream", lambda *a, **k: pytest.fail("streamed"))
    fork_checkpoint(store, "demo", "agent-001", "agent-001-b", step=4, with_history=True)
    assert azure_art.keys("demo/models/agent-001-b/") == {"demo/models/agent-001-b/history.jsonl"} | {
        f"demo/models/agent-001-b/checkpoints/0004/{f}" for f in ("adapter_config.json", "adapter_model.safetensors")}
    assert [c.step for c in store.load_run("demo", "agent-001-b").checkpoints] == [4]
    with pytest.raises(AlreadyExists):
        fork_checkpoint(store, "demo", "agent-001", "agent-002", step=4)


def test_fork_into_another_container_of_the_account_is_server_side(azure_art, azurite, monkeypatch):
    other = AzureLocation.fresh(azurite.endpoint, f"c-{uuid.uuid4().hex[:10]}")
    other.client.create_container()
    monkeypatch.setattr(type(azure_art.store().backend), "put_stream", lambda *a, **k: pytest.fail("streamed"))
    fork_checkpoint(azure_art.store(), "demo", "agent-001", "agent-001", step=4, to_store=other.store())
    assert other.keys() == {f"{RUN}checkpoints/0004/{f}" for f in ("adapter_config.json", "adapter_model.safetensors")}


def test_fork_from_disk_to_azure_and_back(azure_location, art_base, tmp_path: Path):
    local = LocalStore(art_base)
    remote = azure_location.store()
    fork_checkpoint(local, "demo", "agent-001", "agent-001", step=7, with_history=True, to_store=remote)
    run = remote.load_run("demo", "agent-001")
    assert [c.step for c in run.checkpoints] == [7] and max(run.metrics.by_step) == 7
    back = LocalStore(tmp_path / "back")
    fork_checkpoint(remote, "demo", "agent-001", "agent-001", step=7, to_store=back)
    copied = tmp_path / "back/demo/models/agent-001/checkpoints/0007"
    original = art_base / "demo/models/agent-001/checkpoints/0007"
    assert {p.name: p.read_bytes() for p in copied.iterdir()} == {p.name: p.read_bytes() for p in original.iterdir()}


def test_ls_prune_fork_and_path_from_the_command_line(azure_art, capsys):
    code, out, _ = run_cli(capsys, "ls", azure_art.url, "--json")
    assert code == 0 and [r["run"] for r in json.loads(out)["runs"]] == RUNS
    code, out, _ = run_cli(capsys, "prune", azure_art.url, "-r", "agent-001", "--yes", "--json")
    assert code == 0 and [d["step"] for d in json.loads(out)["plans"][0]["deleted"]] == list(range(10))
    code, out, _ = run_cli(capsys, "path", azure_art.url, "-p", "demo", "-r", "agent-001", "--best")
    assert code == 0 and out == f"{azure_art.url}/{RUN}checkpoints/0010/\n"
    code, _, err = run_cli(capsys, "fork", azure_art.url, "-p", "demo", "-r", "agent-001",
                           "--to", "agent-002", "--step", "10")
    assert code == 2 and "a fork creates a new run" in err
