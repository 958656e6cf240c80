"""Spectral norm (largest singular value) of the recurrent matrices, cheaply, every step."""

from __future__ import annotations

import numpy as np

# Below this size an exact SVD costs less than a millisecond; above it, power iteration
# warm-started from the previous step's vector converges in a few products, because the
# weights change little between steps.
EXACT_UP_TO = 64
POWER_ITERATIONS = 12


class SpectralNormTracker:
    """Keeps one right singular vector estimate per layer between calls."""

    def __init__(self, num_layers: int) -> None:
        self._vectors: list[np.ndarray | None] = [None] * num_layers

    def update(self, matrices: list[np.ndarray]) -> np.ndarray:
        """(L,) float64 spectral norms; NaN for a matrix that holds a non-finite value."""
        out = np.empty(len(matrices))
        with np.errstate(all="ignore"):
            for k, matrix in enumerate(matrices):
                out[k] = self._norm(k, np.asarray(matrix, dtype=np.float64))
        return out

    def _norm(self, k: int, matrix: np.ndarray) -> float:
        if not np.all(np.isfinite(matrix)):
            return float("nan")
        if matrix.shape[0] <= EXACT_UP_TO:
            return float(np.linalg.norm(matrix, 2))
        vector = self._vectors[k]
        if vector is None or vector.shape[0] != matrix.shape[1]:
            vector = np.random.default_rng(k).standard_normal(matrix.shape[1])
        vector /= np.linalg.norm(vector)
        gram_image = vector
        for _ in range(POWER_ITERATIONS):
            image = matrix @ vector
            gram_image = matrix.T @ image
            size = np.linalg.norm(gram_image)
            if size == 0:
                return 0.0
            vector = gram_image / size
        self._vectors[k] = vector
        return float(np.linalg.norm(matrix @ vector))
