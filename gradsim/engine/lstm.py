"""A stacked LSTM with exact backpropagation through time, in numpy (PyTorch's ``nn.LSTM``).

Layer ``l`` at time ``t``, gates stacked in PyTorch's order ``i, f, g, o`` (:mod:`gates`)::

    a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh        (B, 4H), the four blocks' pre-activations
    a_t <- gain * (a_t - mean_B) / std_B + shift       with batch norm (one gain/shift per row)
    i, f, o = sigmoid(a_i), sigmoid(a_f), sigmoid(a_o)
    g = tanh(a_g)                                      the cell candidate
    c_t = f * c_{t-1} + i * g                          the cell state, (B, H)
    h_t = o * tanh(c_t)

with ``h_{-1} = c_{-1} = 0``; ``x_t`` is the task input for layer 0 and ``h_t`` of the layer below
otherwise. The readout sees the top layer's last ``h``, as for the RNN.

Backward, per step from the last (``dh``, ``dc``: the loss gradient at ``h_t``, ``c_t``)::

    dh = (from the layer above or the readout) + dA_{t+1} W_hh        hidden path
    dc = dh * o * (1 - tanh(c_t)^2) + f_{t+1} * dc_{t+1}              cell path
    dA_i = dc * g * i (1 - i)        dA_f = dc * c_{t-1} * f (1 - f)
    dA_g = dc * i * (1 - g^2)        dA_o = dh * tanh(c_t) * o (1 - o)

then batch norm's backward on ``dA`` where it is on. The factors that do not depend on the
incoming gradient (``g i (1 - i)``, ...) are computed for all steps at once before the loop, so a
step costs one product ``(B, 4H) x (4H, H)`` and a few elementwise passes over ``(B, H)``.

``dh`` and ``dc`` of one (layer, step) share one power of two (:mod:`bptt`): ``log10 ||dL/dh||``
and ``log10 ||dL/dc||`` are exact at any magnitude (as long as the two norms of one cell are
within about 300 decades of each other, which takes gates saturated to 1e-300 to break). The
generator yields after every (layer, step) in the order of :func:`gradsim.engine.rnn.backward_steps`.
"""

from __future__ import annotations

from collections.abc import Generator

import numpy as np

from . import bptt
from .gates import GatedBackwardState, GatedCache, sigmoid_
from .rnn import layer_names

GATES = 4


def forward(
    params: dict[str, np.ndarray],
    x: np.ndarray,
    num_layers: int,
    batch_norm: bool,
    workspace: bptt.Workspace | None = None,
) -> GatedCache:
    """Run the LSTM over ``x`` ``(B, T, I)`` and keep what backward needs (:class:`GatedCache`).

    ``workspace``: where the cache and the intermediates go; None allocates everything fresh.
    The numbers do not depend on it.
    """
    work = bptt.Workspace() if workspace is None else workspace
    batch, steps, width = x.shape
    layer_input = work.output(("input",), (steps, batch, width), x.dtype)
    np.copyto(layer_input, x.transpose(1, 0, 2))
    cache = GatedCache("lstm")
    for layer in range(num_layers):
        w_ih, w_hh, b_ih, b_hh = (params[name] for name in layer_names(layer))
        hidden = w_hh.shape[1]
        dtype = np.result_type(layer_input, w_ih)
        # The input projection of all steps in one product; the recurrence adds W_hh h_{t-1}.
        gates = work.output(("gates", layer), (steps, batch, GATES * hidden), dtype)
        np.matmul(
            layer_input.reshape(steps * batch, -1), w_ih.T, out=gates.reshape(steps * batch, GATES * hidden)
        )
        gates += b_ih + b_hh
        states = work.output(("states", layer), (steps + 1, batch, hidden), x.dtype)
        cells = work.output(("cells", layer), (steps + 1, batch, hidden), dtype)
        cell_tanh = work.output(("cell_tanh", layer), (steps, batch, hidden), dtype)
        candidate = work.output(("preactivation", layer), (steps, batch, hidden), dtype)
        states[0] = 0
        cells[0] = 0
        product = work.scratch(("product", "lstm"), (batch, GATES * hidden), dtype)
        term = work.scratch(("term",), (batch, hidden), dtype)
        if batch_norm:
            gain, shift = params[f"bn_gain_l{layer}"], params[f"bn_shift_l{layer}"]
            normalized = work.output(("normalized", layer), gates.shape, dtype)
            inverse_std = work.output(("inverse_std", layer), (steps, 1, GATES * hidden), dtype)
            bn = bptt.BatchNormScratch(work, "lstm", batch, GATES * hidden, dtype)
        w_hh_t = bptt.recurrent_operand(w_hh, batch, states.dtype)
        for t in range(steps):
            a_t = gates[t]
            np.matmul(states[t], w_hh_t, out=product)
            a_t += product
            if batch_norm:
                bptt.batch_norm_step(a_t, gain, shift, normalized[t], inverse_std[t, 0], bn)
            i, f, g, o = (a_t[:, k * hidden : (k + 1) * hidden] for k in range(GATES))
            np.copyto(candidate[t], g)
            sigmoid_(a_t[:, : 2 * hidden])  # i and f together
            np.tanh(g, out=g)
            sigmoid_(o)
            # c_t = f * c_{t-1} + i * g; h_t = o * tanh(c_t)
            np.multiply(f, cells[t], out=cells[t + 1])
            np.multiply(i, g, out=term)
            cells[t + 1] += term
            np.tanh(cells[t + 1], out=cell_tanh[t])
            np.multiply(o, cell_tanh[t], out=states[t + 1])
        # The candidate's tanh derivative 1 - g^2, all steps at once.
        derivative = work.output(("derivative", layer), candidate.shape, dtype)
        g_all = gates.reshape(steps, batch, GATES, hidden)[:, :, 2]
        np.multiply(g_all, g_all, out=derivative)
        np.subtract(1.0, derivative, out=derivative)
        cache.inputs.append(layer_input)
        cache.states.append(states)
        cache.preactivations.append(candidate)
        cache.derivatives.append(derivative)
        cache.gates.append(gates)
        cache.cells.append(cells)
        cache.cell_tanh.append(cell_tanh)
        if batch_norm:
            cache.normalized.append(normalized)
            cache.inverse_std.append(inverse_std)
        layer_input = states[1:]
    cache.output = cache.states[-1][-1] @ params["readout.weight"].T + params["readout.bias"]
    return cache


