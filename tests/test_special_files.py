"""FIFOs, oversized and otherwise unreadable side files: never a hang, never read as if absent.

Commands run in a child process: a FIFO opened for reading blocks until a writer comes,
so a command that hangs is one that does not end within ``HANG``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from layouts.layout_trees import megatron_save

from ckpt_tui.core import Policy, plan_run
from ckpt_tui.core.errors import NotRead
from ckpt_tui.stores.backends.base import _lines
from ckpt_tui.stores.backends.local import LocalBackend
from ckpt_tui.stores.local import LocalStore

ROOT = Path(__file__).parent.parent
HANG = 30  # seconds: far beyond what any of these commands takes
HF_RUN = "lora-adapter"


def ckpt(*args: object) -> subprocess.CompletedProcess:
    """``python -m ckpt_tui ARGS``; a hang fails the test instead of blocking it."""
    command = [sys.executable, "-m", "ckpt_tui", *map(str, args)]
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=HANG, stdin=subprocess.DEVNULL,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    except subprocess.TimeoutExpired:
        pytest.fail(f"hung: {' '.join(command[1:])}")


def fifo_instead(path: Path) -> Path:
    path.unlink(missing_ok=True)
    os.mkfifo(path)
    return path


def steps(folder: Path, prefix: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(prefix))


# Case -> (the tree, from the fixtures; the side file; the folder holding the steps; their names' start).
SIDE_FIFOS = {
    "art history.jsonl": (lambda get, tmp: get("art_base"), "demo/models/agent-001/history.jsonl",
                          "demo/models/agent-001/checkpoints", "0"),
    "hf trainer_state.json": (lambda get, tmp: get("hf_fixture"), f"{HF_RUN}/checkpoint-30/trainer_state.json",
                              HF_RUN, "checkpoint-"),
    "deepspeed latest": (lambda get, tmp: get("trainer_tree")("real-trainers/deepspeed-zero1")[0], "latest", "",
                         "global_step"),
    "megatron tracker": (lambda get, tmp: megatron_save(tmp / "mg" / "run").parent,
                         "run/latest_checkpointed_iteration.txt", "run", "iter_"),
}


@pytest.mark.parametrize("case", list(SIDE_FIFOS))
def test_a_fifo_side_file_hangs_nothing_and_refuses_its_run(request, tmp_path, case):
    make, fifo, folder, prefix = SIDE_FIFOS[case]
    base = make(request.getfixturevalue, tmp_path)
    fifo_instead(base / fifo)
    before = steps(base / folder, prefix)
    listed = ckpt("ls", base, "--json")
    assert "FIFO" in listed.stdout + listed.stderr, listed
    ckpt("path", base, "--latest")
    pruned = ckpt("prune", base, "--keep", "latest", "--metric", "none", "--yes")
    assert pruned.returncode == 2 and "FIFO" in pruned.stderr, pruned
    assert steps(base / folder, prefix) == before


def test_a_fifo_policy_file_hangs_nothing_and_deletes_nothing(hf_fixture):
    base = hf_fixture
    fifo_instead(base / ".ckpt-tui.toml")
    before = steps(base / HF_RUN, "checkpoint-")
    for args in (["ls"], ["path", "-r", HF_RUN, "--latest"]):
        ckpt(*args[:1], base, *args[1:])
    pruned = ckpt("prune", base, "--keep", "latest", "--metric", "none", "--yes")
    assert pruned.returncode != 0 and "FIFO" in pruned.stderr, pruned
    assert steps(base / HF_RUN, "checkpoint-") == before


def test_the_policy_file_read_tells_absent_from_there_but_not_read(tmp_path):
    """What the policy reader builds on: None for no file, an error with the reason otherwise."""
    store = LocalStore(tmp_path)
    assert store.read_location_file(".ckpt-tui.toml") is None
    os.mkfifo(tmp_path / ".ckpt-tui.toml")
    with pytest.raises(NotRead, match="FIFO"):
        store.read_location_file(".ckpt-tui.toml")
    os.unlink(tmp_path / ".ckpt-tui.toml")
    (tmp_path / ".ckpt-tui.toml").mkdir()
    with pytest.raises(NotRead, match="folder"):
        store.read_location_file(".ckpt-tui.toml")


def test_the_local_backend_never_opens_a_fifo(tmp_path):
    """Every read path: whole reads, streams, lines, walks and usage (this test would hang otherwise)."""
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "file").write_bytes(b"x")
    backend = LocalBackend(tmp_path)
    for read in (backend.read_file, backend.read_text, backend.open, backend.read_lines):
        with pytest.raises(NotRead, match="FIFO"):
            read("pipe")
    assert backend.read_bytes("pipe") is None  # for markers of ours: no marker
    assert [f.path for f in backend.walk("")] == ["file"]
    assert backend.usage("").files == 1 and backend.usage("pipe").files == 0


def test_an_event_file_that_is_a_fifo_is_skipped(tmp_path):
    from ckpt_tui.stores.tensorboard import read_event_file

    os.mkfifo(tmp_path / "events.out.tfevents.1.host")
    assert "FIFO" in read_event_file(LocalBackend(tmp_path), "events.out.tfevents.1.host").problem


# -- files over the side-file limit ------------------------------------------------------------
def big_trainer_state(path: Path, best: str, entries: int) -> None:
    """A long run's ``trainer_state.json``: its ``log_history`` makes it tens of megabytes."""
    state = json.loads(path.read_text())
    padding = "x" * 1000  # a long log in few records: the test is about size, not record count
    log = [{"loss": 1 + 1 / (i + 1), "step": i, "note": padding} for i in range(entries)]
    state.update(best_model_checkpoint=best, log_history=log)
    path.write_text(json.dumps(state))


