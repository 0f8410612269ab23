"""The activity log: the pane (L) and .ckpt-tui.log, the objects watch --json prints."""

from __future__ import annotations

import json

from app_helpers import RecordingApp, confirm_delete, go_to_step, main
from app_scenarios import settle

from ckpt_tui.app.screens.activity import ActivityScreen
from ckpt_tui.core.events import Event


async def test_deletions_and_forks_are_logged_in_the_pane_and_in_the_log_file(art_base):
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("L")
        assert isinstance(app.screen, ActivityScreen)
        assert "nothing deleted" in str(app.screen.query_one("Label").render())
        await pilot.press("escape", "v", "x")
        await confirm_delete(pilot)
        await go_to_step(pilot, 10)
        await pilot.press("f", "enter")
        await settle(pilot)
        await pilot.press("L")
        text = str(app.screen.query_one("#activity-list Static").render())
        assert text.count("deleted") == 10 and "forked  demo/agent-001-fork  step 10" in text
        await pilot.press("escape")
    lines = [json.loads(line) for line in (art_base / ".ckpt-tui.log").read_text().splitlines()]
    assert [e["action"] for e in lines] == ["deleted"] * 10 + ["forked"]
    assert sorted(e["step"] for e in lines[:10]) == list(range(10))
    assert set(lines[0]) == set(Event("deleted").to_json()) | {"user"}  # what watch --json prints, and who
    assert lines[0]["bytes"] > 0 and lines[0]["reasons"][0].startswith("rule: keep")
    assert lines[-1]["run"] == "agent-001-fork"
