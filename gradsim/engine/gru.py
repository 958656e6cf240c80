"""A stacked GRU with exact backpropagation through time, in numpy (PyTorch's ``nn.GRU``).

Layer ``l`` at time ``t``, blocks stacked in PyTorch's order ``r, z, n`` (:mod:`gates`)::

    r = sigmoid(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)          reset gate, (B, H)
    z = sigmoid(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)          update gate
    q = W_hn h_{t-1} + b_hn                                     the hidden projection of n
    n = tanh(W_in x_t + b_in + r * q)                           the new candidate
    h_t = (1 - z) * n + z * h_{t-1}

with ``h_{-1} = 0``. With batch norm, each block's pre-activation, the argument of its
non-linearity (for ``n``: ``W_in x + b_in + r * q``), is normalised over the batch with one
gain/shift per row, as for the LSTM (``docs/gated.md``). The readout sees the top layer's last
``h``.

Backward, per step from the last (``dh``: the loss gradient at ``h_t``)::

    dh = (from the layer above or the readout) + dA_{t+1} W_hh + z_{t+1} * dh_{t+1}
    dA_n = dh * (1 - z) * (1 - n^2)                 (then batch norm's backward, n columns)
    dA_z = dh * (h_{t-1} - n) * z (1 - z)
    dq   = dA_n * r
    dA_r = dA_n * q * r (1 - r)                     (then batch norm's backward, r and z columns)

where ``dA_{t+1} W_hh`` uses ``[dA_r, dA_z, dq]`` (the recurrent side of the ``n`` block is ``q``,
behind the reset gate) and ``W_ih``, ``b_ih`` see ``[dA_r, dA_z, dA_n]``. The factors that do not
depend on ``dh`` are computed for all steps at once before the loop.

Scaling, workspace and the order of the yields are those of :func:`gradsim.engine.rnn.backward_steps`.
"""

from __future__ import annotations

from collections.abc import Generator

import numpy as np

from . import bptt
from .gates import GatedBackwardState, GatedCache, sigmoid_

GATES = 3


def recurrence(
    params: dict[str, np.ndarray], layer: int, gates: np.ndarray, states: np.ndarray, candidate: np.ndarray,
    norm: bptt.BatchNormForward | None, cache: GatedCache, work: bptt.Workspace,
) -> None:  # fmt: skip
    """One GRU layer's time loop (the ``recurrence`` of :func:`gradsim.engine.gates.forward`).

    ``gates`` ``(T, B, 3H)`` comes holding ``W_ih x_t`` and leaves holding ``r, z, n``; the hidden
    side of the candidate, ``q = W_hn h_{t-1} + b_hn`` ``(T, B, H)``, goes to ``cache``.
    """
    steps, batch, width = gates.shape
    hidden, dtype = width // GATES, gates.dtype
    _, w_hh, b_ih, b_hh = (params[name] for name in bptt.layer_names(layer))
    gates += b_ih
    gates[:, :, : 2 * hidden] += b_hh[: 2 * hidden]  # b_hn sits inside r * q
    projection = work.output(("projection", layer), (steps, batch, hidden), dtype)
    product = work.scratch(("product", "gru"), (batch, GATES * hidden), dtype)
    term = work.scratch(("term",), (batch, hidden), dtype)
    rz, new = slice(0, 2 * hidden), slice(2 * hidden, 3 * hidden)
    w_hh_t = bptt.recurrent_operand(w_hh, batch, states.dtype)
    b_hn = b_hh[2 * hidden :]
    for t in range(steps):
        a_t = gates[t]
        np.matmul(states[t], w_hh_t, out=product)
        a_t[:, : 2 * hidden] += product[:, : 2 * hidden]
        np.add(product[:, 2 * hidden :], b_hn, out=projection[t])
        if norm is not None:
            norm.step(a_t[:, rz], t, rz)
        r, z, n = (a_t[:, k * hidden : (k + 1) * hidden] for k in range(GATES))
        sigmoid_(a_t[:, : 2 * hidden])  # r and z together
        # n = tanh(W_in x + b_in + r * q)
        np.multiply(r, projection[t], out=term)
        n += term
        if norm is not None:
            norm.step(n, t, new)
        np.copyto(candidate[t], n)
        np.tanh(n, out=n)
        # h_t = n + z * (h_{t-1} - n)
        np.subtract(states[t], n, out=term)
        term *= z
        np.add(n, term, out=states[t + 1])
    cache.hidden_projection.append(projection)


