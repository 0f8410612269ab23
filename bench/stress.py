"""Stress: prunes, forks and offloads killed with SIGKILL, two prunes of one run at once, a trainer writing
steps while prunes run; on disk and in S3 (a moto server in a subprocess on 127.0.0.1); offloads from
disk to GCS (fake-gcs-server) and Azure Blob (Azurite, ``npm install --prefix .cache/azurite azurite@3``)
killed too; and a live writer of every layout with ``watch`` and ``prune`` beside it, killed and restarted.

    python bench/stress.py --quick               # everything, a few minutes
    python bench/stress.py                       # longer loops
    python bench/stress.py --kills 40 --races 20 --writer-prunes 30 --live-seconds 120
    python bench/stress.py --only prune-kill-disk,fork-kill-s3,live-hf
    python bench/stress.py --only offload-kill-disk,offload-kill-s3,offload-kill-gcs,offload-kill-azure --kills 40

Every scenario runs the real command line (``python -m ckpt_tui ...``) in child
processes, then looks at the storage itself and counts:

* bad states: a step listed as a checkpoint whose files are not all there (half a
  step looking whole), a fork listed whole while partial or without the history it
  was asked for, leftovers a later command should have finished, anything in $TMPDIR;
* lost steps: a step the rule keeps (best, latest, every 5th) that is gone, a
  step of a fork's source that is gone, or an offloaded step whole neither here nor at the target;
* unverified deletions: a step an offload deleted here that the target does not hold
  byte for byte (each file read back and compared with what was written);
* unclear errors: a process that was not killed and exited non-zero although the
  end state is what it asked for, printed a traceback, or printed a line that is
  none of ckpt-tui's informational ones.

A kill lands at a random moment, most often after the command has started
changing the storage (a ``.deleting-`` folder, a marker object, a ``.forking-``
folder appeared), sometimes anywhere from its start.

The live writers (``live-{layout}``) save steps as each trainer does today,
file by file with short pauses, the trainer's marker last: the HF Trainer in
place with ``trainer_state.json`` last, ART and torchtune with no marker at all,
DeepSpeed's ``latest`` and Megatron's tracker after the files, Orbax's and
Lightning's renames, DCP's ``.metadata.tmp`` renamed, NeMo 2's ``-unfinished``
sibling. Beside them, ``watch`` runs and is killed (SIGKILL or SIGTERM) and
restarted every second or two, while ``prune`` (sometimes killed too) and
``path --latest`` run one after another. Counted: the newest complete step
deleted or slimmed while a newer save is in progress (each step once), a step
printed by ``path`` that was not complete, hangs (a command past its timeout,
a watch still running 10 s after SIGTERM), tracebacks, ``.deleting-`` or slim
leftovers after a watch stopped by SIGTERM (a prune has no SIGTERM handler: the
next command finishes its work), and other failing exits. Layouts without a marker
run with a settle window of one second (``CKPT_TUI_SETTLE_SECONDS``), longer
than the writer's pauses.
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
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(1, str(Path(__file__).resolve().parent))  # bench/clouds.py starts the emulators

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
    """What RULE keeps of these steps: the best is chosen among the steps written (BEST once it is
    written; before, the best of those written, each tied one), as ckpt-tui chooses among the
    checkpoints there: a step best when written stays best, for only a better one is deleted."""
    if not steps:
        return set()
    top = max(metric(s) for s in steps)
    return {s for s in steps if s % 5 == 0} | {s for s in steps if metric(s) == top} | {max(steps)}


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

    def read(self, key: str) -> bytes:
        """A file's bytes, by its path below the location."""
        ...

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

    def read(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

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
    """A prefix of its own in a bucket (S3, GCS or Azure Blob), written through the provider's client."""

    scheme = ""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(8)
        self.bucket = f"stress-{uuid.uuid4().hex[:10]}"
        self.reset()

    def reset(self) -> None:
        self.prefix = f"t-{uuid.uuid4().hex[:10]}/"
        self.url = f"{self.scheme}://{self.bucket}/{self.prefix.rstrip('/')}"

    def _put(self, key: str, data: bytes) -> None: ...

    def keys(self, under: str) -> list[str]: ...

    def write_step(self, step: int, shape: Shape, run: str = RUN) -> None:
        files = step_files(step, shape).items()
        list(self.pool.map(lambda item: self._put(f"{self.run_path(run)}/checkpoints/{step:04d}/{item[0]}",
                                                  item[1]), files))

    def write_history(self, text: str, run: str = RUN) -> None:
        self._put(f"{self.run_path(run)}/history.jsonl", text.encode())

    def append_history(self, line: str, run: str = RUN) -> None:
        key = f"{self.run_path(run)}/history.jsonl"
        self._put(key, self.read(key) + line.encode())

    def leftovers(self, run: str = RUN) -> list[str]:
        return [k for k in self.keys(f"{self.run_path(run)}/checkpoints/") if "/." in k]

    def started(self, run: str = RUN) -> Callable[[], bool]:
        def marker_written() -> bool:
            time.sleep(0.005)  # each look is a request: leave the server to the command
            return bool(self.leftovers(run))

        return marker_written


class S3Place(BucketPlace):
    scheme = "s3"

    def __init__(self, endpoint: str) -> None:
        import boto3

        self.client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        self.endpoint = endpoint
        self.cli_options = ["--endpoint-url", endpoint]
        super().__init__()
        self.client.create_bucket(Bucket=self.bucket)

    def _put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data)

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()

    def keys(self, under: str) -> list[str]:
        found = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                           Prefix=self.prefix + under):
            found += [o["Key"][len(self.prefix):] for o in page.get("Contents", ())]
        return found

    def store(self):
        from ckpt_tui.stores.s3 import S3Store

        return S3Store.from_url(self.url, endpoint_url=self.endpoint)


