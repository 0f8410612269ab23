"""Stress: prunes and forks killed with SIGKILL, two prunes of one run at once, a trainer writing
steps while prunes run; on disk and in S3 (a moto server in a subprocess on 127.0.0.1).

    python bench/stress.py                       # small loops: a few minutes
    python bench/stress.py --kills 40 --races 20 --writer-prunes 30
    python bench/stress.py --only prune-kill-disk,fork-kill-s3

Every scenario runs the real command line (``python -m ckpt_tui ...``) in child
processes, then looks at the storage itself and counts:

* bad states: a step listed as a checkpoint whose files are not all there (half a
  step looking whole), a fork listed whole while partial or without the history it
  was asked for, leftovers a later command should have finished, anything in $TMPDIR;
* lost steps: a step the rule keeps (best, latest, every 5th) that is gone, or a
  step of a fork's source that is gone;
* unclear errors: a process that was not killed and exited non-zero although the
  end state is what it asked for, printed a traceback, or printed a line that is
  none of ckpt-tui's informational ones.

A kill lands at a random moment, most often after the command has started
changing the storage (a ``.deleting-`` folder, a marker object, a ``.forking-``
folder appeared), sometimes anywhere from its start.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ckpt_tui.stores.local import LocalStore  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ACCESS_KEY, SECRET_KEY = "stress", "stress-secret"
PROJECT, RUN = "demo", "run"
RULE = "best,latest,every:5"
BEST = 7  # the step the history makes best, whatever else is written
# Lines a command prints on stderr that are information, not errors.
INFORMATION = (re.compile(r": spared step \d+: the run changed since the preview$"),
               re.compile(r": removed what interrupted work left: "))


@dataclass
class Shape:
    """How big a tree is: many files per step make deletions and copies last long enough to kill."""

    steps: int
    files: int
    file_bytes: int


DISK = Shape(steps=30, files=150, file_bytes=2048)
BUCKET = Shape(steps=12, files=8, file_bytes=512)


def metric(step: int) -> float:
    return 0.99 if step == BEST else 0.1 + (step * 37 % 11) / 100


def must_keep(steps: list[int]) -> set[int]:
    """What RULE keeps of these steps."""
    return {s for s in steps if s % 5 == 0} | ({BEST} & set(steps)) | ({max(steps)} if steps else set())


def step_files(step: int, shape: Shape) -> dict[str, bytes]:
    return {f"part-{i:03d}.bin": bytes([step % 256, i % 256]) * (shape.file_bytes // 2) for i in range(shape.files)}


def history_line(step: int) -> str:
    return f'{{"step": {step}, "val/reward": {metric(step)}}}\n'


# -- where the tree lives: a directory or an S3 prefix --------------------------------------
class Place:
    """A location the scenarios write to and inspect, whatever holds it."""

    url: str
    cli_options: list[str] = []

    def run_path(self, run: str = RUN) -> str:
        return f"{PROJECT}/models/{run}"

    def write_step(self, step: int, shape: Shape, run: str = RUN) -> None: ...

    def write_history(self, text: str, run: str = RUN) -> None: ...

    def append_history(self, line: str, run: str = RUN) -> None: ...

    def leftovers(self, run: str = RUN) -> list[str]:
        """Traces of interrupted work in the run's checkpoint folder."""
        ...

    def started(self, run: str = RUN) -> Callable[[], bool]:
        """Whether a prune or a fork into ``run`` has started changing the storage."""
        ...

    def store(self): ...

    def reset(self) -> None: ...

    def build(self, shape: Shape, run: str = RUN) -> None:
        for step in range(shape.steps):
            self.write_step(step, shape, run)
        self.write_history("".join(history_line(s) for s in range(shape.steps)), run)


