"""Scalars from TensorBoard event files, for trainers that keep metrics nowhere else.

Megatron-LM, slime and verl log to TensorBoard and write no metrics beside
their checkpoints. When a run has no metric source of its own, its event files
(``events.out.tfevents.*``, in the run folder or a few folders below it) are
read with the ``tensorboard`` package: its own TFRecord reader (the one
TensorBoard uses when TensorFlow is not installed, which checks every record's
CRC) and its ``Event`` protobuf. The package is an optional extra
(``ckpt-tui[tensorboard]``), imported only when a run has event files.

Scalars are taken from TF1-style ``simple_value`` and from TF2-style
rank-0 tensors, keyed by the event's ``step`` and named by the tag as logged.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..core.metrics import Metrics, metrics_from_records

EVENT_FILE_PREFIX = "events.out.tfevents."
# How many folders below the run folder event files are looked for
# (HF's ``runs/{date}_{host}/`` is 2, verl's ``tensorboard_log/{project}/{run}/`` 3).
MAX_EVENT_DEPTH = 3
# Megatron-LM logs every scalar a second time against consumed samples or tokens;
# those steps are not iterations.
NOT_ITERATION_SUFFIXES = (" vs samples", " vs tokens")
EXTRA_HINT = "has TensorBoard event files; pip install 'ckpt-tui[tensorboard]' to read their metrics"
# Names a layout derives from checkpoint names that are not a metric source of their own.
NAME_ONLY_VALUES = frozenset({"epoch"})



def is_event_file(name: str) -> bool:
    return name.startswith(EVENT_FILE_PREFIX)


def wants_event_metrics(metrics: Metrics) -> bool:
    """True when a layout found no metric of its own (Lightning's ``epoch`` from names does not count)."""
    return not metrics.malformed and set(metrics.names()) <= NAME_ONLY_VALUES


def find_event_files(root: Path, skip: Collection[Path] = (), max_depth: int = MAX_EVENT_DEPTH) -> list[Path]:
    """Event files in ``root`` and up to ``max_depth`` folders below it.

    Symbolic links are never followed, hidden folders (our ``.deleting-``,
    ``.forking-`` leftovers) and the folders in ``skip`` (the run's step
    checkpoints, which hold weights, not logs) are not entered.
    """
    found: list[Path] = []
    pending = [(root, 0)]
    while pending:
        folder, depth = pending.pop()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.is_symlink():
                        continue
                    path = Path(entry.path)
                    if entry.is_file() and is_event_file(entry.name):
                        found.append(path)
                    elif (entry.is_dir() and depth < max_depth and not entry.name.startswith(".")
                          and path not in skip):
                        pending.append((path, depth + 1))
        except OSError:
            continue  # an unreadable folder holds no metrics we can show
    return sorted(found)


@dataclass(slots=True)
class EventScalars:
    """Scalars read from one event file, and why reading stopped early, if it did."""

    path: Path
    records: list[dict] = field(default_factory=list)
    events: int = 0
    problem: str = ""


# Event files whose scalars are kept in memory between loads of a run.
CACHED_FILES = 64
_cache: dict[tuple[str, int, int], EventScalars] = {}


def _wall_order(path: Path) -> tuple[int, str]:
    """Event files are named ``events.out.tfevents.{unix time}.{host}...``: oldest first."""
    stamp = path.name[len(EVENT_FILE_PREFIX):].split(".", 1)[0]
    return (int(stamp) if stamp.isdigit() else 0, path.name)


def _scalar(value, plugins: dict[str, str], tensor_util) -> float | None:
    """The number in a summary value, if it is a scalar."""
    kind = value.WhichOneof("value")
    if value.metadata.plugin_data.plugin_name:
        plugins.setdefault(value.tag, value.metadata.plugin_data.plugin_name)
    if kind == "simple_value":
        return _as_logged(value.simple_value)
    if kind != "tensor" or plugins.get(value.tag, "scalars") != "scalars" or value.tensor.tensor_shape.dim:
        return None  # histograms, images, text: not scalars
    try:
        array = tensor_util.make_ndarray(value.tensor)
    except (TypeError, ValueError):
        return None
    if array.dtype.kind not in "fiu":
        return None
    return _as_logged(array.item()) if array.dtype.itemsize == 4 and array.dtype.kind == "f" else array.item()


def _as_logged(single: float) -> float:
    """A float32 as the shortest decimal that reads back to it: 0.2 logged, 0.2 shown (not 0.200000003)."""
    if not math.isfinite(single):
        return single
    packed = struct.pack("<f", single)
    for digits in range(6, 10):  # 9 significant digits always read back to the same float32
        text = f"{single:.{digits}g}"
        if struct.pack("<f", float(text)) == packed:
            return float(text)
    return single


def cached_event_file(path: Path) -> EventScalars:
    """``read_event_file``, remembered while the file keeps its size and time
    (a prune loads a run twice; a live trainer's growing file is read again)."""
    try:
        st = path.stat()
    except OSError as exc:
        return EventScalars(path, problem=f"cannot read: {exc.strerror}")
    key = (str(path), st.st_size, st.st_mtime_ns)
    scalars = _cache.pop(key, None) or read_event_file(path)
    _cache[key] = scalars
    while len(_cache) > CACHED_FILES:
        del _cache[next(iter(_cache))]  # the least recently used
    return scalars


def read_event_file(path: Path) -> EventScalars:
    """Every scalar of one event file, as ``{"step": s, tag: value}`` records.

    A truncated or damaged record ends the reading: what came before it is
    kept and ``problem`` says where it stopped.
    """
    from google.protobuf.message import DecodeError
    from tensorboard.compat.proto import event_pb2
    from tensorboard.compat.tensorflow_stub import errors
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import PyRecordReader_New
    from tensorboard.util import tensor_util

    result = EventScalars(path)
    plugins: dict[str, str] = {}
    try:
        reader = PyRecordReader_New(os.fsencode(path))
        while True:
            reader.GetNext()
            event = event_pb2.Event.FromString(reader.record())
            result.events += 1
            if event.WhichOneof("what") != "summary":
                continue
            record: dict[str, object] = {}
            for value in event.summary.value:
                number = _scalar(value, plugins, tensor_util)
                if number is not None and not value.tag.endswith(NOT_ITERATION_SUFFIXES):
                    record[value.tag] = number
            if record:
                result.records.append({**record, "step": event.step})
    except errors.OutOfRangeError:
        pass  # the end of the file
    except errors.DataLossError as exc:
        damage = "truncated" if "truncated" in str(exc) else "damaged (checksum mismatch)"
        result.problem = f"record {result.events + 1} is {damage}"
    except errors.OpError as exc:
        result.problem = f"cannot read: {exc.message}"
    except OSError as exc:
        result.problem = f"cannot read: {exc.strerror or exc}"
    except DecodeError:  # a record whose checksum holds but which is no Event
        result.problem = f"record {result.events + 1} is not a TensorBoard event"
    return result


def _newest_wins(files: list[EventScalars]) -> Iterator[dict]:
    """Records of files of one folder, oldest file first; a resumed run's newer file
    replaces the values an older one logged for the same tag and step."""
    latest: dict[tuple[str, int], int] = {}
    for index, scalars in enumerate(files):
        for record in scalars.records:
            for tag in record:
                if tag != "step":
                    latest[(tag, record["step"])] = index
    for index, scalars in enumerate(files):
        for record in scalars.records:
            kept = {t: v for t, v in record.items()
                    if t == "step" or latest[(t, record["step"])] == index}
            if len(kept) > 1:
                yield kept


def _named(records: dict[str, list[dict]], root: Path) -> Iterator[dict]:
    """Tags as logged; a tag logged in several folders (Keras' ``train/``, ``validation/``)
    is prefixed with its folder so the series do not mix."""
    folders_of: dict[str, set[str]] = {}
    for folder, rows in records.items():
        for row in rows:
            for tag in row:
                folders_of.setdefault(tag, set()).add(folder)
    for folder, rows in records.items():
        for row in rows:
            yield {(t if t == "step" or len(folders_of[t]) == 1 else f"{folder}/{t}"): v
                   for t, v in row.items()}


def event_metrics(paths: list[Path], root: Path) -> tuple[Metrics, list[str]]:
    """Metrics from event files below ``root``, and a message per file read only in part."""
    by_folder: dict[str, list[EventScalars]] = {}
    problems = []
    for path in sorted(paths, key=_wall_order):
        scalars = cached_event_file(path)
        if scalars.problem:
            problems.append(f"{path}: {scalars.problem}; read the {scalars.events} event(s) before it")
        folder = path.parent.relative_to(root).as_posix() if path.parent != root else "."
        by_folder.setdefault(folder, []).append(scalars)
    rows = {folder: list(_newest_wins(files)) for folder, files in by_folder.items()}
    return metrics_from_records(_named(rows, root), malformed=len(problems)), problems


def tensorboard_metrics(root: Path, skip: Collection[Path] = (), label: str = "") -> Metrics:
    """A run's metrics from its event files, or empty metrics (and a hint) without the extra."""
    paths = find_event_files(root, skip)
    if not paths:
        return Metrics()
    try:
        import tensorboard  # noqa: F401  (the optional extra)
    except ImportError:
        return Metrics(notes=[f"{label or root} {EXTRA_HINT}"])
    metrics, problems = event_metrics(paths, root)
    metrics.notes.extend(problems)
    return metrics


def merge_name_values(metrics: Metrics, from_names: Metrics) -> Metrics:
    """Values a layout read from checkpoint names fill in where the event files have none."""
    for step, values in from_names.by_step.items():
        into = metrics.by_step.setdefault(step, {})
        for name, value in values.items():
            into.setdefault(name, value)
    return metrics
