"""For watch's tests: a trainer saving checkpoints while ``ckpt-tui watch`` runs beside it."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).parent.parent
# Seconds between two saves: the trainer's own pace, never something a test asserts on.
SAVE_PACE = 0.03


def eval_losses(count: int, seed: int) -> list[float]:
    """A noisy, mostly falling eval loss: a new best now and then, no two values equal."""
    rng = random.Random(seed)
    values, loss = [], 2.0
    while len(values) < count:
        loss = max(0.01, loss * rng.uniform(0.85, 1.12))
        if loss not in values:
            values.append(round(loss, 6))
    return values


def best_step(losses: list[float], steps: list[int]) -> int:
    """The step with the lowest loss among ``steps`` (step ``n`` logged ``losses[n - 1]``)."""
    return min(steps, key=lambda s: losses[s - 1])


class Trainer(threading.Thread):
    """Saves as the Hugging Face Trainer does: ``tmp-checkpoint-N`` written aside, then renamed
    to ``checkpoint-N``, each with the whole eval log in its ``trainer_state.json``."""

    def __init__(self, save: Callable[[int, dict[str, bytes]], None], losses: list[float]) -> None:
        super().__init__(daemon=True)
        self.save, self.losses = save, losses
        self.published: list[int] = []
        self.lock = threading.Lock()
        self.error: BaseException | None = None

    def run(self) -> None:
        log = []
        try:
            for step, loss in enumerate(self.losses, 1):
                log.append({"step": step, "epoch": step / 10, "eval_loss": loss})
                state = {"global_step": step, "log_history": log, "best_model_checkpoint": None}
                self.save(step, {"model.safetensors": bytes([step % 256]) * 512,
                                 "trainer_state.json": json.dumps(state).encode()})
                with self.lock:
                    self.published.append(step)
                time.sleep(SAVE_PACE)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def snapshot(self) -> list[int]:
        with self.lock:
            return list(self.published)


def save_on_disk(out: Path) -> Callable[[int, dict[str, bytes]], None]:
    def save(step: int, files: dict[str, bytes]) -> None:
        aside = out / f"tmp-checkpoint-{step}"
        aside.mkdir(parents=True)
        for name, data in files.items():
            (aside / name).write_bytes(data)
        os.rename(aside, out / f"checkpoint-{step}")

    return save


def steps_on_disk(out: Path) -> set[int]:
    return {int(p.name.removeprefix("checkpoint-")) for p in out.iterdir() if p.name.startswith("checkpoint-")}


def check_latest_and_best_present(trainer: Trainer, present: Callable[[], set[int]]) -> bool:
    """Whether the latest and best saved steps are there; False when a save came in meanwhile
    (then the listing cannot be judged)."""
    before = trainer.snapshot()
    found = present()
    if not before or trainer.snapshot() != before or max(found, default=0) > before[-1]:
        return False  # a newer step listed: its save ended before the trainer noted it
    assert before[-1] in found, f"latest step {before[-1]} missing from {sorted(found)}"
    best = best_step(trainer.losses, before)
    assert best in found, f"best step {best} missing from {sorted(found)}"
    return True


class WatchProcess:
    """``python -m ckpt_tui watch ... --json`` with its events and stderr collected as they come."""

    def __init__(self, *args: object) -> None:
        command = [sys.executable, "-m", "ckpt_tui", "watch", *map(str, args), "--json"]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        env={**os.environ, "PYTHONPATH": str(ROOT)})
        self.events: list[dict] = []
        self.stderr: list[str] = []
        self.readers = [threading.Thread(target=self._read, args=(self.process.stdout, self._event), daemon=True),
                        threading.Thread(target=self._read, args=(self.process.stderr, self.stderr.append),
                                         daemon=True)]
        for reader in self.readers:
            reader.start()

    def _event(self, line: str) -> None:
        self.events.append(json.loads(line))

    @staticmethod
    def _read(stream, take: Callable[[str], None]) -> None:
        for line in stream:
            take(line.rstrip("\n"))

    def actions(self, action: str) -> list[dict]:
        return [e for e in list(self.events) if e["action"] == action]

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
        """Until ``condition()``; fails after ``timeout`` seconds or if watch exits."""
        deadline = time.monotonic() + timeout
        while not condition():
            if self.process.poll() is not None:
                raise AssertionError(f"watch exited ({self.process.returncode}) while waiting for {what}: "
                                     f"{self.stderr}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} within {timeout} s; events {self.events[-5:]}, "
                                     f"stderr {self.stderr}")
            time.sleep(0.01)

    def started(self) -> WatchProcess:
        self.wait_for(lambda: any(line.startswith("watching ") for line in self.stderr), "start")
        return self

    def terminate(self, timeout: float = 10) -> int:
        """SIGTERM, then the exit code once it has exited (and its output is read)."""
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        for reader in self.readers:
            reader.join(timeout)
        return code

    def __enter__(self) -> WatchProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


# -- beside a trainer, in a bucket ----------------------------------------------------------
def save_in_bucket(location) -> Callable[[int, dict[str, bytes]], None]:
    """A bucket has no rename: the files go to ``tmp-checkpoint-N/``, then to ``checkpoint-N/``
    (state last), then the staging copy goes. ``location``: ``put``, ``delete`` (tests/s3/s3_servers.py,
    tests/clouds/gcs_servers.py)."""
    def save(step: int, files: dict[str, bytes]) -> None:
        for folder in (f"tmp-checkpoint-{step}", f"checkpoint-{step}"):
            for name, data in files.items():
                location.put(f"{folder}/{name}", data)
        for name in files:
            location.delete(f"tmp-checkpoint-{step}/{name}")

    return save


def steps_in_bucket(location) -> set[int]:
    return {int(key.split("/")[0].removeprefix("checkpoint-")) for key in location.keys()
            if key.startswith("checkpoint-")}


def check_watch_keeps_pace(location, *options: str, count: int = 16, seed: int = 5) -> None:
    """``watch`` on ``location`` while a trainer saves there: latest and best are always present,
    every other step is deleted and reported, and nothing of ours (markers, staging) is left."""
    losses = eval_losses(count, seed=seed)
    trainer = Trainer(save_in_bucket(location), losses)
    with WatchProcess(location.url, *options, "--metric", "eval_loss", "--interval", "0.2") as watch:
        watch.started()
        trainer.start()
        while trainer.is_alive():
            check_latest_and_best_present(trainer, lambda: steps_in_bucket(location))
            time.sleep(0.02)  # leave an in-process server some time to answer the trainer
        assert trainer.error is None, trainer.error
        steps = list(range(1, len(losses) + 1))
        expected = {best_step(losses, steps), steps[-1]}
        watch.wait_for(lambda: {e["step"] for e in watch.actions("deleted")} == set(steps) - expected,
                       "every deletion reported")
        assert watch.terminate() == 0
    assert steps_in_bucket(location) == expected
    assert not watch.actions("error") and not watch.actions("failed")
    assert not [k for k in location.keys() if not k.startswith("checkpoint-")]  # no marker, no staging left
