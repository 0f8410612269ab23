"""The backend contract: what a backend must implement, what the base derives from it, the
capability flags, the listing cache, the error tables, and the registry of stores by scheme."""

from __future__ import annotations

import errno
import os
import re
import shutil

import pytest
from memory_location import MemoryLocation

import ckpt_tui.stores as stores
from ckpt_tui.core import Refused, StoreError, fork_checkpoint
from ckpt_tui.core.errors import NotFound, NotRead, Unreadable
from ckpt_tui.stores import open_store
from ckpt_tui.stores.backends.base import (CAPABILITIES, Backend, ErrorTable, Exists, FileInfo, ListingCache,
                                           Missing)
from ckpt_tui.stores.backends.local import LocalBackend
from ckpt_tui.stores.backends.memory import MemoryBackend
from ckpt_tui.stores.local import LocalStore
from ckpt_tui.stores.memory import MemoryStore


def memory() -> MemoryBackend:
    return MemoryLocation.fresh().store().backend


# -- what a backend implements ----------------------------------------------------------------
def test_a_backend_implements_about_a_dozen_primitives():
    assert len(Backend.__abstractmethods__) <= 13
    assert {"list_dir", "walk", "open", "write", "delete_files", "put_stream"} <= Backend.__abstractmethods__


def test_the_memory_backend_overrides_nothing_the_base_derives():
    derived = {name for name, value in vars(Backend).items()
               if callable(value) and not name.startswith("_") and name not in Backend.__abstractmethods__}
    exclusive = {CAPABILITIES[flag] for flag in CAPABILITIES if getattr(MemoryBackend, flag)}
    below_the_base = MemoryBackend.__mro__[:MemoryBackend.__mro__.index(Backend)]
    overridden = {name for name in derived for cls in below_the_base if name in vars(cls)}
    assert overridden == exclusive == {"create_new"}


@pytest.mark.parametrize("flag", sorted(CAPABILITIES))
def test_a_capability_without_its_method_is_refused_when_the_class_is_made(flag):
    with pytest.raises(TypeError, match=f"sets {flag} but does not define {CAPABILITIES[flag]}"):
        type("Half", (MemoryBackend,), {flag: True, CAPABILITIES[flag]: getattr(Backend, CAPABILITIES[flag])})


def test_real_folders_need_their_own_folder_operations():
    with pytest.raises(TypeError, match="make_dirs"):
        type("Disk", (MemoryBackend,), {"implicit_folders": False})


def test_callers_are_told_by_flags_not_by_refusals(tmp_path):
    assert (LocalBackend.can_rename, MemoryBackend.can_rename) == (True, False)
    assert LocalBackend(tmp_path).free_space("").free > 0 and LocalBackend.reports_free_space
    space = LocalBackend(tmp_path).free_space("not/yet/made")  # the nearest folder that exists
    assert space.free > 0 and space.total == shutil.disk_usage(tmp_path).total
    assert not MemoryBackend.reports_free_space and not MemoryBackend.can_copy_server_side
    with pytest.raises(NotImplementedError):
        memory().rename("a", "b")
    # The tree store claims by renames where it can, by markers where it cannot.
    assert type(LocalStore(tmp_path).claims).__name__ == "RenameClaims"
    assert type(MemoryStore("m-claims").claims).__name__ == "MarkerClaims"


def test_bucket_naming_is_shared_by_object_stores():
    backend = MemoryBackend("lab", "team/art")
    assert (backend.root_name, backend.outer_name, backend.url("p/r", folder=True)) == (
        "art", "team", "memory://lab/team/art/p/r/")
    assert (backend.parent().prefix, backend.parent().parent().prefix) == ("team/", "")
    assert (backend.parent().parent().root_name, backend.parent().parent().outer_name) == ("lab", "memory")
    with pytest.raises(Refused, match="memory://lab has no folder above it"):
        backend.parent().parent().parent()
    with pytest.raises(Refused, match=r"no NAME in 'memory:///x'"):
        open_store("memory:///x")


# -- what the base derives ----------------------------------------------------------------------
def test_reading_is_derived_from_open():
    backend = memory()
    backend.write("a/b.json", b"0123456789")
    assert backend.read_file("a/b.json") == b"0123456789" and backend.read_file("a/none") is None
    with pytest.raises(NotRead, match="larger than 4 bytes"):
        backend.read_file("a/b.json", limit=4)
    assert backend.read_bytes("a/b.json", limit=4) is None
    assert list(backend.read_lines("a/b.json")) == [b"0123456789"]


