"""Where trainers put things: names of step checkpoints and of the files beside them.

Pure name logic, shared by every store (a layout does not care whether it sits
on a disk or in a bucket). A store lists a run directory (or prefix) and hands
the entry names to a :class:`Layout`; when a layout needs a file's content (a
tracker, ``trainer_state.json``), it asks the store through :class:`RunFiles`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from ..core.metrics import Metrics, metrics_from_records

# OpenPipe ART: {base}/{project}/models/{model}/checkpoints/{step:04d}/
ART_MODELS = "models"
ART_CHECKPOINTS = "checkpoints"
ART_HISTORY = "history.jsonl"
# Files and folders of an ART model directory that are never checkpoints.
ART_NOT_CHECKPOINTS = frozenset({ART_HISTORY, "state.json", "model.json", "trajectories", "logs", "tensors"})

DELETING_PREFIX = ".deleting-"
FORKING_PREFIX = ".forking-"
# A fork whose temporary copy has not been written to for this long was abandoned
# (its process died); younger ones may still be in progress in another process.
ABANDONED_FORK_SECONDS = 24 * 3600
_LEFTOVER = re.compile(r"^\.(deleting|forking)-(\d+)-")

IN_PROGRESS = "in progress"
TRACKER_REASON = "tracker"
TRAINER_BEST = "trainer's best"


def art_step(name: str) -> int | None:
    """The step of an ART step directory name (``0012`` -> 12), else None."""
    return int(name) if name.isascii() and name.isdigit() else None


def art_name(step: int) -> str:
    return f"{step:04d}"


def leftover_step(name: str) -> tuple[str, int] | None:
    """('deleting'|'forking', step) for the leftovers of an interrupted operation."""
    match = _LEFTOVER.match(name)
    return (match.group(1), int(match.group(2))) if match else None


def _whole(text: str) -> int | None:
    """A non-negative integer written without sign or leading zeros, else None."""
    if text.isascii() and text.isdigit() and (text == "0" or not text.startswith("0")):
        return int(text)
    return None


class RunFiles(Protocol):
    """What a layout may ask of the store about one run directory."""

    def read_text(self, path: str) -> str | None:
        """A small file's text by its path relative to the run directory; None if absent."""
        ...

    def link_target(self, name: str) -> str | None:
        """For a symbolic link directly in the run directory, the name it points at."""
        ...


@dataclass(slots=True)
class Inspection:
    """What a layout learns from the files beside the checkpoints."""

    protected: dict[int, tuple[str, ...]] = field(default_factory=dict)
    in_progress: dict[str, str] = field(default_factory=dict)  # entry name -> note
    metrics: Metrics = field(default_factory=Metrics)

    def protect(self, step: int, reason: str) -> None:
        reasons = self.protected.get(step, ())
        if reason not in reasons:
            self.protected[step] = reasons + (reason,)


class Layout:
    """One trainer's naming of step checkpoints inside a run directory.

    ``step_kind`` says whether a step is a directory (``"dir"``), a file
    (``"file"``) or either (``"any"``). ``markers``, when set, are names one of
    which a step directory must hold, for layouts whose names alone are too
    common to trust (Orbax's bare numbers).
    """

    name = ""
    step_kind = "dir"
    markers: frozenset[str] = frozenset()
    tracker: str | None = None

    def step(self, name: str) -> int | None:
        """The step of a complete checkpoint's entry name, else None."""
        raise NotImplementedError

    def in_progress_step(self, name: str) -> int | None:
        """The step of a save the trainer has not finished, else None."""
        return None

    def checkpoint_name(self, step: int, like: str = "") -> str:
        """The name this layout gives step ``step`` (``like``: the source's name, for forks)."""
        raise NotImplementedError

    def accepts(self, is_dir: bool) -> bool:
        return self.step_kind == "any" or (self.step_kind == "dir") == is_dir

    def confirms(self, children: Collection[str]) -> bool:
        return not self.markers or not self.markers.isdisjoint(children)

    def tracker_text(self, step: int) -> str:
        return f"{step}\n"

    def side_files(self, steps: Mapping[str, int], with_metrics: bool = True) -> list[str]:
        """Paths ``inspect`` will read, so a remote store can fetch them together beforehand."""
        return [self.tracker] if self.tracker is not None else []

    def inspect(self, steps: Mapping[str, int], files: RunFiles, with_metrics: bool = True) -> Inspection:
        """Protected steps, unfinished saves and metrics, from the files beside ``steps``."""
        found = Inspection()
        if self.tracker is not None:
            _apply_tracker(found, steps, parse_tracker(files.read_text(self.tracker)))
        return found

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


