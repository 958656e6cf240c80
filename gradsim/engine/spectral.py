"""Spectral norm (largest singular value) of the recurrent matrices, exactly, every step.

Up to 64 rows and columns the singular values come from an SVD (``numpy.linalg.norm(W, 2)``,
0.2 ms). Above, the largest singular value of ``W`` is the square root of the largest
eigenvalue of the Gram matrix ``W.T @ W``, which ``numpy.linalg.eigvalsh`` finds to machine
precision (relative difference from the SVD ~1e-15). Measured on two cores: 0.9 ms at H=128,
4 ms at 256, 20 ms at 512, 86 ms at 1024, about half of a full SVD and a few percent of a
training step of the same width. Warm-started power
iteration was cheaper but converged slowly (the top singular values of a random matrix
cluster: 12 iterations left ~2e-3 relative error at H=128), and block subspace iteration
needed as long as this to reach 1e-10.
"""

from __future__ import annotations

import numpy as np

# Up to this size an SVD is as cheap as the Gram matrix route.
SVD_UP_TO = 64


def spectral_norm(matrix: np.ndarray) -> float:
    """Largest singular value of ``matrix`` (2-D); NaN if it holds a non-finite value.

    The matrix is divided by its largest entry first, so that squaring it in the Gram matrix
    neither overflows for huge weights nor underflows for tiny ones.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.size == 0:
        return 0.0
    with np.errstate(all="ignore"):
        if not np.all(np.isfinite(matrix)):
            return float("nan")
        if max(matrix.shape) <= SVD_UP_TO:
            return float(np.linalg.norm(matrix, 2))
        largest = float(np.max(np.abs(matrix)))
        if largest == 0.0:
            return 0.0
        scaled = matrix / largest
        gram = scaled.T @ scaled if scaled.shape[0] >= scaled.shape[1] else scaled @ scaled.T
        top = float(np.linalg.eigvalsh(gram)[-1])
    return largest * float(np.sqrt(max(top, 0.0)))


class SpectralNormTracker:
    """The spectral norms of a network's recurrent matrices, one per layer.

    Kept as an object so the Simulation can hold per-run state here if a cheaper method is
    ever needed; today every call is exact and independent.
    """

    def __init__(self, num_layers: int) -> None:
        self.num_layers = num_layers

    def update(self, matrices: list[np.ndarray]) -> np.ndarray:
        """(L,) float64 spectral norms; NaN for a matrix that holds a non-finite value."""
        return np.array([spectral_norm(matrix) for matrix in matrices], dtype=np.float64)