@pytest.mark.slow
def test_a_trainer_state_over_64_mb_is_read_and_the_trainers_best_kept(hf_fixture):
    base = hf_fixture
    big_trainer_state(base / HF_RUN / "checkpoint-30" / "trainer_state.json", f"{HF_RUN}/checkpoint-15", 70_000)
    assert (base / HF_RUN / "checkpoint-30" / "trainer_state.json").stat().st_size > 66_000_000
    pruned = ckpt("prune", base, "--keep", "latest", "--metric", "none", "--yes")
    assert pruned.returncode == 0, pruned
    assert steps(base / HF_RUN, "checkpoint-") == ["checkpoint-15", "checkpoint-30"]


def test_a_trainer_state_that_cannot_be_read_whole_refuses_the_run(hf_fixture):
    base = hf_fixture
    state = base / HF_RUN / "checkpoint-30" / "trainer_state.json"
    with open(state, "r+b") as handle:
        handle.truncate(1024**3 + 1)  # sparse: over the bound without writing a gigabyte
    before = steps(base / HF_RUN, "checkpoint-")
    pruned = ckpt("prune", base, "--keep", "latest", "--metric", "none", "--yes")
    assert pruned.returncode == 2 and "larger than" in pruned.stderr, pruned
    assert steps(base / HF_RUN, "checkpoint-") == before


@pytest.mark.slow
def test_a_history_over_64_mb_is_read_line_by_line(art_base):
    history = art_base / "demo" / "models" / "agent-001" / "history.jsonl"
    padding = "x" * 1000
    with open(history, "a") as handle:
        for i in range(70_000):  # 70 MB of records for a step no checkpoint has
            handle.write(json.dumps({"step": 10_000, "val/reward": 0.5, "note": padding}) + "\n")
    assert history.stat().st_size > 66_000_000
    run = LocalStore(art_base).load_run("demo", "agent-001")
    assert "val/reward" in run.metrics.names() and not run.refusal
    assert plan_run(run, Policy.parse("best,latest", "val/reward", "max")).refused is None


def test_a_line_longer_than_the_limit_is_cut_and_the_next_lines_are_whole():
    import io

    stream = io.BytesIO(b'{"step": 1}\n' + b"y" * 5000 + b'\n{"step": 2}\nlast')
    assert list(_lines(stream, longest=100)) == [b'{"step": 1}', b"y" * 100, b'{"step": 2}', b"last"]


def test_a_fifo_named_like_a_step_is_noted_and_never_opened(hf_fixture):
    base = hf_fixture
    os.mkfifo(base / HF_RUN / "checkpoint-40")
    listed = ckpt("ls", base, "--json")
    notes = [n for r in json.loads(listed.stdout)["runs"] for n in r["notes"]]
    assert any("checkpoint-40 is neither a file nor a folder" in n for n in notes), listed