def parse_tracker(text: str | None) -> int | None:
    """The iteration in ``latest_checkpointed_iteration.txt`` (None for ``release`` or junk)."""
    if text is None:
        return None
    value = text.strip()
    return int(value) if value.isascii() and value.isdigit() else None


def _apply_tracker(found: Inspection, steps: Mapping[str, int], tracked: int | None) -> None:
    """The tracked step is protected; a later one was never finished (the tracker is written last)."""
    if tracked is None:
        return
    for name, step in steps.items():
        if step == tracked:
            found.protect(step, TRACKER_REASON)
        elif step > tracked:
            found.in_progress[name] = "newer than the tracker (save unfinished)"


# -- OpenPipe ART ---------------------------------------------------------------
class ArtLayout(Layout):
    name = "art"

    def step(self, name: str) -> int | None:
        return art_step(name)

    def checkpoint_name(self, step: int, like: str = "") -> str:
        return art_name(step)


# -- Hugging Face Trainer / TRL ------------------------------------------------
HF_STATE = "trainer_state.json"
_HF = re.compile(r"^checkpoint-(\d+)$")
_HF_TMP = re.compile(r"^tmp-checkpoint-(\d+)$")


def hf_step(name: str) -> int | None:
    match = _HF.match(name)
    return _whole(match.group(1)) if match else None


def parse_trainer_state(text: str | None) -> dict | None:
    """``trainer_state.json`` as a dict, or None if it is missing or not a JSON object."""
    if text is None:
        return None
    try:
        state = json.loads(text)
    except ValueError:
        return None
    return state if isinstance(state, dict) else None


def trainer_best_step(state: Mapping) -> int | None:
    """The step of the Trainer's ``best_model_checkpoint`` (a path ending in ``checkpoint-N``)."""
    path = state.get("best_model_checkpoint")
    if isinstance(path, str) and path:
        return hf_step(re.split(r"[\\/]", path.rstrip("/\\"))[-1])
    return None


class HfLayout(Layout):
    name = "hf"

    def step(self, name: str) -> int | None:
        return hf_step(name)

    def in_progress_step(self, name: str) -> int | None:
        match = _HF_TMP.match(name)
        return _whole(match.group(1)) if match else None

    def checkpoint_name(self, step: int, like: str = "") -> str:
        return f"checkpoint-{step}"

    def side_files(self, steps: Mapping[str, int], with_metrics: bool = True) -> list[str]:
        newest = max(steps.items(), key=lambda item: item[1], default=None)
        return [f"{newest[0]}/{HF_STATE}"] if newest else []

    def newest_state(self, steps: Mapping[str, int], files: RunFiles) -> dict | None:
        """The readable ``trainer_state.json`` with the highest step: it holds the whole log."""
        candidates = sorted(((s, f"{n}/{HF_STATE}") for n, s in steps.items()), reverse=True)
        for _, path in candidates:
            state = parse_trainer_state(files.read_text(path))
            if state is not None:
                return state
        return None

    def inspect(self, steps: Mapping[str, int], files: RunFiles, with_metrics: bool = True) -> Inspection:
        found = Inspection()
        state = self.newest_state(steps, files)
        if state is None:
            return found
        best = trainer_best_step(state)
        if best is not None and best in steps.values():
            found.protect(best, TRAINER_BEST)
        log = state.get("log_history")
        if with_metrics and isinstance(log, list):
            found.metrics = metrics_from_records(r for r in log if isinstance(r, dict))
        return found


# -- Megatron-LM, slime ------------------------------------------------------------
MEGATRON_TRACKER = "latest_checkpointed_iteration.txt"
_MEGATRON = re.compile(r"^iter_(\d{7,})$")


class MegatronLayout(Layout):
    """``{save}/iter_{step:07d}/`` and the tracker naming the last finished save (slime too)."""

    name = "megatron"
    tracker = MEGATRON_TRACKER

    def step(self, name: str) -> int | None:
        match = _MEGATRON.match(name)
        if not match:
            return None
        step = int(match.group(1))
        return step if self.checkpoint_name(step) == name else None

    def checkpoint_name(self, step: int, like: str = "") -> str:
        return f"iter_{step:07d}"


# -- verl -----------------------------------------------------------------------------
_VERL = re.compile(r"^global_step_(\d+)$")


