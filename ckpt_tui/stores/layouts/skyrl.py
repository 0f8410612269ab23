"""SkyRL: ``{ckpt_path}/global_step_{N}/`` written by ``RayPPOTrainer.save_checkpoints`` (skyrl/train/trainer.py).

A save writes ``policy/`` (and ``critic/``) through the training backend (FSDP:
``model_state.pt``, ``optimizer_state.pt``, ``lr_scheduler_state.pt``,
``fsdp_config.json``, ``huggingface/``; Megatron: a ``dist_checkpointing``
save), then ``data.pt`` (the dataloader), then ``trainer_state.pt``, and last
``latest_ckpt_global_step.txt`` at the root ("atomic tracking - write this last
after all saves succeed"). A step newer than that tracker, or without
``trainer_state.pt``, is unfinished; the tracked step is what ``resume_mode:
latest`` loads. ``global_step_N`` is also verl's name: SkyRL's hold
``trainer_state.pt`` or ``policy/``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ...core.models import TrainingState
from .base import Inspection, RunFiles, Summary, matching_state, register
from .verl import VerlLayout

TRACKER = "latest_ckpt_global_step.txt"
STATE = "trainer_state.pt"
# What only resuming needs (FSDP): optimizer and scheduler state beside the model's.
TRAINING_STATE = tuple(f"{role}/{kind}*.pt" for role in ("policy", "critic")
                       for kind in ("optimizer_state", "lr_scheduler_state"))


class SkyrlLayout(VerlLayout):
    name = "skyrl"
    display_name = "SkyRL"
    trainers = ("SkyRL",)
    preference = 30
    summary = Summary(
        checkpoint="`global_step_{N}/` with `trainer_state.pt`",
        complete="`trainer_state.pt`; not newer than the tracker",
        kept="the step in `latest_ckpt_global_step.txt`",
        metrics="TensorBoard event files")
    tracker = TRACKER
    markers = frozenset({STATE, "policy"})
    complete_evidence = f"{STATE} written"

    def tracker_text(self, step: int) -> str:
        return str(step)

    def training_state(self, files: Sequence[tuple[str, int]]) -> TrainingState:
        return matching_state(files, TRAINING_STATE)

    def inspect(self, steps: Mapping[str, int], files: RunFiles, with_metrics: bool = True) -> Inspection:
        found = super().inspect(steps, files, with_metrics)
        for name in steps:
            if STATE not in files.children(name):
                found.incomplete(name, f"no {STATE}: save_checkpoints writes it after the models and data.pt")
        return found


SKYRL = register(SkyrlLayout())
