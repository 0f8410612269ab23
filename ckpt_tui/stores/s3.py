"""Checkpoints in an S3 bucket (AWS, MinIO, SeaweedFS, R2...): ART bases and every trainer's layout.

``s3://bucket/prefix/{project}/models/{model}/checkpoints/{step:04d}/...`` with
``history.jsonl`` beside ``checkpoints/``; ART's older layout, with step
prefixes directly under the model prefix, is read too. Any other prefix (up to
``MAX_DEPTH`` below the location) that directly holds a trainer's step
checkpoints (Hugging Face ``checkpoint-N/``, Megatron ``iter_NNNNNNN/``, verl,
Lightning ``.ckpt`` objects, Orbax) is a run, found and named as on a disk
(see ``layouts.py`` and ``docs/layouts.md``).

S3 has no rename, so two marker objects stand in for the local store's
renamed directories:

* a deletion first writes ``{root}.ckpt-tui-deleting-{token}`` naming the steps
  it is about to delete, removes their objects, and removes the marker last;
* a copy into a step first writes ``{step}/.ckpt-tui-incomplete`` (for a
  single-object step, ``{step}.ckpt-tui-incomplete`` beside it) and removes it
  once every object is in place.

A step named by the first or claimed by the second is listed as pending, never
as a checkpoint, so an interruption never leaves half a step looking whole.

boto3 is imported only when an S3 location is opened.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import AlreadyExists, NotFound, Refused, StoreError
from ..core.metrics import Metrics, metrics_from_records, read_history_records
from ..core.models import Checkpoint, FileEntry, Run
from ..core.names import validate_name
from ..core.store import ByteProgress
from .layouts import (ABANDONED_FORK_SECONDS, ART, ART_CHECKPOINTS, ART_HISTORY, ART_LEGACY, ART_MODELS,
                      LIGHTNING, Inspection, Layout, RunScan, art_name, art_step, detect, orbax_parts,
                      parse_tracker, scan_entries)
from .local import CONTAINERS, MAX_DEPTH, MAX_SIDE_FILE

WORKERS = 16  # parallel requests; the connection pool is sized to match
DELETE_BATCH = 1000  # S3's limit for one DeleteObjects request
KEY_ERROR_ROUNDS = 3  # tries for keys a DeleteObjects response reports as failed
MAX_RETRIES = 4  # botocore standard mode, per request
COPY_OBJECT_LIMIT = 5 * 1024**3  # largest object CopyObject accepts
PART_SIZE = 256 * 1024**2
FULL_LISTING_AT = 32  # deleting this many steps: list the run once, not each step

DELETING_MARKER = ".ckpt-tui-deleting-"
INCOMPLETE_MARKER = ".ckpt-tui-incomplete"
INTERRUPTED_FORK = "interrupted fork"
FORK_IN_PROGRESS = "fork in progress"
EVENT_FILE = "events.out.tfevents."
# Prefixes Megatron and verl use: never Orbax steps, so never listed to find out.
_NOT_ORBAX = ("iter", "global_step")


def _now() -> float:
    return time.time()


def fork_note(last_write: float) -> str:
    """A fork nobody has written to for ``ABANDONED_FORK_SECONDS`` was abandoned; a younger
    one may still be running in another process, and is left alone."""
    return INTERRUPTED_FORK if _now() - last_write > ABANDONED_FORK_SECONDS else FORK_IN_PROGRESS


@dataclass(frozen=True, slots=True)
class S3Object:
    key: str
    size: int
    mtime: float


@dataclass(frozen=True, slots=True)
class RunPlace:
    """Where a run lives: ``root`` is its own prefix, ``ckpt_root`` the one holding its steps."""

    project: str
    name: str
    root: str
    ckpt_root: str
    layout: Layout

    @property
    def is_art(self) -> bool:
        return self.layout in (ART, ART_LEGACY)


@dataclass(slots=True)
class _Tree:
    """The objects under a checkpoint root, seen as the folder a layout expects."""

    root: str
    dirs: dict[str, list[S3Object]] = field(default_factory=dict)  # name -> objects under name/
    files: dict[str, S3Object] = field(default_factory=dict)  # objects directly in the root

    @classmethod
    def of(cls, root: str, objects: Iterable[S3Object]) -> _Tree:
        tree = cls(root)
        for obj in objects:
            name, sep, _ = obj.key[len(root):].partition("/")
            if not name:
                continue
            if sep:
                tree.dirs.setdefault(name, []).append(obj)
            else:
                tree.files[name] = obj
        return tree

    def entries(self) -> list[tuple[str, bool]]:
        return [(n, True) for n in self.dirs] + [(n, False) for n in self.files if n not in self.dirs]

    def children(self, name: str) -> set[str]:
        start = len(self.root) + len(name) + 1
        return {o.key[start:].split("/", 1)[0] for o in self.dirs.get(name, ())} - {""}

    def objects(self, name: str) -> list[S3Object]:
        """A step's objects: everything under ``name/``, or the single object ``name``."""
        if name in self.dirs:
            return self.dirs[name]
        return [self.files[name]] if name in self.files else []

    def fork_claims(self) -> dict[str, float]:
        """Names an unfinished copy claims (its incomplete marker), with the newest write there."""
        claims = {}
        for name, objects in self.dirs.items():
            if any(o.key == f"{self.root}{name}/{INCOMPLETE_MARKER}" for o in objects):
                claims[name] = max(o.mtime for o in objects)
        for name, marker in self.files.items():
            if name.endswith(INCOMPLETE_MARKER) and len(name) > len(INCOMPLETE_MARKER):
                step = name[:-len(INCOMPLETE_MARKER)]
                written = self.files.get(step)
                claims[step] = max(marker.mtime, written.mtime if written else 0.0)
        return claims


class _ObjectFiles:
    """A run's side files for a layout (see ``layouts.RunFiles``): GETs only for keys the listing
    holds, fetched together when the layout says beforehand what it will read."""

    def __init__(self, store: S3Store, tree: _Tree, objects: Iterable[S3Object]) -> None:
        self.store, self.root = store, tree.root
        self.sizes = {o.key: o.size for o in objects}
        self.texts: dict[str, str | None] = {}

    def prefetch(self, paths: Iterable[str]) -> None:
        keys = [self.root + p for p in paths if self.root + p in self.sizes and self.root + p not in self.texts]
        for key, text in zip(keys, self.store._pool.map(self._fetch, keys)):
            self.texts[key] = text

    def _fetch(self, key: str) -> str | None:
        if self.sizes.get(key, MAX_SIDE_FILE + 1) > MAX_SIDE_FILE:
            return None
        return self.store._get_text(key)

    def read_text(self, path: str) -> str | None:
        key = self.root + path
        if key not in self.texts:
            self.texts[key] = self._fetch(key)
        return self.texts[key]

    def link_target(self, name: str) -> str | None:
        return None  # S3 has no links: a ``last.ckpt`` there is a copy