class VerlLayout(Layout):
    """``{default_local_dir}/global_step_{N}/`` (``actor/``, ``critic/``, ``data.pt``) and the tracker."""

    name = "verl"
    tracker = MEGATRON_TRACKER

    def step(self, name: str) -> int | None:
        match = _VERL.match(name)
        return _whole(match.group(1)) if match else None

    def checkpoint_name(self, step: int, like: str = "") -> str:
        return f"global_step_{step}"


# -- PyTorch Lightning ---------------------------------------------------------
LIGHTNING_SUFFIX = ".ckpt"
LIGHTNING_LAST = "last"
LIGHTNING_BEST_K = "best_k_models.yaml"
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf)"
_LIGHTNING_PAIR = re.compile(rf"(?:^|-)([A-Za-z_][\w.]*)=({_NUMBER})(?=-|$)")
_LIGHTNING_VERSION = re.compile(r"-v\d+$")


def lightning_values(name: str) -> dict[str, float]:
    """``epoch=2-step=300-val_loss=0.12.ckpt`` -> {'epoch': 2, 'step': 300, 'val_loss': 0.12}."""
    if not name.endswith(LIGHTNING_SUFFIX):
        return {}
    stem = _LIGHTNING_VERSION.sub("", name[: -len(LIGHTNING_SUFFIX)])
    return {key: float(value) for key, value in _LIGHTNING_PAIR.findall(stem)}


def parse_best_k(text: str | None) -> list[str]:
    """File names listed in ``best_k_models.yaml`` (``{path: score}`` written by ``ModelCheckpoint.to_yaml``)."""
    names = []
    for line in (text or "").splitlines():
        key = line.split(": ", 1)[0].strip().strip("'\"")
        if key.endswith(LIGHTNING_SUFFIX):
            names.append(re.split(r"[\\/]", key)[-1])
    return names


class LightningLayout(Layout):
    """``epoch=E-step=S[-metric=V].ckpt`` files (or directories, for sharded saves).

    ``last.ckpt`` (a copy or a link) is never a step: it is left alone, and the
    checkpoint it links to is protected.
    """

    name = "lightning"
    step_kind = "any"

    def step(self, name: str) -> int | None:
        if name.startswith(LIGHTNING_LAST):
            return None
        step = lightning_values(name).get("step")
        return int(step) if step is not None and step.is_integer() and step >= 0 else None

    def checkpoint_name(self, step: int, like: str = "") -> str:
        return like if self.step(like) == step else f"step={step}{LIGHTNING_SUFFIX}"

    def side_files(self, steps: Mapping[str, int], with_metrics: bool = True) -> list[str]:
        return [LIGHTNING_BEST_K]

    def inspect(self, steps: Mapping[str, int], files: RunFiles, with_metrics: bool = True) -> Inspection:
        found = Inspection()
        for name in (f"{LIGHTNING_LAST}{LIGHTNING_SUFFIX}",):
            target = files.link_target(name)
            if target in steps:
                found.protect(steps[target], name)
        for name in parse_best_k(files.read_text(LIGHTNING_BEST_K)):
            if name in steps:
                found.protect(steps[name], TRAINER_BEST)
        if with_metrics:
            records = [{**lightning_values(name), "step": step} for name, step in steps.items()]
            found.metrics = metrics_from_records(records)
        return found


# -- Orbax ----------------------------------------------------------------------------
ORBAX_METRICS = "metrics/metrics"
_ORBAX = re.compile(r"^(?:(?P<prefix>[A-Za-z][\w.-]*?)_)?(?P<step>\d+)$")
_ORBAX_TMP = re.compile(r"^(?P<name>.+)\.orbax-checkpoint-tmp-\d+$")
# Written into every finished Orbax step directory (by one version or another).
ORBAX_MARKERS = frozenset({"_CHECKPOINT_METADATA", "commit_success.txt", "metrics", "_METADATA",
                           "manifest.ocdbt"})


def orbax_parts(name: str) -> tuple[str, int] | None:
    """(prefix, step) of ``{step}`` or ``{prefix}_{step}``, else None."""
    match = _ORBAX.match(name)
    if not match or not match.group("step").isascii():
        return None
    return match.group("prefix") or "", int(match.group("step"))


