"""An S3 bucket and prefix (AWS, MinIO, SeaweedFS, R2...), through botocore (boto3's core).

Listings use paginators (``Delimiter="/"`` for one level); deletions use
``DeleteObjects`` in parallel batches of at most 1,000 keys, retrying the keys
a response reports as failed; copies, uploads and downloads go through
s3transfer's ``TransferManager`` (multipart above ``multipart_threshold``,
server-side for copies), except a copy of an object a listing just sized below it: one
``CopyObject``. Where the credentials and endpoint are plain, these requests are
signed and sent without botocore (``s3light.py``), which is then imported only for
transfers in parts and uploads; otherwise botocore sends them all.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterable, Iterator

from ...core.errors import CkptError, NotFound, NotRead, StoreError, Unreadable
from ...core.models import Upload
from .base import (MAX_SIDE_FILE, Backend, BytesDone, DeepListingBackend, Entry, ErrorTable, Exists,
                   FileInfo, Kind, Missing, grouped, parse_bucket_url)
from .s3light import light_client, listing_page, timestamp

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO

    from ...core.checksums import Digest

WORKERS = 16  # parallel requests; the connection pool is sized to match
DELETE_BATCH = 1000  # S3's limit for one DeleteObjects request
MAX_RETRIES = 4  # botocore standard mode, per request
COPY_OBJECT_LIMIT = 5 * 1024**3  # largest object CopyObject accepts in one request
PART_SIZE = 256 * 1024**2
WALKED = 100_000  # sizes and ETags of objects walked, kept for the copies that follow


def parse_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> (``bucket``, ``some/prefix/``)."""
    return parse_bucket_url(url, "s3")


_EMPTY_PAGE = b"<ListBucketResult/>"


def _parse_listing_fast(response_dict: dict[str, Any], customized_response_dict: dict[str, Any],
                        **_: Any) -> None:
    """ListObjectsV2 pages parsed by ElementTree: botocore's parser spends ~50 us an object,
    half of a prune of 1,000 checkpoints. botocore then parses an empty page and merges this
    one in, so that its paginator and its key decoding work as usual; an error response or a
    page this cannot read is left to botocore."""
    if response_dict.get("status_code") != 200:
        return
    try:
        page = listing_page(response_dict["body"])
    except Exception:  # noqa: BLE001 - botocore parses it, and says what is wrong
        return
    customized_response_dict.update(page)
    response_dict["body"] = _EMPTY_PAGE


def _fast_loader(search_path: str | None) -> Any:
    """botocore's model loader, quicker to start: its JSON models (S3's and the 1.2 MB
    ``endpoints.json``) parsed by orjson, 2-5 times faster than ``json`` building
    OrderedDicts; and a service looked for in its own folder, not by listing every
    service's folders (about 850 ``listdir`` calls and 2,600 ``stat`` calls per client)."""
    import orjson
    from botocore import loaders

    class OrjsonFileLoader(loaders.JSONFileLoader):
        def _load_file(self, full_path: str, open_method: Any) -> Any:
            try:
                with open_method(full_path, "rb") as file:
                    return orjson.loads(file.read())
            except FileNotFoundError:
                return None

    class Services:
        """``list_available_services`` answering ``in`` for one service alone."""

        def __init__(self, loader: Any, type_name: str) -> None:
            self.loader, self.type_name = loader, type_name

        def __contains__(self, service: object) -> bool:
            try:
                return bool(self.loader.list_api_versions(service, self.type_name))
            except loaders.DataNotFoundError:
                return False

        def __iter__(self) -> Iterator[str]:  # for the message naming every known service
            return iter(loaders.Loader.list_available_services(self.loader, self.type_name))

    class FastLoader(loaders.Loader):
        FILE_LOADER_CLASS = OrjsonFileLoader

        def list_available_services(self, type_name: str) -> Any:
            return Services(self, type_name)

    paths = None if search_path is None else [os.path.expanduser(os.path.expandvars(p))
                                              for p in search_path.split(os.pathsep)]
    return FastLoader(extra_search_paths=paths)


