"""Requests sent straight over a pool of connections, for the read path of the cloud backends.

Listing and reading need a signed GET and its answer, nothing more: sent this way they
cost a fraction of what the official SDKs cost to import (0.4-0.8 s of CPU a command) and
to call. The SDKs stay for what writes. What is here is what the backends share: the pool
(keep-alive connections over the standard library's ``http.client``; urllib3's, whose import
alone costs a command 15-30 ms of CPU, only through a proxy or for google-auth's signing;
proxies and CA bundle as ``requests`` takes them from the environment), retries with
exponential backoff, error answers raised as one exception, and a stream read by ranges.
"""

from __future__ import annotations

import http.client
import io
import os
import random
import select
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

# Statuses worth another try: throttling, timeouts, a server's passing trouble.
TRANSIENT = frozenset({408, 429, 500, 502, 503, 504})
REQUEST_SECONDS = 60.0  # how long one request may take


class HTTPError(Exception):
    """A request that got no answer (urllib3's names, which the error tables know)."""


class ConnectTimeoutError(HTTPError):
    """The server did not take the connection in time."""


class NewConnectionError(ConnectTimeoutError):
    """The server could not be reached (refused, no route, no such host, TLS refused)."""


class ReadTimeoutError(HTTPError):
    """The server took the request but did not answer in time."""


class ProtocolError(HTTPError):
    """The connection broke before the whole answer came."""


class ResponseError(Exception):
    """An error answer: its HTTP status, the service's error code, and its message."""

    def __init__(self, status: int, error_code: str = "", message: str = "") -> None:
        super().__init__(f"{status}: {message or error_code}".rstrip(": "))
        self.status_code = self.code = status
        self.error_code, self.message = error_code, message or error_code


@dataclass(frozen=True)
class Backoff:
    """When to try a request again: waits from ``initial`` seconds, ``multiplier`` times longer
    each time up to ``maximum``, for at most ``seconds`` in all and ``tries`` tries (None: no limit)."""

    initial: float = 0.2
    multiplier: float = 2.0
    maximum: float = 8.0
    seconds: float | None = 60.0
    tries: int | None = None
    codes: frozenset[str] = frozenset()  # error codes worth another try whatever their status (S3's 400 RequestTimeout)

    def within(self, seconds: float) -> Backoff:
        return replace(self, seconds=seconds if self.seconds is None else min(seconds, self.seconds))

    def call(self, send: Callable[[], Any]) -> Any:
        """``send()``, again after a wait while it fails in a way worth another try."""
        start, wait, tries = time.monotonic(), self.initial, 0
        while True:
            try:
                return send()
            except _retried() as exc:
                tries += 1
                if (isinstance(exc, ResponseError) and exc.status_code not in TRANSIENT
                        and exc.error_code not in self.codes):
                    raise
                pause = random.uniform(0, wait)  # full jitter, as google-api-core
                if (self.tries is not None and tries >= self.tries) or (
                        self.seconds is not None and time.monotonic() - start + pause > self.seconds):
                    raise
            time.sleep(pause)
            wait = min(wait * self.multiplier, self.maximum)


class Connection:
    """Where a location's requests go and what signs them; the official client, for what
    writes, is made on its first use (its import costs more than a command that reads)."""

    def __init__(self) -> None:
        self._client: Any = None
        self._lock = threading.Lock()

    def make_client(self) -> Any:
        raise NotImplementedError

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self.make_client()
            return self._client


def _retried() -> tuple[type[BaseException], ...]:
    """What a request worth another try raises: an error answer (its status tells), no answer
    from the pool here, or from urllib3's where it is in use."""
    urllib3 = sys.modules.get("urllib3.exceptions")
    return (ResponseError, ProtocolError, ConnectTimeoutError, ReadTimeoutError,
            *((urllib3.ProtocolError, urllib3.TimeoutError) if urllib3 else ()))


def pool_for(endpoint: str, size: int, urllib3_pool: bool = False, ca_bundle: str | None = None) -> Any:
    """A pool of ``size`` connections for ``endpoint``, through the proxy the environment names for
    it (``HTTPS_PROXY``, ``ALL_PROXY``, unless ``NO_PROXY`` names the host) and trusting
    ``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE`` where set, as ``requests`` would. urllib3's
    through a proxy or when ``urllib3_pool`` (what google-auth signs), else a ``Pool``. ``ca_bundle``:
    the certificates to trust instead (botocore's ``AWS_CA_BUNDLE``)."""
    where = urlsplit(endpoint)
    bundle = None
    if where.scheme == "https":
        bundle = ca_bundle or os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if not bundle:
            import certifi

            bundle = certifi.where()
    proxy = _proxy(where.scheme, where.hostname or "")
    if not (proxy or urllib3_pool):
        return Pool(size, bundle)
    import urllib3

    options: dict[str, Any] = {"maxsize": size}
    if bundle:
        options.update(cert_reqs="CERT_REQUIRED", ca_certs=bundle)
    return urllib3.ProxyManager(proxy, **options) if proxy else urllib3.PoolManager(**options)


def _proxy(scheme: str, host: str) -> str | None:
    """The proxy for ``scheme`` to ``host`` that the environment names (and on macOS and
    Windows the system's settings), as urllib reads them; urllib.request is not imported
    (10 ms of a command) where no ``*_proxy`` variable is set and the system has no settings."""
    if sys.platform not in ("darwin", "win32") and not any(name.lower().endswith("_proxy") for name in os.environ):
        return None
    from urllib.request import getproxies, proxy_bypass

    proxies = {} if proxy_bypass(host) else getproxies()
    return proxies.get(scheme) or proxies.get("all")


