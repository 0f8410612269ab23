"""Claims: how a deletion or a fork makes sure an interruption never leaves half a thing looking whole.

Written once, behind one interface, on top of a backend's basic operations:

* on a disk (a backend that renames), a step to delete is first renamed aside
  to ``.deleting-{step}-{token}`` and then removed; a fork is staged in a
  hidden ``.forking-{run}-{token}`` folder beside where the new run goes and
  renamed into place, whole, once complete;
* in S3 (no rename), a deletion first writes a marker object naming the steps
  and the objects it will delete (with their ETags) and removes it last; a
  fork first writes a marker into the new run's checkpoint folder naming the
  objects it will write, and removes it last.

Slimming (removing a kept step's training state) is claimed the same way on
both: a marker beside the steps names each step's files to remove, then on a
disk the files are renamed aside into the step's hidden ``.ckpt-tui-slimmed``
folder and removed, in S3 deleted; each step gets a record of what went, and
the marker goes last.

Leftovers are listed as pending (never deleted, forked, best or latest) and
finished by the next operation on the run.
"""

from __future__ import annotations

import os
import time
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

from ..core.errors import AlreadyExists, CkptError, NotFound, Refused, StoreError
from ..core.lazy_pattern import LazyPattern
from ..core.models import Checkpoint, Pending
from ..core.records import NamedTuple
from ..core.store import DELETED, GONE, NOT_REACHED, CheckpointDone
from .backends.base import SLIM_RECORD, Backend, Entry, FileInfo, Kind, basename, join, parent
from .layouts.base import ABANDONED_FORK_SECONDS, DELETING_PREFIX, FORKING_PREFIX, leftover_step

OWNER_FILE = ".ckpt-tui-owner"
DELETING_MARKER = ".ckpt-tui-deleting-"
FORK_MARKER = ".ckpt-tui-forking"


class StillWriting(KeyboardInterrupt):
    """Ctrl-C again while the copies under way were awaited: some may still write after the
    command gives up, so what the fork named is left as it is (its marker or staging folder
    kept), an unfinished fork that a later operation removes once its process is gone."""
# A step being added to an existing run (offload), in S3: a marker beside the steps names it
# and the objects written, removed once they are all there and verified.
WRITING_MARKER = ".ckpt-tui-writing-"
_STAGE_OWNER = LazyPattern(r"^\.forking-\d+-h([0-9a-f]{8})p(\d+)-")
# Slimming: a marker beside the steps names each step's files to remove; a record in each
# slimmed step says what went (a weights-only step); on disk the files go aside first.
SLIMMING_MARKER = ".ckpt-tui-slimming-"
SLIM_ASIDE = ".ckpt-tui-slimmed"
# Step folders removed at once by a prune that cannot be stopped half-way (see RenameClaims).
REMOVERS = 8


def _now() -> float:
    return time.time()


def _host() -> str:
    """This machine's name, as ``socket.gethostname()`` gives it (without importing socket)."""
    return os.uname().nodename


def owner() -> dict:
    """Who is doing something: enough to tell whether it is still running, and since when."""
    return {"host": _host(), "pid": os.getpid(), "since": _now()}


def _owner_in_name(name: str) -> dict | None:
    """The owner a step's staging folder names (``.forking-12-h{host crc}p{pid}-...``), when it is
    this host: another host's process cannot be looked up."""
    match = _STAGE_OWNER.search(name)
    if match is None or int(match.group(1), 16) != zlib.crc32(_host().encode()):
        return None
    return {"host": _host(), "pid": int(match.group(2))}


def describe_owner(who: dict) -> str:
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(who.get("since", 0)))
    return f"host {who.get('host', '?')}, pid {who.get('pid', '?')}, since {since}"


def abandoned(who: dict | None, last_write: float) -> bool:
    """A process on this host that is gone has abandoned its work; elsewhere, only age tells."""
    if who and who.get("host") == _host() and isinstance(who.get("pid"), int):
        try:
            os.kill(who["pid"], 0)
        except ProcessLookupError:
            return True
        except OSError:
            pass  # alive, but not ours to signal
        return False
    return _now() - last_write > ABANDONED_FORK_SECONDS


def _is_folder(ckpt: Checkpoint) -> bool:
    """Whether a step was listed as a folder (its location then ends with ``/`` where folders are implicit)."""
    return ckpt.location.endswith("/")


