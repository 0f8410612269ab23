"""Scalars from TensorBoard event files, for trainers that keep metrics nowhere else.

Megatron-LM, slime and verl log to TensorBoard and write no metrics beside
their checkpoints. When a run has no metric source of its own, its event files
(``events.out.tfevents.*``, in the run folder or a few folders below it) are
read as TFRecords, every record's length and payload checked against their
CRC, and decoded with the ``tensorboard`` package's ``Event`` protobuf. The package is an optional extra
(``ckpt-tui[tensorboard]``), imported only when a run has event files.

Scalars are taken from TF1-style ``simple_value`` and from TF2-style
rank-0 tensors, keyed by the event's ``step`` and named by the tag as logged. Files are read
through the store's backend, so event files in S3 count as much as on a disk.
"""

from __future__ import annotations

import contextlib
import functools
import math
import struct
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import BinaryIO

from ..core.errors import CkptError
from ..core.metrics import Metrics, metrics_from_records
from .backends.base import Backend, Kind, basename, join, parent

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


def find_event_files(backend: Backend, root: str, skip: Collection[str] = (),
                     max_depth: int = MAX_EVENT_DEPTH) -> list[str]:
    """Event files in ``root`` and up to ``max_depth`` folders below it, by backend path.

    Symbolic links are never followed; hidden folders (our ``.deleting-``,
    ``.forking-`` leftovers) and the folders in ``skip`` (the run's step
    checkpoints, which hold weights, not logs) are not entered.
    """
    found: list[str] = []
    level = [root]
    for depth in range(max_depth + 1):
        below = []
        for folder, entries in zip(level, backend.map(_entries_or_none(backend), level)):
            for entry in entries:
                path = join(folder, entry.name)
                if entry.kind is Kind.FILE and is_event_file(entry.name):
                    found.append(path)
                elif (entry.kind is Kind.DIR and depth < max_depth and not entry.name.startswith(".")
                      and path not in skip):
                    below.append(path)
        level = below
    return sorted(found)


def _entries_or_none(backend: Backend):
    def entries(folder: str) -> list:
        try:
            return backend.list_dir(folder)
        except CkptError:
            return []  # an unreadable folder holds no metrics we can show
    return entries


@dataclass(slots=True)
class EventScalars:
    """Scalars read from one event file, and why reading stopped early, if it did."""

    path: str
    records: list[dict] = field(default_factory=list)
    events: int = 0
    problem: str = ""
    started: float = 0.0  # the first event's wall time: when the logger began
    walls: dict[int, float] = field(default_factory=dict)  # step -> when its last scalar was written


# Event files whose scalars are kept in memory between loads of a run.
CACHED_FILES = 64

def _wall_order(path: str) -> tuple[int, str]:
    """Event files are named ``events.out.tfevents.{unix time}.{host}...``: oldest first."""
    name = basename(path)
    stamp = name[len(EVENT_FILE_PREFIX):].split(".", 1)[0]
    return (int(stamp) if stamp.isdigit() else 0, name)


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


def cached_event_file(backend: Backend, path: str) -> EventScalars:
    """``read_event_file``, remembered while the file keeps its size and time
    (a prune loads a run twice; a live trainer's growing file is read again)."""
    try:
        info = next(backend.walk(path), None)
    except CkptError as exc:
        return EventScalars(path, problem=str(exc))
    if info is None:
        return EventScalars(path, problem="gone while reading")
    return _read_cached(backend, path, info.size, info.mtime, info.tag)


@functools.lru_cache(maxsize=CACHED_FILES)
def _read_cached(backend: Backend, path: str, size: int, mtime: float, tag: str) -> EventScalars:
    return read_event_file(backend, path)


def _records(stream: BinaryIO) -> Iterator[bytes]:
    """The records of a TFRecord stream, each length and payload checked against its CRC."""
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

    while True:
        header = _read_exact(stream, 8)
        if not header:
            return
        if len(header) < 8:
            raise _Damaged("truncated")
        length_crc = _read_exact(stream, 4)
        if len(length_crc) < 4:
            raise _Damaged("truncated")
        if struct.unpack("<I", length_crc)[0] != masked_crc32c(header):
            raise _Damaged("damaged (checksum mismatch)")
        (length,) = struct.unpack("<Q", header)
        data = _read_exact(stream, length)
        data_crc = _read_exact(stream, 4)
        if len(data) < length or len(data_crc) < 4:
            raise _Damaged("truncated")
        if struct.unpack("<I", data_crc)[0] != masked_crc32c(data):
            raise _Damaged("damaged (checksum mismatch)")
        yield data


