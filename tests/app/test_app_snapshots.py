"""Snapshots of each screen, on the demo tree, at fixed sizes, times in UTC."""

from __future__ import annotations

import pytest
from app_scenarios import SCENARIOS, make_app, play


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_screen(name, scenario_tree, snap_compare):
    scenario = SCENARIOS[name]
    app = make_app(scenario_tree, scenario)
    assert snap_compare(app, terminal_size=scenario.size,
                        run_before=lambda pilot: play(pilot, scenario))
