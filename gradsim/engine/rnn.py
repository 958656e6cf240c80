"""A stacked vanilla (Elman) RNN with exact backpropagation through time, in numpy.

Layer ``l`` at time ``t`` (PyTorch's ``nn.RNN`` convention, weights named as there)::

    a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh          pre-activation, (B, H)
    z_t = a_t                                          without normalisation
    z_t = gain * (a_t - mean_B(a_t)) / std_B(a_t) + shift   with batch norm
    h_t = f(z_t)

``x_t`` is the task input for layer 0 and ``h_t`` of the layer below otherwise; ``h_{-1} = 0``.
The readout sees the top layer's last state only: ``out = W_o h_{T-1} + b_o``.

Internally arrays are time-major, ``(T, B, H)``, so each step's slice is contiguous. All
inputs of a layer are projected in one matrix product before the recurrence, and the backward
pass mirrors that: one product each for ``dW_ih``, ``dW_hh`` and the gradient sent to the
layer below, after the per-step recurrence.

The backward pass is a generator (:func:`backward_steps`) that yields after every
(layer, time step), in the order BPTT computes them: the top layer from the last step to the
first, then the layer below, and so on. :func:`backward` runs it to the end; the step-through
view consumes it one step at a time. Both therefore produce bit-identical results.

Scale: the gradient ``dL/dh`` of a vanishing run falls below the smallest float (1e-308 in
float64, 1e-38 in float32: a sigmoid stack of 4 layers over 1000 steps reaches 1e-607) and
would be stored as 0 or as a subnormal with few correct digits. The backward pass is linear
in the incoming gradient, so each (layer, time step) keeps its ``dL/dh`` as a mantissa array
times ``2**k`` with an integer exponent ``k <= 0``: when a step's gradient leaves a safe band
it is renormalised by an exact power of two (``np.ldexp``, which rounds nothing in the normal
range) and ``k`` absorbs the shift. Norms are reported as ``log10 ||mantissa|| + k log10(2)``,
exact at any magnitude; the parameter gradients use the true values (``ldexp`` back, which may
underflow where the true contribution is below the float range). Scaling by a power of two
commutes with every rounding in the normal range, so where no value was subnormal the results
are bit for bit those of the plain computation; growth is never rescaled below ``k = 0``, so
an exploding gradient still overflows to inf, as it does in the arithmetic of the parameters.

Speed: both passes write into the arrays of a :class:`Workspace` (``out=`` everywhere in the
time loops), so that a training step that reuses one allocates no ``(T, B, H)`` array: fresh
ones cost a page fault per 4 KiB on first touch, about a quarter of a step at B=32 H=128.
Buffers change where results are stored, never how they are computed: with or without a
workspace the numbers are the same, bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass, field

import numpy as np

from .activations import Activation
from .bptt import (
    BATCH_NORM_EPS,
    LOG10_2,
    SCALE_BANDS,
    BatchNormBackward,
    BatchNormForward,
    Checkpoint,
    OutsideGradient,
    Workspace,
    band,
    finish_layer,
    input_projection,
    layer_names,
    norm_exponent,
    recurrent_operand,
    time_major,
)
from .tasks import Task, loss_and_gradient

__all__ = [
    "BATCH_NORM_EPS",
    "LOG10_2",
    "BackwardState",
    "ForwardCache",
    "Workspace",
    "backward",
    "backward_steps",
    "forward",
    "layer_names",
    "loss_and_output_grad",
]

# The scaling band is read through this module's own name, so a test can switch it off here.
_SCALE_BANDS = SCALE_BANDS
_recurrent_operand = recurrent_operand


@dataclass
class ForwardCache:
    """What the backward pass needs from the forward pass.

    Attributes
    ----------
    inputs : list of (T, B, I_l) arrays, the input sequence of each layer
    states : list of (T + 1, B, H) arrays; ``states[l][0]`` is the zero initial state and
        ``states[l][t + 1]`` is ``h_t``
    preactivations : list of (T, B, H), ``z_t`` (the activation's input)
    derivatives : list of (T, B, H), ``f'(z_t)``
    normalized : list of (T, B, H), ``(a - mean) / std`` (batch norm only, else empty)
    inverse_std : list of (T, 1, H), ``1 / std`` (batch norm only, else empty)
    output : (B, O) readout
    """

    inputs: list[np.ndarray]
    states: list[np.ndarray]
    preactivations: list[np.ndarray]
    derivatives: list[np.ndarray]
    normalized: list[np.ndarray]
    inverse_std: list[np.ndarray]
    output: np.ndarray


def forward(
    params: dict[str, np.ndarray],
    x: np.ndarray,
    num_layers: int,
    activation: Activation,
    batch_norm: bool,
    workspace: Workspace | None = None,
    checkpoint: Checkpoint | None = None,
    checkpoint_every: int = 1,
) -> ForwardCache:
    """Run the network over ``x`` ``(B, T, I)`` and keep what backward needs.

    ``workspace``: where the cache and the intermediates go (see :class:`Workspace`); None
    allocates everything fresh. The numbers do not depend on it. ``checkpoint``: called before
    time step ``t`` of every layer for ``t`` a multiple of ``checkpoint_every``
    (:data:`gradsim.engine.bptt.Checkpoint`).
    """
    work = Workspace() if workspace is None else workspace
    batch, steps, _ = x.shape
    layer_input = time_major(x, work)
    cache = ForwardCache([], [], [], [], [], [], np.empty(0))
    for layer in range(num_layers):
        w_ih, w_hh, b_ih, b_hh = (params[name] for name in layer_names(layer))
        hidden = w_hh.shape[0]
        preactivation = input_projection(layer_input, w_ih, ("preactivation", layer), work)
        preactivation += b_ih + b_hh
        states = work.output(("states", layer), (steps + 1, batch, hidden), x.dtype)
        states[0] = 0
        product = work.scratch(("product",), (batch, hidden), np.result_type(states, w_hh))
        if batch_norm:
            norm = BatchNormForward(params, layer, preactivation.shape, x.dtype, work)
        w_hh_t = _recurrent_operand(w_hh, batch, states.dtype)
        step_scratch = work.scratch(("activation_scratch",), (batch, hidden), x.dtype)
        derivative = work.output(("derivative", layer), preactivation.shape, preactivation.dtype)
        # tanh on the one-exp kernel (activations.one_exp_tanh: float64 where numpy's tanh is scalar
        # libm code, steps of 1024 values or more) writes its derivative step by step from the
        # forward's own exp (the same bits as the separate pass over all steps taken below otherwise)
        fused = activation.derivative_in_forward(preactivation.dtype, batch * hidden)
        for t in range(steps):
            if checkpoint is not None and not t % checkpoint_every:
                checkpoint()
            a_t = preactivation[t]
            np.matmul(states[t], w_hh_t, out=product)
            a_t += product
            if batch_norm:
                norm.step(a_t, t)
            if fused:
                activation.forward(a_t, out=states[t + 1], scratch=step_scratch, derivative=derivative[t])
            else:
                activation.forward(a_t, out=states[t + 1], scratch=step_scratch)
        if not fused:
            scratch = work.scratch(("derivative_scratch",), preactivation.shape, preactivation.dtype)
            activation.derivative(preactivation, states[1:], out=derivative, scratch=scratch)
        cache.inputs.append(layer_input)
        cache.states.append(states)
        cache.preactivations.append(preactivation)
        cache.derivatives.append(derivative)
        if batch_norm:
            cache.normalized.append(norm.normalized)
            cache.inverse_std.append(norm.inverse_std)
        layer_input = states[1:]
    top = cache.states[-1][-1]
    cache.output = top @ params["readout.weight"].T + params["readout.bias"]
    return cache


@dataclass
class BackwardState:
    """The backward pass in progress; the step-through view reads it between steps.

    Attributes
    ----------
    grads : dict of parameter gradients, filled as each layer completes
    grad_norms : (L, T) float64, ``||dL/dh||``; NaN where not reached yet. The true value
        rounded to float64: 0 where it is below about 5e-324 (use ``log10_grad_norms``).
    layer_grad : (T, B, H) mantissa of ``dL/dh`` of the layer being processed: the true value
        is ``ldexp(layer_grad[t], scale_exponents[layer, t])`` (see :meth:`gradient`). Valid
        from the last step down to the current one; the layers share one buffer.
    layer, time_step : the cell just computed (-1 before the first)
    log10_grad_norms : (L, T) float64, ``log10 ||dL/dh||`` at any magnitude: -inf only where
        the gradient is exactly 0, NaN/inf where it is not finite, NaN where not reached yet.
    scale_exponents : (L, T) int64, the power of two ``k <= 0`` of each cell's mantissa
        (0 wherever the gradient stayed in the normal range).
    """

    grads: dict[str, np.ndarray]
    grad_norms: np.ndarray
    layer_grad: np.ndarray
    layer: int = -1
    time_step: int = -1
    log10_grad_norms: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    scale_exponents: np.ndarray = field(default_factory=lambda: np.empty((0, 0), dtype=np.int64))

    @classmethod
    def empty(cls, num_layers: int, steps: int) -> BackwardState:
        """A state with nothing reached yet: norms NaN, exponents 0."""
        return cls(
            {},
            np.full((num_layers, steps), np.nan),
            np.empty(0),
            log10_grad_norms=np.full((num_layers, steps), np.nan),
            scale_exponents=np.zeros((num_layers, steps), dtype=np.int64),
        )

    def gradient(self, time_step: int) -> np.ndarray:
        """(B, H) true ``dL/dh`` of the current layer at ``time_step`` (a new array).

        Entries below the float range become subnormal or 0, as they are in the parameter
        gradients; the mantissa in ``layer_grad`` keeps them.
        """
        return np.ldexp(self.layer_grad[time_step], int(self.scale_exponents[self.layer, time_step]))


def backward_steps(
    params: dict[str, np.ndarray],
    cache: ForwardCache,
    output_grad: np.ndarray,
    batch_norm: bool,
    state: BackwardState | None = None,
    workspace: Workspace | None = None,
) -> Generator[BackwardState, None, BackwardState]:
    """Backpropagate ``output_grad`` ``(B, O)`` through time, yielding after each cell.

    Yields the same :class:`BackwardState` after each (layer, time step), top layer first,
    last time step first. Returns it when done, with ``grads`` complete and ``grad_norms``,
    ``log10_grad_norms`` and ``scale_exponents`` filled. ``workspace``: where the gradients
    and intermediates go (see :class:`Workspace`); None allocates them fresh.
    """
    work = Workspace() if workspace is None else workspace
    num_layers = len(cache.states)
    steps, batch, hidden_top = cache.preactivations[-1].shape
    dtype = output_grad.dtype
    if state is None:
        state = BackwardState.empty(num_layers, steps)
    if state.log10_grad_norms.shape != (num_layers, steps):
        state.log10_grad_norms = np.full((num_layers, steps), np.nan)
    if state.scale_exponents.shape != (num_layers, steps):
        state.scale_exponents = np.zeros((num_layers, steps), dtype=np.int64)
    grads = state.grads
    exponents = state.scale_exponents
    low, high = band(dtype, _SCALE_BANDS)
    outside = OutsideGradient(params, output_grad, cache.states[-1][-1], steps, grads, work)
    for layer in reversed(range(num_layers)):
        w_ih, w_hh, b_ih, b_hh = layer_names(layer)
        derivative = cache.derivatives[layer]
        hidden = derivative.shape[2]
        layer_grad = work.scratch(("layer_grad",), (steps, batch, hidden), dtype)  # dL/dh_t
        pre_grad = work.scratch(("pre_grad",), (steps, batch, hidden), dtype)  # dL/da_t
        carry = work.scratch(("carry",), (batch, hidden), dtype)  # dL/dh_t through h_{t+1}
        carry.fill(0)
        rows = layer_grad.reshape(steps, batch * hidden)
        state.layer_grad = layer_grad
        state.layer = layer
        if batch_norm:
            norm = BatchNormBackward(
                params, layer, cache.normalized[layer], cache.inverse_std[layer], dtype, work
            )
        weight_hh = params[w_hh]
        exponent = outside.first_exponent()  # of ``carry``, zero at the last step
        # None marks a zero row from outside (the top layer's, but for its last step): there
        # dL/dh_t is the carry alone, so the step above writes its product straight into
        # layer_grad[t] instead of adding it to zeros. (The sum would turn a -0.0 into 0.0, and
        # change nothing else.)
        outside_exponents = outside.exponents
        direct = False  # whether layer_grad[t] already holds the carry
        for t in reversed(range(steps)):
            if not direct:
                exponent = outside.join(t, [carry], exponent)
                np.add(outside.values[t], carry, out=layer_grad[t])
            row = rows[t]
            squares = np.dot(row, row)
            if squares < low or (squares > high and exponent < 0):
                # Renormalise to a norm near 1, never to an exponent above 0 (growth overflows
                # as the true value does). NaN compares false above and is left as it is.
                size = norm_exponent(row, float(squares))
                if size is not None and math.isfinite(size):
                    shift = min(int(size), -exponent)
                    if shift:
                        np.ldexp(layer_grad[t], -shift, out=layer_grad[t])
                        exponent += shift
            exponents[layer, t] = exponent
            # h = f(z): dL/dz = dL/dh * f'(z)
            np.multiply(layer_grad[t], derivative[t], out=pre_grad[t])
            if batch_norm:
                # dL/dz -> dL/da in place; the gain and shift gradients take true values.
                norm.step(pre_grad[t], t, exponent)
            # a_t = ... + W_hh h_{t-1}: dL/dh_{t-1} (through the recurrence) = dL/da_t W_hh
            direct = t > 0 and outside_exponents[t - 1] is None
            np.matmul(pre_grad[t], weight_hh, out=layer_grad[t - 1] if direct else carry)
            state.time_step = t
            yield state
        tables = (state.log10_grad_norms, state.grad_norms, exponents)
        finish_layer(
            tables, layer, layer_grad, pre_grad, params, cache.states[layer], cache.inputs[layer], outside,
            grads, work,
        )  # fmt: skip
        if batch_norm:
            norm.store(grads)
    return state


def backward(
    params: dict[str, np.ndarray],
    cache: ForwardCache,
    output_grad: np.ndarray,
    batch_norm: bool,
    workspace: Workspace | None = None,
) -> BackwardState:
    """Run :func:`backward_steps` to the end and return its final state."""
    state = BackwardState.empty(len(cache.states), cache.preactivations[-1].shape[0])
    for _ in backward_steps(params, cache, output_grad, batch_norm, state, workspace):
        pass
    return state


def loss_and_output_grad(task: Task, cache: ForwardCache, target: np.ndarray) -> tuple[float, np.ndarray]:
    """The task's loss at the last step and its gradient with respect to the readout."""
    return loss_and_gradient(task, cache.output, target)
