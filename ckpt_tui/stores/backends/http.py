"""Requests sent straight over a pool of connections, for the read path of the cloud backends.

Listing and reading need a signed GET and its answer, nothing more: sent this way they
cost a fraction of what the official SDKs cost to import (0.4-0.8 s of CPU a command) and
to call. The SDKs stay for what writes. What is here is what the backends share: the pool
(keep-alive connections over the standard library's ``http.client``; urllib3's, whose import
alone costs a command 15-30 ms of CPU, only through a proxy or for google-auth's signing;
proxies and CA bundle as ``requests`` takes them from the environment), retries with
exponential backoff, error answers raised as one exception, and a stream read by ranges.

A pool made with ``plain_http`` (the S3 light client's) sends plain ``http://`` requests
over its own HTTP/1.1 connection (``PlainConnection``) instead: ``http.client`` imports
``email``'s parser and ``ssl`` (with OpenSSL), and ``socket`` builds its enums, together a
third of the instructions of a whole S3 fork command; HTTPS still goes through ``http.client``.
"""

from __future__ import annotations

import io
import os
import select
import sys
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

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


class Backoff:
    """When to try a request again: waits from ``initial`` seconds, ``multiplier`` times longer
    each time up to ``maximum``, for at most ``seconds`` in all and ``tries`` tries (None: no limit);
    ``codes``: error codes worth another try whatever their status (S3's 400 RequestTimeout).
    A value: its settings never change (written by hand: ``dataclasses`` costs a command more
    than its requests)."""

    __slots__ = ("initial", "multiplier", "maximum", "seconds", "tries", "codes")

    def __init__(self, initial: float = 0.2, multiplier: float = 2.0, maximum: float = 8.0,
                 seconds: float | None = 60.0, tries: int | None = None, codes: frozenset[str] = frozenset()) -> None:
        for name, value in zip(self.__slots__, (initial, multiplier, maximum, seconds, tries, codes)):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r} of Backoff")

    def _values(self) -> tuple:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return self._values() == other._values() if isinstance(other, Backoff) else NotImplemented

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        return "Backoff(" + ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__) + ")"

    def replace(self, **changes: Any) -> Backoff:
        """A copy with ``changes`` (``dataclasses.replace``'s)."""
        return Backoff(**{**dict(zip(self.__slots__, self._values())), **changes})

    def within(self, seconds: float) -> Backoff:
        return self.replace(seconds=seconds if self.seconds is None else min(seconds, self.seconds))

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
                import random  # only once a request failed

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


def pool_for(endpoint: str, size: int, urllib3_pool: bool = False, ca_bundle: str | None = None,
             plain_http: bool = False) -> Any:
    """A pool of ``size`` connections for ``endpoint``, through the proxy the environment names for
    it (``HTTPS_PROXY``, ``ALL_PROXY``, unless ``NO_PROXY`` names the host) and trusting
    ``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE`` where set, as ``requests`` would. urllib3's
    through a proxy or when ``urllib3_pool`` (what google-auth signs), else a ``Pool``. ``ca_bundle``:
    the certificates to trust instead (botocore's ``AWS_CA_BUNDLE``). ``plain_http``: a ``Pool``
    sends ``http://`` requests over ``PlainConnection``."""
    where = urlsplit(endpoint)
    bundle = None
    if where.scheme == "https":
        bundle = ca_bundle or os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if not bundle:
            import certifi

            bundle = certifi.where()
    proxy = _proxy(where.scheme, where.hostname or "")
    if not (proxy or urllib3_pool):
        return Pool(size, bundle, plain_http)
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
    ``ca_file``: the certificates an HTTPS server's is checked against; ``plain_http``: plain
    ``http://`` requests over ``PlainConnection``, without importing ``http.client``."""

    def __init__(self, size: int, ca_file: str | None = None, plain_http: bool = False) -> None:
        self.size, self.ca_file, self.plain_http = size, ca_file, plain_http
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
        except (OSError, _http_client_error()) as exc:
            connection.close()
            raise ProtocolError(f"{where.netloc}: the connection broke ({exc or type(exc).__name__})") from exc
        except BaseException:  # Ctrl-C mid-answer, a refused request: never left open with an answer part-read
            connection.close()
            raise
        if response.will_close:
            connection.close()
        else:
            self._keep(server, connection)
        return answer

    def _connect(self, server: tuple[str, str, int], timeout: float) -> Any:
        scheme, host, port = server
        if scheme == "https":
            import http.client

            connection: Any = http.client.HTTPSConnection(host, port, timeout=timeout, context=self._context())
        elif self.plain_http:
            connection = PlainConnection(host, port, timeout)
        else:
            import http.client

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