class GCSPlace(BucketPlace):
    """A bucket on fake-gcs-server, which ``STORAGE_EMULATOR_HOST`` names to every process."""

    scheme = "gs"

    def __init__(self, endpoint: str) -> None:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        client = storage.Client(project="stress", credentials=AnonymousCredentials(),
                                client_options={"api_endpoint": endpoint})
        super().__init__()
        self.client = client.create_bucket(self.bucket)

    def _put(self, key: str, data: bytes) -> None:
        self.client.blob(self.prefix + key).upload_from_string(data)

    def read(self, key: str) -> bytes:
        return self.client.blob(self.prefix + key).download_as_bytes()

    def keys(self, under: str) -> list[str]:
        return [b.name[len(self.prefix):] for b in self.client.list_blobs(prefix=self.prefix + under)]

    def store(self):
        from ckpt_tui.stores.gcs import GCSStore

        return GCSStore.from_url(self.url)


class AzurePlace(BucketPlace):
    """A container on Azurite, which ``AZURE_STORAGE_CONNECTION_STRING`` names to every process."""

    scheme = "az"

    def __init__(self, connection: str) -> None:
        from azure.storage.blob import ContainerClient

        super().__init__()
        self.client = ContainerClient.from_connection_string(connection, self.bucket)
        self.client.create_container()

    def _put(self, key: str, data: bytes) -> None:
        self.client.upload_blob(self.prefix + key, data, overwrite=True)

    def read(self, key: str) -> bytes:
        return self.client.download_blob(self.prefix + key).readall()

    def keys(self, under: str) -> list[str]:
        return [n[len(self.prefix):] for n in self.client.list_blob_names(name_starts_with=self.prefix + under)]

    def store(self):
        from ckpt_tui.stores.azure import AzureStore

        return AzureStore.from_url(self.url)


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


