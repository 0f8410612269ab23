"""verl: ``{default_local_dir}/global_step_{N}/`` (``actor/``, ``critic/``, ``data.pt``) and the tracker."""

from __future__ import annotations

import re

from collections.abc import Sequence

from ...core.models import TrainingState
from .base import Layout, Summary, matching_state, register, whole
from .megatron import TRACKER

# verl's FSDP checkpoint manager: per-rank optimizer and extra (scheduler, RNG) state beside the
# model shards; ``model_*`` and ``huggingface/`` are the weights and stay.
TRAINING_STATE = tuple(f"{role}/{kind}_*" for role in ("actor", "critic") for kind in ("optim", "extra_state"))

_STEP = re.compile(r"^global_step_(\d+)$")


class VerlLayout(Layout):
    name = "verl"
    display_name = "verl"
    trainers = ("verl",)
    preference = 40
    summary = Summary(
        checkpoint="`global_step_{step}/`",
        complete="not newer than the tracker (none yet: nothing)",
        kept="the step in `latest_checkpointed_iteration.txt`",
        metrics="TensorBoard event files")
    tracker = TRACKER

    def step(self, name: str) -> int | None:
        match = _STEP.match(name)
        return whole(match.group(1)) if match else None

    def checkpoint_name(self, step: int, like: str = "") -> str:
        return f"global_step_{step}"

    def training_state(self, files: Sequence[tuple[str, int]]) -> TrainingState:
        return matching_state(files, TRAINING_STATE)


VERL = register(VerlLayout())
