"""Numerical helpers that stay exact where naive formulas underflow or overflow."""

from __future__ import annotations

from typing import overload

import numpy as np

# Between these bounds on the sum of squares, the plain formula loses nothing: any element
# whose square underflows is below 1e-154 and contributes less than 1e-28 of the total.
_PLAIN_LOW = 1e-280
_PLAIN_HIGH = 1e280
# Elements per block of rows on the careful path (2**20 float64: 8 MiB per temporary).
_CAREFUL_BLOCK_ELEMENTS = 2**20


@overload
def safe_norm(values: np.ndarray, axis: None = None, buffer: np.ndarray | None = None) -> float: ...
@overload
def safe_norm(
    values: np.ndarray, axis: int | tuple[int, ...], buffer: np.ndarray | None = None
) -> np.ndarray: ...
def safe_norm(
    values: np.ndarray, axis: int | tuple[int, ...] | None = None, buffer: np.ndarray | None = None
) -> np.ndarray | float:
    """Euclidean (Frobenius) norm that neither underflows nor overflows in its squares.

    ``sqrt(sum(g**2))`` returns exactly 0 once the squares underflow (below about 1e-154 in
    float64, 1e-19 in float32) although ``g`` itself is still representable, and inf once they
    overflow. Rows whose plain sum of squares is tiny, huge or not finite are recomputed after
    dividing by their largest magnitude, which keeps every square in [0, 1].

    Parameters
    ----------
    values : array of any shape
    axis : the axes to reduce; None reduces everything.
    buffer : optional float64 array of ``values``' shape, overwritten with ``values`` converted
        to float64 when they are of another dtype (instead of a fresh copy: the engine reuses
        one from step to step). The result does not depend on it.

    Returns
    -------
    float (axis None) or float64 array of the remaining shape. NaN if any entry is NaN, inf if
    any entry is inf (and none is NaN).
    """
    array = np.asarray(values)
    given = array.dtype
    if buffer is not None and given != np.float64:
        np.copyto(buffer, array)
        data = buffer
    else:
        data = array.astype(np.float64, copy=False)
    # The squares of float32 (or narrower) numbers neither underflow nor overflow in float64
    # (1.4e-45 squared is 2e-90): a zero sum is a row of zeros, whose norm is the plain 0.
    narrow = given.kind == "f" and given.itemsize < 8
    if axis is None:
        rows = data.reshape(1, -1)
        kept_shape: tuple[int, ...] = ()
    else:
        axes = (axis,) if isinstance(axis, int) else tuple(axis)
        axes = tuple(a % data.ndim for a in axes)
        kept = [a for a in range(data.ndim) if a not in axes]
        kept_shape = tuple(data.shape[a] for a in kept)
        rows = data.transpose(kept + list(axes)).reshape(int(np.prod(kept_shape, dtype=np.int64)), -1)
    with np.errstate(all="ignore"):
        # One dot product per row (BLAS): a row's sum does not depend on how many rows are
        # reduced with it, as einsum's does above 8192 numbers a row (the step-through's norm
        # of one step then matches the whole table's bit for bit), and it is 2.5x as fast.
        squares = np.vecdot(rows, rows)
        norms = np.sqrt(squares)
        careful = ~((squares > _PLAIN_LOW) & (squares < _PLAIN_HIGH))
        if narrow:
            careful &= squares != 0.0
        if careful.any():
            # In blocks of rows: rows[careful] and the scaled copies are float64 temporaries, and
            # a vanished gradient makes every row careful (zeros); whole, they would add three
            # copies of a (T, B, H) array to the peak memory of a training step.
            indices = np.flatnonzero(careful)
            block = max(1, _CAREFUL_BLOCK_ELEMENTS // max(rows.shape[1], 1))
            for start in range(0, len(indices), block):
                chosen = indices[start : start + block]
                norms[chosen] = _scaled_norms(rows[chosen])
    if axis is None:
        return float(norms[0])
    return norms.reshape(kept_shape)


def _scaled_norms(rows: np.ndarray) -> np.ndarray:
    """Row norms computed as ``m * ||row / m||`` with ``m = max |row|``."""
    scale = np.max(np.abs(rows), axis=1, keepdims=True) if rows.shape[1] else np.zeros((len(rows), 1))
    safe_scale = np.where((scale > 0) & np.isfinite(scale), scale, 1.0)
    ratio = rows / safe_scale
    norms = np.sqrt(np.vecdot(ratio, ratio)) * safe_scale[:, 0]
    norms = np.where(np.isinf(scale[:, 0]), np.inf, norms)
    return np.where(np.isnan(rows).any(axis=1), np.nan, norms)