def _http_client_error() -> type[BaseException]:
    """``http.client``'s errors where it is in use (an answer it cannot read), else OSError again."""
    client = sys.modules.get("http.client")
    return client.HTTPException if client is not None else OSError


# -- plain HTTP/1.1 without http.client ---------------------------------------------------------------
MAX_LINE = 65536  # longest status or header line read (http.client's limit)
MAX_HEADERS = 100  # most header lines in an answer (http.client's), or trailer lines, or interim answers
READ_AHEAD = 16 << 20  # room made at first for a body (a ranged GET's 8 MiB fit), grown as it comes
NO_BODY = frozenset({204, 304})


class Headers(dict):
    """An answer's headers by lowercase name, looked up whatever the case asked (the first of
    repeated ones, as ``http.client``'s ``get`` gives)."""

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        return dict.get(self, name.lower(), default)

    def __getitem__(self, name: str) -> str:
        return dict.__getitem__(self, name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and dict.__contains__(self, name.lower())


class PlainConnection:
    """One keep-alive HTTP/1.1 connection over a TCP socket, for requests whose answers are read
    whole: what ``http.client.HTTPConnection`` does for them (``Host``, ``Accept-Encoding:
    identity`` and ``Content-Length`` added unless given, ``TCP_NODELAY``; an answer's body by
    ``Content-Length``, chunks, or up to the connection's end; none for HEAD, 1xx, 204 and 304;
    interim 1xx answers skipped), made on ``_socket`` directly: ``socket``'s Python module builds
    enums on import. A broken or cut answer raises an ``OSError`` (``ConnectionError``), a late
    one ``TimeoutError``."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.sock: Any = None
        self._buffer, self._at = b"", 0
        self._method = ""

    def connect(self) -> None:
        import _socket

        # A host as bytes: a str would be encoded by the idna codec (and unicodedata imported).
        host = self.host.encode("idna") if not self.host.isascii() else self.host.encode()
        error: OSError | None = None
        for family, kind, proto, _name, address in _socket.getaddrinfo(host, self.port, 0, _socket.SOCK_STREAM):
            sock = _socket.socket(family, kind, proto)
            try:
                sock.settimeout(self.timeout)
                sock.connect(address)
                sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
            except OSError as exc:
                sock.close()
                error = exc
                continue
            self.sock, self._buffer, self._at = sock, b"", 0
            return
        raise error or OSError(f"no address for {self.host}")

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock, self._buffer, self._at = None, b"", 0

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> None:
        if self.sock is None:
            self.connect()
        headers = headers or {}
        given = {name.lower() for name in headers}
        lines = [f"{method} {path or '/'} HTTP/1.1"]
        if "host" not in given:
            default = self.port == 80
            host = f"[{self.host}]" if ":" in self.host else self.host
            lines.append(f"Host: {host}" if default else f"Host: {host}:{self.port}")
        if "accept-encoding" not in given:
            lines.append("Accept-Encoding: identity")
        if "content-length" not in given and "transfer-encoding" not in given and (
                body is not None or method in ("PUT", "POST", "PATCH")):
            lines.append(f"Content-Length: {len(body) if body is not None else 0}")
        lines += [f"{name}: {value}" for name, value in headers.items()]
        # As http.client refuses them: a line break or NUL in a header, a space or control character in the path.
        if any("\r" in line or "\n" in line or "\0" in line for line in lines) or any(
                c <= " " or c == "\x7f" for c in path):
            raise ValueError(f"a control character in the request: {lines[0][:200]!r}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self._method = method
        self.sock.sendall(head + body if body and len(body) <= 65536 else head)
        if body and len(body) > 65536:
            self.sock.sendall(body)

    # -- reading the answer -------------------------------------------------------------------
    # ``_buffer[_at:]``: what was received and not read yet.
    def _more(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the connection before the whole answer came")
        self._buffer, self._at = self._buffer[self._at:] + data, 0

    def _line(self) -> bytes:
        while (end := self._buffer.find(b"\n", self._at)) < 0:
            if len(self._buffer) - self._at > MAX_LINE:
                raise ConnectionError("an answer's line is too long")
            self._more()
        if end - self._at > MAX_LINE:
            raise ConnectionError("an answer's line is too long")
        line, self._at = self._buffer[self._at:end + 1], end + 1
        return line

    def _exactly(self, count: int) -> bytes:
        have = len(self._buffer) - self._at
        if have >= count:
            data, self._at = self._buffer[self._at:self._at + count], self._at + count
            return data
        # Room made as the bytes come, not for the length announced: a broken server's
        # Content-Length (or chunk size) of terabytes must not be allocated up front.
        whole = bytearray(min(count, READ_AHEAD))
        whole[:have] = memoryview(self._buffer)[self._at:]
        self._buffer, self._at = b"", 0
        while have < count:
            if have == len(whole):
                whole.extend(bytes(min(count - have, len(whole))))  # at most doubled
            with memoryview(whole) as view:
                got = self.sock.recv_into(view[have:])
            if not got:
                raise ConnectionError(f"the server closed the connection after {have} of {count} bytes")
            have += got
        return bytes(whole)

    def _to_end(self) -> bytes:
        parts = [self._buffer[self._at:]]
        while data := self.sock.recv(65536):
            parts.append(data)
        self._buffer, self._at = b"", 0
        return b"".join(parts)

    def _chunks(self) -> bytes:
        parts = []
        while True:
            size_text = self._line().split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise ConnectionError(f"a chunk's size is not a number: {size_text[:40]!r}") from None
            if size < 0:
                raise ConnectionError("a chunk's size is negative")
            if size == 0:
                for _ in range(MAX_HEADERS + 1):  # trailers, up to the blank line
                    if not self._line().strip():
                        return b"".join(parts)
                raise ConnectionError(f"more than {MAX_HEADERS} trailer lines")
            parts.append(self._exactly(size))
            if self._line().strip():
                raise ConnectionError("a chunk does not end where its size says")

    def _head(self) -> tuple[str, int, str, Headers]:
        """The status line and headers of the next answer."""
        line = self._line().decode("latin-1")
        version, _, rest = line.rstrip("\r\n").partition(" ")
        code, _, reason = rest.partition(" ")
        if not version.startswith("HTTP/") or not (code.isdigit() and len(code) == 3):
            raise ConnectionError(f"not an HTTP answer: {line[:80]!r}")
        headers = Headers()
        last = ""
        for _ in range(MAX_HEADERS + 1):
            text = self._line().decode("latin-1").rstrip("\r\n")
            if not text:
                return version, int(code), reason.strip(), headers
            if text[0] in " \t" and last:  # a folded line continues the header above
                dict.__setitem__(headers, last, f"{dict.__getitem__(headers, last)} {text.strip()}")
                continue
            name, colon, value = text.partition(":")
            if not colon:
                raise ConnectionError(f"not a header: {text[:80]!r}")
            last = name.strip().lower()
            if dict.setdefault(headers, last, value.strip()) != value.strip() and last == "content-length":
                raise ConnectionError("two different Content-Length headers")  # where does the body end?
        raise ConnectionError(f"more than {MAX_HEADERS} headers")

    def getresponse(self) -> PlainResponse:
        for _ in range(MAX_HEADERS + 1):  # interim 1xx answers skipped, so many and no more
            version, status, reason, headers = self._head()
            if not 100 <= status < 200 or status == 101:
                break
        else:
            raise ConnectionError(f"more than {MAX_HEADERS} interim answers")
        connection = (headers.get("connection") or "").lower()
        will_close = "close" in connection or (version == "HTTP/1.0" and "keep-alive" not in connection)
        if self._method == "HEAD" or status in NO_BODY or 100 <= status < 200:
            data = b""
        elif "chunked" in (headers.get("transfer-encoding") or "").lower():
            data = self._chunks()
        elif (length := headers.get("content-length")) is not None:
            try:
                count = int(length)
            except ValueError:
                raise ConnectionError(f"Content-Length is not a number: {length[:40]!r}") from None
            if count < 0:
                raise ConnectionError("Content-Length is negative")
            data = self._exactly(count)
        else:  # up to the connection's end
            data, will_close = self._to_end(), True
        if self._at < len(self._buffer):  # more than the answer: the connection cannot be trusted with another
            will_close = True
        return PlainResponse(status, reason, headers, data, will_close)


class PlainResponse:
    """An answer ``PlainConnection`` read whole, shaped as the parts of ``http.client``'s that the pool reads."""

    __slots__ = ("status", "reason", "headers", "data", "will_close")

    def __init__(self, status: int, reason: str, headers: Headers, data: bytes, will_close: bool) -> None:
        self.status, self.reason, self.headers, self.data, self.will_close = status, reason, headers, data, will_close

    def read(self) -> bytes:
        return self.data


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