def _owned(infos: Sequence[FileInfo], folder: bool | None) -> list[FileInfo]:
    """A step's objects among those grouped under its name: the ones under ``{step}/``. The object
    named exactly ``{step}`` is the step only for a single-file step: never beside objects under
    ``{step}/``, never for a step known to be a folder."""
    inside = [f for f in infos if f.path]
    return inside if inside or folder else [f for f in infos if not f.path]


def _folder_marker(step: str) -> str:
    """The zero-byte object some tools and consoles write to show a folder (``checkpoint-2/``)."""
    return step + "/"


def _json_bytes(value: object) -> bytes:
    import json  # markers and fork stages: a listing starts without json

    return json.dumps(value).encode()


def _parse(data: bytes | None) -> dict:
    import json

    try:
        value = json.loads(data or b"{}")
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


class NewRun:
    """A run a fork creates: where, and what goes in beside the step."""

    __slots__ = ("root", "ckpt_rel", "step_name", "files", "tracker", "history", "seen_free")

    def __init__(self, root: str, ckpt_rel: str, step_name: str, files: list[str]) -> None:
        self.root = root  # the run's folder, which must not exist yet
        self.ckpt_rel = ckpt_rel  # the checkpoint folder, relative to root ("" when the steps sit in root)
        self.step_name = step_name
        self.files = files  # what the fill writes, relative to the step ("" for a single-file step)
        self.tracker: tuple[str, bytes] | None = None  # (name in the checkpoint folder, content)
        self.history: tuple[str, bytes] | None = None  # (name in the run folder, content): written last
        # A listing of a moment ago showed nothing at root: a marker created only if absent guards it.
        self.seen_free = False

    def step_path(self, root: str | None = None) -> str:
        return join(root if root is not None else self.root, self.ckpt_rel, self.step_name)

    def paths(self) -> list[str]:
        """Everything the new run will hold, relative to the backend's root."""
        step = self.step_path()
        found = [join(step, rel) for rel in self.files]
        if self.tracker is not None:
            found.append(join(self.root, self.ckpt_rel, self.tracker[0]))
        if self.history is not None:
            found.append(join(self.root, self.history[0]))
        return found


# Copies a checkpoint's files (``NewRun.files``) under the given step path.
Fill = Callable[[str], None]


class NewStep(NamedTuple):
    """A step added to an existing run (offload): its name in the checkpoint folder, its number,
    and its files relative to it ("" for a single-file step)."""

    name: str
    step: int
    files: tuple[str, ...]


# Writes new steps under the paths given by name; returns why a step must not be published, by name.
FillSteps = Callable[[dict[str, str]], dict[str, str]]


class RunClaims:
    """What a checkpoint folder's listing says about work in progress on it."""

    __slots__ = ("steps", "whole_run", "deletions")

    def __init__(self, steps: dict[str, tuple[Pending, str]], whole_run: tuple[Pending, str] | None = None,
                 deletions: dict[str, tuple[str, ...]] | None = None) -> None:
        self.steps = steps  # step name -> why it is pending
        self.whole_run = whole_run  # a fork still writing the whole run
        self.deletions = {} if deletions is None else deletions  # unfinished: where -> step names


