"""S3 servers on loopback and helpers for the S3 store's tests (fixtures are in conftest.py)."""

from __future__ import annotations

import io
import logging
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

ACCESS_KEY = "ckpt-tui-test"
SECRET_KEY = "ckpt-tui-test-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- fault injection around moto ---------------------------------------------
@dataclass
class Fault:
    """Answer ``times`` matching requests with an error, a dropped connection, per-key errors,
    moto's answer without the header named ``code``, or an error once moto has done the request
    (its answer lost on the way back)."""

    action: str  # "error" | "drop" | "key_errors" | "no_header" | "lost_answer"
    matches: Callable[[dict], bool]
    times: int = 1
    status: int = 503
    code: str = "SlowDown"
    failing_key: Callable[[str], bool] = lambda key: False
    hits: int = 0


@dataclass
class Faults:
    rules: list[Fault] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, action: str, *, method: str | None = None, query: str | None = None,
            path: str | None = None, times: int = 1, status: int = 503, code: str = "SlowDown",
            failing_key: Callable[[str], bool] | None = None) -> Fault:
        """Match on method, a query parameter's presence (``delete``, ``list-type``) and a path part."""
        def matches(environ: dict) -> bool:
            params = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
            return ((method is None or environ["REQUEST_METHOD"] == method)
                    and (query is None or query in params)
                    and (path is None or path in environ.get("PATH_INFO", "")))

        fault = Fault(action, matches, times, status, code, failing_key or (lambda key: False))
        with self.lock:
            self.rules.append(fault)
        return fault

    def take(self, environ: dict) -> Fault | None:
        with self.lock:
            for fault in self.rules:
                if fault.hits < fault.times and fault.matches(environ):
                    fault.hits += 1
                    return fault
        return None

    def clear(self) -> None:
        with self.lock:
            self.rules.clear()


def _error_body(code: str, message: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
            f"<Message>{message}</Message><RequestId>fault</RequestId></Error>").encode()


_KEY = re.compile(rb"<Key>(.*?)</Key>", re.S)


class FaultInjector:
    """WSGI middleware around moto's app."""

    def __init__(self, app: Callable, faults: Faults) -> None:
        self.app, self.faults = app, faults

    def __call__(self, environ: dict, start_response: Callable) -> list[bytes]:
        fault = self.faults.take(environ)
        if fault is None:
            return self.app(environ, start_response)
        if fault.action == "drop":
            sock = environ["werkzeug.socket"]
            sock.shutdown(socket.SHUT_RDWR)
            sock.close()
            raise ConnectionAbortedError("fault: dropped connection")
        if fault.action == "lost_answer":
            b"".join(self.app(environ, lambda status, headers, exc_info=None: None))
        if fault.action in ("error", "lost_answer"):
            body = _error_body(fault.code, "injected fault")
            start_response(f"{fault.status} Fault", [("Content-Type", "application/xml"),
                                                     ("Content-Length", str(len(body)))])
            return [body]
        if fault.action == "no_header":
            def without(status: str, headers: list, exc_info: object = None) -> object:
                return start_response(status, [(k, v) for k, v in headers if k.lower() != fault.code.lower()])
            return self.app(environ, without)
        return self._key_errors(fault, environ, start_response)

    def _key_errors(self, fault: Fault, environ: dict, start_response: Callable) -> list[bytes]:
        """Pass DeleteObjects on to moto without the failing keys; report those as errors."""
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        keys = [k.decode() for k in _KEY.findall(body)]
        failing = [k for k in keys if fault.failing_key(k)]
        passing = [k for k in keys if k not in failing]
        errors = "".join(f"<Error><Key>{escape(k)}</Key><Code>InternalError</Code>"
                         f"<Message>injected per-key error</Message></Error>" for k in failing)
        if passing:
            objects = "".join(f"<Object><Key>{escape(k)}</Key></Object>" for k in passing)
            new_body = f"<Delete><Quiet>true</Quiet>{objects}</Delete>".encode()
            environ = dict(environ, CONTENT_LENGTH=str(len(new_body)))
            environ["wsgi.input"] = io.BytesIO(new_body)
            for header in [h for h in environ if h.startswith(("HTTP_CONTENT_MD5", "HTTP_X_AMZ_CHECKSUM"))]:
                del environ[header]
            captured: dict = {}
            chunks = self.app(environ, lambda status, headers, exc_info=None: captured.update(status=status))
            response = b"".join(chunks)
            if not captured["status"].startswith("200"):
                start_response(captured["status"], [("Content-Type", "application/xml"),
                                                    ("Content-Length", str(len(response)))])
                return [response]
        else:
            response = (b'<?xml version="1.0" encoding="UTF-8"?>'
                        b'<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></DeleteResult>')
        response = response.replace(b"</DeleteResult>", errors.encode() + b"</DeleteResult>")
        start_response("200 OK", [("Content-Type", "application/xml"),
                                  ("Content-Length", str(len(response)))])
        return [response]


