"""Layouts as pure name logic: what is a step, what is in progress, what is neither."""

import pytest

from ckpt_tui.core import Pending
from ckpt_tui.stores.layouts import detect
from ckpt_tui.stores.layouts.dcp import DCP
from ckpt_tui.stores.layouts.deepspeed import DEEPSPEED
from ckpt_tui.stores.layouts.hf import HF
from ckpt_tui.stores.layouts.lightning import LIGHTNING
from ckpt_tui.stores.layouts.megatron import MEGATRON
from ckpt_tui.stores.layouts.nemo import NEMO
from ckpt_tui.stores.layouts.orbax import OrbaxLayout
from ckpt_tui.stores.layouts.torchtune import TORCHTUNE
from ckpt_tui.stores.layouts.verl import VERL
from ckpt_tui.stores.layouts.base import parse_tracker
from ckpt_tui.stores.layouts.hf import trainer_best_step
from ckpt_tui.stores.layouts.lightning import best_k_paths, lightning_values, names_path, nested_values
from ckpt_tui.stores.layouts.nemo import nemo_values


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
    (LIGHTNING, "epoch=0-step=5-val", 5), (LIGHTNING, "epoch=0-step=5-val_acc=0.5", None),
    (DEEPSPEED, "global_step8", 8), (DEEPSPEED, "global_step_8", None), (DEEPSPEED, "global_step08", None),
    (DCP, "step_10", 10), (DCP, "step-10", 10), (DCP, "step10", None), (DCP, "step_010", None),
    (TORCHTUNE, "epoch_0", 0), (TORCHTUNE, "dist_epoch_2", 2), (TORCHTUNE, "epoch-0", None),
    (NEMO, "model_name=0--val_loss=2.08-step=19-consumed_samples=160.0", 19),
    (NEMO, "model_name=0--val_loss=2.21-step=39-consumed_samples=320.0-last", 39),
    (NEMO, "megatron_gpt--val_loss=0.12-step=400", 400), (NEMO, "step=400", 400),
    (NEMO, "model_name=0--val_loss=2.05-step=49-consumed_samples=400.0-unfinished", None),
    (NEMO, "epoch=0-step=5-val", None), (NEMO, "epoch=0-step=5.ckpt", None),
])
def test_step_names(layout, name, step):
    assert layout.step(name) == step


@pytest.mark.parametrize("layout, name, step", [
    (HF, "tmp-checkpoint-30", 30), (HF, "checkpoint-30", None),
    (OrbaxLayout(), "400.orbax-checkpoint-tmp-1712345678", 400),
    (OrbaxLayout("ckpt"), "ckpt_400.orbax-checkpoint-tmp-17", 400),
    (OrbaxLayout(), "ckpt_400.orbax-checkpoint-tmp-17", None),
    (OrbaxLayout(), "15.orbax-checkpoint-tmp", 15),  # Orbax 0.12: no timestamp
    (OrbaxLayout("ckpt"), "ckpt_0015.orbax-checkpoint-tmp", 15),
])
def test_in_progress_names(layout, name, step):
    assert layout.in_progress_step(name) == step


@pytest.mark.parametrize("layout, step, like, name", [
    (HF, 8, "", "checkpoint-8"), (MEGATRON, 20, "", "iter_0000020"), (VERL, 5, "", "global_step_5"),
    (LIGHTNING, 200, "epoch=1-step=200-val_loss=0.30.ckpt", "epoch=1-step=200-val_loss=0.30.ckpt"),
    (LIGHTNING, 200, "", "step=200.ckpt"),
    (OrbaxLayout(), 7, "00000100", "00000007"), (OrbaxLayout("state"), 7, "state_100", "state_7"),
    (DEEPSPEED, 4, "global_step2", "global_step4"), (DCP, 20, "step-10", "step-20"), (DCP, 20, "", "step_20"),
    (TORCHTUNE, 1, "dist_epoch_0", "dist_epoch_1"), (TORCHTUNE, 1, "epoch_0", "epoch_1"),
    (NEMO, 19, "m--val_loss=2.08-step=19", "m--val_loss=2.08-step=19"), (NEMO, 19, "", "step=19"),
    (LIGHTNING, 5, "epoch=0-step=5-val", "epoch=0-step=5-val"),
])
def test_names_round_trip(layout, step, like, name):
    assert layout.checkpoint_name(step, like) == name
    assert layout.step(name) == step


