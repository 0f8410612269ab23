"""An Azure Blob container and prefix, through the official client (azure-storage-blob).

Listings are List Blobs pages (with ``/`` as delimiter for one level) sent through
the SDK's pipeline; claims are created with ``If-None-Match: *``; deletions go in
Blob Batch requests of at most 256 blobs, one by one where a batch is refused;
copies within an account are server-side (Copy Blob from the source's URL). The
SDK is imported only when an Azure location is opened.
"""

from __future__ import annotations

import io
import os
import re
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any, BinaryIO
from urllib.parse import quote, unquote

from ...core.errors import CkptError, NotFound, NotRead, Refused, StoreError, Unreadable
from .base import (MAX_SIDE_FILE, Backend, BytesDone, DeepListingBackend, Entry, ErrorTable, Exists,
                   FileInfo, Kind, Missing)

WORKERS = 16  # parallel requests; the connection pool is sized to match
DELETE_BATCH = 256  # Blob Batch's limit of sub-requests
BATCH_REFUSED = (400, 403, 404, 405, 501)  # a whole batch answered so: one request per blob instead
# Seconds a batch's answer may take: Azurite answers one of 256 in 18 s on a busy machine, and
# answers batches one after another (a timeout would send the batch again, and again).
BATCH_READ_TIMEOUT = 600
MAX_RETRIES = 4
FIRST_GET = 1024 * 1024  # bytes a download asks for first: a header read needs no more
GET_CHUNK = 8 * 1024 * 1024
COPY_POLL = 0.2  # seconds between looks at a copy the service runs in the background
HOSTS = re.compile(r"^(?P<account>[a-z0-9]+)\.(?:blob|dfs)\.(?P<suffix>.+)$")
# What is tried, in order, to sign requests (named in the error when none works).
TRIED = ("AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN "
         "and DefaultAzureCredential (az login, managed identity, AZURE_CLIENT_ID...)")
USAGE = "az://container/prefix, abfs://container@ACCOUNT.dfs.core.windows.net/prefix " \
        "or https://ACCOUNT.blob.core.windows.net/container/prefix"


class Place:
    """Where a location is: account (None: from the environment), container, prefix, and
    how its URLs are written (as the user wrote the location)."""

    def __init__(self, url: str) -> None:
        scheme, _, rest = url.partition("://")
        self.account: str | None = None
        self.suffix = "core.windows.net"
        if scheme == "az":
            self.container, _, prefix = rest.partition("/")
            self.base = f"az://{self.container}/"
        elif scheme in ("abfs", "abfss"):
            where, _, prefix = rest.partition("/")
            self.container, _, host = where.partition("@")
            self._host(host, url)
            self.base = f"{scheme}://{where}/"
        elif scheme == "https":
            host, _, path = rest.partition("/")
            self._host(host, url)
            self.container, _, prefix = path.partition("/")
            self.base = f"https://{host}/{self.container}/"
        else:
            raise Refused(f"not an Azure location: {url!r} (expected {USAGE})")
        if not self.container:
            raise Refused(f"no container in {url!r} (expected {USAGE})")
        prefix = "/".join(part for part in prefix.split("/") if part)
        self.prefix = f"{prefix}/" if prefix else ""

    def _host(self, host: str, url: str) -> None:
        match = HOSTS.match(host)
        if match is None:
            raise Refused(f"{url!r} names no Azure storage account (expected {USAGE})")
        self.account, self.suffix = match["account"], match["suffix"]


def retry_policy() -> Any:
    """The SDK's retries (Azure's throttling answers 503 ServerBusy and 500 OperationTimedOut,
    dropped connections), and 429 Too Many Requests, which a gateway in front of the service
    may answer, retried alike."""
    from azure.storage.blob import ExponentialRetry

    class Retry(ExponentialRetry):
        def send(self, request: Any) -> Any:
            body = request.http_request.body
            start = body.tell() if hasattr(body, "seek") else None
            for count in range(self.total_retries):
                response = super().send(request)
                if response.http_response.status_code != 429 or (hasattr(body, "read") and start is None):
                    return response
                if start is not None:
                    body.seek(start)
                request.context.transport.sleep(self.get_backoff_time({"count": count}))
            return super().send(request)

    return Retry(initial_backoff=0.2, increment_base=2, retry_total=MAX_RETRIES, random_jitter_range=0.2,
                 retry_connect=2)


