"""Requests sent straight over a urllib3 pool, for the read path of the cloud backends.

Listing and reading need a signed GET and its answer, nothing more: sent this way they
cost a fraction of what the official SDKs cost to import (0.4-0.8 s of CPU a command) and
to call. The SDKs stay for what writes. What is here is what the backends share: the pool
(proxies and CA bundle as ``requests`` takes them from the environment), retries with
exponential backoff, error answers raised as one exception, and a stream read by ranges.
"""

from __future__ import annotations

import io
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

# Statuses worth another try: throttling, timeouts, a server's passing trouble.
TRANSIENT = frozenset({408, 429, 500, 502, 503, 504})
REQUEST_SECONDS = 60.0  # how long one request may take


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

    def within(self, seconds: float) -> Backoff:
        return replace(self, seconds=seconds if self.seconds is None else min(seconds, self.seconds))

    def call(self, send: Callable[[], Any]) -> Any:
        """``send()``, again after a wait while it fails in a way worth another try."""
        from urllib3.exceptions import ProtocolError, TimeoutError

        start, wait, tries = time.monotonic(), self.initial, 0
        while True:
            try:
                return send()
            except (ResponseError, ProtocolError, TimeoutError) as exc:
                tries += 1
                if isinstance(exc, ResponseError) and exc.status_code not in TRANSIENT:
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


def pool_for(endpoint: str, size: int) -> Any:
    """A urllib3 pool of ``size`` connections for ``endpoint``, through the proxy the environment
    names for it (``HTTPS_PROXY``, ``ALL_PROXY``, unless ``NO_PROXY`` names the host) and trusting
    ``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE`` where set, as ``requests`` would."""
    import urllib3
    from urllib.request import getproxies, proxy_bypass

    where = urlsplit(endpoint)
    options: dict[str, Any] = {"maxsize": size}
    if where.scheme == "https":
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if not bundle:
            import certifi

            bundle = certifi.where()
        options.update(cert_reqs="CERT_REQUIRED", ca_certs=bundle)
    proxies = {} if proxy_bypass(where.hostname or "") else getproxies()
    proxy = proxies.get(where.scheme) or proxies.get("all")
    return urllib3.ProxyManager(proxy, **options) if proxy else urllib3.PoolManager(**options)


def send(http: Any, method: str, url: str, headers: dict[str, str] | None,
         error: Callable[[Any], ResponseError], stream: bool = False) -> Any:
    """One request; its answer (read whole unless ``stream``), or ``error(answer)`` raised for an
    error answer. 416 (a range of an empty file) is no error."""
    response = http.urlopen(method, url, headers=headers, timeout=REQUEST_SECONDS, retries=False,
                            preload_content=not stream)
    if response.status >= 300 and response.status != 416:
        if stream:
            response.read()
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