class Claims(ABC):
    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    # -- slimming, the same on every backend but for how files leave ----------------------------
    @abstractmethod
    def _remove_files(self, step: str, files: Sequence[str]) -> None:
        """Remove ``files`` (relative to ``step``) so that a crash leaves them gone or claimed."""

    def _slimming(self, folder: str, entries: Sequence[Entry]) -> list[tuple[str, dict]]:
        """(marker path, {step name: files}) of every slimming under way or interrupted in ``folder``."""
        markers = [join(folder, e.name) for e in entries
                   if e.name.startswith(SLIMMING_MARKER) and e.kind is Kind.FILE]  # the name first: a str method
        found = []
        for path, body in zip(markers, self.backend.map(lambda p: _parse(self.backend.read_bytes(p)), markers)):
            steps = body.get("steps")
            if isinstance(steps, dict):
                found.append((path, {n: [f for f in fs if isinstance(f, str)] for n, fs in steps.items()
                                     if isinstance(n, str) and isinstance(fs, list)}))
        return found

    def _slim_step(self, step: str, files: Sequence[str]) -> None:
        """Remove a step's training state, then record what went: a slimmed step says so."""
        self._remove_files(step, files)
        record = {"removed": sorted(files), "time": _now(), "by": owner()}
        self.backend.write(join(step, SLIM_RECORD), _json_bytes(record))

    def slim(self, folder: str, items: list[tuple[Checkpoint, tuple[str, ...]]], done: CheckpointDone | None,
             should_cancel: Callable[[], bool] | None) -> dict[tuple[int, str], str]:
        """Remove the listed files of each step; the outcome of each, as for ``delete``."""
        if not items:
            return {}
        marker = join(folder, f"{SLIMMING_MARKER}{os.urandom(16).hex()}")
        body = {"steps": {c.name: list(files) for c, files in items}, "owner": owner()}
        self.backend.write(marker, _json_bytes(body))
        outcome: dict[tuple[int, str], str] = {}
        for ckpt, files in items:
            if should_cancel is not None and should_cancel():
                outcome[ckpt.key] = NOT_REACHED
                continue
            try:
                self._slim_step(join(folder, ckpt.name), files)
                outcome[ckpt.key] = DELETED
            except CkptError as exc:
                outcome[ckpt.key] = f"{exc} (left as an interrupted slim)"
            if done is not None:
                done(ckpt)
        unfinished = {c.name: list(f) for c, f in items if outcome[c.key] not in (DELETED, NOT_REACHED)}
        if unfinished:
            self.backend.write(marker, _json_bytes({**body, "steps": unfinished}))
        else:
            self.backend.delete_files([marker])
        return outcome

    def _finish_slims(self, folder: str, entries: Sequence[Entry]) -> tuple[list[str], list[str]]:
        """Complete interrupted slimmings: what is left of the files goes, each step gets its record."""
        removed, problems = [], []
        for marker, steps in self._slimming(folder, entries):
            try:
                for name, files in steps.items():
                    self._slim_step(join(folder, name), files)
                    removed.append(self.backend.url(join(folder, name)))
                self.backend.delete_files([marker])
            except CkptError as exc:
                problems.append(f"cannot finish slimming in {self.backend.url(folder)}: {exc}")
        return removed, problems

    @abstractmethod
    def read(self, folder: str, entries: Sequence[Entry]) -> RunClaims:
        """Pending work on the steps of ``folder`` beyond what their names say."""

    @abstractmethod
    def delete(self, folder: str, checkpoints: list[Checkpoint], done: CheckpointDone | None,
               should_cancel: Callable[[], bool] | None) -> dict[tuple[int, str], str]:
        """Delete steps of ``folder``; the outcome of each (see ``Store.delete_checkpoints``)."""

    @abstractmethod
    def finish(self, folder: str, entries: Sequence[Entry]) -> tuple[list[str], list[str]]:
        """Finish interrupted deletions and remove abandoned forks seen among ``entries``
        (the folder's listing): (what was removed, problems)."""

    @abstractmethod
    def create_run(self, new: NewRun, fill: Fill) -> None:
        """Make ``new`` appear whole or not at all; never over an existing run."""

    def fork_in(self, folder: str) -> bool:
        """Whether ``folder`` holds a fork that is being written (or was abandoned) rather than a run."""
        return False

    @abstractmethod
    def create_steps(self, folder: str, steps: Sequence[NewStep], fill: FillSteps) -> dict[str, str]:
        """Make new steps appear in ``folder`` (which may hold other steps), each whole or not at
        all: ``fill`` writes each step's files under the path it is given for it, checks them and
        returns why a step must not be published, by name; the others are published. Returns
        the steps not published, with why."""


