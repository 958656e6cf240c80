"""Initialisation schemes: shapes, variances, orthogonality, identity, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from gradsim.engine.config import INITS
from gradsim.engine.initializers import init_matrix

BIG = (300, 500)  # (fan_out, fan_in): 150 000 samples, variance known to about 0.4%


def draw(scheme, shape=BIG, scale=1.0, seed=0, dtype=np.float64):
    return init_matrix(scheme, shape, scale, np.random.default_rng(seed), np.dtype(dtype))


def kurtosis(values: np.ndarray) -> float:
    centred = values - values.mean()
    return float(np.mean(centred**4) / np.mean(centred**2) ** 2)


@pytest.mark.parametrize("scheme", INITS)
@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (4, 4), (1, 7)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_shape_and_dtype(scheme, shape, dtype):
    matrix = draw(scheme, shape, 1.5, dtype=dtype)
    assert matrix.shape == shape
    assert matrix.dtype == dtype
    assert np.all(np.isfinite(matrix))


@pytest.mark.parametrize(
    ("scheme", "variance", "gaussian"),
    [
        ("gaussian", 1.0 / BIG[1], True),
        ("xavier", 2.0 / (BIG[0] + BIG[1]), False),
        ("he", 2.0 / BIG[1], True),
    ],
)
@pytest.mark.parametrize("scale", [0.5, 2.0])
def test_variance_of_random_schemes(scheme, variance, gaussian, scale):
    matrix = draw(scheme, scale=scale)
    assert abs(matrix.mean()) < 0.02 * np.sqrt(variance) * scale
    assert matrix.var() == pytest.approx(scale**2 * variance, rel=0.02)
    # Gaussian entries have kurtosis 3, uniform ones 1.8.
    assert kurtosis(matrix) == pytest.approx(3.0 if gaussian else 1.8, abs=0.1)


def test_xavier_is_bounded_by_its_limit():
    scale = 1.3
    matrix = draw("xavier", scale=scale)
    limit = scale * np.sqrt(6.0 / sum(BIG))
    assert np.abs(matrix).max() <= limit
    assert np.abs(matrix).max() > 0.99 * limit


@pytest.mark.parametrize("shape", [(6, 6), (8, 3), (3, 8), (64, 64)])
@pytest.mark.parametrize("scale", [0.5, 1.0, 1.7])
def test_orthogonal_singular_values_equal_the_scale(shape, scale):
    matrix = draw("orthogonal", shape, scale)
    singular = np.linalg.svd(matrix, compute_uv=False)
    np.testing.assert_allclose(singular, scale, rtol=1e-12)
    # Orthonormal rows (wide) or columns (tall), times the scale.
    gram = matrix @ matrix.T if shape[0] <= shape[1] else matrix.T @ matrix
    np.testing.assert_allclose(gram, scale**2 * np.eye(min(shape)), atol=1e-12)


def test_orthogonal_signs_are_not_biased():
    # Without the sign fix, QR returns a biased distribution (R's diagonal has a fixed sign in
    # LAPACK); with it, each entry of the first column is positive about half the time.
    firsts = np.array([draw("orthogonal", (4, 4), seed=seed)[0, 0] for seed in range(400)])
    assert 0.4 < np.mean(firsts > 0) < 0.6


@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (5, 3)])
def test_identity(shape):
    assert np.array_equal(draw("identity", shape, 0.8), 0.8 * np.eye(*shape))


@pytest.mark.parametrize("scheme", INITS)
def test_scale_multiplies_the_drawn_matrix(scheme):
    assert np.allclose(draw(scheme, (5, 7), 3.0), 3.0 * draw(scheme, (5, 7), 1.0), rtol=1e-15, atol=0)


@pytest.mark.parametrize("scheme", ["gaussian", "xavier", "he", "orthogonal"])
def test_same_generator_state_same_matrix(scheme):
    assert np.array_equal(draw(scheme, (6, 4), seed=5), draw(scheme, (6, 4), seed=5))
    assert not np.array_equal(draw(scheme, (6, 4), seed=5), draw(scheme, (6, 4), seed=6))


def test_unknown_scheme():
    with pytest.raises(ValueError, match="unknown initialisation 'lecun'"):
        draw("lecun", (2, 2))
