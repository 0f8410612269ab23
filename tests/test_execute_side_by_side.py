"""Plans of several runs executed side by side (a bucket's): a fault in one, or Ctrl-C, stops
the others after their checkpoint in progress and starts no more."""

from __future__ import annotations

import _thread
import os
import signal
import threading
from types import SimpleNamespace

import pytest

from ckpt_tui.core import execute

WAIT = 10.0  # bounds a wait that a stop ends at once: reached only when nothing stops the plan


def side_by_side_plans(monkeypatch, fail) -> tuple[list, dict, threading.Barrier]:
    """Six plans on a store that executes four at a time. Each running plan waits until it is
    told to stop; ``fail(plan)`` runs once the first four have all started."""
    plans = [SimpleNamespace(project="demo", run=f"run-{i}", delete=[], slim=[]) for i in range(6)]
    seen: dict[str, str] = {}
    started = threading.Barrier(4)

    def fake_execute_plan(store, plan, progress, should_cancel):
        seen[plan.run] = "started"
        started.wait(WAIT)
        fail(plan)
        asked = threading.Event()  # polled: a stop is asked for through should_cancel
        for _ in range(int(WAIT / 0.01)):
            if should_cancel is not None and should_cancel():
                asked.set()
                break
            asked.wait(0.01)
        seen[plan.run] = "stopped" if asked.is_set() else "ran to the end"
        return SimpleNamespace(cancelled=True)

    monkeypatch.setattr(execute, "execute_plan", fake_execute_plan)
    return plans, seen, started


def test_a_fault_in_one_run_stops_the_others_and_is_raised(monkeypatch):
    def fail(plan):
        if plan.run == "run-2":
            raise RuntimeError("a fault in run-2")

    plans, seen, _ = side_by_side_plans(monkeypatch, fail)
    store = SimpleNamespace(plans_side_by_side=4)
    with pytest.raises(RuntimeError, match="a fault in run-2"):
        execute.execute_plans(store, plans)
    assert seen == {"run-0": "stopped", "run-1": "stopped", "run-2": "started", "run-3": "stopped"}


def test_ctrl_c_stops_every_run_at_once(monkeypatch):
    def interrupt(plan):
        if plan.run == "run-0":
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C: KeyboardInterrupt in the main thread

    plans, seen, _ = side_by_side_plans(monkeypatch, interrupt)
    store = SimpleNamespace(plans_side_by_side=4)
    with pytest.raises(KeyboardInterrupt):
        execute.execute_plans(store, plans)
    assert seen == {f"run-{i}": "stopped" for i in range(4)}


def test_ctrl_c_handled_by_a_plans_thread_stops_every_run_at_once(monkeypatch):
    """The kernel may hand Ctrl-C to any thread; Python raises it in the main thread, but only once
    that thread runs again: one that waited for the plans to end let them all run to the end."""
    def interrupt(plan):
        if plan.run == "run-0":
            _thread.interrupt_main()  # Ctrl-C's handler due in the main thread, which nothing wakes

    plans, seen, _ = side_by_side_plans(monkeypatch, interrupt)
    store = SimpleNamespace(plans_side_by_side=4)
    with pytest.raises(KeyboardInterrupt):
        execute.execute_plans(store, plans)
    assert seen == {f"run-{i}": "stopped" for i in range(4)}
