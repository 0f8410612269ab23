"""``watch`` in S3 (moto) and on a disk: every trainer layout, a trainer saving beside it, saved policies."""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "layouts"))
sys.path.insert(0, str(Path(__file__).parent.parent / "clouds"))

from layout_trees import blob, lightning_dir, megatron_save, orbax_dir, verl_dir  # noqa: E402
from azurite import AzureLocation, azurite, azurite_server, use_location  # noqa: E402,F401 - fixtures
from s3_servers import Location  # noqa: E402
from watch_helpers import (Trainer, WatchProcess, best_step, check_latest_and_best_present,  # noqa: E402
                           eval_losses)

from ckpt_tui.cli import main  # noqa: E402
from ckpt_tui.core import Policy, execute_plan, list_runs, plan_run  # noqa: E402
from ckpt_tui.policy_file import (POLICY_FILE, NO_SETTINGS, PolicyFile, Settings, flag_settings,  # noqa: E402
                                  load, save_run_policy)
from ckpt_tui.stores.local import LocalStore  # noqa: E402
from ckpt_tui.watch import Watch  # noqa: E402


def files_under(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and not p.is_symlink()}


@dataclass
class Place:
    """A tree built in ``source`` and watched there (disk) or in a copy of it in a bucket."""

    source: Path
    location: Location | AzureLocation | None = None

    def store(self):
        return self.location.store() if self.location else LocalStore(self.source)

    def change(self, write: Callable[[Path], None]) -> None:
        """Let ``write`` change the tree on disk, and carry just its changes to the bucket."""
        before = files_under(self.source)
        write(self.source)
        if self.location is None:
            return
        after = files_under(self.source)
        for path, data in after.items():
            if before.get(path) != data:
                self.location.put(path, data)
        for path in before.keys() - after.keys():
            self.location.delete(path)


@pytest.fixture(params=["disk", "moto", pytest.param("azurite", marks=pytest.mark.azure)])
def place(request, tmp_path) -> Place:
    source = tmp_path / "tree"
    source.mkdir()
    if request.param == "disk":
        return Place(source)
    if request.param == "azurite":
        location = AzureLocation.fresh(request.getfixturevalue("azurite").endpoint)
        return Place(source, use_location(request.getfixturevalue("monkeypatch"), location))
    return Place(source, Location.fresh(request.getfixturevalue("moto_server")))


# -- every layout -------------------------------------------------------------------------
def hf_step(run: Path, step: int, losses: dict[int, float], name: str | None = None) -> None:
    folder = run / (name or f"checkpoint-{step}")
    blob(folder / "model.safetensors", 300 + step)
    log = [{"step": s, "eval_loss": v} for s, v in sorted(losses.items()) if s <= step]
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": step, "log_history": log}))


def hf_grow(tree: Path) -> None:
    shutil.rmtree(tree / "out" / "tmp-checkpoint-30")  # the Trainer renames it in
    hf_step(tree / "out", 30, HF_LOSSES)


def orbax_grow(tree: Path) -> None:
    shutil.rmtree(next((tree / "jax").glob("400.orbax-checkpoint-tmp-*")))  # Orbax renames it in
    orbax_dir(tree / "jax", steps=(400,), in_progress=None)


def art_build(tree: Path, steps: range = range(4)) -> None:
    model = tree / "proj" / "models" / "agent"
    for step in steps:
        blob(model / "checkpoints" / f"{step:04d}" / "adapter_model.safetensors", 100 + step)
        with open(model / "history.jsonl", "a") as history:
            history.write(json.dumps({"step": step, "val/reward": [0.2, 0.6, 0.3, 0.4, 0.9][step]}) + "\n")


HF_LOSSES = {10: 0.5, 20: 0.3, 30: 0.2}


@dataclass(frozen=True)
class Scenario:
    """A run as its trainer leaves it, watched once; then the trainer's next save, watched again."""

    name: str
    build: Callable[[Path], None]
    grow: Callable[[Path], None]
    flags: Settings
    kept: list[str]  # complete checkpoints after the first poll
    pending: list[str]  # never touched while pending


