"""Snapshots of the step tools' own screens and states: going to a step, a step search and
its matches, the files of a step and the activity log at 80x24."""

from __future__ import annotations

import pytest
from app_scenarios import Scenario, make_app, play

STEP_TOOLS = {
    "jump": Scenario(("colon", *"150"), about="going to a step: the number typed, the range of steps"),
    "jumped": Scenario(("colon", *"150", "enter"), about="the nearest step there is, highlighted"),
    "search": Scenario(("tab", "slash", *"0.59", "enter"), about="a step search: how many steps match, n / N"),
    "narrow_disk": Scenario(("D",), size=(80, 24), about="a step's files at 80x24"),
    "narrow_activity": Scenario(("v", "x", "tab", "enter", "L"), size=(80, 24), failing_deletes=True,
                                about="the activity log at 80x24"),
}


@pytest.mark.parametrize("name", list(STEP_TOOLS))
def test_step_tool_screen(name, scenario_tree, snap_compare):
    scenario = STEP_TOOLS[name]
    app = make_app(scenario_tree, scenario)
    assert snap_compare(app, terminal_size=scenario.size, run_before=lambda pilot: play(pilot, scenario))
