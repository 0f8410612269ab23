"""Ray Train (v1) and Ray Tune: ``{storage_path}/{experiment}/{trial}/checkpoint_{i:06d}/``.

``i`` counts the trial's checkpoints from 0 (it is not the training iteration).
Beside them Ray writes ``result.json`` (one JSON line per report; a report
that carried a checkpoint names it in ``checkpoint_dir_name``) and
``progress.csv`` (the same rows as CSV): a checkpoint's metrics are those of
the report that named it, ``training_iteration`` among them. Ray persists the
checkpoint folder before the driver logs the report, so a folder newer than
the last one ``result.json`` names is a save not yet finished. What a
checkpoint holds is whatever the training function saved: it is not slimmed.
Ray's own rule, ``CheckpointConfig(num_to_keep, checkpoint_score_attribute,
checkpoint_score_order)``, keeps the ``num_to_keep`` best by the attribute and
always the latest (``--keep top:N,latest --metric ATTR``).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping, Sequence

from ...core.metrics import metrics_from_records
from ...core.models import Pending, TrainingState
from .base import Inspection, Layout, RunFiles, Summary, register

RESULTS = "result.json"
PROGRESS = "progress.csv"
CHECKPOINT_KEY = "checkpoint_dir_name"
_STEP = re.compile(r"^checkpoint_(?P<step>\d{6,})$")
# Bookkeeping Ray adds to every report: not metrics.
NOT_METRICS = frozenset({"timestamp", "pid", "time_this_iter_s", "time_since_restore", "iterations_since_restore",
                         "time_total_s", "done", "should_checkpoint"})


def reported(values: Mapping) -> dict:
    """The numbers of one report, without Ray's bookkeeping."""
    return {k: v for k, v in values.items()
            if k not in NOT_METRICS and isinstance(v, (int, float)) and not isinstance(v, bool)}


def ray_index(name: str) -> int | None:
    match = _STEP.match(name)
    return int(match.group("step")) if match else None


def _number(text: object) -> object:
    """A CSV cell as a number where it is one."""
    if isinstance(text, str):
        try:
            return float(text)
        except ValueError:
            return text
    return text


def report_rows(results: str | None, progress: str | None) -> tuple[list[dict], int]:
    """The trial's reports (``result.json``, else ``progress.csv``) and how many lines were not one."""
    rows, bad = [], 0
    if results is not None:
        for line in results.splitlines():
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                row = None
            if isinstance(row, dict):
                rows.append(row)
            else:
                bad += 1
    elif progress is not None:
        import csv  # only a trial without result.json reads CSV

        rows = [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(io.StringIO(progress))]
    return rows, bad


class RayLayout(Layout):
    name = "ray"
    display_name = "Ray Tune"
    trainers = ("Ray Tune", "Ray Train v1")
    preference = 120
    summary = Summary(
        checkpoint="`{experiment}/{trial}/checkpoint_{i:06d}/` (`i` counts checkpoints)",
        complete="named in `result.json`",
        kept="",
        metrics="the report that named it (`result.json`, `progress.csv`)")
    step_kind = "dir"
    reads_event_files = False
    complete_evidence = "named in result.json: Ray logs a report after persisting its checkpoint"

    def step(self, name: str) -> int | None:
        return ray_index(name)

    def checkpoint_name(self, step: int, like: str = "") -> str:
        return f"checkpoint_{step:06d}"

    def training_state(self, files: Sequence[tuple[str, int]]) -> TrainingState:
        return TrainingState(refusal="a Ray checkpoint holds what the training function saved; "
                                     "it cannot be slimmed in place")

    def side_files(self, steps: Mapping[str, int], with_metrics: bool = True) -> list[str]:
        return [RESULTS, PROGRESS]

    def inspect(self, steps: Mapping[str, int], files: RunFiles, with_metrics: bool = True) -> Inspection:
        found = Inspection()
        results = files.read_text(RESULTS)
        rows, bad = report_rows(results, None if results is not None else files.read_text(PROGRESS))
        named: dict[int, dict] = {}
        for row in rows:
            index = ray_index(str(row.get(CHECKPOINT_KEY) or ""))
            if index is not None:
                named[index] = row
        last = max(named, default=None)
        for name, step in steps.items():
            if step in named:
                found.attest(name, f"named in {RESULTS if results is not None else PROGRESS} "
                                   f"(training_iteration {named[step].get('training_iteration', '?')})")
            elif last is not None and step > last:
                found.incomplete(name, f"no report names it yet: Ray logs the report after persisting "
                                       "the checkpoint", Pending.SAVE_IN_PROGRESS)
        if with_metrics:
            records = [{**reported(row), "step": index} for index, row in named.items()]
            found.metrics = metrics_from_records(records, malformed=bad)
        return found