def _local_factors(cache: GatedCache, layer: int, work: bptt.Workspace) -> tuple[np.ndarray, np.ndarray]:
    """The parts of the step Jacobians that do not depend on the incoming gradient, all steps.

    Returns ``local`` (T, B, 4, H): ``g i(1-i)``, ``c_{t-1} f(1-f)``, ``i (1-g^2)``,
    ``tanh(c_t) o(1-o)`` (what ``dc``, ``dc``, ``dc`` and ``dh`` are multiplied by to give the
    blocks of ``dA``) and ``to_cell`` (T, B, H): ``o (1 - tanh(c_t)^2)`` (``dh``'s share of ``dc``).
    """
    gates = cache.gates[layer]
    steps, batch, width = gates.shape
    hidden = width // GATES
    blocks = gates.reshape(steps, batch, GATES, hidden)
    local = work.scratch(("local",), (steps, batch, GATES, hidden), gates.dtype)
    np.subtract(1.0, blocks, out=local)
    local *= blocks  # s (1 - s); the g block is overwritten below
    local[:, :, 0] *= blocks[:, :, 2]
    local[:, :, 1] *= cache.cells[layer][:-1]
    np.multiply(blocks[:, :, 0], cache.derivatives[layer], out=local[:, :, 2])
    local[:, :, 3] *= cache.cell_tanh[layer]
    to_cell = work.scratch(("to_cell",), (steps, batch, hidden), gates.dtype)
    np.multiply(cache.cell_tanh[layer], cache.cell_tanh[layer], out=to_cell)
    np.subtract(1.0, to_cell, out=to_cell)
    to_cell *= blocks[:, :, 3]
    return local, to_cell


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
    ``dL/dc`` (``cell_grad``, ``log10_cell_grad_norms``) and the two paths into each cell
    (``log10_path_norms``).
    """
    work = bptt.Workspace() if workspace is None else workspace
    num_layers = len(cache.states)
    steps, batch, hidden_top = cache.preactivations[-1].shape
    dtype = output_grad.dtype
    if state is None:
        state = GatedBackwardState.empty_gated("lstm", num_layers, steps)
    grads, exponents = state.grads, state.scale_exponents
    assert state.log10_cell_grad_norms is not None
    band = bptt.band(dtype)
    grads["readout.weight"] = output_grad.T @ cache.states[-1][-1]
    grads["readout.bias"] = output_grad.sum(axis=0)
    # Gradient arriving at each h_t from outside the layer's recurrence (the readout, or the layer
    # above), its rows at the exponents of the cells they came from; None: zero rows.
    from_outside = work.scratch(("from_outside",), (steps, batch, hidden_top), dtype)
    from_outside[:-1] = 0
    from_outside[-1] = output_grad @ params["readout.weight"]
    outside_exponents: list[int | None] = [None] * (steps - 1) + [0]
    for layer in reversed(range(num_layers)):
        w_ih, w_hh, b_ih, b_hh = layer_names(layer)
        hidden = cache.states[layer].shape[2]
        layer_grad = work.scratch(("layer_grad",), (steps, batch, hidden), dtype)  # dL/dh_t
        cell_grad = work.scratch(("cell_grad",), (steps, batch, hidden), dtype)  # dL/dc_t
        gate_grad = work.scratch(("pre_grad", "lstm"), (steps, batch, GATES * hidden), dtype)  # dL/dA_t
        carry = work.scratch(("carry",), (batch, hidden), dtype)  # hidden path into h_{t-1}
        cell_carry = work.scratch(("cell_carry",), (batch, hidden), dtype)  # f_t * dc_t
        carry.fill(0)
        cell_carry.fill(0)
        local, to_cell = _local_factors(cache, layer, work)
        gate_blocks = gate_grad.reshape(steps, batch, GATES, hidden)
        forget = cache.gates[layer].reshape(steps, batch, GATES, hidden)[:, :, 1]
        state.layer_grad, state.cell_grad, state.layer = layer_grad, cell_grad, layer
        if batch_norm:
            gain = params[f"bn_gain_l{layer}"]
            normalized, inverse_std = cache.normalized[layer], cache.inverse_std[layer]
            gain_grad = np.zeros(GATES * hidden, dtype=dtype)
            shift_grad = np.zeros(GATES * hidden, dtype=dtype)
            bn = bptt.BatchNormScratch(work, "lstm", batch, GATES * hidden, dtype)
        weight_hh = params[w_hh]
        exponent = outside_exponents[-1] or 0  # of the carries, zero at the last step
        for t in reversed(range(steps)):
            outside_exponent = outside_exponents[t]
            if outside_exponent is not None and outside_exponent != exponent:
                exponent = bptt.align(from_outside[t], outside_exponent, [carry, cell_carry], exponent)
            if t < steps - 1:
                paths = state.log10_path_norms[layer, t]
                paths[0] = bptt.row_log10_norm(carry, exponent)
                paths[1] = bptt.row_log10_norm(cell_carry, exponent)
            dh, dc = layer_grad[t], cell_grad[t]
            np.add(from_outside[t], carry, out=dh)
            # dc = dh * o (1 - tanh(c)^2) + f_{t+1} dc_{t+1}
            np.multiply(dh, to_cell[t], out=dc)
            dc += cell_carry
            squares = max(np.dot(dh.reshape(-1), dh.reshape(-1)), np.dot(dc.reshape(-1), dc.reshape(-1)))
            exponent = bptt.renormalise([dh, dc], float(squares), exponent, band)
            exponents[layer, t] = exponent
            # dA_i, dA_f, dA_g from dc; dA_o from dh
            np.multiply(local[t, :, :3], dc[:, None, :], out=gate_blocks[t, :, :3])
            np.multiply(local[t, :, 3], dh, out=gate_blocks[t, :, 3])
            if batch_norm:
                bptt.batch_norm_backward_step(
                    gate_grad[t], normalized[t], inverse_std[t], gain, gain_grad, shift_grad, exponent, bn
                )
            # a_t = ... + W_hh h_{t-1}: the hidden path into h_{t-1}; c_t = f_t c_{t-1} + ...
            np.matmul(gate_grad[t], weight_hh, out=carry)
            np.multiply(dc, forget[t], out=cell_carry)
            state.time_step = t
            yield state
        layer_exponents = exponents[layer]
        state.log10_grad_norms[layer], state.grad_norms[layer] = bptt.log10_table(
            layer_grad, layer_exponents, work
        )
        state.log10_cell_grad_norms[layer] = bptt.log10_table(cell_grad, layer_exponents, work)[0]
        flat = gate_grad.reshape(steps * batch, GATES * hidden)
        if layer > 0:
            weight_ih = params[w_ih]
            below = weight_ih.shape[1]
            # Sent down from the mantissas, each row keeping its cell's exponent.
            from_outside = work.scratch(("from_outside",), (steps, batch, below), dtype)
            np.matmul(flat, weight_ih, out=from_outside.reshape(steps * batch, below))
            outside_exponents = layer_exponents.tolist()
        if layer_exponents.any():
            np.ldexp(gate_grad, layer_exponents[:, None, None], out=gate_grad)  # true values
        previous_states = cache.states[layer][:-1].reshape(steps * batch, hidden)
        layer_input = cache.inputs[layer].reshape(steps * batch, -1)
        grads[w_hh] = np.matmul(
            flat.T, previous_states, out=work.output(("grad", w_hh), (GATES * hidden, hidden), dtype)
        )
        grads[w_ih] = np.matmul(
            flat.T,
            layer_input,
            out=work.output(("grad", w_ih), (GATES * hidden, layer_input.shape[1]), dtype),
        )
        grads[b_ih] = flat.sum(axis=0)
        grads[b_hh] = grads[b_ih].copy()
        if batch_norm:
            grads[f"bn_gain_l{layer}"] = gain_grad
            grads[f"bn_shift_l{layer}"] = shift_grad
    return state
