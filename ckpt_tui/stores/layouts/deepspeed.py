"""DeepSpeed: ``{save_dir}/global_step{N}/`` tags and the ``latest`` file naming the last finished one.

``save_checkpoint`` writes ``mp_rank_XX_model_states.pt`` (ZeRO-3:
``zero_pp_rank_{dp}_mp_rank_XX_model_states.pt``) and, with ZeRO,
``[bf16_]zero_pp_rank_{dp}_mp_rank_XX_optim_states.pt`` per rank, then rank 0
writes ``latest`` (the tag, no newline). There is no other marker: a tag newer
than ``latest``, missing a shard the tag in ``latest`` has, or any tag while no
``latest`` names one yet (a first save in progress), is unfinished.
``zero_to_fp32.py`` beside the tags is never a step. Under the Hugging Face
Trainer the tags sit inside ``checkpoint-N/``: that stays one ``hf`` run.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from ...core.lazy_pattern import LazyPattern
from .base import Inspection, Layout, RunFiles, Summary, apply_tracker, register, untracked

LATEST = "latest"
LATEST_REASON = "latest file"
_STEP = re.compile(r"^global_step(?P<step>\d+)$")
# (kind, data-parallel rank or None, model-parallel rank) of a shard file.
_SHARD = LazyPattern(r"^(?:bf16_)?(?:zero_pp_rank_(?P<dp>\d+)_)?mp_rank_(?P<mp>\d+)_(?P<kind>model|optim)_states\.pt$")


def shards(children: Collection[str]) -> set[str]:
    return {n for n in children if _SHARD.match(n)}


def missing_ranks(names: Collection[str]) -> list[str]:
    """Ranks absent between 0 and the highest one seen, per kind of shard (a world of N writes 0..N-1)."""
    seen: dict[tuple[str, str], set[int]] = {}
    for name in names:
        match = _SHARD.match(name)
        if match:
            for axis in ("dp", "mp"):
                if match.group(axis) is not None:
                    seen.setdefault((match.group("kind"), axis), set()).add(int(match.group(axis)))
    return [f"{kind} states of {axis} rank {rank}" for (kind, axis), ranks in sorted(seen.items())
            for rank in range(max(ranks)) if rank not in ranks]


def shard_problem(children: Collection[str], reference: Collection[str] | None, tag: str) -> str:
    """Why a tag's shards are not all there ("" when they are)."""
    have = shards(children)
    if not any(_SHARD.match(n).group("kind") == "model" for n in have):
        return "no model states file"
    if reference is not None and (missing := sorted(shards(reference) - have)):
        return f"missing {', '.join(missing)} (which {tag}, named by {LATEST}, has)"
    if gaps := missing_ranks(have):
        return "missing " + ", ".join(gaps)
    return ""


class DeepSpeedLayout(Layout):
    name = "deepspeed"
    display_name = "DeepSpeed"
    trainers = ("DeepSpeed",)
    preference = 60
    summary = Summary(
        checkpoint="`global_step{step}/`",
        complete=("not newer than the tag in `latest` (none yet: nothing); every shard the tag in "
                  "`latest` has"),
        kept="the tag in `latest`; `zero_to_fp32.py`",
        metrics="TensorBoard event files")
    tracker = LATEST
    reads_step_folders = True
    step_pattern = _STEP

    def checkpoint_name(self, step: int, like: str = "") -> str:
        return f"global_step{step}"

    def tracker_text(self, step: int) -> str:
        return self.checkpoint_name(step)  # DeepSpeed writes the tag without a newline

    def inspect(self, steps: Mapping[str, int], files: RunFiles, with_metrics: bool = True) -> Inspection:
        found = Inspection()
        tag = (files.read_text(LATEST) or "").strip()
        tracked = steps.get(tag)
        reference = files.children(tag) if tracked is not None else None
        apply_tracker(found, steps, self.step(tag) if tag else None, LATEST, LATEST_REASON)
        if self.step(tag) is None:
            untracked(found, steps, LATEST)
        for name in steps:
            children = files.children(name)
            problem = shard_problem(children, reference, tag)
            if problem:
                found.incomplete(name, problem)
            else:
                found.attest(name, f"{len(shards(children))} shard file(s), no rank missing")
        return found


DEEPSPEED = register(DeepSpeedLayout())
