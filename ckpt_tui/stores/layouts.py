"""Where trainers put things: names of step checkpoints and of the files beside them.

Pure name logic, shared by every store (a layout does not care whether it sits
on a disk or in a bucket).
"""

from __future__ import annotations

import re

# OpenPipe ART: {base}/{project}/models/{model}/checkpoints/{step:04d}/
ART_MODELS = "models"
ART_CHECKPOINTS = "checkpoints"
ART_HISTORY = "history.jsonl"
# Files and folders of an ART model directory that are never checkpoints.
ART_NOT_CHECKPOINTS = frozenset({ART_HISTORY, "state.json", "model.json", "trajectories", "logs", "tensors"})

DELETING_PREFIX = ".deleting-"
FORKING_PREFIX = ".forking-"
_LEFTOVER = re.compile(r"^\.(deleting|forking)-(\d+)-")


def art_step(name: str) -> int | None:
    """The step of an ART step directory name (``0012`` -> 12), else None."""
    return int(name) if name.isascii() and name.isdigit() else None


def art_name(step: int) -> str:
    return f"{step:04d}"


def leftover_step(name: str) -> tuple[str, int] | None:
    """('deleting'|'forking', step) for the leftovers of an interrupted operation."""
    match = _LEFTOVER.match(name)
    return (match.group(1), int(match.group(2))) if match else None
