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
from .rnn import layer_names

GATES = 3


def forward(
    params: dict[str, np.ndarray],
    x: np.ndarray,
    num_layers: int,
    batch_norm: bool,
    workspace: bptt.Workspace | None = None,
) -> GatedCache:
    """Run the GRU over ``x`` ``(B, T, I)`` and keep what backward needs (:class:`GatedCache`).

    ``workspace``: where the cache and the intermediates go; None allocates everything fresh.
    The numbers do not depend on it.
    """
    work = bptt.Workspace() if workspace is None else workspace
    batch, steps, width = x.shape
    layer_input = work.output(("input",), (steps, batch, width), x.dtype)
    np.copyto(layer_input, x.transpose(1, 0, 2))
    cache = GatedCache("gru")
    for layer in range(num_layers):
        w_ih, w_hh, b_ih, b_hh = (params[name] for name in layer_names(layer))
        hidden = w_hh.shape[1]
        dtype = np.result_type(layer_input, w_ih)
        gates = work.output(("gates", layer), (steps, batch, GATES * hidden), dtype)
        np.matmul(
            layer_input.reshape(steps * batch, -1), w_ih.T, out=gates.reshape(steps * batch, GATES * hidden)
        )
        gates += b_ih
        gates[:, :, : 2 * hidden] += b_hh[: 2 * hidden]  # b_hn sits inside r * q
        states = work.output(("states", layer), (steps + 1, batch, hidden), x.dtype)
        projection = work.output(("projection", layer), (steps, batch, hidden), dtype)
        candidate = work.output(("preactivation", layer), (steps, batch, hidden), dtype)
        states[0] = 0
        product = work.scratch(("product", "gru"), (batch, GATES * hidden), dtype)
        term = work.scratch(("term",), (batch, hidden), dtype)
        if batch_norm:
            gain, shift = params[f"bn_gain_l{layer}"], params[f"bn_shift_l{layer}"]
            normalized = work.output(("normalized", layer), gates.shape, dtype)
            inverse_std = work.output(("inverse_std", layer), (steps, 1, GATES * hidden), dtype)
            bn_gates = bptt.BatchNormScratch(work, "gru-rz", batch, 2 * hidden, dtype)
            bn_new = bptt.BatchNormScratch(work, "gru-n", batch, hidden, dtype)
            rz, new = slice(0, 2 * hidden), slice(2 * hidden, 3 * hidden)
        w_hh_t = bptt.recurrent_operand(w_hh, batch, states.dtype)
        b_hn = b_hh[2 * hidden :]
        for t in range(steps):
            a_t = gates[t]
            np.matmul(states[t], w_hh_t, out=product)
            a_t[:, : 2 * hidden] += product[:, : 2 * hidden]
            np.add(product[:, 2 * hidden :], b_hn, out=projection[t])
            if batch_norm:
                bptt.batch_norm_step(
                    a_t[:, rz], gain[rz], shift[rz], normalized[t][:, rz], inverse_std[t, 0, rz], bn_gates
                )
            r, z, n = (a_t[:, k * hidden : (k + 1) * hidden] for k in range(GATES))
            sigmoid_(a_t[:, : 2 * hidden])  # r and z together
            # n = tanh(W_in x + b_in + r * q)
            np.multiply(r, projection[t], out=term)
            n += term
            if batch_norm:
                bptt.batch_norm_step(
                    n, gain[new], shift[new], normalized[t][:, new], inverse_std[t, 0, new], bn_new
                )
            np.copyto(candidate[t], n)
            np.tanh(n, out=n)
            # h_t = n + z * (h_{t-1} - n)
            np.subtract(states[t], n, out=term)
            term *= z
            np.add(n, term, out=states[t + 1])
        derivative = work.output(("derivative", layer), candidate.shape, dtype)
        n_all = gates.reshape(steps, batch, GATES, hidden)[:, :, 2]
        np.multiply(n_all, n_all, out=derivative)
        np.subtract(1.0, derivative, out=derivative)
        cache.inputs.append(layer_input)
        cache.states.append(states)
        cache.preactivations.append(candidate)
        cache.derivatives.append(derivative)
        cache.gates.append(gates)
        cache.hidden_projection.append(projection)
        if batch_norm:
            cache.normalized.append(normalized)
            cache.inverse_std.append(inverse_std)
        layer_input = states[1:]
    cache.output = cache.states[-1][-1] @ params["readout.weight"].T + params["readout.bias"]
    return cache


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