def make_client(endpoint_url: str | None = None, profile: str | None = None) -> Any:
    """An S3 client configured for parallel work and S3-compatible servers.

    Credentials, region and endpoint come from the standard chain
    (``AWS_PROFILE``, ``AWS_ENDPOINT_URL_S3``...) unless given here.
    """
    import botocore.session  # boto3 itself adds nothing needed here, and costs 0.1 s to import
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError

    session = botocore.session.Session(profile=profile)
    session.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=timestamp)
    try:
        session.get_scoped_config()  # a missing profile shows now, not at the first request
    except BotoCoreError as exc:
        raise StoreError(f"cannot use AWS profile {profile!r}: {exc}") from None
    session.register_component("data_loader", _fast_loader(session.get_config_variable("data_path")))
    config = Config(
        retries={"mode": "standard", "max_attempts": MAX_RETRIES},
        max_pool_connections=WORKERS + 4,
        connect_timeout=3,
        read_timeout=60,
        # MinIO, SeaweedFS and others reject or mangle the newer default checksums.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        # Over plain http botocore would hash every upload's body with SHA-256 to sign it (a
        # second pass over each file, a third of an offload's time on a loopback server);
        # copies that matter are verified by their ETag instead.
        s3={"payload_signing_enabled": False},
        user_agent_extra="ckpt-tui",
    )
    try:
        client = session.create_client("s3", endpoint_url=endpoint_url, config=config)
    except BotoCoreError as exc:
        raise StoreError(f"cannot set up an S3 client: {exc}") from None
    client.meta.events.register("before-parse.s3.ListObjectsV2", _parse_listing_fast)
    return client


def open_client(endpoint_url: str | None = None, profile: str | None = None) -> Any:
    """A client signing its own requests where the credentials and endpoint are plain
    (``s3light.py``), else botocore's (``make_client``)."""
    return (light_client(endpoint_url, profile, lambda: make_client(endpoint_url, profile), WORKERS + 4, MAX_RETRIES)
            or make_client(endpoint_url, profile))


def covering_prefixes(names: Iterable[str], most: int = WORKERS) -> list[str]:
    """The longest prefixes, at most ``most`` of them, that every one of ``names`` begins with
    one of (``0000``-``0999``: ``00``...``09``)."""
    names = sorted(set(names))
    chosen = [""]
    for length in range(1, max(map(len, names), default=0) + 1):
        prefixes = sorted({name[:length] for name in names})
        if len(prefixes) > most:
            break
        # "1" already covers "10": a name shorter than the length must not list others twice
        chosen = [p for p in prefixes if not any(p != q and p.startswith(q) for q in prefixes)]
    return chosen


