"""The S3 store against moto and SeaweedFS over real HTTP: listing, prune, interrupted work."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from s3_servers import Location

from ckpt_tui.core import NotFound, Pending, Policy, Refused, execute_plan, fork_checkpoint, plan_run
from ckpt_tui.stores import open_store
from ckpt_tui.core.store import DELETED
from ckpt_tui.stores import claims
from ckpt_tui.stores.backends.s3 import parse_url
from ckpt_tui.stores.claims import DELETING_MARKER, FORK_MARKER
from ckpt_tui.stores.layouts.art import art_name
from ckpt_tui.stores.local import LocalStore
from ckpt_tui.stores.s3 import S3Store

RUNS = ["agent-001", "agent-002", "agent-legacy"]


def test_boto3_is_imported_only_for_s3_locations():
    code = ("import sys, ckpt_tui.cli, ckpt_tui.stores; "
            "ckpt_tui.stores.open_store('/tmp'); "
            "assert 'boto3' not in sys.modules and 'botocore' not in sys.modules, 'boto3 imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(("url", "bucket", "prefix"), [
    ("s3://b", "b", ""), ("s3://b/", "b", ""), ("s3://b/team/art", "b", "team/art/"),
    ("s3://b//team//art/", "b", "team/art/"),
])
def test_parse_url(url, bucket, prefix):
    assert parse_url(url) == (bucket, prefix)


def test_lists_the_art_tree_like_the_local_store(art_bucket):
    s3, local = art_bucket.store(), LocalStore(art_bucket.local)
    assert isinstance(open_store(art_bucket.url, endpoint_url=art_bucket.endpoint), S3Store)
    assert s3.list_projects() == ["demo"]
    assert s3.list_runs("demo") == RUNS
    for name in RUNS:
        got, want = s3.load_run("demo", name), local.load_run("demo", name)
        assert got.layout == want.layout
        assert [c.step for c in got.checkpoints] == [c.step for c in want.checkpoints]
        assert [c.name for c in got.checkpoints] == [c.name for c in want.checkpoints]
        assert [c.bytes for c in got.checkpoints] == [c.bytes for c in want.checkpoints]
        assert [sorted(s3.checkpoint_files(got, c)) for c in got.checkpoints] == [
            sorted(local.checkpoint_files(want, c)) for c in want.checkpoints]
        assert got.metrics.by_step == want.metrics.by_step
        assert got.pending == [] and all(c.mtime > 0 for c in got.checkpoints)
    run = s3.load_run("demo", "agent-001")
    assert run.checkpoints[3].location == (f"s3://{art_bucket.bucket}/{art_bucket.prefix}"
                                           "demo/models/agent-001/checkpoints/0003/")
    assert s3.load_run("demo", "agent-legacy").layout == "art-legacy"
    assert s3.load_run("demo", "agent-002", with_metrics=False).metrics.by_step == {}


def test_unknown_run_and_empty_prefix(art_bucket):
    store = art_bucket.store()
    with pytest.raises(NotFound, match="agent-9"):
        store.load_run("demo", "agent-9")
    assert S3Store.from_url(f"s3://{art_bucket.bucket}/elsewhere",
                            endpoint_url=art_bucket.endpoint).list_projects() == []


def test_prune_deletes_exactly_the_planned_keys(art_bucket):
    store = art_bucket.store()
    before = art_bucket.keys()
    plan = plan_run(store.load_run("demo", "agent-001"), Policy.parse("best,latest", "val/reward"))
    assert sorted(plan.delete_steps) == list(range(10))
    result = execute_plan(store, plan)
    assert result.ok and [d.step for d in result.deleted] == list(range(10))
    run_prefix = "demo/models/agent-001/"
    kept = {run_prefix + "history.jsonl", run_prefix + "state.json"} | {
        f"{run_prefix}checkpoints/{step}/{f}" for step in ("0010", "0011")
        for f in ("adapter_model.safetensors", "adapter_config.json")}
    assert art_bucket.keys(run_prefix) == kept
    assert art_bucket.keys() == {k for k in before if not k.startswith(run_prefix)} | kept
    assert [c.step for c in store.load_run("demo", "agent-001").checkpoints] == [10, 11]


def test_prune_of_a_legacy_run_with_a_loss(art_bucket):
    store = art_bucket.store()
    plan = plan_run(store.load_run("demo", "agent-002"), Policy.parse("best,latest", "train/loss"))
    assert execute_plan(store, plan).ok
    assert [c.step for c in store.load_run("demo", "agent-002").checkpoints] == [4, 5]
    legacy = store.load_run("demo", "agent-legacy")
    store.delete_checkpoint("demo", "agent-legacy", legacy.checkpoints[0])
    assert not art_bucket.keys("demo/models/agent-legacy/0000/")
    assert [c.step for c in store.load_run("demo", "agent-legacy").checkpoints] == [1, 2, 3]


def test_run_names_that_share_a_prefix_never_touch_each_other(s3_location):
    store = s3_location.store()
    for run in ("agent-1", "agent-10"):
        for step in (1, 2, 3):
            s3_location.put(f"demo/models/{run}/checkpoints/{step:04d}/w.bin", run.encode() * step)
    s3_location.put("demo/models/agent-1x", b"not a run")
    s3_location.put("demo2/models/agent-1/checkpoints/0001/w.bin", b"x")
    assert store.list_projects() == ["demo", "demo2"]
    assert store.list_runs("demo") == ["agent-1", "agent-10"]
    one = store.load_run("demo", "agent-1")
    assert [c.bytes for c in one.checkpoints] == [7, 14, 21]
    for ckpt in one.checkpoints[:2]:
        store.delete_checkpoint("demo", "agent-1", ckpt)
    ten = store.load_run("demo", "agent-10")
    assert [c.step for c in ten.checkpoints] == [1, 2, 3] and [c.bytes for c in ten.checkpoints] == [8, 16, 24]
    assert [c.step for c in store.load_run("demo", "agent-1").checkpoints] == [3]
    assert [c.step for c in store.load_run("demo2", "agent-1").checkpoints] == [1]


def test_an_interrupted_delete_is_pending_until_finished(claims_art):
    store = claims_art.store()
    root = "demo/models/agent-001/checkpoints/"
    # What a delete leaves if it stops half-way: its marker, and part of step 3.
    claims_art.put(f"{root}{DELETING_MARKER}abc", json.dumps({"steps": ["0003"]}).encode())
    claims_art.delete(f"{root}0003/adapter_config.json")
    run = store.load_run("demo", "agent-001")
    assert 3 not in [c.step for c in run.checkpoints]
    assert [(c.step, c.complete, c.note) for c in run.pending] == [(3, False, "interrupted delete")]
    plan = plan_run(run, Policy.parse("best,latest", "val/reward"))
    assert 3 not in plan.delete_steps
    assert store.finish_interrupted("demo", "agent-001") == [store.backend.url(f"{root}0003")]
    assert not claims_art.keys("demo/models/agent-001/checkpoints/0003/")
    assert not claims_art.keys(f"demo/models/agent-001/checkpoints/{DELETING_MARKER}")
    run = store.load_run("demo", "agent-001")
    assert run.pending == [] and 3 not in [c.step for c in run.checkpoints]
    assert len(run.checkpoints) == 11


def put_fork_marker(location, folder: str, root: str, paths: list[str], **owner) -> None:
    """What a fork writes before it copies anything: a marker naming everything it will write."""
    body = {"owner": owner or {"host": "another-host", "pid": 1, "since": 0}, "root": root, "paths": paths}
    location.put(f"{folder}/{FORK_MARKER}", json.dumps(body).encode())


def test_an_interrupted_fork_is_pending_and_taken_over_once_abandoned(claims_art, monkeypatch):
    store = claims_art.store()
    root = "demo/models/agent-003"
    step = f"{root}/checkpoints/0004"
    put_fork_marker(claims_art, f"{root}/checkpoints", root,
                    [f"{step}/adapter_config.json", f"{step}/adapter_model.safetensors"])
    claims_art.put(f"{step}/adapter_config.json", b"{}")
    run = store.load_run("demo", "agent-003")
    assert run.checkpoints == []
    assert [(c.step, c.pending, c.bytes) for c in run.pending] == [(4, Pending.FORK_IN_PROGRESS, 2)]
    with pytest.raises(Refused, match="in progress .*another-host"):
        fork_checkpoint(store, "demo", "agent-001", "agent-003", step=4)
    assert store.finish_interrupted("demo", "agent-003") == []
    real_now = claims._now
    monkeypatch.setattr(claims, "_now", lambda: real_now() + claims.ABANDONED_FORK_SECONDS + 60)
    assert [c.pending for c in store.load_run("demo", "agent-003").pending] == [Pending.ABANDONED_FORK]
    # A fork into the same name takes the abandoned one over: what it wrote goes, the new copy is whole.
    fork_checkpoint(store, "demo", "agent-001", "agent-003", step=5)
    assert claims_art.keys(f"{root}/") == {f"{root}/checkpoints/0005/{f}"
                                           for f in ("adapter_config.json", "adapter_model.safetensors")}
    assert [c.step for c in store.load_run("demo", "agent-003").checkpoints] == [5]


def test_deleting_more_than_1000_objects_at_once(seaweedfs_server):
    """On SeaweedFS, which refuses more than 1000 keys in one request as S3 does."""
    from concurrent.futures import ThreadPoolExecutor

    s3_location = Location.fresh(seaweedfs_server)
    store = s3_location.store()
    keys = [f"p/models/r/checkpoints/{art_name(step)}/shard-{i:04d}" for step, n in ((1, 600), (2, 450))
            for i in range(n)]
    keys.append("p/models/r/checkpoints/0003/w.bin")
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(s3_location.put, keys))
    run = store.load_run("p", "r")
    assert [len(store.checkpoint_files(run, c)) for c in run.checkpoints] == [600, 450, 1]
    outcome = store.delete_checkpoints(run, run.checkpoints[:2])
    assert set(outcome.values()) == {DELETED}
    assert s3_location.keys() == {"p/models/r/checkpoints/0003/w.bin"}


def test_a_delete_also_removes_objects_written_after_the_listing(aged_claims_art):
    from ckpt_tui.core import Checkpoint

    store = aged_claims_art.store()
    run = store.load_run("demo", "agent-001")
    aged_claims_art.put("demo/models/agent-001/checkpoints/0001/written-after-listing.bin", b"late")
    store.delete_checkpoint("demo", "agent-001", run.checkpoint(1))
    run = store.load_run("demo", "agent-001")
    aged_claims_art.put("demo/models/agent-001/checkpoints/0003/written-after-listing.bin", b"late")
    outcome = store.delete_checkpoints(run, [run.checkpoint(2), run.checkpoint(3)])
    assert set(outcome.values()) == {DELETED}
    for step in ("0001", "0002", "0003"):
        assert not aged_claims_art.keys(f"demo/models/agent-001/checkpoints/{step}/")
    assert [c.step for c in store.load_run("demo", "agent-001").checkpoints] == [0, *range(4, 12)]
    with pytest.raises(NotFound):
        store.delete_checkpoint("demo", "agent-001", Checkpoint(step=2, bytes=0, mtime=0.0, name="0002"))


def test_objects_written_into_deleted_steps_meanwhile_are_swept_on_every_server(claims_art):
    # SeaweedFS still shows emptied step folders after a deletion: the sweep looks inside them.
    store = claims_art.store()
    run = store.load_run("demo", "agent-001")
    claims_art.put("demo/models/agent-001/checkpoints/0003/written-after-listing.bin", b"late")
    outcome = store.delete_checkpoints(run, [run.checkpoint(s) for s in (1, 2, 3)])
    assert set(outcome.values()) == {DELETED}
    for step in ("0001", "0002", "0003"):
        assert not claims_art.keys(f"demo/models/agent-001/checkpoints/{step}/")
    assert [c.step for c in store.load_run("demo", "agent-001").checkpoints] == [0, *range(4, 12)]


def test_covering_prefixes():
    from ckpt_tui.stores.backends.s3 import covering_prefixes

    assert covering_prefixes([f"{i:04d}" for i in range(1000)]) == [f"0{i}" for i in range(10)]
    # names of different lengths: each object is listed under one prefix only
    assert covering_prefixes(["1", "10", "11", "2"]) == ["1", "2"]
    assert covering_prefixes([f"{i:04d}" for i in range(1000)], most=100) == [f"{i:03d}" for i in range(100)]
    assert covering_prefixes(["checkpoint-10", "checkpoint-3"]) == ["checkpoint-10", "checkpoint-3"]
    names = [f"global_step{i}" for i in range(0, 5000, 7)]
    assert all(any(n.startswith(p) for p in covering_prefixes(names)) for n in names)


def test_a_listing_of_some_steps_holds_those_steps_only(claims_art):
    keys = [f"c/{name}/{f}" for name in ("0010", "00100", "0011", "0200", "1") for f in ("a.bin", "b/c.json")]
    for key in keys:
        claims_art.put(key, b"x")
    backend = claims_art.store().backend
    groups = backend.listing_of("c", ["0010", "0200", "9999"])
    assert {name: sorted(f.path for f in files) for name, files in groups.items()} == {
        "0010": ["a.bin", "b/c.json"], "0200": ["a.bin", "b/c.json"]}


LISTING = """<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>art/</Prefix>
<KeyCount>3</KeyCount><MaxKeys>1000</MaxKeys>{delimiter}<EncodingType>url</EncodingType>
<IsTruncated>{truncated}</IsTruncated>{token}
<Contents><Key>art/a%20b/0001/x%2By.bin</Key><LastModified>2026-05-01T12:00:03.000Z</LastModified>
<ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>12</Size><StorageClass>STANDARD</StorageClass>
<Owner><ID>o</ID><DisplayName>o</DisplayName></Owner></Contents>
<Contents><Key>art/%C3%A9t%C3%A9/h%26m.json</Key><LastModified>2026-05-01T12:00:04.500Z</LastModified>
<ETag>&quot;e&quot;</ETag><Size>0</Size></Contents>
<CommonPrefixes><Prefix>art/dir/</Prefix></CommonPrefixes><CommonPrefixes><Prefix>art/d%20x/</Prefix></CommonPrefixes>
</ListBucketResult>"""


@pytest.mark.parametrize("variant", [
    {"delimiter": "", "truncated": "false", "token": ""},
    {"delimiter": "<Delimiter>/</Delimiter>", "truncated": "true",
     "token": "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"},
])
def test_listing_pages_are_read_as_botocore_reads_them(variant):
    import botocore.session
    from botocore.parsers import RestXMLParser

    from ckpt_tui.stores.backends.s3light import listing_page as _listing_page, timestamp as _timestamp

    body = LISTING.format(**variant).encode()
    shape = botocore.session.get_session().get_service_model("s3").operation_model("ListObjectsV2").output_shape
    theirs = RestXMLParser(timestamp_parser=_timestamp).parse({"body": body, "headers": {}, "status_code": 200},
                                                              shape)
    ours = _listing_page(body)
    theirs.pop("ResponseMetadata", None)
    for obj in theirs["Contents"]:  # what listings never use
        obj.pop("StorageClass", None)
        obj.pop("Owner", None)
    assert ours == theirs


def test_a_page_the_fast_reader_cannot_read_is_left_to_botocore():
    from ckpt_tui.stores.backends.s3 import _parse_listing_fast

    for response in ({"body": b"<ListBucketResult><Contents><Key>k</Key></Contents>", "status_code": 200},
                     {"body": b"<Error><Code>SlowDown</Code></Error>", "status_code": 503}):
        body, customized = response["body"], {}
        _parse_listing_fast(response_dict=response, customized_response_dict=customized)
        assert customized == {} and response["body"] == body


def test_keys_with_any_character_are_listed_as_written(s3_location):
    names = ["a b/x+y.bin", "été/h&m.json", "q?=%41/<tag>.txt", "tab\tname/~!*'().json"]
    for name in names:
        s3_location.client.put_object(Bucket=s3_location.bucket, Key=s3_location.prefix + name, Body=b"12")
    backend = s3_location.store().backend
    assert sorted(info.path for info in backend.walk("")) == sorted(names)
    assert {entry.name for entry in backend.list_dir("")} == {name.split("/")[0] for name in names}


def test_timestamps_are_read_as_botocore_reads_them():
    from botocore.utils import parse_timestamp

    from ckpt_tui.stores.backends.s3light import timestamp as _timestamp

    for text in ("2026-05-01T12:00:03.000Z", "2026-05-01T12:00:03.123456+02:00", "2026-05-01T12:00:03",
                 "Fri, 01 May 2026 12:00:03 GMT", 1777636803, "1777636803"):
        assert _timestamp(text) == parse_timestamp(text), text


def test_a_prune_of_several_runs_reads_their_folders_side_by_side_and_executes_them_at_once(art_bucket):
    """Each run's folder is listed once (its policy file and its checkpoint folder's place),
    the runs' folders side by side; their plans execute several at a time, each as alone, the
    progress counting every step once, up to the total."""
    import threading

    from ckpt_tui.core import execute_plans
    from ckpt_tui.core.policy import Policies, plan_runs

    store = art_bucket.store()
    listed: list[str] = []
    threads: set[str] = set()

    def sent(model, params, **_):
        if model.name == "ListObjectsV2":
            listed.append(params["Prefix"])
        if model.name == "PutObject":
            threads.add(threading.current_thread().name)

    store.client.meta.events.register("before-parameter-build.s3.*", sent)
    pairs = [("demo", "agent-001"), ("demo", "agent-002")]
    plans, failed = plan_runs(store, pairs, Policies(store), unattended=True)
    assert not failed and all(p.delete for p in plans)
    run_folders = [p for p in listed if p.endswith(("/agent-001/", "/agent-002/"))]
    assert sorted(run_folders) == sorted(set(run_folders)) and len(run_folders) == 2
    seen: list[int] = []
    outcome = execute_plans(store, plans, lambda plan, done, total, item: seen.append(done))
    total = sum(len(p.delete) for p in plans)
    assert outcome.ok and outcome.deleted == total and seen == list(range(1, total + 1))
    assert store.plans_side_by_side > 1 and len(threads) == 2  # each run's marker from its own thread
    for plan in plans:
        kept = {c.step for c in store.load_run("demo", plan.run).checkpoints}
        assert kept == {c.step for c in plan.keep}