def _local_factors(cache: GatedCache, layer: int, work: bptt.Workspace) -> np.ndarray:
    """(T, B, 3, H): ``q r(1-r)``, ``(h_{t-1} - n) z(1-z)``, ``(1 - z)(1 - n^2)``, all steps.

    What ``dA_n`` (pre-norm), ``dh`` and ``dh`` are multiplied by to give ``dA_r``, ``dA_z``
    and ``dA_n`` (post-norm).
    """
    gates = cache.gates[layer]
    steps, batch, width = gates.shape
    hidden = width // GATES
    blocks = gates.reshape(steps, batch, GATES, hidden)
    local = work.scratch(("local",), (steps, batch, GATES, hidden), gates.dtype)
    np.subtract(1.0, blocks, out=local)
    local *= blocks  # s (1 - s) for r and z; the n block is overwritten below
    local[:, :, 0] *= cache.hidden_projection[layer]
    np.subtract(cache.states[layer][:-1], blocks[:, :, 2], out=local[:, :, 2])
    local[:, :, 1] *= local[:, :, 2]
    np.subtract(1.0, blocks[:, :, 1], out=local[:, :, 2])
    local[:, :, 2] *= cache.derivatives[layer]
    return local


def layer_backward(
    params: dict[str, np.ndarray], cache: GatedCache, layer: int, state: GatedBackwardState,
    outside: bptt.OutsideGradient, norm: bptt.BatchNormBackward | None, band: tuple[float, float],
    work: bptt.Workspace,
) -> Generator[GatedBackwardState, None, tuple[np.ndarray, np.ndarray]]:  # fmt: skip
    """One GRU layer's backward time loop (the ``layer_backward`` of
    :func:`gradsim.engine.gates.backward_steps`); returns ``[dA_r, dA_z, dA_n]`` and ``dq``."""
    steps, batch, hidden = cache.preactivations[layer].shape
    dtype = outside.values.dtype
    exponents = state.scale_exponents
    layer_grad = work.scratch(("layer_grad",), (steps, batch, hidden), dtype)  # dL/dh_t
    gate_grad = work.scratch(("pre_grad", "gru"), (steps, batch, GATES * hidden), dtype)  # [dA_r, dA_z, dA_n]
    projection_grad = work.scratch(("projection_grad",), (steps, batch, hidden), dtype)  # dq
    recurrent_row = work.scratch(("recurrent_row",), (batch, GATES * hidden), dtype)  # [dA_r, dA_z, dq]
    carry = work.scratch(("carry",), (batch, hidden), dtype)
    direct = work.scratch(("direct",), (batch, hidden), dtype)
    carry.fill(0)
    local = _local_factors(cache, layer, work)
    blocks = gate_grad.reshape(steps, batch, GATES, hidden)
    gate_values = cache.gates[layer].reshape(steps, batch, GATES, hidden)
    state.layer_grad, state.layer = layer_grad, layer
    rz, new = slice(0, 2 * hidden), slice(2 * hidden, 3 * hidden)
    weight_hh = params[bptt.layer_names(layer)[1]]
    exponent = outside.first_exponent()
    for t in reversed(range(steps)):
        exponent = outside.join(t, [carry], exponent)
        dh = layer_grad[t]
        np.add(outside.values[t], carry, out=dh)
        exponent = bptt.renormalise([dh], float(np.dot(dh.reshape(-1), dh.reshape(-1))), exponent, band)
        exponents[layer, t] = exponent
        # dA_n, dA_z (after batch norm) from dh
        np.multiply(local[t, :, 1:], dh[:, None, :], out=blocks[t, :, 1:])
        if norm is not None:
            norm.step(blocks[t, :, 2], t, exponent, new)
        # q enters n behind the reset gate: dq = dA_n r, dA_r = dA_n q r (1 - r)
        np.multiply(blocks[t, :, 2], gate_values[t, :, 0], out=projection_grad[t])
        np.multiply(blocks[t, :, 2], local[t, :, 0], out=blocks[t, :, 0])
        if norm is not None:
            norm.step(gate_grad[t][:, rz], t, exponent, rz)
        recurrent_row[:, : 2 * hidden] = gate_grad[t][:, : 2 * hidden]
        recurrent_row[:, 2 * hidden :] = projection_grad[t]
        np.matmul(recurrent_row, weight_hh, out=carry)
        np.multiply(dh, gate_values[t, :, 1], out=direct)  # h_t = ... + z h_{t-1}
        if t > 0:
            paths = state.log10_path_norms[layer, t - 1]
            paths[0] = bptt.row_log10_norm(carry, exponent)
            paths[1] = bptt.row_log10_norm(direct, exponent)
        carry += direct
        state.time_step = t
        yield state
    return gate_grad, projection_grad
