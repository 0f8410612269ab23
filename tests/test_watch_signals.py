"""``watch`` answers SIGTERM whatever its reads do, and a stop mid-delete leaves nothing behind.

Reads are made to block with a hook in the child process that waits on a pipe the test holds:
the failure condition of a hang is a timeout, never a sleep.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from watch_helpers import ROOT, WatchProcess

from test_watch import add_art_step, art_run, art_steps, leftovers

HANG = 30  # seconds: far beyond what stopping takes

# Runs ``ckpt-tui watch`` with one backend method made to wait, at its first matching call,
# for a byte on the pipe GATE_FD (announced on stderr as "HOOKED").
HOOKED_WATCH = """
import os, sys
import ckpt_tui.stores.backends.local as local
import ckpt_tui.stores.tree as tree

owner = {owner}
original = getattr(owner, {method!r})
waited = []

def hooked(self, *args, **kwargs):
    if not waited and {condition}:
        waited.append(True)
        print("HOOKED", file=sys.stderr, flush=True)
        os.read(int(os.environ["GATE_FD"]), 1)
    return original(self, *args, **kwargs)

setattr(owner, {method!r}, hooked)
from ckpt_tui.cli import main
sys.exit(main(["watch", *sys.argv[1:], "--json"]))
"""


class HookedWatch:
    def __init__(self, base: Path, owner: str, method: str, condition: str, *args: str) -> None:
        self.gate_read, self.gate_write = os.pipe()
        code = HOOKED_WATCH.format(owner=owner, method=method, condition=condition)
        self.process = subprocess.Popen(
            [sys.executable, "-c", code, str(base), "--interval", "0.2", *args], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, pass_fds=(self.gate_read,),
            env={**os.environ, "PYTHONPATH": str(ROOT), "GATE_FD": str(self.gate_read)})
        self.stderr: list[str] = []

    def wait_for_hook(self) -> None:
        for line in self.process.stderr:
            self.stderr.append(line.rstrip("\n"))
            if line.startswith("HOOKED"):
                return
        raise AssertionError(f"watch ended before the hook: {self.stderr}")

    def release(self) -> None:
        os.write(self.gate_write, b"x")

    def finish(self) -> tuple[int, list[dict], list[str]]:
        """Exit code, events and stderr; a watch that does not exit fails the test."""
        try:
            out, err = self.process.communicate(timeout=HANG)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
            pytest.fail(f"watch did not exit within {HANG} s of SIGTERM: {self.stderr}")
        finally:
            os.close(self.gate_read)
            os.close(self.gate_write)
        return self.process.returncode, [json.loads(line) for line in out.splitlines()], \
            self.stderr + err.splitlines()


def test_sigterm_is_answered_while_a_read_never_returns(tmp_path):
    art_run(tmp_path, "agent", [0.1, 0.9, 0.2])
    watch = HookedWatch(tmp_path, "tree.TreeStore", "load_run", "True")
    watch.wait_for_hook()  # the first poll's read now waits for ever
    watch.process.send_signal(signal.SIGTERM)
    code, _, err = watch.finish()
    assert code == 0 and err[-1] == "stopped; a read of the storage had not returned", err
    assert art_steps(tmp_path / "demo/models/agent") == {0, 1, 2}


def test_sigterm_mid_delete_leaves_no_step_aside(tmp_path):
    root = art_run(tmp_path, "agent", [0.1, 0.9, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
    watch = HookedWatch(tmp_path, "local.LocalBackend", "delete_tree", "'.deleting-' in args[0]")
    watch.wait_for_hook()  # every step to delete is renamed aside; the first is about to go
    watch.process.send_signal(signal.SIGTERM)
    watch.release()
    code, events, err = watch.finish()
    assert code == 0 and err[-1] == "stopped", err
    assert leftovers(root) == []  # what was not reached went back under its name
    deleted = {e["step"] for e in events if e["action"] == "deleted"}
    assert 0 in deleted and art_steps(root) == {0, 1, 2, 3, 4, 5, 6, 7} - deleted
    assert {1, 7} <= art_steps(root)


def test_a_fifo_appearing_under_watch_neither_stops_its_polls_nor_its_signals(tmp_path):
    root = art_run(tmp_path, "agent", [0.1, 0.9, 0.2])
    with WatchProcess(tmp_path, "--interval", "0.2") as watch:
        watch.wait_for(lambda: watch.actions("deleted"), "a first deletion")
        (root / "history.jsonl").unlink()
        os.mkfifo(root / "history.jsonl")
        add_art_step(root, 3, None)
        watch.wait_for(lambda: any("FIFO" in " ".join(e["reasons"]) for e in watch.actions("refused")),
                       "the run refused for its FIFO")
        assert watch.terminate(HANG) == 0
    assert watch.stderr[-1] == "stopped" and art_steps(root) >= {1, 3}


def test_sigterm_while_watch_starts_stops_it_cleanly(tmp_path):
    art_run(tmp_path, "agent", [0.1, 0.9, 0.2])
    watch = HookedWatch(tmp_path, "tree.TreeStore", "list_projects", "True")
    watch.wait_for_hook()  # reading the location before the first poll
    watch.process.send_signal(signal.SIGTERM)
    code, events, err = watch.finish()
    assert code == 0 and err[-1] == "stopped" and events == [], err
    assert art_steps(tmp_path / "demo/models/agent") == {0, 1, 2}