class RenameClaims(Claims):
    """A disk: rename aside, then remove; stage a fork beside its target, then rename it in."""

    def read(self, folder: str, entries: Sequence[Entry]) -> RunClaims:
        # Deletion leftovers are recognised by their names (``scan_entries``); slimmings by their marker.
        return RunClaims({name: (Pending.INTERRUPTED_SLIM, "") for _, steps in self._slimming(folder, entries)
                          for name in steps})

    def _remove_files(self, step: str, files: Sequence[str]) -> None:
        aside = join(step, SLIM_ASIDE)
        for path in files:
            self.backend.make_dirs(parent(join(aside, path)))
            try:
                self.backend.rename(join(step, path), join(aside, path))
            except NotFound:
                pass  # gone already (an earlier, interrupted slim)
        self.backend.delete_tree(aside)

    def delete(self, folder: str, checkpoints: list[Checkpoint], done: CheckpointDone | None,
               should_cancel: Callable[[], bool] | None) -> dict[tuple[int, str], str]:
        outcome: dict[tuple[int, str], str] = {}
        token = os.urandom(4).hex()
        aside: dict[tuple[int, str], str] = {}
        # One pass of renames first: from here on each step is whole or claimed, never half.
        for ckpt in checkpoints:
            target = join(folder, f"{DELETING_PREFIX}{ckpt.step}-{token}-{len(aside)}")
            try:
                self.backend.rename(join(folder, ckpt.name), target)
                aside[ckpt.key] = target
            except NotFound:
                outcome[ckpt.key] = GONE
            except CkptError as exc:
                outcome[ckpt.key] = str(exc)
        if should_cancel is None and len(aside) > 1:
            self._remove_side_by_side(checkpoints, aside, outcome, done)
            return outcome
        for ckpt in checkpoints:
            path = aside.get(ckpt.key)
            if path is None:
                if done is not None:
                    done(ckpt)
                continue
            if should_cancel is not None and should_cancel():
                outcome[ckpt.key] = self._put_back(path, join(folder, ckpt.name))
                continue
            outcome[ckpt.key] = self._remove_aside(path)
            if done is not None:
                done(ckpt)
        return outcome

    def _remove_aside(self, path: str) -> str:
        try:
            self.backend.delete_tree(path)
            return DELETED
        except CkptError as exc:
            return f"{exc} (left as an interrupted delete)"

    def _remove_side_by_side(self, checkpoints: list[Checkpoint], aside: dict[tuple[int, str], str],
                             outcome: dict[tuple[int, str], str], done: CheckpointDone | None) -> None:
        """Remove the renamed-aside steps several at a time (nothing can stop it half-way, so
        nothing is put back), reporting each in order. A removal mostly waits on the disk's
        journal, and waits overlap: 1,500 step folders took 5.6 s one by one and 2.8 s four at a
        time on the same disk, where ``rm -rf`` removes one after another."""
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(REMOVERS, thread_name_prefix="ckpt-tui-remove")
        try:
            removals = {key: pool.submit(self._remove_aside, path) for key, path in aside.items()}
            for ckpt in checkpoints:
                if ckpt.key in removals:
                    outcome[ckpt.key] = removals[ckpt.key].result()
                if done is not None:
                    done(ckpt)
        finally:  # Ctrl-C: what is not removed yet stays aside, an interrupted delete the next prune finishes
            pool.shutdown(cancel_futures=True)

    def _put_back(self, aside: str, original: str) -> str:
        """A stop before removal: the step goes back whole under its name."""
        try:
            self.backend.rename(aside, original)
            return NOT_REACHED
        except CkptError as exc:
            return f"stopped, but could not rename it back: {exc} (left as an interrupted delete)"

    def finish(self, folder: str, entries: Sequence[Entry]) -> tuple[list[str], list[str]]:
        removed, problems = self._finish_slims(folder, entries)
        for entry in entries:
            left = leftover_step(entry.name)
            if left is None or entry.kind is Kind.LINK:
                continue
            path = join(folder, entry.name)
            try:
                if left[0] == "forking" and not self._stage_abandoned(path):
                    continue  # another process may still be writing this fork
                self.backend.delete_tree(path)
                removed.append(self.backend.url(path))
            except CkptError as exc:
                problems.append(str(exc))
        return removed, problems

    def _stage_abandoned(self, path: str) -> bool:
        """Whether a staging folder's process died (or, where that cannot be told, it is a day old)."""
        who = _parse(self.backend.read_bytes(join(path, OWNER_FILE))) or _owner_in_name(basename(path))
        return abandoned(who or None, self.backend.usage(path).mtime)

    def _clean_abandoned_stages(self, stage_parent: str) -> None:
        """Staging folders of forks into this folder whose process died (or that are a day old)."""
        for entry in self.backend.list_dir(stage_parent):
            if entry.kind is Kind.DIR and entry.name.startswith(FORKING_PREFIX):
                path = join(stage_parent, entry.name)
                try:
                    if self._stage_abandoned(path):
                        self.backend.delete_tree(path)
                except CkptError:
                    pass  # published or removed meanwhile, or stuck: the next fork here looks again

    def create_steps(self, folder: str, steps: Sequence[NewStep], fill: FillSteps) -> dict[str, str]:
        """Staged in a hidden ``.forking-{step}-h{host}p{pid}-{token}`` folder beside the steps (a
        pending leftover if it dies), then each renamed into place, never over an existing step."""
        self.backend.make_dirs(folder)
        self._clean_abandoned_stages(folder)
        # The owner is in the name too: a stage killed before its owner file was written is known.
        stage = join(folder, f"{FORKING_PREFIX}{steps[0].step}-h{zlib.crc32(_host().encode()):08x}p{os.getpid()}-"
                             f"{os.urandom(4).hex()}")
        try:
            self.backend.make_dirs(stage)
            self.backend.write(join(stage, OWNER_FILE), _json_bytes(owner()))
            failed = fill({new.name: join(stage, new.name) for new in steps})
            for new in steps:
                if new.name not in failed:
                    try:
                        self.backend.rename(join(stage, new.name), join(folder, new.name))
                    except CkptError as exc:
                        failed[new.name] = str(exc)
            return failed
        finally:
            try:
                self.backend.delete_tree(stage)
            except CkptError:
                pass  # left as an abandoned stage, removed by the next steps written here


    def create_run(self, new: NewRun, fill: Fill) -> None:
        stage_parent = parent(new.root)
        self.backend.make_dirs(stage_parent)
        self._clean_abandoned_stages(stage_parent)
        stage = join(stage_parent, f"{FORKING_PREFIX}{basename(new.root)}-{os.urandom(4).hex()}")
        try:
            self.backend.make_dirs(join(stage, new.ckpt_rel))
            self.backend.write(join(stage, OWNER_FILE), _json_bytes(owner()))
            fill(new.step_path(stage))
            if new.tracker is not None:
                self.backend.write(join(stage, new.ckpt_rel, new.tracker[0]), new.tracker[1])
            if new.history is not None:
                self.backend.write(join(stage, new.history[0]), new.history[1])
            self.backend.delete_files([join(stage, OWNER_FILE)])
            self.backend.rename(stage, new.root)
        except StillWriting:
            raise  # copies may still write into the stage: left to a later fork (abandoned stage)
        except BaseException:
            try:
                self.backend.delete_tree(stage)
            except CkptError:
                pass  # left as an abandoned fork, removed by a later fork into this folder
            raise


