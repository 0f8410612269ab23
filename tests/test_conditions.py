"""Conditions that pick checkpoints, and the steps no mark can delete."""

from __future__ import annotations

import pytest

from ckpt_tui.core.conditions import BadCondition, Columns, matching_steps, never_marked, parse_conditions, parse_size
from ckpt_tui.core.metrics import Metrics
from ckpt_tui.core.models import Checkpoint, Run
from ckpt_tui.core.retention import Policy

NOW = 1_000_000.0


def run() -> Run:
    checkpoints = [Checkpoint(s, (s + 1) * 10**9, NOW - s * 86400, f"{s:04d}") for s in range(6)]
    metrics = Metrics({s: {"val/reward": s / 10} for s in range(0, 6, 2)})
    return Run("p", "r", checkpoints, metrics)


@pytest.mark.parametrize("text, steps", [
    ("val/reward < 0.3", [0, 2]),
    ("val/reward >= 0.2 and size > 2G", [2, 4]),
    ("older than 3d", [4, 5]),
    ("newer than 2d", [0, 1]),
    ("size <= 2GB", [0, 1]),
    ("step != 0 and step < 3", [1, 2]),
    ("val/reward != 0.2", [0, 4]),  # only where it was logged
    ("val/reward > 0.1 and val/reward < 0.5 and newer than 5d", [2, 4]),
])
def test_conditions_pick_the_steps_they_say(text, steps):
    r = run()
    conditions = parse_conditions(text, r.metrics.names())
    assert [c.step for c in matching_steps(r, conditions, NOW)] == steps
    columns = Columns(r)  # what the app counts as the text is typed: the same, asked twice
    for _ in range(2):
        assert [s for s, holds in zip(columns.steps, columns.matching(conditions, NOW)) if holds] == steps
    assert [c.step for c in r.checkpoints if all(part.test(r, NOW)(c) for part in conditions)] == steps


@pytest.mark.parametrize("text, said", [
    ("loss < 1", "not logged here"), ("val/reward < x", "not a number"), ("size > 1Q", "not a size"),
    ("older than 3y", "unit of time"), ("reward", "not a condition"), ("", "type a condition"),
])
def test_bad_conditions_say_what_is_wrong(text, said):
    with pytest.raises(BadCondition, match=said):
        parse_conditions(text, ["val/reward"])


def test_sizes_in_decimal_and_binary_units():
    assert parse_size("1.5G") == 1_500_000_000 and parse_size("2KiB") == 2048 and parse_size("10") == 10


def test_never_marked_is_what_the_plan_keeps_with_every_step_marked():
    r = run()
    never = never_marked(r, Policy.parse("best,latest,last:3").with_steps(pins=frozenset({1})))
    assert set(never) == {1, 4, 5}  # pinned, best val/reward, latest; last:3 gives way to marks
    assert "pinned" in never[1] and "latest" in never[5]
    assert set(never_marked(r, Policy.parse("latest", metric=None))) == {5}
