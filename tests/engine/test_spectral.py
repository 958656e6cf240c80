"""Spectral norms: the largest singular value, to machine precision, at every size."""

from __future__ import annotations

import numpy as np
import pytest

from gradsim.engine.spectral import SVD_UP_TO, SpectralNormTracker, spectral_norm


def random_matrix(size: int, seed: int = 0) -> np.ndarray:
    """Gaussian entries of variance 1/size: the top singular values cluster near 2."""
    return np.random.default_rng(seed).standard_normal((size, size)) / np.sqrt(size)


@pytest.mark.parametrize("size", [1, 5, 32, SVD_UP_TO, SVD_UP_TO + 1, 128, 300])
def test_matches_the_svd_at_every_size(size):
    matrices = [random_matrix(size, seed) for seed in range(3)]
    norms = SpectralNormTracker(3).update(matrices)
    assert norms.shape == (3,)
    assert norms.dtype == np.float64
    for norm, matrix in zip(norms, matrices, strict=True):
        assert norm == pytest.approx(np.linalg.svd(matrix, compute_uv=False)[0], rel=1e-13)


def test_clustered_top_singular_values_need_no_warm_up():
    # Power iteration needed many steps here (sigma_1 and sigma_2 within a percent); this is
    # exact on the first call.
    matrix = random_matrix(128, seed=7)
    singular = np.linalg.svd(matrix, compute_uv=False)
    assert singular[1] / singular[0] > 0.97
    assert spectral_norm(matrix) == pytest.approx(singular[0], rel=1e-13)


def test_known_singular_values():
    diagonal = np.diag([3.0, -7.0, 2.0])
    big = np.diag(np.concatenate([[2.5], np.linspace(0.1, 1.0, 99)]))
    rotation = np.linalg.qr(np.random.default_rng(0).standard_normal((100, 100)))[0]
    norms = SpectralNormTracker(3).update([diagonal, big, 0.3 * rotation])
    np.testing.assert_allclose(norms, [7.0, 2.5, 0.3], rtol=1e-14)


def test_small_matrices_equal_numpys_norm_bit_for_bit():
    matrix = random_matrix(SVD_UP_TO, seed=4)
    assert spectral_norm(matrix) == np.linalg.norm(matrix, 2)


@pytest.mark.parametrize("size", [50, 100])
@pytest.mark.parametrize("scale", [1e-200, 1e-100, 1e100, 1e200])
def test_huge_and_tiny_weights_neither_overflow_nor_underflow(scale, size):
    # Squaring 1e200 overflows and 1e-200 underflows: the Gram matrix is formed after scaling.
    matrix = random_matrix(size, seed=1)
    assert spectral_norm(scale * matrix) == pytest.approx(scale * spectral_norm(matrix), rel=1e-13)


def test_rectangular_matrices():
    wide = np.random.default_rng(2).standard_normal((3, 40))
    tall = wide.T.copy()
    exact = np.linalg.svd(wide, compute_uv=False)[0]
    assert spectral_norm(wide) == pytest.approx(exact, rel=1e-13)
    assert spectral_norm(tall) == pytest.approx(exact, rel=1e-13)


def test_float32_matrices():
    matrix = random_matrix(100).astype(np.float32)
    exact = np.linalg.svd(matrix.astype(np.float64), compute_uv=False)[0]
    assert spectral_norm(matrix) == pytest.approx(exact, rel=1e-13)


@pytest.mark.parametrize("size", [4, 100])
@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_nonfinite_matrix_gives_nan(size, bad):
    matrix = random_matrix(size)
    matrix[1, 2] = bad
    norms = SpectralNormTracker(2).update([matrix, random_matrix(size)])
    assert np.isnan(norms[0])
    assert np.isfinite(norms[1])


@pytest.mark.parametrize("size", [4, 100])
def test_zero_and_empty_matrices(size):
    assert SpectralNormTracker(1).update([np.zeros((size, size))])[0] == 0.0
    assert spectral_norm(np.zeros((0, 0))) == 0.0


def test_each_layer_gets_its_own_norm_and_calls_are_independent():
    matrices = [random_matrix(100, seed=1), 2.0 * random_matrix(100, seed=2)]
    tracker = SpectralNormTracker(2)
    first = tracker.update(matrices)
    tracker.update([random_matrix(120, seed=3), random_matrix(120, seed=4)])
    np.testing.assert_array_equal(tracker.update(matrices), first)
    np.testing.assert_allclose(first, [np.linalg.norm(m, 2) for m in matrices], rtol=1e-13)
