"""Screens shown by the snapshot tests and by scripts/screenshots.py, built the same way."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timezone
from pathlib import Path

from textual.pilot import Pilot

from pilot_helpers import settle  # noqa: F401  (re-exported for the app tests)

from ckpt_tui.app.app import CkptApp
from ckpt_tui.demo import build_demo
from ckpt_tui.stores.local import LocalStore

SIZE = (120, 36)


@dataclass(frozen=True)
class Scenario:
    keys: tuple[str, ...]
    size: tuple[int, int] = SIZE
    failing_deletes: bool = False
    about: str = ""


SCENARIOS = {
    "main": Scenario((), about="projects, runs, the latest steps, the plot and the details"),
    "metric_picker": Scenario(("m",), about="choosing the metric that defines the best step"),
    "preview": Scenario(("v",), about="what best + latest would delete in one run"),
    "confirm": Scenario(("v", "x"), about="the confirmation, focus on Cancel"),
    "fork": Scenario(("f", *"agent-001-b"), about="forking the highlighted step, name checked as typed"),
    "help": Scenario(("question_mark",), about="every key"),
    "error": Scenario(("v", "x", "tab", "enter"), failing_deletes=True,
                      about="a deletion the storage refuses: nothing lost, the reason shown"),
    "narrow": Scenario(("V",), size=(80, 24), about="a project preview at 80x24"),
}


class FailingDeletes(LocalStore):
    """A local store whose deletions fail as on a read-only mount."""

    def delete_checkpoints(self, run, checkpoints, done=None, should_cancel=None):
        outcome = {}
        for ckpt in checkpoints:
            outcome[ckpt.key] = f"cannot delete step {ckpt.step} of {run.project}/{run.name}: Permission denied"
            if done is not None:
                done(ckpt)
        return outcome


@contextmanager
def utc_clock() -> Iterator[None]:
    """The demo stamps its files from a naive clock: build it as a UTC machine would."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = saved
        time.tzset()


def build_scenario_tree(path: Path) -> Path:
    with utc_clock():
        return build_demo(path)


def make_app(base: Path, scenario: Scenario | None = None) -> CkptApp:
    source = FailingDeletes(base) if scenario and scenario.failing_deletes else str(base)
    return CkptApp(source, location_label="demo", timezone=timezone.utc, cursor_blink=False)


async def play(pilot: Pilot, keys: tuple[str, ...]) -> None:
    await settle(pilot)
    for key in keys:
        await pilot.press(key)
        await settle(pilot)
