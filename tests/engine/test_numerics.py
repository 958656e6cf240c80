"""safe_norm: exact where the plain sum of squares underflows or overflows."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradsim.engine import numerics
from gradsim.engine.formatting import format_ratio
from gradsim.engine.numerics import safe_norm


def test_ordinary_values_match_numpy():
    values = np.random.default_rng(0).standard_normal((7, 5, 3))
    assert safe_norm(values) == pytest.approx(np.linalg.norm(values.ravel()), rel=1e-15)
    assert isinstance(safe_norm(values), float)


def test_tiny_values_where_numpy_underflows_to_zero():
    values = np.full(4, 1e-200)
    assert np.linalg.norm(values) == 0.0  # the premise: the naive norm loses everything
    assert safe_norm(values) == pytest.approx(2e-200, rel=1e-15)
    assert safe_norm(np.array([3e-200, 4e-200])) == pytest.approx(5e-200, rel=1e-15)


def test_huge_values_do_not_overflow():
    values = np.array([3e200, 4e200])
    with np.errstate(over="ignore"):
        assert not np.isfinite(np.sqrt(np.sum(values * values)))  # the premise
    assert safe_norm(values) == pytest.approx(5e200, rel=1e-15)


def test_mixed_magnitudes_keep_the_largest():
    assert safe_norm(np.array([1e200, 1e-200, -1e199])) == pytest.approx(math.hypot(1e200, 1e199), rel=1e-15)


def test_float32_tiny_values_are_measured_in_float64():
    values = np.full(9, 1e-30, dtype=np.float32)
    assert float(np.sqrt(np.sum(values * values))) == 0.0  # float32 squares underflow
    assert safe_norm(values) == pytest.approx(3 * float(np.float32(1e-30)), rel=1e-7)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1.0, np.nan, 2.0], "nan"),
        ([1.0, np.inf, 2.0], "inf"),
        ([1.0, -np.inf], "inf"),
        ([np.nan, np.inf], "nan"),
        ([1e-200, np.nan], "nan"),
        ([1e-200, np.inf], "inf"),
        ([1e200, np.nan], "nan"),
    ],
)
def test_nan_and_inf_propagate(values, expected):
    result = safe_norm(np.array(values))
    if expected == "nan":
        assert math.isnan(result)
    else:
        assert result == math.inf


def test_zeros_and_empty():
    assert safe_norm(np.zeros(5)) == 0.0
    assert safe_norm(np.zeros(0)) == 0.0
    assert np.array_equal(safe_norm(np.zeros((3, 0)), axis=1), np.zeros(3))


def test_axis_reduces_each_row_independently():
    rows = np.array(
        [
            [3.0, 4.0, 0.0],
            [3e-200, 4e-200, 0.0],
            [3e200, -4e200, 0.0],
            [1.0, np.nan, 0.0],
            [np.inf, 1.0, 0.0],
        ]
    )
    result = safe_norm(rows, axis=1)
    assert result.shape == (5,)
    assert result.dtype == np.float64
    assert result[0] == pytest.approx(5.0, rel=1e-15)
    assert result[1] == pytest.approx(5e-200, rel=1e-15)
    assert result[2] == pytest.approx(5e200, rel=1e-15)
    assert math.isnan(result[3])
    assert result[4] == math.inf
    # The same rows as columns: axis=0 and a negative axis.
    assert np.array_equal(safe_norm(rows.T, axis=0), result, equal_nan=True)
    assert np.array_equal(safe_norm(rows.T, axis=-2), result, equal_nan=True)


def test_axis_tuple_keeps_the_remaining_axes():
    values = np.random.default_rng(1).standard_normal((4, 3, 5))
    values[2] *= 1e-190  # one slice needs the careful path
    result = safe_norm(values, axis=(1, 2))
    assert result.shape == (4,)
    expected = [math.hypot(*values[k].ravel()) for k in range(4)]
    np.testing.assert_allclose(result, expected, rtol=1e-14)
    # Reducing the first and last axes keeps the middle one, in order.
    middle = safe_norm(values, axis=(0, 2))
    assert middle.shape == (3,)
    np.testing.assert_allclose(middle, [math.hypot(*values[:, j].ravel()) for j in range(3)], rtol=1e-14)


magnitudes = st.one_of(
    st.just(0.0),
    st.builds(
        lambda mantissa, exponent: mantissa * 10.0**exponent,
        st.floats(-9.99, 9.99, allow_nan=False),
        st.integers(-300, 300),
    ),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(magnitudes, min_size=1, max_size=40))
def test_matches_an_exact_reference(values):
    # math.hypot scales internally and is correctly rounded to within an ulp or so.
    expected = math.hypot(*values)
    result = safe_norm(np.array(values))
    assert result == pytest.approx(expected, rel=1e-13, abs=0.0)


@pytest.mark.skipif(
    np.finfo(np.longdouble).maxexp < 16000, reason="long double has no extended exponent range here"
)
@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(magnitudes, min_size=3, max_size=3), min_size=1, max_size=6))
def test_rows_match_an_extended_precision_reference(rows):
    data = np.array(rows)
    wide = data.astype(np.longdouble)
    expected = np.sqrt((wide * wide).sum(axis=1)).astype(np.float64)
    np.testing.assert_allclose(safe_norm(data, axis=1), expected, rtol=1e-13, atol=0.0)


def test_ratios_are_written_from_their_log_at_any_magnitude():
    # One formatter writes a number from its log10 (gradsim.engine.formatting), for every view.
    assert format_ratio(-606.5) == "3.16e-607"
    assert format_ratio(400.0) == "1.00e+400"
    assert format_ratio(-1000.0001) == "1.00e-1000"  # 9.9977 rounds up to the next power
    assert format_ratio(-3200.25, digits=2) == "5.6e-3201"
    # Near 1 the text is the float's own.
    for value in (-1.5, -0.5, 0.0, 0.3, 2.2):
        assert format_ratio(value) == f"{10.0**value:.3g}"
    assert format_ratio(-np.inf) == "0"
    assert format_ratio(np.inf) == "inf" and format_ratio(np.nan) == "NaN"


def test_float32_rows_of_zeros_take_the_plain_path(monkeypatch):
    # A float32 (T, B, H) gradient whose derivative underflowed to exactly 0 has whole steps of
    # zeros: their norm is the plain 0 (float32 squares cannot underflow in float64); the
    # careful path is left for rows that need it (non-finite here), and every norm is right.
    rows = np.zeros((6, 4, 3), dtype=np.float32)
    rows[1] = np.float32(1e-45)  # subnormal float32: its square is 2e-90 in float64, not 0
    rows[2, 0, 0] = 3.0
    rows[3, 1, 2] = np.nan
    rows[4, 2, 1] = -np.inf
    seen: list[int] = []
    original = numerics._scaled_norms

    def counting(chosen: np.ndarray) -> np.ndarray:
        seen.append(len(chosen))
        return original(chosen)

    monkeypatch.setattr(numerics, "_scaled_norms", counting)
    with np.errstate(all="ignore"):
        norms = safe_norm(rows, axis=(1, 2), buffer=np.empty(rows.shape))
    assert norms[0] == 0.0 and norms[5] == 0.0
    assert norms[1] == pytest.approx(float(np.float32(1e-45)) * np.sqrt(12), rel=1e-12)
    assert norms[2] == 3.0
    assert np.isnan(norms[3]) and norms[4] == np.inf
    assert seen == [2]  # the NaN and inf rows only
    # float64 zeros are still checked: their squares may have underflowed from nonzero values.
    seen.clear()
    tiny = np.zeros((2, 3))
    tiny[1] = 1e-170
    assert safe_norm(tiny, axis=1)[1] == pytest.approx(1e-170 * np.sqrt(3), rel=1e-12)
    assert seen == [2]
