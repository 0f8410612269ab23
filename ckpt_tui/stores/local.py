"""Checkpoints on a local (or mounted) disk: ART bases and every trainer's output directories."""

from __future__ import annotations

import errno
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import AlreadyExists, NotFound, Refused, StoreError
from ..core.metrics import Metrics, metrics_from_records, read_history_records
from ..core.models import Checkpoint, FileEntry, Run
from ..core.names import validate_name
from ..core.store import ByteProgress
from .layouts import (ABANDONED_FORK_SECONDS, ART, ART_CHECKPOINTS, ART_HISTORY, ART_LEGACY, ART_MODELS, DELETING_PREFIX,
                      FORKING_PREFIX, LIGHTNING, Layout, art_name, art_step, detect, leftover_step,
                      scan_entries)
from .tensorboard import merge_name_values, tensorboard_metrics, wants_event_metrics

# Folder names that hold a run's checkpoints but do not name the run (Lightning's
# ``version_0/checkpoints``): the run is named after the folder above.
CONTAINERS = frozenset({"checkpoints", "checkpoint", "ckpts", "ckpt"})
# How many folders deep a location is searched for runs.
MAX_DEPTH = 4
# Files a layout reads (trackers, trainer state) are small; anything larger is not one.
MAX_SIDE_FILE = 64 * 1024 * 1024


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _is_file(entry: os.DirEntry) -> bool:
    try:
        return entry.is_file(follow_symlinks=False)
    except OSError:
        return False


def scan_files(root: str, prefix: str = "") -> Iterator[tuple[str, int, float]]:
    """(relative path, apparent bytes, mtime) of every regular file under ``root``.

    Symlinks are neither followed nor counted, as ``du -sb`` would not count
    what they point at.
    """
    with os.scandir(root) as entries:
        for entry in entries:
            if entry.is_file(follow_symlinks=False):
                st = entry.stat(follow_symlinks=False)
                yield prefix + entry.name, st.st_size, st.st_mtime
            elif _is_dir(entry):
                yield from scan_files(entry.path, f"{prefix}{entry.name}/")


def scan_tree(root: str) -> tuple[list[FileEntry], int, float]:
    """The files under ``root`` (as ``scan_files``), their total bytes and newest mtime.

    One pass without generators: this is the inner loop of every listing, and
    it keeps a 10,000-checkpoint scan within a small factor of ``du -sb``.
    """
    files: list[FileEntry] = []
    total, newest = 0, 0.0
    stack = [(root, "")]
    while stack:
        folder, prefix = stack.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    files.append(FileEntry(prefix + entry.name, st.st_size))
                    total += st.st_size
                    newest = max(newest, st.st_mtime)
                elif _is_dir(entry):
                    stack.append((entry.path, f"{prefix}{entry.name}/"))
    return files, total, newest


def _os_error(exc: OSError, what: str) -> StoreError:
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    return StoreError(f"{what}: {reason} ({exc.filename or ''})".replace(" ()", ""))


def _entries(path: Path) -> list[tuple[str, bool]]:
    """(name, is_dir) of a directory's entries; symlinks are left out (never steps)."""
    try:
        with os.scandir(path) as entries:
            return [(e.name, _is_dir(e)) for e in entries if _is_dir(e) or _is_file(e)]
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        raise _os_error(exc, f"cannot list {path}") from exc


def _children(path: Path) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


@dataclass(frozen=True, slots=True)
class RunPlace:
    """Where a run lives: ``root`` is its own folder, ``ckpt_dir`` the one holding its steps."""

    project: str
    name: str
    root: Path
    ckpt_dir: Path
    layout: Layout