def _credentials(place: Place, endpoint_url: str | None) -> tuple[dict[str, Any], str]:
    """How to reach and sign in to the location's account: the client's arguments, and what
    was used (for errors)."""
    options: dict[str, Any] = {}
    connection = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
    if connection:
        named = re.search(r"(?:^|;)AccountName=([^;]+)", connection)
        if place.account is None or (named and named[1] == place.account):
            return {"conn_str": connection}, "AZURE_STORAGE_CONNECTION_STRING"
    account = place.account or os.environ.get("AZURE_STORAGE_ACCOUNT")
    if not account:
        raise StoreError(f"no Azure storage account for {place.base.rstrip('/')}: set "
                         "AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_ACCOUNT, or open "
                         "https://ACCOUNT.blob.core.windows.net/container/prefix")
    options["account_url"] = endpoint_url or f"https://{account}.blob.{place.suffix}"
    if key := os.environ.get("AZURE_STORAGE_KEY"):
        options["credential"] = {"account_name": account, "account_key": key}
        return options, f"AZURE_STORAGE_KEY for account {account}"
    if sas := os.environ.get("AZURE_STORAGE_SAS_TOKEN"):
        from azure.core.credentials import AzureSasCredential

        options["credential"] = AzureSasCredential(sas.lstrip("?"))
        return options, f"AZURE_STORAGE_SAS_TOKEN for account {account}"
    try:
        from azure.identity import DefaultAzureCredential
    except ImportError:
        raise StoreError(f"no Azure credentials for account {account}: none of AZURE_STORAGE_CONNECTION_STRING, "
                         "AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN is set, and DefaultAzureCredential "
                         "needs azure-identity (pip install 'ckpt-tui[azure]')") from None
    options["credential"] = _SignIn(DefaultAzureCredential(), account)
    return options, f"DefaultAzureCredential for account {account}"


class _SignIn:
    """DefaultAzureCredential that fails once, in one line naming what was tried: the SDK
    would retry a sign-in that cannot work, and log every attempt."""

    def __init__(self, credential: Any, account: str) -> None:
        self.credential, self.account = credential, account

    def get_token(self, *scopes: str, **options: Any) -> Any:
        from azure.core.exceptions import ClientAuthenticationError

        try:
            return self.credential.get_token(*scopes, **options)
        except ClientAuthenticationError as exc:
            raise StoreError(f"no Azure credentials for account {self.account}: tried {TRIED}; "
                             f"{_first_line(exc)}") from None


def make_client(place: Place, endpoint_url: str | None, retry: Any) -> tuple[Any, str]:
    """A container client configured for parallel work, and what signs its requests."""
    try:
        from azure.core.pipeline.transport import RequestsTransport
        from azure.storage.blob import ContainerClient
    except ImportError:
        raise StoreError("Azure locations need azure-storage-blob: pip install 'ckpt-tui[azure]'") from None
    import logging

    import requests

    logging.getLogger("azure").addHandler(logging.NullHandler())  # errors are reported, not logged
    options, signed_by = _credentials(place, endpoint_url)
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=WORKERS + 4)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    settings = dict(transport=RequestsTransport(session=session, connection_timeout=3, read_timeout=60),
                    retry_policy=retry, max_single_get_size=FIRST_GET, max_chunk_get_size=GET_CHUNK,
                    user_agent="ckpt-tui")
    try:
        if "conn_str" in options:
            client = ContainerClient.from_connection_string(options["conn_str"], place.container, **settings)
        else:
            client = ContainerClient(options["account_url"], place.container, credential=options.get("credential"),
                                     **settings)
    except ValueError as exc:  # a malformed connection string or account URL
        raise StoreError(f"cannot use {signed_by}: {exc}") from None
    return client, signed_by


class _Download(io.RawIOBase):
    """A blob read as it streams in (the SDK's downloader has no file interface)."""

    def __init__(self, downloader: Any) -> None:
        self.chunks = downloader.chunks()
        self.left = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self.left:
            self.left = next(self.chunks, b"")
            if not self.left:
                return 0
        count = min(len(buffer), len(self.left))
        buffer[:count] = self.left[:count]
        self.left = self.left[count:]
        return count


