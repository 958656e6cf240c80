"""What the cells' backward passes share: the workspace, the power-of-two scaling, batch norm.

Every cell (:mod:`rnn`, :mod:`lstm`, :mod:`gru`) backpropagates through time the same way:

- its arrays live in a :class:`~gradsim.engine.workspace.Workspace` (no ``(T, B, H)`` array
  allocated per call once a workspace is warm, and nothing at all per time step);
- each (layer, time step) keeps its gradient as a mantissa times ``2**k`` (``k <= 0``): when a
  step's gradient leaves a safe band (:data:`SCALE_BANDS`) it is renormalised by an exact power
  of two and ``k`` absorbs the shift (:func:`renormalise`); two terms of one sum that carry
  different exponents are brought to a common one first (:func:`align`). Norms are reported as
  ``log10 ||mantissa|| + k log10(2)`` (:func:`log10_table`), exact at any magnitude;
- batch norm over the batch, per column, one step at a time (:func:`batch_norm_step`,
  :func:`batch_norm_backward_step`; :class:`BatchNormForward`, :class:`BatchNormBackward` hold a
  layer's arrays);
- the pieces of a pass around the per-step recurrence, the same for every cell: the inputs made
  time-major and projected for all steps in one product (:func:`time_major`,
  :func:`input_projection`), the gradient that arrives at a layer from the readout or the layer
  above (:class:`OutsideGradient`), and what a layer leaves after its last step: its norm tables,
  the gradient sent down and the weights' gradients (:func:`finish_layer`).

See the docstring of :mod:`gradsim.engine.rnn` for why each of these is there.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from .numerics import safe_norm
from .workspace import Workspace as Workspace  # re-exported: the cells take both from here
from .workspace import recurrent_blocks as recurrent_blocks
from .workspace import recurrent_operand as recurrent_operand

BATCH_NORM_EPS = 1e-5

LOG10_2 = math.log10(2.0)
_TINY64 = float(np.finfo(np.float64).tiny)

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


# -- the power-of-two scaling ---------------------------------------------------------------------


# The smallest normal number of each dtype (numpy's finfo lookup costs more than the test it serves).
_TINY = {
    np.dtype(np.float64): float(np.finfo(np.float64).tiny),
    np.dtype(np.float32): float(np.finfo(np.float32).tiny),
}


def norm_exponent(row: np.ndarray, squares: float) -> float | None:
    """Binary exponent of ``||row||`` (``frexp``'s), from its sum of ``squares`` if normal.

    None for an all-zero row; inf if the row holds inf or NaN. When the squares underflow or
    overflow, the largest magnitude stands in for the norm (within a factor sqrt(size)).
    """
    tiny = _TINY.get(row.dtype)
    if tiny is None:
        tiny = float(np.finfo(row.dtype).tiny)
    if math.isfinite(squares) and squares >= tiny:
        return math.frexp(squares)[1] / 2
    if squares == 0 and not row.any():
        return None
    largest = float(np.max(np.abs(row)))  # rare: a step left the band by hundreds of orders
    if not math.isfinite(largest):
        return math.inf
    return math.frexp(largest)[1] if largest > 0 else None


def _array_size(array: np.ndarray) -> float | None:
    """:func:`norm_exponent` of one array, from its sum of squares."""
    flat = array.reshape(-1)
    return norm_exponent(array, float(np.dot(flat, flat)))


def _size(arrays: Sequence[np.ndarray]) -> float | None:
    """The largest :func:`norm_exponent` of ``arrays`` (None if all are zero)."""
    if len(arrays) == 1:  # the usual case, at many time steps: no lists
        return _array_size(arrays[0])
    sizes = [_array_size(array) for array in arrays]
    known = [size for size in sizes if size is not None]
    return max(known) if known else None


def align(
    outside: np.ndarray,
    outside_exponent: int,
    carries: Sequence[np.ndarray],
    carry_exponent: int,
    outside_squares: float | None = None,
) -> int:
    """Bring the terms of sums that carry two exponents to a common one, in place; returns it.

    ``outside`` holds one term at ``outside_exponent``; ``carries`` (one or more arrays, e.g. the
    LSTM's hidden and cell carries) share ``carry_exponent``. The larger true side keeps its
    exponent and the other is shifted down to it: whatever of the smaller one falls below the
    float range is far below the larger one's rounding. ``outside_squares``: ``outside``'s sum
    of squares, when the caller has it.
    """
    if outside_squares is None:
        outside_size = _array_size(outside)
    else:
        outside_size = norm_exponent(outside, outside_squares)
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


def times_powers_of_two(array: np.ndarray, exponents: np.ndarray) -> None:
    """``array[t] *= 2**exponents[t]`` in place: the bits of ``np.ldexp(array, exponents[:, None, None])``.

    ``array`` ``(T, ...)``, ``exponents`` ``(T,)`` integers. A product with a power of two is exact,
    or correctly rounded where the result is subnormal, as ``ldexp`` rounds; numpy's ``ldexp`` is
    scalar libm code, ~10x the cost of a multiply (3 ms of a 25 ms float32 backward pass at
    H=128). Powers the dtype cannot hold (below its smallest subnormal, ``2**-149`` in float32
    and ``2**-1074`` in float64, or above its largest) need more care: a step whose largest
    magnitude times ``2**k`` is at most half the smallest subnormal rounds to zero in every entry
    (``ldexp`` rounds a tie to the even zero), so a product with 0.0 gives its bits, signs of zero
    included; only what is left (a non-finite step, or one whose largest entries stay
    representable) goes through ``ldexp``. A vanishing float32 run at H=512 sends most of its
    early steps there: 9.5 ms of ``ldexp`` for a (100, 32, 512) array, 0.3 ms this way.
    """
    info = np.finfo(array.dtype)
    smallest = info.minexp - info.nmant
    shape = (-1,) + (1,) * (array.ndim - 1)  # one factor per step
    if exponents.min() >= smallest and exponents.max() < info.maxexp:
        factors = np.ldexp(np.ones(len(exponents), dtype=array.dtype), exponents)  # exact powers
        array *= factors.reshape(shape)
        return
    held = (exponents >= smallest) & (exponents < info.maxexp)
    if held.any():
        chosen = np.flatnonzero(held)
        factors = np.ldexp(np.ones(len(chosen), dtype=array.dtype), exponents[chosen])
        array[chosen] *= factors.reshape(shape)
    deep = np.flatnonzero(exponents < smallest)
    rest = [np.flatnonzero(exponents >= info.maxexp)]
    if len(deep):
        largest = np.abs(array[deep]).reshape(len(deep), -1).max(axis=1, initial=0.0)
        # largest * 2**k <= 2**(smallest - 1), compared in exponents: frexp's e has largest < 2**e.
        with np.errstate(invalid="ignore"):
            _, top = np.frexp(largest)
        vanish = np.isfinite(largest) & (top.astype(np.int64) + exponents[deep] <= smallest - 1)
        if vanish.any():
            array[deep[vanish]] *= array.dtype.type(0.0)
        rest.append(deep[~vanish])
    left = np.concatenate(rest)
    if len(left):
        array[left] = np.ldexp(array[left], exponents[left].reshape(shape))


# A forward pass's checkpoint (``checkpoint=`` of the cells' forward passes): called before the
# first time step of every layer and then every ``checkpoint_every`` steps; whoever gave it may
# wait there or raise to abandon the pass (the window's training loop does both). The numbers
# do not depend on it.
Checkpoint = Callable[[], None]

# About this many multiply-adds of recurrent products between two checkpoints (at most
# :data:`CHECKPOINT_MAX_STRIDE` steps apart): a Python call per step costs about a microsecond,
# which is 5% of a step of a 16-unit layer, and nothing at 256 units.
CHECKPOINT_WORK = 1 << 20
CHECKPOINT_MAX_STRIDE = 16


def checkpoint_stride(batch: int, hidden: int, blocks: int = 1) -> int:
    """Time steps between two checkpoints of a layer of ``hidden`` units (``blocks`` gate blocks)
    on a batch of ``batch``: about :data:`CHECKPOINT_WORK` multiply-adds, 1 to
    :data:`CHECKPOINT_MAX_STRIDE` steps."""
    per_step = max(1, batch * hidden * hidden * blocks)
    return max(1, min(CHECKPOINT_MAX_STRIDE, CHECKPOINT_WORK // per_step))


def band(dtype: np.dtype, bands: dict[np.dtype, tuple[float, float]] | None = None) -> tuple[float, float]:
    """The safe band of ``bands`` (default :data:`SCALE_BANDS`) for ``dtype`` (none for others)."""
    return (SCALE_BANDS if bands is None else bands).get(np.dtype(dtype), (0.0, math.inf))


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
    if not (math.isfinite(squares) and squares >= _TINY64):
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


class _BatchNormLayer:
    """One layer's batch norm arrays; per-step temporaries for each block of columns."""

    gain: np.ndarray
    normalized: np.ndarray  # (T, B, X) (a - mean) / std
    inverse_std: np.ndarray  # (T, 1, X) 1 / std

    def __init__(self, work: Workspace, batch: int, dtype: np.dtype) -> None:
        self._work, self._batch, self._dtype = work, batch, dtype
        self._scratch: dict[tuple[int, int], BatchNormScratch] = {}

    def scratch(self, columns: slice) -> BatchNormScratch:
        """The temporaries for the block ``columns`` (kept in the workspace by its bounds)."""
        start, stop, _ = columns.indices(self.gain.shape[0])
        key = (start, stop)
        if key not in self._scratch:
            self._scratch[key] = BatchNormScratch(
                self._work, f"{start}:{stop}", self._batch, stop - start, self._dtype
            )
        return self._scratch[key]


class BatchNormForward(_BatchNormLayer):
    """A layer's batch norm in the forward pass.

    ``normalized`` ``(T, B, X)`` and ``inverse_std`` ``(T, 1, X)`` are outputs of ``work`` (the
    cache keeps them); :meth:`step` normalises one step's pre-activations, or a block of their
    columns, in place.
    """

    def __init__(
        self, params: dict[str, np.ndarray], layer: int, shape: tuple[int, int, int], dtype: np.dtype,
        work: Workspace,
    ) -> None:  # fmt: skip
        steps, batch, width = shape
        super().__init__(work, batch, dtype)
        self.gain, self.shift = params[f"bn_gain_l{layer}"], params[f"bn_shift_l{layer}"]
        self.normalized = work.output(("normalized", layer), shape, dtype)
        self.inverse_std = work.output(("inverse_std", layer), (steps, 1, width), dtype)

    def step(self, a: np.ndarray, t: int, columns: slice = slice(None)) -> None:
        """Normalise ``a`` (step ``t``'s ``columns``, ``(B, X')``) in place (:func:`batch_norm_step`)."""
        batch_norm_step(
            a, self.gain[columns], self.shift[columns], self.normalized[t][:, columns],
            self.inverse_std[t, 0, columns], self.scratch(columns),
        )  # fmt: skip


class BatchNormBackward(_BatchNormLayer):
    """A layer's batch norm in the backward pass: the forward's arrays, the gain/shift gradients."""

    def __init__(
        self, params: dict[str, np.ndarray], layer: int, normalized: np.ndarray, inverse_std: np.ndarray,
        dtype: np.dtype, work: Workspace,
    ) -> None:  # fmt: skip
        super().__init__(work, normalized.shape[1], dtype)
        self.layer = layer
        self.gain = params[f"bn_gain_l{layer}"]
        self.normalized, self.inverse_std = normalized, inverse_std
        self.gain_grad = np.zeros(normalized.shape[2], dtype=dtype)
        self.shift_grad = np.zeros(normalized.shape[2], dtype=dtype)

    def step(self, dz: np.ndarray, t: int, exponent: int, columns: slice = slice(None)) -> None:
        """``dL/dz`` -> ``dL/da`` in place for step ``t``'s ``columns`` (:func:`batch_norm_backward_step`)."""
        batch_norm_backward_step(
            dz, self.normalized[t][:, columns], self.inverse_std[t][:, columns], self.gain[columns],
            self.gain_grad[columns], self.shift_grad[columns], exponent, self.scratch(columns),
        )  # fmt: skip

    def store(self, grads: dict[str, np.ndarray]) -> None:
        """Put the gain and shift gradients into ``grads``."""
        grads[f"bn_gain_l{self.layer}"] = self.gain_grad
        grads[f"bn_shift_l{self.layer}"] = self.shift_grad


# -- around the recurrence: inputs, what comes from outside a layer, what a layer leaves ----------


def layer_names(layer: int) -> tuple[str, str, str, str]:
    """Parameter names of layer ``layer``: weight_ih, weight_hh, bias_ih, bias_hh."""
    return (f"weight_ih_l{layer}", f"weight_hh_l{layer}", f"bias_ih_l{layer}", f"bias_hh_l{layer}")


def time_major(x: np.ndarray, work: Workspace) -> np.ndarray:
    """``x`` ``(B, T, I)`` copied to ``(T, B, I)`` (an output of ``work``), each step contiguous."""
    batch, steps, width = x.shape
    layer_input = work.output(("input",), (steps, batch, width), x.dtype)
    np.copyto(layer_input, x.transpose(1, 0, 2))
    return layer_input


def input_projection(
    layer_input: np.ndarray, weight_ih: np.ndarray, key: tuple[object, ...], work: Workspace
) -> np.ndarray:
    """``layer_input W_ih^T`` ``(T, B, R)`` for all steps in one product (an output of ``work``).

    ``layer_input`` ``(T, B, I)``, ``weight_ih`` ``(R, I)``; the recurrence then adds
    ``W_hh h_{t-1}`` step by step in place.
    """
    steps, batch, _ = layer_input.shape
    rows = weight_ih.shape[0]
    projection = work.output(key, (steps, batch, rows), np.result_type(layer_input, weight_ih))
    np.matmul(
        layer_input.reshape(steps * batch, -1), weight_ih.T, out=projection.reshape(steps * batch, rows)
    )
    return projection


class OutsideGradient:
    """``dL/dh_t`` arriving at a layer from outside its own recurrence, for every step.

    The readout for the top layer (last step only), the layer above for the others. Row ``t`` is
    a mantissa at the power of two ``exponents[t]`` of the cell it came from; None marks the top
    layer's zero rows, which take any exponent. Creating it also puts the readout's gradients
    into ``grads``.

    Parameters
    ----------
    params : the network's parameters (``readout.weight`` ``(O, H)``)
    output_grad : (B, O) ``dL/d out``
    top_state : (B, H) the top layer's last state
    steps : T
    grads : the parameter gradients being filled
    """

    def __init__(
        self, params: dict[str, np.ndarray], output_grad: np.ndarray, top_state: np.ndarray, steps: int,
        grads: dict[str, np.ndarray], work: Workspace,
    ) -> None:  # fmt: skip
        grads["readout.weight"] = output_grad.T @ top_state
        grads["readout.bias"] = output_grad.sum(axis=0)
        self.values = work.scratch(("from_outside",), (steps,) + top_state.shape, output_grad.dtype)
        self.values[:-1] = 0
        self.values[-1] = output_grad @ params["readout.weight"]
        self.exponents: list[int | None] = [None] * (steps - 1) + [0]
        # Each row's sum of squares, for the joins: computed for all rows at once by the first join
        # that needs it (a run whose exponents all stay 0 never does), None until then.
        self.squares: list[float] | None = None
        self._work = work

    def first_exponent(self) -> int:
        """The exponent the carries start at (the last step's)."""
        return self.exponents[-1] or 0

    def join(self, t: int, carries: Sequence[np.ndarray], exponent: int) -> int:
        """Bring step ``t``'s row and the ``carries`` (at ``exponent``) to one exponent; returns it."""
        outside = self.exponents[t]
        if outside is None or outside == exponent:
            return exponent
        if self.squares is None:
            # Rows not joined yet are as sent; a joined row (which align may have rescaled) is
            # not read again.
            rows = self.values.reshape(len(self.exponents), -1)
            self.squares = np.vecdot(rows, rows).tolist()  # each row's as np.dot gives it
        return align(self.values[t], outside, carries, exponent, self.squares[t])

    def send_down(self, flat_grad: np.ndarray, weight_ih: np.ndarray, exponents: np.ndarray) -> None:
        """Replace the rows by the layer below's: ``flat_grad`` ``(T B, R)`` times ``W_ih`` ``(R, I)``.

        Sent from the mantissas, each row keeping its cell's exponent (``exponents`` ``(T,)``).
        """
        steps, (batch, below) = len(exponents), (flat_grad.shape[0] // len(exponents), weight_ih.shape[1])
        # The layer above is done reading the buffer: the layer below's gradient replaces it.
        self.values = self._work.scratch(
            ("from_outside",), (steps, batch, below), np.result_type(flat_grad, weight_ih)
        )
        np.matmul(flat_grad, weight_ih, out=self.values.reshape(steps * batch, below))
        self.exponents = exponents.tolist()
        self.squares = None


def finish_layer(
    state_tables: tuple[np.ndarray, np.ndarray, np.ndarray], layer: int, layer_grad: np.ndarray,
    gate_grad: np.ndarray, params: dict[str, np.ndarray], layer_states: np.ndarray, layer_input: np.ndarray,
    outside: OutsideGradient, grads: dict[str, np.ndarray], work: Workspace,
    gru_projection_grad: np.ndarray | None = None,
) -> None:  # fmt: skip
    """What a layer leaves once its last step is done.

    - Row ``layer`` of the tables ``(log10_grad_norms, grad_norms, scale_exponents)`` from
      ``layer_grad`` ``(T, B, H)`` (the mantissas of ``dL/dh``, :func:`log10_table`);
    - the gradient sent to the layer below (:meth:`OutsideGradient.send_down`), from ``gate_grad``
      ``(T, B, R)``, the mantissas of ``dL/da`` of every block, which then become true values;
    - the layer's parameter gradients, one product each over all steps, in the order
      ``weight_hh``, ``weight_ih``, ``bias_ih``, ``bias_hh`` (the global norm sums them in that
      order): ``weight_hh`` from ``layer_states`` ``(T + 1, B, H)`` (``h_{t-1}`` is
      ``layer_states[t]``), ``weight_ih`` from ``layer_input`` ``(T, B, I)``.

    ``gru_projection_grad`` ``(T, B, H)``: a GRU's ``dL/dq`` (``q = W_hn h_{t-1} + b_hn``), made a
    true value too; its products replace the ``n`` block's in ``weight_hh`` and ``bias_hh``.
    """
    log10_grad_norms, grad_norms, scale_exponents = state_tables
    exponents = scale_exponents[layer]
    log10_grad_norms[layer], grad_norms[layer] = log10_table(layer_grad, exponents, work)
    steps, batch, rows = gate_grad.shape
    flat = gate_grad.reshape(steps * batch, rows)
    w_ih, w_hh, b_ih, b_hh = layer_names(layer)
    if layer > 0:
        outside.send_down(flat, params[w_ih], exponents)
    if exponents.any():
        # The parameters' gradients are sums of true values.
        for array in (gate_grad,) if gru_projection_grad is None else (gate_grad, gru_projection_grad):
            times_powers_of_two(array, exponents)
    previous_states = layer_states[:-1]
    if gru_projection_grad is None:
        grads[w_hh] = weight_gradient(flat, previous_states, ("grad", w_hh), work)
    else:
        hidden = gru_projection_grad.shape[2]
        flat_projection = gru_projection_grad.reshape(steps * batch, hidden)
        grad_hh = work.output(("grad", w_hh), (rows, hidden), np.result_type(flat, previous_states))
        weight_gradient(flat[:, : rows - hidden], previous_states, (), work, out=grad_hh[: rows - hidden])
        weight_gradient(flat_projection, previous_states, (), work, out=grad_hh[rows - hidden :])
        grads[w_hh] = grad_hh
    grads[w_ih] = weight_gradient(flat, layer_input, ("grad", w_ih), work)
    grads[b_ih] = flat.sum(axis=0)
    if gru_projection_grad is None:
        grads[b_hh] = grads[b_ih].copy()
    else:
        grads[b_hh] = np.concatenate([grads[b_ih][: rows - hidden], flat_projection.sum(axis=0)])


def weight_gradient(
    flat_grad: np.ndarray,
    operand: np.ndarray,
    key: tuple[object, ...],
    work: Workspace,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """``flat_grad^T operand``: ``(T B, R)`` by ``(T, B, X)`` (all steps) into ``(R, X)``.

    ``out``: where to write (else an output of ``work`` under ``key``).
    """
    flat_operand = operand.reshape(flat_grad.shape[0], -1)
    if out is None:
        shape = (flat_grad.shape[1], flat_operand.shape[1])
        out = work.output(key, shape, np.result_type(flat_grad, flat_operand))
    return np.matmul(flat_grad.T, flat_operand, out=out)