class DirFiles:
    """The side files of one run directory, for a layout to read (see ``layouts.RunFiles``)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def read_text(self, path: str) -> str | None:
        target = self.directory / path
        try:
            if target.is_symlink() or not target.is_file() or target.stat().st_size > MAX_SIDE_FILE:
                return None
            return target.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None

    def link_target(self, name: str) -> str | None:
        link = self.directory / name
        if not link.is_symlink():
            return None
        target = Path(os.path.realpath(link))
        return target.name if target.parent == Path(os.path.realpath(self.directory)) else None


class LocalStore:
    """A directory of runs: an ART base, a trainer's output directory, or a tree of both.

    ART: ``{base}/{project}/models/{model}/checkpoints/{step:04d}/`` (and ART's
    pre-2025 layout, with step directories directly in the model directory).
    Elsewhere, any folder (up to ``MAX_DEPTH`` below the base) that directly
    holds a trainer's step checkpoints is a run; see ``docs/layouts.md`` for
    how they are named. Never follows a symlink out of the base.
    """

    def __init__(self, base: str | os.PathLike) -> None:
        self.base = Path(base)
        self.location = str(base)
        self._real_base = os.path.realpath(self.base)

    # -- paths -------------------------------------------------------------
    def _inside(self, path: Path, root: str | None = None) -> bool:
        root = root or self._real_base
        real = os.path.realpath(path)
        return real == root or real.startswith(root.rstrip(os.sep) + os.sep)

    def run_dir(self, project: str, run: str) -> Path:
        """The run's folder: where it was found, else where an ART model of that name goes."""
        place = self._discover().get((project, run)) if self.base.is_dir() else None
        if place is not None:
            return place.root
        validate_name(project, "project name")
        validate_name(run, "model name")
        return self.base / project / ART_MODELS / run

    def _checkpoints_dir(self, run_dir: Path) -> tuple[Path, str]:
        """``checkpoints/`` unless the run holds step directories directly (pre-2025 ART)."""
        new = run_dir / ART_CHECKPOINTS
        if new.is_dir() and not new.is_symlink():
            return new, "art"
        try:
            with os.scandir(run_dir) as entries:
                if any(art_step(e.name) is not None and _is_dir(e) for e in entries):
                    return run_dir, "art-legacy"
        except (FileNotFoundError, NotADirectoryError):
            pass
        return new, "art"

    # -- discovery -----------------------------------------------------------
    def _subdirs(self, path: Path) -> list[str]:
        try:
            with os.scandir(path) as entries:
                return sorted(e.name for e in entries if _is_dir(e) and not e.name.startswith("."))
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as exc:
            raise _os_error(exc, f"cannot list {path}") from exc

    def _art_projects(self) -> list[str]:
        return [p for p in self._subdirs(self.base)
                if (self.base / p / ART_MODELS).is_dir() and not (self.base / p / ART_MODELS).is_symlink()
                and self._inside(self.base / p / ART_MODELS)]

    def _base_name(self) -> str:
        return Path(self._real_base).name or "local"

    def _outer_name(self) -> str:
        return Path(self._real_base).parent.name or "local"

    def _naming(self, run_dir: Path) -> tuple[str, str, Path]:
        """(project, run, run root) for a folder holding step checkpoints."""
        root = run_dir.parent if run_dir.name in CONTAINERS and run_dir != self.base else run_dir
        if root == self.base:
            return self._outer_name(), self._base_name(), root
        parent = root.parent
        project = self._base_name() if parent == self.base else "/".join(parent.relative_to(self.base).parts)
        return project, root.name, root

    def _walk(self, path: Path, depth: int, skip: set[Path], found: dict[tuple[str, str], RunPlace]) -> None:
        scan = detect(_entries(path), lambda name: _children(path / name))
        if scan is not None:
            project, run, root = self._naming(path)
            found.setdefault((project, run), RunPlace(project, run, root, path, scan.layout))
            return  # runs do not nest: what is inside a run belongs to its checkpoints
        if depth >= MAX_DEPTH:
            return
        for name in self._subdirs(path):
            child = path / name
            if child not in skip:
                self._walk(child, depth + 1, skip, found)

    def _discover(self) -> dict[tuple[str, str], RunPlace]:
        if not self.base.is_dir():
            raise NotFound(f"no directory at {self.location} (pass a location, e.g. ckpt-tui ls ./.art)")
        found: dict[tuple[str, str], RunPlace] = {}
        art = self._art_projects()
        for project in art:
            for model in self._subdirs(self.base / project / ART_MODELS):
                root = self.base / project / ART_MODELS / model
                ckpt_dir, kind = self._checkpoints_dir(root)
                found[(project, model)] = RunPlace(project, model, root, ckpt_dir,
                                                   ART if kind == "art" else ART_LEGACY)
        self._walk(self.base, 0, {self.base / p / ART_MODELS for p in art}, found)
        return found

    def _place(self, project: str, run: str) -> RunPlace:
        place = self._discover().get((project, run))
        if place is None:
            validate_name(run, "model name")
            if "/" not in project:
                validate_name(project, "project name")
            raise NotFound(f"no run {run!r} in project {project!r} of {self.location}")
        if place.root.is_symlink() or not self._inside(place.root):
            raise NotFound(f"no run {run!r} in project {project!r} of {self.location}")
        return place

    # -- listing -------------------------------------------------------------
    def list_projects(self) -> list[str]:
        projects = set(self._art_projects()) | {p for p, _ in self._discover()}
        return sorted(projects)

    def list_runs(self, project: str) -> list[str]:
        runs = sorted(r for p, r in self._discover() if p == project)
        if not runs and "/" not in project:
            validate_name(project, "project name")
        return runs

    def _scan_checkpoint(self, path: str, name: str, step: int, is_dir: bool | None = None) -> Checkpoint:
        """A checkpoint directory, or a single-file checkpoint (Lightning's ``.ckpt``)."""
        if is_dir is None:
            is_dir = os.path.isdir(path) and not os.path.islink(path)
        if not is_dir:
            st = os.lstat(path)
            return Checkpoint(step=step, bytes=st.st_size, mtime=st.st_mtime, name=name, location=path,
                              files=(FileEntry(name, st.st_size),))
        files, total, newest = scan_tree(path)
        return Checkpoint(step=step, bytes=total, mtime=newest or os.lstat(path).st_mtime, name=name,
                          location=path, files=tuple(files))

    def _scan(self, place: RunPlace, with_metrics: bool):
        entries = _entries(place.ckpt_dir)
        scan = scan_entries(place.layout, entries, lambda n: _children(place.ckpt_dir / n))
        found = place.layout.inspect(scan.steps, DirFiles(place.ckpt_dir), with_metrics)
        return scan, found, dict(entries)

    def load_run(self, project: str, run: str, with_metrics: bool = True) -> Run:
        place = self._place(project, run)
        scan, found, is_dir = self._scan(place, with_metrics)
        folder = str(place.ckpt_dir)
        complete, pending = [], []
        for name, step in scan.steps.items():
            ckpt = self._scan_checkpoint(os.path.join(folder, name), name, step, is_dir.get(name))
            if name in found.in_progress:
                pending.append(_incomplete(ckpt, found.in_progress[name]))
            else:
                complete.append(ckpt)
        for name, (step, note) in sorted(scan.pending.items()):
            ckpt = self._scan_checkpoint(str(place.ckpt_dir / name), name, step)
            if name.startswith(FORKING_PREFIX) and not _abandoned(_newest_write(place.ckpt_dir / name)):
                note = FORK_IN_PROGRESS
            pending.append(_incomplete(ckpt, note))
        if not with_metrics:
            metrics = Metrics()
        elif place.layout in (ART, ART_LEGACY):
            metrics = self._art_metrics(project, run, place.root)
        else:
            metrics = self._layout_metrics(place, scan, found.metrics)
        return Run(project, run, complete, metrics, layout=place.layout.name,
                   protected=dict(found.protected), pending=sorted(pending, key=lambda c: c.step))

    def _layout_metrics(self, place: RunPlace, scan, own: Metrics) -> Metrics:
        """The layout's own metrics; TensorBoard event files when it has none (Megatron, verl)."""
        if not wants_event_metrics(own):
            return own
        steps = {place.ckpt_dir / name for name in (*scan.steps, *scan.pending)}
        found = tensorboard_metrics(place.root, skip=steps, label=f"{place.project}/{place.name}")
        return merge_name_values(found, own)

    # -- history -------------------------------------------------------------
    def _read_history_lines(self, project: str, run: str, root: Path | None = None) -> list[str] | None:
        path = (root or self.run_dir(project, run)) / ART_HISTORY
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                return handle.readlines()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _os_error(exc, f"cannot read {path}") from exc

    def _is_art(self, project: str, run: str) -> bool:
        place = self._discover().get((project, run)) if self.base.is_dir() else None
        return place is None or place.layout in (ART, ART_LEGACY)

    def read_metrics(self, project: str, run: str) -> Metrics:
        if not self._is_art(project, run):
            return self.load_run(project, run).metrics
        return self._art_metrics(project, run)

    def _art_metrics(self, project: str, run: str, root: Path | None = None) -> Metrics:
        lines = self._read_history_lines(project, run, root)
        if lines is None:
            return Metrics()
        records, malformed = read_history_records(lines)
        return metrics_from_records(records, malformed)

    def read_history(self, project: str, run: str) -> list[dict]:
        if not self._is_art(project, run):
            layout = self._place(project, run).layout.name
            raise Refused(f"{project}/{run} is a {layout} run: its log travels inside its checkpoints; "
                          "fork without --with-history")
        return read_history_records(self._read_history_lines(project, run) or [])[0]

    def write_history(self, project: str, run: str, records: list[dict]) -> None:
        target = self._target_layout(project, run, ART)
        if target not in (ART, ART_LEGACY):
            raise Refused(f"{project} holds {target.name} runs, which keep no history file; nothing copied")
        path = self.run_dir(project, run) / ART_HISTORY
        if path.exists():
            raise AlreadyExists(f"{path} exists; history not copied, nothing changed")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{ART_HISTORY}.{uuid.uuid4().hex[:8]}")
        with open(tmp, "x", encoding="utf-8") as handle:
            handle.writelines(json.dumps(r) + "\n" for r in records)
        try:
            os.link(tmp, path)  # fails rather than replace a history written meanwhile
        except FileExistsError:
            raise AlreadyExists(f"{path} exists; history not copied, nothing changed") from None
        finally:
            tmp.unlink()

    # -- deletion ------------------------------------------------------------
    def _checkpoint_path(self, project: str, run: str, checkpoint: Checkpoint,
                         place: RunPlace | None = None) -> Path:
        place = place or self._place(project, run)
        layout, path = place.layout, place.ckpt_dir / checkpoint.name
        is_dir = path.is_dir()
        if (layout.step(checkpoint.name) != checkpoint.step or path.is_symlink() or not path.exists()
                or not layout.accepts(is_dir) or not self._inside(path)
                or (layout.markers and not layout.confirms(_children(path)))):
            raise NotFound(f"{project}/{run}: step {checkpoint.step} is not a checkpoint here")
        return path

    def _refuse_protected(self, place: RunPlace, checkpoint: Checkpoint) -> None:
        """The planner keeps these already; the store checks again, against the disk as it is now."""
        _, found, _ = self._scan(place, with_metrics=False)
        why = found.protected.get(checkpoint.step) or (
            (found.in_progress[checkpoint.name],) if checkpoint.name in found.in_progress else ())
        if why:
            raise Refused(f"{place.project}/{place.name}: step {checkpoint.step} is kept ({', '.join(why)})")

    def delete_checkpoint(self, project: str, run: str, checkpoint: Checkpoint) -> None:
        """Rename the step aside (atomic), then remove it: never half a step under its name."""
        place = self._place(project, run)
        path = self._checkpoint_path(project, run, checkpoint, place)
        self._refuse_protected(place, checkpoint)
        aside = path.with_name(f"{DELETING_PREFIX}{checkpoint.step}-{uuid.uuid4().hex[:8]}")
        try:
            os.rename(path, aside)
            if aside.is_dir():
                shutil.rmtree(aside)
            else:
                aside.unlink()
        except OSError as exc:
            raise _os_error(exc, f"cannot delete step {checkpoint.step} of {project}/{run}") from exc

    def finish_interrupted(self, project: str, run: str) -> list[str]:
        place = self._place(project, run)
        removed = []
        for name, is_dir in sorted(_entries(place.ckpt_dir)):
            if leftover_step(name) is None:
                continue
            path = place.ckpt_dir / name
            if name.startswith(FORKING_PREFIX) and not _abandoned(_newest_write(path)):
                continue  # another process may still be writing this fork
            try:
                shutil.rmtree(path) if is_dir else path.unlink()
            except OSError as exc:
                raise _os_error(exc, f"cannot finish removing {path}") from exc
            removed.append(str(path))
        return removed

    # -- copies --------------------------------------------------------------
    def checkpoint_location(self, project: str, run: str, checkpoint: Checkpoint) -> str:
        return checkpoint.location or str(self._checkpoint_path(project, run, checkpoint))

    def _copy_tree(self, source: Path, target: Path, progress: ByteProgress | None) -> None:
        if source.is_file():
            total = source.stat().st_size
            shutil.copy2(source, target, follow_symlinks=False)
            if progress is not None:
                progress(total, total)
            return
        files = list(scan_files(str(source)))
        total, done = sum(f[1] for f in files), 0
        target.mkdir(parents=True)
        for rel, size, _ in files:
            dest = target / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / rel, dest, follow_symlinks=False)
            done += size
            if progress is not None:
                progress(done, total)

    def _target_layout(self, project: str, run: str, fallback: Layout) -> Layout:
        """The layout a new step of ``project/run`` takes: the run's, else its project's, else ``fallback``."""
        if not self.base.is_dir():
            return fallback
        places = self._discover()
        if (project, run) in places:
            return places[(project, run)].layout
        kinds = [p.layout for (proj, _), p in sorted(places.items()) if proj == project]
        return kinds[0] if kinds else fallback

    def _new_place(self, project: str, run: str, layout: Layout, container: str) -> RunPlace:
        """Where a step of ``project/run`` goes, creating nothing."""
        places = self._discover() if self.base.is_dir() else {}
        if (project, run) in places:
            place = places[(project, run)]
            if place.layout.name != layout.name and {place.layout, layout} != {ART, ART_LEGACY}:
                raise Refused(f"{project}/{run} is a {place.layout.name} run; a {layout.name} "
                              "checkpoint cannot join it; nothing copied")
            return place
        validate_name(run, "model name")
        siblings = [p for (proj, _), p in sorted(places.items()) if proj == project]
        if layout in (ART, ART_LEGACY):
            validate_name(project, "project name")
            root = self.base / project / ART_MODELS / run
            return RunPlace(project, run, root, root / ART_CHECKPOINTS, ART)
        if siblings and siblings[0].layout not in (ART, ART_LEGACY):
            root = siblings[0].root.parent / run
        elif self._discover_base_is_run(places):
            raise Refused(f"{self.location} is a single run; fork into its project "
                          f"{self._outer_name()!r}, or give another location; nothing copied")
        else:
            validate_name(project, "project name")
            root = self.base / project / run
        return RunPlace(project, run, root, root / container if container else root, layout)

    def _discover_base_is_run(self, places: dict[tuple[str, str], RunPlace]) -> bool:
        return any(p.root == self.base for p in places.values())

    def _writable(self, path: Path) -> bool:
        """Inside the base or, when the base is itself a run, beside it in its project's folder."""
        if self._inside(path):
            return True
        places = self._discover() if self.base.is_dir() else {}
        return self._discover_base_is_run(places) and self._inside(path, os.path.dirname(self._real_base))

    def _write_step(self, source: Path, place: RunPlace, step: int, like: str,
                    progress: ByteProgress | None) -> Checkpoint:
        """Copy into a hidden temporary name beside the steps, then rename into place."""
        final = place.ckpt_dir / place.layout.checkpoint_name(step, like)
        if final.exists() or final.is_symlink():
            raise AlreadyExists(f"{final} exists; nothing copied")
        if not self._writable(place.ckpt_dir.parent):
            raise StoreError(f"{place.ckpt_dir} is outside {self.location}")
        place.ckpt_dir.mkdir(parents=True, exist_ok=True)
        if not self._writable(place.ckpt_dir):
            raise StoreError(f"{place.ckpt_dir} is outside {self.location}")
        tmp = place.ckpt_dir / f"{FORKING_PREFIX}{step}-{uuid.uuid4().hex[:8]}"
        try:
            self._copy_tree(source, tmp, progress)
            if tmp.is_dir():
                os.rename(tmp, final)  # a directory never replaces a non-empty one
            else:
                os.link(tmp, final)  # a file would be silently replaced by rename
                tmp.unlink()
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
                raise AlreadyExists(f"{final} appeared meanwhile; nothing overwritten") from exc
            raise _os_error(exc, f"cannot write {final}") from exc
        self._advance_tracker(place, step)
        return self._scan_checkpoint(str(final), final.name, step)

    def _advance_tracker(self, place: RunPlace, step: int) -> None:
        """Name the new step in the trainer's tracker, unless it already names a later one."""
        tracker = place.layout.tracker
        if tracker is None:
            return
        from .layouts import parse_tracker

        path = place.ckpt_dir / tracker
        current = parse_tracker(DirFiles(place.ckpt_dir).read_text(tracker))
        if path.is_symlink() or (path.exists() and (current is None or current >= step)):
            return
        tmp = place.ckpt_dir / f".{tracker}.{uuid.uuid4().hex[:8]}"
        try:
            tmp.write_text(place.layout.tracker_text(step), encoding="utf-8")
            os.replace(tmp, path)  # readers see the old tracker or the new one, never half
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise _os_error(exc, f"step {step} copied, but cannot write {path}") from exc

    def copy_checkpoint(self, project: str, run: str, checkpoint: Checkpoint, to_project: str,
                        to_run: str, progress: ByteProgress | None = None) -> Checkpoint:
        source = self._place(project, run)
        path = self._checkpoint_path(project, run, checkpoint, source)
        layout = ART if source.layout is ART_LEGACY else source.layout
        container = source.ckpt_dir.name if source.ckpt_dir != source.root else ""
        place = self._new_place(to_project, to_run, layout, container)
        return self._write_step(path, place, checkpoint.step, checkpoint.name, progress)

    def download_checkpoint(self, project: str, run: str, checkpoint: Checkpoint, directory: Path,
                            progress: ByteProgress | None = None) -> None:
        source = self._checkpoint_path(project, run, checkpoint)
        shutil.rmtree(directory, ignore_errors=True)
        if source.is_file():
            directory.mkdir(parents=True)
            self._copy_tree(source, directory / source.name, progress)
        else:
            self._copy_tree(source, directory, progress)

    def upload_checkpoint(self, directory: Path, to_project: str, to_run: str, step: int,
                          progress: ByteProgress | None = None) -> Checkpoint:
        entries = _entries(directory)
        single = entries[0][0] if len(entries) == 1 and not entries[0][1] else None
        if single is not None and LIGHTNING.step(single) == step:
            layout = self._target_layout(to_project, to_run, LIGHTNING)
            if layout is LIGHTNING:
                place = self._new_place(to_project, to_run, LIGHTNING, ART_CHECKPOINTS)
                return self._write_step(directory / single, place, step, single, progress)
        layout = self._target_layout(to_project, to_run, ART)
        if layout is LIGHTNING or layout is ART_LEGACY:
            layout = ART
        place = self._new_place(to_project, to_run, layout, "")
        return self._write_step(directory, place, step, "", progress)


FORK_IN_PROGRESS = "fork in progress"


def _newest_write(path: Path) -> float:
    """The latest modification time of ``path`` or anything under it.

    Directories count: copies keep their source's file times, but creating a
    file in a directory updates the directory's.
    """
    newest = path.lstat().st_mtime
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            newest = max(newest, os.lstat(os.path.join(root, name)).st_mtime)
    return newest


def _abandoned(last_write: float) -> bool:
    return time.time() - last_write > ABANDONED_FORK_SECONDS


def _incomplete(ckpt: Checkpoint, note: str) -> Checkpoint:
    return Checkpoint(ckpt.step, ckpt.bytes, ckpt.mtime, ckpt.name, ckpt.location, ckpt.files,
                      complete=False, note=note)


# Kept for callers of the ART-only helpers.
__all__ = ["LocalStore", "RunPlace", "DirFiles", "scan_files", "art_name", "art_step"]