class Answer:
    """An answer read whole: its status and reason, headers (looked up whatever their case) and body."""

    __slots__ = ("status", "reason", "headers", "data")

    def __init__(self, status: int, reason: str, headers: Any, data: bytes) -> None:
        self.status, self.reason, self.headers, self.data = status, reason, headers, data


class Pool:
    """Keep-alive HTTP/1.1 connections straight to the servers asked (no proxy), at most ``size``
    kept idle for each, reused last in first out, safe to share between threads: what urllib3's
    pool does for a request whose answer is read whole, on the ``http.client`` it builds on.
    ``ca_file``: the certificates an HTTPS server's is checked against."""

    def __init__(self, size: int, ca_file: str | None = None) -> None:
        self.size, self.ca_file = size, ca_file
        self._idle: dict[tuple[str, str, int], list[Any]] = {}
        self._lock = threading.Lock()
        self._tls: Any = None

    def urlopen(self, method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None,
                timeout: float = REQUEST_SECONDS, **_options: Any) -> Answer:
        """One request and its whole answer; ``HTTPError`` when none comes."""
        where = urlsplit(url)
        https = where.scheme == "https"
        server = (where.scheme, where.hostname or "", where.port or (443 if https else 80))
        connection = self._kept(server)
        if connection is None:
            connection = self._connect(server, timeout)
        else:
            connection.timeout = timeout
            if connection.sock is not None:
                connection.sock.settimeout(timeout)
        try:
            connection.request(method, where.path + (f"?{where.query}" if where.query else ""), body=body,
                               headers=headers or {})
            response = connection.getresponse()
            answer = Answer(response.status, response.reason, response.headers, response.read())
        except TimeoutError as exc:
            connection.close()
            raise ReadTimeoutError(f"{where.netloc}: no answer in {timeout:g} s") from exc
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise ProtocolError(f"{where.netloc}: the connection broke ({exc or type(exc).__name__})") from exc
        if response.will_close:
            connection.close()
        else:
            self._keep(server, connection)
        return answer

    def _connect(self, server: tuple[str, str, int], timeout: float) -> Any:
        scheme, host, port = server
        if scheme == "https":
            connection: Any = http.client.HTTPSConnection(host, port, timeout=timeout, context=self._context())
        else:
            connection = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            connection.connect()
        except TimeoutError as exc:
            raise ConnectTimeoutError(f"{host}:{port}: no connection in {timeout:g} s") from exc
        except OSError as exc:
            raise NewConnectionError(f"{host}:{port}: cannot connect ({exc})") from exc
        return connection

    def _context(self) -> Any:
        import ssl

        with self._lock:
            if self._tls is None:
                self._tls = ssl.create_default_context(cafile=self.ca_file)
            return self._tls

    def _kept(self, server: tuple[str, str, int]) -> Any:
        """An idle connection to ``server`` the server has not closed meanwhile, or None."""
        while True:
            with self._lock:
                idle = self._idle.get(server)
                connection = idle.pop() if idle else None
            if connection is None:
                return None
            # A kept connection that is readable before a request is sent was closed by the server.
            if connection.sock is not None and not _readable(connection.sock):
                return connection
            connection.close()

    def _keep(self, server: tuple[str, str, int], connection: Any) -> None:
        with self._lock:
            idle = self._idle.setdefault(server, [])
            if len(idle) < self.size:
                idle.append(connection)
                return
        connection.close()


def _readable(sock: Any) -> bool:
    """Whether ``sock`` has something to read (or was closed) now; poll where there is one, as
    select() refuses a descriptor above 1023, which a process with many files open reaches."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([sock], [], [], 0)[0])


def send(http: Any, method: str, url: str, headers: dict[str, str] | None,
         error: Callable[[Any], ResponseError], body: bytes | None = None) -> Any:
    """One request; its answer, read whole, or ``error(answer)`` raised for an error answer.
    416 (a range of an empty file) is no error. urllib3's own retries are off: ``Backoff`` retries."""
    response = http.urlopen(method, url, body=body, headers=headers, timeout=REQUEST_SECONDS, retries=False)
    if response.status >= 300 and response.status != 416:
        raise error(response)
    return response


def content_range_total(response: Any) -> int:
    """The object's whole size, from a ranged answer's ``Content-Range`` (``bytes 0-9/1234``)."""
    if response.status == 416:
        return 0
    total = (response.headers.get("Content-Range") or "").rpartition("/")[2]
    return int(total) if total.isdigit() else len(response.data)


class RangedReader(io.RawIOBase):
    """A file read by ranges as it streams in: ``fetch(start, end)`` returns the bytes from
    ``start`` to ``end`` (included); ``first`` is what the opening request already read."""

    def __init__(self, first: bytes, total: int, fetch: Callable[[int, int], bytes], chunk: int) -> None:
        self.data, self.offset, self.position = first, 0, len(first)
        self.total, self.fetch, self.chunk = total, fetch, chunk

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.offset == len(self.data):
            if self.position >= self.total:
                return 0
            self.data, self.offset = self.fetch(self.position, min(self.position + self.chunk, self.total) - 1), 0
            self.position += len(self.data)
        count = min(len(buffer), len(self.data) - self.offset)
        buffer[:count] = memoryview(self.data)[self.offset:self.offset + count]
        self.offset += count
        return count