def offload_kills(stress: Stress, name: str, source: Place, target: Place, shape: Shape, loops: int) -> None:
    """Kill offloads; after each, every step must be whole here or whole there, a step gone from
    here must be at the target byte for byte (else its deletion was unverified), the steps the
    rule keeps must all be here, and the next offload must finish the work."""
    written = list(range(shape.steps))

    def args() -> list[object]:
        return ["offload", source.url, "--to", target.url, *target.cli_options, "-p", PROJECT, "-r", RUN,
                "--keep-local", RULE, "--yes"]

    def prepare() -> None:
        source.reset()
        target.reset()
        source.build(shape)

    here, there = source.started(), target.started()
    started = lambda: here() or there()  # noqa: E731
    window = calibrate(stress, source, shape, args, started, prepare)
    for _ in range(loops):
        prepare()
        killed = stress.run_killed(args(), started, window)
        stress.count(name, "runs")
        stress.count(name, "killed", int(killed.code is None))
        stress.unclear(name, killed)
        local = set(stress.check_run(name, source, shape, written))  # what the rule keeps never leaves
        moved = offloaded(stress, name, target, shape, written)
        for step in sorted(set(written) - local):
            if step not in moved:
                stress.count(name, "lost steps", why=f"step {step} is whole neither here nor at the target")
            if not holds_step(target, step, shape):
                stress.count(name, "unverified deletions", why=f"step {step} deleted here, not whole at the target")
        stress.unclear(name, stress.run(*args()))
        check_end(stress, name, source, shape, written)
        moved = offloaded(stress, name, target, shape, written)
        if set(moved) != set(written) - must_keep(written) or target.leftovers():
            stress.count(name, "bad states", why=f"the target holds {moved[:12]}, leftovers {target.leftovers()[:3]}")
        for step in sorted(set(written) - must_keep(written)):
            if not holds_step(target, step, shape):
                stress.count(name, "unverified deletions", why=f"step {step} offloaded, not whole at the target")
    stress.check_tmpdir(name)


def holds_step(place: Place, step: int, shape: Shape, run: str = RUN) -> bool:
    """Whether ``place`` holds every file of the step with the bytes it was written with."""
    folder = f"{place.run_path(run)}/checkpoints/{step:04d}"
    try:
        return all(place.read(f"{folder}/{name}") == data for name, data in step_files(step, shape).items())
    except Exception:  # noqa: BLE001 - a file that is not there: the step is not whole
        return False


def offloaded(stress: Stress, name: str, target: Place, shape: Shape, written: list[int]) -> list[int]:
    """The steps the target lists whole (each checked file by file), none when it holds no run yet."""
    try:
        return stress.check_run(name, target, shape, written, keep=set())
    except Exception:  # noqa: BLE001 - no run there yet: nothing offloaded
        return []


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


# -- live writers of every layout, with watch and prune beside them -----------------------------------
# A step counts as complete (for the bench) once the trainer wrote its last file; ckpt-tui may take
# longer (a settle window for layouts without a marker) but never less.
SETTLE_SECONDS = 1.0  # the bench's window (``$CKPT_TUI_SETTLE_SECONDS``): a file every <= 0.15 s keeps a step settling
COMMAND_TIMEOUT = 60.0  # a prune or path that takes longer hangs
TERM_TIMEOUT = 10.0  # a watch that has not exited this long after SIGTERM hangs
LEFTOVER_PREFIXES = (".deleting-", ".ckpt-tui-slim")


def safetensors_file(floats: int) -> bytes:
    import json as _json
    import struct

    header = _json.dumps({"w": {"dtype": "F32", "shape": [floats], "data_offsets": [0, 4 * floats]}}).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + b"\1" * (4 * floats)


def torch_file(size: int) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        archive.writestr("archive/data/0", b"\2" * size)
    return buffer.getvalue()


class Writer:
    """One trainer's saves, file by file in the trainer's order, its marker (if any) last.

    ``save(step)`` yields between its writes, so that the bench can look at the
    storage while the save is in progress; ``name(step)`` is the step's entry,
    ``whole(step)`` the files (path -> bytes) of a complete step that must stay,
    ``state(step)`` those a slim removes.
    """

    layout = ""
    slims = False

    def __init__(self, root: Path) -> None:
        self.root = root
        self.run = root

    def name(self, step: int) -> str:
        raise NotImplementedError

    def files(self, step: int) -> list[tuple[str, bytes]]:
        raise NotImplementedError

    def state(self, step: int) -> set[str]:
        return set()

    def whole(self, step: int) -> dict[str, int]:
        return {path: len(data) for path, data in self.files(step)}

    def folder(self, step: int) -> Path:
        return self.run / self.name(step)

    def write(self, path: Path, data: bytes) -> Iterator[None]:
        """One file, in two writes for the big ones (a reader may see it half written)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as handle:
            if len(data) > 4096:
                handle.write(data[:len(data) // 2])
                handle.flush()
                yield
            handle.write(data[len(data) // 2:] if len(data) > 4096 else data)

    def save(self, step: int) -> Iterator[None]:
        """Yields between writes, never after the last: the step is complete once it ends."""
        for index, (path, data) in enumerate(self.files(step)):
            if index:
                yield
            yield from self.write(self.folder(step) / path, data)
        yield from self.finish(step)

    def finish(self, step: int) -> Iterator[None]:
        """What the trainer does after the step's files (a marker, a rename, a tracker)."""
        return iter(())

    def step_of(self, printed: str) -> int | None:
        name = Path(printed.strip()).name
        for step in range(10_000):
            if self.name(step) == name:
                return step
        return None