SCENARIOS = [
    Scenario("art", art_build, lambda tree: art_build(tree, range(4, 5)), NO_SETTINGS,
             ["0001", "0003"], []),
    Scenario("hf", lambda tree: (hf_step(tree / "out", 10, HF_LOSSES), hf_step(tree / "out", 20, HF_LOSSES),
                                 hf_step(tree / "out", 30, HF_LOSSES, "tmp-checkpoint-30")),
             hf_grow, flag_settings("eval_loss"), ["checkpoint-20"], ["tmp-checkpoint-30"]),
    Scenario("megatron", lambda tree: megatron_save(tree / "slime", tracker="30"),
             lambda tree: (tree / "slime" / "latest_checkpointed_iteration.txt").write_text("40"),
             flag_settings("none", keep="latest"), ["iter_0000030"], ["iter_0000040"]),
    Scenario("verl", lambda tree: verl_dir(tree / "verl", steps=(5, 10, 15, 20), tracker="15"),
             lambda tree: (tree / "verl" / "latest_checkpointed_iteration.txt").write_text("20"),
             flag_settings("none", keep="latest"), ["global_step_15"], ["global_step_20"]),
    Scenario("lightning", lambda tree: lightning_dir(tree / "lit" / "version_0", last_link=None),
             lambda tree: blob(tree / "lit/version_0/checkpoints/epoch=3-step=400-val_loss=0.20.ckpt", 2100),
             flag_settings("val_loss"), ["epoch=1-step=200-val_loss=0.30.ckpt", "epoch=2-step=300-val_loss=0.40.ckpt"],
             []),
    Scenario("orbax", lambda tree: orbax_dir(tree / "jax"), orbax_grow, flag_settings("loss"), ["300"],
             ["400.orbax-checkpoint-tmp-1712345678"]),
]


def checkpoint_names(store) -> tuple[list[str], list[str]]:
    [(project, run)] = list_runs(store)
    loaded = store.load_run(project, run)
    return [c.name for c in loaded.checkpoints], [c.name for c in loaded.pending]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_every_layout_is_kept_pruned_as_one_prune_would_leave_it(place, scenario, tmp_path):
    place.change(scenario.build)
    store = place.store()
    actions = []
    watch = Watch(store, flags=scenario.flags, report=lambda e: actions.append(e.action))
    watch.cycle()
    assert checkpoint_names(store) == (scenario.kept, scenario.pending)
    place.change(scenario.grow)
    actions.clear()
    watch.cycle()
    assert "deleted" in actions and "error" not in actions

    twin = tmp_path / "twin"
    scenario.build(twin)
    scenario.grow(twin)
    once = LocalStore(twin)
    [(project, run)] = list_runs(once)
    execute_plan(once, plan_run(once.load_run(project, run), PolicyFile("").policy(project, run, scenario.flags)))
    assert checkpoint_names(store) == checkpoint_names(once)
    assert not checkpoint_names(store)[1]


# -- beside a trainer, in S3 --------------------------------------------------------------
def save_in_bucket(location: Location | AzureLocation) -> Callable[[int, dict[str, bytes]], None]:
    """S3 and Blob storage have no rename: the files go to ``tmp-checkpoint-N/``, then to
    ``checkpoint-N/`` (state last), then the staging copy goes."""
    def save(step: int, files: dict[str, bytes]) -> None:
        for folder in (f"tmp-checkpoint-{step}", f"checkpoint-{step}"):
            for name, data in files.items():
                location.put(f"{folder}/{name}", data)
        for name in files:
            location.delete(f"tmp-checkpoint-{step}/{name}")

    return save


def steps_in_bucket(location: Location) -> set[int]:
    return {int(key.split("/")[0].removeprefix("checkpoint-")) for key in location.keys()
            if key.startswith("checkpoint-")}


