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

from ..core.checksums import MD5, digest_of, same_content
from ..core.errors import CkptError, Conflict, NotFound, Refused, StoreError
from ..core.models import Checkpoint, Run
from ..core.store import BytesCopied, StepCopy, Store
from .backends.base import MAX_SIDE_FILE, Backend, Entry, FileInfo, Kind, basename, join, parent
from .claims import NewStep

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
        self.source, self.checkpoint = source, checkpoint
        self.path = source._step_path(run.project, run.name, checkpoint)
        self.single = source._single_file(run, checkpoint)
        # By path inside the step ("" for a single-file step).
        self.files = {("" if self.single else f.path): f.bytes for f in source.checkpoint_files(run, checkpoint)}
        self.name = basename(self.path)
        self.copy = StepCopy(True, len(self.files), sum(self.files.values()), "")
        self.md5: dict[str, str] = {}  # of the files copied, read again just after (from the page cache)

    def copy_to(self, backend: Backend, staged: str, rel: str, copied: BytesCopied | None) -> None:
        """One file of the step to ``staged`` on ``backend``, the cheapest way the two allow."""
        origin, target, source = join(self.path, rel), join(staged, rel), self.source.backend
        if backend.can_copy_from(source):
            backend.copy_from(source, origin, target, copied)
        elif (local := source.local_path(origin)) is not None:
            backend.put_file(local, target, copied)
        else:
            with source.open(origin) as stream:
                backend.put_stream(stream, target, copied)
        # Hashed here, beside the other copies, rather than all at once after them.
        self.md5[rel] = digest_of(source.open(origin), MD5) or ""

    def checks(self, backend: Backend, staged: str, found: dict[str, FileInfo]) -> tuple[list[str], list[Callable]]:
        """Why what ``backend`` holds at ``staged`` is not this step's files, as far as sizes tell;
        and for each file of the right size, a check of its content (True: the same bytes)."""
        url = lambda rel: backend.url(join(staged, rel))  # noqa: E731
        problems, checks = [], []
        for rel, size in sorted(self.files.items()):
            info = found.get(rel)
            if info is None:
                continue
            if info.size != size:
                problems.append(f"{url(rel)} holds {info.size} bytes, not {size}")
                continue
            checks.append(lambda rel=rel, info=info: same_content(
                lambda: self.source.backend.open(join(self.path, rel)), lambda: backend.open(join(staged, rel)),
                backend.digest(info), self.md5.get(rel)) or f"{url(rel)} holds other content")
        problems += [f"{url(rel)} is not in the local step" for rel in sorted(found.keys() - self.files.keys())]
        return problems, checks

    def missing(self, backend: Backend, staged: str, found: dict[str, FileInfo]) -> list[str]:
        return [f"{backend.url(join(staged, rel))} is missing" for rel in sorted(self.files.keys() - found.keys())]


def _grouped(backend: Backend, folder: str) -> tuple[dict[str, list[FileInfo]], list[Entry]]:
    """Every file below ``folder`` in one listing, by the entry of ``folder`` it is in (paths
    relative to that entry); and the files directly in ``folder`` as entries (claim markers)."""
    groups: dict[str, list[FileInfo]] = {}
    for info in backend.walk(folder):
        name, sep, rest = info.path.partition("/")
        groups.setdefault(name, []).append(info._replace(path=rest))
    entries = [Entry(name, Kind.FILE, infos[0].size, infos[0].mtime, infos[0].tag)
               for name, infos in groups.items() if len(infos) == 1 and not infos[0].path]
    return groups, entries


def _verify(backend: Backend, steps: list[_Step], staged: dict[str, str],
            found: dict[str, dict[str, FileInfo]], missing_ok: bool = False) -> dict[str, list[str]]:
    """Why each step's copy is not its files, byte for byte (no entry: it is); the content
    checks of every file run side by side."""
    problems: dict[str, list[str]] = {}
    checks: list[tuple[str, Callable]] = []
    for step in steps:
        sized, content = step.checks(backend, staged[step.name], found.get(step.name, {}))
        if not missing_ok:
            sized += step.missing(backend, staged[step.name], found.get(step.name, {}))
        problems.update({step.name: sized} if sized else {})
        checks += [(step.name, check) for check in content]
    for (name, _), outcome in zip(checks, backend.map(lambda pair: pair[1](), checks)):
        if outcome is not True:
            problems.setdefault(name, []).insert(0, outcome)  # other content first: what a user must look at
    return problems


