"""torchtune: ``{output_dir}/epoch_{N}/`` (Hugging Face format) and ``dist_epoch_{N}/`` (DCP).

``epoch_N`` holds ``model-0000K-of-0000M.safetensors`` shards and their index,
adapter files (``adapter_model.safetensors``, ``adapter_config.json``) and a
copied ``config.json``; torchtune writes no completion marker and resumes from
the largest ``epoch_N``, so the evidence is the shard count its names promise.
``dist_epoch_N`` (the asynchronous checkpointer) is complete once DCP's
``.metadata`` exists. ``recipe_state/recipe_state.pt`` is the resume state of
the latest epoch only: not a checkpoint, never deleted.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from ...core.lazy_pattern import LazyPattern
from .base import Inspection, Layout, RunFiles, Summary, register
from .dcp import dcp_verdict, holds_dcp
from .whole_files import WEIGHT_SUFFIXES

DIST = "dist_"
_STEP = re.compile(r"^(dist_)?epoch_(?P<step>\d+)$")
_SHARD = LazyPattern(r"^(?P<base>.+)-(?P<k>\d{5})-of-(?P<m>\d{5})\.(?:safetensors|bin)$")


def shard_verdict(children: Collection[str]) -> tuple[bool, str]:
    """(complete, why) from the ``-0000K-of-0000M`` names of an ``epoch_N`` folder."""
    groups: dict[tuple[str, int], set[int]] = {}
    for name in children:
        if match := _SHARD.match(name):
            groups.setdefault((match.group("base"), int(match.group("m"))), set()).add(int(match.group("k")))
    for (base, total), have in sorted(groups.items()):
        if len(have & set(range(1, total + 1))) < total:
            return False, f"{len(have)} of {total} {base} shards"
    found = ", ".join(f"{total} of {total} {base} shards" for (base, total) in sorted(groups))
    return True, (found or "no sharded weights") + " (torchtune writes no completion marker)"


class TorchtuneLayout(Layout):
    name = "torchtune"
    display_name = "torchtune"
    trainers = ("torchtune",)
    preference = 90
    summary = Summary(
        checkpoint="`epoch_{N}/`, `dist_epoch_{N}/` (the step is the epoch)",
        complete="every `model-0000K-of-0000M` shard, none cut short, settled; `dist_`: `.metadata`",
        kept="`recipe_state/`",
        metrics="TensorBoard event files")
    reads_step_folders = True
    trusts_names = False
    step_pattern = _STEP

    def confirms(self, children: Collection[str]) -> bool:
        return holds_dcp(children) or any(n.endswith(WEIGHT_SUFFIXES) for n in children)

    def checkpoint_name(self, step: int, like: str = "") -> str:
        return f"{DIST if like.startswith(DIST) else ''}epoch_{step}"

    def settles(self, name: str) -> bool:
        return not name.startswith(DIST)  # ``dist_epoch_N`` has DCP's ``.metadata``

    def inspect(self, steps: Mapping[str, int], files: RunFiles, with_metrics: bool = True) -> Inspection:
        found = Inspection()
        for name in steps:
            verdict = dcp_verdict if name.startswith(DIST) else shard_verdict
            found.judge(name, *verdict(files.children(name)))
        hf_format = [name for name in steps if not name.startswith(DIST) and name not in found.in_progress]
        for name, weights in files.weights(hf_format).items():
            if weights.problems:
                found.incomplete(name, weights.verdict())
        return found


TORCHTUNE = register(TorchtuneLayout())
