"""The light S3 client's plain HTTP/1.1 connection (``http.PlainConnection``) against scripted
servers on 127.0.0.1: every answer is read as ``http.client`` reads it (the same pool on
``http.client`` reads the same bytes alongside), requests are written as it writes them, and a
connection is kept only where the answer ends where it says."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading

import pytest

from ckpt_tui.stores.backends.http import Pool, ProtocolError, ReadTimeoutError


class Scripted:
    """A server answering each request, on any connection, with the next of ``answers``
    (raw bytes; after the last one the connection is closed), recording each request's head
    and body and how many connections it accepted."""

    def __init__(self, answers: list[bytes]) -> None:
        self.answers = list(answers)
        self.requests: list[tuple[bytes, bytes]] = []
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        buffer = b""
        with sock:
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = sock.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                while len(buffer) < length:
                    buffer += sock.recv(65536)
                body, buffer = buffer[:length], buffer[length:]
                with self._lock:
                    self.requests.append((head, body))
                    answer = self.answers.pop(0) if self.answers else None
                if answer is None:
                    return
                sock.sendall(answer)
                if answer.endswith(b"<close>"):
                    return

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def serve():
    servers: list[Scripted] = []

    def start(*answers: bytes) -> Scripted:
        servers.append(Scripted(list(answers)))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def both_read(serve, answer: bytes, method: str = "GET") -> tuple:
    """The answer as the plain connection reads it, checked against ``http.client``'s reading."""
    read = []
    for plain in (True, False):
        server = serve(answer)
        got = Pool(4, plain_http=plain).urlopen(method, f"{server.url}/bucket/key")
        # a folded header's line break: kept by http.client, a space here (as RFC 9112 allows)
        read.append((got.status, got.reason, {name: value and " ".join(value.split()) for name in
                                              ("ETag", "etag", "Content-Length", "X-Folded", "X-Twice")
                                              if (value := got.headers.get(name)) or True}, got.data))
    assert read[0] == read[1]
    return read[0]


@pytest.mark.parametrize("answer, method, expected", [
    (b"HTTP/1.1 200 OK\r\nETag: \"abc\"\r\nContent-Length: 5\r\n\r\nhello", "GET", (200, "abc", b"hello")),
    # chunks with an extension, then trailers
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nETag: \"c\"\r\n\r\n5;x=y\r\nhello\r\n1\r\n \r\n"
     b"6\r\nworld!\r\n0\r\nX-Trailer: t\r\n\r\n", "GET", (200, "c", b"hello world!")),
    # no length: the body runs to the connection's end
    (b"HTTP/1.1 200 OK\r\nETag: \"e\"\r\nConnection: close\r\n\r\nto the end<close>", "GET", (200, "e", b"to the end<close>")),
    (b"HTTP/1.1 200 OK\r\nETag: \"h\"\r\nContent-Length: 123\r\n\r\n", "HEAD", (200, "h", b"")),
    (b"HTTP/1.1 204 No Content\r\nETag: \"n\"\r\n\r\n", "DELETE", (204, "n", b"")),
    # an interim answer before the real one
    (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nETag: \"i\"\r\nContent-Length: 2\r\n\r\nok", "PUT", (200, "i", b"ok")),
    (b"HTTP/1.1 404 Not Found\r\nContent-Length: 7\r\netag: \"lower\"\r\n\r\nmissing", "GET", (404, "lower", b"missing")),
    # a header folded over two lines; a repeated header gives its first value
    (b"HTTP/1.1 200 OK\r\nX-Folded: one\r\n two\r\nX-Twice: first\r\nX-Twice: second\r\nETag: \"f\"\r\n"
     b"Content-Length: 0\r\n\r\n", "GET", (200, "f", b"")),
])
def test_answers_are_read_as_http_client_reads_them(serve, answer, method, expected):
    status, _reason, headers, data = both_read(serve, answer, method)
    assert (status, headers["ETag"].strip('"'), data) == expected
    assert headers["etag"] == headers["ETag"]
    if b"X-Folded" in answer:
        assert (headers["X-Folded"], headers["X-Twice"]) == ("one two", "first")