def test_lightning_values_parse_metrics_in_names():
    assert lightning_values("epoch=2-step=300-val_loss=0.12-acc=-1.5e-3-v2.ckpt") == {
        "epoch": 2.0, "step": 300.0, "val_loss": 0.12, "acc": -0.0015}
    assert lightning_values("notes.txt") == {}
    # A monitored "val/acc" puts each checkpoint in a sub-folder: "epoch=0-step=5-val/acc=0.6250.ckpt".
    assert lightning_values("epoch=0-step=5-val/acc=0.6250.ckpt") == {"epoch": 0, "step": 5, "val/acc": 0.625}
    assert nested_values("epoch=0-step=5-val") == {"epoch": 0, "step": 5}
    assert nested_values("epoch=0-step=5.ckpt") == nested_values("notes") == {}


def test_nemo_values_leave_out_the_model_name():
    assert nemo_values("model_name=0--val_loss=2.08-step=19-consumed_samples=160.0-last") == {
        "val_loss": 2.08, "step": 19, "consumed_samples": 160.0}
    assert nemo_values("model_name=0--val_loss=2.08-step=19-extra") == {}


def test_trainer_pointers():
    assert parse_tracker("120\n") == 120 and parse_tracker("release") is None and parse_tracker(None) is None
    assert trainer_best_step({"best_model_checkpoint": "out/run/checkpoint-4"}) == 4
    assert trainer_best_step({"best_model_checkpoint": "C:\\out\\checkpoint-9\\"}) == 9
    assert trainer_best_step({"best_model_checkpoint": None}) is None
    assert best_k_paths("/a/b/epoch=0-step=1.ckpt: 0.5\n'/a/c d/step=2.ckpt': 0.4\n") == [
        "/a/b/epoch=0-step=1.ckpt", "/a/c d/step=2.ckpt"]
    assert names_path("epoch=0-step=1.ckpt", "/a/b/epoch=0-step=1.ckpt")
    assert names_path("epoch=0-step=5-val", "/a/epoch=0-step=5-val/acc=0.5.ckpt")
    assert not names_path("step=1.ckpt", "/a/b/epoch=0-step=1.ckpt")


def entries(*dirs: str, files: tuple[str, ...] = ()):
    return [(d, True) for d in dirs] + [(f, False) for f in files]


@pytest.mark.parametrize("listing, layout, steps", [
    (entries("checkpoint-4", "checkpoint-8", "runs", files=("config.json",)), "hf", [4, 8]),
    (entries("iter_0000010", "iter_0000020", files=("latest_checkpointed_iteration.txt",)), "megatron", [10, 20]),
    (entries("global_step_5"), "verl", [5]),
    (entries(files=("epoch=0-step=10.ckpt", "last.ckpt")), "lightning", [10]),
    # The majority wins when a folder holds two trainers' names.
    (entries("checkpoint-1", "iter_0000001", "iter_0000002"), "megatron", [1, 2]),
    (entries("global_step2", "global_step4", files=("latest", "zero_to_fp32.py")), "deepspeed", [2, 4]),
    (entries("checkpoint-2", "checkpoint-4"), "hf", [2, 4]),  # DeepSpeed tags inside stay one hf run
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


# What each folder holds, for layouts whose names alone are too common to trust.
HOLDS = {
    "step_10": [".metadata", "__0_0.distcp"], "step_50": [".metadata.tmp", "__0_0.distcp"],
    "step_60": ["notes.txt"], "epoch_0": ["adapter_model.safetensors", "adapter_config.json"],
    "epoch_1": ["config.yaml"], "dist_epoch_2": ["__0_0.distcp"],
    "m--val_loss=0.1-step=4": ["weights", "context"], "m--val_loss=0.2-step=8": ["notes"],
    "epoch=0-step=5-val": ["acc=0.6250.ckpt"], "epoch=1-step=10-val": ["notes"],
}


@pytest.mark.parametrize("names, layout, steps", [
    (["step_10", "step_50", "step_60"], "dcp", [10, 50]),
    (["epoch_0", "epoch_1", "dist_epoch_2"], "torchtune", [0, 2]),
    (["m--val_loss=0.1-step=4", "m--val_loss=0.2-step=8"], "nemo2", [4]),
    (["epoch=0-step=5-val", "epoch=1-step=10-val"], "lightning", [5]),
])
def test_steps_confirmed_by_what_they_hold(names, layout, steps):
    scan = detect(entries(*names), children=lambda name: HOLDS[name])
    assert scan.layout.name == layout and sorted(scan.steps.values()) == steps
    assert detect(entries(*names), children=lambda name: []) is None
