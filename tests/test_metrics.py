import math

import pytest

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


def test_a_long_history_reads_its_tricky_lines_as_a_short_one_does():
    """Past the first lines, records are read by orjson: what it refuses is still read as json reads it."""
    from ckpt_tui.core.metrics import FAST_AFTER_LINES

    tricky = [b'{"step": 1, "val/reward": 0.25, "train/loss": 1e400}',
              b'{"step": 2, "val/reward": NaN, "big": 123456789012345678901234567890}',
              b'{"step": 3, "val/reward": 0.5, "val/reward": 0.75}',
              b'{"step": 4, "note": "\\ud800", "val/reward": 0.125}',
              b'{"step": 5, "val/reward": 0.5, "name": "\xff\xfe"}',
              b'{"step": 6, "val/reward": 0.5}\r',
              b"[6]", b"{bad", b"", b"   ", b'{"step": 7, "val/reward": -0.0}']
    as_text = [line.decode("utf-8", errors="replace") for line in tricky]
    padding = [b'{"step": 0, "val/reward": 0.0}'] * FAST_AFTER_LINES
    for lines in (tricky, as_text):
        short = parse_history_lines(lines)
        long = parse_history_lines([*padding, *lines] if isinstance(lines[0], bytes)
                                   else [p.decode() for p in padding] + lines)
        assert short.malformed == long.malformed == 2
        assert {s: v for s, v in long.by_step.items() if s} == short.by_step
        assert short.ignored == long.ignored


def test_a_step_logged_once_keeps_its_values_and_a_second_record_averages_with_them():
    lines = [
        '{"step": 1, "loss": 0.5, "reward": 0.25}',  # the usual record: finite floats only
        '{"step": 2, "loss": 0.4, "training_step": 7.0}',  # a float step key is no metric
        '{"step": 3, "loss": 1, "reward": 0.5}',  # an integer value is read as a float
        '{"step": 4, "loss": NaN, "reward": 0.75}',  # NaN dropped, counted
        '{"step": 1, "loss": 0.25, "lr": 0.001}',  # a second record of step 1
        '{"step": 5, "loss": 0.1, "note": "eval"}',  # a string beside the values
        '{"step": 1, "loss": 0.75}',  # and a third
    ]
    metrics = parse_history_lines(lines)
    assert metrics.by_step == {1: {"loss": 0.5, "reward": 0.25, "lr": 0.001}, 2: {"loss": 0.4},
                               3: {"loss": 1.0, "reward": 0.5}, 4: {"reward": 0.75}, 5: {"loss": 0.1}}
    assert type(metrics.by_step[3]["loss"]) is float
    assert list(metrics.by_step[1]) == ["loss", "reward", "lr"]  # in the order first logged
    assert metrics.ignored == 1 and metrics.malformed == 0


def _averaged_plainly(records):
    """Every finite number (not a bool) of a step, summed and counted, then averaged."""
    from ckpt_tui.core.metrics import STEP_KEYS, step_of

    totals: dict = {}
    for record in records:
        step = step_of(record)
        if step is None:
            continue
        for key, raw in record.items():
            if key in STEP_KEYS or isinstance(raw, bool) or not isinstance(raw, (int, float)):
                continue
            try:
                value = float(raw)
            except OverflowError:
                continue
            if math.isfinite(value):
                pair = totals.setdefault(step, {}).setdefault(key, [0.0, 0])
                pair[0] += value
                pair[1] += 1
        totals.setdefault(step, {})
    return {step: {key: _average(total, count, step, key, records) for key, (total, count) in values.items()}
            for step, values in totals.items()}


def _average(total: float, count: int, step: int, key: str, records) -> float:
    """The plain average; where the plain sum overflows, the exact average of the finite values."""
    if math.isfinite(total):
        return total / count
    from fractions import Fraction

    from ckpt_tui.core.metrics import step_of

    exact = [Fraction(float(r[key])) for r in records if step_of(r) == step and key in r
             and not isinstance(r[key], bool) and isinstance(r[key], (int, float))
             and _finite(r[key])]
    return float(sum(exact) / len(exact))


def _finite(raw) -> bool:
    try:
        return math.isfinite(float(raw))
    except OverflowError:
        return False


def test_a_steps_records_are_averaged_whatever_their_values_and_order():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from ckpt_tui.core.metrics import metrics_from_records

    values = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(min_value=-1e308, max_value=1e308),
                       st.integers(min_value=-(10 ** 400), max_value=10 ** 400), st.booleans(), st.none(),
                       st.text(max_size=3))
    record = st.fixed_dictionaries({"step": st.one_of(st.integers(0, 3), st.floats(0, 3), st.booleans())},
                                   optional={"loss": values, "acc": values, "global_step": st.integers(0, 3),
                                             "_step": values})

    @settings(max_examples=400, deadline=None)
    @given(st.lists(record, max_size=6))
    def check(records):
        found = metrics_from_records(records).by_step
        expected = _averaged_plainly(records)
        assert found.keys() == expected.keys()
        for step, averages in expected.items():
            assert found[step].keys() == averages.keys()
            for key, value in averages.items():
                assert found[step][key] == value or math.isclose(found[step][key], value, rel_tol=1e-12)

    check()


def test_an_average_whose_sum_overflows_a_float_is_the_average():
    """Two records of 1e308 for a step average 1e308, not an infinite best (README: infinities are ignored)."""
    from ckpt_tui.core.metrics import metrics_from_records

    records = [{"step": 0, "loss": 1e308, "acc": -1.5e308}, {"step": 0, "loss": 1e308, "acc": -1.7e308},
               {"step": 0, "loss": -1e308, "acc": 1.0}, {"step": 1, "loss": 0.5}, {"step": 1, "loss": 1.5}]
    by_step = metrics_from_records(records).by_step
    assert by_step[0]["loss"] == pytest.approx(1e308 / 3) and by_step[0]["acc"] == pytest.approx(-1.5e308 / 3 - 1.7e308 / 3)
    assert by_step[1] == {"loss": 1.0}
    assert all(math.isfinite(v) for values in by_step.values() for v in values.values())
