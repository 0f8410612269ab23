"""The S3 client's quicker model loader reads what botocore's own loader reads."""

from __future__ import annotations

import pytest

pytest.importorskip("botocore")

from botocore.exceptions import UnknownServiceError  # noqa: E402
from botocore.loaders import Loader  # noqa: E402
from botocore.session import Session  # noqa: E402

from ckpt_tui.stores.backends.s3 import _fast_loader  # noqa: E402


@pytest.mark.parametrize("name", ["endpoints", "sdk-default-configuration", "partitions"])
def test_data_files_match_botocore(name):
    assert _fast_loader(None).load_data(name) == Loader().load_data(name)


@pytest.mark.parametrize("type_name", ["service-2", "paginators-1", "endpoint-rule-set-1"])
def test_s3_models_match_botocore(type_name):
    assert _fast_loader(None).load_service_model("s3", type_name) == Loader().load_service_model("s3", type_name)


def test_services_are_known_without_listing_them_all():
    services = _fast_loader(None).list_available_services("service-2")
    assert "s3" in services and "sts" in services
    assert "no-such-service" not in services


def test_an_unknown_service_is_still_refused_by_name():
    session = Session()
    session.register_component("data_loader", _fast_loader(None))
    with pytest.raises(UnknownServiceError, match="no-such-service"):
        session.create_client("no-such-service", region_name="us-east-1")


@pytest.mark.parametrize("discovered", ["a moment ago", "long ago"])
def test_policy_files_at_every_level_are_read_side_by_side_nearest_first(s3_endpoint, art_base, discovered,
                                                                         monkeypatch):
    """One listing per folder from the run up to the bucket, all sent together; the folders
    of the location that its discovery listed a moment ago are not listed again."""
    from s3_servers import Location, new_bucket, upload_tree

    from ckpt_tui.core.policy import POLICY_FILE
    from ckpt_tui.stores import tree

    # A bucket of its own: a policy file at a shared bucket's root would reach every other test's runs.
    art_bucket = Location.fresh(s3_endpoint, new_bucket(s3_endpoint))
    upload_tree(art_bucket.client, art_bucket.bucket, art_bucket.prefix, art_base)
    art_bucket.put(f"demo/models/agent-001/{POLICY_FILE}", b"# the run's\n")
    art_bucket.put(POLICY_FILE, b"# the location's\n")
    art_bucket.client.put_object(Bucket=art_bucket.bucket, Key=POLICY_FILE, Body=b"# the bucket's\n")
    store = art_bucket.store()
    store.load_run("demo", "agent-001")  # discovery, and the run's own folder settled
    if discovered == "long ago":
        monkeypatch.setattr(tree, "RECENT_SECONDS", 0.0)
    listed: list[str] = []
    threads: set[str] = set()
    listing = type(store.backend).list_dir

    def counting(backend, path):
        import threading

        listed.append(backend.folder_key(path))
        threads.add(threading.current_thread().name)
        return listing(backend, path)

    store.backend.list_dir = lambda path: counting(store.backend, path)  # the location's own folders
    places = store.policy_places("demo", "agent-001")
    prefix = art_bucket.prefix
    assert [p.path for p in places] == [
        f"s3://{art_bucket.bucket}/{prefix}{folder}{POLICY_FILE}"
        for folder in ("demo/models/agent-001/", "demo/models/", "demo/", "")] + [
        f"s3://{art_bucket.bucket}/{above}{POLICY_FILE}" for above in _folders_above(prefix)]
    texts = {p.path: p.text for p in places if p.text is not None}
    assert texts == {places[0].path: b"# the run's\n", places[3].path: b"# the location's\n",
                     places[-1].path: b"# the bucket's\n"}
    assert [p.inside for p in places] == [True] * 4 + [False] * (len(places) - 4)
    if discovered == "a moment ago":
        assert listed == []
        return
    assert sorted(listed) == sorted(f"{prefix}{f}" for f in ("demo/models/agent-001/", "demo/models/", "demo/", ""))
    assert len(threads) > 1  # side by side, in the backend's workers


def _folders_above(prefix: str) -> list[str]:
    parts = prefix.rstrip("/").split("/")
    return [("/".join(parts[:depth]) + "/") if depth else "" for depth in range(len(parts) - 1, -1, -1)]