class MarkerClaims(Claims):
    """S3: a marker object naming what is being deleted or written, removed last."""

    def fork_in(self, folder: str) -> bool:
        return self.backend.read_bytes(join(folder, FORK_MARKER)) is not None

    def _writings(self, folder: str, entries: Sequence[Entry]) -> list[tuple[Entry, dict]]:
        """Step writings under way or interrupted in ``folder``, with their markers' bodies."""
        markers = [e for e in entries if e.kind is Kind.FILE and e.name.startswith(WRITING_MARKER)]
        return list(zip(markers, self.backend.map(
            lambda e: _parse(self.backend.read_bytes(join(folder, e.name))), markers)))

    def create_steps(self, folder: str, steps: Sequence[NewStep], fill: FillSteps) -> dict[str, str]:
        """A marker beside the steps names them and their objects first (readers list them as a
        save in progress); the objects are written and checked; the marker goes last."""
        marker = join(folder, f"{WRITING_MARKER}{os.urandom(8).hex()}")
        paths = {new.name: [join(folder, new.name, f) for f in new.files] for new in steps}
        body = {"owner": owner(), "steps": list(paths), "paths": [p for ps in paths.values() for p in ps]}
        self.backend.write(marker, _json_bytes(body))
        failed = fill({new.name: join(folder, new.name) for new in steps})
        if failed:  # what was written of a step not published goes; if it cannot, the marker stays on it
            left = self.backend.delete_files([p for name in failed for p in paths[name]])
            if left:
                kept = [name for name in failed if any(p in left for p in paths[name])]
                self.backend.write(marker, _json_bytes({**body, "steps": kept,
                                                        "paths": [p for n in kept for p in paths[n]]}))
                return failed
        self.backend.delete_files([marker])
        return failed

    def _markers(self, entries: Sequence[Entry]) -> list[Entry]:
        return [e for e in entries if e.kind is Kind.FILE and e.name.startswith(DELETING_MARKER)]

    def _remove_files(self, step: str, files: Sequence[str]) -> None:
        failed = self.backend.delete_files([join(step, path) for path in files])
        if failed:
            raise StoreError("; ".join(f"{self.backend.url(k)}: {why}" for k, why in list(failed.items())[:3]))

    def read(self, folder: str, entries: Sequence[Entry]) -> RunClaims:
        claims = RunClaims({name: (Pending.INTERRUPTED_SLIM, "") for _, steps in self._slimming(folder, entries)
                            for name in steps})
        markers = self._markers(entries)
        bodies = self.backend.map(lambda e: _parse(self.backend.read_bytes(join(folder, e.name))), markers)
        for marker, body in zip(markers, bodies):
            names = tuple(n for n in body.get("steps", ()) if isinstance(n, str))
            for name in names:
                claims.steps[name] = (Pending.INTERRUPTED_DELETE, "")
            claims.deletions[self.backend.url(join(folder, marker.name))] = names
        for marker, body in self._writings(folder, entries):
            gone = abandoned(body.get("owner"), marker.mtime)
            for name in body.get("steps", ()):
                if isinstance(name, str):
                    claims.steps[name] = (Pending.ABANDONED_FORK if gone else Pending.FORK_IN_PROGRESS,
                                          describe_owner(body.get("owner") or {}))
        fork = next((e for e in entries if e.name == FORK_MARKER and e.kind is Kind.FILE), None)
        if fork is not None:
            who = _parse(self.backend.read_bytes(join(folder, FORK_MARKER)))
            gone = abandoned(who.get("owner"), fork.mtime)
            claims.whole_run = (Pending.ABANDONED_FORK if gone else Pending.FORK_IN_PROGRESS,
                                describe_owner(who.get("owner") or {}))
        return claims

    def delete(self, folder: str, checkpoints: list[Checkpoint], done: CheckpointDone | None,
               should_cancel: Callable[[], bool] | None) -> dict[tuple[int, str], str]:
        if not checkpoints:
            return {}
        groups = self.backend.listing(folder)
        owned = {c.name: _owned(groups.get(c.name, ()), _is_folder(c)) for c in checkpoints}
        objects = {name: [join(name, f.path) for f in infos] for name, infos in owned.items()}
        found = {join(name, f.path): f for name, infos in owned.items() for f in infos}
        marker = join(folder, f"{DELETING_MARKER}{os.urandom(16).hex()}")
        self._write_marker(marker, [c.name for c in checkpoints], found)
        outcome: dict[tuple[int, str], str] = {}
        # The batches name the steps' objects only: a folder marker (``{step}/``, which some tools
        # write) goes after them, by the sweep, where one was written. Sending ``{step}/`` for
        # every step cost SeaweedFS, which keeps a folder once its objects are gone and deletes
        # it for that key, about twice an object's deletion: a third of its work in a prune.
        keys = {c.name: [join(folder, k) for k in objects[c.name]] for c in checkpoints}

        def delete_chunk(chunk: list[Checkpoint]) -> None:
            # Batches go out in parallel; each reports its steps as it ends, and a stop
            # asked for meanwhile spares the batches not yet sent.
            if should_cancel is not None and should_cancel():
                outcome.update((c.key, NOT_REACHED) for c in chunk)
                return
            failed = self.backend.delete_files([key for c in chunk for key in keys[c.name]])
            for ckpt in chunk:
                step = join(folder, ckpt.name)
                errors = [f"{self.backend.url(key)}: {why}" for key, why in failed.items()
                          if (key.startswith(step + "/") and key != step + "/") or key == step]
                outcome[ckpt.key] = "; ".join(errors) if errors else DELETED
                if done is not None:
                    done(ckpt)

        self.backend.map(delete_chunk, self._chunks(checkpoints, keys))
        self._sweep(folder, [c for c in checkpoints if outcome[c.key] == DELETED], outcome)
        unfinished = [c.name for c in checkpoints if outcome[c.key] not in (DELETED, NOT_REACHED)]
        if unfinished:
            self._write_marker(marker, unfinished, {k: f for k, f in found.items()
                                                    if k.split("/", 1)[0] in unfinished})
        else:
            self.backend.delete_files([marker])
        return outcome

    def _write_marker(self, marker: str, names: list[str], objects: dict[str, FileInfo]) -> None:
        """Name the steps and the exact objects to delete: their ETags and modification times,
        so that finishing the marker later never deletes an object written since."""
        body = {"steps": names, "objects": {k: f.tag for k, f in objects.items()},
                "modified": {k: f.mtime for k, f in objects.items()}, "owner": owner()}
        import orjson  # here: a listing never writes a marker, and starts without it

        self.backend.write(marker, orjson.dumps(body))  # 0.5 ms for 3,000 objects, json's 18 ms

    @staticmethod
    def _chunks(checkpoints: list[Checkpoint], objects: dict[str, list[str]],
                size: int = 500) -> list[list[Checkpoint]]:
        """Steps in groups of about ``size`` objects: one DeleteObjects request each, progress
        between. Half of S3's limit of 1,000 keys: a run of 3,000 objects then goes out as six
        requests in parallel, not three, and servers answer them side by side (a prune of 1,000
        checkpoints took 1.53x s5cmd's time on SeaweedFS with 1,000 keys a request, 1.35x with 500)."""
        chunks: list[list[Checkpoint]] = [[]]
        count = 0
        for ckpt in checkpoints:
            if chunks[-1] and count + len(objects[ckpt.name]) > size:
                chunks.append([])
                count = 0
            chunks[-1].append(ckpt)
            count += len(objects[ckpt.name])
        return chunks

    def _sweep(self, folder: str, deleted: list[Checkpoint], outcome: dict[tuple[int, str], str]) -> None:
        """Objects written into a deleted step after it was listed (an upload finishing late):
        remove them too, so that no part of the step is left looking like a checkpoint; and
        the folder markers of the deleted steps.

        One listing of the folder tells; some servers (SeaweedFS) still show a
        folder whose objects are all gone, so a second listing looks inside
        only when the first one shows a deleted name."""
        names = {c.name for c in deleted}
        shown = names & {e.name for e in self.backend.list_dir(folder)} if names else set()
        if not shown:
            return
        markers: set[str] = set()
        groups = self.backend.listing_of(folder, shown, markers)
        emptied = []
        for ckpt in deleted:
            if ckpt.name not in shown:
                continue
            left = [join(folder, ckpt.name, f.path) for f in _owned(groups.get(ckpt.name, ()), _is_folder(ckpt))]
            failed = self.backend.delete_files(left) if left else {}
            if failed:
                outcome[ckpt.key] = "; ".join(f"{self.backend.url(k)}: {why}" for k, why in failed.items())
            elif _is_folder(ckpt) and (ckpt.name in markers or not self.backend.lists_folder_markers):
                emptied.append(_folder_marker(join(folder, ckpt.name)))
        # A folder marker (which some tools and consoles write) of an emptied step goes too. Where
        # the listing names markers, an emptied folder without one is the server's (SeaweedFS shows
        # it until its own cleaner or a delete of ``{step}/`` removes it): no object, left alone.
        if emptied:
            self.backend.delete_files(emptied)

    def finish(self, folder: str, entries: Sequence[Entry]) -> tuple[list[str], list[str]]:
        removed, problems = self._finish_slims(folder, entries)
        markers = self._markers(entries)
        if markers:
            groups = self.backend.listing(folder, fresh=True)
            for marker in markers:
                path = join(folder, marker.name)
                body = _parse(self.backend.read_bytes(path))
                stale = self._recorded(body, groups, marker.mtime)
                failed = self.backend.delete_files([join(folder, k) for k in stale]
                                                   + self._emptied_markers(folder, body, groups, stale))
                if failed:
                    problems.append(f"cannot finish an interrupted delete in {self.backend.url(folder)}: "
                                    + "; ".join(f"{k}: {why}" for k, why in list(failed.items())[:3]))
                    continue
                self.backend.delete_files([path])
                removed.extend(self.backend.url(join(folder, n)) for n in body.get("steps", ()) if isinstance(n, str))
        for marker, body in self._writings(folder, entries):
            if abandoned(body.get("owner"), marker.mtime):
                removed += self._discard_writing(folder, marker, body, problems)
        fork = next((e for e in entries if e.name == FORK_MARKER and e.kind is Kind.FILE), None)
        if fork is not None:
            body = _parse(self.backend.read_bytes(join(folder, FORK_MARKER)))
            if abandoned(body.get("owner"), fork.mtime):
                removed += self._discard_fork(folder, body, problems)
        return removed, problems

    @staticmethod
    def _emptied_markers(folder: str, body: dict, groups: dict, stale: list[str]) -> list[str]:
        """Folder markers of the marked steps that deleting ``stale`` leaves empty."""
        going = set(stale)
        return [_folder_marker(join(folder, name)) for name in body.get("steps", ()) if isinstance(name, str)
                and all(join(name, f.path) in going for f in _owned(groups.get(name, ()), True))]

    @staticmethod
    def _recorded(body: dict, groups: dict, marker_time: float) -> list[str]:
        """Objects a deletion marker still covers: those it recorded, unchanged since.

        An object uploaded again under the same key since (even with the same
        content, hence the same ETag) is newer than recorded and left alone; a
        marker that recorded nothing covers only what existed when it was written.
        """
        tags, times = body.get("objects"), body.get("modified")
        times = times if isinstance(times, dict) else {}
        keep = []
        for name in body.get("steps", ()):
            if not isinstance(name, str):
                continue
            for info in _owned(groups.get(name, ()), None):
                key = join(name, info.path)
                if isinstance(tags, dict) and tags:
                    recorded = times.get(key, info.mtime)
                    if tags.get(key) == info.tag and isinstance(recorded, (int, float)) and info.mtime <= recorded:
                        keep.append(key)
                elif info.mtime <= marker_time:
                    keep.append(key)
        return keep

    def _discard_writing(self, folder: str, marker: Entry, body: dict, problems: list[str]) -> list[str]:
        """An abandoned step writing: the objects it names (inside its step only) go, then the marker."""
        steps = [n for n in body.get("steps", ()) if isinstance(n, str)]
        planned = [p for p in body.get("paths", ()) if isinstance(p, str)
                   and any(p == join(folder, n) or p.startswith(join(folder, n) + "/") for n in steps)]
        if self.backend.delete_files(planned):
            problems.append(f"cannot remove the interrupted copy of {', '.join(steps)} in {self.backend.url(folder)}")
            return []
        self.backend.delete_files([join(folder, marker.name)])
        return [self.backend.url(join(folder, n)) for n in steps]

    def _discard_fork(self, folder: str, body: dict, problems: list[str]) -> list[str]:
        root = body.get("root")
        planned = [p for p in body.get("paths", ()) if isinstance(p, str) and isinstance(root, str)
                   and p.startswith(root + "/")]
        failed = self.backend.delete_files(planned)
        if failed:
            problems.append(f"cannot remove the abandoned fork in {self.backend.url(folder)}")
            return []
        self.backend.delete_files([join(folder, FORK_MARKER)])
        return [self.backend.url(root)] if isinstance(root, str) else []

    def create_run(self, new: NewRun, fill: Fill) -> None:
        folder = join(new.root, new.ckpt_rel)
        marker = join(folder, FORK_MARKER)
        # Both reads at once: in a bucket, one round trip instead of three. Where the listing
        # the name was checked against showed nothing there, the run's folder is read once the
        # marker is written instead (one listing, which finds at least the marker).
        existing, occupied = (None, False) if new.seen_free else self.backend.map(lambda read: read(), [
            lambda: self.backend.read_bytes(marker), lambda: next(self.backend.walk(new.root), None) is not None])
        if existing is not None:
            body = _parse(existing)
            entry = next((e for e in self.backend.list_dir(folder) if e.name == FORK_MARKER), None)
            if not abandoned(body.get("owner"), entry.mtime if entry else _now()):
                raise Refused(f"a fork into {self.backend.url(new.root)} is in progress "
                              f"({describe_owner(body.get('owner') or {})}); nothing copied")
            problems: list[str] = []
            self._discard_fork(folder, body, problems)
            if problems:
                raise StoreError(problems[0])
            occupied = next(self.backend.walk(new.root), None) is not None
        if occupied:
            raise AlreadyExists(f"{self.backend.url(new.root)} exists; nothing copied")
        # Everything the fork will write is named before anything is written.
        body = {"owner": owner(), "root": new.root, "paths": new.paths()}
        if not self.backend.create_new(marker, _json_bytes(body)):
            raise Refused(f"another fork into {self.backend.url(new.root)} started just now; nothing copied")
        if new.seen_free:  # the marker guards the name against forks only: a trainer may have started the run since
            mine = join(new.ckpt_rel, FORK_MARKER)
            if next((f for f in self.backend.walk(new.root) if f.path != mine), None) is not None:
                self.backend.delete_files([marker])
                raise AlreadyExists(f"{self.backend.url(new.root)} exists; nothing copied")
        try:
            fill(new.step_path())
            # Written only where absent: a trainer that started this run meanwhile keeps its own
            # (and the discard below leaves it alone).
            last = ([(join(folder, new.tracker[0]), new.tracker[1])] if new.tracker is not None else []) + (
                [(join(new.root, new.history[0]), new.history[1])] if new.history is not None else [])
            for path, data in last:
                if not self.backend.create_new(path, data):
                    body["paths"].remove(path)
                    raise AlreadyExists(f"{self.backend.url(new.root)} exists; nothing copied")
        except StillWriting:
            raise  # copies may still write: the marker stays, the run is listed as an interrupted fork
        except BaseException:
            try:
                self._discard_fork(folder, body, [])
            except CkptError:
                pass  # the marker stays: the run is listed as an interrupted fork
            raise
        self.backend.delete_files([marker])
