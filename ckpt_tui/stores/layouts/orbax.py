"""Orbax (JAX): ``{root}/{step}/`` or ``{root}/{prefix}_{step}/`` holding one of Orbax's own files.

Orbax writes a step under a temporary name and renames it when done:
``15.orbax-checkpoint-tmp`` (0.12; older versions add ``-{timestamp}``), its
items inside as ``default.orbax-checkpoint-tmp``. On GCS, where there is no
rename, it writes ``commit_success.txt`` last instead.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence

from ...core.metrics import metrics_from_records
from ...core.models import Pending
from .base import Inspection, Layout, RunFiles, Summary, register
from .hf import parse_json_object

METRICS = "metrics/metrics"
_STEP = re.compile(r"^(?:(?P<prefix>[A-Za-z][\w.-]*?)_)?(?P<step>\d+)$")
TMP_SUFFIX = ".orbax-checkpoint-tmp"
COMMIT = "commit_success.txt"
_TMP = re.compile(r"^(?P<name>.+)\.orbax-checkpoint-tmp(?:-\d+)?$")
# Written into every finished Orbax step folder (by one version or another).
MARKERS = frozenset({"_CHECKPOINT_METADATA", COMMIT, "metrics", "_METADATA", "manifest.ocdbt"})
# Prefixes other layouts use: never Orbax steps, so never looked into to find out.
NOT_ORBAX = ("iter", "global_step")


def orbax_parts(name: str) -> tuple[str, int] | None:
    """(prefix, step) of ``{step}`` or ``{prefix}_{step}``, else None."""
    match = _STEP.match(name)
    if not match or not match.group("step").isascii():
        return None
    return match.group("prefix") or "", int(match.group("step"))


def unfinished_items(children: Collection[str]) -> list[str]:
    return sorted(n for n in children if _TMP.match(n))


def may_be_orbax(name: str) -> bool:
    """Whether a folder of this name must be looked into to tell whether it is an Orbax step."""
    parts = orbax_parts(name)
    return parts is not None and parts[0] not in NOT_ORBAX


class OrbaxLayout(Layout):
    name = "orbax"
    display_name = "Orbax"
    trainers = ("Orbax",)
    preference = 1000
    summary = Summary(
        checkpoint="`{step}/`, `{prefix}_{step}/`",
        complete="not `*.orbax-checkpoint-tmp[-N]`, nor items inside",
        kept="",
        metrics="`metrics/metrics`")
    markers = MARKERS
    unfinished_evidence = f"a {TMP_SUFFIX} name: Orbax renames the step when the save is done"

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix

    def step(self, name: str) -> int | None:
        parts = orbax_parts(name)
        return parts[1] if parts and parts[0] == self.prefix else None

    def in_progress_step(self, name: str) -> int | None:
        match = _TMP.match(name)
        return self.step(match.group("name")) if match else None

    def checkpoint_name(self, step: int, like: str = "") -> str:
        # Keep the source's zero padding (Orbax's ``step_format_fixed_length``).
        digits = like.rpartition("_")[2] if self.prefix else like
        width = len(digits) if orbax_parts(like) and digits.startswith("0") else 0
        number = f"{step:0{width}d}"
        return f"{self.prefix}_{number}" if self.prefix else number

    def side_files(self, steps: Mapping[str, int], with_metrics: bool = True) -> list[str]:
        return [f"{name}/{METRICS}" for name in steps] if with_metrics else []

    def inspect(self, steps: Mapping[str, int], files: RunFiles, with_metrics: bool = True) -> Inspection:
        found = Inspection()
        for name in steps:
            children = files.children(name)
            if items := unfinished_items(children):
                found.incomplete(name, f"item(s) still under a temporary name: {', '.join(items)}",
                                 Pending.SAVE_IN_PROGRESS)
            elif COMMIT in children:
                found.attest(name, f"{COMMIT} written (Orbax's last file)")
            else:
                found.attest(name, f"renamed from {name}{TMP_SUFFIX} (Orbax renames a save when it is done)")
        if with_metrics:
            records = []
            for name, step in steps.items():
                values = parse_json_object(files.read_text(f"{name}/{METRICS}"))
                if values is not None:
                    records.append({**values, "step": step})
            found.metrics = metrics_from_records(records)
        return found

    def candidates(self, entries: Sequence[tuple[str, bool]]) -> list[OrbaxLayout]:
        return orbax_candidates(entries)

    def may_be_step(self, name: str) -> bool:
        return may_be_orbax(name)

    def fork_layout(self, like: str) -> OrbaxLayout:
        parts = orbax_parts(like)
        return OrbaxLayout(parts[0] if parts else "")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OrbaxLayout) and other.prefix == self.prefix

    def __hash__(self) -> int:
        return hash(("orbax", self.prefix))

    def __repr__(self) -> str:
        return f"<OrbaxLayout prefix={self.prefix!r}>"


def orbax_candidates(entries: Sequence[tuple[str, bool]]) -> list[OrbaxLayout]:
    """One layout per prefix of the folder's numbered sub-folders, the most common first."""
    prefixes: dict[str, int] = {}
    for name, is_dir in entries:
        match = _TMP.match(name)
        parts = orbax_parts(match.group("name") if match else name)
        if is_dir and parts is not None and parts[0] not in NOT_ORBAX:
            prefixes[parts[0]] = prefixes.get(parts[0], 0) + 1
    return [OrbaxLayout(p) for p, _ in sorted(prefixes.items(), key=lambda kv: -kv[1])]


ORBAX = register(OrbaxLayout())  # tried last, once per prefix the folder's names use
