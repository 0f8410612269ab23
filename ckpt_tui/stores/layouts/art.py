"""OpenPipe ART: ``{base}/{project}/models/{model}/checkpoints/{step:04d}/`` and ``history.jsonl``.

ART's pre-2025 layout, with the step folders directly in the model folder, is
read too (``art-legacy``). Runs are found by the project's ``models/`` folder,
not by detection: a model with no checkpoint yet is still a run.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from ...core.models import TrainingState
from .base import Inspection, Layout, RunFiles, Summary, register

MODELS = "models"
CHECKPOINTS = "checkpoints"
HISTORY = "history.jsonl"
WHOLE = "weights whole (ART writes no completion marker)"
# Files and folders of an ART model folder that are never checkpoints.


def art_step(name: str) -> int | None:
    """The step of an ART step folder name (``0012`` -> 12), else None."""
    return int(name) if name.isascii() and name.isdigit() else None


def art_name(step: int) -> str:
    return f"{step:04d}"


class ArtLayout(Layout):
    """ART writes no completion marker: a step is whole once it holds more than configs (the
    weights), none of its ``.safetensors`` files is shorter than its header promises, and it has
    settled."""

    display_name = "ART"
    trainers = ("OpenPipe ART",)
    preference = 0
    summary = Summary(
        checkpoint="`{project}/models/{model}/checkpoints/0012/`",
        complete="more than configs (weights), none cut short, settled (ART writes no marker)",
        kept="",
        metrics="`history.jsonl`")
    runs_folder = MODELS  # a model with no checkpoint yet is still a run
    reference = True
    history_file = HISTORY
    reads_event_files = False
    complete_evidence = "ART writes no completion marker"  # where a load did not look inside the steps
    fork_container = CHECKPOINTS

    def __init__(self, name: str = "art") -> None:
        self.name = name

    def step(self, name: str) -> int | None:
        return art_step(name)

    def checkpoint_name(self, step: int, like: str = "") -> str:
        return art_name(step)

    def settles(self, name: str) -> bool:
        return True

    def variants(self) -> tuple[Layout, ...]:
        return (ART, ART_LEGACY)

    def settle(self, folders: Collection[str], links: Collection[str]) -> tuple[str, Layout]:
        """``checkpoints/`` (a link too: it is then noted, never followed) or, pre-2025, the model
        folder itself when step folders are there instead."""
        if CHECKPOINTS not in {*folders, *links} and any(art_step(name) is not None for name in folders):
            return "", ART_LEGACY
        return CHECKPOINTS, ART

    def fork_layout(self, like: str) -> Layout:
        return ART

    def training_state(self, files: Sequence[tuple[str, int]]) -> TrainingState:
        return TrainingState(refusal="ART LoRA checkpoints hold no training state; nothing to slim")

    def side_files(self, steps: Mapping[str, int], with_metrics: bool = True) -> list[str]:
        return []  # the history is read from the run folder, once

    def inspect(self, steps: Mapping[str, int], files: RunFiles, with_metrics: bool = True) -> Inspection:
        found = Inspection()
        evidence = found.evidence  # a fresh one: each step is judged once below
        for name, weights in files.weights(list(steps)).items():
            if weights.payload and not weights.problems:  # the usual step, whole: ``judge`` made short
                evidence[name] = WHOLE
                continue
            problem = weights.verdict()
            found.judge(name, not problem, problem or WHOLE)
        if with_metrics:
            metrics = files.read_run_metrics(HISTORY)  # streamed: a history of any size
            if metrics is not None:
                found.metrics = metrics
        return found


ART = register(ArtLayout())
ART_LEGACY = ArtLayout("art-legacy")  # a variant ART runs settle into, never registered itself
