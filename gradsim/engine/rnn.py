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
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

import numpy as np

from .activations import Activation
from .numerics import safe_norm
from .tasks import Task, loss_and_gradient

BATCH_NORM_EPS = 1e-5


def layer_names(layer: int) -> tuple[str, str, str, str]:
    """Parameter names of layer ``layer``: weight_ih, weight_hh, bias_ih, bias_hh."""
    return (f"weight_ih_l{layer}", f"weight_hh_l{layer}", f"bias_ih_l{layer}", f"bias_hh_l{layer}")


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
) -> ForwardCache:
    """Run the network over ``x`` ``(B, T, I)`` and keep what backward needs."""
    batch, steps, _ = x.shape
    layer_input = np.ascontiguousarray(x.transpose(1, 0, 2))
    cache = ForwardCache([], [], [], [], [], [], np.empty(0))
    for layer in range(num_layers):
        w_ih, w_hh, b_ih, b_hh = (params[name] for name in layer_names(layer))
        hidden = w_hh.shape[0]
        # One product for the input projection of all time steps.
        projected = (layer_input.reshape(steps * batch, -1) @ w_ih.T).reshape(steps, batch, hidden)
        projected += b_ih + b_hh
        states = np.zeros((steps + 1, batch, hidden), dtype=x.dtype)
        if batch_norm:
            gain, shift = params[f"bn_gain_l{layer}"], params[f"bn_shift_l{layer}"]
            normalized = np.empty((steps, batch, hidden), dtype=x.dtype)
            inverse_std = np.empty((steps, 1, hidden), dtype=x.dtype)
        preactivation = projected  # filled in place, step by step
        w_hh_t = w_hh.T
        for t in range(steps):
            a_t = preactivation[t]
            a_t += states[t] @ w_hh_t
            if batch_norm:
                centred = a_t - a_t.mean(axis=0)
                inv = 1.0 / np.sqrt((centred * centred).mean(axis=0) + BATCH_NORM_EPS)
                np.multiply(centred, inv, out=normalized[t])
                inverse_std[t, 0] = inv
                np.multiply(normalized[t], gain, out=a_t)
                a_t += shift
            activation.forward(a_t, out=states[t + 1])
        cache.inputs.append(layer_input)
        cache.states.append(states)
        cache.preactivations.append(preactivation)
        cache.derivatives.append(activation.derivative(preactivation, states[1:]))
        if batch_norm:
            cache.normalized.append(normalized)
            cache.inverse_std.append(inverse_std)
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
    grad_norms : (L, T) float64, ``||dL/dh||``; NaN where not reached yet
    layer_grad : (T, B, H) ``dL/dh`` of the layer being processed (valid from the last step
        down to the current one)
    layer, time_step : the cell just computed (-1 before the first)
    """

    grads: dict[str, np.ndarray]
    grad_norms: np.ndarray
    layer_grad: np.ndarray
    layer: int = -1
    time_step: int = -1


def backward_steps(
    params: dict[str, np.ndarray],
    cache: ForwardCache,
    output_grad: np.ndarray,
    batch_norm: bool,
    state: BackwardState | None = None,
) -> Generator[BackwardState, None, BackwardState]:
    """Backpropagate ``output_grad`` ``(B, O)`` through time, yielding after each cell.

    Yields the same :class:`BackwardState` after each (layer, time step), top layer first,
    last time step first. Returns it when done, with ``grads`` complete and ``grad_norms``
    filled.
    """
    num_layers = len(cache.states)
    steps, batch, hidden_top = cache.preactivations[-1].shape
    dtype = output_grad.dtype
    if state is None:
        state = BackwardState({}, np.full((num_layers, steps), np.nan), np.empty(0))
    grads = state.grads
    top_state = cache.states[-1][-1]
    grads["readout.weight"] = output_grad.T @ top_state
    grads["readout.bias"] = output_grad.sum(axis=0)

    # Gradient arriving at each hidden state from outside the layer's own recurrence: the
    # readout for the top layer (last step only), the layer above for the others.
    from_outside = np.zeros((steps, batch, hidden_top), dtype=dtype)
    from_outside[-1] = output_grad @ params["readout.weight"]
    for layer in reversed(range(num_layers)):
        w_ih, w_hh, b_ih, b_hh = layer_names(layer)
        derivative = cache.derivatives[layer]
        hidden = derivative.shape[2]
        layer_grad = np.empty((steps, batch, hidden), dtype=dtype)  # dL/dh_t
        pre_grad = np.empty((steps, batch, hidden), dtype=dtype)  # dL/da_t
        carry = np.zeros((batch, hidden), dtype=dtype)  # dL/dh_t through h_{t+1}
        state.layer_grad = layer_grad
        state.layer = layer
        if batch_norm:
            gain = params[f"bn_gain_l{layer}"]
            normalized, inverse_std = cache.normalized[layer], cache.inverse_std[layer]
            gain_grad = np.zeros(hidden, dtype=dtype)
            shift_grad = np.zeros(hidden, dtype=dtype)
        weight_hh = params[w_hh]
        for t in reversed(range(steps)):
            np.add(from_outside[t], carry, out=layer_grad[t])
            # h = f(z): dL/dz = dL/dh * f'(z)
            np.multiply(layer_grad[t], derivative[t], out=pre_grad[t])
            if batch_norm:
                # z = gain * u + shift, u = (a - mean) / std, statistics over the batch:
                # dL/da = gain / std * (dz - mean(dz) - u * mean(dz * u)).
                dz, u = pre_grad[t], normalized[t]
                gain_grad += (dz * u).sum(axis=0)
                shift_grad += dz.sum(axis=0)
                scaled = dz * gain
                pre_grad[t] = inverse_std[t] * (
                    scaled - scaled.mean(axis=0) - u * (scaled * u).mean(axis=0)
                )
            # a_t = ... + W_hh h_{t-1}: dL/dh_{t-1} (through the recurrence) = dL/da_t W_hh
            np.matmul(pre_grad[t], weight_hh, out=carry)
            state.time_step = t
            yield state
        state.grad_norms[layer] = safe_norm(layer_grad, axis=(1, 2))
        # One product each over all time steps for the weights and the layer below.
        flat_pre = pre_grad.reshape(steps * batch, hidden)
        previous_states = cache.states[layer][:-1].reshape(steps * batch, hidden)
        layer_input = cache.inputs[layer]
        grads[w_hh] = flat_pre.T @ previous_states
        grads[w_ih] = flat_pre.T @ layer_input.reshape(steps * batch, -1)
        bias_grad = flat_pre.sum(axis=0)
        grads[b_ih] = bias_grad
        grads[b_hh] = bias_grad.copy()
        if batch_norm:
            grads[f"bn_gain_l{layer}"] = gain_grad
            grads[f"bn_shift_l{layer}"] = shift_grad
        if layer > 0:
            from_outside = (flat_pre @ params[w_ih]).reshape(steps, batch, -1)
    return state


def backward(
    params: dict[str, np.ndarray], cache: ForwardCache, output_grad: np.ndarray, batch_norm: bool
) -> BackwardState:
    """Run :func:`backward_steps` to the end and return its final state."""
    num_layers, steps = len(cache.states), cache.preactivations[-1].shape[0]
    state = BackwardState({}, np.full((num_layers, steps), np.nan), np.empty(0))
    for _ in backward_steps(params, cache, output_grad, batch_norm, state):
        pass
    return state


def loss_and_output_grad(task: Task, cache: ForwardCache, target: np.ndarray) -> tuple[float, np.ndarray]:
    """The task's loss at the last step and its gradient with respect to the readout."""
    return loss_and_gradient(task, cache.output, target)