def test_a_large_body_is_read_whole(serve):
    body = bytes(range(256)) * 40_000  # 10 MB, many reads
    status, _, headers, data = both_read(serve, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    assert (status, headers["Content-Length"], data) == (200, str(len(body)), body)


def test_connections_are_kept_between_answers_that_end_where_they_say(serve):
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    server = serve(ok, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
                   b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n", ok)
    pool = Pool(4, plain_http=True)
    assert [pool.urlopen("GET", f"{server.url}/b").data for _ in range(2)] == [b"ok", b"ok"]
    assert pool.urlopen("HEAD", f"{server.url}/b").data == b""  # its Content-Length has no body after it
    assert pool.urlopen("GET", f"{server.url}/b").data == b"ok"
    assert server.connections == 1


def test_a_connection_the_answer_closes_is_not_kept(serve):
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    server = serve(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", ok,
                   b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", ok,
                   b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA", ok)  # more than the answer
    pool = Pool(4, plain_http=True)
    assert [pool.urlopen("GET", f"{server.url}/b").data for _ in range(6)] == [b"ok"] * 6
    assert server.connections == 4


def test_requests_are_written_as_http_client_writes_them(serve):
    written = []
    for plain in (True, False):
        server = serve(*[b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"] * 4)
        pool = Pool(4, plain_http=plain)
        signed = {"Host": f"127.0.0.1:{server.port}", "X-Amz-Date": "20260101T000000Z", "If-None-Match": "*"}
        pool.urlopen("PUT", f"{server.url}/bucket/a%20key?x=1", body=b"data", headers=signed)
        pool.urlopen("PUT", f"{server.url}/bucket/copy", headers={"x-amz-copy-source": "bucket/a"})
        pool.urlopen("GET", f"{server.url}/bucket?list-type=2&prefix=a%2F")
        pool.urlopen("DELETE", f"{server.url}")
        port = b"%d" % server.port
        written.append([(sorted(head.replace(port, b"PORT").split(b"\r\n")[1:]), head.split(b"\r\n")[0], body)
                        for head, body in server.requests])
    assert written[0] == written[1]
    first, copy, listing, delete = written[0]
    assert first == (sorted([b"Host: 127.0.0.1:PORT", b"X-Amz-Date: 20260101T000000Z",
                             b"If-None-Match: *", b"Accept-Encoding: identity", b"Content-Length: 4"]),
                     b"PUT /bucket/a%20key?x=1 HTTP/1.1", b"data")
    assert b"Content-Length: 0" in copy[0] and b"Content-Length: 0" not in listing[0]
    assert delete[1] == b"DELETE / HTTP/1.1"


@pytest.mark.parametrize("url, headers", [
    ("/bucket/a key", {}),
    ("/bucket/key", {"X-Bad": "one\r\nX-Injected: two"}),
    ("/bucket/key", {"X-Bad": "nul\0"}),
])
def test_control_characters_in_a_request_are_refused(serve, url, headers):
    server = serve()
    with pytest.raises(ValueError):
        Pool(4, plain_http=True).urlopen("GET", server.url + url, headers=headers)
    assert server.requests == []


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\nhalf<close>",  # cut short
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel<close>",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n<close>",  # not a size
    b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n<close>",
    b"SSH-2.0-OpenSSH\r\n\r\n<close>",  # not HTTP
    b"<close>",  # nothing
])
def test_a_broken_answer_raises_a_protocol_error(serve, answer):
    server = serve(answer)
    with pytest.raises(ProtocolError):
        Pool(4, plain_http=True).urlopen("GET", f"{server.url}/b")


@pytest.mark.parametrize("answer", [
    # a length of a petabyte, or a chunk of one, announced and not sent: not allocated up front
    b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\nabc<close>" % 2**50,
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\nabc<close>" % 2**50,
    # two lengths: where the body ends is anyone's guess
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 12\r\n\r\nokhello world<close>",
    # trailers or interim answers without end: no more than headers
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n" + b"X-T: t\r\n" * 500
    + b"\r\n<close>",
    b"HTTP/1.1 100 Continue\r\n\r\n" * 500 + b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok<close>",
], ids=["length-of-a-petabyte", "chunk-of-a-petabyte", "two-lengths", "endless-trailers", "endless-interim"])
def test_an_answer_beyond_reason_raises_a_protocol_error_without_eating_memory(serve, answer):
    server = serve(answer)
    with pytest.raises(ProtocolError):
        Pool(4, plain_http=True).urlopen("GET", f"{server.url}/b")


def test_the_same_length_twice_is_one_length(serve):
    server = serve(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nok")
    assert Pool(4, plain_http=True).urlopen("GET", f"{server.url}/b").data == b"ok"


@pytest.mark.parametrize("plain", [True, False])
def test_a_connection_interrupted_mid_answer_is_closed_not_kept(serve, monkeypatch, plain):
    """Ctrl-C while an answer is read: the connection, its answer part-read, is closed there and
    then (never kept, never left open until the garbage collector finds it)."""
    server = serve(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    pool = Pool(4, plain_http=plain)
    made, connect = [], pool._connect
    monkeypatch.setattr(pool, "_connect", lambda *args: made.append(connect(*args)) or made[-1])

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    if plain:
        from ckpt_tui.stores.backends import http

        monkeypatch.setattr(http.PlainConnection, "_exactly", interrupted)
    else:
        import http.client

        monkeypatch.setattr(http.client.HTTPResponse, "read", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pool.urlopen("GET", f"{server.url}/b")
    assert made[0].sock is None
    monkeypatch.undo()
    assert pool.urlopen("GET", f"{server.url}/b").data == b"ok"
    assert server.connections == 2


def test_an_answer_that_does_not_come_times_out():
    with socket.create_server(("127.0.0.1", 0)) as listener:  # takes the connection, never answers
        port = listener.getsockname()[1]
        with pytest.raises(ReadTimeoutError):
            Pool(4, plain_http=True).urlopen("GET", f"http://127.0.0.1:{port}/b", timeout=0.2)


def test_an_s3_fork_imports_no_http_client_email_ssl_socket_or_dataclasses(moto_art_bucket):
    """The modules a fork within a bucket on plain settings leaves out of its start-up: a third
    of its instructions (``http.client`` with ``email``'s parser and ``ssl``, ``socket``'s
    enums, ``dataclasses`` with ``inspect``, ``typing``)."""
    code = ("import sys; from ckpt_tui.cli import main; "
            f"assert main(['fork', {moto_art_bucket.url!r}, '-p', 'demo', '-r', 'agent-001', '--to', 'agent-plain', "
            f"'--endpoint-url', {moto_art_bucket.endpoint!r}]) == 0; "
            "print([m for m in ('http.client', 'email', 'ssl', 'socket', 'dataclasses', 'typing', 'botocore') "
            "if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert done.stdout.splitlines()[-1] == "[]"