def backward_steps(
    params: dict[str, np.ndarray],
    cache: GatedCache,
    output_grad: np.ndarray,
    batch_norm: bool,
    state: GatedBackwardState | None = None,
    workspace: bptt.Workspace | None = None,
) -> Generator[GatedBackwardState, None, GatedBackwardState]:
    """Backpropagate ``output_grad`` ``(B, O)`` through time, yielding after each (layer, step).

    Same order and contract as :func:`gradsim.engine.rnn.backward_steps`; the state also holds
    the two paths into each cell (``log10_path_norms``: through ``W_hh`` and through ``z``).
    """
    work = bptt.Workspace() if workspace is None else workspace
    num_layers = len(cache.states)
    steps, batch, hidden_top = cache.preactivations[-1].shape
    dtype = output_grad.dtype
    if state is None:
        state = GatedBackwardState.empty_gated("gru", num_layers, steps)
    grads, exponents = state.grads, state.scale_exponents
    band = bptt.band(dtype)
    grads["readout.weight"] = output_grad.T @ cache.states[-1][-1]
    grads["readout.bias"] = output_grad.sum(axis=0)
    from_outside = work.scratch(("from_outside",), (steps, batch, hidden_top), dtype)
    from_outside[:-1] = 0
    from_outside[-1] = output_grad @ params["readout.weight"]
    outside_exponents: list[int | None] = [None] * (steps - 1) + [0]
    for layer in reversed(range(num_layers)):
        w_ih, w_hh, b_ih, b_hh = layer_names(layer)
        hidden = cache.states[layer].shape[2]
        layer_grad = work.scratch(("layer_grad",), (steps, batch, hidden), dtype)  # dL/dh_t
        gate_grad = work.scratch(
            ("pre_grad", "gru"), (steps, batch, GATES * hidden), dtype
        )  # [dA_r, dA_z, dA_n]
        projection_grad = work.scratch(("projection_grad",), (steps, batch, hidden), dtype)  # dq
        recurrent_row = work.scratch(("recurrent_row",), (batch, GATES * hidden), dtype)  # [dA_r, dA_z, dq]
        carry = work.scratch(("carry",), (batch, hidden), dtype)
        direct = work.scratch(("direct",), (batch, hidden), dtype)
        carry.fill(0)
        local = _local_factors(cache, layer, work)
        blocks = gate_grad.reshape(steps, batch, GATES, hidden)
        gate_values = cache.gates[layer].reshape(steps, batch, GATES, hidden)
        state.layer_grad, state.layer = layer_grad, layer
        if batch_norm:
            gain = params[f"bn_gain_l{layer}"]
            normalized, inverse_std = cache.normalized[layer], cache.inverse_std[layer]
            gain_grad = np.zeros(GATES * hidden, dtype=dtype)
            shift_grad = np.zeros(GATES * hidden, dtype=dtype)
            bn_gates = bptt.BatchNormScratch(work, "gru-rz", batch, 2 * hidden, dtype)
            bn_new = bptt.BatchNormScratch(work, "gru-n", batch, hidden, dtype)
            rz, new = slice(0, 2 * hidden), slice(2 * hidden, 3 * hidden)
        weight_hh = params[w_hh]
        exponent = outside_exponents[-1] or 0
        for t in reversed(range(steps)):
            outside_exponent = outside_exponents[t]
            if outside_exponent is not None and outside_exponent != exponent:
                exponent = bptt.align(from_outside[t], outside_exponent, [carry], exponent)
            dh = layer_grad[t]
            np.add(from_outside[t], carry, out=dh)
            exponent = bptt.renormalise([dh], float(np.dot(dh.reshape(-1), dh.reshape(-1))), exponent, band)
            exponents[layer, t] = exponent
            # dA_n, dA_z (after batch norm) from dh
            np.multiply(local[t, :, 1:], dh[:, None, :], out=blocks[t, :, 1:])
            if batch_norm:
                bptt.batch_norm_backward_step(
                    blocks[t, :, 2], normalized[t][:, new], inverse_std[t][:, new], gain[new],
                    gain_grad[new], shift_grad[new], exponent, bn_new,
                )  # fmt: skip
            # q enters n behind the reset gate: dq = dA_n r, dA_r = dA_n q r (1 - r)
            np.multiply(blocks[t, :, 2], gate_values[t, :, 0], out=projection_grad[t])
            np.multiply(blocks[t, :, 2], local[t, :, 0], out=blocks[t, :, 0])
            if batch_norm:
                bptt.batch_norm_backward_step(
                    gate_grad[t][:, rz], normalized[t][:, rz], inverse_std[t][:, rz], gain[rz],
                    gain_grad[rz], shift_grad[rz], exponent, bn_gates,
                )  # fmt: skip
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
        layer_exponents = exponents[layer]
        state.log10_grad_norms[layer], state.grad_norms[layer] = bptt.log10_table(
            layer_grad, layer_exponents, work
        )
        flat = gate_grad.reshape(steps * batch, GATES * hidden)
        flat_projection = projection_grad.reshape(steps * batch, hidden)
        if layer > 0:
            weight_ih = params[w_ih]
            below = weight_ih.shape[1]
            from_outside = work.scratch(("from_outside",), (steps, batch, below), dtype)
            np.matmul(flat, weight_ih, out=from_outside.reshape(steps * batch, below))
            outside_exponents = layer_exponents.tolist()
        if layer_exponents.any():
            np.ldexp(gate_grad, layer_exponents[:, None, None], out=gate_grad)  # true values
            np.ldexp(projection_grad, layer_exponents[:, None, None], out=projection_grad)
        previous_states = cache.states[layer][:-1].reshape(steps * batch, hidden)
        layer_input = cache.inputs[layer].reshape(steps * batch, -1)
        grad_hh = work.output(("grad", w_hh), (GATES * hidden, hidden), dtype)
        np.matmul(flat[:, : 2 * hidden].T, previous_states, out=grad_hh[: 2 * hidden])
        np.matmul(flat_projection.T, previous_states, out=grad_hh[2 * hidden :])
        grads[w_hh] = grad_hh
        grads[w_ih] = np.matmul(
            flat.T,
            layer_input,
            out=work.output(("grad", w_ih), (GATES * hidden, layer_input.shape[1]), dtype),
        )
        grads[b_ih] = flat.sum(axis=0)
        grads[b_hh] = np.concatenate([grads[b_ih][: 2 * hidden], flat_projection.sum(axis=0)])
        if batch_norm:
            grads[f"bn_gain_l{layer}"] = gain_grad
            grads[f"bn_shift_l{layer}"] = shift_grad
    return state
