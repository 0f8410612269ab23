"""Forks into, out of and within S3: server-side copies, multipart copies, S3 <-> local."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ckpt_tui.core import AlreadyExists, fork_checkpoint
from ckpt_tui.stores.claims import FORK_MARKER
from ckpt_tui.stores.local import LocalStore
from ckpt_tui.stores.s3 import S3Store

from s3_servers import Location

STEP_FILES = {"adapter_model.safetensors", "adapter_config.json"}


def record_operations(store: S3Store) -> list[tuple[str, str]]:
    """(operation, key) of every request the store's client sends from now on."""
    sent: list[tuple[str, str]] = []
    store.client.meta.events.register(
        "before-parameter-build.s3.*",
        lambda model, params, **_: sent.append((model.name, params.get("Key", ""))))
    return sent


def data_through_client(sent: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Requests that carry checkpoint bytes to or from the client (markers are empty)."""
    return [(op, key) for op, key in sent if op in ("GetObject", "PutObject", "UploadPart")
            and "/checkpoints/" in key and not key.endswith(FORK_MARKER)]


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def object_bytes(location: Location, key: str) -> bytes:
    return location.client.get_object(Bucket=location.bucket, Key=location.prefix + key)["Body"].read()


def test_fork_copies_one_step_server_side(art_bucket):
    store = art_bucket.store()
    sent = record_operations(store)
    result = fork_checkpoint(store, "demo", "agent-001", "agent-001-b", step=4, with_history=True)
    want_records = [r for r in LocalStore(art_bucket.local).read_history("demo", "agent-001") if r["step"] <= 4]
    assert (result.step, result.history_records) == (4, len(want_records))
    assert store.read_history("demo", "agent-001-b") == want_records
    new = "demo/models/agent-001-b/"
    assert art_bucket.keys(new) == {new + "history.jsonl"} | {f"{new}checkpoints/0004/{f}" for f in STEP_FILES}
    for name in STEP_FILES:
        source = (art_bucket.local / "demo/models/agent-001/checkpoints/0004" / name).read_bytes()
        assert object_bytes(art_bucket, f"{new}checkpoints/0004/{name}") == source
    assert {op for op, _ in sent} >= {"CopyObject"}
    assert data_through_client(sent) == []
    run = store.load_run("demo", "agent-001-b")
    assert [c.step for c in run.checkpoints] == [4] and run.pending == []
    assert sorted(run.metrics.by_step) == [0, 1, 2, 3, 4]
    assert result.location == run.checkpoints[0].location
    with pytest.raises(AlreadyExists):
        fork_checkpoint(store, "demo", "agent-001", "agent-001-b", step=4)
    assert len(store.load_run("demo", "agent-001").checkpoints) == 12


def test_large_objects_are_copied_in_parts(moto_art_bucket):
    location = moto_art_bucket
    payload = bytes(range(256)) * (44 * 1024)  # 11 MiB: three parts of at most 5 MiB
    location.put("demo/models/big/checkpoints/0007/model.safetensors", payload)
    location.put("demo/models/big/checkpoints/0007/config.json", b"{}")
    store = location.store()
    store.backend.multipart_threshold = store.backend.part_size = 5 * 1024 * 1024
    sent = record_operations(store)
    seen: list[tuple[int, int]] = []
    fork_checkpoint(store, "demo", "big", "big-copy", step=7, progress=lambda d, t: seen.append((d, t)))
    assert store.load_run("demo", "big-copy").checkpoint(7).bytes == len(payload) + 2
    ops = [op for op, _ in sent]
    assert ops.count("UploadPartCopy") == 3 and "CopyObject" in ops
    assert data_through_client(sent) == []
    copied = object_bytes(location, "demo/models/big-copy/checkpoints/0007/model.safetensors")
    assert digest(copied) == digest(payload)
    head = location.client.head_object(Bucket=location.bucket,
                                       Key=location.prefix + "demo/models/big-copy/checkpoints/0007/model.safetensors")
    assert head["ETag"].strip('"').endswith("-3")
    assert seen[-1] == (len(payload) + 2, len(payload) + 2)


def test_a_fork_copies_what_it_listed_without_asking_each_object_again(art_bucket):
    store = art_bucket.store()
    sent = record_operations(store)
    seen: list[tuple[int, int]] = []
    result = fork_checkpoint(store, "demo", "agent-001", "agent-001-c", step=4,
                             progress=lambda done, total: seen.append((done, total)))
    assert [op for op, key in sent if op == "CopyObject"] and not [
        key for op, key in sent if op == "HeadObject" and "/agent-001/" in key]
    # One CopyObject each, sent directly: no transfer manager (its threads and queues) is made.
    assert store.backend._managers == {}
    assert seen[-1] == (result.bytes, result.bytes)
    assert art_bucket.keys("demo/models/agent-001-c/") == {
        f"demo/models/agent-001-c/checkpoints/0004/{f}" for f in STEP_FILES}


def test_a_copy_in_parts_asks_the_size_and_etag_afresh(moto_art_bucket):
    """A listing's size would fix the parts' ranges: a copy in parts learns both from a HeadObject."""
    location = moto_art_bucket
    key = "demo/models/big/checkpoints/0007/model.safetensors"
    location.put(key, b"a" * (6 * 1024 * 1024))
    store = location.store()
    backend = store.backend
    backend.multipart_threshold = backend.part_size = 5 * 1024 * 1024
    assert [f.path for f in backend.walk("demo/models/big/checkpoints/0007")] == ["model.safetensors"]
    location.put(key, b"b" * (11 * 1024 * 1024))  # rewritten, larger, since the listing
    sent = record_operations(store)
    backend.copy_from(backend, key, "demo/models/big-copy/model.safetensors")
    assert ("HeadObject", location.prefix + key) in sent
    assert object_bytes(location, "demo/models/big-copy/model.safetensors") == b"b" * (11 * 1024 * 1024)


def test_fork_into_another_bucket_on_the_same_endpoint(art_bucket, create_bucket):
    source = art_bucket.store()
    other = Location.fresh(art_bucket.endpoint, create_bucket(art_bucket.endpoint))
    target = other.store()
    assert source.can_copy_to(target)
    sent = record_operations(source)
    result = fork_checkpoint(source, "demo", "agent-002", "agent-002", step=3, to_store=target)
    assert result.location == f"{other.url}/demo/models/agent-002/checkpoints/0003/"
    assert other.keys() == {f"demo/models/agent-002/checkpoints/0003/{f}" for f in STEP_FILES}
    assert data_through_client(sent) == []
    # Through the core, across stores, the result is the same whichever path it takes.
    fork_checkpoint(source, "demo", "agent-001", "agent-001", step=11, to_store=target)
    assert [c.step for c in target.load_run("demo", "agent-001").checkpoints] == [11]
    with pytest.raises(AlreadyExists):
        fork_checkpoint(source, "demo", "agent-001", "agent-001", step=11, to_store=target)


def test_fork_from_s3_to_a_local_art_base_downloads_only_that_step(art_bucket, tmp_path: Path):
    source = art_bucket.store()
    local = LocalStore(tmp_path / ".art")
    sent = record_operations(source)
    result = fork_checkpoint(source, "demo", "agent-001", "agent-007", step=10, with_history=True,
                             to_store=local)
    step_dir = tmp_path / ".art/demo/models/agent-007/checkpoints/0010"
    assert result.location == str(step_dir)
    for name in STEP_FILES:
        want = (art_bucket.local / "demo/models/agent-001/checkpoints/0010" / name).read_bytes()
        assert (step_dir / name).read_bytes() == want
    fetched = {key for op, key in sent if op in ("GetObject", "HeadObject")}
    root = f"{art_bucket.prefix}demo/models/agent-001/"
    assert fetched == {root + "history.jsonl"} | {f"{root}checkpoints/0010/{f}" for f in STEP_FILES}
    run = local.load_run("demo", "agent-007")
    assert [c.step for c in run.checkpoints] == [10] and max(run.metrics.by_step) == 10


def test_fork_from_local_to_s3_pushes_one_step(art_bucket, art_base: Path):
    local = LocalStore(art_base)
    target = art_bucket.store()
    result = fork_checkpoint(local, "demo", "agent-legacy", "agent-pushed", step=2, to_store=target)
    assert result.location == f"{art_bucket.url}/demo/models/agent-pushed/checkpoints/0002/"
    keys = art_bucket.keys("demo/models/agent-pushed/")
    assert keys == {f"demo/models/agent-pushed/checkpoints/0002/{f}" for f in STEP_FILES}
    for name in STEP_FILES:
        want = (art_base / "demo/models/agent-legacy/0002" / name).read_bytes()
        assert object_bytes(art_bucket, f"demo/models/agent-pushed/checkpoints/0002/{name}") == want
    with pytest.raises(AlreadyExists):
        fork_checkpoint(local, "demo", "agent-legacy", "agent-pushed", step=2, to_store=target)


def test_a_fork_never_joins_an_existing_run(moto_art_bucket):
    store = moto_art_bucket.store()
    before = moto_art_bucket.keys("demo/models/agent-002/")
    with pytest.raises(AlreadyExists, match="a fork creates a new run"):
        fork_checkpoint(store, "demo", "agent-001", "agent-002", step=9)
    assert moto_art_bucket.keys("demo/models/agent-002/") == before


def test_a_fork_lists_each_folder_once(art_bucket):
    """The location's discovery serves both the source run and the new run's name, and the
    source run's one listing serves finishing its interrupted work, loading it and the copies."""
    store = art_bucket.store()
    listed: list[str] = []
    store.client.meta.events.register("before-parameter-build.s3.ListObjectsV2",
                                      lambda params, **_: listed.append(params["Prefix"]))
    fork_checkpoint(store, "demo", "agent-001", "agent-001-d", step=4)
    assert len(listed) == len(set(listed)), sorted(listed)
    assert not [p for p in listed if p.endswith("/agent-001/checkpoints/0004/")]
    assert art_bucket.keys("demo/models/agent-001-d/") == {
        f"demo/models/agent-001-d/checkpoints/0004/{f}" for f in STEP_FILES}


def test_a_fork_into_a_name_found_since_an_older_discovery_is_refused(moto_art_bucket, monkeypatch):
    from ckpt_tui.stores import tree

    store = moto_art_bucket.store()
    store.list_projects()
    moto_art_bucket.put("demo/agent-new/checkpoint-5/trainer_state.json", b'{"global_step": 5}')
    moto_art_bucket.put("demo/agent-new/checkpoint-5/model.safetensors", b"weights")
    monkeypatch.setattr(tree, "RECENT_SECONDS", 0.0)  # the last discovery is now too old
    with pytest.raises(AlreadyExists):
        fork_checkpoint(store, "demo", "agent-001", "agent-new", step=4)
    assert not moto_art_bucket.keys("demo/models/agent-new/")


def test_a_fork_sends_a_fixed_set_of_requests(art_bucket):
    """A fork of a step of two objects: the location's discovery (three delimited listings),
    the source run's folder and its checkpoint folder, the marker written only if absent, the
    new run's folder listed once the marker is there, one CopyObject per object and the marker's
    removal. The new run's name is checked against the discovery's listing of its folder: it is
    not read again before the marker."""
    store = art_bucket.store()
    sent = record_operations(store)
    fork_checkpoint(store, "demo", "agent-001", "agent-001-e", step=4)
    counts: dict[str, int] = {}
    for op, _ in sent:
        counts[op] = counts.get(op, 0) + 1
    assert counts == {"ListObjectsV2": 6, "PutObject": 1, "CopyObject": len(STEP_FILES), "DeleteObjects": 1}
    assert art_bucket.keys("demo/models/agent-001-e/") == {
        f"demo/models/agent-001-e/checkpoints/0004/{f}" for f in STEP_FILES}


def test_a_fork_into_a_name_an_object_holds_is_refused(moto_art_bucket):
    """An object named like the new run's folder is no run, but the discovery's listing shows
    it: the name is read again, and refused."""
    moto_art_bucket.put("demo/models/agent-009", b"notes")
    store = moto_art_bucket.store()
    with pytest.raises(AlreadyExists, match="exists; nothing copied"):
        fork_checkpoint(store, "demo", "agent-001", "agent-009", step=4)
    assert moto_art_bucket.keys("demo/models/agent-009") == {"demo/models/agent-009"}


@pytest.mark.parametrize("written", ["checkpoints/0004/adapter_config.json", "history.jsonl"])
def test_a_run_started_since_the_discovery_is_never_written_into(art_bucket, monkeypatch, written):
    """A trainer starts the run the fork was going to create after the discovery that showed
    its name free: the fork's marker guards the name against forks only, so the run's folder is
    read once the marker is written, and the fork refused before any copy."""
    from ckpt_tui.stores import tree

    monkeypatch.setattr(tree, "RECENT_SECONDS", 600.0)  # the discovery stays recent, however loaded the machine
    store = art_bucket.store()
    store.list_projects()
    key = f"demo/models/agent-new/{written}"
    art_bucket.put(key, b"the trainer's")
    with pytest.raises(AlreadyExists, match="exists; nothing copied"):
        fork_checkpoint(store, "demo", "agent-001", "agent-new", step=4, with_history=True)
    assert art_bucket.keys("demo/models/agent-new/") == {key}
    assert object_bytes(art_bucket, key) == b"the trainer's"


def test_a_history_written_while_the_fork_copies_is_not_replaced(art_bucket, monkeypatch):
    """A trainer writes the new run's history.jsonl while the fork copies its step: the fork's
    history, written last and only if absent, is refused, and what the fork copied goes."""
    store = art_bucket.store()
    key = "demo/models/agent-new/history.jsonl"
    copy_from = type(store.backend).copy_from

    def copy_while_a_trainer_writes(backend, *args, **kwargs):
        art_bucket.put(key, b'{"step": 1}\n')
        return copy_from(backend, *args, **kwargs)

    monkeypatch.setattr(type(store.backend), "copy_from", copy_while_a_trainer_writes)
    with pytest.raises(AlreadyExists, match="exists; nothing copied"):
        fork_checkpoint(store, "demo", "agent-001", "agent-new", step=4, with_history=True)
    assert art_bucket.keys("demo/models/agent-new/") == {key}
    assert object_bytes(art_bucket, key) == b'{"step": 1}\n'
