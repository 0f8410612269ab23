"""Checkpoints on a local (or mounted) disk, in OpenPipe ART's LocalBackend layout."""

from __future__ import annotations

import errno
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from ..core.errors import AlreadyExists, NotFound, StoreError
from ..core.metrics import Metrics, metrics_from_records, read_history_records
from ..core.models import Checkpoint, FileEntry, Run
from ..core.names import validate_name
from ..core.store import ByteProgress
from .layouts import (ART_CHECKPOINTS, ART_HISTORY, ART_MODELS, DELETING_PREFIX, FORKING_PREFIX,
                      art_name, art_step, leftover_step)


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
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


def _os_error(exc: OSError, what: str) -> StoreError:
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    return StoreError(f"{what}: {reason} ({exc.filename or ''})".replace(" ()", ""))


class LocalStore:
    """An ART base directory: ``{base}/{project}/models/{model}/checkpoints/{step:04d}/``.

    Also reads ART's pre-2025 layout, with step directories directly in the
    model directory. Never follows a symlink out of the base.
    """

    def __init__(self, base: str | os.PathLike) -> None:
        self.base = Path(base)
        self.location = str(base)
        self._real_base = os.path.realpath(self.base)

    # -- paths -------------------------------------------------------------
    def _inside(self, path: Path) -> bool:
        real = os.path.realpath(path)
        return real == self._real_base or real.startswith(self._real_base + os.sep)

    def run_dir(self, project: str, run: str) -> Path:
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
        except FileNotFoundError:
            pass
        return new, "art"

    def _existing_run_dir(self, project: str, run: str) -> Path:
        path = self.run_dir(project, run)
        if not path.is_dir() or path.is_symlink() or not self._inside(path):
            raise NotFound(f"no model {run!r} in project {project!r} of {self.location}")
        return path

    # -- listing -------------------------------------------------------------
    def _subdirs(self, path: Path) -> list[str]:
        try:
            with os.scandir(path) as entries:
                return sorted(e.name for e in entries if _is_dir(e) and not e.name.startswith("."))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise _os_error(exc, f"cannot list {path}") from exc

    def list_projects(self) -> list[str]:
        if not self.base.is_dir():
            raise NotFound(f"no ART directory at {self.location} (pass a location, e.g. ckpt-tui ls ./.art)")
        return [p for p in self._subdirs(self.base)
                if (self.base / p / ART_MODELS).is_dir() and self._inside(self.base / p / ART_MODELS)]

    def list_runs(self, project: str) -> list[str]:
        validate_name(project, "project name")
        return self._subdirs(self.base / project / ART_MODELS)

    def _scan_checkpoint(self, path: str, name: str, step: int) -> Checkpoint:
        files = tuple(scan_files(path))
        mtime = max((f[2] for f in files), default=0.0) or os.lstat(path).st_mtime
        return Checkpoint(step=step, bytes=sum(f[1] for f in files), mtime=mtime, name=name,
                          location=path, files=tuple(FileEntry(p, b) for p, b, _ in files))

    def _scan_checkpoints(self, ckpt_dir: Path) -> tuple[list[Checkpoint], list[Checkpoint]]:
        complete, pending = [], []
        try:
            entries = list(os.scandir(ckpt_dir))
        except FileNotFoundError:
            return complete, pending
        except OSError as exc:
            raise _os_error(exc, f"cannot list {ckpt_dir}") from exc
        for entry in entries:
            if not _is_dir(entry):
                continue
            step = art_step(entry.name)
            if step is not None:
                complete.append(self._scan_checkpoint(entry.path, entry.name, step))
            elif (left := leftover_step(entry.name)) is not None:
                ckpt = self._scan_checkpoint(entry.path, entry.name, left[1])
                note = "interrupted delete" if left[0] == "deleting" else "interrupted fork"
                pending.append(Checkpoint(ckpt.step, ckpt.bytes, ckpt.mtime, ckpt.name, ckpt.location,
                                          ckpt.files, complete=False, note=note))
        return complete, pending

    def load_run(self, project: str, run: str, with_metrics: bool = True) -> Run:
        run_dir = self._existing_run_dir(project, run)
        ckpt_dir, layout = self._checkpoints_dir(run_dir)
        complete, pending = self._scan_checkpoints(ckpt_dir)
        metrics = self.read_metrics(project, run) if with_metrics else Metrics()
        return Run(project, run, complete, metrics, layout=layout, pending=pending)

    # -- history -------------------------------------------------------------
    def _read_history_lines(self, project: str, run: str) -> list[str] | None:
        path = self.run_dir(project, run) / ART_HISTORY
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                return handle.readlines()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _os_error(exc, f"cannot read {path}") from exc

    def read_metrics(self, project: str, run: str) -> Metrics:
        lines = self._read_history_lines(project, run)
        if lines is None:
            return Metrics()
        records, malformed = read_history_records(lines)
        return metrics_from_records(records, malformed)

    def read_history(self, project: str, run: str) -> list[dict]:
        return read_history_records(self._read_history_lines(project, run) or [])[0]

    def write_history(self, project: str, run: str, records: list[dict]) -> None:
        import json

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
    def _checkpoint_path(self, project: str, run: str, checkpoint: Checkpoint) -> Path:
        ckpt_dir, _ = self._checkpoints_dir(self._existing_run_dir(project, run))
        path = ckpt_dir / checkpoint.name
        if (art_step(checkpoint.name) != checkpoint.step or path.is_symlink()
                or not path.is_dir() or not self._inside(path)):
            raise NotFound(f"{project}/{run}: step {checkpoint.step} is not a checkpoint directory here")
        return path

    def delete_checkpoint(self, project: str, run: str, checkpoint: Checkpoint) -> None:
        """Rename the step aside (atomic), then remove it: never half a step under its name."""
        path = self._checkpoint_path(project, run, checkpoint)
        aside = path.with_name(f"{DELETING_PREFIX}{checkpoint.step}-{uuid.uuid4().hex[:8]}")
        try:
            os.rename(path, aside)
            shutil.rmtree(aside)
        except OSError as exc:
            raise _os_error(exc, f"cannot delete step {checkpoint.step} of {project}/{run}") from exc

    def finish_interrupted(self, project: str, run: str) -> list[str]:
        ckpt_dir, _ = self._checkpoints_dir(self._existing_run_dir(project, run))
        removed = []
        if not ckpt_dir.is_dir():
            return removed
        for name in sorted(os.listdir(ckpt_dir)):
            path = ckpt_dir / name
            if name.startswith((DELETING_PREFIX, FORKING_PREFIX)) and not path.is_symlink() and path.is_dir():
                try:
                    shutil.rmtree(path)
                except OSError as exc:
                    raise _os_error(exc, f"cannot finish removing {path}") from exc
                removed.append(str(path))
        return removed

    # -- copies --------------------------------------------------------------
    def checkpoint_location(self, project: str, run: str, checkpoint: Checkpoint) -> str:
        return checkpoint.location or str(self._checkpoint_path(project, run, checkpoint))

    def _copy_tree(self, source: Path, target: Path, progress: ByteProgress | None) -> None:
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

    def _place(self, source: Path, to_project: str, to_run: str, step: int,
               progress: ByteProgress | None) -> Checkpoint:
        """Copy into a hidden temporary directory, then rename into place."""
        run_dir = self.run_dir(to_project, to_run)
        ckpt_dir, _ = self._checkpoints_dir(run_dir)
        final = ckpt_dir / art_name(step)
        if final.exists() or final.is_symlink():
            raise AlreadyExists(f"{final} exists; nothing copied")
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        if not self._inside(ckpt_dir):
            raise StoreError(f"{ckpt_dir} is outside {self.location}")
        tmp = ckpt_dir / f"{FORKING_PREFIX}{step}-{uuid.uuid4().hex[:8]}"
        try:
            self._copy_tree(source, tmp, progress)
            os.rename(tmp, final)  # a directory never replaces a non-empty one
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
                raise AlreadyExists(f"{final} appeared meanwhile; nothing overwritten") from exc
            raise _os_error(exc, f"cannot write {final}") from exc
        return self._scan_checkpoint(str(final), final.name, step)

    def copy_checkpoint(self, project: str, run: str, checkpoint: Checkpoint, to_project: str,
                        to_run: str, progress: ByteProgress | None = None) -> Checkpoint:
        return self._place(self._checkpoint_path(project, run, checkpoint), to_project, to_run,
                           checkpoint.step, progress)

    def download_checkpoint(self, project: str, run: str, checkpoint: Checkpoint, directory: Path,
                            progress: ByteProgress | None = None) -> None:
        source = self._checkpoint_path(project, run, checkpoint)
        shutil.rmtree(directory, ignore_errors=True)
        self._copy_tree(source, directory, progress)

    def upload_checkpoint(self, directory: Path, to_project: str, to_run: str, step: int,
                          progress: ByteProgress | None = None) -> Checkpoint:
        return self._place(Path(directory), to_project, to_run, step, progress)