def _progress(done: BytesDone | None) -> Any:
    """The SDK's progress hook (bytes so far) as bytes just transferred."""
    if done is None:
        return None
    seen = [0]

    def hook(current: int, total: int | None) -> None:
        done(current - seen[0])
        seen[0] = current

    return hook


# -- errors: the SDK's, as the project's ------------------------------------------------------
def _describe(exc: BaseException) -> tuple[tuple[str | int, ...], str]:
    """The service's error code and the HTTP status, and "code: first line of the message"."""
    code = getattr(exc, "error_code", None)
    code = str(getattr(code, "value", code) or "")
    status = getattr(exc, "status_code", None)
    return tuple(c for c in (code, status) if c), f"{code or status}: {_first_line(exc)}".lstrip(": ")


def _no_container(backend: AzureBackend, what: str, detail: str) -> CkptError:
    return NotFound(f"no container {backend.bucket!r} at {backend.account_url}")


def _denied(backend: AzureBackend, what: str, detail: str) -> CkptError:
    return Unreadable(f"access denied: {what} ({detail.partition(':')[0]}; signed with {backend.signed_by})")


def _not_signed_in(backend: AzureBackend, what: str, detail: str) -> CkptError:
    return StoreError(f"cannot sign in to {backend.account_url} with {backend.signed_by}: {detail}")


def _unreachable(backend: AzureBackend, what: str, detail: str) -> CkptError:
    return StoreError(f"cannot reach Azure storage at {backend.account_url} "
                      "(check the location, --endpoint-url and the network)")


def _no_answer(backend: AzureBackend, what: str, detail: str) -> CkptError:
    return StoreError(f"{what}: no answer from Azure storage at {backend.account_url} (the connection was lost)")


AZURE_ERRORS = ErrorTable(
    catches=("AzureError",),
    codes={
        "ContainerNotFound": _no_container,
        **dict.fromkeys(("BlobNotFound", 404), Missing),
        **dict.fromkeys(("BlobAlreadyExists", "ConditionNotMet", 412), Exists),
        **dict.fromkeys(("AuthenticationFailed", "InvalidAuthenticationInfo", 401), _not_signed_in),
        403: _denied,
    },
    exceptions={"ClientAuthenticationError": _not_signed_in, "ServiceRequestError": _unreachable,
                "ServiceResponseError": _no_answer},
    describe=_describe,
)