class ArtWriter(Writer):
    layout = "art"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.run = root / PROJECT / "models" / RUN / "checkpoints"

    def name(self, step: int) -> str:
        return f"{step:04d}"

    def files(self, step: int) -> list[tuple[str, bytes]]:
        return [("adapter_config.json", b'{"r": 8}'), *((f"extra/tokenizer-{i}.json", b"{}") for i in range(6)),
                ("adapter_model.safetensors", safetensors_file(8192))]


class HfWriter(Writer):
    """transformers 5: in place, the model, optimizer, scheduler, RNG state, trainer_state.json last."""

    layout, slims = "hf", True

    def name(self, step: int) -> str:
        return f"checkpoint-{step}"

    def files(self, step: int) -> list[tuple[str, bytes]]:
        return [("model.safetensors", safetensors_file(8192)), ("config.json", b"{}"),
                ("optimizer.pt", torch_file(16384)), ("scheduler.pt", torch_file(64)),
                ("rng_state.pth", torch_file(64)),
                ("trainer_state.json", f'{{"global_step": {step}, "log_history": []}}'.encode())]

    def state(self, step: int) -> set[str]:
        return {"optimizer.pt", "scheduler.pt", "rng_state.pth"}


class DeepSpeedWriter(Writer):
    layout = "deepspeed"

    def name(self, step: int) -> str:
        return f"global_step{step}"

    def files(self, step: int) -> list[tuple[str, bytes]]:
        return [("mp_rank_00_model_states.pt", torch_file(8192)),
                *((f"zero_pp_rank_{r}_mp_rank_00_optim_states.pt", torch_file(8192)) for r in range(2))]

    def finish(self, step: int) -> Iterator[None]:
        (self.root / "zero_to_fp32.py").write_text("# rebuilds fp32 weights\n")
        yield
        with open(self.root / "latest", "w") as handle:  # rank 0, after every file of the tag
            handle.write(self.name(step))


class MegatronWriter(Writer):
    """Megatron's legacy format: one model_optim_rng.pt per model-parallel rank, the tracker last."""

    layout = "megatron"

    def name(self, step: int) -> str:
        return f"iter_{step:07d}"

    def files(self, step: int) -> list[tuple[str, bytes]]:
        return [(f"mp_rank_0{r}/model_optim_rng.pt", torch_file(8192)) for r in range(2)]

    def finish(self, step: int) -> Iterator[None]:
        yield
        with open(self.root / "latest_checkpointed_iteration.txt", "w") as handle:
            handle.write(str(step))


class OrbaxWriter(Writer):
    layout = "orbax"

    def name(self, step: int) -> str:
        return str(step)

    def files(self, step: int) -> list[tuple[str, bytes]]:
        return [("default/manifest.ocdbt", b"m" * 64), ("default/d/chunk-0", b"\3" * 8192),
                ("default/d/chunk-1", b"\3" * 8192), ("_CHECKPOINT_METADATA", b'{"item_handlers": {}}')]

    def save(self, step: int) -> Iterator[None]:
        temporary = self.run / f"{step}.orbax-checkpoint-tmp"
        for path, data in self.files(step):
            yield from self.write(temporary / path, data)
            yield
        os.rename(temporary, self.folder(step))


