"""Hugging Face Accelerate: ``save_state`` with ``ProjectConfiguration(automatic_checkpoint_naming=True)``.

``{project_dir}/checkpoints/checkpoint_{i}/`` holds ``model.safetensors`` (or
``pytorch_model.bin``), ``optimizer.bin``, ``scheduler.bin``,
``random_states_{process}.pkl`` and ``custom_checkpoint_{k}.pkl`` for each object
registered with ``register_for_checkpointing``. ``i`` is Accelerate's save
counter (``ProjectConfiguration.iteration``), not a training step: the step
shown is that counter, and the run's TensorBoard values (logged by global step)
are those of the last step logged before the save was written, with that step
shown as ``global_step``. Saves are written in place, without a temporary
name or marker: ``save_accelerator_state`` writes the random states after the
weights, optimizer and scheduler, then ``save_state`` the registered objects;
a folder missing those is unfinished. ``total_limit`` deletes the lowest
numbers; nothing beside the checkpoints is Accelerate's resume pointer.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence

from ...core.lazy_pattern import LazyPattern
from ...core.models import TrainingState
from .base import Inspection, Layout, RunFiles, Summary, matching_state, register

_STEP = re.compile(r"^checkpoint_(?P<step>\d+)$")
_RANDOM = LazyPattern(r"^random_states_\d+\.pkl$")
_CUSTOM = LazyPattern(r"^custom_checkpoint_(\d+)\.pkl$")
WEIGHTS = ("model", "pytorch_model")
# What only resuming needs (accelerate.checkpointing.save_accelerator_state).
TRAINING_STATE = ("optimizer*.bin", "scheduler*.bin", "sampler*.bin", "dl_state_dict*.bin", "scaler.pt",
                  "random_states_*.pkl")


def holds_weights(children: Collection[str]) -> bool:
    return any(n.startswith(WEIGHTS) and n.endswith((".safetensors", ".bin")) for n in children)


def custom_objects(children: Collection[str]) -> set[int]:
    return {int(m.group(1)) for n in children if (m := _CUSTOM.match(n))}


class AccelerateLayout(Layout):
    name = "accelerate"
    display_name = "Accelerate"
    trainers = ("Hugging Face Accelerate",)
    preference = 110
    summary = Summary(
        checkpoint=("`checkpoints/checkpoint_{i}/` of `save_state` with automatic naming (`i` is a save counter, "
                    "not a step)"),
        complete="random states and every registered object written",
        kept="",
        metrics="TensorBoard, the last step logged before each save")
    step_pattern = _STEP
    reads_step_folders = True
    trusts_names = False
    fork_container = "checkpoints"
    numbers_saves = True

    def confirms(self, children: Collection[str]) -> bool:
        return holds_weights(children) or any(_RANDOM.match(n) for n in children)

    def checkpoint_name(self, step: int, like: str = "") -> str:
        return f"checkpoint_{step}"

    def training_state(self, files: Sequence[tuple[str, int]]) -> TrainingState:
        return matching_state(files, TRAINING_STATE)

    def inspect(self, steps: Mapping[str, int], files: RunFiles, with_metrics: bool = True) -> Inspection:
        found = Inspection()
        registered = max((len(custom_objects(files.children(n))) for n in steps), default=0)
        for name, step in steps.items():
            children = files.children(name)
            have = custom_objects(children)
            if not any(_RANDOM.match(n) for n in children):
                found.incomplete(name, "no random_states_N.pkl: save_state writes it after the weights, "
                                       "optimizer and scheduler")
            elif have != set(range(registered)):
                found.incomplete(name, f"{len(have)} of the {registered} registered objects "
                                       "(custom_checkpoint_K.pkl) the other saves hold")
            else:
                found.attest(name, f"save number {step} (Accelerate's save counter, not a training step): "
                                   "random states and every registered object written")
        return found


ACCELERATE = register(AccelerateLayout())