@pytest.mark.parametrize("server", ["moto", pytest.param("azurite", marks=pytest.mark.azure)])
def test_watch_in_a_bucket_keeps_pace_with_a_trainer(request, server):
    if server == "azurite":  # Azure signs in with the connection string in the environment
        location = use_location(request.getfixturevalue("monkeypatch"),
                                AzureLocation.fresh(request.getfixturevalue("azurite").endpoint))
    else:
        location = Location.fresh(request.getfixturevalue("moto_server"))
    losses = eval_losses(16, seed=5)
    trainer = Trainer(save_in_bucket(location), losses)
    with WatchProcess(location.url, "--endpoint-url", location.endpoint, "--metric", "eval_loss",
                      "--interval", "0.2") as watch:
        watch.started()
        trainer.start()
        while trainer.is_alive():
            check_latest_and_best_present(trainer, lambda: steps_in_bucket(location))
            time.sleep(0.02)  # leave the in-process server some time to answer the trainer
        assert trainer.error is None, trainer.error
        steps = list(range(1, len(losses) + 1))
        expected = {best_step(losses, steps), steps[-1]}
        watch.wait_for(lambda: {e["step"] for e in watch.actions("deleted")} == set(steps) - expected,
                       "every deletion reported")
        assert watch.terminate() == 0
    assert steps_in_bucket(location) == expected
    assert not watch.actions("error") and not watch.actions("failed")
    assert not [k for k in location.keys() if not k.startswith("checkpoint-")]  # no marker, no staging left


# -- saved policies in S3 -------------------------------------------------------------------
def test_the_policy_file_is_read_and_written_in_a_bucket(s3_location, capsys):
    for step in range(4):
        s3_location.put(f"proj/models/agent/checkpoints/{step:04d}/adapter_model.safetensors", b"w")
    store = s3_location.store()
    assert not load(store).exists
    saved = save_run_policy(store, "proj", "agent", Policy.parse("latest,step:1", "none"))
    assert saved.path == f"{s3_location.url}/{POLICY_FILE}" and POLICY_FILE in s3_location.keys()
    assert load(s3_location.store()) == saved

    code = main(["prune", s3_location.url, "--endpoint-url", s3_location.endpoint, "--yes", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and [d["step"] for d in report["plans"][0]["deleted"]] == [0, 2]

    s3_location.put(POLICY_FILE, b'[projects.proj]\nmode = "sideways"\n')
    code = main(["watch", s3_location.url, "--endpoint-url", s3_location.endpoint])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == (f'ckpt-tui: {s3_location.url}/{POLICY_FILE}: projects.proj.mode: must be '
                                 "\"max\", \"min\" or \"auto\", not 'sideways'")


def test_min_free_needs_a_disk(moto_art_bucket, capsys):
    code = main(["watch", moto_art_bucket.url, "--endpoint-url", moto_art_bucket.endpoint, "--min-free", "10%"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == f"ckpt-tui: --min-free measures free space on a disk; {moto_art_bucket.url} is not on one"
    assert len(moto_art_bucket.keys("demo/models/agent-001/checkpoints/")) == 24


def test_a_policy_file_above_the_prefix_applies_up_to_the_bucket(s3_endpoint, create_bucket, capsys):
    from s3_servers import Location

    location = Location.fresh(s3_endpoint, create_bucket(s3_endpoint))
    for step in range(4):
        location.put(f"proj/models/agent/checkpoints/{step:04d}/adapter_model.safetensors", b"w")
    location.client.put_object(Bucket=location.bucket, Key=POLICY_FILE,
                               Body=b'[projects.proj.runs.agent]\nkeep = "latest,step:1"\nmetric = "none"\n')
    code = main(["prune", location.url, "--endpoint-url", location.endpoint, "--dry-run", "--json"])
    plan = json.loads(capsys.readouterr().out)["plans"][0]
    assert code == 0 and [d["step"] for d in plan["delete"]] == [0, 2]
    assert plan["policy"]["files"] == [f"s3://{location.bucket}/{POLICY_FILE}"]
