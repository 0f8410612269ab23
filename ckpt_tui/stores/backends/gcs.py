"""A Google Cloud Storage bucket and prefix: reads over the JSON API directly, writes through
google-cloud-storage (the official client).

Listings use the JSON API's ``delimiter="/"`` for one level; they and reads are sent
over a pool of connections (``http.py``) signed by google-auth's credentials and read as plain JSON (the
client's ``Blob`` objects cost ten times the request, and its import 0.45-0.8 s of CPU,
which a command that only reads never pays); claims are created
with ``if_generation_match=0`` (create-only); deletions go 100 to a request
through the JSON API's batch endpoint, one by one side by side where a server has
none (fake-gcs-server); copies within GCS are rewrites (server-side, in as many
calls as the server asks for). Credentials are Application Default Credentials
(``GOOGLE_APPLICATION_CREDENTIALS``, ``gcloud auth application-default login``,
the metadata server); ``STORAGE_EMULATOR_HOST`` points at an emulator, used
anonymously. The client is imported only when a ``gs://`` location is written to.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, BinaryIO
from urllib.parse import quote, urlencode

import orjson

from ...core.errors import CkptError, NotFound, NotRead, StoreError, Unreadable
from .base import (MAX_SIDE_FILE, Backend, BytesDone, DeepListingBackend, Entry, ErrorTable, Exists, FileInfo,
                   FlatListing, Kind, Missing, parse_bucket_url)
from . import http
from .http import TRANSIENT, Backoff, RangedReader, ResponseError, content_range_total, pool_for, send

WORKERS = 16  # parallel requests; the connection pool is sized to match
DELETE_BATCH = 100  # the JSON API's limit of calls in one batch request
READ_CHUNK = 8 * 1024 * 1024  # bytes a stream fetches per request
RETRY_SECONDS = 60.0  # how long a request is retried (429, 5xx, dropped connections)
CONNECT_SECONDS = 5.0  # ... until the server first answers: a wrong endpoint or no network shows soon
EMULATOR = "STORAGE_EMULATOR_HOST"
DEFAULT_ENDPOINT = "https://storage.googleapis.com"
# Fields a listing asks for: what an entry holds, nothing more.
ITEM_FIELDS = "name,size,updated,md5Hash,crc32c"
LIST_FIELDS = f"items({ITEM_FIELDS}),prefixes,nextPageToken"
# The client's retry rule, starting sooner than its default.
BACKOFF = Backoff(initial=0.2, multiplier=2.0, maximum=8.0, seconds=RETRY_SECONDS)


def parse_url(url: str) -> tuple[str, str]:
    """``gs://bucket/some/prefix`` -> (``bucket``, ``some/prefix/``)."""
    return parse_bucket_url(url, "gs")


class Connection(http.Connection):
    """Where requests go and what signs them, shared by the backends of one location: the
    emulator named by ``STORAGE_EMULATOR_HOST``, anonymously, else Application Default
    Credentials; a pool of connections for listings and reads, the official client for writes."""

    def __init__(self) -> None:
        super().__init__()
        emulator = os.environ.get(EMULATOR)
        self.endpoint = (emulator or os.environ.get("API_ENDPOINT_OVERRIDE") or DEFAULT_ENDPOINT).rstrip("/")
        if emulator:
            self.credentials, self.source = None, f"the emulator at {emulator} ({EMULATOR}), anonymously"
        else:
            self.credentials, self.source = _default_credentials()
        self.http = direct_http(self.endpoint, self.credentials)

    def make_client(self) -> Any:
        return make_client(self.credentials)


def make_client(credentials: Any) -> Any:
    """The official client, signed by ``credentials`` (None: anonymously, for an emulator)."""
    import requests.adapters
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(project=None, credentials=credentials or AnonymousCredentials())
    # The client fetches each bucket's metadata in a background thread, for tracing attributes
    # only: a request more, which a credential limited to objects is refused.
    client._bucket_metadata_cache = None
    adapter = requests.adapters.HTTPAdapter(pool_connections=WORKERS, pool_maxsize=WORKERS + 4)
    client._http.mount("https://", adapter)  # the default pool holds 10 connections
    client._http.mount("http://", adapter)
    return client


