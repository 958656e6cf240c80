"""Where the cells' passes keep their arrays between calls, and the layout of the recurrent operand.

:class:`Workspace` hands out the arrays a forward or backward pass writes into (no ``(T, B, H)``
array allocated per call once it is warm, nothing at all per time step); :func:`recurrent_operand`
and :func:`recurrent_blocks` choose the layout of ``W_hh^T`` for the per-step product.
:mod:`gradsim.engine.bptt` re-exports them.
"""

from __future__ import annotations

import numpy as np


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
    exact = _contiguous_transpose_exact(batch, rows, cols, weight_hh.dtype, state_dtype)
    return np.ascontiguousarray(weight_hh.T) if exact else weight_hh.T


def recurrent_blocks(weight_hh: np.ndarray, blocks: int, batch: int, state_dtype: np.dtype) -> np.ndarray:
    """``W_k^T`` of each row block of ``W_hh`` ``(G H, H)``, stacked ``(G, H, H)``.

    For a gated cell's per-step product into its block-major gates: ``h_{t-1}`` ``(B, H)`` times
    this gives ``(G, B, H)``, each block one contiguous ``(B, H)`` product. A contiguous copy where
    a probe of the block's shape gives the bits of the transposed view (as :func:`recurrent_operand`),
    else the view.
    """
    rows, cols = weight_hh.shape
    stacked = weight_hh.reshape(blocks, rows // blocks, cols).transpose(0, 2, 1)
    exact = _contiguous_transpose_exact(batch, rows // blocks, cols, weight_hh.dtype, state_dtype)
    return np.ascontiguousarray(stacked) if exact else stacked


def _contiguous_transpose_exact(
    batch: int, rows: int, cols: int, dtype: np.dtype, state_dtype: np.dtype
) -> bool:
    """Whether ``h @ ascontiguousarray(W.T)`` gives the bits of ``h @ W.T`` for ``W`` ``(rows, cols)``."""
    if dtype != state_dtype or dtype not in (np.float64, np.float32):
        return False
    key = (batch, rows, cols, np.dtype(dtype).str)
    exact = _CONTIGUOUS_TRANSPOSE_EXACT.get(key)
    if exact is None:
        rng = np.random.default_rng(0)
        h = rng.standard_normal((batch, cols)).astype(dtype)
        w = rng.standard_normal((rows, cols)).astype(dtype)
        exact = (h @ w.T).tobytes() == (h @ np.ascontiguousarray(w.T)).tobytes()
        _CONTIGUOUS_TRANSPOSE_EXACT[key] = exact
    return exact