def test_tree_deletion_is_derived_from_walk_and_delete_files():
    backend = memory()
    for path in ("run/0001/a", "run/0001/deep/b", "run/0002/a", "run/00010/a"):
        backend.write(path, b"x")
    backend.delete_tree("run/0001")
    assert sorted(f.path for f in backend.walk("run")) == ["00010/a", "0002/a"]
    backend.delete_tree("run/0002/a")  # a single file
    assert sorted(f.path for f in backend.walk("run")) == ["00010/a"]


def test_a_tree_deletion_that_fails_says_where():
    backend = memory()
    backend.write("s/a", b"x")
    backend.delete_files = lambda paths: {paths[0]: "denied"}
    with pytest.raises(StoreError, match=r"cannot delete memory://.*/s/a: denied"):
        backend.delete_tree("s")


def test_copies_downloads_and_uploads_are_derived_from_open_and_put_stream(tmp_path):
    backend = memory()
    backend.write("src/w.bin", b"w" * 3000)
    counted: list[int] = []
    backend.copy_file("src/w.bin", "dst/w.bin", counted.append)
    assert backend.read_file("dst/w.bin") == b"w" * 3000 and sum(counted) == 3000
    backend.get_file("src/w.bin", str(tmp_path / "down" / "w.bin"))
    assert (tmp_path / "down" / "w.bin").read_bytes() == b"w" * 3000
    (tmp_path / "up.bin").write_bytes(b"up")
    backend.put_file(str(tmp_path / "up.bin"), "up/up.bin")
    assert backend.read_file("up/up.bin") == b"up"
    with pytest.raises(StoreError, match="cannot read"):
        backend.put_file(str(tmp_path / "missing"), "up/missing")


def test_copies_across_backends_stream_between_them(tmp_path):
    disk, mem = LocalBackend(tmp_path), memory()
    mem.write("a/w.bin", b"from memory")
    assert not disk.can_copy_from(mem) and not mem.can_copy_from(disk) and not mem.can_copy_from(memory())
    disk.copy_from(mem, "a/w.bin", "b/w.bin")
    assert (tmp_path / "b" / "w.bin").read_bytes() == b"from memory"
    mem.copy_from(disk, "b/w.bin", "c/w.bin")
    assert mem.read_file("c/w.bin") == b"from memory"


def test_a_fork_between_a_disk_and_memory_goes_both_ways(art_base, tmp_path):
    location = MemoryLocation.fresh()
    to_memory = fork_checkpoint(LocalStore(art_base), "demo", "agent-001", "agent-m", step=4,
                                to_store=location.store())
    assert to_memory.location == f"{location.url}/demo/models/agent-m/checkpoints/0004/"
    expected = {p.name: p.read_bytes() for p in (art_base / "demo/models/agent-001/checkpoints/0004").iterdir()}
    step = "demo/models/agent-m/checkpoints/0004/"
    assert {k.removeprefix(step) for k in location.keys(step)} == set(expected)
    back = tmp_path / "back"
    back.mkdir()
    fork_checkpoint(location.store(), "demo", "agent-m", "agent-d", step=4, to_store=LocalStore(back))
    copied = back / "demo/models/agent-d/checkpoints/0004"
    assert {p.name: p.read_bytes() for p in copied.iterdir()} == expected


def test_create_new_without_an_exclusive_write_checks_and_reads_back():
    class Racy(MemoryBackend):
        has_exclusive_create = False
        create_new = Backend.create_new

    backend = Racy("m-racy")
    assert backend.create_new("marker", b"mine") and not backend.create_new("marker", b"again")
    real_write = backend.write

    def another_writer_lands_just_after(path: str, data: bytes) -> None:
        real_write(path, data)
        real_write(path, b"theirs")

    backend.write = another_writer_lands_just_after
    assert not backend.create_new("other", b"mine")


# -- listings and their cache ---------------------------------------------------------------------
def infos(*paths: str) -> list[FileInfo]:
    return [FileInfo(p, 1, 0.0) for p in paths]


