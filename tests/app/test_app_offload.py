"""Offloading from the app: the run's offload key fills the target, the plan is shown, progress in bytes."""

from __future__ import annotations

from app_helpers import RecordingApp
from app_scenarios import settle

from ckpt_tui.app.screens.offload import OffloadScreen


async def test_the_offload_key_moves_what_the_rule_does_not_keep(art_base, tmp_path):
    remote = tmp_path / "remote"
    (art_base / ".ckpt-tui.toml").write_text(f'offload = {{ to = "{remote}" }}\n')
    app = RecordingApp(str(art_base))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("O")
        assert isinstance(app.screen, OffloadScreen)
        await settle(pilot)
        assert app.screen.query_one("#offload-to").value == str(remote)
        plan = str(app.screen.query_one("#offload-plan").render())
        assert "12 step(s) here only, 0 in both, 0 there only" in plan and "moves 10 step(s) (0-9)" in plan
        await pilot.click("#offload-go")
        await settle(pilot)
        assert not isinstance(app.screen, OffloadScreen)
        assert app.said("offloaded 10 step(s) to", "information")
    checkpoints = art_base / "demo" / "models" / "agent-001" / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["0010", "0011"]
    assert sorted(p.name for p in (remote / "demo" / "models" / "agent-001" / "checkpoints").iterdir()) == \
        [f"{n:04d}" for n in range(10)]