def _read_exact(stream: BinaryIO, size: int) -> bytes:
    """``size`` bytes, fewer only at the end (network streams may return less per read)."""
    chunks, left = [], size
    while left > 0:
        chunk = stream.read(left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


class _Damaged(Exception):
    """A record whose length or payload fails its checksum, or that ends early."""


def read_event_file(backend: Backend, path: str) -> EventScalars:
    """Every scalar of one event file, as ``{"step": s, tag: value}`` records.

    A truncated or damaged record ends the reading: what came before it is
    kept and ``problem`` says where it stopped.
    """
    from google.protobuf.message import DecodeError
    from tensorboard.compat.proto import event_pb2
    from tensorboard.util import tensor_util

    result = EventScalars(path)
    plugins: dict[str, str] = {}
    try:
        with contextlib.closing(backend.open(path)) as stream:
            for data in _records(stream):
                event = event_pb2.Event.FromString(data)
                result.events += 1
                result.started = result.started or event.wall_time
                if event.WhichOneof("what") != "summary":
                    continue
                record: dict[str, object] = {}
                for value in event.summary.value:
                    number = _scalar(value, plugins, tensor_util)
                    if number is not None and not value.tag.endswith(NOT_ITERATION_SUFFIXES):
                        record[value.tag] = number
                if record:
                    result.records.append({**record, "step": event.step})
                    result.walls[event.step] = max(result.walls.get(event.step, 0.0), event.wall_time)
    except _Damaged as exc:
        result.problem = f"record {result.events + 1} is {exc}"
    except CkptError as exc:
        result.problem = f"cannot read: {exc}"
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


def _named(records: dict[str, list[dict]]) -> Iterator[dict]:
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


def _one_logger(rows: dict[str, list[dict]], started: dict[str, float],
                written: Mapping[int, float]) -> dict[str, list[dict]]:
    """Folders written one after another by one logger (Lightning's ``version_0``, ``version_1`` for two
    fits into one checkpoint folder) as one series under the tags as logged: at a step where a
    checkpoint was written (``written``: event step -> the newest such checkpoint's modification time),
    the folder that had begun logging by then; at other steps, the newest folder that logged the step."""
    order = sorted(rows, key=lambda folder: started.get(folder, 0.0))
    by_step: dict[int, dict[str, list[dict]]] = {}
    for folder in order:
        for row in rows[folder]:
            by_step.setdefault(row["step"], {}).setdefault(folder, []).append(row)
    merged = []
    for step, logged in sorted(by_step.items()):
        writer = None
        if step in written:
            began = [f for f in logged if started.get(f, 0.0) <= written[step]]
            writer = began[-1] if began else None
        merged += logged[writer or list(logged)[-1]]
    return {".": merged}


def by_save(metrics: Metrics, walls: Mapping[int, float], saved: Mapping[int, float]) -> Metrics:
    """Values keyed by save number (``saved``: number -> when the save was written): each save has
    those of the last step logged before it was written, and that step as ``global_step``."""
    by_step = {}
    for number, when in saved.items():
        logged = [step for step, wall in walls.items() if wall <= when]
        if logged:
            by_step[number] = {**metrics.at(max(logged)), "global_step": float(max(logged))}
    metrics.by_step = by_step
    numbers = sorted(saved)
    if any(saved[a] > saved[b] for a, b in zip(numbers, numbers[1:])):
        order = ", ".join(str(n) for n in sorted(saved, key=saved.get))
        metrics.notes.append(f"save numbers do not follow time (a resumed run restarts the save counter): "
                             f"written in the order {order}; each save's metrics are those logged before it")
    return metrics


def event_metrics(backend: Backend, paths: list[str], root: str, written: Mapping[int, float] | None = None,
                  saves: Mapping[int, float] | None = None) -> tuple[Metrics, list[str]]:
    """Metrics from event files below ``root``, and a message per file read only in part.

    With ``written``, the folders are successive versions of one logger (see ``_one_logger``);
    with ``saves``, values are keyed by save number (see ``by_save``)."""
    by_folder: dict[str, list[EventScalars]] = {}
    problems = []
    for path in sorted(paths, key=_wall_order):
        scalars = cached_event_file(backend, path)
        if scalars.problem:
            problems.append(f"{backend.url(path)}: {scalars.problem}; "
                            f"read the {scalars.events} event(s) before it")
        folder = parent(path)[len(root):].strip("/") or "."
        by_folder.setdefault(folder, []).append(scalars)
    rows = {folder: list(_newest_wins(files)) for folder, files in by_folder.items()}
    if written is not None and len(rows) > 1:
        started = {folder: min((f.started for f in files if f.started), default=0.0)
                   for folder, files in by_folder.items()}
        rows = _one_logger(rows, started, written)
    metrics = metrics_from_records(_named(rows), malformed=len(problems))
    if saves is not None:
        walls: dict[int, float] = {}
        for scalars in (f for files in by_folder.values() for f in files):
            for step, wall in scalars.walls.items():
                walls[step] = max(walls.get(step, 0.0), wall)
        metrics = by_save(metrics, walls, saves)
    return metrics, problems


def tensorboard_metrics(backend: Backend, root: str, skip: Collection[str] = (), label: str = "",
                        written: Callable[[], Mapping[int, float]] | None = None,
                        saves: Callable[[], Mapping[int, float]] | None = None) -> Metrics:
    """A run's metrics from its event files, or empty metrics (and a hint) without the extra.

    ``written`` (asked only when several folders hold event files): when each checkpoint was
    written, by event step, for folders that are successive versions of one logger. ``saves``:
    when each save was written, by save number, for trainers that number saves, not steps."""
    paths = find_event_files(backend, root, skip)
    if not paths:
        return Metrics()
    try:
        import tensorboard  # noqa: F401  (the optional extra)
    except ImportError:
        return Metrics(notes=[f"{label or root} {EXTRA_HINT}"])
    several = written is not None and len({parent(p) for p in paths}) > 1
    metrics, problems = event_metrics(backend, paths, root, written() if several else None,
                                      saves() if saves is not None else None)
    metrics.notes.extend(problems)
    return metrics