def test_a_kept_listing_serves_one_deletion_then_is_forgotten():
    backend = memory()
    backend.write("c/0001/a", b"x")
    backend.remember("c", infos("0001/a", "0002/a"))  # as a load of the folder listed it
    assert set(backend.listing("c", keep=True)) == {"0001", "0002"}
    assert set(backend.listing("c", fresh=True)) == {"0001"}
    assert set(backend.listing("c")) == {"0001", "0002"}  # taken for the deletion...
    assert set(backend.listing("c")) == {"0001"}  # ...and gone: the next one lists again


def test_listings_group_by_entry_and_a_listing_of_some_names_holds_those_only():
    backend = memory()
    for path in ("c/0001/a", "c/0001/b/c", "c/00010/a", "c/single.ckpt", "c/0002/a"):
        backend.write(path, b"x")
    groups = backend.listing("c")
    assert {n: sorted(f.path for f in fs) for n, fs in groups.items()} == {
        "0001": ["a", "b/c"], "00010": ["a"], "single.ckpt": [""], "0002": ["a"]}
    assert {n: sorted(f.path for f in fs) for n, fs in backend.listing_of("c", ["0001", "single.ckpt", "9"]).items()} \
        == {"0001": ["a", "b/c"], "single.ckpt": [""]}


def test_the_listing_cache_is_bounded_expires_and_forgets_below_deleted_paths():
    now = [0.0]
    cache = ListingCache(max_files=3, expiry=10, clock=lambda: now[0])
    cache.put("a", infos("1", "2"))
    cache.put("b", infos("1"))
    cache.put("c", infos("1", "2"))  # over three files: the oldest listing goes
    assert "a" not in cache and "b" in cache and "c" in cache
    cache.put("huge", infos("1", "2", "3", "4"))  # larger than the whole cache: never kept
    assert "huge" not in cache and "c" in cache
    now[0] = 11
    assert cache.get("b") is None  # expired
    cache.put("x/y", infos("1"))
    cache.put("x/z", infos("1"))
    cache.forget("x/y/0001")
    assert "x/y" not in cache and "x/z" in cache
    cache.put("x", infos("1"))
    cache.forget("x/z")  # a listing of a folder above what went goes too
    assert "x" not in cache


def test_a_tree_deletion_forgets_the_listings_that_showed_it():
    backend = memory()
    backend.remember("run", infos("0001/a"))
    backend.write("run/0001/a", b"x")
    backend.delete_tree("run/0001")
    assert backend.listing("run", keep=True) == {}


# -- the registry of stores by scheme -------------------------------------------------------------
def test_every_scheme_is_opened_through_the_registry(tmp_path, monkeypatch):
    assert {"file", "s3", "wandb", "memory", "gs", "az", "abfs"} <= set(stores.schemes())
    assert isinstance(open_store(str(tmp_path)), LocalStore) and isinstance(open_store(f"file://{tmp_path}"), LocalStore)
    store = open_store("memory://reg/base/")
    assert isinstance(store, MemoryStore) and store.location == "memory://reg/base"
    monkeypatch.setitem(stores.known_stores, "mem2", "ckpt_tui.stores.memory.MemoryStore")
    with pytest.raises(Refused, match="not a memory:// location"):  # the registry's entry, not an if-chain
        open_store("mem2://x")


def test_an_unknown_scheme_lists_the_registered_ones(monkeypatch):
    monkeypatch.setitem(stores.known_stores, "zz", "nowhere.ZZStore")
    with pytest.raises(Refused) as refused:
        open_store("ftp://host/x")
    assert "unknown location 'ftp://host/x'" in str(refused.value)
    for scheme in stores.known_stores:
        assert f"{scheme}://" in str(refused.value)


def test_a_store_whose_module_is_missing_names_the_extra(monkeypatch):
    monkeypatch.setitem(stores.known_stores, "gs", "ckpt_tui.stores.no_such_module.GCSStore")
    with pytest.raises(StoreError, match=r"gs:// locations are not supported by this installation: "
                                         r"pip install 'ckpt-tui\[gcs\]'"):
        open_store("gs://bucket/prefix")