class DiskPlace(Place):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.reset()

    def reset(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(parents=True)
        self.url = str(self.root)

    def write_step(self, step: int, shape: Shape, run: str = RUN) -> None:
        folder = self.root / self.run_path(run) / "checkpoints" / f"{step:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in step_files(step, shape).items():
            (folder / name).write_bytes(data)

    def write_history(self, text: str, run: str = RUN) -> None:
        (self.root / self.run_path(run) / "history.jsonl").write_text(text)

    def append_history(self, line: str, run: str = RUN) -> None:
        with open(self.root / self.run_path(run) / "history.jsonl", "a") as handle:
            handle.write(line)

    def leftovers(self, run: str = RUN) -> list[str]:
        folder = self.root / self.run_path(run) / "checkpoints"
        return [n for n in os.listdir(folder) if n.startswith(".")] if folder.is_dir() else []

    def started(self, run: str = RUN) -> Callable[[], bool]:
        checkpoints = self.root / self.run_path(RUN) / "checkpoints"
        models = self.root / PROJECT / "models"

        def any_hidden(folder: Path) -> bool:
            try:
                return any(e.name.startswith(".") for e in os.scandir(folder))
            except OSError:
                return False

        return lambda: any_hidden(checkpoints) if run == RUN else any_hidden(models)

    def store(self):
        return LocalStore(self.root)


class BucketPlace(Place):
    def __init__(self, endpoint: str) -> None:
        import boto3

        self.client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        self.pool = ThreadPoolExecutor(8)
        self.bucket = f"stress-{uuid.uuid4().hex[:10]}"
        self.client.create_bucket(Bucket=self.bucket)
        self.endpoint = endpoint
        self.cli_options = ["--endpoint-url", endpoint]
        self.reset()

    def reset(self) -> None:
        self.prefix = f"t-{uuid.uuid4().hex[:10]}/"
        self.url = f"s3://{self.bucket}/{self.prefix.rstrip('/')}"

    def _put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data)

    def keys(self, under: str) -> list[str]:
        found = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                           Prefix=self.prefix + under):
            found += [o["Key"][len(self.prefix):] for o in page.get("Contents", ())]
        return found

    def write_step(self, step: int, shape: Shape, run: str = RUN) -> None:
        files = step_files(step, shape).items()
        list(self.pool.map(lambda item: self._put(f"{self.run_path(run)}/checkpoints/{step:04d}/{item[0]}",
                                                  item[1]), files))

    def write_history(self, text: str, run: str = RUN) -> None:
        self._put(f"{self.run_path(run)}/history.jsonl", text.encode())

    def append_history(self, line: str, run: str = RUN) -> None:
        key = self.prefix + f"{self.run_path(run)}/history.jsonl"
        text = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        self.client.put_object(Bucket=self.bucket, Key=key, Body=text + line.encode())

    def leftovers(self, run: str = RUN) -> list[str]:
        return [k for k in self.keys(f"{self.run_path(run)}/checkpoints/") if "/." in k]

    def started(self, run: str = RUN) -> Callable[[], bool]:
        def marker_written() -> bool:
            time.sleep(0.005)  # each look is a request: leave the server to the command
            return bool(self.leftovers(run))

        return marker_written

    def store(self):
        from ckpt_tui.stores.s3 import S3Store

        return S3Store.from_url(self.url, endpoint_url=self.endpoint)


# -- running the command line ----------------------------------------------------------------
@dataclass
class Outcome:
    code: int | None  # None: killed
    stderr: str


