"""Checkpoints kept as Weights & Biases artifacts, the way ART's ServerlessBackend keeps them.

Mapping: the projects of an entity; runs are the ``lora`` artifact collections
of a project (ART names them after the model); checkpoints are the versions of
a collection, whose step is read from their ``step{N}`` alias. Metrics come
from the W&B run whose id is the model name, keyed by ``training_step``.

``wandb`` costs about 0.4 s to import and its ``Api`` starts a helper process,
so both happen lazily, on first use (the app does that in a worker).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from ..core.errors import AlreadyExists, CkptError, NotFound, Refused, StoreError
from ..core.metrics import Metrics, metrics_from_records
from ..core.models import Blob, Checkpoint, FileEntry, Pending, Run
from ..core.names import validate_name
from ..core.store import ByteProgress, Space, Store

SCHEME = "wandb://"
ARTIFACT_TYPE = "lora"
STEP_ALIAS = re.compile(r"^step(\d+)$")
STEP_AXIS, FALLBACK_AXIS = "training_step", "_step"
DEFAULT_TIMEOUT = 10.0
# Manifests read at once when a run's sizes are wanted (a query and a download each).
MANIFEST_THREADS = 8
# Aliases every version carries, which say nothing about whether someone relies on it.
ROUTINE_ALIASES = re.compile(r"^(latest|v\d+|step\d+)$")


def step_of_aliases(aliases: list[str]) -> int | None:
    """The step named by a ``step{N}`` alias; the highest if there are several."""
    steps = [int(m.group(1)) for a in aliases if (m := STEP_ALIAS.match(a))]
    return max(steps) if steps else None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    line = text.splitlines()[0]
    return line if len(line) <= 300 else line[:297] + "..."


def _env_timeout() -> float:
    try:
        return float(os.environ.get("WANDB_HTTP_TIMEOUT", DEFAULT_TIMEOUT))
    except ValueError:
        return DEFAULT_TIMEOUT


def _caused_by(exc: BaseException | None, kind: type[BaseException]) -> bool:
    """Whether ``kind`` is anywhere in the chain (the SDK re-wraps its errors)."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, kind) or isinstance(getattr(exc, "exc", None), kind):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def _timestamp(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return 0.0
    return 0.0


def history_records(rows: list[dict]) -> tuple[list[dict], int]:
    """W&B history rows as core records keyed by ``training_step`` (else ``_step``).

    Keys starting with ``_`` (``_runtime``, ``_timestamp``...) are W&B's own,
    not metrics. Returns the records and how many rows had no step.
    """
    axis = STEP_AXIS if any(STEP_AXIS in row for row in rows) else FALLBACK_AXIS
    records, missing = [], 0
    for row in rows:
        if axis not in row:
            missing += 1
            continue
        record = {k: v for k, v in row.items() if not k.startswith("_") and k not in ("step", STEP_AXIS)}
        record[STEP_AXIS] = row[axis]
        records.append(record)
    return records, missing