class AzureBackend(DeepListingBackend):
    scheme = "az"
    parallelism = WORKERS
    can_copy_server_side = True
    has_exclusive_create = True
    error_table = AZURE_ERRORS

    def __init__(self, url: str, *, endpoint_url: str | None = None, twin: AzureBackend | None = None) -> None:
        self.place = place = Place(url)
        super().__init__(place.container, place.prefix)
        if twin is None:
            self.retry = retry_policy()  # its waits are attributes: initial_backoff, increment_base
            self.client, self.signed_by = make_client(place, endpoint_url, self.retry)
        else:
            self.retry, self.client, self.signed_by = twin.retry, twin.client, twin.signed_by
        self.account_url: str = self.client.url.rpartition("/")[0]
        self.listing_page_size = 5000  # the service's largest

    def url(self, path: str, folder: bool = False) -> str:
        """Written as the location was (``az://``, ``abfs://``, ``https://``)."""
        return self.place.base + self.key(path) + ("/" if folder and path else "")

    def parent(self) -> AzureBackend:
        return AzureBackend(self.place.base + self.prefix_above(), twin=self)

    def check_root(self) -> None:
        """Fail early, with one line, on a missing container or bad credentials."""
        with self.errors(f"cannot list {self.url('', True)}"):
            next(self._listed(self.prefix, delimiter=False, most=1), None)

    # -- reading --------------------------------------------------------------------------
    def _listed(self, prefix: str, delimiter: bool, most: int = 0) -> Iterator[tuple[str, FileInfo | None]]:
        """(name, its file info) for every blob whose name begins with ``prefix``, and (name,
        None) for every folder one level down when ``delimiter``. List Blobs pages are read
        with ElementTree: the SDK's deserializer takes 1.5 ms a blob, three times Azurite's
        time to answer a listing of 3,000 (this reads what the SDK's ``list_blobs`` returns,
        name, size, time and ETag, through its pipeline: signing, retries)."""
        from xml.etree import ElementTree

        from azure.core.rest import HttpRequest

        params = {"restype": "container", "comp": "list", "prefix": prefix,
                  "maxresults": str(most or self.listing_page_size)}
        if delimiter:
            params["delimiter"] = "/"
        while True:
            query = "&".join(f"{key}={quote(value, safe='')}" for key, value in params.items())
            response = self.client._client._send_request(HttpRequest("GET", f"{self.client.url}?{query}"))
            if response.status_code != 200:
                _raise_for(response)
            page = ElementTree.fromstring(response.read())
            for item in page.iterfind("Blobs/*"):
                name = _name(item.find("Name"))
                if item.tag == "BlobPrefix":
                    yield name, None
                else:
                    fields = item.find("Properties")
                    yield name, FileInfo(name, int(fields.findtext("Content-Length") or 0),
                                         _http_time(fields.findtext("Last-Modified")), fields.findtext("Etag") or "")
            params["marker"] = page.findtext("NextMarker") or ""
            if most or not params["marker"]:
                return

    def list_dir(self, path: str) -> list[Entry]:
        prefix = self.folder_key(path)
        entries: dict[str, Entry] = {}
        with self.errors(f"cannot list {self.url(path, True)}"):
            for name, info in self._listed(prefix, delimiter=True):
                name = name[len(prefix):]
                if info is None:
                    entries[name.rstrip("/")] = Entry(name.rstrip("/"), Kind.DIR)
                elif name and name not in entries:  # a prefix and a blob of one name: the folder wins
                    entries[name] = Entry(name, Kind.FILE, info.size, info.mtime, info.tag)
        return [entry for name, entry in entries.items() if name]

    def walk(self, path: str) -> Iterator[FileInfo]:
        prefix = self.folder_key(path)
        found = False
        with self.errors(f"cannot list {self.url(path, True)}"):
            for name, info in self._listed(prefix, delimiter=False):
                rel = name[len(prefix):]
                if info is not None and rel and not rel.endswith("/"):
                    found = True
                    yield info._replace(path=rel)
        if not found and path:
            try:
                with self.errors(f"cannot read {self.url(path)}"):
                    single = self.client.get_blob_client(self.key(path)).get_blob_properties()
            except Missing:
                return
            yield FileInfo("", single.size, single.last_modified.timestamp(), single.etag.strip('"'))

    def _download(self, path: str) -> Any:
        """The blob's downloader (its first range read); ``Missing`` when there is no such blob."""
        with self.errors(f"cannot read {self.url(path)}"):
            return self.client.download_blob(self.key(path))

    def read_file(self, path: str, limit: int = MAX_SIDE_FILE) -> bytes | None:
        """The blob's size is checked before the rest of it is read."""
        try:
            downloader = self._download(path)
        except Missing:
            return None
        if downloader.size > limit:
            raise NotRead(f"{self.url(path)} is larger than {limit:,} bytes; not read")
        with self.errors(f"cannot read {self.url(path)}"):
            return downloader.readall()

    def open(self, path: str) -> BinaryIO:
        return io.BufferedReader(_Download(self._download(path)))  # type: ignore[return-value]

    # -- writing --------------------------------------------------------------------------
    def create_new(self, path: str, data: bytes) -> bool:
        try:
            with self.errors(f"cannot write {self.url(path)}"):
                self.client.upload_blob(self.key(path), data, overwrite=False)  # If-None-Match: *
        except Exists:
            return False
        return True

    def write(self, path: str, data: bytes) -> None:
        with self.errors(f"cannot write {self.url(path)}"):
            self.client.upload_blob(self.key(path), data, overwrite=True)

    def _delete_one(self, name: str) -> str:
        """Delete one blob: "" when gone (or never there), else why not."""
        try:
            with self.errors(f"cannot delete {self.place.base}{name}"):
                self.client.delete_blob(name)
        except Missing:
            pass
        except StoreError as exc:
            return str(exc)
        return ""

    def _delete_batch(self, names: list[str]) -> dict[str, tuple[str, bool]]:
        """Delete up to 256 blobs in one Blob Batch request; one by one where the batch is
        refused (an account or emulator without it). A blob already gone counts as deleted.
        {name: (why, whether another try may do better)} for the blobs that failed."""
        from azure.core.exceptions import HttpResponseError

        try:
            with self.errors(f"cannot delete from {self.place.base}"):
                try:
                    answers = list(self.client.delete_blobs(*names, raise_on_any_failure=False,
                                                            read_timeout=BATCH_READ_TIMEOUT))
                except HttpResponseError as exc:
                    if exc.status_code not in BATCH_REFUSED:
                        raise
                    answers = None  # no batch here: one request per blob
        except StoreError as exc:  # the SDK has retried already
            return dict.fromkeys(names, (str(exc), False))
        if answers is None:
            return {name: (why, False) for name, why in zip(names, self.map(self._delete_one, names)) if why}
        return {name: (f"{answer.headers.get('x-ms-error-code') or answer.status_code}: {answer.reason}",
                       answer.status_code == 429 or answer.status_code >= 500)
                for name, answer in zip(names, answers) if answer.status_code not in (200, 202, 404)}

    def delete_files(self, paths: list[str]) -> dict[str, str]:
        return self.delete_in_batches(paths, DELETE_BATCH, self._delete_batch)

    # -- transfers ------------------------------------------------------------------------
    def copy_file(self, source: str, target: str, done: BytesDone | None = None) -> None:
        self.copy_from(self, source, target, done)

    def can_copy_from(self, other: Backend) -> bool:
        """Server-side within one account signed the same way: the copy reads the source
        with the destination's credentials."""
        return (isinstance(other, AzureBackend) and other.account_url == self.account_url
                and other.signed_by == self.signed_by)

    def copy_from(self, other: Backend, source: str, target: str, done: BytesDone | None = None) -> None:
        if not self.can_copy_from(other):
            super().copy_from(other, source, target, done)
            return
        assert isinstance(other, AzureBackend)
        blob = self.client.get_blob_client(self.key(target))
        with self.errors(f"cannot copy {other.url(source)}"):
            status = blob.start_copy_from_url(other.client.get_blob_client(other.key(source)).url)["copy_status"]
            properties = None
            while status == "pending":  # large blobs are copied in the background
                time.sleep(COPY_POLL)
                properties = blob.get_blob_properties()
                status = properties.copy.status
            if status != "success":
                raise StoreError(f"cannot copy {other.url(source)}: the copy ended {status}")
            if done is not None:
                done((properties or blob.get_blob_properties()).size)

    def get_file(self, source: str, local_target: str, done: BytesDone | None = None) -> None:
        """Ranges of the blob downloaded side by side."""
        with self.errors(f"cannot download {self.url(source)}"), open(local_target, "wb") as out:
            self.client.download_blob(self.key(source), max_concurrency=4,
                                      progress_hook=_progress(done)).readinto(out)

    def put_stream(self, stream: BinaryIO, target: str, done: BytesDone | None = None) -> None:
        """Blocks of the stream uploaded side by side (a file's too: ``put_file``)."""
        with self.errors(f"cannot upload to {self.url(target)}"):
            self.client.upload_blob(self.key(target), stream, overwrite=True, max_concurrency=4,
                                    progress_hook=_progress(done))


def _name(node: Any) -> str:
    """A blob's name in a listing: percent-encoded where it holds characters XML cannot."""
    text = node.text or ""
    return unquote(text) if node.get("Encoded") == "true" else text


@lru_cache(maxsize=4096)  # a listing's blobs share few seconds: parsing is most of a blob's cost
def _http_time(value: str | None) -> float:
    """``Fri, 04 Dec 2026 18:11:45 GMT`` as seconds since the epoch."""
    return parsedate_to_datetime(value).timestamp() if value else 0.0  # whatever the locale


def _raise_for(response: Any) -> None:
    """An error answer raised as the SDK raises one, for the error table."""
    from azure.core.exceptions import HttpResponseError

    code = response.headers.get("x-ms-error-code")
    error = HttpResponseError(message=code or response.reason, response=response)
    error.error_code = code
    raise error


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
