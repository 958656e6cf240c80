"""Weight initialisation schemes. Every matrix is drawn by its scheme, then scaled."""

from __future__ import annotations

import numpy as np


def init_matrix(
    scheme: str, shape: tuple[int, int], scale: float, rng: np.random.Generator, dtype: np.dtype
) -> np.ndarray:
    """Draw a ``(fan_out, fan_in)`` weight matrix by ``scheme`` and multiply it by ``scale``.

    - gaussian: N(0, 1 / fan_in), so entries are N(0, scale^2 / fan_in)
    - xavier: uniform(-a, a), a = sqrt(6 / (fan_in + fan_out)) (variance 2 / (fan_in + fan_out))
    - he: N(0, 2 / fan_in)
    - orthogonal: orthonormal rows or columns (QR of a Gaussian matrix, signs fixed so the
      distribution is uniform); every singular value is 1
    - identity: ones on the main diagonal (rectangular where the shape is)
    """
    fan_out, fan_in = shape
    if scheme == "gaussian":
        base = rng.standard_normal(shape) / np.sqrt(fan_in)
    elif scheme == "xavier":
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        base = rng.uniform(-limit, limit, size=shape)
    elif scheme == "he":
        base = rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)
    elif scheme == "orthogonal":
        tall = (max(shape), min(shape))
        q, r = np.linalg.qr(rng.standard_normal(tall))
        q = q * np.sign(np.diag(r))
        base = q if shape == tall else q.T
    elif scheme == "identity":
        base = np.eye(fan_out, fan_in)
    else:
        raise ValueError(f"unknown initialisation {scheme!r}")
    return (scale * base).astype(dtype)
