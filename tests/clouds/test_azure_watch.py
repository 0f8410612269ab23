"""``watch`` and saved policies in an Azure container (Azurite): polling beside a trainer."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable

from azurite import AzureLocation, use_location
from watch_helpers import Trainer, WatchProcess, best_step, check_latest_and_best_present, eval_losses

from ckpt_tui.cli import main
from ckpt_tui.core import Policy
from ckpt_tui.policy_file import POLICY_FILE, load, save_run_policy


def save_in_container(location: AzureLocation) -> Callable[[int, dict[str, bytes]], None]:
    """Blob storage has no rename: the files go to ``tmp-checkpoint-N/``, then to ``checkpoint-N/``
    (state last), then the staging copy goes."""
    def save(step: int, files: dict[str, bytes]) -> None:
        for folder in (f"tmp-checkpoint-{step}", f"checkpoint-{step}"):
            for name, data in files.items():
                location.put(f"{folder}/{name}", data)
        location.client.delete_blobs(*(f"{location.prefix}tmp-checkpoint-{step}/{name}" for name in files))

    return save


def steps_in_container(location: AzureLocation) -> set[int]:
    return {int(key.split("/")[0].removeprefix("checkpoint-")) for key in location.keys()
            if key.startswith("checkpoint-")}


def test_watch_in_a_container_keeps_pace_with_a_trainer(azure_location):
    losses = eval_losses(12, seed=7)
    trainer = Trainer(save_in_container(azure_location), losses)
    assert os.environ["AZURE_STORAGE_CONNECTION_STRING"]  # the watch process signs in with it
    with WatchProcess(azure_location.url, "--metric", "eval_loss", "--interval", "0.2") as watch:
        watch.started()
        trainer.start()
        while trainer.is_alive():
            check_latest_and_best_present(trainer, lambda: steps_in_container(azure_location))
            time.sleep(0.02)
        assert trainer.error is None, trainer.error
        steps = list(range(1, len(losses) + 1))
        expected = {best_step(losses, steps), steps[-1]}
        watch.wait_for(lambda: {e["step"] for e in watch.actions("deleted")} == set(steps) - expected,
                       "every deletion reported")
        assert watch.terminate() == 0
    assert steps_in_container(azure_location) == expected
    assert not watch.actions("error") and not watch.actions("failed")
    assert not [k for k in azure_location.keys() if not k.startswith("checkpoint-")]  # no marker left


def test_the_policy_file_is_read_and_written_in_a_container(azure_location, capsys):
    azure_location.put_many({f"proj/models/agent/checkpoints/{step:04d}/adapter_model.safetensors": b"w"
                             for step in range(4)})
    store = azure_location.store()
    assert not load(store).exists
    saved = save_run_policy(store, "proj", "agent", Policy.parse("latest,step:1", "none"))
    assert saved.path == f"{azure_location.url}/{POLICY_FILE}" and POLICY_FILE in azure_location.keys()
    assert load(azure_location.store()) == saved
    code = main(["prune", azure_location.url, "--yes", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and [d["step"] for d in report["plans"][0]["deleted"]] == [0, 2]
    azure_location.put(POLICY_FILE, b'[projects.proj]\nmode = "sideways"\n')
    assert main(["watch", azure_location.url]) == 2
    assert capsys.readouterr().err.strip() == (f"ckpt-tui: {azure_location.url}/{POLICY_FILE}: projects.proj.mode: "
                                               "must be \"max\", \"min\" or \"auto\", not 'sideways'")


def test_a_policy_file_at_the_top_of_the_container_applies_below(azurite, monkeypatch, capsys):
    location = use_location(monkeypatch, AzureLocation.fresh(azurite.endpoint, f"c-{uuid.uuid4().hex[:10]}"))
    location.client.create_container()
    location.put_many({f"proj/models/agent/checkpoints/{step:04d}/adapter_model.safetensors": b"w"
                       for step in range(4)})
    location.client.upload_blob(POLICY_FILE, b'[projects.proj.runs.agent]\nkeep = "latest,step:1"\nmetric = "none"\n')
    code = main(["prune", location.url, "--dry-run", "--json"])
    plan = json.loads(capsys.readouterr().out)["plans"][0]
    assert code == 0 and [d["step"] for d in plan["delete"]] == [0, 2]
    assert plan["policy"]["files"] == [f"az://{location.container}/{POLICY_FILE}"]