class WandbStore(Store):
    """``wandb://ENTITY`` (every project) or ``wandb://ENTITY/PROJECT`` (just that one).

    Credentials and server are the SDK's own: ``WANDB_API_KEY`` or a prior
    ``wandb login``, and ``WANDB_BASE_URL`` for a self-hosted server (or the
    ``base_url`` option). Never prompts for a key. ``timeout`` (seconds, default
    ``WANDB_HTTP_TIMEOUT`` or 10) bounds each request, so a dead server gives an
    error instead of a frozen app; ``api`` lets stores share one ``wandb.Api``.
    """

    # Shown where a deletion is confirmed: W&B frees storage later, and only for unshared files.
    deletion_note = ("W&B deletes softly: versions disappear now, storage is reclaimed later "
                     "by W&B's garbage collector, and only for files no remaining version uses "
                     "(W&B keeps one copy per file digest): the bytes shown count only those.")

    def __init__(self, entity: str, project: str | None = None, *, base_url: str | None = None,
                 api_key: str | None = None, timeout: float | None = None, api: Any = None) -> None:
        self.entity = validate_name(entity, "W&B entity")
        self.project = validate_name(project, "W&B project") if project else None
        self.base_url = base_url
        # Seconds to wait for each answer; WANDB_HTTP_TIMEOUT is the SDK's own setting for it.
        self.timeout = timeout if timeout is not None else _env_timeout()
        self.location = f"{SCHEME}{entity}" + (f"/{project}" if project else "")
        self._api_key = api_key
        self._api: Any = api  # an existing wandb.Api may be shared between stores
        self._lock = threading.Lock()

    def space(self) -> Space:
        """W&B's API tells no free space: storage is what the plan pays for."""
        return Space(None, note="W&B: no free-space figure")

    @classmethod
    def from_url(cls, url: str, **options: Any) -> WandbStore:
        if not url.startswith(SCHEME):
            raise Refused(f"not a W&B location: {url!r} (expected wandb://ENTITY[/PROJECT])")
        parts = [p for p in url[len(SCHEME):].split("/") if p]
        if not parts or len(parts) > 2:
            raise Refused(f"bad W&B location {url!r}: expected wandb://ENTITY or wandb://ENTITY/PROJECT")
        unknown = set(options) - {"base_url", "api_key", "timeout", "api"}
        if unknown:
            raise Refused(f"option(s) {', '.join(sorted(unknown))} do not apply to W&B locations "
                          "(set WANDB_BASE_URL for a self-hosted server)")
        return cls(*parts, **options)

    # -- connection ------------------------------------------------------------
    @property
    def api(self) -> Any:
        """The ``wandb.Api``, built on first use (import, helper process, login check)."""
        with self._lock:
            if self._api is None:
                self._api = self._build_api()
            return self._api

    def connect(self) -> None:
        """Build the ``Api`` now; the app calls this in a worker so start-up never blocks it."""
        self.api  # noqa: B018

    def _build_api(self) -> Any:
        try:
            import wandb
            from wandb.sdk import wandb_setup
            from wandb.sdk.lib import wbauth
        except ImportError as exc:
            raise StoreError("W&B locations need the wandb package: pip install 'ckpt-tui[wandb]'") from exc
        base_url = (self.base_url or wandb_setup.singleton().settings.base_url).rstrip("/")
        key = self._api_key
        if key is None:
            # The SDK would prompt on a terminal; the app owns the terminal, so never prompt.
            try:
                auth = wbauth.authenticate_session(host=base_url, source="ckpt-tui", no_offline=True,
                                                   prompt=False, update_session=False)
            except Exception as exc:  # a malformed key, an unreadable .netrc
                raise StoreError(f"W&B credentials for {base_url}: {_one_line(exc)}") from exc
            if auth is None:
                raise StoreError(f"no W&B API key for {base_url}: set WANDB_API_KEY or run `wandb login`")
            key = getattr(auth, "api_key", None)
        try:
            return wandb.Api(overrides={"base_url": base_url}, timeout=self.timeout, api_key=key)
        except Exception as exc:
            raise StoreError(f"cannot connect to W&B at {base_url}: {self._reason(exc)}") from exc

    def _reason(self, exc: BaseException) -> str:
        text = _one_line(exc)
        if "did not respond in time" in text:
            # wandb-core is waiting on a server that hangs, or keeps retrying one that fails.
            return f"no answer within {self.timeout:g} s (server down, overloaded or failing)"
        return text.removeprefix("Failed to verify credentials with ").strip()

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Turn whatever the SDK raises (CommError, ValueError, timeouts...) into one line."""
        try:
            yield
        except CkptError:
            raise
        except Exception as exc:
            raise StoreError(f"{what} ({self.location}): {self._reason(exc)}") from exc

    def _path(self, project: str, run: str | None = None) -> str:
        validate_name(project, "project name")
        if run is None:
            return f"{self.entity}/{project}"
        return f"{self.entity}/{project}/{validate_name(run, 'model name')}"

    # -- listing ---------------------------------------------------------------
    def list_projects(self) -> list[str]:
        if self.project:
            return [self.project]
        with self._errors(f"cannot list the projects of {self.entity}"):
            api = self.api
            # Api.projects() caches its answer per entity; a refresh must see new projects.
            getattr(api, "_projects", {}).pop(self.entity, None)
            return sorted(p.name for p in api.projects(self.entity))

    def list_runs(self, project: str) -> list[str]:
        path = self._path(project)
        with self._errors(f"cannot list the {ARTIFACT_TYPE} collections of {path}"):
            if not self._has_lora_type(path):
                return []
            return sorted(c.name for c in self.api.artifact_collections(path, ARTIFACT_TYPE))

    def _has_lora_type(self, path: str) -> bool:
        from wandb.errors import CommError

        try:
            self.api.artifact_type(ARTIFACT_TYPE, path).id  # noqa: B018 (fetches it)
        except (CommError, ValueError) as exc:
            if "not found" in str(exc).lower() or "could not find" in str(exc).lower():
                return False
            raise
        return True

    def _versions(self, project: str, run: str) -> list[Any]:
        """The committed versions of a collection, as SDK artifacts."""
        path = self._path(project, run)
        with self._errors(f"cannot list the versions of {path}"):
            try:
                return list(self.api.artifacts(ARTIFACT_TYPE, path))
            except ValueError:
                # The SDK says the same for "no such collection" and a bad answer; ask which it was.
                if run not in self.list_runs(project):
                    raise NotFound(f"no {ARTIFACT_TYPE} collection {run!r} in {self.entity}/{project}") from None
                raise

    def _checkpoint(self, project: str, run: str, artifact: Any, step: int | None) -> Checkpoint:
        version = artifact.version
        return Checkpoint(step=step, bytes=int(artifact.size or 0), mtime=_timestamp(artifact.created_at),
                          name=version, location=f"{SCHEME}{self.entity}/{project}/{run}:{version}",
                          pending=None if step is not None else Pending.NO_STEP,
                          detail="" if step is not None else "no step{N} alias (upload in progress or not from ART)")

    def _stored(self, artifact: Any) -> tuple[int, tuple[Blob, ...]]:
        """What W&B stores for a version, from its manifest: bytes with each file digest
        once, and those files as blobs that other versions of the collection may share."""
        with self._errors(f"cannot read the manifest of {artifact.name}"):
            entries = list(artifact.manifest.entries.values())
        sizes: dict[str, int] = {}
        counts: dict[str, int] = {}
        for entry in entries:
            if entry.ref is not None:
                continue  # a reference: the bytes live in the user's own storage, not W&B's
            sizes[entry.digest] = int(entry.size or 0)
            counts[entry.digest] = counts.get(entry.digest, 0) + 1
        blobs = tuple(Blob(f"digest:{digest}", size, None, counts[digest]) for digest, size in sizes.items())
        return sum(sizes.values()), blobs

    def _with_stored(self, artifacts: list[Any],
                     checkpoints: list[Checkpoint]) -> tuple[list[Checkpoint], list[str]]:
        """Checkpoints sized by content (manifests read in parallel); a version whose manifest
        cannot be read keeps W&B's total size and the run says so."""
        def stored(artifact: Any) -> tuple[int, tuple[Blob, ...]] | CkptError:
            try:
                return self._stored(artifact)
            except CkptError as exc:
                return exc

        with ThreadPoolExecutor(MANIFEST_THREADS, thread_name_prefix="ckpt-tui-wandb") as pool:
            found = list(pool.map(stored, artifacts))
        refs: dict[str, int] = {}
        for content in found:
            for blob in content[1] if isinstance(content, tuple) else ():
                refs[blob.key] = refs.get(blob.key, 0) + blob.count
        sized, unread = [], []
        for artifact, ckpt, content in zip(artifacts, checkpoints, found):
            if isinstance(content, CkptError):
                unread.append(ckpt.name)
                sized.append(ckpt)
                continue
            bytes_, blobs = content
            if artifact.is_link:  # the files belong to the source version, which a link never frees
                blobs = tuple(b._replace(links=refs[b.key] + 1) for b in blobs)
            sized.append(ckpt._replace(bytes=bytes_, blobs=blobs))
        notes = [f"manifests of {', '.join(unread)} could not be read: their sizes are W&B's totals, "
                 "shared files may be counted more than once"] if unread else []
        return sized, notes

    def load_run(self, project: str, run: str, with_metrics: bool = True, with_sizes: bool = True,
                 with_state: bool = False) -> Run:
        complete, pending, protected = [], [], {}
        artifacts = self._versions(project, run)
        checkpoints = [self._checkpoint(project, run, a, step_of_aliases(list(a.aliases))) for a in artifacts]
        notes: list[str] = []
        if with_sizes:
            checkpoints, notes = self._with_stored(artifacts, checkpoints)
        for artifact, ckpt in zip(artifacts, checkpoints):
            (complete if ckpt.complete else pending).append(ckpt)
            # A version someone pointed a custom alias at ("best", "prod") is theirs to keep.
            kept_for = tuple(f"W&B alias {a}" for a in artifact.aliases if not ROUTINE_ALIASES.match(a))
            if ckpt.step is not None and kept_for:
                protected[ckpt.step] = kept_for
        steps = [c.step for c in complete]
        duplicated = {s for s in steps if steps.count(s) > 1}
        if duplicated:
            # Two versions claiming one step: show them, but delete neither by mistake.
            pending += [c._replace(pending=Pending.DUPLICATE_STEP, detail=f"alias step{c.step}")
                        for c in complete if c.step in duplicated]
            complete = [c for c in complete if c.step not in duplicated]
        metrics = self.read_metrics(project, run) if with_metrics else Metrics()
        return Run(project, run, complete, metrics, layout="wandb", protected=protected, pending=pending,
                   notes=notes)

    # -- history ---------------------------------------------------------------
    def _history_rows(self, project: str, run: str) -> list[dict] | None:
        """All history rows of the W&B run named after the model, or None if there is none."""
        path = self._path(project, run)
        with self._errors(f"cannot read the history of run {path}"):
            from wandb.apis.public.runs import RunNotFoundError

            try:
                self.api.flush()  # Api.run() caches runs; history may have grown since
                wandb_run = self.api.run(path)
            except Exception as exc:  # the SDK wraps RunNotFoundError in a CommError
                if _caused_by(exc, RunNotFoundError):
                    return None  # a collection without a run of the same name: no metrics
                raise
            return [dict(row) for row in wandb_run.scan_history(page_size=1000)]

    def read_metrics(self, project: str, run: str) -> Metrics:
        rows = self._history_rows(project, run)
        if not rows:
            return Metrics()
        records, missing = history_records(rows)
        return metrics_from_records(records, missing)

    def read_history(self, project: str, run: str) -> list[dict]:
        return history_records(self._history_rows(project, run) or [])[0]

    # -- deletion --------------------------------------------------------------
    def _version(self, project: str, run: str, checkpoint: Checkpoint) -> Any:
        """The version behind ``checkpoint``, re-read: it must still carry its step alias."""
        for artifact in self._versions(project, run):
            if artifact.version == checkpoint.name:
                if step_of_aliases(list(artifact.aliases)) != checkpoint.step:
                    raise NotFound(f"{project}/{run}:{checkpoint.name} no longer has alias "
                                   f"step{checkpoint.step}; nothing done")
                return artifact
        raise NotFound(f"{project}/{run}: version {checkpoint.name} (step {checkpoint.step}) no longer exists")

    def delete_checkpoint(self, project: str, run: str, checkpoint: Checkpoint) -> None:
        """Delete one version, with its aliases (one call: it is whole or gone).

        W&B deletes softly; the storage is reclaimed later by its garbage collector.
        """
        artifact = self._version(project, run, checkpoint)
        name = f"{project}/{run}:{checkpoint.name}"
        if "latest" in artifact.aliases:
            raise Refused(f"{name} carries the W&B alias 'latest'; not deleted")
        with self._errors(f"cannot delete {name} (step {checkpoint.step})"):
            if not artifact.is_link:
                # Deleting a source version takes its links (forks, registry entries) with it.
                links = [f"{a.project}/{a.name.split(':')[0]}" for a in artifact.linked_artifacts]
                if links:
                    raise Refused(f"{name} is linked into {', '.join(sorted(links))}; not deleted")
            # On a linked version (a fork made by linking) this removes only the link.
            artifact.delete(delete_aliases=True)

    def finish_interrupted(self, project: str, run: str) -> list[str]:
        return []  # deleting a version is a single call: nothing is ever left half done

    # -- copies ----------------------------------------------------------------
    def checkpoint_location(self, project: str, run: str, checkpoint: Checkpoint) -> str:
        return checkpoint.location or f"{SCHEME}{self.entity}/{project}/{run}:{checkpoint.name}"

    def fork_into(self, source: Store, source_run: Run, checkpoint: Checkpoint, to_project: str,
                  to_run: str, history: list[dict] | None = None,
                  progress: ByteProgress | None = None) -> Checkpoint:
        """Link the version into ``to_run``'s collection with the same step alias: no bytes move."""
        if source is not self:
            raise Refused("uploading checkpoints to W&B is not supported; fork within W&B or to a local "
                          "directory instead; nothing copied")
        if history is not None:
            raise Refused("writing history to W&B is not supported (log it with wandb.init); nothing copied")
        target = self._path(to_project, to_run)
        alias = f"step{checkpoint.step}"
        if to_run in self.list_runs(to_project):
            raise AlreadyExists(f"{to_project}/{to_run} already exists; a fork creates a new run; nothing linked")
        artifact = self._version(source_run.project, source_run.name, checkpoint)
        with self._errors(f"cannot link {source_run.project}/{source_run.name}:{checkpoint.name} into {target}"):
            artifact.link(target, aliases=[alias])
        if progress is not None:
            progress(checkpoint.bytes, checkpoint.bytes)
        for linked in self._versions(to_project, to_run):
            if alias in linked.aliases:
                return self._checkpoint(to_project, to_run, linked, checkpoint.step)
        raise StoreError(f"linked step {checkpoint.step} into {target}, but it is not listed there yet")

    def checkpoint_files(self, run: Run, checkpoint: Checkpoint) -> list[FileEntry]:
        artifact = self._version(run.project, run.name, checkpoint)
        with self._errors(f"cannot list the files of {run.project}/{run.name}:{checkpoint.name}"):
            return [FileEntry(f.name, int(f.size or 0)) for f in artifact.files()]

    def download_checkpoint(self, run: Run, checkpoint: Checkpoint, directory: Path,
                            progress: ByteProgress | None = None) -> None:
        artifact = self._version(run.project, run.name, checkpoint)
        if progress is not None:
            progress(0, checkpoint.bytes)
        with self._errors(f"cannot download {run.project}/{run.name}:{checkpoint.name}"):
            # skip_cache: a fork should not leave a second copy in the W&B cache.
            artifact.download(root=os.fspath(directory), skip_cache=True)
        if progress is not None:
            progress(checkpoint.bytes, checkpoint.bytes)
