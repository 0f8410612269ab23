"""W&B stores a file once per digest across a collection's versions: deleting versions frees only
the files no remaining version uses, and the preview says exactly that (wandb/wandb#5376)."""

from __future__ import annotations

import json
from datetime import timezone

import pytest
from art_on_wandb import ENTITY, TIMEOUT
from fake_wandb_server import FakeWandb, md5_b64
from pilot_helpers import settle

from ckpt_tui.app.app import CkptApp
from ckpt_tui.app.widgets import StatusLine
from ckpt_tui.cli import main
from ckpt_tui.formatting import size

LOCATION = f"wandb://{ENTITY}"
BASE = bytes(range(256)) * 80  # 20 KB every version holds, stored once
OPTIMIZER = b"o" * 5000  # shared by steps 1 and 2 only
REWARDS = [0.1, 0.3, 0.9, 0.2, 0.4]  # best: step 2; latest: step 4


@pytest.fixture(autouse=True)
def short_timeout(monkeypatch):
    monkeypatch.setenv("WANDB_HTTP_TIMEOUT", str(int(TIMEOUT)))


def version_files(step: int) -> dict[str, bytes]:
    files = {"base.safetensors": BASE, "adapter_model.safetensors": bytes([step]) * (1000 + 10 * step)}
    if step in (1, 2):
        files["optimizer.pt"] = OPTIMIZER
    return files


@pytest.fixture
def shared(fake: FakeWandb) -> FakeWandb:
    """demo/shared: five versions logged the way W&B dedups them, sharing files by digest."""
    for step in range(len(REWARDS)):
        fake.log_version(ENTITY, "demo", "shared", version_files(step), [f"step{step}"])
    fake.add_run(ENTITY, "demo", "shared", [{"training_step": s, "val/reward": r} for s, r in enumerate(REWARDS)])
    return fake


def reclaimable(model: FakeWandb, deleted_versions: set[int]) -> int:
    """What W&B's garbage collector frees: the digests only deleted versions referenced."""
    members = model.memberships(ENTITY, "demo", "shared")
    kept = {md5_b64(data) for m in members if m.index not in deleted_versions for data in m.artifact.files.values()}
    gone = {md5_b64(data): len(data) for m in members if m.index in deleted_versions
            for data in m.artifact.files.values()}
    return sum(n for digest, n in gone.items() if digest not in kept)


def run_cli(capsys, *argv: str) -> tuple[int, dict, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, json.loads(out) if "--json" in argv else {}, err


@pytest.mark.parametrize("keep, metric, deleted", [("best,latest", "val/reward", {0, 1, 3}),
                                                   ("latest", "none", {0, 1, 2, 3})])
def test_the_preview_frees_only_files_no_kept_version_uses(shared, capsys, keep, metric, deleted):
    code, doc, err = run_cli(capsys, "prune", LOCATION, "-p", "demo", "-r", "shared", "--keep", keep,
                             "--metric", metric, "--dry-run", "--json")
    assert code == 0, err
    plan = doc["plans"][0]
    assert {d["step"] for d in plan["delete"]} == deleted
    assert plan["freed_bytes"] == reclaimable(shared, deleted)


def test_what_a_prune_reports_is_what_w_and_b_can_reclaim(shared, capsys):
    expected = reclaimable(shared, {0, 1, 3})  # the fake forgets deleted versions: count first
    code, doc, err = run_cli(capsys, "prune", LOCATION, "-p", "demo", "-r", "shared", "--yes", "--json")
    assert code == 0, err
    assert {int(d["version"][1:]) for d in shared.deleted} == {0, 1, 3} and doc["freed_bytes"] == expected
    code, listing, _ = run_cli(capsys, "ls", LOCATION, "-p", "demo", "-r", "shared", "--json")
    assert listing["runs"][0]["total_bytes"] == len(BASE) + len(OPTIMIZER) + sum(
        len(version_files(s)["adapter_model.safetensors"]) for s in (2, 4))


def test_ls_counts_each_stored_file_once(shared, capsys):
    code, listing, _ = run_cli(capsys, "ls", LOCATION, "-p", "demo", "-r", "shared", "--json")
    run = listing["runs"][0]
    adapters = sum(len(version_files(s)["adapter_model.safetensors"]) for s in range(len(REWARDS)))
    assert code == 0 and run["total_bytes"] == len(BASE) + len(OPTIMIZER) + adapters
    assert run["checkpoints"][1]["bytes"] == sum(map(len, version_files(1).values()))


async def test_the_app_previews_what_w_and_b_will_reclaim(shared):
    app = CkptApp(f"{LOCATION}/demo", location_label="wandb", timezone=timezone.utc, cursor_blink=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("down", "down")
        await settle(pilot)
        assert app.screen.current == ("demo", "shared")
        await pilot.press("v")
        status = str(app.screen.query_one(StatusLine).render())
        await pilot.press("x")
        await settle(pilot)
        hints = " ".join(str(label.render()) for label in app.screen.query(".hint"))
    assert f"would delete 3 steps, free {size(reclaimable(shared, {0, 1, 3}))}" in status
    assert "only for files no remaining version uses" in hints


def test_deleting_linked_versions_frees_nothing(shared, capsys):
    """A link (a fork within W&B) holds no bytes of its own: the source version keeps them."""
    project = shared.project(ENTITY, "demo")
    project.linked.add("mirror")
    for member in shared.memberships(ENTITY, "demo", "shared")[:3]:
        shared._add_membership(ENTITY, "demo", "mirror", member.artifact, [f"step{member.index}", "latest"])
    code, doc, err = run_cli(capsys, "prune", LOCATION, "-p", "demo", "-r", "mirror", "--keep", "latest",
                             "--metric", "none", "--dry-run", "--json")
    assert code == 0, err
    plan = doc["plans"][0]
    assert [d["step"] for d in plan["delete"]] == [0, 1] and plan["freed_bytes"] == 0