def _by_step(steps: list[_Step], groups: dict[str, list[FileInfo]]) -> dict[str, dict[str, FileInfo]]:
    """What a listing of the checkpoint folder shows of each step, by path inside the step."""
    return {step.name: {("" if step.single else info.path): info for info in groups.get(step.name, ())
                        if step.single == (not info.path)} for step in steps}


def offload_steps(target: TreeStore, source: Store, run: Run, checkpoints: list[Checkpoint],
                  copied: BytesCopied | None) -> dict[tuple[int, str], StepCopy | CkptError]:
    origin = _source(source)
    steps = [_Step(origin, run, c) for c in checkpoints]
    backend = target.backend
    outcome: dict[tuple[int, str], StepCopy | CkptError] = {}
    for folder in dict.fromkeys(parent(step.path) for step in steps):
        group = [step for step in steps if parent(step.path) == folder]
        outcome.update(_offload_group(target, folder, group, copied))
    for step in steps:
        found = outcome[step.checkpoint.key]
        if isinstance(found, StepCopy):
            outcome[step.checkpoint.key] = found._replace(location=backend.url(step.path, folder=not step.single))
    target.forget_runs()
    return outcome


def _offload_group(target: TreeStore, folder: str, steps: list[_Step],
                   copied: BytesCopied | None) -> dict[tuple[int, str], StepCopy | CkptError]:
    """Steps of one folder: those there already compared, the others written, checked and published."""
    backend = target.backend
    groups, entries = _grouped(backend, folder)
    claimed = target.claims.read(folder, entries).steps
    there = _by_step(steps, groups)
    outcome: dict[tuple[int, str], StepCopy | CkptError] = {}
    present = [s for s in steps if there[s.name] and s.name not in claimed]
    for step in steps:
        if step.name in claimed:
            outcome[step.checkpoint.key] = Refused(
                f"{backend.url(join(folder, step.name))} is being written by another offload "
                f"({claimed[step.name][1] or claimed[step.name][0].value}); nothing copied")
    problems = _verify(backend, present, {s.name: join(folder, s.name) for s in present}, there)
    for step in present:
        if step.name in problems:
            outcome[step.checkpoint.key] = Conflict(
                f"{problems[step.name][0]}; step {step.checkpoint.step} is at "
                f"{backend.url(join(folder, step.name))} with other content: nothing overwritten, nothing deleted")
        else:
            outcome[step.checkpoint.key] = step.copy._replace(copied=False)
    todo = [s for s in steps if s.checkpoint.key not in outcome]
    if not todo:
        return outcome

    def fill(staged: dict[str, str]) -> dict[str, str]:
        for step in todo:
            if not step.single:
                backend.make_dirs(staged[step.name])
        files = [(step, rel) for step in todo for rel in step.files]
        failed: dict[str, str] = {}
        for (step, _), why in zip(files, backend.map(lambda item: _copied(backend, staged, item, copied), files)):
            if why and step.name not in failed:
                failed[step.name] = why
        wrote = [s for s in todo if s.name not in failed]
        common = parent(staged[wrote[0].name]) if wrote else ""
        problems = _verify(backend, wrote, staged, _by_step(wrote, _grouped(backend, common)[0])) if wrote else {}
        failed.update((name, f"the copy does not match: {found[0]}; not published, nothing deleted")
                      for name, found in problems.items())
        return failed

    new = [NewStep(s.name, s.checkpoint.step, tuple(s.files)) for s in todo]
    failed = target.claims.create_steps(folder, new, fill)
    for step in todo:
        why = failed.get(step.name)
        outcome[step.checkpoint.key] = step.copy if why is None else StoreError(why)
    return outcome


def _copied(backend: Backend, staged: dict[str, str], item: tuple[_Step, str], copied: BytesCopied | None) -> str:
    """Copy one file; why it failed ("" when it did not)."""
    step, rel = item
    try:
        step.copy_to(backend, staged[step.name], rel, copied)
    except CkptError as exc:
        return str(exc)
    return ""


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


def mirrored_run(target: TreeStore, source: Store, project: str, run: str) -> Run | None:
    origin = _source(source)
    root = origin._place(project, run).root
    try:
        places = target._discovered(fresh=True).places.values()
    except NotFound:
        return None  # nothing offloaded there yet
    match = next((p for p in places if p.root == root), None)
    return None if match is None else target.load_run(match.project, match.name)
