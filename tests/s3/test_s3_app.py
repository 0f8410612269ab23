"""The app on an S3 location (and an Azure one): the same screens and actions as on disk, checked key by key."""

from __future__ import annotations

import sys
from datetime import timezone
from pathlib import Path

import pytest
from pilot_helpers import settle

sys.path.insert(0, str(Path(__file__).parent.parent / "clouds"))
from azurite import azure_art, azure_location, azurite, azurite_server  # noqa: E402,F401 - fixtures

from ckpt_tui.app.app import CkptApp
from ckpt_tui.app.screens.confirm import ConfirmDelete
from ckpt_tui.app.screens.fork import ForkScreen


def make_app(location) -> CkptApp:
    return CkptApp(location.url, store_options={"endpoint_url": location.endpoint},
                   location_label="s3", timezone=timezone.utc, cursor_blink=False)


def steps(location, run: str) -> set[str]:
    return {key.split("/")[4] for key in location.keys(f"demo/models/{run}/checkpoints/")}


@pytest.fixture(params=["moto_art_bucket", pytest.param("azure_art", marks=pytest.mark.azure)])
def art_place(request):
    """The ART tree in moto, and in Azurite."""
    return request.getfixturevalue(request.param)


async def test_browse_preview_delete_and_fork_in_a_bucket(art_place):
    app = make_app(art_place)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen.current == ("demo", "agent-001")
        assert [c.step for c in screen.table.rows] == list(range(12))
        assert screen.table.best_step == 10
        assert screen.table.highlighted.location.startswith(art_place.url)

        await pilot.press("v")
        assert screen.plans[("demo", "agent-001")].delete_steps == set(range(10))
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDelete)
        await pilot.press("tab", "enter")
        await settle(pilot)
        assert steps(art_place, "agent-001") == {"0010", "0011"}
        assert len(steps(art_place, "agent-002")) == 6  # another run: untouched

        await pilot.press("f")
        assert isinstance(app.screen, ForkScreen)
        await pilot.press(*"agent-s3-fork", "enter")
        await settle(pilot)
        assert steps(art_place, "agent-s3-fork") == {"0011"}
        assert app.screen.current == ("demo", "agent-s3-fork")


async def test_an_unreachable_endpoint_is_a_notification(moto_art_bucket, monkeypatch):
    monkeypatch.setattr(moto_art_bucket, "endpoint", "http://127.0.0.1:9")  # nothing listens there
    app = make_app(moto_art_bucket)
    shown = []
    monkeypatch.setattr(app, "notify", lambda message, **kw: shown.append(message))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert shown and "127.0.0.1:9" in shown[0] and app.screen.current is None
