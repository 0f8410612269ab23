"""Numbers, counts and sizes that fit a column without losing digits silently."""

import random

import humanize
import pytest

from ckpt_tui.formatting import count, fit_number, fit_text, size


@pytest.mark.parametrize("value", [0.1325, 0.045, 123456.0, -1.234e-05, 1e-300, 12.0, 0.5, -0.75])
@pytest.mark.parametrize("width", [1, 2, 3, 4, 5, 6, 8])
def test_fit_number_rounds_or_says_it_cannot(value, width):
    text = fit_number(value, width)
    assert len(text) <= width
    if text != "…":
        # Whatever is shown reads back as the value, rounded: never a cut-off prefix.
        shown = float(text)
        assert shown == pytest.approx(value, rel=0.5, abs=0.05 if abs(value) < 1 else 0)


def test_fit_number_uses_the_room_it_has():
    assert fit_number(0.1325, 8) == "0.1325"
    assert fit_number(0.1325, 4) == "0.13"
    assert fit_number(123456.0, 5) == "1e+05" and fit_number(123456.0, 3) == "1e5"
    assert fit_number(None, 3) == "-"


def test_counts_sizes_and_text_stay_short():
    assert (count(320), count(20_000), count(1_234_567)) == ("320", "20k", "1.2M")
    assert fit_text("val/exception_rate", 8) == "val/exc…" and fit_text("loss", 8) == "loss"


def test_sizes_read_as_humanize_writes_them():
    """``size`` is ``humanize.naturalsize`` without importing humanize: the same text for every
    magnitude, both signs, the unit boundaries and the roundings that step up a unit."""
    rng = random.Random(7)
    values = [0, 1, -1, 2, 999, 1000, -1000, 999_949, 999_950, 999_999, 10**30, 10**34 * 3, 0.5, 999.9]
    values += [10**k - d for k in range(1, 34) for d in (0, 1, 49, 50, 51)]
    values += [rng.randrange(10 ** rng.randrange(1, 34)) * rng.choice((1, -1)) for _ in range(3000)]
    assert [size(v) for v in values] == [humanize.naturalsize(v) for v in values]
    assert (size(1), size(640), size(1_234_567)) == ("1 Byte", "640 Bytes", "1.2 MB")