RAY = register(RayLayout())


# -- Ray Train v2 ---------------------------------------------------------------------------------
SNAPSHOT = "checkpoint_manager_snapshot.json"
_DATED = re.compile(r"^checkpoint_(\d{4})-(\d\d)-(\d\d)_(\d\d)-(\d\d)-(\d\d)\.\d+$")
SNAPSHOT_REASON = f"listed in {SNAPSHOT}"


def dated_step(name: str) -> int | None:
    """``checkpoint_2026-12-04_15-50-04.737278`` -> 20261204155004: the date Ray names it by, as a number."""
    match = _DATED.match(name)
    return int("".join(match.groups())) if match else None


class RayTrainLayout(Layout):
    """Ray Train v2 (the default since Ray 2.50): ``{storage_path}/{name}/checkpoint_{date}/`` beside
    ``checkpoint_manager_snapshot.json``, which holds each tracked checkpoint's reported metrics.

    A checkpoint is named by date, not by step: the step shown is that date as a number
    (``YYYYMMDDhhmmss``). Ray refuses to resume a run whose snapshot lists a folder that is gone
    ("corrupted run directory"), so every checkpoint the snapshot lists is kept; what it no longer
    tracks (left by a crash, or by a run resumed elsewhere) may go.
    """

    name = "ray-train"
    display_name = "Ray Train"
    trainers = ("Ray Train v2",)
    preference = 130
    summary = Summary(
        checkpoint="`{name}/checkpoint_{date}/` (the step is the date as a number)",
        complete="listed in `checkpoint_manager_snapshot.json`",
        kept="every checkpoint the snapshot lists",
        metrics="the snapshot's reported metrics")
    step_kind = "dir"
    reads_event_files = False
    complete_evidence = f"listed in {SNAPSHOT}, which Ray writes after persisting the checkpoint"

    def step(self, name: str) -> int | None:
        return dated_step(name)

    def checkpoint_name(self, step: int, like: str = "") -> str:
        if dated_step(like) == step:
            return like
        text = f"{step:014d}"
        return f"checkpoint_{text[:4]}-{text[4:6]}-{text[6:8]}_{text[8:10]}-{text[10:12]}-{text[12:14]}.000000"

    def training_state(self, files: Sequence[tuple[str, int]]) -> TrainingState:
        return RAY.training_state(files)

    def side_files(self, steps: Mapping[str, int], with_metrics: bool = True) -> list[str]:
        return [SNAPSHOT]

    def inspect(self, steps: Mapping[str, int], files: RunFiles, with_metrics: bool = True) -> Inspection:
        found = Inspection()
        try:
            snapshot = json.loads(files.read_text(SNAPSHOT) or "null")
        except ValueError:
            snapshot = None
        if not isinstance(snapshot, dict):
            return found
        results = [r for r in snapshot.get("checkpoint_results") or () if isinstance(r, dict)]
        tracked = {str(r.get("checkpoint_dir_name")): r.get("metrics") or {} for r in results}
        latest = (snapshot.get("latest_checkpoint_result") or {}).get("checkpoint_dir_name")
        records = []
        for name, step in steps.items():
            if name in tracked:
                found.protect(step, SNAPSHOT_REASON, resume=name == latest)
                found.attest(name, SNAPSHOT_REASON)
                values = tracked[name] if isinstance(tracked[name], dict) else {}
                records.append({**reported(values), "step": step})
            else:
                found.attest(name, f"not in {SNAPSHOT}: Ray no longer tracks it")
        if with_metrics:
            found.metrics = metrics_from_records(records)
        return found


RAY_TRAIN = register(RayTrainLayout())
