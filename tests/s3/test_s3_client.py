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
