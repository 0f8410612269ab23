"""Saved policies in an Azure container (Azurite); ``watch`` beside a trainer there runs in
``tests/s3/test_s3_watch.py``."""

from __future__ import annotations

import json
import uuid

from azurite import AzureLocation, use_location

from ckpt_tui.cli import main
from ckpt_tui.core import Policy
from ckpt_tui.policy_file import POLICY_FILE, load, save_run_policy


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
