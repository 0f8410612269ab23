"""Hugging Face Trainer and TRL: ``{output_dir}/checkpoint-{step}/`` with ``trainer_state.json``."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from collections.abc import Sequence

from ...core.metrics import metrics_from_records
from ...core.models import TrainingState
from .base import TRAINER_BEST, Inspection, Layout, RunFiles, Summary, matching_state, register, whole

STATE = "trainer_state.json"
# A long run's ``log_history`` makes its trainer state large (66 MB and more): read whole up to this.
STATE_LIMIT = 1024**3
# What the Trainer saves only to resume (transformers' Trainer._save_optimizer_and_scheduler, _save_rng_state).
TRAINING_STATE = ("optimizer.pt", "scheduler.pt", "scaler.pt", "rng_state*.pth")
# DeepSpeed inside a Trainer checkpoint: ZeRO-0/1/2 model states hold the whole model, ZeRO-3's do not.
DEEPSPEED_OPTIMIZER = ("global_step*/*_optim_states.pt",)
DEEPSPEED_FULL_MODEL = "global_step*/mp_rank_*_model_states.pt"
DEEPSPEED_ZERO3_MODEL = "global_step*/zero_pp_rank_*_model_states.pt"
_STEP = re.compile(r"^checkpoint-(\d+)$")
_TMP = re.compile(r"^tmp-checkpoint-(\d+)$")


def hf_step(name: str) -> int | None:
    match = _STEP.match(name)
    return whole(match.group(1)) if match else None


def parse_json_object(text: str | None) -> dict | None:
    """A JSON object, or None if the text is missing or not one."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def trainer_best_step(state: Mapping) -> int | None:
    """The step of the Trainer's ``best_model_checkpoint`` (a path ending in ``checkpoint-N``)."""
    path = state.get("best_model_checkpoint")
    if isinstance(path, str) and path:
        return hf_step(re.split(r"[\\/]", path.rstrip("/\\"))[-1])
    return None


class HfLayout(Layout):
    """transformers 5 (``Trainer._save_checkpoint``) saves into ``checkpoint-N/`` in place: the model,
    then optimizer, scheduler, scaler and RNG state, then ``trainer_state.json`` last. 4.36 to 4.x
    saved into ``tmp-checkpoint-N/`` and renamed it: both are read."""

    name = "hf"
    display_name = "Hugging Face Trainer/TRL"
    trainers = ("Hugging Face Trainer", "TRL")
    preference = 10
    summary = Summary(
        checkpoint="`checkpoint-{step}/` (DeepSpeed tags inside stay one run)",
        complete="`trainer_state.json` written (the Trainer writes it last); not `tmp-checkpoint-*`",
        kept="the Trainer's `best_model_checkpoint`",
        metrics="`trainer_state.json`'s `log_history`")
    reads_event_files = False
    reads_step_folders = True
    unfinished_evidence = "tmp-checkpoint-N: the Trainer renames it to checkpoint-N when the save is done"

    def step(self, name: str) -> int | None:
        return hf_step(name)

    def in_progress_step(self, name: str) -> int | None:
        match = _TMP.match(name)
        return whole(match.group(1)) if match else None

    def checkpoint_name(self, step: int, like: str = "") -> str:
        return f"checkpoint-{step}"

    def training_state(self, files: Sequence[tuple[str, int]]) -> TrainingState:
        return hf_training_state(files)

    def side_files(self, steps: Mapping[str, int], with_metrics: bool = True) -> list[str]:
        newest = max(steps.items(), key=lambda item: item[1], default=None)
        return [f"{newest[0]}/{STATE}"] if newest else []

    def newest_state(self, steps: Mapping[str, int], files: RunFiles) -> dict | None:
        """The readable ``trainer_state.json`` with the highest step: it holds the whole log."""
        for _, name in sorted(((s, n) for n, s in steps.items()), reverse=True):
            state = parse_json_object(files.read_text(f"{name}/{STATE}", STATE_LIMIT))
            if state is not None:
                return state
        return None

    def inspect(self, steps: Mapping[str, int], files: RunFiles, with_metrics: bool = True) -> Inspection:
        found = Inspection()
        saved = {name: step for name, step in steps.items() if STATE in files.children(name)}
        for name in steps.keys() - saved.keys():
            found.incomplete(name, f"no {STATE} yet (the Trainer writes it last)")
        newest = max(saved, key=saved.__getitem__, default=None)
        if newest is not None and not _whole_state(files.read_text(f"{newest}/{STATE}", STATE_LIMIT)):
            found.incomplete(newest, f"{STATE} not whole yet (the Trainer writes it last)")
            del saved[newest]
        for name in saved:
            found.attest(name, f"{STATE} written (the Trainer writes it last)")
        for name, weights in files.weights(list(saved)).items():
            if weights.problems:
                found.incomplete(name, weights.verdict())
        state = self.newest_state(steps, files)
        if state is None:
            return found
        best = trainer_best_step(state)
        if best is not None and best in steps.values():
            found.protect(best, TRAINER_BEST)
        log = state.get("log_history")
        if with_metrics and isinstance(log, list):
            found.metrics = metrics_from_records(r for r in log if isinstance(r, dict))
        return found


HF = register(HfLayout())


def _whole_state(text: str | None) -> bool:
    """Whether ``trainer_state.json`` reads as one JSON object; a file too big or unreadable to read
    says nothing against the save (its presence is the evidence)."""
    return text is None or parse_json_object(text) is not None


def hf_training_state(files: Sequence[tuple[str, int]]) -> TrainingState:
    """Optimizer, scheduler, scaler and RNG state; DeepSpeed's optimizer shards where its model
    states hold the whole model. Under ZeRO-3 the weights live in the optimizer shards: refused."""
    state = matching_state(files, TRAINING_STATE)
    deepspeed = matching_state(files, DEEPSPEED_OPTIMIZER)
    if deepspeed.files:
        if matching_state(files, (DEEPSPEED_ZERO3_MODEL,)).files:
            return TrainingState(refusal="DeepSpeed ZeRO-3 keeps the weights in its optimizer shards; "
                                         "removing them would lose the model")
        if not matching_state(files, (DEEPSPEED_FULL_MODEL,)).files:
            return TrainingState(refusal="DeepSpeed optimizer shards without the model states that "
                                         "hold the weights; not slimmed")
    return TrainingState(state.files + deepspeed.files, state.bytes + deepspeed.bytes)
