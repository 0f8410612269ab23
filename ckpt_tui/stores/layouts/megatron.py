"""Megatron-LM and slime: ``{save}/iter_{step:07d}/`` and ``latest_checkpointed_iteration.txt``.

An iteration in the ``torch_dist`` format (``common.pt``, ``*.distcp``) is
complete once Megatron has written ``metadata.json`` after the DCP save (and
DCP its ``.metadata``), even below the tracker: a job that crashed while
saving 30, restarted from 20 and saved 40 leaves a broken ``iter_0000030``.
The legacy format (``mp_rank_00/model_optim_rng.pt``) has no such file: the
tracker tells (it is written after every save: before the first one exists, no
legacy iteration is known whole), and each ``model_optim_rng.pt`` must be a
whole ``torch.save`` archive.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence

from ...core.models import TrainingState
from .base import Inspection, Layout, RunFiles, Summary, apply_tracker, parse_tracker, register, untracked
from .dcp import METADATA, dcp_verdict, holds_dcp

TRACKER = "latest_checkpointed_iteration.txt"
DIST_METADATA = "metadata.json"
COMMON = "common.pt"
LEGACY_WEIGHTS = "mp_rank_*/model_optim_rng.pt"
_STEP = re.compile(r"^iter_(\d{7,})$")


def torch_dist_problem(children: Collection[str]) -> str | None:
    """Why a ``torch_dist`` iteration is unfinished, "" when it is whole, None for the legacy format."""
    if not (holds_dcp(children) or COMMON in children or DIST_METADATA in children):
        return None
    if DIST_METADATA not in children:
        return f"no {DIST_METADATA} (Megatron writes it last, after the sharded save)"
    complete, why = dcp_verdict(children)
    return "" if complete else why


class MegatronLayout(Layout):
    """The tracker names the last finished save (written last): it is protected, later ones are unfinished."""

    name = "megatron"
    display_name = "Megatron-LM/slime"
    trainers = ("Megatron-LM", "slime")
    preference = 20
    summary = Summary(
        checkpoint="`iter_{step:07d}/`",
        complete=("not newer than the tracker (none yet: no legacy iteration); `torch_dist`: "
                  "`metadata.json` and `.metadata`"),
        kept="the step in `latest_checkpointed_iteration.txt`",
        metrics="TensorBoard event files")
    tracker = TRACKER
    reads_step_folders = True

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

    def inspect(self, steps: Mapping[str, int], files: RunFiles, with_metrics: bool = True) -> Inspection:
        found = Inspection()
        tracked = parse_tracker(files.read_text(TRACKER))
        apply_tracker(found, steps, tracked, TRACKER)
        legacy = []
        for name in steps:
            problem = torch_dist_problem(files.children(name))
            if problem:
                found.incomplete(name, problem)
            elif problem == "":
                found.attest(name, f"{DIST_METADATA} and {METADATA} written")
            else:
                legacy.append(name)
        if tracked is None:  # a legacy iteration has no evidence of its own: the tracker is written after it
            untracked(found, legacy, TRACKER)
        for name, weights in files.weights(legacy, archives=True).items():
            problem = weights.verdict(LEGACY_WEIGHTS)
            if problem:
                found.incomplete(name, problem)
        return found


MEGATRON = register(MegatronLayout())
