"""The app on a Hugging Face Trainer output directory: layout, trainer's best, saves in progress."""

from __future__ import annotations

import contextlib
import shutil
from datetime import timezone
from pathlib import Path

from pilot_helpers import settle
from rich.console import Console

from ckpt_tui.app.app import CkptApp
from ckpt_tui.core import Pending
from ckpt_tui.core.retention import Policy


@contextlib.asynccontextmanager
async def app_on_run(location: Path, pair: tuple[str, str], metric: str):
    """The app on ``location``, the run ``pair`` open, the best by ``metric`` (lowest)."""
    app = CkptApp(str(location), location_label=location.name, timezone=timezone.utc, cursor_blink=False,
                  policy=Policy.parse("latest", metric=metric, mode="min"))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        app.screen.open_run(pair)
        await settle(pilot)
        yield pilot, app.screen


async def test_trainer_runs_show_their_best_and_saves_in_progress(hf_fixture):
    run_dir = hf_fixture / "lora-adapter"
    shutil.copytree(run_dir / "checkpoint-30", run_dir / "tmp-checkpoint-35")
    async with app_on_run(hf_fixture, ("hf-trainer", "lora-adapter"), "eval_loss") as (pilot, screen):
        rows = screen.table.rows
        assert [c.step for c in rows] == [5, 10, 15, 20, 25, 30, 35]
        assert [(c.name, c.pending) for c in rows if not c.complete] == [("tmp-checkpoint-35", Pending.SAVE_IN_PROGRESS)]
        assert screen.table.best_step == 10  # the Trainer's own best_model_checkpoint
        await pilot.press("v")
        plan = screen.plans[("hf-trainer", "lora-adapter")]
        assert "trainer's best" in plan.reasons()[10]
        assert plan.delete_steps == {5, 15, 20, 25}


async def test_checkpoints_sharing_a_step_are_named_and_evidence_shown(trainer_tree):
    root, truth = trainer_tree("real-trainers/nemo2")
    async with app_on_run(root, ("default", "2025-01-01_00-00-00"), "val_loss") as (pilot, screen):
        table = screen.table
        cells = {c.name: table._cells(c)[1].strip() for c in table.rows}
        last = truth["last_entry"]
        assert cells[last].endswith("-last)") and cells[last].startswith("39 (…")
        assert cells[last.removesuffix("-last")].startswith("39 (…") and not cells[last.removesuffix("-last")].endswith("-last)")
        assert cells["model_name=0--val_loss=2.08-step=19-consumed_samples=160.0"] == "19"  # alone at its step
        table.cursor_row = [c.name for c in table.rows].index(last)
        await settle(pilot)
        console = Console(width=300, record=True)
        console.print(screen.query_one("#details-body").content)
        details = console.export_text()
        assert "no -unfinished marker" in details and last in details
