"""Gradient clipping: by global norm (direction kept) and by value (every element bounded)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradsim.engine.clipping import clip_gradients, global_norm


def gradients(seed=0, scale=1.0, dtype=np.float64) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "weight_ih_l0": (scale * rng.standard_normal((4, 3))).astype(dtype),
        "weight_hh_l0": (scale * rng.standard_normal((4, 4))).astype(dtype),
        "bias_ih_l0": (scale * rng.standard_normal(4)).astype(dtype),
        "readout.weight": (scale * rng.standard_normal((2, 4))).astype(dtype),
    }


def flat(grads: dict[str, np.ndarray]) -> np.ndarray:
    return np.concatenate([g.astype(np.float64).ravel() for g in grads.values()])


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_global_norm_is_the_norm_of_all_gradients_together():
    grads = gradients()
    assert global_norm(grads) == pytest.approx(np.linalg.norm(flat(grads)), rel=1e-15)
    assert global_norm({}) == 0.0


def test_global_norm_of_vanished_gradients_does_not_underflow():
    grads = {"a": np.full(4, 3e-200), "b": np.full(4, 4e-200)}
    assert global_norm(grads) == pytest.approx(2 * 5e-200, rel=1e-15)
    assert global_norm({"a": np.array([3e200]), "b": np.array([4e200])}) == pytest.approx(5e200, rel=1e-15)


@pytest.mark.parametrize("fraction", [1e-6, 0.1, 0.9])
@pytest.mark.parametrize("scale", [1.0, 1e-100, 1e100])
def test_norm_clipping_hits_the_threshold_and_keeps_the_direction(fraction, scale):
    grads = gradients(scale=scale)
    before = global_norm(grads)
    threshold = fraction * before
    originals = {name: g.copy() for name, g in grads.items()}
    result = clip_gradients(grads, "norm", threshold)
    assert result.clipped
    assert result.norm_before == before
    assert result.norm_after == pytest.approx(threshold, rel=1e-14)
    assert global_norm(result.grads) == pytest.approx(threshold, rel=1e-14)
    assert cosine(flat(result.grads) / threshold, flat(grads) / before) == pytest.approx(1.0, abs=1e-14)
    # Every gradient shrinks by the same factor.
    factor = threshold / before
    for name, g in result.grads.items():
        np.testing.assert_allclose(g, grads[name] * factor, rtol=1e-15)
    for name, g in grads.items():
        assert np.array_equal(g, originals[name])  # the input is not modified


def test_norm_clipping_below_the_threshold_does_nothing():
    grads = gradients()
    before = global_norm(grads)
    result = clip_gradients(grads, "norm", before * 1.01)
    assert not result.clipped
    assert result.norm_before == result.norm_after == before
    assert all(result.grads[name] is g for name, g in grads.items())
    assert not clip_gradients(grads, "norm", before).clipped  # exactly at the threshold


def test_norm_clipping_keeps_float32():
    grads = gradients(dtype=np.float32, scale=10.0)
    result = clip_gradients(grads, "norm", 1.0)
    assert all(g.dtype == np.float32 for g in result.grads.values())
    assert result.norm_after == pytest.approx(1.0, rel=1e-6)
    assert cosine(flat(result.grads), flat(grads)) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("threshold", [0.05, 0.5, 1.5])
def test_value_clipping_bounds_every_element(threshold):
    grads = gradients(seed=3)
    result = clip_gradients(grads, "value", threshold)
    assert result.clipped
    for name, g in result.grads.items():
        original = grads[name]
        assert np.all(np.abs(g) <= threshold)
        inside = np.abs(original) <= threshold
        assert np.array_equal(g[inside], original[inside])  # small elements untouched
        assert np.array_equal(g[~inside], threshold * np.sign(original[~inside]))  # others at the bound
    assert result.norm_before == global_norm(grads)
    assert result.norm_after == pytest.approx(global_norm(result.grads), rel=1e-15)
    assert result.norm_after < result.norm_before


def test_value_clipping_below_the_threshold_does_nothing():
    grads = gradients(seed=3)
    largest = max(float(np.abs(g).max()) for g in grads.values())
    result = clip_gradients(grads, "value", largest)
    assert not result.clipped
    assert all(result.grads[name] is g for name, g in grads.items())


def test_no_clipping():
    grads = gradients(scale=1e6)
    result = clip_gradients(grads, "none", 1.0)
    assert not result.clipped
    assert result.norm_before == result.norm_after == global_norm(grads)
    assert all(result.grads[name] is g for name, g in grads.items())


@pytest.mark.parametrize("mode", ["norm", "value"])
@pytest.mark.parametrize("bad", [math.inf, math.nan])
def test_nonfinite_gradients_are_passed_through_unclipped(mode, bad):
    grads = gradients()
    grads["bias_ih_l0"][1] = bad
    result = clip_gradients(grads, mode, 1.0)
    assert not result.clipped
    assert not math.isfinite(result.norm_before)
    assert result.grads["bias_ih_l0"] is grads["bias_ih_l0"]


def test_unknown_mode():
    with pytest.raises(ValueError, match="unknown clip mode 'both'"):
        clip_gradients(gradients(), "both", 1.0)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 2**16),
    st.floats(-150, 150),
    st.floats(1e-3, 1e3),
)
def test_norm_clipping_properties(seed, log_scale, threshold):
    grads = gradients(seed=seed, scale=10.0**log_scale)
    result = clip_gradients(grads, "norm", threshold)
    before = global_norm(grads)
    assert result.clipped == (before > threshold)
    assert result.norm_after == pytest.approx(min(before, threshold), rel=1e-13)
    assert cosine(flat(result.grads) / before, flat(grads) / before) == pytest.approx(1.0, abs=1e-13)
