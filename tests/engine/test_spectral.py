"""Spectral norms: exact for small matrices, warm-started power iteration for large ones."""

from __future__ import annotations

import numpy as np
import pytest

from gradsim.engine.spectral import EXACT_UP_TO, SpectralNormTracker


def random_matrix(size: int, seed: int = 0) -> np.ndarray:
    """Gaussian entries of variance 1/size: the top singular values cluster near 2."""
    return np.random.default_rng(seed).standard_normal((size, size)) / np.sqrt(size)


def spiked_matrix(size: int, seed: int = 0) -> np.ndarray:
    """A random matrix plus a rank-one spike: sigma_1 ~ 3.3 stands clear of sigma_2 ~ 2."""
    rng = np.random.default_rng(seed + 1)
    u, v = rng.standard_normal(size), rng.standard_normal(size)
    return random_matrix(size, seed) + 3.0 * np.outer(u / np.linalg.norm(u), v / np.linalg.norm(v))


def drifting_estimates(matrix: np.ndarray, calls: int, seed: int = 0) -> list[float]:
    """Relative errors of the tracker while the matrix drifts a little between calls, as in training."""
    rng = np.random.default_rng(seed)
    tracker = SpectralNormTracker(1)
    errors = []
    for _ in range(calls):
        exact = np.linalg.norm(matrix, 2)
        estimate = tracker.update([matrix])[0]
        assert estimate <= exact * (1 + 1e-12)  # ||W v|| with a unit v never exceeds sigma_1
        errors.append(abs(estimate - exact) / exact)
        matrix = matrix + 1e-3 * rng.standard_normal(matrix.shape) / np.sqrt(matrix.shape[0])
    return errors


@pytest.mark.parametrize("size", [1, 5, 32, EXACT_UP_TO])
def test_small_matrices_are_exact(size):
    matrices = [random_matrix(size, seed) for seed in range(3)]
    norms = SpectralNormTracker(3).update(matrices)
    assert norms.shape == (3,)
    assert norms.dtype == np.float64
    for norm, matrix in zip(norms, matrices, strict=True):
        assert norm == np.linalg.norm(matrix, 2)


def test_known_singular_values():
    diagonal = np.diag([3.0, -7.0, 2.0])
    big = np.diag(np.concatenate([[2.5], np.linspace(0.1, 1.0, 99)]))
    norms = SpectralNormTracker(2).update([diagonal, big])
    assert norms[0] == pytest.approx(7.0, rel=1e-15)
    assert norms[1] == pytest.approx(2.5, rel=1e-12)  # a wide gap: power iteration converges at once


@pytest.mark.parametrize("size", [EXACT_UP_TO + 1, 96, 200])
def test_large_matrices_with_a_gap_converge_within_a_few_calls(size):
    errors = drifting_estimates(spiked_matrix(size, seed=size), calls=6, seed=size)
    assert max(errors[3:]) < 1e-6, errors


@pytest.mark.parametrize("size", [96, 128, 200])
def test_large_random_matrices_improve_with_every_call(size):
    errors = drifting_estimates(random_matrix(size, seed=size), calls=8, seed=size)
    assert errors[-1] < errors[0]
    assert max(errors) < 0.05, errors


def test_float32_matrices():
    matrix = spiked_matrix(100).astype(np.float32)
    tracker = SpectralNormTracker(1)
    for _ in range(4):
        estimate = tracker.update([matrix])[0]
    exact = np.linalg.norm(matrix.astype(np.float64), 2)
    assert estimate == pytest.approx(exact, rel=1e-6)


@pytest.mark.parametrize("size", [4, 100])
@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_nonfinite_matrix_gives_nan(size, bad):
    matrix = random_matrix(size)
    matrix[1, 2] = bad
    norms = SpectralNormTracker(2).update([matrix, random_matrix(size)])
    assert np.isnan(norms[0])
    assert np.isfinite(norms[1])


@pytest.mark.parametrize("size", [4, 100])
def test_zero_matrix(size):
    assert SpectralNormTracker(1).update([np.zeros((size, size))])[0] == 0.0


def test_size_change_restarts_the_estimate():
    tracker = SpectralNormTracker(1)
    tracker.update([spiked_matrix(100)])
    for _ in range(3):
        estimate = tracker.update([spiked_matrix(120, seed=3)])[0]
    assert estimate == pytest.approx(np.linalg.norm(spiked_matrix(120, seed=3), 2), rel=1e-9)


def test_each_layer_keeps_its_own_estimate():
    matrices = [spiked_matrix(100, seed=1), 2.0 * spiked_matrix(100, seed=2)]
    tracker = SpectralNormTracker(2)
    for _ in range(3):
        norms = tracker.update(matrices)
    np.testing.assert_allclose(norms, [np.linalg.norm(m, 2) for m in matrices], rtol=1e-9)