@dataclass(slots=True)
class _RunListing:
    """What one listing found under a run's checkpoint root."""

    root: str  # key prefix holding the step prefixes, ends with "/"
    layout: str
    steps: dict[str, list[S3Object]] = field(default_factory=dict)
    deleting: dict[str, list[str]] = field(default_factory=dict)  # marker key -> step names
    place: RunPlace | None = None  # set for trainer layouts (ART's are listed their own way)

    def step_of(self, name: str) -> int | None:
        return self.place.layout.step(name) if self.place is not None else art_step(name)

    def steps_being_deleted(self) -> set[str]:
        return {name for names in self.deleting.values() for name in names}


class _Progress:
    """Thread-safe byte counter feeding a ``(done, total)`` callback."""

    def __init__(self, total: int, callback: ByteProgress | None) -> None:
        self.total, self.done = total, 0
        self._callback = callback
        self._lock = threading.Lock()

    def __call__(self, amount: int) -> None:
        with self._lock:
            self.done += amount
            if self._callback is not None:
                self._callback(min(self.done, self.total), self.total)


def parse_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> (``bucket``, ``some/prefix/``)."""
    if not url.startswith("s3://"):
        raise Refused(f"not an S3 location: {url!r} (expected s3://bucket/prefix)")
    bucket, _, prefix = url[len("s3://"):].partition("/")
    if not bucket:
        raise Refused(f"no bucket in {url!r} (expected s3://bucket/prefix)")
    prefix = "/".join(part for part in prefix.split("/") if part)
    return bucket, f"{prefix}/" if prefix else ""


def make_client(endpoint_url: str | None = None, profile: str | None = None) -> Any:
    """A boto3 S3 client configured for parallel work and S3-compatible servers.

    Credentials, region and endpoint come from the standard chain
    (``AWS_PROFILE``, ``AWS_ENDPOINT_URL_S3``...) unless given here.
    """
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError

    try:
        session = boto3.session.Session(profile_name=profile)
    except BotoCoreError as exc:
        raise StoreError(f"cannot use AWS profile {profile!r}: {exc}") from None
    config = Config(
        retries={"mode": "standard", "max_attempts": MAX_RETRIES},
        max_pool_connections=WORKERS + 4,
        connect_timeout=3,
        read_timeout=60,
        # MinIO, SeaweedFS and others reject or mangle the newer default checksums.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        user_agent_extra="ckpt-tui",
    )
    return session.client("s3", endpoint_url=endpoint_url, config=config)


class S3Store:
    """An ART base in a bucket: ``s3://bucket/prefix/{project}/models/{model}/...``."""

    def __init__(self, bucket: str, prefix: str = "", client: Any = None, *,
                 endpoint_url: str | None = None, profile: str | None = None) -> None:
        self.bucket = bucket
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        self.location = f"s3://{bucket}/{self.prefix}".rstrip("/")
        self.profile = profile
        self.client = client if client is not None else make_client(endpoint_url, profile)
        self.endpoint_url: str = self.client.meta.endpoint_url
        # Objects above this are copied, uploaded and downloaded in parts.
        self.multipart_threshold = COPY_OBJECT_LIMIT
        self.part_size = PART_SIZE
        self.retry_pause = 0.2  # seconds before retrying keys DeleteObjects reported
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="ckpt-tui-s3")
        self._found: tuple[dict[tuple[str, str], RunPlace], set[str]] | None = None

    @classmethod
    def from_url(cls, url: str, endpoint_url: str | None = None, profile: str | None = None) -> S3Store:
        bucket, prefix = parse_url(url)
        return cls(bucket, prefix, endpoint_url=endpoint_url, profile=profile)

    # -- errors ----------------------------------------------------------------
    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Turn botocore's exceptions into one clear line."""
        from botocore.exceptions import (BotoCoreError, ClientError, ConnectTimeoutError,
                                         EndpointConnectionError, NoCredentialsError)

        try:
            yield
        except NoCredentialsError:
            raise StoreError("no AWS credentials found: set AWS_PROFILE (or --profile), or "
                             "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY") from None
        except (EndpointConnectionError, ConnectTimeoutError):
            raise StoreError(f"cannot reach the S3 endpoint {self.endpoint_url} "
                             "(check --endpoint-url / AWS_ENDPOINT_URL_S3 and the network)") from None
        except ClientError as exc:
            raise self._client_error(exc, what) from None
        except BotoCoreError as exc:
            raise StoreError(f"{what}: {exc}") from None

    def _client_error(self, exc: Any, what: str) -> Exception:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code == "NoSuchBucket":
            return NotFound(f"no bucket {self.bucket!r} at {self.endpoint_url}")
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"):
            return StoreError(f"{self.endpoint_url} rejected the AWS credentials ({code})")
        if code in ("AccessDenied", "AllAccessDisabled") or status == 403:
            return StoreError(f"access denied: {what} (check the credentials' permissions on "
                              f"bucket {self.bucket!r})")
        return StoreError(f"{what}: {code or status}: {error.get('Message', '')}".rstrip(": "))

    @staticmethod
    def _error_code(exc: Exception) -> str:
        response = getattr(exc, "response", None) or {}
        return str(response.get("Error", {}).get("Code", ""))

    # -- keys ------------------------------------------------------------------
    def _model_prefix(self, project: str, run: str) -> str:
        validate_name(project, "project name")
        validate_name(run, "model name")
        return f"{self.prefix}{project}/{ART_MODELS}/{run}/"

    def _url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    @staticmethod
    def _require_inside(keys: Iterable[str], prefix: str) -> list[str]:
        """Refuse outright to touch a key outside ``prefix`` (which ends with "/")."""
        keys = list(keys)
        outside = [k for k in keys if not (prefix.endswith("/") and k.startswith(prefix))]
        if outside:
            raise Refused(f"refusing to touch {outside[0]!r}: outside {prefix!r}")
        return keys

    # -- listing ---------------------------------------------------------------
    def _list(self, prefix: str, delimiter: bool = False,
              max_keys: int | None = None) -> tuple[list[str], list[S3Object]]:
        """Common prefixes and objects under ``prefix``, every page."""
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if delimiter:
            kwargs["Delimiter"] = "/"
        if max_keys is not None:
            kwargs["PaginationConfig"] = {"MaxItems": max_keys, "PageSize": max_keys}
        dirs: list[str] = []
        objects: list[S3Object] = []
        with self._errors(f"cannot list {self._url(prefix)}"):
            for page in self.client.get_paginator("list_objects_v2").paginate(**kwargs):
                dirs.extend(p["Prefix"] for p in page.get("CommonPrefixes", ()))
                objects.extend(S3Object(o["Key"], o["Size"], o["LastModified"].timestamp())
                               for o in page.get("Contents", ()))
        return dirs, objects

    def _names(self, prefix: str) -> list[str]:
        dirs, _ = self._list(prefix, delimiter=True)
        names = (d[len(prefix):].rstrip("/") for d in dirs)
        return sorted(n for n in names if n and not n.startswith("."))

    def _has_objects(self, prefix: str) -> bool:
        return bool(self._list(prefix, max_keys=1)[1])

    # -- discovery ---------------------------------------------------------------
    def _folder(self, prefix: str) -> tuple[list[str], list[str]]:
        """(sub-folder names, object names) directly under ``prefix``: one delimited listing."""
        dirs, objects = self._list(prefix, delimiter=True)
        subdirs = [d[len(prefix):-1] for d in dirs]
        return [n for n in subdirs if n], [n for n in (o.key[len(prefix):] for o in objects) if n]

    def _base_name(self) -> str:
        parts = self.prefix.rstrip("/").split("/") if self.prefix else []
        return parts[-1] if parts else self.bucket

    def _outer_name(self) -> str:
        parts = self.prefix.rstrip("/").split("/") if self.prefix else []
        return parts[-2] if len(parts) > 1 else self.bucket if parts else "s3"

    def _naming(self, ckpt_root: str) -> tuple[str, str, str]:
        """(project, run, run prefix) for a prefix holding step checkpoints, named as on a disk."""
        parts = ckpt_root[len(self.prefix):].rstrip("/").split("/") if ckpt_root != self.prefix else []
        if parts and parts[-1] in CONTAINERS:
            parts = parts[:-1]  # Lightning's version_0/checkpoints is run version_0
        root = self.prefix + "".join(f"{p}/" for p in parts)
        if not parts:
            return self._outer_name(), self._base_name(), root
        project = self._base_name() if len(parts) == 1 else "/".join(parts[:-1])
        return project, parts[-1], root

    def _discover(self) -> tuple[dict[tuple[str, str], RunPlace], set[str]]:
        """Every run under the location, one delimited listing per folder, level by level.

        ART bases: ``{project}/models/{model}``. Elsewhere a run is a folder that
        directly holds a trainer's step checkpoints; folders inside a run, hidden
        folders and folders deeper than ``MAX_DEPTH`` are not searched.
        """
        listed: dict[str, tuple[list[str], list[str]]] = {}

        def fetch(prefixes: Iterable[str]) -> None:
            new = [p for p in dict.fromkeys(prefixes) if p not in listed]
            listed.update(zip(new, self._pool.map(self._folder, new)))

        def children(prefix: str) -> list[str]:
            fetch([prefix])
            return listed[prefix][0] + listed[prefix][1]

        found: dict[tuple[str, str], RunPlace] = {}
        art_projects: set[str] = set()
        skip: set[str] = set()
        level, depth = [self.prefix], 0
        while level:
            fetch(level)
            # Orbax's numbered folders are steps only if they hold its files: look inside them together.
            fetch(f"{p}{n}/" for p in level for n in listed[p][0]
                  if (parts := orbax_parts(n)) is not None and parts[0] not in _NOT_ORBAX)
            below = []
            for prefix in level:
                dirs, files = listed[prefix]
                entries = [(n, True) for n in dirs] + [(n, False) for n in files if n not in dirs]
                scan = detect(entries, lambda name, at=prefix: children(f"{at}{name}/"))
                if scan is not None:
                    project, run, root = self._naming(prefix)
                    found.setdefault((project, run), RunPlace(project, run, root, prefix, scan.layout))
                elif depth < MAX_DEPTH:
                    below.extend(f"{prefix}{n}/" for n in sorted(dirs) if not n.startswith("."))
            if depth == 0 and below:
                art_projects = self._art_places(below, fetch, listed, found)
                skip = {f"{self.prefix}{p}/{ART_MODELS}/" for p in art_projects}
            level, depth = [p for p in below if p not in skip], depth + 1
        return found, art_projects

    def _art_places(self, projects: list[str], fetch: Callable[[Iterable[str]], None],
                    listed: dict[str, tuple[list[str], list[str]]],
                    found: dict[tuple[str, str], RunPlace]) -> set[str]:
        """ART projects (folders holding ``models/``) among ``projects``, their models added to ``found``."""
        fetch(projects)
        art = [p for p in projects if ART_MODELS in listed[p][0]]
        fetch(f"{p}{ART_MODELS}/" for p in art)
        for prefix in art:
            project = prefix[len(self.prefix):-1]
            for model in sorted(listed[f"{prefix}{ART_MODELS}/"][0]):
                if not model.startswith("."):
                    root = f"{prefix}{ART_MODELS}/{model}/"
                    found[(project, model)] = RunPlace(project, model, root, root + ART_CHECKPOINTS + "/", ART)
        return {p[len(self.prefix):-1] for p in art}

    def _places(self, fresh: bool = False) -> dict[tuple[str, str], RunPlace]:
        """Where each run is; discovered once, then again on ``list_projects`` or a miss."""
        if fresh or self._found is None:
            self._found = self._discover()
        return self._found[0]

    def _trainer_place(self, project: str, run: str) -> RunPlace | None:
        """The run's place if a trainer layout holds it (None: ART, or no such run: ART code decides)."""
        cached = self._found is not None
        place = self._places().get((project, run))
        if place is None and cached:
            place = self._places(fresh=True).get((project, run))
        return place if place is not None and not place.is_art else None

    def list_projects(self) -> list[str]:
        places = self._places(fresh=True)
        assert self._found is not None
        return sorted({p for p, _ in places} | self._found[1])

    def list_runs(self, project: str) -> list[str]:
        runs = sorted(r for p, r in self._places() if p == project)
        if not runs and "/" not in project:
            validate_name(project, "project name")
        return runs

    def _layout(self, model: str, must_exist: bool = True) -> tuple[str, str, list[str]]:
        """(checkpoint root, layout, legacy step prefixes) of a model prefix."""
        dirs, objects = self._list(model, delimiter=True)
        if must_exist and not dirs and not objects:
            raise NotFound(f"no model {model.rstrip('/').rsplit('/', 1)[-1]!r} at {self._url(model)}")
        legacy = [d for d in dirs if art_step(d[len(model):-1]) is not None]
        if f"{model}{ART_CHECKPOINTS}/" in dirs or not legacy:
            return f"{model}{ART_CHECKPOINTS}/", "art", []
        return model, "art-legacy", legacy

    def _read_markers(self, root: str, listing: _RunListing,
                      objects: list[S3Object] | None = None) -> None:
        """Which steps deletion markers name (from ``objects`` if the root was listed already)."""
        if objects is None:
            _, markers = self._list(root + DELETING_MARKER)
        else:
            markers = [o for o in objects if o.key.startswith(root + DELETING_MARKER)]
        bodies = self._pool.map(lambda o: self._get_text(o.key), markers)
        for marker, body in zip(markers, bodies):
            if body is None:  # finished meanwhile
                continue
            try:
                names = [str(n) for n in json.loads(body).get("steps", [])]
            except (ValueError, AttributeError):
                names = []
            listing.deleting[marker.key] = [n for n in names if listing.step_of(n) is not None]

    def _group(self, listing: _RunListing, objects: Iterable[S3Object]) -> None:
        for obj in objects:
            name, sep, rest = obj.key[len(listing.root):].partition("/")
            if sep and rest and art_step(name) is not None:
                listing.steps.setdefault(name, []).append(obj)

    def _list_steps(self, listing: _RunListing, names: Iterable[str] | None = None) -> None:
        """Objects of the named steps (all steps if None: ART layout only), grouped by step."""
        if listing.place is not None:  # trainer layouts: one listing of the whole root
            tree = _Tree.of(listing.root, self._list(listing.root)[1])
            for name in names or ():
                if tree.objects(name):
                    listing.steps[name] = tree.objects(name)
            return
        if names is None:  # one paginated listing of the whole checkpoints/ prefix
            self._group(listing, self._list(listing.root)[1])
            return
        for _, objects in self._pool.map(self._list, [f"{listing.root}{n}/" for n in names]):
            self._group(listing, objects)

    def _list_run(self, project: str, run: str, names: Iterable[str] | None = None) -> _RunListing:
        model = self._model_prefix(project, run)
        if names is None:
            # Most runs use checkpoints/: list it whole first, and only look further if it is empty.
            root = f"{model}{ART_CHECKPOINTS}/"
            _, objects = self._list(root)
            if objects:
                listing = _RunListing(root, "art")
                self._group(listing, objects)
                self._read_markers(root, listing, objects)
                return listing
        root, layout, legacy = self._layout(model)
        listing = _RunListing(root, layout)
        if names is None and layout == "art-legacy":
            names = [p[len(root):-1] for p in legacy]
        self._list_steps(listing, names)
        self._read_markers(root, listing)
        return listing

    def _checkpoint(self, listing: _RunListing, name: str, objects: list[S3Object],
                    note: str = "") -> Checkpoint:
        prefix = f"{listing.root}{name}/"
        files = [o for o in objects if o.key[len(prefix):] != INCOMPLETE_MARKER and not o.key.endswith("/")]
        mtime = max((o.mtime for o in objects), default=0.0)
        return Checkpoint(step=art_step(name) or 0, bytes=sum(o.size for o in files), mtime=mtime,
                          name=name, location=self._url(prefix),
                          files=tuple(FileEntry(o.key[len(prefix):], o.size) for o in files),
                          complete=not note, note=note)

    def _checkpoints(self, listing: _RunListing) -> tuple[list[Checkpoint], list[Checkpoint]]:
        complete, pending = [], []
        deleting = listing.steps_being_deleted()
        for name, objects in sorted(listing.steps.items()):
            prefix = f"{listing.root}{name}/"
            if name in deleting:
                pending.append(self._checkpoint(listing, name, objects, "interrupted delete"))
            elif any(o.key == prefix + INCOMPLETE_MARKER for o in objects):
                note = fork_note(max(o.mtime for o in objects))
                pending.append(self._checkpoint(listing, name, objects, note))
            elif any(not o.key.endswith("/") for o in objects):
                complete.append(self._checkpoint(listing, name, objects))
        return complete, pending

    # -- trainer layouts --------------------------------------------------------
    def _scan(self, place: RunPlace, with_metrics: bool) -> tuple[_Tree, RunScan, Inspection, _RunListing]:
        """One listing of the run's checkpoint root, and the side files its layout asks for."""
        _, objects = self._list(place.ckpt_root)
        tree = _Tree.of(place.ckpt_root, objects)
        scan = scan_entries(place.layout, tree.entries(), tree.children)
        files = _ObjectFiles(self, tree, objects)
        files.prefetch(place.layout.side_files(scan.steps, with_metrics))
        found = place.layout.inspect(scan.steps, files, with_metrics)
        listing = _RunListing(place.ckpt_root, place.layout.name, place=place)
        self._read_markers(place.ckpt_root, listing, list(tree.files.values()))
        if with_metrics and any(EVENT_FILE in o.key for o in objects):
            found.metrics.notes.append(f"{place.project}/{place.name}: TensorBoard event files in S3 are "
                                       "not read; copy the run to a disk to see their metrics")
        return tree, scan, found, listing

    def _step_checkpoint(self, tree: _Tree, name: str, step: int, note: str = "") -> Checkpoint:
        objects = tree.objects(name)
        if name in tree.dirs:
            prefix = f"{tree.root}{name}/"
            files = [o for o in objects if o.key != prefix + INCOMPLETE_MARKER and not o.key.endswith("/")]
            entries = tuple(FileEntry(o.key[len(prefix):], o.size) for o in files)
        else:
            prefix = tree.root + name
            marker = tree.files.get(name + INCOMPLETE_MARKER)
            objects = objects + ([marker] if marker else [])
            files = [o for o in objects if o.key == prefix]
            entries = tuple(FileEntry(name, o.size) for o in files)
        return Checkpoint(step=step, bytes=sum(o.size for o in files),
                          mtime=max((o.mtime for o in objects), default=0.0), name=name,
                          location=self._url(prefix), files=entries, complete=not note, note=note)

    def _sort_steps(self, place: RunPlace, tree: _Tree, scan: RunScan, found: Inspection,
                    listing: _RunListing) -> tuple[list[Checkpoint], list[Checkpoint]]:
        """Complete checkpoints, and the ones being written, deleted or never finished."""
        deleting = listing.steps_being_deleted()
        claims = tree.fork_claims()
        complete, pending = [], []
        for name, step in scan.steps.items():
            note = ("interrupted delete" if name in deleting else fork_note(claims[name]) if name in claims
                    else found.in_progress.get(name, ""))
            (pending if note else complete).append(self._step_checkpoint(tree, name, step, note))
        for name, (step, note) in scan.pending.items():
            pending.append(self._step_checkpoint(tree, name, step, note))
        # Names the scan cannot confirm yet (an Orbax copy before its metadata arrived, a half-gone step).
        for name in sorted((set(claims) | deleting) - set(scan.steps) - set(scan.pending)):
            step = place.layout.step(name)
            if step is not None and (name in claims or tree.objects(name)):
                note = "interrupted delete" if name in deleting else fork_note(claims[name])
                pending.append(self._step_checkpoint(tree, name, step, note))
        return complete, sorted(pending, key=lambda c: (c.step, c.name))

    def _load_trainer_run(self, place: RunPlace, with_metrics: bool) -> Run:
        tree, scan, found, listing = self._scan(place, with_metrics)
        complete, pending = self._sort_steps(place, tree, scan, found, listing)
        return Run(place.project, place.name, complete, found.metrics, layout=place.layout.name,
                   protected=dict(found.protected), pending=pending)

    def load_run(self, project: str, run: str, with_metrics: bool = True) -> Run:
        place = self._trainer_place(project, run)
        if place is not None:
            return self._load_trainer_run(place, with_metrics)
        history = self._pool.submit(self.read_metrics, project, run) if with_metrics else None
        listing = self._list_run(project, run)
        complete, pending = self._checkpoints(listing)
        metrics = history.result() if history is not None else Metrics()
        return Run(project, run, complete, metrics, layout=listing.layout, pending=pending)

    # -- history ---------------------------------------------------------------
    def _get_text(self, key: str) -> str | None:
        from botocore.exceptions import ClientError

        with self._errors(f"cannot read {self._url(key)}"):
            try:
                body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
                return body.read().decode("utf-8", errors="replace")
            except ClientError as exc:
                if self._error_code(exc) in ("NoSuchKey", "404", "NotFound"):
                    return None
                raise

    def read_metrics(self, project: str, run: str) -> Metrics:
        place = self._trainer_place(project, run)
        if place is not None:
            return self._load_trainer_run(place, with_metrics=True).metrics
        text = self._get_text(self._model_prefix(project, run) + ART_HISTORY)
        if text is None:
            return Metrics()
        records, malformed = read_history_records(text.splitlines())
        return metrics_from_records(records, malformed)

    def read_history(self, project: str, run: str) -> list[dict]:
        place = self._trainer_place(project, run)
        if place is not None:
            raise Refused(f"{project}/{run} is a {place.layout.name} run: its log travels inside its "
                          "checkpoints; fork without --with-history")
        text = self._get_text(self._model_prefix(project, run) + ART_HISTORY)
        return read_history_records((text or "").splitlines())[0]

    def _put_new(self, key: str, body: bytes) -> bool:
        """Create ``key`` unless it exists; False if it did (conditional write)."""
        from botocore.exceptions import ClientError

        with self._errors(f"cannot write {self._url(key)}"):
            try:
                self.client.put_object(Bucket=self.bucket, Key=key, Body=body, IfNoneMatch="*")
            except ClientError as exc:
                if self._error_code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                    return False
                raise
        return True

    def write_history(self, project: str, run: str, records: list[dict]) -> None:
        target = self._target_layout(project, run, ART)
        if not (target is ART or target is ART_LEGACY):
            raise Refused(f"{project} holds {target.name} runs, which keep no history file; nothing copied")
        key = self._model_prefix(project, run) + ART_HISTORY
        if self._get_text(key) is not None:
            raise AlreadyExists(f"{self._url(key)} exists; history not copied, nothing changed")
        body = "".join(json.dumps(r) + "\n" for r in records).encode()
        if not self._put_new(key, body):
            raise AlreadyExists(f"{self._url(key)} exists; history not copied, nothing changed")

    # -- deletion --------------------------------------------------------------
    def _delete_batch(self, keys: list[str]) -> dict[str, str]:
        """Delete up to 1000 keys; retry the ones reported failed; return what still failed."""
        failed: dict[str, str] = {}
        for attempt in range(KEY_ERROR_ROUNDS):
            if attempt:
                time.sleep(self.retry_pause * attempt)
            with self._errors(f"cannot delete from s3://{self.bucket}"):
                response = self.client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True})
            failed = {e["Key"]: f"{e.get('Code', 'Error')}: {e.get('Message', '')}".rstrip(": ")
                      for e in response.get("Errors", ())}
            keys = [k for k in keys if k in failed]
            if not keys:
                return {}
        return failed

    def delete_keys(self, keys: list[str], prefix: str) -> dict[str, str]:
        """Delete ``keys`` (all under ``prefix``) in parallel batches; failures by key."""
        keys = self._require_inside(keys, prefix)
        batches = [keys[i:i + DELETE_BATCH] for i in range(0, len(keys), DELETE_BATCH)]
        failed: dict[str, str] = {}
        for result in self._pool.map(self._delete_batch, batches):
            failed.update(result)
        return failed

    def _step_keys(self, listing: _RunListing, names: Iterable[str]) -> list[str]:
        return [o.key for n in names for o in listing.steps.get(n, ())]

    def _delete_steps(self, listing: _RunListing, names: list[str]) -> dict[str, str]:
        """Delete every object of the named steps; failures by step name."""
        failed_keys = self.delete_keys(self._step_keys(listing, names), listing.root)
        # Catch objects written after the listing, so no step is left partly there.
        again = _RunListing(listing.root, listing.layout)
        self._list_steps(again, None if len(names) >= FULL_LISTING_AT and listing.layout == "art"
                         else names)
        wanted = set(names)
        leftovers = [k for k in self._step_keys(again, wanted) if k not in failed_keys]
        failed_keys.update(self.delete_keys(leftovers, listing.root))
        failed: dict[str, list[str]] = {}
        for key, why in sorted(failed_keys.items()):
            failed.setdefault(key[len(listing.root):].split("/", 1)[0], []).append(f"{key} ({why})")
        return {name: "; ".join(items) for name, items in failed.items()}

    def _write_marker(self, key: str, names: list[str]) -> None:
        with self._errors(f"cannot write {self._url(key)}"):
            self.client.put_object(Bucket=self.bucket, Key=key,
                                   Body=json.dumps({"steps": names}).encode())

    def _remove_marker(self, key: str, prefix: str) -> None:
        self._require_inside([key], prefix)
        with self._errors(f"cannot remove {self._url(key)}"):
            self.client.delete_object(Bucket=self.bucket, Key=key)

    def delete_checkpoints(self, project: str, run: str,
                           checkpoints: list[Checkpoint]) -> dict[int, str]:
        """Delete several checkpoints of one run together; failures by step.

        One marker names them all before anything is deleted; steps that fail
        stay named in it (listed as interrupted deletes) and the marker stays.
        """
        if not checkpoints:
            return {}
        place = self._trainer_place(project, run)
        if place is not None:
            return self._delete_trainer_steps(place, checkpoints)
        names = [c.name for c in checkpoints]
        bad = [c for c in checkpoints if art_step(c.name) != c.step]
        if bad:
            raise NotFound(f"{project}/{run}: {bad[0].name!r} is not the name of step {bad[0].step}")
        return self._delete_marked(self._listing_of(project, run, checkpoints), names)

    def _delete_marked(self, listing: _RunListing, names: list[str]) -> dict[int, str]:
        """Name the steps in a marker, delete their objects, remove the marker; failures by step."""
        marker = f"{listing.root}{DELETING_MARKER}{uuid.uuid4().hex}"
        self._write_marker(marker, names)
        failed = self._delete_steps(listing, names)
        if failed:
            self._write_marker(marker, sorted(failed))
            return {listing.step_of(name) or 0: why for name, why in failed.items()}
        self._remove_marker(marker, listing.root)
        return {}

    def _delete_trainer_steps(self, place: RunPlace, checkpoints: list[Checkpoint]) -> dict[int, str]:
        """Check each step against the bucket as it is now, then delete them under one marker.

        The planner keeps protected steps already; the store refuses them on its own too.
        """
        tree, scan, found, listing = self._scan(place, with_metrics=False)
        complete = {c.name for c in self._sort_steps(place, tree, scan, found, listing)[0]}
        where = f"{place.project}/{place.name}"
        for ckpt in checkpoints:
            if place.layout.step(ckpt.name) != ckpt.step:
                raise NotFound(f"{where}: {ckpt.name!r} is not the name of step {ckpt.step}")
            why = found.protected.get(ckpt.step) or (
                (found.in_progress[ckpt.name],) if ckpt.name in found.in_progress else ())
            if why:
                raise Refused(f"{where}: step {ckpt.step} is kept ({', '.join(why)})")
            if ckpt.name not in complete:
                raise NotFound(f"{where}: step {ckpt.step} is not a complete checkpoint here")
        names = [c.name for c in checkpoints]
        listing.steps = {n: tree.objects(n) for n in names}
        return self._delete_marked(listing, names)

    def _listing_of(self, project: str, run: str, checkpoints: list[Checkpoint]) -> _RunListing:
        """The steps' objects as ``load_run`` listed them: their locations say which layout,
        their files which keys. Listing again after the delete catches anything missed."""
        model = self._model_prefix(project, run)
        roots = {f"{model}{ART_CHECKPOINTS}/": "art", model: "art-legacy"}
        found = {root for c in checkpoints for root in roots if c.location == self._url(f"{root}{c.name}/")}
        if len(found) == 1 and all(c.location for c in checkpoints):
            root = found.pop()
            listing = _RunListing(root, roots[root])
            for c in checkpoints:
                listing.steps[c.name] = [S3Object(f"{root}{c.name}/{f.path}", f.bytes, c.mtime)
                                         for f in c.files]
            return listing
        many = len(checkpoints) >= FULL_LISTING_AT
        listing = self._list_run(project, run, None if many else [c.name for c in checkpoints])
        complete = {c.name for c in self._checkpoints(listing)[0]}
        missing = [c for c in checkpoints if c.name not in complete]
        if missing:
            raise NotFound(f"{project}/{run}: step {missing[0].step} is not a complete checkpoint here")
        return listing

    def delete_checkpoint(self, project: str, run: str, checkpoint: Checkpoint) -> None:
        failed = self.delete_checkpoints(project, run, [checkpoint])
        if failed:
            raise StoreError(f"step {checkpoint.step} of {project}/{run} only partly deleted "
                             f"(listed as an interrupted delete); failed: {failed[checkpoint.step]}")

    def finish_interrupted(self, project: str, run: str) -> list[str]:
        """Finish interrupted deletes, and remove what abandoned forks left behind.

        A fork written to within ``ABANDONED_FORK_SECONDS`` may still be running
        in another process: it stays, listed as a fork in progress.
        """
        place = self._trainer_place(project, run)
        if place is not None:
            return self._finish_trainer(place)
        listing = self._list_run(project, run)
        removed: list[str] = []
        for marker, names in listing.deleting.items():
            failed = self._delete_steps(listing, names)
            if failed:
                raise StoreError(f"cannot finish deleting {project}/{run}: "
                                 + "; ".join(failed.values()))
            self._remove_marker(marker, listing.root)
            removed.extend(self._url(f"{listing.root}{n}/") for n in names)
        for ckpt in self._checkpoints(listing)[1]:
            if ckpt.note != INTERRUPTED_FORK:
                continue
            prefix = f"{listing.root}{ckpt.name}/"
            keys = [o.key for o in listing.steps[ckpt.name] if o.key != prefix + INCOMPLETE_MARKER]
            failed = self.delete_keys(keys, prefix)
            if failed:
                raise StoreError(f"cannot remove the incomplete fork at {self._url(prefix)}: "
                                 + ", ".join(sorted(failed)))
            self._remove_marker(prefix + INCOMPLETE_MARKER, prefix)
            removed.append(self._url(prefix))
        return removed

    def _finish_trainer(self, place: RunPlace) -> list[str]:
        tree, _, _, listing = self._scan(place, with_metrics=False)
        where, removed = f"{place.project}/{place.name}", []
        for marker, names in listing.deleting.items():
            listing.steps = {n: tree.objects(n) for n in names}
            failed = self._delete_steps(listing, names)
            if failed:
                raise StoreError(f"cannot finish deleting {where}: " + "; ".join(failed.values()))
            self._remove_marker(marker, listing.root)
            removed.extend(self._url(tree.root + n + ("/" if n in tree.dirs else "")) for n in names)
        for name, last_write in sorted(tree.fork_claims().items()):
            if fork_note(last_write) != INTERRUPTED_FORK or place.layout.step(name) is None:
                continue
            base = tree.root + name + ("/" if name in tree.dirs else "")
            marker = base + INCOMPLETE_MARKER
            failed = self.delete_keys([o.key for o in tree.objects(name) if o.key != marker], tree.root)
            if failed:
                raise StoreError(f"cannot remove the incomplete fork at {self._url(base)}: "
                                 + ", ".join(sorted(failed)))
            self._remove_marker(marker, tree.root)
            removed.append(self._url(base))
        return removed

    # -- copies ----------------------------------------------------------------
    def checkpoint_location(self, project: str, run: str, checkpoint: Checkpoint) -> str:
        return checkpoint.location or self._url(self._source_step(project, run, checkpoint)[0])

    def _source_step(self, project: str, run: str, checkpoint: Checkpoint) -> tuple[str, list[S3Object]]:
        """The prefix (a single-object step: its key) and objects of a complete checkpoint, or NotFound."""
        place = self._trainer_place(project, run)
        if place is not None:
            tree, scan, found, listing = self._scan(place, with_metrics=False)
            complete = {c.name for c in self._sort_steps(place, tree, scan, found, listing)[0]}
            if place.layout.step(checkpoint.name) != checkpoint.step or checkpoint.name not in complete:
                raise NotFound(f"{project}/{run}: step {checkpoint.step} is not a complete checkpoint here")
            if checkpoint.name in tree.dirs:
                objects = [o for o in tree.dirs[checkpoint.name] if not o.key.endswith("/")]
                return f"{tree.root}{checkpoint.name}/", objects
            return tree.root + checkpoint.name, tree.objects(checkpoint.name)
        if art_step(checkpoint.name) != checkpoint.step:
            raise NotFound(f"{project}/{run}: {checkpoint.name!r} is not the name of step {checkpoint.step}")
        listing = self._list_run(project, run, [checkpoint.name])
        complete = {c.name for c in self._checkpoints(listing)[0]}
        if checkpoint.name not in complete:
            raise NotFound(f"{project}/{run}: step {checkpoint.step} is not a complete checkpoint here")
        prefix = f"{listing.root}{checkpoint.name}/"
        objects = [o for o in listing.steps[checkpoint.name] if not o.key.endswith("/")]
        return prefix, objects

    def _transfer_config(self, threaded: bool) -> Any:
        from boto3.s3.transfer import TransferConfig

        return TransferConfig(multipart_threshold=self.multipart_threshold,
                              multipart_chunksize=self.part_size,
                              max_concurrency=WORKERS, use_threads=threaded)

    def _run_transfers(self, items: list[tuple[Any, int]], transfer: Callable[[Any, bool], None]) -> None:
        """Small objects in parallel, one request each; large ones one at a time, in parallel parts."""
        small = [item for item, size in items if size <= self.multipart_threshold]
        large = [item for item, size in items if size > self.multipart_threshold]
        list(self._pool.map(lambda item: transfer(item, False), small))
        for item in large:
            transfer(item, True)

    def _place(self, to_project: str, to_run: str, step: int,
               write: Callable[[str], None], expected: list[str]) -> Checkpoint:
        """Create step ``step`` of ``to_project/to_run``: marker first, ``write(prefix)``, marker last."""
        existing = self._trainer_place(to_project, to_run)
        if existing is not None:
            raise Refused(f"{to_project}/{to_run} is a {existing.layout.name} run; an ART checkpoint "
                          "cannot join it; nothing copied")
        root, _, _ = self._layout(self._model_prefix(to_project, to_run), must_exist=False)
        prefix = f"{root}{art_name(step)}/"
        listing = _RunListing(root, "")
        self._read_markers(root, listing)
        if self._has_objects(prefix) or art_name(step) in listing.steps_being_deleted():
            raise AlreadyExists(f"{self._url(prefix)} exists; nothing copied")
        marker = prefix + INCOMPLETE_MARKER
        if not self._put_new(marker, b""):
            raise AlreadyExists(f"{self._url(prefix)} is being written by another fork; nothing copied")
        try:
            write(prefix)
            _, objects = self._list(prefix)
            have = {o.key[len(prefix):] for o in objects}
            if INCOMPLETE_MARKER not in have or not set(expected) <= have:
                raise StoreError(f"{self._url(prefix)} changed while it was written "
                                 "(removed by a cleanup?); it is left incomplete")
        except BaseException:
            self._discard(prefix)
            raise
        self._remove_marker(marker, prefix)
        self._found = None  # a new run may have appeared
        return Checkpoint(step=step, bytes=sum(o.size for o in objects if o.key != marker),
                          mtime=max(o.mtime for o in objects), name=art_name(step),
                          location=self._url(prefix),
                          files=tuple(FileEntry(o.key[len(prefix):], o.size)
                                      for o in objects if o.key != marker))

    def _target_layout(self, project: str, run: str, fallback: Layout) -> Layout:
        """The layout a new step of ``project/run`` takes: the run's, else its project's, else ``fallback``."""
        places = self._places()
        if (project, run) in places:
            return places[(project, run)].layout
        kinds = [p.layout for (proj, _), p in sorted(places.items()) if proj == project]
        return kinds[0] if kinds else fallback

    def _new_place(self, project: str, run: str, layout: Layout, container: str) -> RunPlace:
        """Where a step of ``project/run`` in a trainer's layout goes, creating nothing."""
        places = self._places()
        if (project, run) in places:
            place = places[(project, run)]
            if place.layout.name != layout.name:
                raise Refused(f"{project}/{run} is a {place.layout.name} run; a {layout.name} "
                              "checkpoint cannot join it; nothing copied")
            return place
        validate_name(run, "model name")
        siblings = [p for (proj, _), p in sorted(places.items()) if proj == project]
        if siblings and not siblings[0].is_art:
            parent = siblings[0].root.rstrip("/").rpartition("/")[0]
            root = f"{parent}/{run}/" if parent else f"{run}/"
        elif any(p.root == self.prefix for p in places.values()):
            raise Refused(f"{self.location} is a single run; fork into its project "
                          f"{self._outer_name()!r}, or give another location; nothing copied")
        else:
            validate_name(project, "project name")
            root = f"{self.prefix}{project}/{run}/"
        return RunPlace(project, run, root, f"{root}{container}/" if container else root, layout)

    def _write_step(self, place: RunPlace, name: str, single: bool, step: int,
                    write: Callable[[str], None], expected: list[str]) -> Checkpoint:
        """Create step ``name`` of a trainer run: claim it with the incomplete marker, ``write(base)``
        (base: the step's prefix, or its key for a single-object step), check, remove the marker
        and, for layouts with a tracker, name the new step in it."""
        root = place.ckpt_root
        base = root + name + ("" if single else "/")
        marker = base + INCOMPLETE_MARKER
        being_deleted = _RunListing(root, place.layout.name, place=place)
        self._read_markers(root, being_deleted)
        dirs, objects = self._list(root + name, delimiter=True)
        if (f"{root}{name}/" in dirs or any(o.key == root + name for o in objects)
                or name in being_deleted.steps_being_deleted()):
            raise AlreadyExists(f"{self._url(base)} exists; nothing copied")
        if not self._put_new(marker, b""):
            raise AlreadyExists(f"{self._url(base)} is being written by another fork; nothing copied")
        try:
            write(base)
            tree = _Tree.of(root, self._list(root + name)[1])
            have = {o.key[len(base):] for o in tree.objects(name)}
            if marker not in {o.key for o in tree.objects(name) + list(tree.files.values())} \
                    or not set(expected) <= have:
                raise StoreError(f"{self._url(base)} changed while it was written "
                                 "(removed by a cleanup?); it is left incomplete")
        except BaseException:
            self._discard_step(root, name, marker)
            raise
        self._remove_marker(marker, root)
        self._found = None  # a new run may have appeared
        self._advance_tracker(place, step)
        return self._step_checkpoint(tree, name, step)

    def _discard_step(self, root: str, name: str, marker: str) -> None:
        """Best-effort removal of a failed copy; the marker goes last, so leftovers stay pending."""
        try:
            tree = _Tree.of(root, self._list(root + name)[1])
            if not self.delete_keys([o.key for o in tree.objects(name) if o.key != marker], root):
                self._remove_marker(marker, root)
        except Exception:  # the original error matters more; leftovers are listed as pending
            pass

    def _advance_tracker(self, place: RunPlace, step: int) -> None:
        """Name the new step in the trainer's tracker, unless it already names a later one."""
        tracker = place.layout.tracker
        if tracker is None:
            return
        key = place.ckpt_root + tracker
        text = self._get_text(key)
        current = parse_tracker(text)
        if text is not None and (current is None or current >= step):
            return
        with self._errors(f"step {step} copied, but cannot write {self._url(key)}"):
            self.client.put_object(Bucket=self.bucket, Key=key, Body=place.layout.tracker_text(step).encode())

    def _discard(self, prefix: str) -> None:
        """Best-effort removal of a failed copy; the marker goes last, so leftovers stay pending."""
        try:
            _, objects = self._list(prefix)
            marker = prefix + INCOMPLETE_MARKER
            if not self.delete_keys([o.key for o in objects if o.key != marker], prefix):
                self._remove_marker(marker, prefix)
        except Exception:  # the original error matters more; leftovers are listed as pending
            pass

    def can_copy_to(self, other: object) -> bool:
        """Whether a server-side copy into ``other`` is possible (same endpoint and account)."""
        return (isinstance(other, S3Store) and other.endpoint_url == self.endpoint_url
                and other.profile == self.profile)

    def copy_checkpoint(self, project: str, run: str, checkpoint: Checkpoint, to_project: str,
                        to_run: str, progress: ByteProgress | None = None,
                        to_store: S3Store | None = None) -> Checkpoint:
        """Server-side copy, within this bucket or into ``to_store`` on the same endpoint."""
        target = to_store or self
        if target is not self and not self.can_copy_to(target):
            raise Refused(f"cannot copy server-side from {self.location} to {target.location}")
        source, objects = self._source_step(project, run, checkpoint)
        counter = _Progress(sum(o.size for o in objects), progress)
        place = self._trainer_place(project, run)

        def write(prefix: str) -> None:
            def copy(obj: S3Object, threaded: bool) -> None:
                key = prefix + obj.key[len(source):]
                origin = {"Bucket": self.bucket, "Key": obj.key}
                with self._errors(f"cannot copy {self._url(obj.key)}"):
                    if obj.size <= self.multipart_threshold:
                        self.client.copy_object(Bucket=target.bucket, Key=key, CopySource=origin)
                        counter(obj.size)
                    else:  # CopyObject stops at 5 GB; the managed copy uses UploadPartCopy
                        self.client.copy(origin, target.bucket, key, Callback=counter,
                                         Config=self._transfer_config(threaded))

            self._run_transfers([(o, o.size) for o in objects], copy)

        rels = [o.key[len(source):] for o in objects]
        if place is None:
            return target._place(to_project, to_run, checkpoint.step, write, rels)
        container = place.ckpt_root[len(place.root):].rstrip("/")
        new_place = target._new_place(to_project, to_run, place.layout, container)
        name = place.layout.checkpoint_name(checkpoint.step, like=checkpoint.name)
        return target._write_step(new_place, name, not source.endswith("/"), checkpoint.step, write, rels)

    def download_checkpoint(self, project: str, run: str, checkpoint: Checkpoint, directory: Path,
                            progress: ByteProgress | None = None) -> None:
        """Download only this step's objects under ``directory``."""
        source, objects = self._source_step(project, run, checkpoint)
        counter = _Progress(sum(o.size for o in objects), progress)
        directory = Path(directory)
        root = directory.resolve()

        def download(obj: S3Object, threaded: bool) -> None:
            rel = obj.key[len(source):] or obj.key.rsplit("/", 1)[-1]  # a single-object step
            path = (directory / rel).resolve()
            if root not in path.parents:
                raise Refused(f"refusing to write {obj.key!r} outside {directory}")
            path.parent.mkdir(parents=True, exist_ok=True)
            with self._errors(f"cannot download {self._url(obj.key)}"):
                self.client.download_file(self.bucket, obj.key, str(path), Callback=counter,
                                          Config=self._transfer_config(threaded))

        directory.mkdir(parents=True, exist_ok=True)
        self._run_transfers([(o, o.size) for o in objects], download)

    def upload_checkpoint(self, directory: Path, to_project: str, to_run: str, step: int,
                          progress: ByteProgress | None = None) -> Checkpoint:
        """Push the files under ``directory`` as step ``step``, never overwriting."""
        directory = Path(directory)
        files = sorted(p for p in directory.rglob("*") if p.is_file() and not p.is_symlink())
        if not files:
            raise Refused(f"{directory} holds no files; nothing uploaded")
        rels = [p.relative_to(directory).as_posix() for p in files]
        sizes = [p.stat().st_size for p in files]
        counter = _Progress(sum(sizes), progress)
        # A single Lightning file joins a Lightning run as one object; anything else is a folder.
        single = rels[0] if rels == [p.name for p in directory.iterdir()] and len(rels) == 1 else None
        if single is not None and LIGHTNING.step(single) == step \
                and self._target_layout(to_project, to_run, LIGHTNING) is LIGHTNING:
            place, name, rels = self._new_place(to_project, to_run, LIGHTNING, ART_CHECKPOINTS), single, [""]
        else:
            layout = self._target_layout(to_project, to_run, ART)
            place = None if layout in (ART, ART_LEGACY, LIGHTNING) else self._new_place(to_project, to_run, layout, "")
            name = layout.checkpoint_name(step) if place is not None else ""

        def write(prefix: str) -> None:
            def upload(item: tuple[Path, str], threaded: bool) -> None:
                path, rel = item
                with self._errors(f"cannot upload {path}"):
                    self.client.upload_file(str(path), self.bucket, prefix + rel, Callback=counter,
                                            Config=self._transfer_config(threaded))

            self._run_transfers([((p, r), s) for p, r, s in zip(files, rels, sizes)], upload)

        if place is None:
            return self._place(to_project, to_run, step, write, rels)
        return self._write_step(place, name, rels == [""], step, write, rels)
