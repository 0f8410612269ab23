"""NeMo 2: ``<log_dir>/<name>/<version>/checkpoints/`` folders named by ``name=value`` pairs.

The recipes' template ``{model_name}--{val_loss:.2f}-{step}-{consumed_samples}``
gives ``model_name=0--val_loss=2.08-step=19-consumed_samples=160.0``: pairs
joined by ``-``, ``--`` after the model name. Each folder holds ``weights/``
(a DCP save) and ``context/``. A ``-last`` copy of the latest checkpoint is
what NeMo resumes from. While a save (or a top-k removal) is under way, NeMo
keeps a sibling file ``{folder}-unfinished``, removed when it is done.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from ...core.lazy_pattern import LazyPattern
from ...core.metrics import metrics_from_records
from ...core.models import Pending
from .base import Inspection, Layout, RunFiles, Summary, register
from .lightning import NUMBER

LAST_SUFFIX = "-last"
UNFINISHED_SUFFIX = "-unfinished"
WEIGHTS, CONTEXT = "weights", "context"
LAST_REASON = "-last (NeMo resumes from it)"
_PAIRS = re.compile(rf"^[A-Za-z_]\w*=(?:{NUMBER})(?:-[A-Za-z_]\w*=(?:{NUMBER}))*$")
_PAIR = LazyPattern(rf"([A-Za-z_]\w*)=({NUMBER})")


def nemo_values(name: str) -> dict[str, float]:
    """``model_name=0--val_loss=2.08-step=19-consumed_samples=160.0[-last]`` ->
    {'val_loss': 2.08, 'step': 19.0, 'consumed_samples': 160.0}; {} for other names."""
    pairs = name.removesuffix(LAST_SUFFIX).rpartition("--")[2]  # what precedes ``--`` names the model
    if not _PAIRS.match(pairs):
        return {}
    return {key: float(value) for key, value in _PAIR.findall(pairs)}


class NemoLayout(Layout):
    name = "nemo2"
    display_name = "NeMo 2"
    trainers = ("NeMo 2",)
    preference = 80
    summary = Summary(
        checkpoint="`model--val_loss=0.12-step=400-consumed_samples=3200.0/`, its `-last` copy",
        complete="no sibling `{name}-unfinished`; `weights/`, `context/`",
        kept="the `-last` checkpoint",
        metrics="the folder name")
    reads_step_folders = True
    trusts_names = False
    fork_container = "checkpoints"

    def step(self, name: str) -> int | None:
        step = nemo_values(name).get("step")
        return int(step) if step is not None and step.is_integer() and step >= 0 else None

    def confirms(self, children: Collection[str]) -> bool:
        return WEIGHTS in children or CONTEXT in children

    def checkpoint_name(self, step: int, like: str = "") -> str:
        return like if self.step(like) == step else f"step={step}"

    def inspect(self, steps: Mapping[str, int], files: RunFiles, with_metrics: bool = True) -> Inspection:
        found = Inspection()
        names = files.names()
        for name, step in steps.items():
            marker = f"{name}{UNFINISHED_SUFFIX}"
            missing = [part for part in (WEIGHTS, CONTEXT) if part not in files.children(name)]
            if marker in names:
                found.incomplete(name, f"{marker} exists (NeMo removes it when the save is done)",
                                 Pending.SAVE_IN_PROGRESS)
            elif missing:
                found.incomplete(name, f"no {' or '.join(p + '/' for p in missing)}")
            else:
                found.attest(name, f"no {UNFINISHED_SUFFIX} marker; {WEIGHTS}/ and {CONTEXT}/ present")
            if name.endswith(LAST_SUFFIX):
                found.protect(step, LAST_REASON, resume=True)
        if with_metrics:
            found.metrics = metrics_from_records({**nemo_values(n), "step": s} for n, s in steps.items())
        return found


NEMO = register(NemoLayout())
