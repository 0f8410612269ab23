"""Azurite (Microsoft's Blob storage emulator) on 127.0.0.1 for the Azure store's tests.

Azurite is an npm package: ``.ci/run`` installs it under ``.cache/azurite/``; where it is
missing and npm is on the PATH the first test that needs it installs it there. Without
Node and npm the Azure tests are skipped, saying why. Azurite always runs with
``--disableTelemetry`` (else it tries to reach a telemetry host).

Fixtures (imported by ``tests/clouds/conftest.py`` and the behaviour suite):
``azurite_server`` (session), ``azurite`` (a server, its fault proxy cleared),
``azure_location`` (a fresh prefix, credentials in the environment), ``azure_art``
(the ART fixture tree there).
"""

from __future__ import annotations

import fcntl
import functools
import http.client
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
AZURITE_DIR = ROOT / ".cache" / "azurite"
AZURITE = AZURITE_DIR / "node_modules" / ".bin" / "azurite-blob"
AZURITE_VERSION = "3"  # Node 20 resolves 3.35; 3.37 wants Node 22
ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key (published in its documentation; not a secret).
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
CONTAINER = "ckpt-tests"
AZURE_VARIABLES = ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_KEY",
                   "AZURE_STORAGE_SAS_TOKEN", "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET",
                   "AZURE_FEDERATED_TOKEN_FILE", "IDENTITY_ENDPOINT", "MSI_ENDPOINT")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def connection_string(endpoint: str) -> str:
    return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={endpoint};")