class DcpWriter(Writer):
    layout = "dcp"

    def name(self, step: int) -> str:
        return f"step_{step}"

    def files(self, step: int) -> list[tuple[str, bytes]]:
        return [(f"__{r}_0.distcp", b"\4" * 8192) for r in range(2)] + [(".metadata", b"meta" * 16)]

    def save(self, step: int) -> Iterator[None]:
        for path, data in self.files(step)[:-1]:
            yield from self.write(self.folder(step) / path, data)
            yield
        yield from self.write(self.folder(step) / ".metadata.tmp", self.files(step)[-1][1])
        yield
        os.rename(self.folder(step) / ".metadata.tmp", self.folder(step) / ".metadata")


class NemoWriter(Writer):
    """NeMo 2: a sibling ``{name}-unfinished`` before the save, removed after it."""

    layout = "nemo2"

    def name(self, step: int) -> str:
        return f"model_name=0--val_loss={1 / (step + 1):.2f}-step={step}-consumed_samples={8.0 * step}"

    def files(self, step: int) -> list[tuple[str, bytes]]:
        return [("weights/__0_0.distcp", b"\5" * 8192), ("weights/common.pt", torch_file(512)),
                ("weights/.metadata", b"meta"), ("weights/metadata.json", b'{"sharded_backend": "torch_dist"}'),
                ("context/io.json", b"{}"), ("context/model.yaml", b"model: {}\n")]

    def save(self, step: int) -> Iterator[None]:
        marker = self.run / f"{self.name(step)}-unfinished"
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_bytes(b"")
        yield
        yield from Writer.save(self, step)
        yield
        marker.unlink()

    def step_of(self, printed: str) -> int | None:
        match = re.search(r"-step=(\d+)-", printed)
        return int(match.group(1)) if match else None


class TorchtuneWriter(Writer):
    layout = "torchtune"

    def name(self, step: int) -> str:
        return f"epoch_{step}"

    def files(self, step: int) -> list[tuple[str, bytes]]:
        return [("config.json", b"{}"), ("adapter_config.json", b"{}"),
                ("adapter_model.safetensors", safetensors_file(1024)),
                ("model.safetensors.index.json", b'{"weight_map": {}}'),
                *((f"model-0000{k}-of-00002.safetensors", safetensors_file(8192)) for k in (1, 2))]


class LightningWriter(Writer):
    """A .ckpt written to a temporary file, then moved into place (one transaction)."""

    layout = "lightning"

    def name(self, step: int) -> str:
        return f"epoch=0-step={step}.ckpt"

    def files(self, step: int) -> list[tuple[str, bytes]]:
        return [("", torch_file(16384))]

    def whole(self, step: int) -> dict[str, int]:
        return {"": len(torch_file(16384))}

    def save(self, step: int) -> Iterator[None]:
        self.run.mkdir(parents=True, exist_ok=True)
        temporary = self.run / f".{self.name(step)}.part"
        yield from self.write(temporary, torch_file(16384))
        yield
        os.replace(temporary, self.folder(step))


WRITERS = {w.layout: w for w in (ArtWriter, HfWriter, DeepSpeedWriter, MegatronWriter, OrbaxWriter, DcpWriter,
                                 NemoWriter, TorchtuneWriter, LightningWriter)}


def files_now(folder: Path) -> dict[str, int]:
    """(path -> bytes) of what a step holds now ({"": bytes} for a single-file step)."""
    if folder.is_file():
        return {"": folder.stat().st_size}
    found = {}
    for root, _dirs, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            try:
                found[os.path.relpath(path, folder)] = os.path.getsize(path)
            except OSError:
                pass
    return found


