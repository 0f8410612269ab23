"""S3: a step's objects are those under ``{step}/`` and nothing else; its folder marker goes with it."""

from __future__ import annotations

import pytest
from s3_servers import upload_tree

from ckpt_tui.cli import main

pytestmark = pytest.mark.usefixtures("no_terminal")

RUN = "lora-adapter"


@pytest.fixture
def hf_bucket(s3_location, hf_fixture):
    upload_tree(s3_location.client, s3_location.bucket, s3_location.prefix, hf_fixture)
    return s3_location


def prune(capsys, location, *args: str) -> int:
    code = main(["prune", location.url, "--endpoint-url", location.endpoint, "-r", RUN, "--keep", "latest",
                 "--metric", "none", "--yes", *args])
    capsys.readouterr()
    return code


def test_an_object_named_like_a_step_is_not_deleted_with_it(capsys, hf_bucket):
    hf_bucket.put(f"{RUN}/checkpoint-15", b"not part of step 15")
    assert prune(capsys, hf_bucket) == 0
    left = hf_bucket.keys(f"{RUN}/")
    assert f"{RUN}/checkpoint-15" in left  # the bare object
    assert not any(k.startswith(f"{RUN}/checkpoint-15/") for k in left)  # the step's objects
    assert {k.split("/")[1] for k in left if "/" in k.removeprefix(f"{RUN}/")} == {"checkpoint-10", "checkpoint-30"}


def test_a_folder_marker_goes_with_its_step(capsys, hf_bucket):
    hf_bucket.put(f"{RUN}/checkpoint-20/")  # what some consoles and tools write for a folder
    hf_bucket.put(f"{RUN}/checkpoint-30/")  # a kept step keeps its marker
    assert prune(capsys, hf_bucket) == 0
    left = hf_bucket.keys(f"{RUN}/")
    assert not any(k.startswith(f"{RUN}/checkpoint-20") for k in left), sorted(left)
    assert f"{RUN}/checkpoint-30/" in left and f"{RUN}/checkpoint-30/trainer_state.json" in left
    stores = hf_bucket.store()
    assert [c.step for c in stores.load_run(stores.list_projects()[0], RUN).checkpoints] == [10, 30]


def test_no_emptied_step_folder_is_left_behind(capsys, hf_bucket):
    # SeaweedFS shows a folder whose objects are all gone until the folder itself is deleted: a
    # later listing by folder would take the deleted steps for empty ones.
    from ckpt_tui.stores.backends.base import Kind

    assert prune(capsys, hf_bucket) == 0
    backend = hf_bucket.store().backend
    assert {e.name for e in backend.list_dir(RUN) if e.kind is Kind.DIR} == {"checkpoint-10", "checkpoint-30"}
