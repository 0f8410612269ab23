"""Forking from the app: where the new run goes is shown before anything is copied."""

from __future__ import annotations

from app_helpers import RecordingApp, go_to_step, main
from app_scenarios import settle

from ckpt_tui.app.screens.fork import ForkScreen
from ckpt_tui.app.widgets import RunTree


def target_text(app) -> str:
    return str(app.screen.query_one("#fork-target").render())


async def test_enter_accepts_the_suggested_name_and_the_destination_is_shown_in_full(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await go_to_step(pilot, 5)
        await pilot.press("f")
        assert isinstance(app.screen, ForkScreen)
        await settle(pilot)
        assert target_text(app) == "into art/demo/models/agent-001-fork"
        assert app.screen.query_one("#fork-history").display  # ART keeps a history file
        await pilot.press("enter")
        await settle(pilot)
        assert (art_base / "demo" / "models" / "agent-001-fork" / "checkpoints" / "0005").is_dir()
        assert main(app).current == ("demo", "agent-001-fork")


async def test_a_fork_into_a_trainer_directory_is_listed_and_selected(hf_fixture):
    app = RecordingApp(str(hf_fixture))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        project = main(app).current[0]
        await pilot.press("f")
        await settle(pilot)
        assert target_text(app) == "into art/full-model-fork"
        # The Trainer keeps its history inside each checkpoint: nothing to copy beside it.
        assert not app.screen.query_one("#fork-history").display
        await pilot.press("enter")
        await settle(pilot)
        assert (hf_fixture / "full-model-fork" / "checkpoint-24").is_dir()
        assert main(app).current == (project, "full-model-fork")
        assert (project, "full-model-fork") in main(app).query_one(RunTree).run_keys
        assert not app.said("outside")


async def test_a_fork_beside_a_run_opened_alone_says_it_lands_outside(hf_fixture):
    app = RecordingApp(str(hf_fixture / "full-model"))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("f")
        await settle(pilot)
        text = target_text(app)
        assert text == f"into {hf_fixture / 'full-model-fork'}\noutside art: it will not be listed here"
        await pilot.press("enter")
        await settle(pilot)
        assert (hf_fixture / "full-model-fork" / "checkpoint-24").is_dir()
        assert app.said("created outside", "warning")


async def test_the_unchecked_history_box_is_empty(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("f")
        box = app.screen.query_one("#fork-history")
        assert "X" not in box._button.plain
        box.value = True
        assert "X" in box._button.plain
        await pilot.press("escape")


async def test_the_fork_dialog_shows_its_buttons_whole_at_80x24(demo_base):
    app = RecordingApp(str(demo_base))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        main(app).table.focus()
        await pilot.press("f")
        await settle(pilot)
        dialog = app.screen.query_one("#fork")
        inside = dialog.region.bottom - 1  # the border's row
        for button in app.screen.query("#fork Button"):
            assert button.region.bottom <= inside, button  # the lower edge too
        assert "into " in str(app.screen.query_one("#fork-target").render())
