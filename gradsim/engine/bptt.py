"""What the cells' backward passes share: the workspace, the power-of-two scaling, batch norm.

Every cell (:mod:`rnn`, :mod:`lstm`, :mod:`gru`) backpropagates through time the same way:

- its arrays live in a :class:`Workspace` (no ``(T, B, H)`` array allocated per call once a
  workspace is warm, and nothing at all per time step);
- each (layer, time step) keeps its gradient as a mantissa times ``2**k`` (``k <= 0``): when a
  step's gradient leaves a safe band (:data:`SCALE_BANDS`) it is renormalised by an exact power
  of two and ``k`` absorbs the shift (:func:`renormalise`); two terms of one sum that carry
  different exponents are brought to a common one first (:func:`align`). Norms are reported as
  ``log10 ||mantissa|| + k log10(2)`` (:func:`log10_table`), exact at any magnitude;
- batch norm over the batch, per column, one step at a time (:func:`batch_norm_step`,
  :func:`batch_norm_backward_step`).

See the docstring of :mod:`gradsim.engine.rnn` for why each of these is there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .numerics import safe_norm

BATCH_NORM_EPS = 1e-5

LOG10_2 = math.log10(2.0)

# Safe band of one step's sum of squared gradient entries, per dtype: outside it (norm below
# 2**-128 ~ 3e-39 in float64, 2**-32 ~ 2e-10 in float32, or above the upper bound while scaled
# down) the step is renormalised. The bounds leave hundreds (float64) or tens (float32) of
# binary orders of headroom, so a step's own factors (derivatives, batch-norm 1/std, W_hh) can
# move the next step far without reaching a subnormal or overflowing, and the squares of the
# check itself stay normal.
SCALE_BANDS: dict[np.dtype, tuple[float, float]] = {
    np.dtype(np.float64): (2.0**-256, 2.0**256),
    np.dtype(np.float32): (2.0**-64, 2.0**64),
}


class Workspace:
    """Arrays that the forward and backward passes write into, kept between calls.

    Two kinds of array are asked for by a key (a name, and the layer where it matters):

    - *scratch*: intermediates no caller ever sees (``dL/da``, the gradient from the layer
      above, per-step temporaries). Always reused while the shape and dtype match.
    - *outputs*: what the call hands back (the forward cache, the parameter gradients). Reused
      only with ``reuse_outputs=True``, for a caller that is done with them before its next call
      (``Simulation.train_step``); otherwise allocated fresh on every call, so results can be
      kept (``Simulation.forward_backward``, the step-through view).

    Not thread-safe: one workspace per thread of work (a Simulation owns its own).

    Parameters
    ----------
    reuse_outputs : bool
        True: the next call overwrites the cache and gradients of the previous one.
    """

    def __init__(self, reuse_outputs: bool = False) -> None:
        self.reuse_outputs = reuse_outputs
        self._arrays: dict[tuple[object, ...], np.ndarray] = {}

    def scratch(self, key: tuple[object, ...], shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """The array kept under ``key``, or a new one if none of this shape and dtype is kept.

        Its contents are whatever the last user left: the caller overwrites all it reads.
        """
        array = self._arrays.get(key)
        if array is None or array.shape != shape or array.dtype != dtype:
            array = np.empty(shape, dtype=dtype)
            self._arrays[key] = array
        return array

    def output(self, key: tuple[object, ...], shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """Like :meth:`scratch` with ``reuse_outputs``; else a fresh array the caller may keep."""
        if self.reuse_outputs:
            return self.scratch(key, shape, dtype)
        return np.empty(shape, dtype=dtype)

    @property
    def nbytes(self) -> int:
        """Bytes held between calls."""
        return sum(array.nbytes for array in self._arrays.values())


# Whether ``h @ ascontiguousarray(W.T)`` gives the same bits as ``h @ W.T`` for a (B, I) x (I, O)
# product of a dtype, per (B, O, I, dtype); see recurrent_operand.
_CONTIGUOUS_TRANSPOSE_EXACT: dict[tuple[int, int, int, str], bool] = {}


def recurrent_operand(weight_hh: np.ndarray, batch: int, state_dtype: np.dtype) -> np.ndarray:
    """``W_hh.T`` for the per-step product ``h_{t-1} W_hh^T`` ``(B, H) x (H, G H)``.

    OpenBLAS runs that product up to 30% faster on a contiguous copy of ``W_hh.T`` than on the
    transposed view at most sizes, with the same bits. At some shapes (small products, B = 1)
    the two layouts take kernels that sum in different orders, and the last bits differ; runs
    must not depend on this choice, so the copy is used only where a probe of the same shape and
    dtype on random operands gave identical bits (once per shape in a process). Where BLAS sums
    in a fixed order per kernel, a random probe that agrees shows the same kernel arithmetic.
    """
    rows, cols = weight_hh.shape
    if weight_hh.dtype != state_dtype or weight_hh.dtype not in (np.float64, np.float32):
        return weight_hh.T
    key = (batch, rows, cols, weight_hh.dtype.str)
    exact = _CONTIGUOUS_TRANSPOSE_EXACT.get(key)
    if exact is None:
        rng = np.random.default_rng(0)
        h = rng.standard_normal((batch, cols)).astype(weight_hh.dtype)
        w = rng.standard_normal((rows, cols)).astype(weight_hh.dtype)
        exact = (h @ w.T).tobytes() == (h @ np.ascontiguousarray(w.T)).tobytes()
        _CONTIGUOUS_TRANSPOSE_EXACT[key] = exact
    return np.ascontiguousarray(weight_hh.T) if exact else weight_hh.T


# -- the power-of-two scaling ---------------------------------------------------------------------


def norm_exponent(row: np.ndarray, squares: float) -> float | None:
    """Binary exponent of ``||row||`` (``frexp``'s), from its sum of ``squares`` if normal.

    None for an all-zero row; inf if the row holds inf or NaN. When the squares underflow or
    overflow, the largest magnitude stands in for the norm (within a factor sqrt(size)).
    """
    if math.isfinite(squares) and squares >= np.finfo(row.dtype).tiny:
        return math.frexp(squares)[1] / 2
    if squares == 0 and not row.any():
        return None
    largest = float(np.max(np.abs(row)))  # rare: a step left the band by hundreds of orders
    if not math.isfinite(largest):
        return math.inf
    return math.frexp(largest)[1] if largest > 0 else None


def _size(arrays: Sequence[np.ndarray]) -> float | None:
    """The largest :func:`norm_exponent` of ``arrays`` (None if all are zero)."""
    sizes = [norm_exponent(array, float(np.dot(array.reshape(-1), array.reshape(-1)))) for array in arrays]
    known = [size for size in sizes if size is not None]
    return max(known) if known else None


def align(
    outside: np.ndarray, outside_exponent: int, carries: Sequence[np.ndarray], carry_exponent: int
) -> int:
    """Bring the terms of sums that carry two exponents to a common one, in place; returns it.

    ``outside`` holds one term at ``outside_exponent``; ``carries`` (one or more arrays, e.g. the
    LSTM's hidden and cell carries) share ``carry_exponent``. The larger true side keeps its
    exponent and the other is shifted down to it: whatever of the smaller one falls below the
    float range is far below the larger one's rounding.
    """
    outside_size = _size([outside])
    carry_size = _size(carries)
    if carry_size is None or (
        outside_size is not None and outside_exponent + outside_size >= carry_exponent + carry_size
    ):
        for carry in carries:
            np.ldexp(carry, carry_exponent - outside_exponent, out=carry)
        return outside_exponent
    np.ldexp(outside, outside_exponent - carry_exponent, out=outside)
    return carry_exponent


def renormalise(rows: Sequence[np.ndarray], squares: float, exponent: int, band: tuple[float, float]) -> int:
    """Rescale ``rows`` (one cell's gradients, sharing ``exponent``) into the band; new exponent.

    ``squares``: the largest sum of squares among ``rows``. Outside ``band`` the rows are
    renormalised to a norm near 1 by one exact power of two, never to an exponent above 0
    (growth overflows as the true value does). NaN compares false and is left as it is.
    """
    low, high = band
    if not (squares < low or (squares > high and exponent < 0)):
        return exponent
    size = _size(rows)
    if size is None or not math.isfinite(size):
        return exponent
    shift = min(int(size), -exponent)
    if shift:
        for row in rows:
            np.ldexp(row, -shift, out=row)
        exponent += shift
    return exponent


def band(dtype: np.dtype) -> tuple[float, float]:
    """The safe band of :data:`SCALE_BANDS` for ``dtype`` (no renormalisation for others)."""
    return SCALE_BANDS.get(np.dtype(dtype), (0.0, math.inf))


def log10_table(
    mantissas: np.ndarray, exponents: np.ndarray, work: Workspace
) -> tuple[np.ndarray, np.ndarray]:
    """``(log10 norms, plain norms)`` ``(T,)`` of a layer's ``(T, B, H)`` mantissas times ``2**k``.

    ``log10`` is exact at any magnitude (-inf only for an exact zero); the plain norm is rounded
    to float64 (0 below about 5e-324).
    """
    buffer = None
    if mantissas.dtype != np.float64:
        buffer = work.scratch(("norm_float64",), mantissas.shape, np.dtype(np.float64))
    norms = safe_norm(mantissas, axis=(1, 2), buffer=buffer)
    with np.errstate(divide="ignore", invalid="ignore"):
        # + 0.0 where k = 0 leaves the logarithm's bits as they are.
        logs = np.log10(norms) + exponents * LOG10_2
    return logs, np.ldexp(norms, exponents)


def row_log10_norm(row: np.ndarray, exponent: int) -> float:
    """``log10 ||row * 2**exponent||`` of one step's mantissa, exact at any magnitude."""
    squares = float(np.dot(row.reshape(-1), row.reshape(-1)))
    if not (math.isfinite(squares) and squares >= np.finfo(np.float64).tiny):
        squares_norm = float(safe_norm(row))
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(np.log10(squares_norm)) + exponent * LOG10_2
    return 0.5 * math.log10(squares) + exponent * LOG10_2


# -- batch norm, one time step ---------------------------------------------------------------------


class BatchNormScratch:
    """The per-step temporaries of batch norm over ``(B, X)`` columns, from a workspace."""

    def __init__(self, work: Workspace, tag: str, batch: int, width: int, dtype: np.dtype) -> None:
        self.centred = work.scratch(("bn_centred", tag), (batch, width), dtype)
        self.squares = work.scratch(("bn_squares", tag), (batch, width), dtype)
        self.mean = work.scratch(("bn_mean", tag), (width,), dtype)
        self.variance = work.scratch(("bn_variance", tag), (width,), dtype)
        self.inverse = work.scratch(("bn_inverse_std", tag), (width,), dtype)


def batch_norm_step(
    a: np.ndarray,
    gain: np.ndarray,
    shift: np.ndarray,
    normalized: np.ndarray,
    inverse_std: np.ndarray,
    scratch: BatchNormScratch,
) -> None:
    """``a <- gain * (a - mean_B(a)) / std_B(a) + shift`` in place, one column at a time.

    ``a``, ``normalized`` (written: ``(a - mean) / std``) ``(B, X)``; ``gain``, ``shift``,
    ``inverse_std`` (written: ``1 / std``) ``(X,)``. Columns are independent, so ``a`` may be a
    column slice of a step's pre-activations.
    """
    np.mean(a, axis=0, out=scratch.mean)
    np.subtract(a, scratch.mean, out=scratch.centred)
    np.multiply(scratch.centred, scratch.centred, out=scratch.squares)
    np.mean(scratch.squares, axis=0, out=scratch.variance)
    scratch.variance += BATCH_NORM_EPS
    np.sqrt(scratch.variance, out=scratch.variance)
    np.divide(1.0, scratch.variance, out=scratch.inverse)
    np.multiply(scratch.centred, scratch.inverse, out=normalized)
    inverse_std[...] = scratch.inverse
    np.multiply(normalized, gain, out=a)
    a += shift


def batch_norm_backward_step(
    dz: np.ndarray,
    normalized: np.ndarray,
    inverse_std: np.ndarray,
    gain: np.ndarray,
    gain_grad: np.ndarray,
    shift_grad: np.ndarray,
    exponent: int,
    scratch: BatchNormScratch,
) -> None:
    """Backward of :func:`batch_norm_step`: ``dz`` (``dL/dz``, ``(B, X)``) becomes ``dL/da`` in place.

    ``z = gain * u + shift``, ``u = (a - mean) / std`` over the batch:
    ``dL/da = gain / std * (dz - mean(dz) - u * mean(dz * u))``. ``dz`` is a mantissa times
    ``2**exponent``; the gain and shift gradients (``(X,)``, accumulated) take true values.
    """
    column = scratch.variance  # free during the backward pass
    product, scaled, scaled_mean = scratch.squares, scratch.centred, scratch.mean
    np.multiply(dz, normalized, out=product)
    np.sum(product, axis=0, out=column)
    if exponent:
        np.ldexp(column, exponent, out=column)
    gain_grad += column
    np.sum(dz, axis=0, out=column)
    if exponent:
        np.ldexp(column, exponent, out=column)
    shift_grad += column
    np.multiply(dz, gain, out=scaled)
    np.mean(scaled, axis=0, out=scaled_mean)
    np.multiply(scaled, normalized, out=product)
    np.mean(product, axis=0, out=column)
    scaled -= scaled_mean
    np.multiply(normalized, column, out=product)
    scaled -= product
    np.multiply(inverse_std, scaled, out=dz)
