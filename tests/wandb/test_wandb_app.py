"""The app on a W&B location, against the fake W&B server: browse, preview, delete."""

from __future__ import annotations

from datetime import timezone

import pytest
from art_on_wandb import ENTITY, TIMEOUT
from pilot_helpers import settle

from ckpt_tui.app.app import CkptApp
from ckpt_tui.app.screens.confirm import ConfirmDelete


@pytest.fixture(autouse=True)
def short_timeout(monkeypatch):
    monkeypatch.setenv("WANDB_HTTP_TIMEOUT", str(int(TIMEOUT)))


async def test_browse_preview_and_delete_versions(fake):
    app = CkptApp(f"wandb://{ENTITY}/demo", location_label="wandb", timezone=timezone.utc,
                  cursor_blink=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen.current == ("demo", "agent-001")
        assert [c.step for c in screen.table.rows] == list(range(12))
        await pilot.press("v")
        planned = screen.plans[("demo", "agent-001")].delete_steps
        assert planned and 11 not in planned
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDelete)
        assert any("W&B deletes softly" in str(label.render()) for label in app.screen.query(".hint"))
        await pilot.press("tab", "enter")
        await settle(pilot)
        assert sorted(int(d["version"][1:]) for d in fake.deleted) == sorted(planned)
        assert all(d["deleteAliases"] for d in fake.deleted)
