"""Screens shown by the snapshot tests and by scripts/screenshots.py, built the same way."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timezone
from pathlib import Path

from textual.pilot import Pilot

from pilot_helpers import settle  # noqa: F401  (re-exported for the app tests)

from ckpt_tui.app.app import CkptApp
from ckpt_tui.core.retention import Policy
from ckpt_tui.core.store import Space
from ckpt_tui.demo import DEMO_EPOCH, build_demo
from ckpt_tui.stores.local import LocalStore

SIZE = (120, 36)
FIXTURES = Path(__file__).parent.parent / "fixtures"


@dataclass(frozen=True)
class Scenario:
    keys: tuple[str, ...]
    size: tuple[int, int] = SIZE
    failing_deletes: bool = False
    about: str = ""
    tree: str = "demo"  # or "empty", "hf"
    keep: str = "best,latest"
    smoothing: float | None = None
    full: str | None = None  # steps that keep their training state; the other kept ones are slimmed
    loading: bool = False  # metrics never arrive: the screen while they load


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
    "narrow_main": Scenario((), size=(80, 24), about="the main screen at 80x24: latest and best stay in view"),
    "project_preview": Scenario(("V",), about="a project preview: what each run frees, beside its name"),
    "marked": Scenario(("tab", "up", "up", "up", "space", "up", "up", "space", "v"), keep="best,latest,last:10",
                       about="steps marked by hand (Space) join the preview as DEL marked"),
    "chart": Scenario(("tab", *["up"] * 40), smoothing=0.3,
                      about="the chart: best starred, highlighted step, smoothed curve"),
    "hf": Scenario((), tree="hf", about="a Hugging Face Trainer directory: a metric it logs, picked"),
    "slim": Scenario(("v",), tree="hf", keep="best,latest,last:3", full="last:1",
                     about="a preview that slims kept steps to their weights (SLIM) and deletes others"),
    "rules": Scenario(("u",), about="the rule chooser: rules, presets, which steps keep full state"),
    "empty": Scenario((), tree="empty", about="an empty location: what was searched, where to look"),
    "loading": Scenario((), loading=True, about="steps shown, metrics still loading"),
    "activity": Scenario(("v", "x", "tab", "enter", "L"), failing_deletes=True,
                         about="the activity log: what was deleted, slimmed, forked and saved, and what failed"),
    "disk": Scenario(("v", "D"), tree="hf", keep="best,latest,last:3", full="last:1",
                     about="the highlighted step's files: sizes, what each is, free space before and after"),
    "compare": Scenario(("C", "right_square_bracket", "comma", "comma"),
                        about="compare runs: a project's runs in one chart, smoothed, a cursor readout"),
    "compare_selected": Scenario(("space", *["down"] * 4, "space", "C", "p"),
                                 about="compare runs selected in the run list (Space), across projects; "
                                       "the best across them starred and pinned (p)"),
    "mark_where": Scenario(("M", *"val/reward < 0.5"),
                           about="marking by condition: how many steps it marks, which stay and why"),
    "marked_where": Scenario(("M", *"val/reward < 0.5", "enter", "v"),
                             about="steps marked by condition join the preview as DEL marked"),
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


class MetricsNeverArrive(LocalStore):
    """Metrics wait until the app closes: the screen while a run is still loading."""

    closed = threading.Event()

    def read_metrics(self, project, run):
        self.closed.wait(30)
        return super().read_metrics(project, run)


class ScenarioApp(CkptApp):
    @staticmethod
    def clock() -> float:
        return DEMO_EPOCH.timestamp()

    @staticmethod
    def free_space() -> Space:
        return Space(41 * 10**9)  # the machine's own figure would change every snapshot

    def on_unmount(self) -> None:
        MetricsNeverArrive.closed.set()


def build_scenario_tree(path: Path) -> Path:
    """The demo tree, and beside it an empty directory and a Trainer's output, all at fixed times."""
    with utc_clock():
        base = build_demo(path)
    (path.parent / "empty").mkdir(exist_ok=True)
    hf = path.parent / "hf-trainer"
    if not hf.exists():
        shutil.copytree(FIXTURES / "hf-trainer", hf)
        stamp = DEMO_EPOCH.timestamp()
        for root, dirs, files in os.walk(hf):
            for name in dirs + files:
                os.utime(os.path.join(root, name), (stamp, stamp))
    return base


def make_app(base: Path, scenario: Scenario | None = None) -> CkptApp:
    scenario = scenario or Scenario(())
    location = {"demo": base, "empty": base.parent / "empty", "hf": base.parent / "hf-trainer"}[scenario.tree]
    if scenario.failing_deletes:
        source = FailingDeletes(location)
    elif scenario.loading:
        MetricsNeverArrive.closed.clear()
        source = MetricsNeverArrive(location)
    else:
        source = str(location)
    app = ScenarioApp(source, location_label=scenario.tree, timezone=timezone.utc, cursor_blink=False, live=False,
                      policy=Policy.parse(scenario.keep, smoothing=scenario.smoothing, full=scenario.full))
    app.animation_level = "none"  # the loading indicator is drawn still
    return app


async def play(pilot: Pilot, scenario: Scenario) -> None:
    if scenario.loading:
        while not (tables := pilot.app.screen.query("CheckpointTable")) or not tables.first().rows:
            await pilot.pause()
        await pilot.pause()
        return
    await settle(pilot)
    for key in scenario.keys:
        await pilot.press(key)
        await settle(pilot)
