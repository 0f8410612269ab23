"""The run list's first figures: every run's rows and bytes from the store's size-only pass,
shown before any run is read in full; a full read's summary (which judged each step) replaces
them and is never replaced by them."""

from __future__ import annotations

import os
import threading

from app_helpers import RecordingApp, main
from app_scenarios import settle

from ckpt_tui.app.widgets import RunTree, StatusLine
from ckpt_tui.app.widgets.run_tree import RunSummary
from ckpt_tui.formatting import size
from ckpt_tui.stores.local import LocalStore


def listed(store) -> list[tuple[str, str]]:
    return [(p, r) for p in store.list_projects() for r in store.list_runs(p)]


class FullReadsWait(LocalStore):
    """Full reads wait until ``go`` is set: the screen before any run is read in full."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.go = threading.Event()

    def load_run(self, *args, **kwargs):
        self.go.wait(30)
        return super().load_run(*args, **kwargs)


async def test_sizes_are_shown_before_any_run_is_read(demo_base):
    store = FullReadsWait(demo_base)
    app = RecordingApp(store)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            screen = main(app)
            keys = listed(LocalStore(demo_base))
            while set(screen.summaries) != set(keys):
                await pilot.pause(0.01)
            await pilot.pause()
            assert not screen.runs and screen.run is None  # nothing read in full yet
            reference = LocalStore(demo_base)
            loaded = {key: reference.load_run(*key) for key in keys}
            for key, run in loaded.items():  # the same bytes as ls: hard links once
                assert screen.summaries[key] == RunSummary(len(run.checkpoints) + len(run.pending), run.total_bytes,
                                                           None, None)
            status = str(screen.query_one(StatusLine).render())
            total = sum(run.total_bytes for run in loaded.values())
            assert (f"{sum(len(r.checkpoints) for r in loaded.values())} checkpoints, {size(total)} · "
                    f"reading runs 0/{len(keys)}…") in status  # latest and best still to come
            label = str(screen.query_one(RunTree)._leaves[keys[0]].label)
            assert size(loaded[keys[0]].total_bytes) in label and "★" not in label
            store.go.set()
            await settle(pilot)
            for key, run in loaded.items():  # then each full read's own summary: latest and best
                assert screen.summaries[key] == screen._summary(run) and screen.summaries[key].latest is not None
            assert "reading" not in str(screen.query_one(StatusLine).render())
    finally:
        store.go.set()


def half_written(base, run: str = "agent-001") -> tuple[str, str]:
    """The run's newest step cut short (its weights not written yet)."""
    key = ("email-agent", run)
    steps = base / "email-agent" / "models" / run / "checkpoints"
    newest = max(steps.iterdir())
    for path in newest.iterdir():
        if path.name.endswith(".safetensors"):
            path.unlink()
    return key


async def test_a_half_written_step_stays_shown_as_such_once_the_full_read_arrives(demo_base):
    key = half_written(demo_base)
    sized = LocalStore(demo_base).run_size(*key)
    app = RecordingApp(str(demo_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main(app)
        run = LocalStore(demo_base).load_run(*key)
        assert run.pending and run.pending[0].pending is not None  # the full read judged it unfinished
        assert screen.summaries[key] == screen._summary(run)
        assert screen.summaries[key].checkpoints == len(run.checkpoints) == sized.steps - 1
        assert screen.summaries[key].latest == run.latest_step


class SizesLate(LocalStore):
    """The size-only pass of one run ends after that run's full read was shown."""

    def __init__(self, *args, late: tuple[str, str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.late, self.read = late, threading.Event()

    def load_run(self, *args, **kwargs):
        run = super().load_run(*args, **kwargs)
        if (args[0], args[1]) == self.late and kwargs.get("with_metrics", True):
            self.read.set()
        return run

    def run_size(self, project, run):
        if (project, run) == self.late:
            self.read.wait(30)
        return super().run_size(project, run)


async def test_sizes_never_replace_a_full_reads_summary(demo_base):
    key = half_written(demo_base, "agent-002")
    store = SizesLate(demo_base, late=key)
    app = RecordingApp(store)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = main(app)
        tree = screen.query_one(RunTree)
        while screen.listing is None or tree.cursor_node is None or tree.cursor_node.data != screen.current:
            await pilot.pause(0.01)  # listed, the first run under the cursor
        assert key != screen.current and not store.read.is_set()
        tree.select_run(key)  # picked at once: read in full while the size pass waits for it
        await settle(pilot)
        run = LocalStore(demo_base).load_run(*key)
        assert store.read.is_set() and screen.summaries[key] == screen._summary(run)
        assert screen.summaries[key].latest == run.latest_step is not None
        assert screen.summaries[key].checkpoints == len(run.checkpoints)
    assert os.path.isdir(demo_base)


class OneRunFails(LocalStore):
    def load_run(self, project, run, *args, **kwargs):
        if run == "agent-002":
            raise OSError("disk error")
        return super().load_run(project, run, *args, **kwargs)


async def test_a_run_whose_full_read_fails_keeps_its_size_and_is_not_waited_for(demo_base):
    app = RecordingApp(OneRunFails(demo_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = main(app)
        key = ("email-agent", "agent-002")
        assert screen.summaries[key] == RunSummary(*LocalStore(demo_base).run_size(*key), None, None)
        status = str(screen.query_one(StatusLine).render())
        assert "checkpoints" in status and "reading" not in status