@dataclass
class FaultyServer:
    endpoint: str
    faults: Faults


@contextmanager
def serving(app: Callable) -> Iterator[str]:
    """A WSGI app served on a free port of 127.0.0.1, in threads: its URL."""
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


# -- SeaweedFS ------------------------------------------------------------------
def find_weed() -> str | None:
    beside_python = Path(sys.executable).parent / "weed"
    return str(beside_python) if beside_python.is_file() else shutil.which("weed")


WEED_PORTS = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
              "filer.port.grpc", "s3.port", "s3.port.grpc", "admin.port", "admin.port.grpc",
              "metricsPort")


def wait_until_serving(endpoint: str, process: subprocess.Popen, log: Path) -> None:
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY,
                          aws_secret_access_key=SECRET_KEY, region_name="us-east-1")
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"weed mini exited ({process.returncode}):\n{log.read_text()[-2000:]}")
        try:
            client.list_buckets()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise RuntimeError(f"weed mini did not start in 30 s:\n{log.read_text()[-2000:]}") from None
            time.sleep(0.1)


# -- buckets and trees -------------------------------------------------------------
def make_client(endpoint: str):
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


def new_bucket(endpoint: str) -> str:
    name = f"ckpt-{uuid.uuid4().hex[:12]}"
    make_client(endpoint).create_bucket(Bucket=name)
    return name


def upload_tree(client, bucket: str, prefix: str, root: Path) -> None:
    """Upload every file under ``root`` to ``bucket/prefix/...``."""
    from concurrent.futures import ThreadPoolExecutor

    files = [p for p in sorted(root.rglob("*")) if p.is_file()]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda p: client.put_object(
            Bucket=bucket, Key=f"{prefix}{p.relative_to(root).as_posix()}", Body=p.read_bytes()), files))


def all_keys(client, bucket: str, prefix: str = "") -> set[str]:
    keys = set()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.update(o["Key"] for o in page.get("Contents", ()))
    return keys


def use_botocore_credentials(monkeypatch, folder: Path) -> None:
    """The test keys handed out by a ``credential_process`` of a profile: what only botocore
    reads, so that the S3 store signs through botocore rather than by itself."""
    script = folder / "credentials.py"
    script.write_text(f"import json; print(json.dumps({{'Version': 1, 'AccessKeyId': {ACCESS_KEY!r}, "
                      f"'SecretAccessKey': {SECRET_KEY!r}}}))\n")
    config = folder / "aws-config"
    config.write_text(f"[profile ckpt-process]\ncredential_process = {sys.executable} {script}\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_PROFILE", "ckpt-process")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    import boto3

    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # its configuration was read before


_session_buckets: dict[str, str] = {}


def session_bucket(endpoint: str) -> str:
    """One bucket per server for the whole session (creating one costs a second on SeaweedFS)."""
    if endpoint not in _session_buckets:
        _session_buckets[endpoint] = new_bucket(endpoint)
    return _session_buckets[endpoint]


@dataclass
class Location:
    """A fresh prefix of its own in a bucket: what ``s3://bucket/prefix`` a test works on."""

    endpoint: str
    bucket: str
    prefix: str  # ends with "/"
    client: object
    local: Path | None = None

    @classmethod
    def fresh(cls, endpoint: str, bucket: str | None = None) -> Location:
        return cls(endpoint, bucket or session_bucket(endpoint), f"t-{uuid.uuid4().hex[:10]}/",
                   make_client(endpoint))

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix.rstrip('/')}"

    def store(self, **kwargs):
        from ckpt_tui.stores.s3 import S3Store

        return S3Store.from_url(self.url, endpoint_url=self.endpoint, **kwargs)

    def put(self, key: str, body: bytes = b"") -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=body)

    def keys(self, under: str = "") -> set[str]:
        """Keys below the prefix, relative to it."""
        return {k[len(self.prefix):] for k in all_keys(self.client, self.bucket, self.prefix + under)}

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)

    def upload(self, root: Path) -> None:
        upload_tree(self.client, self.bucket, self.prefix, root)


def art_location(endpoint: str, art_base: Path) -> Location:
    location = Location.fresh(endpoint)
    location.local = art_base
    upload_tree(location.client, location.bucket, location.prefix, art_base)
    return location
