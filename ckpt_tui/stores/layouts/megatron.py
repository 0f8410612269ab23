"""Megatron-LM and slime: ``{save}/iter_{step:07d}/`` and ``latest_checkpointed_iteration.txt``."""

from __future__ import annotations

import re

from collections.abc import Sequence

from ...core.models import TrainingState
from .base import Layout

TRACKER = "latest_checkpointed_iteration.txt"
_STEP = re.compile(r"^iter_(\d{7,})$")


class MegatronLayout(Layout):
    """The tracker names the last finished save (written last): it is protected, later ones are unfinished."""

    name = "megatron"
    tracker = TRACKER

    def step(self, name: str) -> int | None:
        match = _STEP.match(name)
        if not match:
            return None
        step = int(match.group(1))
        return step if self.checkpoint_name(step) == name else None

    def checkpoint_name(self, step: int, like: str = "") -> str:
        return f"iter_{step:07d}"

    def training_state(self, files: Sequence[tuple[str, int]]) -> TrainingState:
        if any(path.endswith("model_optim_rng.pt") for path, _ in files):
            return TrainingState(refusal="Megatron keeps weights and optimizer state in one file "
                                         "(model_optim_rng.pt); it cannot be slimmed in place")
        return TrainingState(refusal="Megatron torch_dist shards hold weights and optimizer state "
                                     "together; they cannot be slimmed in place")


MEGATRON = MegatronLayout()
