"""S3: a step's objects are those under ``{step}/`` and nothing else; its folder marker goes with it."""

from __future__ import annotations

import json

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


def test_a_prune_deletes_the_objects_it_listed_and_no_folder_key_nobody_wrote(capsys, hf_bucket):
    # SeaweedFS deletes a folder for a ``{step}/`` key, about twice the work of an object's
    # deletion: the batches name the steps' objects, and a folder marker only where one was written.
    hf_bucket.put(f"{RUN}/checkpoint-20/")
    before = hf_bucket.keys(f"{RUN}/")
    sent: list[str] = []

    def deleting(model, params, **_):
        if model.name == "DeleteObjects":
            sent.extend(o["Key"] for o in params["Delete"]["Objects"])

    from ckpt_tui.stores.backends import s3

    make = s3.open_client

    def counted(*args, **kwargs):
        client = make(*args, **kwargs)
        client.meta.events.register("before-call.s3", deleting)
        return client

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(s3, "open_client", counted)
        assert prune(capsys, hf_bucket) == 0
    deleted = {k for k in before if k.split("/")[1] not in ("checkpoint-10", "checkpoint-30")
               and "/" in k.removeprefix(f"{RUN}/")}
    steps = [k for k in sent if "/checkpoint-" in k and not k.rsplit("/", 2)[1].startswith(".ckpt-tui")]
    assert sorted(k.removeprefix(hf_bucket.prefix) for k in steps) == sorted(deleted)  # each once, nothing more
    assert f"{RUN}/checkpoint-20/" in deleted and f"{RUN}/checkpoint-15/" not in deleted


def test_an_emptied_step_folder_the_server_still_shows_is_no_step(capsys, hf_bucket):
    # SeaweedFS shows a folder whose objects are all gone until its own cleaner removes it (as
    # after s5cmd's or the AWS CLI's deletions): neither a checkpoint nor pending, for any command.
    assert prune(capsys, hf_bucket) == 0
    store = hf_bucket.store()
    project = store.list_projects()[0]
    run = store.load_run(project, RUN)
    assert [c.step for c in run.checkpoints] == [10, 30] and not run.pending
    assert main(["ls", hf_bucket.url, "--endpoint-url", hf_bucket.endpoint, "--json"]) == 0
    listed = next(r for r in json.loads(capsys.readouterr().out)["runs"] if r["run"] == RUN)
    assert [c["step"] for c in listed["checkpoints"]] == [10, 30] and not listed["pending"]
    assert prune(capsys, hf_bucket) == 0  # a prune with nothing to delete re-reads the folder by folder
    assert [c.step for c in store.load_run(project, RUN).checkpoints] == [10, 30]
