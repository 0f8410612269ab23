"""torch.distributed.checkpoint (DCP): ``step_N/`` or ``step-N/`` folders of ``__{rank}_{i}.distcp`` files.

A DCP save is complete once its coordinator has renamed ``.metadata.tmp`` to
``.metadata`` (written last); torchtitan and torchtune resume by exactly that
test. Megatron's ``torch_dist`` iterations, torchtune's ``dist_epoch_N`` and
NeMo 2's ``weights/`` are DCP saves too: their layouts use ``dcp_verdict``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from .base import Inspection, Layout, RunFiles, Summary, register

METADATA = ".metadata"
METADATA_TMP = ".metadata.tmp"
SHARD_SUFFIX = ".distcp"
_STEP = re.compile(r"^step(?P<sep>[_-])(?P<step>\d+)$")


def holds_dcp(children: Collection[str]) -> bool:
    """Whether a folder holds any file of a DCP save."""
    return any(n in (METADATA, METADATA_TMP) or n.endswith(SHARD_SUFFIX) for n in children)


def dcp_verdict(children: Collection[str]) -> tuple[bool, str]:
    """(complete, why) for the files of one DCP save folder."""
    shards = sum(1 for n in children if n.endswith(SHARD_SUFFIX))
    if METADATA in children:
        return True, f"{METADATA} written ({shards} {SHARD_SUFFIX} file(s))"
    if METADATA_TMP in children:
        return False, f"{METADATA_TMP} without {METADATA}: DCP renames it last, when the save is done"
    return False, f"no {METADATA} (DCP writes it last, when the save is done)"


class DcpLayout(Layout):
    name = "dcp"
    display_name = "PyTorch DCP"
    trainers = ("torch.distributed.checkpoint", "torchtitan")
    preference = 100
    summary = Summary(
        checkpoint="`step_{step}/`, `step-{step}/` of `*.distcp`",
        complete="`.metadata` written",
        kept="",
        metrics="TensorBoard event files")
    reads_step_folders = True
    trusts_names = False
    step_pattern = _STEP

    def confirms(self, children: Collection[str]) -> bool:
        return holds_dcp(children)

    def checkpoint_name(self, step: int, like: str = "") -> str:
        match = _STEP.match(like)
        return f"step{match.group('sep') if match else '_'}{step}"

    def inspect(self, steps: Mapping[str, int], files: RunFiles, with_metrics: bool = True) -> Inspection:
        found = Inspection()
        for name in steps:
            found.judge(name, *dcp_verdict(files.children(name)))
        return found


DCP = register(DcpLayout())
