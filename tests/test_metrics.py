import math

from ckpt_tui.core.metrics import parse_history_lines, smooth


def test_lines_sharing_a_step_are_averaged():
    metrics = parse_history_lines([
        '{"val/reward": 0.5, "step": 3}',
        '{"val/reward": 0.7, "train/loss": 1.0, "step": 3}',
        '{"val/reward": 0.1, "step": 4}',
    ])
    assert math.isclose(metrics.value(3, "val/reward"), 0.6)
    assert metrics.value(3, "train/loss") == 1.0
    assert metrics.value(4, "val/reward") == 0.1
    assert metrics.names() == ["train/loss", "val/reward"]


def test_malformed_lines_are_skipped_and_counted():
    metrics = parse_history_lines([
        '{"val/reward": 0.5, "step": 1}',
        "{not json",
        "[1, 2]",
        '{"val/reward": 0.9}',  # no step
        "",
        '{"val/reward": 0.2, "step": 2}',
    ])
    assert metrics.malformed == 3
    assert sorted(metrics.by_step) == [1, 2]


def test_nan_infinite_and_non_numeric_values_are_ignored():
    metrics = parse_history_lines([
        '{"val/reward": NaN, "train/reward": Infinity, "x": "text", "flag": true, "step": 1}',
        '{"val/reward": 0.4, "train/reward": -Infinity, "step": 1}',
        '{"val/reward": null, "step": 2}',
    ])
    assert metrics.value(1, "val/reward") == 0.4
    assert metrics.value(1, "train/reward") is None
    assert metrics.value(1, "x") is None and metrics.value(1, "flag") is None
    assert metrics.value(2, "val/reward") is None
    assert metrics.ignored == 4


def test_training_step_is_used_when_step_is_missing():
    metrics = parse_history_lines(['{"val/reward": 0.3, "training_step": 7}'])
    assert metrics.value(7, "val/reward") == 0.3
    assert "training_step" not in metrics.names()


def test_smoothing_matches_an_adjusted_ewm():
    series = [(0, 1.0), (1, 0.0), (2, 1.0)]
    alpha = 0.5
    expected_last = (1.0 + 0.5 * 0.0 + 0.25 * 1.0) / (1 + 0.5 + 0.25)
    smoothed = smooth(series, alpha)
    assert smoothed[0] == (0, 1.0)
    assert math.isclose(smoothed[2][1], expected_last)
    assert smooth(series, 1.0) == series