# -- errors: botocore's, as the project's ---------------------------------------------------------
def _describe(exc: BaseException) -> tuple[tuple[str | int, ...], str]:
    """A ClientError's code and HTTP status, and "code: message"; other botocore errors' text."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return (), str(exc)
    error = response.get("Error", {})
    code = str(error.get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return tuple(c for c in (code, status) if c), f"{code or status}: {error.get('Message', '')}".rstrip(": ")


def _no_bucket(backend: S3Backend, what: str, detail: str) -> CkptError:
    return NotFound(f"no bucket {backend.bucket!r} at {backend.endpoint_url}")


def _credentials_rejected(backend: S3Backend, what: str, detail: str) -> CkptError:
    return StoreError(f"{backend.endpoint_url} rejected the AWS credentials ({detail.partition(':')[0]})")


def _denied(backend: S3Backend, what: str, detail: str) -> CkptError:
    return Unreadable(f"access denied: {what} (check the credentials' permissions on bucket {backend.bucket!r})")


def _no_credentials(backend: S3Backend, what: str, detail: str) -> CkptError:
    return StoreError("no AWS credentials found: set AWS_PROFILE (or --profile), or "
                      "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")


def _unreachable(backend: S3Backend, what: str, detail: str) -> CkptError:
    return StoreError(f"cannot reach the S3 endpoint {backend.endpoint_url} "
                      "(check --endpoint-url / AWS_ENDPOINT_URL_S3 and the network)")


S3_ERRORS = ErrorTable(
    catches=("ClientError", "BotoCoreError", "HTTPError"),  # HTTPError: the light client's pool
    codes={
        **dict.fromkeys(("NoSuchKey", "NotFound", "404", "NoSuchUpload"), Missing),
        **dict.fromkeys(("PreconditionFailed", "412", "ConditionalRequestConflict"), Exists),
        "NoSuchBucket": _no_bucket,
        **dict.fromkeys(("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"),
                        _credentials_rejected),
        **dict.fromkeys(("AccessDenied", "AllAccessDisabled", 403), _denied),
    },
    exceptions={"NoCredentialsError": _no_credentials, "EndpointConnectionError": _unreachable,
                "ConnectTimeoutError": _unreachable, "NewConnectionError": _unreachable},
    describe=_describe,
)


class _Counter:
    """An s3transfer subscriber passing bytes transferred on to a ``BytesDone``."""

    def __init__(self, done: BytesDone | None) -> None:
        self.done = done

    def on_progress(self, future: Any, bytes_transferred: int, **kwargs: Any) -> None:
        if self.done is not None:
            self.done(bytes_transferred)

    # s3transfer calls these too.

    def on_queued(self, future: Any, **kwargs: Any) -> None: ...

    def on_done(self, future: Any, **kwargs: Any) -> None: ...


class S3Backend(DeepListingBackend):
    scheme = "s3"
    parallelism = WORKERS
    can_copy_server_side = True
    has_exclusive_create = True
    has_incomplete_uploads = True
    lists_folder_markers = True
    error_table = S3_ERRORS

    def __init__(self, bucket: str, prefix: str = "", client: Any = None, *,
                 endpoint_url: str | None = None, profile: str | None = None) -> None:
        super().__init__(bucket, prefix)
        self.profile = profile
        self.client = client if client is not None else open_client(endpoint_url, profile)
        self.endpoint_url: str = self.client.meta.endpoint_url
        # Objects above this are copied, uploaded and downloaded in parts.
        self.multipart_threshold = COPY_OBJECT_LIMIT
        self.part_size = PART_SIZE
        self._managers: dict[tuple[int, int], Any] = {}
        self._lock = threading.Lock()
        self._walked: dict[str, tuple[int, str]] = {}  # key: (bytes, ETag), as the last walks listed them

    @property
    def sdk(self) -> Any:
        """botocore's client, for s3transfer and the calls the light client does not send itself."""
        return getattr(self.client, "sdk", self.client)

    def parent(self) -> S3Backend:
        twin = S3Backend(self.bucket, self.prefix_above(), self.client, profile=self.profile)
        twin.multipart_threshold, twin.part_size = self.multipart_threshold, self.part_size
        return twin

    def check_root(self) -> None:
        """Fail early, with one line, on a missing bucket or bad credentials."""
        with self.errors(f"cannot list s3://{self.bucket}"):
            self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix, MaxKeys=1)

    # -- listing --------------------------------------------------------------------------
    def _pages(self, prefix: str, delimiter: bool) -> Iterator[dict]:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if delimiter:
            kwargs["Delimiter"] = "/"
        with self.errors(f"cannot list {self.url(prefix[len(self.prefix):])}"):
            yield from self.client.get_paginator("list_objects_v2").paginate(**kwargs)

    def list_dir(self, path: str) -> list[Entry]:
        prefix = self.folder_key(path)
        entries: dict[str, Entry] = {}
        for page in self._pages(prefix, delimiter=True):
            for common in page.get("CommonPrefixes", ()):
                name = common["Prefix"][len(prefix):].rstrip("/")
                if name:
                    entries[name] = Entry(name, Kind.DIR)
            for obj in page.get("Contents", ()):
                name = obj["Key"][len(prefix):]
                if name and name not in entries:  # a prefix and an object of one name: the folder wins
                    entries[name] = Entry(name, Kind.FILE, obj["Size"], obj["LastModified"].timestamp(),
                                          obj.get("ETag", ""))
        return list(entries.values())

    def _objects(self, prefix: str, start: str, markers: set[str] | None = None) -> Iterator[FileInfo]:
        """Every object whose key begins with ``prefix``, its path relative to ``start``; the
        folder markers (keys ending in ``/``) are no files: their paths go to ``markers``."""
        for page in self._pages(prefix, delimiter=False):
            for obj in page.get("Contents", ()):
                rel = obj["Key"][len(start):]
                if rel and not rel.endswith("/"):
                    yield FileInfo(rel, obj["Size"], obj["LastModified"].timestamp(), obj.get("ETag", ""))
                elif rel and markers is not None:
                    markers.add(rel[:-1])

    def walk(self, path: str) -> Iterator[FileInfo]:
        prefix = self.folder_key(path)
        found = False
        if len(self._walked) > WALKED:
            self._walked.clear()
        for info in self._objects(prefix, prefix):
            found = True
            if info.tag:
                self._walked[prefix + info.path] = (info.size, info.tag)
            yield info
        if not found and path:
            single = self._head(path)
            if single is not None:
                yield single

    def digest(self, info: FileInfo) -> Digest | None:
        """The ETag: an MD5 for an object written in one request, the MD5 of the parts' MD5s
        (``-N``) for one uploaded in parts of ``part_size``, as uploads from here are."""
        from ...core.checksums import MD5, MD5_OF_PARTS, Digest  # an offload's check, not a listing's

        etag = info.tag.strip('"')
        if not etag:
            return None
        return Digest(MD5_OF_PARTS, etag, self.part_size) if "-" in etag else Digest(MD5, etag)

    def _head(self, path: str) -> FileInfo | None:
        try:
            with self.errors(f"cannot read {self.url(path)}"):
                head = self.client.head_object(Bucket=self.bucket, Key=self.key(path))
        except Missing:
            return None
        # A server that does not date the object: taken as written now, never older than it is.
        modified = head.get("LastModified")
        return FileInfo("", head["ContentLength"], modified.timestamp() if modified is not None else time.time(),
                        head.get("ETag", ""))

    def listing_of(self, folder: str, names: Iterable[str],
                   markers: set[str] | None = None) -> dict[str, list[FileInfo]]:
        """``listing(folder, fresh=True)`` for ``names`` only: one listing per common prefix
        of the names, side by side. SeaweedFS keeps emptied folders and walks them in a
        listing: after a deletion of 1,000 steps, one listing of the whole folder took a
        quarter of a second, ten of a tenth of it each run together. The names of ``names``
        whose folder marker (``{name}/``) was listed are added to ``markers``."""
        wanted = set(names)
        start = self.folder_key(folder)
        seen: set[str] = set()
        pages = self.map(lambda p: list(self._objects(start + p, start, seen)), covering_prefixes(wanted))
        groups = grouped(info for infos in pages for info in infos)
        if markers is not None:
            markers.update(wanted & seen)
        return {name: groups[name] for name in wanted if name in groups}

    def read_file(self, path: str, limit: int = MAX_SIDE_FILE) -> bytes | None:
        """The object's size is checked before its body is read."""
        try:
            with self.errors(f"cannot read {self.url(path)}"):
                response = self.client.get_object(Bucket=self.bucket, Key=self.key(path))
        except Missing:
            return None
        with self.errors(f"cannot read {self.url(path)}"):
            body = response["Body"]
            if response.get("ContentLength", 0) > limit:
                body.close()
                raise NotRead(f"{self.url(path)} is larger than {limit:,} bytes; not read")
            return body.read()

    def open(self, path: str) -> BinaryIO:
        try:
            with self.errors(f"cannot read {self.url(path)}"):
                return self.client.get_object(Bucket=self.bucket, Key=self.key(path))["Body"]
        except Missing:
            raise NotFound(f"{self.url(path)} no longer exists") from None

    # -- writing --------------------------------------------------------------------------
    def create_new(self, path: str, data: bytes) -> bool:
        """As the base's; a 412 answer to a PUT tried again (its first answer lost: a 5xx, a
        dropped connection) may be for this very write: an object holding exactly ``data`` (a
        marker names its writer, process and time) is this call's own."""
        try:
            with self.errors(f"cannot write {self.url(path)}"):
                self.client.put_object(Bucket=self.bucket, Key=self.key(path), Body=data, IfNoneMatch="*")
        except Exists:
            return self.read_bytes(path) == data
        return True

    def write(self, path: str, data: bytes) -> None:
        with self.errors(f"cannot write {self.url(path)}"):
            self.client.put_object(Bucket=self.bucket, Key=self.key(path), Body=data)

    def _delete_batch(self, keys: list[str]) -> dict[str, tuple[str, bool]]:
        """One DeleteObjects request; every key it reports failed is worth another try."""
        with self.errors(f"cannot delete from s3://{self.bucket}"):
            response = self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True})
        return {e["Key"]: (f"{e.get('Code', 'Error')}: {e.get('Message', '')}".rstrip(": "), True)
                for e in response.get("Errors", ())}

    def delete_files(self, paths: list[str]) -> dict[str, str]:
        return self.delete_in_batches(paths, DELETE_BATCH, self._delete_batch)

    # -- transfers ------------------------------------------------------------------------
    def _manager(self) -> Any:
        from s3transfer.manager import TransferConfig, TransferManager

        settings = (self.multipart_threshold, self.part_size)
        with self._lock:
            if settings not in self._managers:
                config = TransferConfig(multipart_threshold=self.multipart_threshold,
                                        multipart_chunksize=self.part_size, max_request_concurrency=WORKERS)
                self._managers[settings] = TransferManager(self.sdk, config)
            return self._managers[settings]

    def _transfer(self, what: str, submit: str, done: BytesDone | None, **kwargs: Any) -> None:
        with self.errors(what):
            future = getattr(self._manager(), submit)(subscribers=[_Counter(done)], **kwargs)
            future.result()

    def _walked_source(self, key: str) -> tuple[int, str] | None:
        """(bytes, ETag) of ``key`` as a walk just listed it, for a copy in one CopyObject, which
        copies the object as it is then; None for a copy in parts, which asks them afresh
        (s3transfer's HeadObject), and each UploadPartCopy names that ETag."""
        source = self._walked.pop(key, None)
        return source if source is not None and source[0] < self.multipart_threshold else None

    def copy_file(self, source: str, target: str, done: BytesDone | None = None) -> None:
        self.copy_from(self, source, target, done)

    def can_copy_from(self, other: Backend) -> bool:
        return (isinstance(other, S3Backend) and other.endpoint_url == self.endpoint_url
                and other.profile == self.profile)

    def copy_from(self, other: Backend, source: str, target: str, done: BytesDone | None = None) -> None:
        if not (isinstance(other, S3Backend) and self.can_copy_from(other)):
            return super().copy_from(other, source, target, done)
        what = f"cannot copy {other.url(source)}"
        copy_source = {"Bucket": other.bucket, "Key": other.key(source)}
        listed = other._walked_source(copy_source["Key"])
        if listed is None:  # size unknown, or a copy in parts: s3transfer asks and splits
            self._transfer(what, "copy", done, copy_source=copy_source, bucket=self.bucket, key=self.key(target),
                           source_client=other.sdk)
            return
        # One CopyObject, as s3transfer would send for an object this size, without its import,
        # its threads and its queues (a tenth of a second before the first copy of a fork).
        with self.errors(what):
            self.client.copy_object(CopySource=copy_source, Bucket=self.bucket, Key=self.key(target))
        if done is not None:
            done(listed[0])

    def get_file(self, source: str, local_target: str, done: BytesDone | None = None) -> None:
        self._transfer(f"cannot download {self.url(source)}", "download", done,
                       bucket=self.bucket, key=self.key(source), fileobj=local_target)

    def put_file(self, local_source: str, target: str, done: BytesDone | None = None) -> None:
        self._transfer(f"cannot upload {local_source}", "upload", done,
                       fileobj=local_source, bucket=self.bucket, key=self.key(target))

    def put_stream(self, stream: BinaryIO, target: str, done: BytesDone | None = None) -> None:
        self._transfer(f"cannot upload to {self.url(target)}", "upload", done,
                       fileobj=stream, bucket=self.bucket, key=self.key(target))

    # -- incomplete multipart uploads -------------------------------------------------------
    def incomplete_uploads(self, path: str) -> list[Upload]:
        """ListMultipartUploads below ``path``, then ListParts of each (in parallel) for its bytes.
        A server that does not implement multipart listings has none to report."""
        prefix = self.folder_key(path)
        started: list[tuple[str, str, float]] = []
        with self.errors(f"cannot list the incomplete uploads of {self.url(path, folder=True)}"):
            try:
                for page in self.client.get_paginator("list_multipart_uploads").paginate(
                        Bucket=self.bucket, Prefix=prefix):
                    started += [(u["Key"], u["UploadId"], u["Initiated"].timestamp()) for u in page.get("Uploads", ())]
            except Exception as exc:
                if S3_ERRORS.handles(exc) and {"NotImplemented", 501} & set(_describe(exc)[0]):
                    return []
                raise
        return [upload for upload in self.map(self._upload, started) if upload is not None]

    def _upload(self, started: tuple[str, str, float]) -> Upload | None:
        """One upload with the bytes of its parts; None when it was completed or aborted meanwhile."""
        key, upload_id, initiated = started
        total = parts = 0
        try:
            with self.errors(f"cannot list the parts of s3://{self.bucket}/{key}"):
                for page in self.client.get_paginator("list_parts").paginate(
                        Bucket=self.bucket, Key=key, UploadId=upload_id):
                    total += sum(part["Size"] for part in page.get("Parts", ()))
                    parts += len(page.get("Parts", ()))
        except Missing:
            return None
        return Upload(key[len(self.prefix):], upload_id, initiated, total, parts)

    def abort_upload(self, upload: Upload) -> None:
        with contextlib.suppress(Missing), self.errors(f"cannot abort the upload of {self.url(upload.path)}"):
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key(upload.path),
                                               UploadId=upload.upload_id)