def find_azurite() -> Path:
    """Azurite's blob program, installed with npm if missing; skips the test without npm."""
    if AZURITE.exists():
        return AZURITE
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.skip("Azurite needs Node and npm (not found): the Azure tests did not run")
    AZURITE_DIR.mkdir(parents=True, exist_ok=True)
    with open(AZURITE_DIR / ".install-lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # test workers in parallel (pytest -n): one installs, the rest wait
        if AZURITE.exists():
            return AZURITE
        result = subprocess.run([npm, "install", "--prefix", str(AZURITE_DIR), "--no-audit", "--no-fund",
                                 "--loglevel=error", f"azurite@{AZURITE_VERSION}"], capture_output=True, text=True)
    if result.returncode != 0 or not AZURITE.exists():
        pytest.skip(f"could not install Azurite with npm: {result.stderr.strip()[-300:]}")
    return AZURITE


@dataclass
class Azurite:
    """A running Azurite: its data folder and port, and how to stop and start it again."""

    data: Path
    port: int
    process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    def start(self) -> Azurite:
        program = find_azurite()
        log = open(self.data.parent / f"{self.data.name}.log", "ab")
        self.process = subprocess.Popen(
            [str(program), "--disableTelemetry", "--skipApiVersionCheck", "--silent", "--location", str(self.data),
             "--blobHost", "127.0.0.1", "--blobPort", str(self.port)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + 30
        while not _answers(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"Azurite did not start:\n{self.log()[-2000:]}")
            time.sleep(0.05)
        return self

    def stop(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait()

    def log(self) -> str:
        path = self.data.parent / f"{self.data.name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


# -- faults between the client and Azurite ------------------------------------------------
@dataclass
class Fault:
    """Answer ``times`` matching requests with ``status``; status 0 drops the connection, and
    ``DIES`` passes the request on, then drops the connection and every later one (the server
    died before it answered)."""

    method: str | None
    path: str | None
    query: str | None
    status: int
    times: int
    hits: int = 0

    def matches(self, method: str, target: str) -> bool:
        path, _, query = target.partition("?")
        return ((self.method is None or method == self.method) and (self.path is None or self.path in path)
                and (self.query is None or self.query in query))


DIES = -1


@dataclass
class FaultProxy:
    """An HTTP proxy on 127.0.0.1 in front of Azurite that answers chosen requests with
    errors (503 ServerBusy, 429, 500...) or drops them; every other request goes through."""

    upstream: int
    faults: list[Fault] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    down: bool = False  # the server is gone: every connection is dropped

    def add(self, status: int = 503, *, method: str | None = None, path: str | None = None,
            query: str | None = None, times: int = 1) -> Fault:
        fault = Fault(method, path, query, status, times)
        with self.lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()
        self.down = False

    def take(self, method: str, target: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.hits < fault.times and fault.matches(method, target):
                    fault.hits += 1
                    return fault
        return None

    def forward(self, method: str, target: str, body: bytes, headers) -> tuple[http.client.HTTPResponse, bytes]:
        upstream = http.client.HTTPConnection("127.0.0.1", self.upstream, timeout=60)
        try:
            upstream.request(method, target, body=body,
                             headers={k: v for k, v in headers.items() if k.lower() != "connection"})
            answer = upstream.getresponse()
            return answer, answer.read()
        finally:
            upstream.close()

    def serve(self) -> tuple[ThreadingHTTPServer, int]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None: ...

            def handle_one_request(self) -> None:
                try:
                    super().handle_one_request()
                except (ConnectionError, socket.timeout):
                    self.close_connection = True

            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fault = proxy.take(self.command, self.path)
                if proxy.down or (fault is not None and fault.status == 0):
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if fault is not None and fault.status == DIES:
                    proxy.forward(self.command, self.path, body, self.headers)
                    proxy.down = True
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if fault is not None:
                    code = {503: "ServerBusy", 500: "InternalError", 429: "TooManyRequests",
                            403: "AuthorizationPermissionMismatch"}.get(fault.status, "InjectedFault")
                    error = (f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code>'
                             f"<Message>injected fault</Message></Error>").encode()
                    self.send_response(fault.status)
                    for name, value in (("Content-Type", "application/xml"), ("x-ms-error-code", code),
                                        ("Content-Length", str(len(error)))):
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(error)
                    return
                answer, data = proxy.forward(self.command, self.path, body, self.headers)
                self.send_response_only(answer.status, answer.reason)
                for name, value in answer.getheaders():
                    if name.lower() not in ("connection", "transfer-encoding", "content-length", "keep-alive"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server, server.server_address[1]


@dataclass
class AzuriteServer:
    """Azurite, reached directly (``endpoint``) or through its fault proxy (``faulty_endpoint``)."""

    azurite: Azurite
    proxy: FaultProxy
    proxy_port: int

    @property
    def endpoint(self) -> str:
        return self.azurite.endpoint

    @property
    def faulty_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}/{ACCOUNT}"


@pytest.fixture(scope="session")
def azurite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzuriteServer]:
    azurite = Azurite(tmp_path_factory.mktemp("azurite") / "data", free_port()).start()
    proxy = FaultProxy(azurite.port)
    server, port = proxy.serve()
    try:
        container_client(azurite.endpoint).create_container()
        yield AzuriteServer(azurite, proxy, port)
    finally:
        server.shutdown()
        azurite.stop()


@pytest.fixture
def azurite(azurite_server: AzuriteServer) -> Iterator[AzuriteServer]:
    azurite_server.proxy.clear()
    yield azurite_server
    azurite_server.proxy.clear()


# -- locations ---------------------------------------------------------------------------------
def container_client(endpoint: str, container: str = CONTAINER):
    from azure.storage.blob import ContainerClient

    return ContainerClient.from_connection_string(connection_string(endpoint), container)


@dataclass
class AzureLocation:
    """A fresh prefix of its own in the test container: what ``az://container/prefix`` a test
    works on. ``endpoint`` is where the store's requests go (Azurite or its fault proxy)."""

    endpoint: str
    prefix: str  # ends with "/"
    container: str = CONTAINER
    local: Path | None = None

    @classmethod
    def fresh(cls, endpoint: str, container: str = CONTAINER) -> AzureLocation:
        return cls(endpoint, f"t-{uuid.uuid4().hex[:10]}/", container)

    @property
    def url(self) -> str:
        return f"az://{self.container}/{self.prefix.rstrip('/')}"

    @functools.cached_property
    def client(self):
        return container_client(self.endpoint, self.container)

    def environment(self) -> dict[str, str]:
        """What a process needs to open ``url`` (Azurite's connection string)."""
        return {"AZURE_STORAGE_CONNECTION_STRING": connection_string(self.endpoint)}

    def store(self, **kwargs):
        from ckpt_tui.stores.azure import AzureStore

        return AzureStore.from_url(self.url, **kwargs)

    def put(self, key: str, body: bytes = b"") -> None:
        self.client.upload_blob(self.prefix + key, body, overwrite=True)

    def delete(self, key: str) -> None:
        self.client.delete_blob(self.prefix + key)

    def keys(self, under: str = "") -> set[str]:
        """Blob names below the prefix, relative to it."""
        return {name[len(self.prefix):] for name in self.client.list_blob_names(name_starts_with=self.prefix + under)}

    def put_many(self, blobs: dict[str, bytes]) -> None:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda item: self.put(*item), blobs.items()))

    def upload(self, root: Path) -> None:
        """Upload every file under ``root`` to the prefix."""
        self.put_many({p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()})


def use_location(monkeypatch: pytest.MonkeyPatch, location: AzureLocation) -> AzureLocation:
    """Only the location's credentials in the environment: never the developer's Azure login."""
    for name in AZURE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in location.environment().items():
        monkeypatch.setenv(name, value)
    return location


@pytest.fixture
def azure_location(azurite: AzuriteServer, monkeypatch: pytest.MonkeyPatch) -> AzureLocation:
    """An empty prefix on Azurite, its connection string in the environment."""
    return use_location(monkeypatch, AzureLocation.fresh(azurite.endpoint))


@pytest.fixture
def faulty_azure_location(azurite: AzuriteServer, monkeypatch: pytest.MonkeyPatch) -> AzureLocation:
    """An empty prefix on Azurite reached through the fault proxy."""
    return use_location(monkeypatch, AzureLocation.fresh(azurite.faulty_endpoint))


@pytest.fixture
def azure_art(azure_location: AzureLocation, art_base: Path) -> AzureLocation:
    """The ART fixture tree under a fresh prefix on Azurite."""
    azure_location.local = art_base
    azure_location.upload(art_base)
    return azure_location


@pytest.fixture
def faulty_azure_art(faulty_azure_location: AzureLocation, art_base: Path) -> AzureLocation:
    faulty_azure_location.local = art_base
    faulty_azure_location.upload(art_base)
    return faulty_azure_location


__all__ = ["azurite_server", "azurite", "azure_location", "faulty_azure_location", "azure_art",
           "faulty_azure_art", "AzureLocation", "AzuriteServer", "DIES", "use_location", "connection_string",
           "free_port"]
