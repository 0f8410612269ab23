"""PyTorch Lightning: ``epoch=E-step=S[-metric=V].ckpt`` files (or folders, for sharded saves).

``last.ckpt`` (a copy or a link) is never a step: it is left alone, and the
checkpoint it links to is protected.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from ...core.metrics import metrics_from_records
from ...core.models import TrainingState
from .base import TRAINER_BEST, Inspection, Layout, RunFiles

SUFFIX = ".ckpt"
LAST = "last"
BEST_K = "best_k_models.yaml"
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf)"
_PAIR = re.compile(rf"(?:^|-)([A-Za-z_][\w.]*)=({_NUMBER})(?=-|$)")
_VERSION = re.compile(r"-v\d+$")


def lightning_values(name: str) -> dict[str, float]:
    """``epoch=2-step=300-val_loss=0.12.ckpt`` -> {'epoch': 2, 'step': 300, 'val_loss': 0.12}."""
    if not name.endswith(SUFFIX):
        return {}
    stem = _VERSION.sub("", name[: -len(SUFFIX)])
    return {key: float(value) for key, value in _PAIR.findall(stem)}


def parse_best_k(text: str | None) -> list[str]:
    """File names listed in ``best_k_models.yaml`` (``{path: score}`` written by ``ModelCheckpoint.to_yaml``)."""
    names = []
    for line in (text or "").splitlines():
        key = line.split(": ", 1)[0].strip().strip("'\"")
        if key.endswith(SUFFIX):
            names.append(re.split(r"[\\/]", key)[-1])
    return names


class LightningLayout(Layout):
    name = "lightning"
    step_kind = "any"

    def step(self, name: str) -> int | None:
        if name.startswith(LAST):
            return None
        step = lightning_values(name).get("step")
        return int(step) if step is not None and step.is_integer() and step >= 0 else None

    def checkpoint_name(self, step: int, like: str = "") -> str:
        return like if self.step(like) == step else f"step={step}{SUFFIX}"

    def training_state(self, files: Sequence[tuple[str, int]]) -> TrainingState:
        return TrainingState(refusal="a Lightning .ckpt holds weights and optimizer state in one file; "
                                     "it cannot be slimmed in place")

    def side_files(self, steps: Mapping[str, int], with_metrics: bool = True) -> list[str]:
        return [BEST_K]

    def inspect(self, steps: Mapping[str, int], files: RunFiles, with_metrics: bool = True) -> Inspection:
        found = Inspection()
        target = files.link_target(f"{LAST}{SUFFIX}")
        if target in steps:
            found.protect(steps[target], f"{LAST}{SUFFIX}", resume=True)
        for name in parse_best_k(files.read_text(BEST_K)):
            if name in steps:
                found.protect(steps[name], TRAINER_BEST)
        if with_metrics:
            records = [{**lightning_values(name), "step": step} for name, step in steps.items()]
            found.metrics = metrics_from_records(records)
        return found


LIGHTNING = LightningLayout()
