"""The app on a Hugging Face Trainer output directory: layout, trainer's best, saves in progress."""

from __future__ import annotations

import shutil
from datetime import timezone

from pilot_helpers import settle

from ckpt_tui.app.app import CkptApp
from ckpt_tui.core.retention import Policy


async def test_trainer_runs_show_their_best_and_saves_in_progress(hf_fixture):
    run_dir = hf_fixture / "lora-adapter"
    shutil.copytree(run_dir / "checkpoint-30", run_dir / "tmp-checkpoint-35")
    app = CkptApp(str(hf_fixture), location_label="hf", timezone=timezone.utc, cursor_blink=False,
                  policy=Policy.parse("latest", metric="eval_loss", mode="min"))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = app.screen
        screen.open_run(("hf-trainer", "lora-adapter"))
        await settle(pilot)
        rows = screen.table.rows
        assert [c.step for c in rows] == [5, 10, 15, 20, 25, 30, 35]
        assert [(c.name, c.note) for c in rows if not c.complete] == [("tmp-checkpoint-35", "save in progress")]
        assert screen.table.best_step == 10  # the Trainer's own best_model_checkpoint
        await pilot.press("v")
        plan = screen.plans[("hf-trainer", "lora-adapter")]
        assert "trainer's best" in plan.reasons()[10]
        assert plan.delete_steps == {5, 15, 20, 25}