class Stress:
    def __init__(self, scratch: Path) -> None:
        self.counts: dict[str, Counter] = {}
        self.tmpdir = scratch / "tmpdir"
        self.tmpdir.mkdir()
        self.env = {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(self.tmpdir)}
        self.notes: list[str] = []

    def count(self, scenario: str, what: str, amount: int = 1, why: str = "") -> None:
        self.counts.setdefault(scenario, Counter())[what] += amount
        if amount and why and what != "runs" and what != "killed":
            self.notes.append(f"{scenario}: {what}: {why}")

    def start(self, *args: object) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "ckpt_tui", *map(str, args)], env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def run(self, *args: object) -> Outcome:
        process = self.start(*args)
        _, err = process.communicate()
        return Outcome(process.returncode, err)

    def run_killed(self, args: list[object], started: Callable[[], bool], window: float) -> Outcome:
        """Start the command and SIGKILL it: mostly a random moment after ``started()``, sometimes
        a random moment from its start."""
        process = self.start(*args)
        if random.random() < 0.25:
            time.sleep(random.uniform(0, window * 2))
        else:
            while process.poll() is None and not started():
                time.sleep(0.0005)
            time.sleep(random.uniform(0, window))
        if process.poll() is not None:
            _, err = process.communicate()
            return Outcome(process.returncode, err)
        process.send_signal(signal.SIGKILL)
        _, err = process.communicate()
        return Outcome(None, err)

    def unclear(self, scenario: str, outcome: Outcome, expect_ok: bool = True) -> None:
        """A finished command that failed though its end state is right, or said something unclear."""
        if outcome.code is None:
            return
        lines = [line for line in outcome.stderr.splitlines() if line.strip()]
        odd = [line for line in lines if not any(p.search(line) for p in INFORMATION)]
        if "Traceback" in outcome.stderr or (expect_ok and outcome.code != 0) or odd:
            self.count(scenario, "unclear errors", why=f"exit {outcome.code}: {' | '.join(odd or lines)[:300]}")

    def check_tmpdir(self, scenario: str) -> None:
        left = os.listdir(self.tmpdir)
        if left:
            self.count(scenario, "bad states", len(left), f"$TMPDIR holds {left[:3]}")
            for name in left:
                shutil.rmtree(self.tmpdir / name, ignore_errors=True)

    def check_run(self, scenario: str, place: Place, shape: Shape, written: list[int], run: str = RUN,
                  keep: set[int] | None = None, history: bool = True) -> list[int]:
        """Count half steps looking whole and kept steps gone; return the complete steps."""
        store = place.store()
        loaded = store.load_run(PROJECT, run, with_metrics=False)
        for ckpt in loaded.checkpoints:
            files = {f.path: f.bytes for f in store.checkpoint_files(loaded, ckpt)}
            want = {name: len(data) for name, data in step_files(ckpt.step, shape).items()}
            if files != want:
                self.count(scenario, "bad states", why=f"step {ckpt.step} listed whole with "
                                                       f"{len(files)}/{len(want)} files")
        if loaded.checkpoints and history and not loaded_history(store, run):
            self.count(scenario, "bad states", why=f"{run} listed whole without its history")
        complete = [c.step for c in loaded.checkpoints]
        for step in sorted((keep if keep is not None else must_keep(written)) - set(complete)):
            self.count(scenario, "lost steps", why=f"step {step} of {run} is gone")
        return complete


def loaded_history(store, run: str) -> bool:
    try:
        return bool(store.read_history(PROJECT, run))
    except Exception:  # noqa: BLE001 - a missing history is what is being counted
        return False


def prune_args(place: Place) -> list[object]:
    return ["prune", place.url, *place.cli_options, "-p", PROJECT, "-r", RUN, "--keep", RULE, "--yes"]


def calibrate(stress: Stress, place: Place, shape: Shape, args: Callable[[], list[object]],
              started: Callable[[], bool], prepare: Callable[[], None]) -> float:
    """How long a command runs once it has started changing the storage."""
    prepare()
    process = stress.start(*args())
    while process.poll() is None and not started():
        time.sleep(0.0005)
    begin = time.monotonic()
    process.communicate()
    return max(time.monotonic() - begin, 0.01)


# -- scenarios ---------------------------------------------------------------------------------
def prune_kills(stress: Stress, name: str, place: Place, shape: Shape, loops: int) -> None:
    """Kill prunes; after each, the next prune must finish the work and leave exactly what the rule keeps."""
    def prepare() -> None:
        place.reset()
        place.build(shape)

    window = calibrate(stress, place, shape, lambda: prune_args(place), place.started(), prepare)
    written = list(range(shape.steps))
    for _ in range(loops):
        prepare()
        killed = stress.run_killed(prune_args(place), place.started(), window)
        stress.count(name, "runs")
        stress.count(name, "killed", int(killed.code is None))
        stress.unclear(name, killed)
        stress.check_run(name, place, shape, written)
        stress.unclear(name, stress.run(*prune_args(place)))
        check_end(stress, name, place, shape, written)
    stress.check_tmpdir(name)


def check_end(stress: Stress, name: str, place: Place, shape: Shape, written: list[int]) -> None:
    """After a prune that was not killed: exactly what the rule keeps, and no leftovers."""
    complete = stress.check_run(name, place, shape, written)
    if set(complete) != must_keep(written) or place.leftovers():
        stress.count(name, "bad states", why=f"{len(complete)} steps ({complete[:12]}), leftovers "
                                             f"{place.leftovers()[:3]}")


