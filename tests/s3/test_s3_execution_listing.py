"""S3: a prune's execution re-reads a run whose steps are folders of several objects (the HF
Trainer's ``checkpoint-N/``) with one listing of its checkpoint folder, page by page, not a
listing per step folder; what that listing shows is as fresh as the listing by folder was."""

from __future__ import annotations

import json

import pytest

from ckpt_tui.cli import main

pytestmark = pytest.mark.usefixtures("no_terminal")

RUN, STEPS = "hf-run", 60


def state(step: int) -> bytes:
    return json.dumps({"global_step": step, "best_model_checkpoint": None,
                       "log_history": [{"step": step, "loss": 1 / (step + 1)}]}).encode()


@pytest.fixture
def hf_run(s3_location):
    for step in range(STEPS):
        for name in ("config.json", "model.safetensors", "optimizer.pt"):
            s3_location.put(f"proj/{RUN}/checkpoint-{step}/{name}", b"x" * 16)
        s3_location.put(f"proj/{RUN}/checkpoint-{step}/trainer_state.json", state(step))
    return s3_location


def listings_sent(location, monkeypatch, act) -> list[dict]:
    """The ListObjectsV2 requests ``act`` sends, by their parameters."""
    from ckpt_tui.stores.backends import s3

    sent: list[dict] = []
    make = s3.open_client

    def counted(*args, **kwargs):
        client = make(*args, **kwargs)
        client.meta.events.register(
            "before-call.s3", lambda model, params, **_: sent.append(params) if model.name == "ListObjectsV2" else None)
        return client

    monkeypatch.setattr(s3, "open_client", counted)
    act()
    return sent


def test_the_execution_lists_the_steps_in_pages_not_one_folder_at_a_time(capsys, hf_run, monkeypatch):
    def prune() -> None:
        assert main(["prune", hf_run.url, "--endpoint-url", hf_run.endpoint, "-r", RUN, "--keep", "latest",
                     "--metric", "none", "--yes"]) == 0

    sent = listings_sent(hf_run, monkeypatch, prune)
    capsys.readouterr()
    by_step = [p for p in sent if "/checkpoint-" in p["Prefix"] and p["Prefix"].endswith("/")]
    assert not by_step, f"{len(by_step)} listings of single steps"  # the old execution: one a step
    assert len(sent) < STEPS // 2, len(sent)
    left = {k.split("/")[2] for k in hf_run.keys(f"proj/{RUN}/")}
    assert left == {f"checkpoint-{STEPS - 1}"}


def test_a_step_whose_last_file_went_since_the_plan_is_not_deleted(hf_run):
    store = hf_run.store()
    planned = store.load_run("proj", RUN, with_metrics=False)
    assert len(planned.checkpoints) == STEPS
    hf_run.delete(f"proj/{RUN}/checkpoint-20/trainer_state.json")  # a save of step 20 started over
    now = store.read_for_execution("proj", RUN)
    assert 20 not in [c.step for c in now.checkpoints]
    assert 20 in [c.step for c in now.pending]
    chosen = [c for c in planned.checkpoints if c.step in (10, 20)]
    outcome = store.delete_checkpoints(now, chosen)
    left = hf_run.keys(f"proj/{RUN}/checkpoint-20/")
    assert outcome[chosen[1].key] and len(left) == 3  # refused, nothing of it deleted
    assert not hf_run.keys(f"proj/{RUN}/checkpoint-10/")


def test_a_step_that_appeared_since_the_plan_is_seen_and_not_deleted(hf_run):
    store = hf_run.store()
    planned = store.load_run("proj", RUN, with_metrics=False)
    hf_run.put(f"proj/{RUN}/checkpoint-{STEPS}/model.safetensors", b"x")
    hf_run.put(f"proj/{RUN}/checkpoint-{STEPS}/trainer_state.json", state(STEPS))
    now = store.read_for_execution("proj", RUN)
    assert now.latest_step == STEPS  # the execution's plan is made on the run as it is now
    store.delete_checkpoints(now, [c for c in planned.checkpoints if c.step < STEPS - 1])
    assert {k.split("/")[2] for k in hf_run.keys(f"proj/{RUN}/")} == {f"checkpoint-{STEPS - 1}", f"checkpoint-{STEPS}"}


def test_objects_written_into_a_step_after_the_execution_listed_it_go_with_it(hf_run, monkeypatch):
    store = hf_run.store()
    store.load_run("proj", RUN, with_metrics=False)
    now = store.read_for_execution("proj", RUN)
    hf_run.put(f"proj/{RUN}/checkpoint-5/late.bin", b"written after the listing")
    outcome = store.delete_checkpoints(now, [c for c in now.checkpoints if c.step == 5])
    assert list(outcome.values()) == [""], outcome
    assert not hf_run.keys(f"proj/{RUN}/checkpoint-5/")
