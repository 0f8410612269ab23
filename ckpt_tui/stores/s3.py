"""Checkpoints in an S3 bucket (AWS, MinIO, SeaweedFS, R2...), in OpenPipe ART's layout.

``s3://bucket/prefix/{project}/models/{model}/checkpoints/{step:04d}/...`` with
``history.jsonl`` beside ``checkpoints/``; ART's older layout, with step
prefixes directly under the model prefix, is read too.

S3 has no rename, so two marker objects stand in for the local store's
renamed directories:

* a deletion first writes ``{root}.ckpt-tui-deleting-{token}`` naming the steps
  it is about to delete, removes their objects, and removes the marker last;
* a copy into a step first writes ``{step}/.ckpt-tui-incomplete`` and removes it
  once every object is in place.

A step named by the first or holding the second is listed as pending, never
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
from .layouts import ART_CHECKPOINTS, ART_HISTORY, ART_MODELS, art_name, art_step

WORKERS = 16  # parallel requests; the connection pool is sized to match
DELETE_BATCH = 1000  # S3's limit for one DeleteObjects request
KEY_ERROR_ROUNDS = 3  # tries for keys a DeleteObjects response reports as failed
MAX_RETRIES = 4  # botocore standard mode, per request
COPY_OBJECT_LIMIT = 5 * 1024**3  # largest object CopyObject accepts
PART_SIZE = 256 * 1024**2
FULL_LISTING_AT = 32  # deleting this many steps: list the run once, not each step

DELETING_MARKER = ".ckpt-tui-deleting-"
INCOMPLETE_MARKER = ".ckpt-tui-incomplete"


@dataclass(frozen=True, slots=True)
class S3Object:
    key: str
    size: int
    mtime: float


@dataclass(slots=True)
class _RunListing:
    """What one listing found under a run's checkpoint root."""

    root: str  # key prefix holding the step prefixes, ends with "/"
    layout: str
    steps: dict[str, list[S3Object]] = field(default_factory=dict)
    deleting: dict[str, list[str]] = field(default_factory=dict)  # marker key -> step names

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

    def list_projects(self) -> list[str]:
        candidates = self._names(self.prefix)
        has_models = self._pool.map(lambda p: self._has_objects(f"{self.prefix}{p}/{ART_MODELS}/"),
                                    candidates)
        return [p for p, ok in zip(candidates, has_models) if ok]

    def list_runs(self, project: str) -> list[str]:
        validate_name(project, "project name")
        return self._names(f"{self.prefix}{project}/{ART_MODELS}/")

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
            listing.deleting[marker.key] = [n for n in names if art_step(n) is not None]

    def _group(self, listing: _RunListing, objects: Iterable[S3Object]) -> None:
        for obj in objects:
            name, sep, rest = obj.key[len(listing.root):].partition("/")
            if sep and rest and art_step(name) is not None:
                listing.steps.setdefault(name, []).append(obj)

    def _list_steps(self, listing: _RunListing, names: Iterable[str] | None = None) -> None:
        """Objects of the named steps (all steps if None: ART layout only), grouped by step."""
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
                pending.append(self._checkpoint(listing, name, objects, "interrupted fork"))
            elif any(not o.key.endswith("/") for o in objects):
                complete.append(self._checkpoint(listing, name, objects))
        return complete, pending

    def load_run(self, project: str, run: str, with_metrics: bool = True) -> Run:
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
        text = self._get_text(self._model_prefix(project, run) + ART_HISTORY)
        if text is None:
            return Metrics()
        records, malformed = read_history_records(text.splitlines())
        return metrics_from_records(records, malformed)

    def read_history(self, project: str, run: str) -> list[dict]:
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
        names = [c.name for c in checkpoints]
        bad = [c for c in checkpoints if art_step(c.name) != c.step]
        if bad:
            raise NotFound(f"{project}/{run}: {bad[0].name!r} is not the name of step {bad[0].step}")
        listing = self._listing_of(project, run, checkpoints)
        marker = f"{listing.root}{DELETING_MARKER}{uuid.uuid4().hex}"
        self._write_marker(marker, names)
        failed = self._delete_steps(listing, names)
        if failed:
            self._write_marker(marker, sorted(failed))
            return {art_step(name) or 0: why for name, why in failed.items()}
        self._remove_marker(marker, listing.root)
        return {}

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
        """Finish interrupted deletes, and remove what interrupted forks left behind."""
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
            if ckpt.note != "interrupted fork":
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

    # -- copies ----------------------------------------------------------------
    def checkpoint_location(self, project: str, run: str, checkpoint: Checkpoint) -> str:
        return checkpoint.location or self._url(self._source_step(project, run, checkpoint)[0])

    def _source_step(self, project: str, run: str, checkpoint: Checkpoint) -> tuple[str, list[S3Object]]:
        """The prefix and objects of a complete checkpoint, or NotFound."""
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
        return Checkpoint(step=step, bytes=sum(o.size for o in objects if o.key != marker),
                          mtime=max(o.mtime for o in objects), name=art_name(step),
                          location=self._url(prefix),
                          files=tuple(FileEntry(o.key[len(prefix):], o.size)
                                      for o in objects if o.key != marker))

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

        return target._place(to_project, to_run, checkpoint.step, write,
                             [o.key[len(source):] for o in objects])

    def download_checkpoint(self, project: str, run: str, checkpoint: Checkpoint, directory: Path,
                            progress: ByteProgress | None = None) -> None:
        """Download only this step's objects under ``directory``."""
        source, objects = self._source_step(project, run, checkpoint)
        counter = _Progress(sum(o.size for o in objects), progress)
        directory = Path(directory)
        root = directory.resolve()

        def download(obj: S3Object, threaded: bool) -> None:
            path = (directory / obj.key[len(source):]).resolve()
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

        def write(prefix: str) -> None:
            def upload(item: tuple[Path, str], threaded: bool) -> None:
                path, rel = item
                with self._errors(f"cannot upload {path}"):
                    self.client.upload_file(str(path), self.bucket, prefix + rel, Callback=counter,
                                            Config=self._transfer_config(threaded))

            self._run_transfers([((p, r), s) for p, r, s in zip(files, rels, sizes)], upload)

        return self._place(to_project, to_run, step, write, rels)