def test_a_store_whose_sdk_is_missing_names_the_package_and_the_extra(monkeypatch, tmp_path):
    (tmp_path / "fake_azure_store.py").write_text(
        "class AzureStore:\n"
        "    @classmethod\n"
        "    def from_url(cls, url, **options):\n"
        "        import azure_sdk_that_is_not_installed  # noqa: F401\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(stores.known_stores, "az", "fake_azure_store.AzureStore")
    with pytest.raises(StoreError, match=r"az:// locations need the azure_sdk_that_is_not_installed package: "
                                         r"pip install 'ckpt-tui\[azure\]'"):
        open_store("az://container/prefix")


def test_a_broken_module_of_ours_is_not_mistaken_for_a_missing_extra(monkeypatch, tmp_path):
    (tmp_path / "fake_gcs_store.py").write_text("import ckpt_tui.stores.backends.no_such_backend  # noqa: F401\n"
                                                "GCSStore = None\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(stores.known_stores, "gs", "fake_gcs_store.GCSStore")
    with pytest.raises(ImportError, match="no_such_backend"):
        open_store("gs://bucket")


# -- error tables ------------------------------------------------------------------------------------
def client_error(code: str, status: int, message: str = "said the server"):
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject")


def s3_backend():
    from ckpt_tui.stores.backends.s3 import S3Backend

    class Client:  # no request is made: only the table is read
        class meta:
            endpoint_url = "http://127.0.0.1:9"

    return S3Backend("bucket", "base", Client())


@pytest.mark.parametrize(("error", "kind", "message"), [
    (lambda: client_error("NoSuchKey", 404), Missing, "cannot read x: NoSuchKey: said the server"),
    (lambda: client_error("404", 404, ""), Missing, "cannot read x: 404"),
    (lambda: client_error("NoSuchBucket", 404), NotFound, "no bucket 'bucket' at http://127.0.0.1:9"),
    (lambda: client_error("PreconditionFailed", 412), Exists, "cannot read x: PreconditionFailed"),
    (lambda: client_error("AccessDenied", 403), Unreadable, "access denied: cannot read x"),
    (lambda: client_error("Forbidden", 403), Unreadable, "access denied: cannot read x"),
    (lambda: client_error("SignatureDoesNotMatch", 403), StoreError, "rejected the AWS credentials (SignatureDoesNotMatch)"),
    (lambda: client_error("SlowDown", 503), StoreError, "cannot read x: SlowDown: said the server"),
    (lambda: __import__("botocore.exceptions").exceptions.NoCredentialsError(), StoreError, "no AWS credentials found"),
    (lambda: __import__("botocore.exceptions").exceptions.EndpointConnectionError(endpoint_url="http://x"),
     StoreError, "cannot reach the S3 endpoint http://127.0.0.1:9"),
])
def test_s3_errors_are_translated_by_one_table(error, kind, message):
    backend = s3_backend()
    with pytest.raises(kind, match=re.escape(message)) as raised:
        with backend.errors("cannot read x"):
            raise error()
    assert type(raised.value) is kind  # NoSuchBucket is no Missing: a read of it is an error, not an absence


def test_what_a_table_does_not_catch_goes_through_untouched():
    backend = s3_backend()
    with pytest.raises(ValueError):
        with backend.errors("cannot read x"):
            raise ValueError("a bug")
    with pytest.raises(Refused, match="ours"):
        with backend.errors("cannot read x"):
            raise Refused("ours")


@pytest.mark.parametrize(("error", "kind"), [
    (PermissionError(errno.EACCES, "denied"), Unreadable),
    (PermissionError(errno.EPERM, "denied"), Unreadable),
    (FileExistsError(errno.EEXIST, "exists"), Exists),
    (OSError(errno.ENOTEMPTY, "not empty"), Exists),
    (OSError(errno.ENOSPC, "full"), StoreError),
])
def test_disk_errors_are_translated_by_one_table(tmp_path, error, kind):
    with pytest.raises(kind, match=f"cannot write y: {re.escape(os.strerror(error.errno))}") as raised:
        with LocalBackend(tmp_path).errors("cannot write y"):
            raise error
    assert type(raised.value) is kind


def test_a_new_provider_table_maps_codes_then_classes_by_name():
    class TooManyRequests(Exception):
        code = 429

    class BlobNotFound(Exception):
        code = "BlobNotFound"

    table = ErrorTable(catches=("Exception",), codes={"BlobNotFound": Missing},
                       exceptions={"TooManyRequests": lambda backend, what, detail: StoreError(f"{what}: slow down")},
                       describe=lambda exc: ((getattr(exc, "code", None),), "provider says no"))
    assert isinstance(table.translate(BlobNotFound(), "cannot read z"), Missing)
    assert str(table.translate(TooManyRequests(), "cannot read z")) == "cannot read z: slow down"
    assert str(table.translate(KeyError(), "cannot read z")) == "cannot read z: provider says no"