def direct_http(endpoint: str, credentials: Any) -> Any:
    """A pool for ``endpoint``, its requests signed by ``credentials`` (None: not at all; else
    through google-auth's transport, which takes urllib3's pool).
    The client's requests session costs 1.3 ms a request on this side (it reads the
    environment's proxies again each time), a pool 0.3 ms."""
    if credentials is None:
        return pool_for(endpoint, WORKERS + 4)
    from google.auth.transport.urllib3 import AuthorizedHttp

    return AuthorizedHttp(credentials, http=pool_for(endpoint, WORKERS + 4, urllib3_pool=True))


def _default_credentials() -> tuple[Any, str]:
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    scopes = ["https://www.googleapis.com/auth/devstorage.full_control"]
    key_file = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    try:
        credentials, _project = google.auth.default(scopes=scopes)
    except DefaultCredentialsError as exc:
        if key_file:
            raise StoreError(f"cannot use GOOGLE_APPLICATION_CREDENTIALS={key_file}: "
                             f"{_first_line(exc) or type(exc).__name__}") from None
        raise StoreError("no Google Cloud credentials found: tried GOOGLE_APPLICATION_CREDENTIALS (unset), "
                         "gcloud's application default credentials and the metadata server; run "
                         "`gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS "
                         f"(or {EMULATOR} for an emulator)") from None
    if key_file:
        return credentials, f"GOOGLE_APPLICATION_CREDENTIALS={key_file}"
    return credentials, "Application Default Credentials"


def sdk_retry(backoff: Backoff) -> Any:
    """The client's retry rule (429, 5xx, dropped connections) waiting as ``backoff`` says."""
    from google.cloud.storage.retry import DEFAULT_RETRY

    return DEFAULT_RETRY.with_delay(initial=backoff.initial, maximum=backoff.maximum,
                                    multiplier=backoff.multiplier).with_timeout(backoff.seconds)


# -- errors --------------------------------------------------------------------------------
def _first_line(value: object) -> str:
    lines = str(value).strip().splitlines()
    return lines[0] if lines else ""


def _describe(exc: BaseException) -> tuple[tuple[str | int, ...], str]:
    """An API error's HTTP status and message; other errors' first line."""
    code = getattr(exc, "code", None)
    if isinstance(code, int):
        return (code,), f"{code}: {_first_line(getattr(exc, 'message', exc))}"
    return (), _first_line(exc)


def _credentials_rejected(backend: GCSBackend, what: str, detail: str) -> CkptError:
    return StoreError(f"{backend.endpoint} rejected the Google Cloud credentials from {backend.source}")


def _token_refused(backend: GCSBackend, what: str, detail: str) -> CkptError:
    return StoreError(f"cannot use the Google Cloud credentials from {backend.source}: {detail}")


def _denied(backend: GCSBackend, what: str, detail: str) -> CkptError:
    return Unreadable(f"access denied: {what} (check the permissions of the credentials from {backend.source} "
                      f"on bucket {backend.bucket!r})")


def _unreachable(backend: GCSBackend, what: str, detail: str) -> CkptError:
    return StoreError(f"cannot reach the GCS endpoint {backend.endpoint} (check {EMULATOR} and the network)")


GCS_ERRORS = ErrorTable(
    catches=("GoogleAPIError", "GoogleAuthError", "RequestException", "HTTPError",  # HTTPError: the pool's, urllib3's
             "ResponseError"),
    codes={404: Missing, 412: Exists, 401: _credentials_rejected, 403: _denied},
    # InvalidOperation: a 401 to anonymous credentials, which have nothing to refresh.
    exceptions={"InvalidOperation": _credentials_rejected, "RefreshError": _token_refused,
                "TransportError": _token_refused, "ConnectionError": _unreachable, "Timeout": _unreachable,
                "NewConnectionError": _unreachable, "ProtocolError": _unreachable, "TimeoutError": _unreachable,
                "ConnectTimeoutError": _unreachable, "ReadTimeoutError": _unreachable},
    describe=_describe,
)


