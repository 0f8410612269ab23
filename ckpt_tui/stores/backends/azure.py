"""An Azure Blob container and prefix: reads over the Blob REST API directly, writes through
the official client (azure-storage-blob).

Listings are List Blobs pages (with ``/`` as delimiter for one level); they and reads
are GETs over a pool of connections (``http.py``), signed with the account key (Shared Key), a SAS or a
token of ``DefaultAzureCredential``, as the SDK signs them: the SDK's import costs
0.36-0.6 s of CPU, which a command that only reads never pays. Claims are created
with ``If-None-Match: *``; deletions go in Blob Batch requests of at most 256 blobs,
one by one where a batch is refused; copies within an account are server-side (Copy
Blob from the source's URL). The SDK is imported only when an Azure location is written to.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import os
import re
import threading
import time
from collections.abc import Iterator
from email.utils import formatdate, parsedate_to_datetime
from functools import lru_cache
from typing import Any, BinaryIO
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from ...core.errors import CkptError, NotFound, NotRead, Refused, StoreError, Unreadable
from .base import (MAX_SIDE_FILE, Backend, BytesDone, DeepListingBackend, Entry, ErrorTable, Exists,
                   FileInfo, FlatListing, Kind, Missing)
from . import http
from .http import Backoff, RangedReader, ResponseError, content_range_total, pool_for, send

WORKERS = 16  # parallel requests; the connection pool is sized to match
DELETE_BATCH = 256  # Blob Batch's limit of sub-requests
BATCH_REFUSED = (400, 403, 404, 405, 501)  # a whole batch answered so: one request per blob instead
# Seconds a batch's answer may take: Azurite answers one of 256 in 18 s on a busy machine, and
# answers batches one after another (a timeout would send the batch again, and again).
BATCH_READ_TIMEOUT = 600
MAX_RETRIES = 4
BACKOFF = Backoff(initial=0.2, multiplier=2.0, maximum=8.0, seconds=None, tries=MAX_RETRIES + 1)
API_VERSION = "2021-08-06"  # of the REST API the reads speak (Azurite 3 and the service know it)
TOKEN_SCOPE = "https://storage.azure.com/.default"
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


def retry_policy(backoff: Backoff) -> Any:
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

    return Retry(initial_backoff=backoff.initial, increment_base=backoff.multiplier,
                 retry_total=(backoff.tries or MAX_RETRIES + 1) - 1, random_jitter_range=backoff.initial,
                 retry_connect=2)


def _credentials(place: Place, endpoint_url: str | None) -> tuple[dict[str, Any], str]:
    """How to reach and sign in to the location's account: the client's arguments (``account_url``
    and ``credential``: a key as {account_name, account_key}, a SAS, a token credential), and
    what was used (for errors)."""
    connection = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
    if connection:
        named = re.search(r"(?:^|;)AccountName=([^;]+)", connection)
        if place.account is None or (named and named[1] == place.account):
            return _connection_string(connection), "AZURE_STORAGE_CONNECTION_STRING"
    account = place.account or os.environ.get("AZURE_STORAGE_ACCOUNT")
    if not account:
        raise StoreError(f"no Azure storage account for {place.base.rstrip('/')}: set "
                         "AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_ACCOUNT, or open "
                         "https://ACCOUNT.blob.core.windows.net/container/prefix")
    options: dict[str, Any] = {"account_url": (endpoint_url or f"https://{account}.blob.{place.suffix}").rstrip("/")}
    if key := os.environ.get("AZURE_STORAGE_KEY"):
        options["credential"] = {"account_name": account, "account_key": key}
        return options, f"AZURE_STORAGE_KEY for account {account}"
    if sas := os.environ.get("AZURE_STORAGE_SAS_TOKEN"):
        options["credential"] = sas.lstrip("?")
        return options, f"AZURE_STORAGE_SAS_TOKEN for account {account}"
    try:
        from azure.identity import DefaultAzureCredential
    except ImportError:
        raise StoreError(f"no Azure credentials for account {account}: none of AZURE_STORAGE_CONNECTION_STRING, "
                         "AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN is set, and DefaultAzureCredential "
                         "needs azure-identity (pip install 'ckpt-tui[azure]')") from None
    options["credential"] = _SignIn(DefaultAzureCredential(), account)
    return options, f"DefaultAzureCredential for account {account}"


def _connection_string(text: str) -> dict[str, Any]:
    """A connection string's blob endpoint and credential (its account key, else its SAS), read
    as the SDK reads one."""
    try:
        settings = {key.upper(): value for key, _, value in
                    (part.partition("=") for part in text.rstrip(";").split(";") if part)}
        endpoint = settings.get("BLOBENDPOINT") or (f"{settings['DEFAULTENDPOINTSPROTOCOL']}://"
                                                    f"{settings['ACCOUNTNAME']}.blob.{settings['ENDPOINTSUFFIX']}")
        if "ACCOUNTNAME" in settings and "ACCOUNTKEY" in settings:
            credential: Any = {"account_name": settings["ACCOUNTNAME"], "account_key": settings["ACCOUNTKEY"]}
        else:
            credential = settings.get("SHAREDACCESSSIGNATURE", "").lstrip("?") or None
    except KeyError:
        raise StoreError("cannot use AZURE_STORAGE_CONNECTION_STRING: Connection string missing required "
                         "connection details.") from None
    return {"account_url": endpoint.rstrip("/"), "credential": credential}


def _signer(credential: Any) -> Any:
    """``sign(method, url, headers)``: the URL to send (a SAS is part of it), headers signed."""
    if isinstance(credential, dict):
        return _SharedKey(credential["account_name"], credential["account_key"])
    if isinstance(credential, str):
        return lambda method, url, headers: f"{url}{'&' if '?' in url else '?'}{credential}"
    if credential is None:
        return lambda method, url, headers: url
    return _Bearer(credential)


class _SharedKey:
    """Requests signed with the account key (Shared Key), as the SDK signs them."""

    # Standard headers in the signature, in order (the SDK sends ranges as x-ms-range).
    HEADERS = ("content-encoding", "content-language", "content-length", "content-md5", "content-type", "date",
               "if-modified-since", "if-match", "if-none-match", "if-unmodified-since", "range")

    def __init__(self, account: str, key: str) -> None:
        self.account = account
        try:
            self.key = base64.b64decode(key, validate=True)
        except ValueError:
            raise StoreError(f"cannot use the key of account {account}: not base64") from None

    def __call__(self, method: str, url: str, headers: dict[str, str]) -> str:
        headers["x-ms-date"] = formatdate(usegmt=True)
        where = urlsplit(url)
        named = {k.lower(): v for k, v in headers.items()}
        signed = "".join([
            method + "\n",
            *(named.get(h, "") + "\n" for h in self.HEADERS),
            *(f"{k}:{v}\n" for k, v in sorted(named.items()) if k.startswith("x-ms-")),
            f"/{self.account}{where.path}",
            *(f"\n{k.lower()}:{v}" for k, v in sorted(parse_qsl(where.query, keep_blank_values=True))),
        ])
        signature = base64.b64encode(hmac.new(self.key, signed.encode(), hashlib.sha256).digest()).decode()
        headers["Authorization"] = f"SharedKey {self.account}:{signature}"
        return url


class _Bearer:
    """Requests signed with a token of a token credential, renewed five minutes before it ends."""

    def __init__(self, credential: Any) -> None:
        self.credential, self.token, self.lock = credential, None, threading.Lock()

    def __call__(self, method: str, url: str, headers: dict[str, str]) -> str:
        with self.lock:
            if self.token is None or self.token.expires_on - 300 < time.time():
                self.token = self.credential.get_token(TOKEN_SCOPE)
            headers["Authorization"] = f"Bearer {self.token.token}"
        return url


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


class Connection(http.Connection):
    """An account's endpoint and what signs its requests, shared by the backends of a location:
    a pool of connections for listings and reads, the official client (with the retries of
    ``backoff``) for writes."""

    def __init__(self, place: Place, endpoint_url: str | None) -> None:
        super().__init__()
        self.place = place
        self.options, self.signed_by = _credentials(place, endpoint_url)
        self.account_url: str = self.options["account_url"]
        self.container_url = f"{self.account_url}/{quote(place.container, safe='')}"
        self.sign = _signer(self.options["credential"])
        self.http = pool_for(self.account_url, WORKERS + 4)
        self.backoff = BACKOFF

    def make_client(self) -> Any:
        return make_client(self.options, self.place.container, retry_policy(self.backoff))

    def get(self, url: str, headers: dict[str, str] | None = None, method: str = "GET") -> Any:
        """A signed request, retried as ``backoff`` says; its answer read whole."""
        def once() -> Any:
            signed = {"x-ms-version": API_VERSION, **(headers or {})}
            return send(self.http, method, self.sign(method, url, signed), signed, _response_error)

        return self.backoff.call(once)


def make_client(options: dict[str, Any], container: str, retry: Any) -> Any:
    """A container client configured for parallel work."""
    try:
        from azure.core.pipeline.transport import RequestsTransport
        from azure.storage.blob import ContainerClient
    except ImportError:
        raise StoreError("Azure locations need azure-storage-blob: pip install 'ckpt-tui[azure]'") from None
    import logging

    import requests

    logging.getLogger("azure").addHandler(logging.NullHandler())  # errors are reported, not logged
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=WORKERS + 4)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    credential = options["credential"]
    if isinstance(credential, str):
        from azure.core.credentials import AzureSasCredential

        credential = AzureSasCredential(credential)
    return ContainerClient(options["account_url"], container, credential=credential,
                           transport=RequestsTransport(session=session, connection_timeout=3, read_timeout=60),
                           retry_policy=retry, max_single_get_size=FIRST_GET, max_chunk_get_size=GET_CHUNK,
                           user_agent="ckpt-tui")


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
    catches=("AzureError", "ResponseError", "HTTPError"),  # HTTPError: the pool's
    codes={
        "ContainerNotFound": _no_container,
        **dict.fromkeys(("BlobNotFound", 404), Missing),
        **dict.fromkeys(("BlobAlreadyExists", "ConditionNotMet", 412), Exists),
        **dict.fromkeys(("AuthenticationFailed", "InvalidAuthenticationInfo", 401), _not_signed_in),
        403: _denied,
    },
    exceptions={"ClientAuthenticationError": _not_signed_in, "ServiceRequestError": _unreachable,
                "ServiceResponseError": _no_answer, "NewConnectionError": _unreachable,
                "ConnectTimeoutError": _unreachable, "ProtocolError": _no_answer, "ReadTimeoutError": _no_answer},
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
        self.connection = twin.connection if twin is not None else Connection(place, endpoint_url)
        self.signed_by, self.account_url = self.connection.signed_by, self.connection.account_url
        self.listing_page_size = 5000  # the service's largest

    @property
    def client(self) -> Any:
        """The official client, for writes (imported on the first)."""
        return self.connection.client

    def _blob_url(self, path: str) -> str:
        return f"{self.connection.container_url}/{quote(self.key(path), safe='/~')}"

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
        None) for every folder one level down when ``delimiter``; only the first page (of at
        most ``most``) when ``most``."""
        marker = ""
        while True:
            items, marker = self._listed_page(prefix, delimiter, most or self.listing_page_size, marker)
            yield from items
            if most or not marker:
                return

    def _listed_page(self, prefix: str, delimiter: bool, most: int,
                     marker: str = "") -> tuple[list[tuple[str, FileInfo | None]], str]:
        """One page of ``_listed`` from ``marker`` on, and the marker of the next ("" after the last).
        List Blobs pages are read with ElementTree: the SDK's deserializer takes 1.5 ms a blob,
        three times Azurite's time to answer a listing of 3,000 (this reads what the SDK's
        ``list_blobs`` returns, name, size, time and ETag, through its pipeline: signing, retries)."""
        from xml.etree import ElementTree

        params = {"restype": "container", "comp": "list", "prefix": prefix, "maxresults": str(most)}
        if delimiter:
            params["delimiter"] = "/"
        if marker:
            params["marker"] = marker
        query = "&".join(f"{key}={quote(value, safe='')}" for key, value in params.items())
        page = ElementTree.fromstring(self.connection.get(f"{self.connection.container_url}?{query}").data)
        items: list[tuple[str, FileInfo | None]] = []
        for item in page.iterfind("Blobs/*"):
            name = _name(item.find("Name"))
            if item.tag == "BlobPrefix":
                items.append((name, None))
            else:
                fields = item.find("Properties")
                items.append((name, FileInfo(name, int(fields.findtext("Content-Length") or 0),
                                             _http_time(fields.findtext("Last-Modified")),
                                             fields.findtext("Etag") or "")))
        return items, page.findtext("NextMarker") or ""

    def flat_page(self, path: str, most: int) -> FlatListing:
        prefix = self.folder_key(path)
        with self.errors(f"cannot list {self.url(path, True)}"):
            items, marker = self._listed_page(prefix, False, min(most, self.listing_page_size))
        return FlatListing([info._replace(path=rel) for name, info in items
                            if info is not None and (rel := name[len(prefix):])], whole=not marker)

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
                    headers = self.connection.get(self._blob_url(path), method="HEAD").headers
            except Missing:
                return
            yield FileInfo("", int(headers.get("Content-Length") or 0), _http_time(headers.get("Last-Modified")),
                           (headers.get("ETag") or "").strip('"'))

    def _range(self, path: str, start: int, end: int, etag: str = "") -> tuple[bytes, int, str]:
        """Bytes ``start`` to ``end`` (included) of a blob in one request, its whole size and its
        ETag; ``etag``: that version only (412 once it has changed)."""
        headers = {"x-ms-range": f"bytes={start}-{end}", **({"If-Match": etag} if etag else {})}
        response = self.connection.get(self._blob_url(path), headers)
        if response.status == 416:  # an empty blob has no byte 0
            return b"", 0, etag
        return response.data, content_range_total(response), response.headers.get("ETag", "")

    def read_file(self, path: str, limit: int = MAX_SIDE_FILE) -> bytes | None:
        """One request: the first ``limit + 1`` bytes tell whether the blob is larger than ``limit``."""
        try:
            with self.errors(f"cannot read {self.url(path)}"):
                data = self._range(path, 0, limit)[0]
        except Missing:
            return None
        if len(data) > limit:
            raise NotRead(f"{self.url(path)} is larger than {limit:,} bytes; not read")
        return data

    def open(self, path: str) -> BinaryIO:
        """The first ``FIRST_GET`` bytes in one request (a small blob whole), the rest as read, of
        the version read first: a stream never mixes two versions of a blob."""
        what = f"cannot read {self.url(path)}"
        with self.errors(what):
            first, total, etag = self._range(path, 0, FIRST_GET - 1)

        def fetch(start: int, end: int) -> bytes:
            with self.errors(what):
                return self._range(path, start, end, etag)[0]

        return io.BufferedReader(RangedReader(first, total, fetch, GET_CHUNK))  # type: ignore[return-value]

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
        from azure.core.exceptions import HttpResponseError, ServiceResponseError

        what = f"cannot delete from {self.place.base}"
        try:
            with self.errors(what):
                try:
                    answers = list(self.client.delete_blobs(*names, raise_on_any_failure=False,
                                                            read_timeout=BATCH_READ_TIMEOUT))
                except HttpResponseError as exc:
                    if exc.status_code not in BATCH_REFUSED:
                        raise
                    answers = None  # no batch here: one request per blob
                except ServiceResponseError as exc:
                    # The connection was lost before the answer (the SDK sends a batch once: it is
                    # a POST); deleting the same blobs again is harmless, and worth another try.
                    return dict.fromkeys(names, (str(AZURE_ERRORS.translate(exc, what, self)), True))
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


def _response_error(response: Any) -> ResponseError:
    return ResponseError(response.status, response.headers.get("x-ms-error-code") or "", response.reason or "")


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
