"""The app on an Azure location (Azurite): browse, preview, delete and fork, key by key."""

from __future__ import annotations

from datetime import timezone

from pilot_helpers import settle

from ckpt_tui.app.app import CkptApp
from ckpt_tui.app.screens.confirm import ConfirmDelete
from ckpt_tui.app.screens.fork import ForkScreen


def steps(location, run: str) -> set[str]:
    return {key.split("/")[4] for key in location.keys(f"demo/models/{run}/checkpoints/")}


async def test_browse_preview_delete_and_fork_in_a_container(azure_art):
    app = CkptApp(azure_art.url, location_label="azure", timezone=timezone.utc, cursor_blink=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen.current == ("demo", "agent-001")
        assert [c.step for c in screen.table.rows] == list(range(12)) and screen.table.best_step == 10
        assert screen.table.highlighted.location.startswith(azure_art.url)
        await pilot.press("v")
        assert screen.plans[("demo", "agent-001")].delete_steps == set(range(10))
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDelete)
        await pilot.press("tab", "enter")
        await settle(pilot)
        assert steps(azure_art, "agent-001") == {"0010", "0011"}
        assert len(steps(azure_art, "agent-002")) == 6
        await pilot.press("f")
        assert isinstance(app.screen, ForkScreen)
        await pilot.press(*"agent-az-fork", "enter")
        await settle(pilot)
        assert steps(azure_art, "agent-az-fork") == {"0011"}