class _Counting:
    """A file whose reads and writes are reported to a ``BytesDone``; a stream that cannot
    tell its position (another store's download) tells the bytes read from it."""

    def __init__(self, file: BinaryIO, done: BytesDone | None) -> None:
        self.file, self.done, self.bytes_read = file, done, 0

    def read(self, size: int = -1) -> bytes:
        data = self.file.read(size)
        self.bytes_read += len(data)
        if self.done is not None and data:
            self.done(len(data))
        return data

    def tell(self) -> int:
        try:
            return self.file.tell()
        except (AttributeError, OSError):  # io.UnsupportedOperation is an OSError
            return self.bytes_read

    def write(self, data: bytes) -> int:
        written = self.file.write(data)
        if self.done is not None:
            self.done(len(data))
        return written

    def __getattr__(self, name: str) -> Any:  # seek, tell, name...: the file's own
        return getattr(self.file, name)


class GCSBackend(DeepListingBackend):
    scheme = "gs"
    parallelism = WORKERS
    can_copy_server_side = True
    has_exclusive_create = True
    error_table = GCS_ERRORS

    def __init__(self, bucket: str, prefix: str = "", connection: Connection | None = None) -> None:
        super().__init__(bucket, prefix)
        self.connection = connection = connection or Connection()
        self.endpoint, self.source, self.http = connection.endpoint, connection.source, connection.http
        self.backoff = BACKOFF
        self.batch_delete = True  # until the server shows it has no batch endpoint
        self.answered = False  # whether the server has answered yet
        self._soft_delete: tuple[float | None] | None = None  # the bucket's retention, once asked

    @property
    def client(self) -> Any:
        """The official client, for writes (imported on the first)."""
        return self.connection.client

    @property
    def gcs_bucket(self) -> Any:
        return self.client.bucket(self.bucket)

    def parent(self) -> GCSBackend:
        return GCSBackend(self.bucket, self.prefix_above(), self.connection)

    @contextmanager
    def errors(self, what: str) -> Iterator[None]:
        """The error table's translation, of the last failure where the retries ran out."""
        with super().errors(what):
            try:
                yield
            except Exception as exc:
                if type(exc).__name__ != "RetryError":  # google-api-core's, named: it is imported for writes only
                    raise
                raise (exc.cause or exc) from None  # type: ignore[attr-defined]
        self.answered = True

    def waits(self) -> Backoff:
        """How a request is retried: ``backoff``, cut short until the server first answers."""
        return self.backoff if self.answered else self.backoff.within(CONNECT_SECONDS)

    def retrying(self) -> Any:
        """The client's retry rule for a request, waiting as ``waits`` says."""
        return sdk_retry(self.waits())

    @contextmanager
    def listing_errors(self, what: str) -> Iterator[None]:
        """A listing that finds nothing at all: no such bucket."""
        try:
            with self.errors(what):
                yield
        except Missing:
            raise NotFound(f"no bucket {self.bucket!r} at {self.endpoint}") from None

    def check_root(self) -> None:
        """Fail early, with one line, on a missing bucket or bad credentials."""
        with self.listing_errors(f"cannot list gs://{self.bucket}"):
            next(self._pages(self.prefix, delimiter=False, most=1))

    # -- listing --------------------------------------------------------------------------
    def _request(self, method: str, path: str, params: dict[str, str] | None = None,
                 headers: dict[str, str] | None = None, api: str = "/storage/v1", waits: Backoff | None = None) -> Any:
        """One JSON API request, retried as ``waits`` says (by default ``self.waits()``); its
        answer, read whole. An error answer is raised as a ``ResponseError`` (for the error table)."""
        url = f"{self.endpoint}{api}{path}" + (f"?{urlencode(params)}" if params else "")
        return (waits or self.waits()).call(lambda: send(self.http, method, url, headers, _response_error))

    def _object(self, path: str) -> str:
        return f"/b/{quote(self.bucket, safe='')}/o/{quote(self.key(path), safe='')}"

    def _media(self, path: str, start: int, end: int, generation: str = "") -> tuple[bytes, int, str]:
        """Bytes ``start`` to ``end`` (included) of an object in one request, its whole size
        and its generation; ``generation``: that one only (412 once it has changed)."""
        params = {"alt": "media", **({"ifGenerationMatch": generation} if generation else {})}
        response = self._request("GET", self._object(path), params, {"Range": f"bytes={start}-{end}"},
                                 api="/download/storage/v1")
        if response.status == 416:  # an empty object has no byte 0
            return b"", 0, generation
        return response.data, content_range_total(response), response.headers.get("x-goog-generation", "")

    def _pages(self, prefix: str, delimiter: bool, most: int = 0) -> Iterator[dict]:
        """The listing's pages as the JSON API sends them (``items``, ``prefixes``)."""
        params = {"prefix": prefix, "fields": LIST_FIELDS, "projection": "noAcl"}
        if delimiter:
            params["delimiter"] = "/"
        if most:
            params["maxResults"] = str(most)
        path = f"/b/{quote(self.bucket, safe='')}/o"
        while True:
            page = orjson.loads(self._request("GET", path, params).data)
            yield page
            if not (token := page.get("nextPageToken")):
                return
            params["pageToken"] = token

    def list_dir(self, path: str) -> list[Entry]:
        prefix = self.folder_key(path)
        entries: dict[str, Entry] = {}
        files: list[Entry] = []
        with self.listing_errors(f"cannot list {self.url(path, folder=True)}"):
            for page in self._pages(prefix, delimiter=True):
                files.extend(Entry(name, Kind.FILE, *_info(item)[1:]) for item in page.get("items", ())
                             if (name := item["name"][len(prefix):]))
                for common in page.get("prefixes", ()):
                    if name := common[len(prefix):].rstrip("/"):
                        entries[name] = Entry(name, Kind.DIR)
        for entry in files:  # a prefix and an object of one name: the folder wins
            if entry.name not in entries:
                entries[entry.name] = entry
        return list(entries.values())

    def flat_page(self, path: str, most: int) -> FlatListing:
        prefix = self.folder_key(path)
        with self.listing_errors(f"cannot list {self.url(path, folder=True)}"):
            page = next(self._pages(prefix, delimiter=False, most=most))
        return FlatListing([_info(item, rel) for item in page.get("items", ()) if (rel := item["name"][len(prefix):])],
                           whole=not page.get("nextPageToken"))

    def walk(self, path: str) -> Iterator[FileInfo]:
        prefix = self.folder_key(path)
        found = False
        with self.listing_errors(f"cannot list {self.url(path, folder=True)}"):
            for page in self._pages(prefix, delimiter=False):
                for item in page.get("items", ()):
                    rel = item["name"][len(prefix):]
                    if rel and not rel.endswith("/"):  # "folder/" placeholders are no files
                        found = True
                        yield _info(item, rel)
        if not found and path:
            try:
                with self.errors(f"cannot read {self.url(path)}"):
                    item = orjson.loads(self._request("GET", self._object(path), {"fields": ITEM_FIELDS}).data)
            except Missing:
                return
            yield _info(item, "")

    def read_file(self, path: str, limit: int = MAX_SIDE_FILE) -> bytes | None:
        """One request: the first ``limit + 1`` bytes tell whether the file is larger than ``limit``."""
        try:
            with self.errors(f"cannot read {self.url(path)}"):
                data = self._media(path, 0, limit)[0]
        except Missing:
            return None
        if len(data) > limit:
            raise NotRead(f"{self.url(path)} is larger than {limit:,} bytes; not read")
        return data

    def open(self, path: str) -> BinaryIO:
        """The first ``READ_CHUNK`` bytes in one request (a small file whole), the rest as read,
        of the generation read first: a stream never mixes two versions of an object."""
        what = f"cannot read {self.url(path)}"
        try:
            with self.errors(what):
                first, total, generation = self._media(path, 0, READ_CHUNK - 1)
        except Missing:
            raise NotFound(f"{self.url(path)} no longer exists") from None

        def fetch(start: int, end: int) -> bytes:
            with self.errors(what):
                return self._media(path, start, end, generation)[0]

        return io.BufferedReader(RangedReader(first, total, fetch, READ_CHUNK))  # type: ignore[return-value]

    def soft_delete_seconds(self) -> float | None:
        """The bucket's soft-delete retention (GCS keeps deleted objects 7 days unless the bucket
        says otherwise; 0 turns it off). None also where the credentials may not read the
        bucket's metadata: that is no reason to refuse a deletion. Retried for 5 s at most: the
        app asks as its confirmation opens."""
        if self._soft_delete is None:
            try:
                with self.errors(f"cannot read the soft-delete policy of gs://{self.bucket}"):
                    bucket = orjson.loads(self._request("GET", f"/b/{quote(self.bucket, safe='')}",
                                                        {"fields": "softDeletePolicy"},
                                                        waits=self.backoff.within(CONNECT_SECONDS)).data)
                seconds = float(bucket.get("softDeletePolicy", {}).get("retentionDurationSeconds") or 0)
            except (CkptError, ValueError):
                seconds = 0.0
            self._soft_delete = (seconds or None,)
        return self._soft_delete[0]

    # -- writing --------------------------------------------------------------------------
    def create_new(self, path: str, data: bytes) -> bool:
        try:
            with self.errors(f"cannot write {self.url(path)}"):
                self.gcs_bucket.blob(self.key(path)).upload_from_string(
                    data, content_type="application/octet-stream", if_generation_match=0, retry=self.retrying())
        except Exists:
            return False
        return True

    def write(self, path: str, data: bytes) -> None:
        with self.errors(f"cannot write {self.url(path)}"):
            self.gcs_bucket.blob(self.key(path)).upload_from_string(
                data, content_type="application/octet-stream", retry=self.retrying())

    def delete_files(self, paths: list[str]) -> dict[str, str]:
        return self.delete_in_batches(paths, DELETE_BATCH, self._delete_batch)

    def _delete_batch(self, names: list[str]) -> dict[str, tuple[str, bool]]:
        """One batch request of up to 100 deletions (a 429 or 5xx answer to one of them is
        worth another try); single deletions side by side where the server has no batches."""
        answers = self._delete_in_one_request(names) if self.batch_delete else None
        if answers is None:
            return {name: (why, False) for name, why in self._delete_one_by_one(names).items()}
        return {name: (why, status in TRANSIENT) for name, (status, why) in zip(names, answers)
                if not (200 <= status < 300 or status == 404)}  # a missing object counts as deleted

    def _delete_in_one_request(self, names: list[str]) -> list[tuple[int, str]] | None:
        """(status, message) for each deletion of one batch request; None where the server
        has no batch endpoint (and from then on)."""
        from google.api_core import exceptions as api

        def send() -> list[tuple[int, str]]:
            batch = self.client.batch(raise_exception=False)
            with batch:
                for name in names:
                    self.gcs_bucket.delete_blob(name)
            return [(answer.status_code, _message(answer.status_code, answer.content)) for answer in batch._responses]

        with self.errors(f"cannot delete from gs://{self.bucket}"):
            try:
                return self.retrying()(send)()
            except (ValueError, api.NotFound, api.MethodNotAllowed, api.BadRequest, api.MethodNotImplemented):
                self.batch_delete = False  # not multipart, or no such endpoint: an emulator without batches
                return None

    def _delete_one_by_one(self, names: list[str]) -> dict[str, str]:
        bucket = f"/b/{quote(self.bucket, safe='')}/o/"

        def delete(name: str) -> str | None:
            try:
                with self.errors(f"cannot delete {self.url(name[len(self.prefix):])}"):
                    self._request("DELETE", bucket + quote(name, safe=""))
            except Missing:
                pass  # a missing object counts as deleted
            except StoreError as exc:
                return str(exc)
            return None

        return {name: why for name, why in zip(names, self.map(delete, names)) if why is not None}

    # -- transfers ------------------------------------------------------------------------
    def copy_file(self, source: str, target: str, done: BytesDone | None = None) -> None:
        self.copy_from(self, source, target, done)

    def can_copy_from(self, other: Backend) -> bool:
        return isinstance(other, GCSBackend) and other.endpoint == self.endpoint and other.source == self.source

    def copy_from(self, other: Backend, source: str, target: str, done: BytesDone | None = None) -> None:
        """A rewrite: the server copies, in as many calls as it asks for (large objects,
        other locations or storage classes)."""
        if not (isinstance(other, GCSBackend) and self.can_copy_from(other)):
            return super().copy_from(other, source, target, done)
        origin = other.gcs_bucket.blob(other.key(source))
        copy = self.gcs_bucket.blob(self.key(target))
        token, copied = None, 0
        with self.errors(f"cannot copy {other.url(source)}"):
            while True:
                token, rewritten, _total = copy.rewrite(origin, token=token, retry=self.retrying())
                if done is not None and rewritten > copied:
                    done(rewritten - copied)
                copied = rewritten
                if token is None:
                    return

    def get_file(self, source: str, local_target: str, done: BytesDone | None = None) -> None:
        with self.errors(f"cannot download {self.url(source)}"), open(local_target, "wb") as file:
            self.gcs_bucket.blob(self.key(source)).download_to_file(_Counting(file, done), raw_download=True,
                                                                    retry=self.retrying())

    def put_file(self, local_source: str, target: str, done: BytesDone | None = None) -> None:
        with self.errors(f"cannot upload {local_source}"), open(local_source, "rb") as file:
            self.gcs_bucket.blob(self.key(target)).upload_from_file(
                _Counting(file, done), size=os.fstat(file.fileno()).st_size,
                content_type="application/octet-stream", retry=self.retrying())

    def put_stream(self, stream: BinaryIO, target: str, done: BytesDone | None = None) -> None:
        with self.errors(f"cannot upload to {self.url(target)}"):
            self.gcs_bucket.blob(self.key(target)).upload_from_file(
                _Counting(stream, done), content_type="application/octet-stream", retry=None)


def _info(item: dict, name: str = "") -> FileInfo:
    """An object of a listing (the JSON API's resource): its size, time of its last change and
    checksum as GCS keeps it, the MD5 (base64) or, for a composite object, its CRC32C."""
    updated = item.get("updated")
    crc32c = item.get("crc32c")
    return FileInfo(name, int(item.get("size") or 0), datetime.fromisoformat(updated).timestamp() if updated else 0.0,
                    item.get("md5Hash") or (f"crc32c:{crc32c}" if crc32c else ""))


def _error_text(body: bytes) -> str:
    """The message of an error answer's JSON, in a line."""
    try:
        return _first_line(orjson.loads(body).get("error", {}).get("message", ""))
    except (ValueError, AttributeError):
        return ""


def _response_error(response: Any) -> ResponseError:
    return ResponseError(response.status, message=_error_text(response.data))


def _message(status: int, body: bytes) -> str:
    """What an error answer says, in a line: its status and the error's message."""
    return f"{status}: {_error_text(body)}".rstrip(": ")