class Live:
    """A writer saving steps while ``watch`` (killed and restarted) and ``prune``/``path`` run beside it."""

    def __init__(self, stress: Stress, name: str, writer: Writer, seconds: float) -> None:
        self.stress, self.name, self.writer, self.seconds = stress, name, writer, seconds
        self.complete: list[int] = []
        self.harmed: set[int] = set()
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.env = {**stress.env, "CKPT_TUI_SETTLE_SECONDS": str(SETTLE_SECONDS)}

    def count(self, what: str, why: str = "", amount: int = 1) -> None:
        with self.lock:
            self.stress.count(self.name, what, amount, why)

    def start(self, *args: object) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "ckpt_tui", *map(str, args)], env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def finished(self, process: subprocess.Popen, timeout: float, what: str) -> tuple[int | None, str, str]:
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.count("hangs", f"{what} still running after {timeout:g}s")
            process.kill()
            out, err = process.communicate()
            return None, out, err
        if "Traceback" in err:
            self.count("tracebacks", f"{what}: {err.strip().splitlines()[-1][:200]}")
        return process.returncode, out, err

    # -- the trainer ---------------------------------------------------------------------------------
    def trainer(self) -> None:
        step = 1
        while not self.done.is_set():
            for _ in self.writer.save(step):
                self.look(step)
                time.sleep(random.uniform(0.0, 0.15))
            with self.lock:
                self.complete.append(step)
            self.count("steps written")
            step += 1
            time.sleep(random.uniform(0.0, 0.3))

    def look(self, saving: int) -> None:
        """While ``saving`` is in progress, the newest complete step must be there, whole."""
        with self.lock:
            newest = self.complete[-1] if self.complete else None
        if newest is None:
            return
        now = files_now(self.writer.folder(newest))
        want = self.writer.whole(newest)
        missing = {p for p in want if p not in now}
        if not missing or newest in self.harmed:
            return
        self.harmed.add(newest)  # each step counted once, however many looks see it
        if missing & self.writer.state(newest) and not missing - self.writer.state(newest):
            self.count("newest complete slimmed", f"step {newest} slimmed while {saving} was being saved")
        else:
            self.count("newest complete deleted", f"step {newest} lost {len(missing)} of {len(want)} files while "
                                                  f"{saving} was being saved")

    # -- watch, killed and restarted -------------------------------------------------------------
    def keep(self) -> list[str]:
        rules = ["--keep", "last:2", "--full", "latest"] if self.writer.slims else ["--keep", "latest"]
        return [*rules, "--metric", "none"]

    def watcher(self) -> None:
        while not self.done.is_set():
            process = self.start("watch", self.writer.root, *self.keep(), "--interval", "0.2")
            time.sleep(random.uniform(0.3, 2.0))
            signal_kind = random.choice((signal.SIGKILL, signal.SIGTERM))
            process.send_signal(signal_kind)
            code, _out, err = self.finished(process, TERM_TIMEOUT, f"watch after {signal_kind.name}")
            self.count("watch runs")
            if signal_kind is signal.SIGTERM and code is not None:
                left = self.leftovers()
                if left:
                    self.count("leftovers after SIGTERM", f"{left[:3]}", len(left))
            elif signal_kind is signal.SIGKILL and "Traceback" in err:
                pass  # already counted

    def leftovers(self) -> list[str]:
        try:
            return [n for n in os.listdir(self.writer.run) if n.startswith(LEFTOVER_PREFIXES)]
        except OSError:
            return []

    # -- prune and path --------------------------------------------------------------------------
    def commands(self) -> None:
        while not self.done.is_set():
            if random.random() < 0.5:
                self.prune()
            else:
                process = self.start("path", self.writer.root, "--latest")
                code, out, err = self.finished(process, COMMAND_TIMEOUT, "path")
                self.count("paths")
                with self.lock:
                    complete = set(self.complete)
                if code == 0:
                    step = self.writer.step_of(out)
                    if step not in complete:
                        self.count("incomplete printed by path", f"path printed {out.strip()[-60:]} "
                                                                 f"(complete: {sorted(complete)[-3:]})")
                elif code is not None and not (code == 1 and ("no complete checkpoint" in err
                                                              or "holds no runs" in err)):
                    # exit 1 saying so is right before the trainer's first save is whole
                    self.count("command errors", f"path exit {code}: {err.strip()[:200]}")

    def prune(self) -> None:
        """A prune, left to finish or killed at a random moment (SIGKILL or SIGTERM)."""
        process = self.start("prune", self.writer.root, "--keep", "latest", "--metric", "none", "--yes")
        kill = random.choice((None, None, signal.SIGKILL, signal.SIGTERM))
        if kill is not None:
            time.sleep(random.uniform(0.2, 1.5))
            if process.poll() is None:
                process.send_signal(kill)
        code, _out, err = self.finished(process, COMMAND_TIMEOUT, f"prune{f' after {kill.name}' if kill else ''}")
        self.count("prunes")  # a prune stopped by a signal leaves its work for the next command to finish
        if code not in (0, None) and not (kill is not None and code < 0):
            self.count("command errors", f"prune exit {code}: {err.strip()[:200]}")

    def run(self) -> None:
        threads = [threading.Thread(target=work, daemon=True) for work in (self.trainer, self.watcher, self.commands)]
        for thread in threads:
            thread.start()
        time.sleep(self.seconds)
        self.done.set()
        for thread in threads:
            thread.join()
        self.count("runs")


