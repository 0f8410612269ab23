"""OpenRLHF: DeepSpeed tags written by ``DeepspeedStrategy.save_ckpt`` and the HF exports beside them.

``save_ckpt`` (openrlhf/utils/deepspeed/deepspeed.py) rotates the folders of
``save_dir`` (``max_num``, ``max_mem``), calls DeepSpeed's ``save_checkpoint``
(``global_step{N}/`` shards and ``latest``), then writes ``metric.json``
(``{"metric_key", "metric_value"}``) into the tag. ``best_global_step{N}`` tags
(PPO's best by its evaluation metric) are never rotated: they are kept here too.
With ``--ckpt.save_hf`` the trainers also write ``global_step{N}_hf/`` (``save_model``:
``config.json`` and safetensors weights), in ``ckpt.path`` beside the tags (SFT,
DPO, RM) or beside ``_actor/`` (PPO): those exports are checkpoints of step N too,
offered to the rules with their tag. A tag is OpenRLHF's only with its
``metric.json``; the DeepSpeed rules (``latest``, shard ranks) judge it whole.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping, Sequence

from ...core.metrics import metrics_from_records
from ...core.models import TrainingState
from .base import Inspection, Layout, RunFiles, Summary, matching_state, register, whole
from .deepspeed import DEEPSPEED, LATEST

METRIC = "metric.json"
EXPORT_SUFFIX = "_hf"
BEST_PREFIX = "best_"
BEST_REASON = "OpenRLHF's best (save_ckpt never rotates best_ tags)"
_STEP = re.compile(r"^(?P<best>best_)?global_step(?P<step>\d+)(?P<hf>_hf)?$")
OPTIMIZER_STATES = ("*_optim_states.pt",)


def is_export(name: str) -> bool:
    return name.endswith(EXPORT_SUFFIX)


def holds_export(children: Collection[str]) -> bool:
    return "config.json" in children and any(n.endswith((".safetensors", ".bin")) for n in children)


class OpenRlhfLayout(Layout):
    name = "openrlhf"
    display_name = "OpenRLHF"
    trainers = ("OpenRLHF",)
    preference = 50
    summary = Summary(
        checkpoint="`global_step{N}/` with `metric.json`, its `global_step{N}_hf/` export",
        complete="DeepSpeed's rules (`latest`, every shard)",
        kept="the tag in `latest`, `best_global_step{N}`",
        metrics="`metric.json`")
    tracker = LATEST
    markers = frozenset({METRIC, "config.json"})
    complete_evidence = f"{METRIC} written (save_ckpt writes it after DeepSpeed's save)"

    def step(self, name: str) -> int | None:
        match = _STEP.match(name)
        return whole(match.group("step")) if match else None

    def confirms(self, children: Collection[str]) -> bool:
        return METRIC in children or holds_export(children)

    def accepts_run(self, steps: Mapping[str, int]) -> bool:
        # Exports alone (PPO's ckpt.path, whose tags are in _actor/) are not an OpenRLHF run.
        return any(not is_export(name) for name in steps)

    def checkpoint_name(self, step: int, like: str = "") -> str:
        return f"global_step{step}{EXPORT_SUFFIX if is_export(like) else ''}"

    def tracker_text(self, step: int) -> str:
        return DEEPSPEED.tracker_text(step)

    def training_state(self, files: Sequence[tuple[str, int]]) -> TrainingState:
        return matching_state(files, OPTIMIZER_STATES)

    def side_files(self, steps: Mapping[str, int], with_metrics: bool = True) -> list[str]:
        return [LATEST] + ([f"{n}/{METRIC}" for n in steps if not is_export(n)] if with_metrics else [])

    def inspect(self, steps: Mapping[str, int], files: RunFiles, with_metrics: bool = True) -> Inspection:
        tags = {n: s for n, s in steps.items() if not is_export(n)}
        found = DEEPSPEED.inspect(tags, files, with_metrics)
        records = []
        for name, step in steps.items():
            if is_export(name):
                children = files.children(name)
                found.judge(name, holds_export(children), "HF export (save_model): config.json and weights"
                            if holds_export(children) else "HF export without config.json or weights")
                continue
            if name.startswith(BEST_PREFIX):
                found.protect(step, BEST_REASON)
            if with_metrics:
                records.append({**self.metric(files.read_text(f"{name}/{METRIC}")), "step": step})
        if with_metrics:
            found.metrics = metrics_from_records(records)
        return found

    @staticmethod
    def metric(text: str | None) -> dict:
        try:
            payload = json.loads(text or "null")
        except ValueError:
            return {}
        if not isinstance(payload, dict) or not isinstance(payload.get("metric_value"), (int, float)):
            return {}
        return {str(payload.get("metric_key") or "metric"): payload["metric_value"]}


OPENRLHF = register(OpenRlhfLayout())