def fork_kills(stress: Stress, name: str, source: Place, target: Place, shape: Shape, loops: int,
               with_history: bool) -> None:
    """Kill forks; the new run must never look whole while partial, and a retry must succeed."""
    source.reset()
    source.build(shape)
    written = list(range(shape.steps))
    latest = {max(written)}

    def args(to: str) -> list[object]:
        extra = ["--with-history"] if with_history else []
        where = [] if target is source else ["--to-location", target.url]
        options = source.cli_options if target is source or not target.cli_options else target.cli_options
        return ["fork", source.url, *options, "-p", PROJECT, "-r", RUN, "--to", to, *where, *extra]

    if target is not source:
        target.reset()
    window = calibrate(stress, target, shape, lambda: args("calibration"), target.started("calibration"),
                       lambda: None)
    for i in range(loops):
        to = f"fork-{i}"
        killed = stress.run_killed(args(to), target.started(to), window)
        stress.count(name, "runs")
        stress.count(name, "killed", int(killed.code is None))
        stress.unclear(name, killed)
        stress.check_tmpdir(name)
        published = to in target.store().list_runs(PROJECT) and stress.check_run(
            name, target, shape, written, run=to, keep=set(), history=with_history)
        if killed.code is None and not published:  # killed before the new run appeared whole
            retry = stress.run(*args(to))
            stress.unclear(name, retry)
        forked = stress.check_run(name, target, shape, written, run=to, keep=latest, history=with_history)
        if forked != [max(written)]:
            stress.count(name, "bad states", why=f"{to} is not exactly the forked step")
        stress.check_run(name, source, shape, written, keep=set(written))
    stress.check_tmpdir(name)


def concurrent_prunes(stress: Stress, name: str, place: Place, shape: Shape, rounds: int) -> None:
    """Two prunes of one run at once: both succeed, with nothing unclear, and the end state is right."""
    written = list(range(shape.steps))
    for _ in range(rounds):
        place.reset()
        place.build(shape)
        processes = [stress.start(*prune_args(place)) for _ in range(2)]
        for process in processes:
            _, err = process.communicate()
            stress.count(name, "runs")
            stress.unclear(name, Outcome(process.returncode, err))
        check_end(stress, name, place, shape, written)


def writer_races(stress: Stress, name: str, place: Place, shape: Shape, prunes: int, pause: float) -> None:
    """A trainer writes a step after another while prunes run one after another."""
    place.reset()
    place.build(Shape(steps=1, files=shape.files, file_bytes=shape.file_bytes))
    written = [0]
    done = threading.Event()

    def trainer() -> None:
        step = 1
        while not done.wait(pause):  # a step every so often, as a trainer saves
            place.write_step(step, shape)
            place.append_history(history_line(step))
            written.append(step)
            step += 1

    writer = threading.Thread(target=trainer, daemon=True)
    writer.start()
    for _ in range(prunes):
        outcome = stress.run(*prune_args(place))
        stress.count(name, "runs")
        stress.unclear(name, outcome)
    done.set()
    writer.join()
    stress.count(name, "steps written", len(written))
    stress.check_run(name, place, shape, written)
    stress.unclear(name, stress.run(*prune_args(place)))
    check_end(stress, name, place, shape, written)


# -- the moto server ---------------------------------------------------------------------------
@contextmanager
def moto_server() -> Iterator[str]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    program = Path(sys.executable).parent / "moto_server"
    if not program.exists():
        sys.exit("moto_server not found: pip install -e '.[bench]'")
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen([str(program), "-H", "127.0.0.1", "-p", str(port)], stdout=log,
                                   stderr=subprocess.STDOUT)
        endpoint = f"http://127.0.0.1:{port}"
        try:
            wait_until_serving(endpoint, process)
            yield endpoint
        finally:
            process.kill()
            process.wait()


def wait_until_serving(endpoint: str, process: subprocess.Popen) -> None:
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            sys.exit(f"moto_server exited with {process.returncode}")
        try:
            client.list_buckets()
            return
        except Exception:  # noqa: BLE001 - not up yet
            if time.monotonic() > deadline:
                sys.exit("moto_server did not start in 30 s")
            time.sleep(0.1)