def live_writers(stress: Stress, scratch: Path, layout: str, seconds: float) -> None:
    root = scratch / "live" / layout
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    Live(stress, f"live-{layout}", WRITERS[layout](root), seconds).run()


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


# -- GCS and Azure emulators (started as bench/clouds.py starts them) -----------------------------
@contextmanager
def fake_gcs_server(scratch: Path) -> Iterator[str]:
    """fake-gcs-server on a free port, named to every process by ``STORAGE_EMULATOR_HOST``."""
    from clouds import fake_gcs_binary, free_port, running

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    (scratch / "fake-gcs").mkdir()
    with running([fake_gcs_binary(), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port), "-backend",
                  "memory", "-public-host", f"127.0.0.1:{port}", "-log-level", "error"], port, scratch / "fake-gcs"):
        os.environ.update(STORAGE_EMULATOR_HOST=endpoint, NO_GCE_CHECK="True",
                          CLOUDSDK_CONFIG=str(scratch / "no-gcloud-config"))
        yield endpoint


@contextmanager
def azurite(scratch: Path) -> Iterator[str]:
    """Azurite (always without telemetry) on a free port; its connection string is set for every process."""
    from clouds import AZURITE_ACCOUNT, AZURITE_KEY, azurite_binary, free_port, running

    port = free_port()
    (scratch / "azurite").mkdir()
    with running([azurite_binary(), "--silent", "--disableTelemetry", "--skipApiVersionCheck", "--location",
                  str(scratch / "azurite"), "--blobHost", "127.0.0.1", "--blobPort", str(port)], port,
                 scratch / "azurite"):
        connection = (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
                      f"BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};")
        os.environ["AZURE_STORAGE_CONNECTION_STRING"] = connection
        yield connection


# -- main ------------------------------------------------------------------------------------------
SCENARIOS = ("prune-kill-disk", "prune-kill-s3", "fork-kill-disk", "fork-kill-disk-to-s3",
             "fork-kill-s3-to-disk", "fork-kill-s3", "offload-kill-disk", "offload-kill-s3",
             "offload-kill-gcs", "offload-kill-azure",
             "concurrent-disk", "concurrent-s3",
             "writer-disk", "writer-s3", *(f"live-{layout}" for layout in WRITERS))
LIVE_COLUMNS = ("steps written", "watch runs", "prunes", "paths", "newest complete deleted",
                "newest complete slimmed", "incomplete printed by path", "hangs", "tracebacks",
                "leftovers after SIGTERM", "command errors")
