"""The GCS store on fake-gcs-server and gcp-storage-emulator over real HTTP: listing, claims,
batch and single deletions, prune, forks within GCS and across stores, ``path``."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from clouds.gcs_servers import GCSLocation, new_bucket
from clouds.reads import check_a_first_page_that_shows_part_of_the_location, check_one_listing_of_a_small_location, ls_imports

from ckpt_tui.cli import main
from ckpt_tui.core import AlreadyExists, Policy, Refused, execute_plan, fork_checkpoint, plan_run
from ckpt_tui.stores import open_store
from ckpt_tui.stores.backends.gcs import parse_url
from ckpt_tui.stores.claims import DELETING_MARKER
from ckpt_tui.stores.gcs import GCSStore
from ckpt_tui.stores.local import LocalStore

RUNS = ["agent-001", "agent-002", "agent-legacy"]
RUN = "demo/models/agent-001/"
STEP_FILES = ("adapter_model.safetensors", "adapter_config.json")


def step_keys(steps, run: str = RUN) -> set[str]:
    return {f"{run}checkpoints/{s:04d}/{f}" for s in steps for f in STEP_FILES}


def test_google_cloud_storage_is_imported_only_for_gs_locations():
    code = ("import sys, ckpt_tui.cli, ckpt_tui.stores; "
            "ckpt_tui.stores.open_store('/tmp'); "
            "assert not [m for m in sys.modules if m.startswith('google')], 'google imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_ls_reads_without_the_client_and_lists_a_small_location_once(gcs_art_bucket, monkeypatch, capsys):
    from ckpt_tui.stores.backends.gcs import GCSBackend

    assert not {"google.cloud.storage", "urllib3"} & ls_imports(gcs_art_bucket.url)
    check_one_listing_of_a_small_location(GCSBackend, gcs_art_bucket.url, monkeypatch, capsys)


def test_ls_of_a_location_larger_than_a_page_lists_only_what_the_page_does_not_show(fake_gcs_art_bucket, monkeypatch,
                                                                                    capsys):
    from ckpt_tui.stores.backends.gcs import GCSBackend

    # On fake-gcs-server: gcp-storage-emulator sends every listing in one page, whatever its size.
    check_a_first_page_that_shows_part_of_the_location(GCSBackend, fake_gcs_art_bucket.url,
                                                       fake_gcs_art_bucket.keys(RUN), monkeypatch, capsys)


def test_an_execution_lists_again_what_the_load_read_from_the_location_listing(fake_gcs_art_bucket):
    store = fake_gcs_art_bucket.store()
    loaded = store.load_run("demo", "agent-001")
    for name in STEP_FILES:  # a save the trainer finishes right after the load
        fake_gcs_art_bucket.put(f"{RUN}checkpoints/0099/{name}", b"{}")
    confirmed = store.read_for_execution("demo", "agent-001")
    assert 99 not in [c.step for c in loaded.checkpoints]
    assert 99 in [c.step for c in confirmed.checkpoints + confirmed.pending]


@pytest.mark.parametrize(("url", "bucket", "prefix"), [
    ("gs://b", "b", ""), ("gs://b/", "b", ""), ("gs://b/team/art", "b", "team/art/"),
    ("gs://b//team//art/", "b", "team/art/"),
])
def test_parse_url(url, bucket, prefix):
    assert parse_url(url) == (bucket, prefix)


@pytest.mark.parametrize("url", ["gs://", "gs:///prefix", "s3://b/p"])
def test_urls_without_a_bucket_are_refused(url):
    with pytest.raises(Refused):
        parse_url(url)


def test_lists_the_art_tree_like_the_local_store(gcs_art_bucket):
    gcs, local = gcs_art_bucket.store(), LocalStore(gcs_art_bucket.local)
    assert isinstance(open_store(gcs_art_bucket.url), GCSStore)
    assert gcs.list_projects() == ["demo"] and gcs.list_runs("demo") == RUNS
    for name in RUNS:
        got, want = gcs.load_run("demo", name), local.load_run("demo", name)
        assert got.layout == want.layout
        assert [(c.step, c.name, c.bytes) for c in got.checkpoints] == [
            (c.step, c.name, c.bytes) for c in want.checkpoints]
        assert [sorted(gcs.checkpoint_files(got, c)) for c in got.checkpoints] == [
            sorted(local.checkpoint_files(want, c)) for c in want.checkpoints]
        assert got.metrics.by_step == want.metrics.by_step
        assert got.pending == [] and all(c.mtime > 0 for c in got.checkpoints)
    run = gcs.load_run("demo", "agent-001")
    assert run.checkpoints[3].location == f"{gcs_art_bucket.url}/{RUN}checkpoints/0003/"


def test_s3_options_are_refused_for_gs_locations(gcs_art_bucket, capsys):
    assert main(["ls", gcs_art_bucket.url, "--profile", "dev"]) == 2
    err = capsys.readouterr().err
    assert "--profile" in err and "S3" in err and len(err.strip().splitlines()) == 1


# -- claims -----------------------------------------------------------------------------
def test_claims_are_created_only_once_on_fake_gcs_server(fake_gcs_server, gcs_env):
    location = GCSLocation.fresh(gcs_env(fake_gcs_server))
    backend = location.store().backend
    with ThreadPoolExecutor(8) as pool:
        won = list(pool.map(lambda i: backend.create_new("claim", f"{i}".encode()), range(8)))
    assert won.count(True) == 1
    assert backend.read_file("claim") == str(won.index(True)).encode()


def test_concurrent_forks_into_one_name_make_one_run(fake_gcs_art_bucket):
    stores = [fake_gcs_art_bucket.store() for _ in range(4)]

    def fork(store):
        try:
            return fork_checkpoint(store, "demo", "agent-001", "agent-009", step=3 + stores.index(store)).step
        except (Refused, AlreadyExists):
            return None

    with ThreadPoolExecutor(4) as pool:
        forked = [s for s in pool.map(fork, stores) if s is not None]
    assert len(forked) == 1
    assert fake_gcs_art_bucket.keys("demo/models/agent-009/") == step_keys(forked, "demo/models/agent-009/")


# -- deletions --------------------------------------------------------------------------
def test_prune_deletes_exactly_the_planned_objects(gcs_art_bucket):
    store = gcs_art_bucket.store()
    before = gcs_art_bucket.keys()
    result = execute_plan(store, plan_run(store.load_run("demo", "agent-001"), Policy.parse("best,latest", "val/reward")))
    assert result.ok and sorted(d.step for d in result.deleted) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert before - gcs_art_bucket.keys() == step_keys(range(10))
    assert not [k for k in gcs_art_bucket.keys() if DELETING_MARKER in k]


def test_deletions_use_batches_where_the_server_has_them(gcs_endpoint, fake_gcs_server):
    location = GCSLocation.fresh(gcs_endpoint)
    names = [f"many/{i:04d}" for i in range(150)]  # two batches of at most 100
    bucket = location.client.bucket(location.bucket)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda n: bucket.blob(location.prefix + n).upload_from_string(b"x"), names))
    backend = location.store().backend
    assert backend.delete_files([*names, "many/never-there"]) == {}
    assert location.keys() == set()
    # fake-gcs-server has no batch endpoint: one by one; gcp-storage-emulator answers batches.
    assert backend.batch_delete is (gcs_endpoint != fake_gcs_server)


# -- forks ------------------------------------------------------------------------------
def test_fork_copies_one_step_server_side(gcs_art_bucket, monkeypatch):
    store = gcs_art_bucket.store()
    downloads = []
    monkeypatch.setattr(type(store.backend), "get_file", lambda *a, **k: downloads.append(a))
    result = fork_checkpoint(store, "demo", "agent-001", "agent-001-b", step=3)
    assert result.step == 3 and downloads == []
    assert gcs_art_bucket.keys("demo/models/agent-001-b/") == step_keys([3], "demo/models/agent-001-b/")
    forked = store.load_run("demo", "agent-001-b")
    assert [c.step for c in forked.checkpoints] == [3] and forked.pending == []


def test_fork_into_another_bucket_on_the_same_server(gcs_art_bucket):
    other = GCSLocation.fresh(gcs_art_bucket.server, new_bucket(gcs_art_bucket.server))
    source, target = gcs_art_bucket.store(), other.store()
    assert source.can_copy_to(target)
    fork_checkpoint(source, "demo", "agent-001", "agent-x", step=5, to_store=target)
    assert other.keys() == step_keys([5], "demo/models/agent-x/")


def test_fork_from_disk_to_gcs_and_back(gcs_art_bucket, art_base: Path, tmp_path: Path):
    empty = GCSLocation.fresh(gcs_art_bucket.server)
    pushed = fork_checkpoint(LocalStore(art_base), "demo", "agent-001", "agent-up", step=4, to_store=empty.store())
    assert pushed.step == 4 and empty.keys() == step_keys([4], "demo/models/agent-up/")
    for name in STEP_FILES:
        got = empty.client.bucket(empty.bucket).blob(f"{empty.prefix}demo/models/agent-up/checkpoints/0004/{name}")
        assert got.download_as_bytes() == (art_base / RUN / "checkpoints" / "0004" / name).read_bytes()
    local = tmp_path / "local"
    local.mkdir()
    fork_checkpoint(empty.store(), "demo", "agent-up", "agent-down", step=4, to_store=LocalStore(local))
    down = local / "demo" / "models" / "agent-down" / "checkpoints" / "0004"
    assert sorted(p.name for p in down.iterdir()) == sorted(STEP_FILES)
    assert (down / "adapter_model.safetensors").read_bytes() == (
        art_base / RUN / "checkpoints" / "0004" / "adapter_model.safetensors").read_bytes()


# -- the command line -------------------------------------------------------------------
def test_ls_prune_fork_and_path_on_the_command_line(gcs_art_bucket, capsys, tmp_path: Path):
    url = gcs_art_bucket.url
    assert main(["ls", url, "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["location"] == url and [(r["run"], r["latest_step"]) for r in listing["runs"]] == [
        ("agent-001", 11), ("agent-002", 5), ("agent-legacy", 3)]
    assert main(["path", url, "-p", "demo", "-r", "agent-001", "--best"]) == 0
    assert capsys.readouterr().out == f"{url}/{RUN}checkpoints/0010/\n"
    assert main(["prune", url, "-r", "agent-001", "--yes", "--json"]) == 0
    assert [d["step"] for d in json.loads(capsys.readouterr().out)["plans"][0]["deleted"]] == list(range(10))
    assert gcs_art_bucket.keys(f"{RUN}checkpoints/") == step_keys([10, 11])
    assert main(["fork", url, "-p", "demo", "-r", "agent-001", "--to", "agent-001-c", "--step", "10",
                 "--with-history", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["location"] == f"{url}/demo/models/agent-001-c/checkpoints/0010/"
    assert main(["path", url, "-p", "demo", "-r", "agent-001-c", "--latest"]) == 0
    assert capsys.readouterr().out == f"{url}/demo/models/agent-001-c/checkpoints/0010/\n"
    local = tmp_path / ".art"
    assert main(["fork", url, "-p", "demo", "-r", "agent-002", "--to", "agent-002", "--to-location", str(local)]) == 0
    assert (local / "demo/models/agent-002/checkpoints/0005/adapter_config.json").is_file()


def test_files_above_the_single_request_size_go_up_resumably_and_come_back_whole(fake_gcs_server, gcs_env,
                                                                                 tmp_path: Path):
    import io
    import os

    backend = GCSLocation.fresh(gcs_env(fake_gcs_server)).store().backend
    data = os.urandom(9 * 1024 * 1024 + 7)  # above the 8 MiB a single upload request takes
    (tmp_path / "big.bin").write_bytes(data)

    class Unseekable(io.RawIOBase):  # another store's download: it cannot tell its position
        def __init__(self) -> None:
            self.inner = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            return self.inner.read(size)

    for name, send in (("from-file", lambda done: backend.put_file(str(tmp_path / "big.bin"), "big/from-file", done)),
                       ("from-stream", lambda done: backend.put_stream(Unseekable(), "big/from-stream", done))):
        sent: list[int] = []
        send(sent.append)
        assert sum(sent) == len(data)
        received: list[int] = []
        backend.get_file(f"big/{name}", str(tmp_path / name), received.append)
        assert sum(received) == len(data) and (tmp_path / name).read_bytes() == data


@pytest.mark.parametrize(("environment", "proxied", "ca_certs"), [
    ({}, False, None),
    ({"HTTPS_PROXY": "http://127.0.0.1:3128"}, True, None),
    ({"HTTPS_PROXY": "http://127.0.0.1:3128", "NO_PROXY": "storage.example.com"}, False, None),
    ({"REQUESTS_CA_BUNDLE": "/etc/corporate-ca.pem"}, False, "/etc/corporate-ca.pem"),
])
def test_requests_made_directly_use_the_proxies_and_ca_bundle_the_environment_names(
        monkeypatch, environment, proxied, ca_certs):
    import urllib3

    from ckpt_tui.stores.backends.gcs import direct_http
    from ckpt_tui.stores.backends.http import Pool

    for name in ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy",
                 "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    pool = direct_http("https://storage.example.com", None)
    assert isinstance(pool, urllib3.ProxyManager) == proxied and isinstance(pool, Pool) != proxied
    if proxied:
        assert pool.proxy.host == "127.0.0.1" and pool.proxy.port == 3128
    if ca_certs:
        assert pool.ca_file == ca_certs
