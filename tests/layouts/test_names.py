"""Layouts as pure name logic: what is a step, what is in progress, what is neither."""

import pytest

from ckpt_tui.core import Pending
from ckpt_tui.stores.layouts import HF, LIGHTNING, MEGATRON, VERL, OrbaxLayout, detect
from ckpt_tui.stores.layouts.base import parse_tracker
from ckpt_tui.stores.layouts.hf import trainer_best_step
from ckpt_tui.stores.layouts.lightning import lightning_values, parse_best_k


@pytest.mark.parametrize("layout, name, step", [
    (HF, "checkpoint-500", 500), (HF, "checkpoint-0", 0),
    (HF, "checkpoint-final", None), (HF, "checkpoint-007", None), (HF, "tmp-checkpoint-5", None),
    (MEGATRON, "iter_0000100", 100), (MEGATRON, "iter_12345678", 12345678),
    (MEGATRON, "iter_12", None), (MEGATRON, "iter_00000012", None), (MEGATRON, "release", None),
    (VERL, "global_step_40", 40), (VERL, "global_step_040", None), (VERL, "global_step_", None),
    (LIGHTNING, "epoch=0-step=100.ckpt", 100), (LIGHTNING, "step=7-val_loss=0.1.ckpt", 7),
    (LIGHTNING, "epoch=0-step=100-v1.ckpt", 100), (LIGHTNING, "last.ckpt", None),
    (LIGHTNING, "last-epoch=0-step=100.ckpt", None), (LIGHTNING, "epoch=3.ckpt", None),
    (LIGHTNING, "epoch=0-step=100.pt", None), (LIGHTNING, "mystep=5.ckpt", None),
    (OrbaxLayout(), "100", 100), (OrbaxLayout(), "00000100", 100), (OrbaxLayout(), "state_100", None),
    (OrbaxLayout("state"), "state_100", 100), (OrbaxLayout("state"), "100", None),
])
def test_step_names(layout, name, step):
    assert layout.step(name) == step


@pytest.mark.parametrize("layout, name, step", [
    (HF, "tmp-checkpoint-30", 30), (HF, "checkpoint-30", None),
    (OrbaxLayout(), "400.orbax-checkpoint-tmp-1712345678", 400),
    (OrbaxLayout("ckpt"), "ckpt_400.orbax-checkpoint-tmp-17", 400),
    (OrbaxLayout(), "ckpt_400.orbax-checkpoint-tmp-17", None),
])
def test_in_progress_names(layout, name, step):
    assert layout.in_progress_step(name) == step


@pytest.mark.parametrize("layout, step, like, name", [
    (HF, 8, "", "checkpoint-8"), (MEGATRON, 20, "", "iter_0000020"), (VERL, 5, "", "global_step_5"),
    (LIGHTNING, 200, "epoch=1-step=200-val_loss=0.30.ckpt", "epoch=1-step=200-val_loss=0.30.ckpt"),
    (LIGHTNING, 200, "", "step=200.ckpt"),
    (OrbaxLayout(), 7, "00000100", "00000007"), (OrbaxLayout("state"), 7, "state_100", "state_7"),
])
def test_names_round_trip(layout, step, like, name):
    assert layout.checkpoint_name(step, like) == name
    assert layout.step(name) == step


def test_lightning_values_parse_metrics_in_names():
    assert lightning_values("epoch=2-step=300-val_loss=0.12-acc=-1.5e-3-v2.ckpt") == {
        "epoch": 2.0, "step": 300.0, "val_loss": 0.12, "acc": -0.0015}
    assert lightning_values("notes.txt") == {}


def test_trainer_pointers():
    assert parse_tracker("120\n") == 120 and parse_tracker("release") is None and parse_tracker(None) is None
    assert trainer_best_step({"best_model_checkpoint": "out/run/checkpoint-4"}) == 4
    assert trainer_best_step({"best_model_checkpoint": "C:\\out\\checkpoint-9\\"}) == 9
    assert trainer_best_step({"best_model_checkpoint": None}) is None
    assert parse_best_k("/a/b/epoch=0-step=1.ckpt: 0.5\n'/a/c d/step=2.ckpt': 0.4\n") == [
        "epoch=0-step=1.ckpt", "step=2.ckpt"]


def entries(*dirs: str, files: tuple[str, ...] = ()):
    return [(d, True) for d in dirs] + [(f, False) for f in files]


@pytest.mark.parametrize("listing, layout, steps", [
    (entries("checkpoint-4", "checkpoint-8", "runs", files=("config.json",)), "hf", [4, 8]),
    (entries("iter_0000010", "iter_0000020", files=("latest_checkpointed_iteration.txt",)), "megatron", [10, 20]),
    (entries("global_step_5"), "verl", [5]),
    (entries(files=("epoch=0-step=10.ckpt", "last.ckpt")), "lightning", [10]),
    # The majority wins when a folder holds two trainers' names.
    (entries("checkpoint-1", "iter_0000001", "iter_0000002"), "megatron", [1, 2]),
])
def test_detect_picks_the_layout(listing, layout, steps):
    scan = detect(listing)
    assert scan.layout.name == layout and sorted(scan.steps.values()) == steps


def test_detect_ignores_near_misses():
    listing = entries("checkpoint-final", "iter_12", "checkpoint-007", "global_step_x", "0", "1",
                      files=("checkpoint-5", "iter_0000005", "global_step_3", "epoch=3.ckpt", "12"))
    assert detect(listing, children=lambda name: ["config.yaml"]) is None


def test_orbax_steps_need_orbax_files():
    listing = entries("100", "200", "300")
    assert detect(listing, children=lambda name: ["config.yaml"]) is None
    marked = {"100": ["_CHECKPOINT_METADATA"], "200": ["metrics", "default"], "300": ["notes"]}
    scan = detect(listing, children=lambda name: marked[name])
    assert scan.layout.name == "orbax" and sorted(scan.steps.values()) == [100, 200]


def test_a_folder_with_only_a_save_in_progress_is_a_run():
    scan = detect(entries("tmp-checkpoint-5"))
    assert scan.layout.name == "hf" and scan.steps == {} and scan.pending == {"tmp-checkpoint-5": (5, Pending.SAVE_IN_PROGRESS)}
