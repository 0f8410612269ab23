"""NeMo-RL: ``{checkpoint_dir}/step_{N}/`` written by ``nemo_rl.utils.checkpoint.CheckpointManager``.

``init_tmp_checkpoint`` creates ``tmp_step_{N}/`` with ``training_info.json`` (the
algorithm's save state: ``total_steps``, ``consumed_samples``, and the metric
``keep_top_k`` ranks by, such as ``val:reward``) and ``config.yaml``; the
algorithm writes ``policy/{weights,optimizer,tokenizer}/`` (and ``value/`` for
PPO) and ``train_dataloader.pt`` there; ``_rename_checkpoint`` then renames it
to ``step_{N}``, moving an existing ``step_{N}`` aside to ``old_step_{N}`` for
the swap. So ``step_{N}`` is complete, ``tmp_step_{N}`` is a save in progress
and ``old_step_{N}`` the copy a swap is replacing. Metrics are each step's
``training_info.json``. NeMo-RL resumes from the highest ``step_{N}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

from ...core.metrics import metrics_from_records
from ...core.models import TrainingState
from .base import Inspection, Layout, RunFiles, Summary, register, whole

INFO = "training_info.json"
_STEP = re.compile(r"^step_(?P<step>\d+)$")
_UNFINISHED = re.compile(r"^(?:tmp|old)_step_(\d+)$")
# What only resuming needs: the optimizer folders (DCP shards or torch files inside).
OPTIMIZER_FOLDERS = ("policy/optimizer/", "value/optimizer/")


class NemoRlLayout(Layout):
    name = "nemo-rl"
    display_name = "NeMo-RL"
    trainers = ("NeMo-RL",)
    preference = 140
    summary = Summary(
        checkpoint="`step_{N}/` with `training_info.json`",
        complete="not `tmp_step_N` / `old_step_N` (renamed when done)",
        kept="",
        metrics="each step's `training_info.json`")
    step_pattern = _STEP
    trusts_names = False  # step_N is also DCP's name: NeMo-RL's hold training_info.json
    markers = frozenset({INFO})
    complete_evidence = "step_N: CheckpointManager renames tmp_step_N to it when every file is written"
    unfinished_evidence = ("tmp_step_N: CheckpointManager renames it to step_N when the save is done "
                           "(old_step_N: the previous step_N while a save replaces it)")

    def in_progress_step(self, name: str) -> int | None:
        match = _UNFINISHED.match(name)
        return whole(match.group(1)) if match else None

    def checkpoint_name(self, step: int, like: str = "") -> str:
        return f"step_{step}"

    def training_state(self, files: Sequence[tuple[str, int]]) -> TrainingState:
        found = [(path, size) for path, size in files if path.startswith(OPTIMIZER_FOLDERS)]
        return TrainingState(tuple(sorted(p for p, _ in found)), sum(s for _, s in found))

    def side_files(self, steps: Mapping[str, int], with_metrics: bool = True) -> list[str]:
        return [f"{name}/{INFO}" for name in steps] if with_metrics else []

    def inspect(self, steps: Mapping[str, int], files: RunFiles, with_metrics: bool = True) -> Inspection:
        found = Inspection()
        if with_metrics:
            records = []
            for name, step in steps.items():
                try:
                    info = json.loads(files.read_text(f"{name}/{INFO}") or "null")
                except ValueError:
                    info = None
                if isinstance(info, dict):
                    records.append({**{k: v for k, v in info.items() if k != "step"}, "step": step})
            found.metrics = metrics_from_records(records)
        return found


NEMO_RL = register(NemoRlLayout())
