"""Numerical helpers that stay exact where naive formulas underflow or overflow."""

from __future__ import annotations

import numpy as np


def safe_norm(values: np.ndarray, axis: int | tuple[int, ...] | None = None) -> np.ndarray | float:
    """Euclidean (Frobenius) norm that neither underflows nor overflows in its squares.

    ``sqrt(sum(g**2))`` returns exactly 0 once the squares underflow (below about 1e-154 in
    float64, 1e-19 in float32) although ``g`` itself is still representable, and inf once they
    overflow. Dividing by the largest magnitude first keeps every square in [0, 1].

    Parameters
    ----------
    values : array of any shape
    axis : the axes to reduce; None reduces everything.

    Returns
    -------
    float (axis None) or array of the remaining shape, in float64. NaN if any entry is NaN,
    inf if any entry is inf.
    """
    data = np.asarray(values, dtype=np.float64)
    with np.errstate(all="ignore"):
        scale = np.max(np.abs(data), axis=axis, keepdims=True)
        safe_scale = np.where((scale > 0) & np.isfinite(scale), scale, 1.0)
        ratio = data / safe_scale
        norm = np.sqrt(np.sum(ratio * ratio, axis=axis, keepdims=True)) * safe_scale
        # inf entries give inf/inf = NaN above; report them as inf (NaN entries stay NaN).
        norm = np.where(np.isinf(scale), np.inf, norm)
        has_nan = np.isnan(data).any(axis=axis, keepdims=True)
        norm = np.where(has_nan, np.nan, norm)
    if axis is None:
        return float(norm.reshape(()))
    return np.squeeze(norm, axis=axis)