LIVE_FAILURES = LIVE_COLUMNS[4:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=8, help="killed commands per kill scenario (default 8)")
    parser.add_argument("--races", type=int, default=5, help="rounds of two concurrent prunes (default 5)")
    parser.add_argument("--writer-prunes", type=int, default=10,
                        help="prunes run while a trainer writes steps (default 10)")
    parser.add_argument("--live-seconds", type=float, default=30.0,
                        help="how long each layout's live writer runs beside watch and prune (default 30)")
    parser.add_argument("--quick", action="store_true",
                        help="a few minutes in all: 2 kills, 2 races, 4 writer prunes, 10 s per live writer")
    parser.add_argument("--only", help=f"comma-separated scenarios among {', '.join(SCENARIOS)}")
    parser.add_argument("--seed", type=int, help="random seed (default: random, printed)")
    args = parser.parse_args()
    if args.quick:
        args.kills, args.races, args.writer_prunes, args.live_seconds = 2, 2, 4, 10.0
    chosen = set(args.only.split(",")) if args.only else set(SCENARIOS)
    if chosen - set(SCENARIOS):
        parser.error(f"unknown scenario(s): {', '.join(sorted(chosen - set(SCENARIOS)))}")
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    random.seed(seed)
    os.environ.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
                      AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
                      # The kill scenarios write whole trees first: no step of theirs is still being
                      # written. The live writers set their own window.
                      CKPT_TUI_SETTLE_SECONDS="0")
    print(f"seed {seed}", flush=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ckpt-stress-") as tmp, ExitStack() as servers:
        scratch = Path(tmp)
        # Verdicts of weights files are cached here, for this process and every command it starts: not in
        # the user's own cache.
        os.environ["XDG_CACHE_HOME"] = str(scratch / "cache")
        # Each emulator runs only when a chosen scenario needs it; every process learns it from the environment.
        endpoint = servers.enter_context(moto_server()) if any("s3" in s for s in chosen) else ""
        gcs = servers.enter_context(fake_gcs_server(scratch)) if "offload-kill-gcs" in chosen else ""
        azure = servers.enter_context(azurite(scratch)) if "offload-kill-azure" in chosen else ""
        stress = Stress(scratch)
        disk, other_disk = DiskPlace(scratch / "disk"), DiskPlace(scratch / "other-disk")
        bucket, other_bucket = (S3Place(endpoint), S3Place(endpoint)) if endpoint else (None, None)
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
            ("offload-kill-disk", lambda: offload_kills(stress, "offload-kill-disk", disk, other_disk, BUCKET,
                                                        args.kills)),
            ("offload-kill-s3", lambda: offload_kills(stress, "offload-kill-s3", disk, bucket, BUCKET, args.kills)),
            ("offload-kill-gcs", lambda: offload_kills(stress, "offload-kill-gcs", disk, GCSPlace(gcs), BUCKET,
                                                       args.kills)),
            ("offload-kill-azure", lambda: offload_kills(stress, "offload-kill-azure", disk, AzurePlace(azure),
                                                         BUCKET, args.kills)),
            ("concurrent-disk", lambda: concurrent_prunes(stress, "concurrent-disk", disk, DISK, args.races)),
            ("concurrent-s3", lambda: concurrent_prunes(stress, "concurrent-s3", bucket, BUCKET, args.races)),
            ("writer-disk", lambda: writer_races(stress, "writer-disk", disk, DISK, args.writer_prunes, 0.02)),
            ("writer-s3", lambda: writer_races(stress, "writer-s3", bucket, BUCKET, args.writer_prunes, 0.0)),
        ]
        plan += [(f"live-{layout}", lambda layout=layout: live_writers(stress, scratch, layout, args.live_seconds))
                 for layout in WRITERS]
        for scenario, work in plan:
            if scenario in chosen:
                begin = time.monotonic()
                work()
                print(f"{scenario:<22} done in {time.monotonic() - begin:5.1f}s", flush=True)
    print()
    columns = ("runs", "killed", "steps written", "bad states", "lost steps", "unverified deletions",
               "unclear errors")
    width = {c: max(15, len(c) + 1) for c in columns}
    print(f"{'scenario':<22}" + "".join(f"{c:>{width[c]}}" for c in columns))
    totals: Counter = Counter()
    for scenario in (s for s in SCENARIOS if s in stress.counts):
        counts = stress.counts[scenario]
        totals.update(counts)
        print(f"{scenario:<22}" + "".join(f"{counts.get(c, 0):>{width[c]}}" for c in columns))
    print(f"{'total':<22}" + "".join(f"{totals.get(c, 0):>{width[c]}}" for c in columns))
    live = [s for s in SCENARIOS if s.startswith("live-") and s in stress.counts]
    if live:
        print()
        print(f"{'live writers':<16}" + "".join(f"{c.replace('newest complete ', 'newest '):>{len(c) + 1}}"
                                                 for c in LIVE_COLUMNS))
        for scenario in live:
            counts = stress.counts[scenario]
            print(f"{scenario:<16}" + "".join(f"{counts.get(c, 0):>{len(c) + 1}}" for c in LIVE_COLUMNS))
    for note in stress.notes[:40]:
        print(f"  {note}")
    print(f"({time.monotonic() - started:.0f} s, seed {seed})")
    failures = sum(totals.get(c, 0) for c in ("bad states", "lost steps", "unverified deletions", "unclear errors",
                                              *LIVE_FAILURES))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