class OrbaxLayout(Layout):
    """``{root}/{step}/`` or ``{root}/{prefix}_{step}/`` holding an Orbax marker file."""

    name = "orbax"
    markers = ORBAX_MARKERS

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix

    def step(self, name: str) -> int | None:
        parts = orbax_parts(name)
        return parts[1] if parts and parts[0] == self.prefix else None

    def in_progress_step(self, name: str) -> int | None:
        match = _ORBAX_TMP.match(name)
        return self.step(match.group("name")) if match else None

    def checkpoint_name(self, step: int, like: str = "") -> str:
        # Keep the source's zero padding (Orbax's ``step_format_fixed_length``).
        digits = like.rpartition("_")[2] if self.prefix else like
        width = len(digits) if orbax_parts(like) and digits.startswith("0") else 0
        number = f"{step:0{width}d}"
        return f"{self.prefix}_{number}" if self.prefix else number

    def side_files(self, steps: Mapping[str, int], with_metrics: bool = True) -> list[str]:
        return [f"{name}/{ORBAX_METRICS}" for name in steps] if with_metrics else []

    def inspect(self, steps: Mapping[str, int], files: RunFiles, with_metrics: bool = True) -> Inspection:
        found = Inspection()
        if with_metrics:
            records = []
            for name, step in steps.items():
                state = parse_trainer_state(files.read_text(f"{name}/{ORBAX_METRICS}"))
                if state is not None:
                    records.append({**state, "step": step})
            found.metrics = metrics_from_records(records)
        return found

    def __repr__(self) -> str:
        return f"<OrbaxLayout prefix={self.prefix!r}>"


# -- detection ------------------------------------------------------------------------
ART = ArtLayout()
ART_LEGACY = ArtLayout()
ART_LEGACY.name = "art-legacy"
HF = HfLayout()
MEGATRON = MegatronLayout()
VERL = VerlLayout()
LIGHTNING = LightningLayout()
# In order of preference when two layouts claim as many entries.
TRAINER_LAYOUTS: tuple[Layout, ...] = (HF, MEGATRON, VERL, LIGHTNING)
LAYOUTS_BY_NAME = {lay.name: lay for lay in (ART, ART_LEGACY, *TRAINER_LAYOUTS, OrbaxLayout())}


@dataclass(slots=True)
class RunScan:
    """A run directory's entries sorted out by one layout."""

    layout: Layout
    steps: dict[str, int] = field(default_factory=dict)  # complete checkpoints
    pending: dict[str, tuple[int, str]] = field(default_factory=dict)  # name -> (step, note)


def scan_entries(layout: Layout, entries: Iterable[tuple[str, bool]],
                 children: Callable[[str], Collection[str]] | None = None) -> RunScan:
    """Sort ``(name, is_dir)`` entries into complete steps and unfinished ones.

    ``children(name)`` lists a step directory, for layouts with markers.
    """
    scan = RunScan(layout)
    for name, is_dir in entries:
        if (left := leftover_step(name)) is not None:
            scan.pending[name] = (left[1], "interrupted delete" if left[0] == "deleting" else "interrupted fork")
        elif (step := layout.step(name)) is not None and layout.accepts(is_dir):
            if not layout.markers or (is_dir and children is not None and layout.confirms(children(name))):
                scan.steps[name] = step
        elif (step := layout.in_progress_step(name)) is not None:
            scan.pending[name] = (step, IN_PROGRESS)
    return scan


def _orbax_candidates(entries: list[tuple[str, bool]]) -> list[OrbaxLayout]:
    prefixes: dict[str, int] = {}
    for name, is_dir in entries:
        parts = orbax_parts(name)
        if is_dir and parts is not None and parts[0] not in ("iter", "global_step"):
            prefixes[parts[0]] = prefixes.get(parts[0], 0) + 1
    return [OrbaxLayout(p) for p, _ in sorted(prefixes.items(), key=lambda kv: -kv[1])]


def detect(entries: Iterable[tuple[str, bool]],
           children: Callable[[str], Collection[str]] | None = None) -> RunScan | None:
    """The layout claiming the most entries of a directory, or None if it holds no checkpoints.

    Near misses (``checkpoint-final``, ``iter_12``, files named like step
    directories, numbered folders without Orbax's files) claim nothing.
    """
    entries = list(entries)
    best: RunScan | None = None
    for layout in (*TRAINER_LAYOUTS, *_orbax_candidates(entries)):
        scan = scan_entries(layout, entries, children)
        if not scan.steps and not any(note == IN_PROGRESS for _, note in scan.pending.values()):
            continue
        if best is None or len(scan.steps) > len(best.steps):
            best = scan
    return best
