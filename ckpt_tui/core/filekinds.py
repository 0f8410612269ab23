"""What each file of a checkpoint is: weights, optimizer, scheduler, RNG, config...

By name, as the trainers write them (Hugging Face, DeepSpeed, Megatron, ART/PEFT,
Lightning, torchtune, DCP, Orbax), and by what the layout found to be training
state (``Checkpoint.state``), so that a user sees what slimming frees.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .models import FileEntry, TrainingState

# First match wins: specific training state before the generic weights.
KINDS: tuple[tuple[str, re.Pattern[str]], ...] = tuple((kind, re.compile(pattern, re.IGNORECASE)) for kind, pattern in (
    ("weights + optimizer", r"(model_optim_rng\.pt|\.ckpt)$"),
    ("optimizer", r"(optim|optimizer)[^/]*$"),
    ("scheduler", r"(scheduler|lr_sched)[^/]*$"),
    ("RNG", r"rng[^/]*$"),
    ("grad scaler", r"scaler\.pt$"),
    ("trainer state", r"(trainer_state\.json|training_args\.bin|extra_state[^/]*|latest)$"),
    ("tokenizer", r"(tokenizer[^/]*|vocab[^/]*|merges\.txt|special_tokens_map\.json|\.model)$"),
    ("config", r"(config[^/]*\.json|\.ya?ml|generation_config\.json|\.metadata|_METADATA|metadata[^/]*)$"),
    ("weights", r"(\.safetensors|\.bin|\.pt|\.pth|\.distcp|\.npz|\.msgpack|model[^/]*|adapter[^/]*)$"),
))
TRAINING_STATE_KINDS = ("optimizer", "scheduler", "RNG", "grad scaler")


def file_kind(path: str, state: TrainingState | None = None) -> str:
    """What ``path`` (relative to its checkpoint) holds; ``state`` names the training state
    its layout found, which slimming removes."""
    for kind, pattern in KINDS:
        if pattern.search(path):
            if state is not None and path in state.files and kind not in TRAINING_STATE_KINDS:
                return "training state"
            return kind
    return "training state" if state is not None and path in state.files else "other"


def by_size(files: Iterable[FileEntry], state: TrainingState | None = None) -> list[tuple[str, int, str]]:
    """``(path, bytes, kind)``, largest first, as ncdu lists a folder."""
    return sorted(((f.path, f.bytes, file_kind(f.path, state)) for f in files), key=lambda row: (-row[1], row[0]))
