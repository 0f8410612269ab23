"""Loading runs while another thread deletes their steps, as a second prune would."""

from __future__ import annotations

import threading
from collections.abc import Callable

from ckpt_tui.core import Pending

RUN = ("demo", "agent-001")


def load_while_deleting(store, steps: list[int], delete_step: Callable[[int], None]) -> list:
    """Load the run again and again while ``delete_step`` removes ``steps`` one after another in
    another thread; every load's run (a load that raised fails the test)."""
    finished = threading.Event()
    errors: list[BaseException] = []

    def deleter() -> None:
        try:
            for step in steps:
                delete_step(step)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            finished.set()

    thread = threading.Thread(target=deleter)
    thread.start()
    runs = []
    while not finished.is_set() or not runs:
        runs.append(store.load_run(*RUN))
    thread.join()
    assert errors == []
    runs.append(store.load_run(*RUN))
    return runs


def check_loads(runs: list, steps: list[int], kept: list[int]) -> None:
    """Every load saw each step whole or not at all, never unreadable; the last one only ``kept``."""
    for run in runs:
        assert [c for c in run.pending if c.pending is Pending.UNREADABLE] == []
        assert set(c.step for c in run.checkpoints) <= set(steps) | set(kept)
    assert [c.step for c in runs[-1].checkpoints] == kept
