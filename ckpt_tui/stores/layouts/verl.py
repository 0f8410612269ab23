"""verl: ``{default_local_dir}/global_step_{N}/`` (``actor/``, ``critic/``, ``data.pt``) and the tracker."""

from __future__ import annotations

import re

from .base import Layout, whole
from .megatron import TRACKER

_STEP = re.compile(r"^global_step_(\d+)$")


class VerlLayout(Layout):
    name = "verl"
    tracker = TRACKER
    complete_evidence = f"no {TRACKER} to check against"

    def step(self, name: str) -> int | None:
        match = _STEP.match(name)
        return whole(match.group(1)) if match else None

    def checkpoint_name(self, step: int, like: str = "") -> str:
        return f"global_step_{step}"


VERL = VerlLayout()