# -- main ------------------------------------------------------------------------------------------
SCENARIOS = ("prune-kill-disk", "prune-kill-s3", "fork-kill-disk", "fork-kill-disk-to-s3",
             "fork-kill-s3-to-disk", "fork-kill-s3", "concurrent-disk", "concurrent-s3",
             "writer-disk", "writer-s3")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=8, help="killed commands per kill scenario (default 8)")
    parser.add_argument("--races", type=int, default=5, help="rounds of two concurrent prunes (default 5)")
    parser.add_argument("--writer-prunes", type=int, default=10,
                        help="prunes run while a trainer writes steps (default 10)")
    parser.add_argument("--only", help=f"comma-separated scenarios among {', '.join(SCENARIOS)}")
    parser.add_argument("--seed", type=int, help="random seed (default: random, printed)")
    args = parser.parse_args()
    chosen = set(args.only.split(",")) if args.only else set(SCENARIOS)
    if chosen - set(SCENARIOS):
        parser.error(f"unknown scenario(s): {', '.join(sorted(chosen - set(SCENARIOS)))}")
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    random.seed(seed)
    os.environ.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
                      AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
    print(f"seed {seed}", flush=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ckpt-stress-") as tmp, moto_server() as endpoint:
        scratch = Path(tmp)
        stress = Stress(scratch)
        disk, other_disk = DiskPlace(scratch / "disk"), DiskPlace(scratch / "other-disk")
        bucket, other_bucket = BucketPlace(endpoint), BucketPlace(endpoint)
        plan: list[tuple[str, Callable[[], None]]] = [
            ("prune-kill-disk", lambda: prune_kills(stress, "prune-kill-disk", disk, DISK, args.kills)),
            ("prune-kill-s3", lambda: prune_kills(stress, "prune-kill-s3", bucket, BUCKET, args.kills)),
            ("fork-kill-disk", lambda: fork_kills(stress, "fork-kill-disk", disk, disk, DISK, args.kills, True)),
            ("fork-kill-disk-to-s3", lambda: fork_kills(stress, "fork-kill-disk-to-s3", disk, bucket, BUCKET,
                                                        args.kills, False)),
            ("fork-kill-s3-to-disk", lambda: fork_kills(stress, "fork-kill-s3-to-disk", bucket, other_disk,
                                                        BUCKET, args.kills, False)),
            ("fork-kill-s3", lambda: fork_kills(stress, "fork-kill-s3", other_bucket, other_bucket, BUCKET,
                                                args.kills, True)),
            ("concurrent-disk", lambda: concurrent_prunes(stress, "concurrent-disk", disk, DISK, args.races)),
            ("concurrent-s3", lambda: concurrent_prunes(stress, "concurrent-s3", bucket, BUCKET, args.races)),
            ("writer-disk", lambda: writer_races(stress, "writer-disk", disk, DISK, args.writer_prunes, 0.02)),
            ("writer-s3", lambda: writer_races(stress, "writer-s3", bucket, BUCKET, args.writer_prunes, 0.0)),
        ]
        for scenario, work in plan:
            if scenario in chosen:
                begin = time.monotonic()
                work()
                print(f"{scenario:<22} done in {time.monotonic() - begin:5.1f}s", flush=True)
    print()
    columns = ("runs", "killed", "steps written", "bad states", "lost steps", "unclear errors")
    print(f"{'scenario':<22}" + "".join(f"{c:>15}" for c in columns))
    totals: Counter = Counter()
    for scenario in (s for s in SCENARIOS if s in stress.counts):
        counts = stress.counts[scenario]
        totals.update(counts)
        print(f"{scenario:<22}" + "".join(f"{counts.get(c, 0):>15}" for c in columns))
    print(f"{'total':<22}" + "".join(f"{totals.get(c, 0):>15}" for c in columns))
    for note in stress.notes[:30]:
        print(f"  {note}")
    print(f"({time.monotonic() - started:.0f} s, seed {seed})")
    failures = sum(totals.get(c, 0) for c in ("bad states", "lost steps", "unclear errors"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
