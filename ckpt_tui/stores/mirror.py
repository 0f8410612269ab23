"""Offload's copies: a run's steps and small files held at the same place in another tree store.

A step lands at the same path below the other location as below its own, so
the other location reads as the same projects, runs and steps. It is written
through the target's claims (a disk: staged in a hidden folder, then renamed
in; a bucket: a marker names it until every object is there), and published
only once every file is verified against the source: the size, then the
checksum the target keeps (else both copies are read and hashed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..core.checksums import same_content
from ..core.errors import Conflict, NotFound, Refused, StoreError
from ..core.models import Checkpoint, FileEntry, Run
from ..core.store import BytesCopied, StepCopy, Store
from .backends.base import MAX_SIDE_FILE, Backend, FileInfo, Kind, basename, join, parent

if TYPE_CHECKING:
    from .tree import TreeStore


def _source(source: Store) -> TreeStore:
    from .tree import TreeStore

    if not isinstance(source, TreeStore):
        raise Refused(f"offload copies from a directory or a bucket, not {source.location}")
    return source


class _Step:
    """One step of the source: where it is (the same path on both backends) and its files."""

    def __init__(self, source: TreeStore, run: Run, checkpoint: Checkpoint) -> None:
        self.source, self.run, self.checkpoint = source, run, checkpoint
        self.path = source._step_path(run.project, run.name, checkpoint)
        self.single = source._single_file(run, checkpoint)
        # By path inside the step ("" for a single-file step).
        self.files = {("" if self.single else f.path): f for f in source.checkpoint_files(run, checkpoint)}

    def at(self, step_path: str, rel: str) -> str:
        return join(step_path, rel)

    def open_local(self, rel: str) -> Callable:
        return lambda: self.source.backend.open(self.at(self.path, rel))

    def problems(self, backend: Backend, step_path: str, found: dict[str, FileInfo]) -> list[str]:
        """Why what ``backend`` holds at ``step_path`` is not this step's files, byte for byte."""
        url = lambda rel: backend.url(self.at(step_path, rel))  # noqa: E731
        other, sized = [], []
        for rel, entry in sorted(self.files.items()):
            info = found.get(rel)
            if info is not None and info.size != entry.bytes:
                other.append(f"{url(rel)} holds {info.size} bytes, not {entry.bytes}")
            elif info is not None:
                sized.append(rel)
        same = backend.map(lambda rel: same_content(self.open_local(rel), lambda: backend.open(self.at(step_path, rel)),
                                                    backend.digest(found[rel])), sized)
        other += [f"{url(rel)} holds other content" for rel, ok in zip(sized, same) if not ok]
        # Objects with other content first: they are what a user must look at.
        return (other + [f"{url(rel)} is not in the local step" for rel in sorted(found.keys() - self.files.keys())]
                + [f"{url(rel)} is missing" for rel in sorted(self.files.keys() - found.keys())])


def _held(backend: Backend, path: str, single: bool) -> dict[str, FileInfo]:
    """What ``backend`` holds at a step's path, by path inside the step."""
    return {("" if single else info.path): info for info in backend.walk(path)}


def offload_step(target: TreeStore, source: Store, run: Run, checkpoint: Checkpoint,
                 copied: BytesCopied | None) -> StepCopy:
    from .tree import _Counter, _fill

    step = _Step(_source(source), run, checkpoint)
    backend = target.backend
    folder, name = parent(step.path), basename(step.path)
    total = sum(f.bytes for f in step.files.values())
    result = StepCopy(True, len(step.files), total, backend.url(step.path, folder=not step.single))
    there = _held(backend, step.path, step.single)
    if there and not target.claims.step_claimed(folder, name):
        problems = step.problems(backend, step.path, there)
        if problems:
            raise Conflict(f"{problems[0]}; {run.project}/{run.name} step {checkpoint.step} is at "
                           f"{result.location} with other content: nothing overwritten, nothing deleted")
        return StepCopy(False, result.files, result.bytes, result.location)

    def fill(staged: str) -> None:
        if not step.single:
            backend.make_dirs(staged)
        _fill(backend, staged, step.single, list(step.files.values()), step.source, run, checkpoint,
              _Counter(total, None if copied is None else lambda done, _total, last=[0]: _moved(done, last, copied)))
        problems = step.problems(backend, staged, _held(backend, staged, step.single))
        if problems:
            raise StoreError(f"the copy of {run.project}/{run.name} step {checkpoint.step} does not match: "
                             f"{problems[0]}; not published, nothing deleted")

    target.claims.create_step(folder, name, checkpoint.step, list(step.files), fill)
    target.forget_runs()
    return result


def _moved(done: int, last: list[int], copied: BytesCopied) -> None:
    """A running total turned into the bytes just copied."""
    amount, last[0] = done - last[0], done
    copied(amount)


def offload_run_files(target: TreeStore, source: Store, run: Run) -> int:
    """Interrupted work of ours at the target's copy of the run finished, then the run's own files (history, trackers, trainer state beside the steps): the regular
    files directly in its folder and its checkpoint folder that are no step and none of ours."""
    origin = _source(source)
    place = origin._settle(origin._place(run.project, run.name))
    # What an offload killed here left (a staging folder, a marker of a step not yet whole) goes first.
    target.claims.finish(place.ckpt_dir, target.backend.list_dir(place.ckpt_dir))
    steps = {c.name for c in run.checkpoints + run.pending}
    written = 0
    for folder in dict.fromkeys((place.root, place.ckpt_dir)):
        for entry in origin.backend.list_dir(folder):
            if (entry.kind is not Kind.FILE or entry.name.startswith(".") or entry.name in steps
                    or place.layout.step(entry.name) is not None or entry.size > MAX_SIDE_FILE):
                continue
            path = join(folder, entry.name)
            try:
                data = origin.backend.read_file(path)
            except NotFound:
                continue
            if data is not None and target.backend.read_bytes(path) != data:
                target.backend.make_dirs(folder)
                target.backend.write(path, data)
                written += 1
    if written:
        target.forget_runs()
    return written


def held_steps(target: TreeStore, source: Store, run: Run) -> dict[str, tuple[int, int]]:
    """(files, bytes) the target holds of each complete step of ``run``, from one listing of
    the checkpoint folder; steps claimed by a writing are left out."""
    origin = _source(source)
    place = origin._settle(origin._place(run.project, run.name))
    claimed = target.claims.read(place.ckpt_dir, target.backend.list_dir(place.ckpt_dir)).steps
    groups: dict[str, list[FileInfo]] = {}
    for info in target.backend.walk(place.ckpt_dir):
        groups.setdefault(info.path.partition("/")[0], []).append(info)
    held = {}
    for checkpoint in run.checkpoints:
        rel = origin._step_path(run.project, run.name, checkpoint)[len(place.ckpt_dir):].lstrip("/")
        first = rel.partition("/")[0]
        infos = [i for i in groups.get(first, ()) if i.path == rel or i.path.startswith(rel + "/")]
        if infos and first not in claimed:
            held[checkpoint.name] = (len(infos), sum(i.size for i in infos))
    return held


def mirrored_run(target: TreeStore, source: Store, project: str, run: str) -> Run | None:
    origin = _source(source)
    root = origin._place(project, run).root
    try:
        places = target._discovered(fresh=True).places.values()
    except NotFound:
        return None  # nothing offloaded there yet
    match = next((p for p in places if p.root == root), None)
    return None if match is None else target.load_run(match.project, match.name)
