"""prime-rl: ``{output_dir}/checkpoints/step_{N}/`` (prime_rl.trainer.ckpt.CheckpointManager).

``trainer/`` is a DCP save of the model, optimizers, scheduler and progress
(``dcp_save(state, checkpoint_id=step_N/trainer)``) with ``trainer/dataloader/rank_{r}.pt``
beside the shards; complete once DCP's ``.metadata`` is written. HF weights saved
for the inference side go to ``step_N/weight/``, and ``step_N/STABLE`` marks them
complete (the orchestrator loads them only then). prime-rl resumes from the
highest ``step_N``. ``maybe_clean`` keeps the last ``keep_last`` steps and every
multiple of ``keep_interval`` (``--keep last:N,every:K``). Slimming removes
``trainer/``: the weights stay when ``weight/`` is complete.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence

from ...core.models import TrainingState
from .base import Inspection, Layout, RunFiles, Summary, register
from .dcp import METADATA

TRAINER = "trainer"
WEIGHTS = "weight"
STABLE = "STABLE"
_STEP = re.compile(r"^step_(?P<step>\d+)$")


class PrimeRlLayout(Layout):
    name = "prime-rl"
    display_name = "prime-rl"
    trainers = ("prime-rl",)
    preference = 150
    summary = Summary(
        checkpoint="`checkpoints/step_{N}/trainer/` (DCP), `weight/`",
        complete="`trainer/.metadata`; `weight/` with `STABLE`",
        kept="",
        metrics="TensorBoard event files")
    step_pattern = _STEP
    trusts_names = False  # step_N is also DCP's and NeMo-RL's name: prime-rl's hold trainer/
    markers = frozenset({TRAINER})
    fork_container = "checkpoints"

    def checkpoint_name(self, step: int, like: str = "") -> str:
        return f"step_{step}"

    def side_files(self, steps: Mapping[str, int], with_metrics: bool = True) -> list[str]:
        return [f"{name}/{TRAINER}/{METADATA}" for name in steps]

    def training_state(self, files: Sequence[tuple[str, int]]) -> TrainingState:
        paths = {path for path, _ in files}
        if f"{STABLE}" not in paths or not any(p.startswith(f"{WEIGHTS}/") for p in paths):
            return TrainingState(refusal=f"no complete {WEIGHTS}/ ({STABLE} marker): {TRAINER}/ holds the "
                                         "only copy of the weights")
        found = [(path, size) for path, size in files if path.startswith(f"{TRAINER}/")]
        return TrainingState(tuple(sorted(p for p, _ in found)), sum(s for _, s in found))

    def inspect(self, steps: Mapping[str, int], files: RunFiles, with_metrics: bool = True) -> Inspection:
        found = Inspection()
        for name in steps:
            if files.read_text(f"{name}/{TRAINER}/{METADATA}") is None:
                found.incomplete(name, f"no {TRAINER}/{METADATA} (DCP writes it last, when the save is done)")
                continue
            weights = self.weights_verdict(files.children(name))
            found.attest(name, f"{TRAINER}/{METADATA} written{weights}")
        return found

    @staticmethod
    def weights_verdict(children: Collection[str]) -> str:
        if WEIGHTS not in children:
            return ""
        return f"; {WEIGHTS}/ complete ({STABLE})" if STABLE in children else f"; {WEIGHTS}/ unfinished (no {STABLE})"


PRIME_RL = register(PrimeRlLayout())
