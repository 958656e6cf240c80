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

then batch norm's backward on ``dA`` where it is on. A step costs one product ``(B, 4H) x (4H, H)``
and a few elementwise passes; the factors that do not depend on the incoming gradient
(``g i (1 - i)``, ...) are formed in the step while that step's cached values are in the
processor's cache (the same operations in the same order as forming them for all steps at once
before the loop, which streamed four ``(T, B, 4H)`` arrays through memory).

Layout (:mod:`gates`): the gate values are block-major, ``(4, T, B, H)``, so each block of a step
is one contiguous ``(B, H)`` run; ``dA`` is formed block-major in a step's scratch, each block's last
product written into its block of the step's row of ``(T, B, 4H)``, which the product into
``h_{t-1}`` and the weights' gradients read.
Without batch norm ``i, f, o`` are formed as ``-a`` (their rows of the weights and biases negated,
exactly), ready for ``exp``.

The forward and backward passes run inside :func:`gradsim.engine.gates.forward` and
:func:`gradsim.engine.gates.backward_steps` (what all gated cells do around their time loops), as
:func:`recurrence` and :func:`layer_backward`.

``dh`` and ``dc`` of one (layer, step) share one power of two (:mod:`bptt`): ``log10 ||dL/dh||``
and ``log10 ||dL/dc||`` are exact at any magnitude (as long as the two norms of one cell are
within about 300 decades of each other, which takes gates saturated to 1e-300 to break). The
generator yields after every (layer, step) in the order of :func:`gradsim.engine.rnn.backward_steps`.
"""

from __future__ import annotations

import numpy as np

from . import bptt
from . import gates as gated
from .activations import TANH_UNCLIPPED_BOUND, UNIT, step_tanh
from .gates import LayerBackwardPass, LayerBackwardSteps, LayerForward

GATES = 4


def recurrence(run: LayerForward) -> None:
    """One LSTM layer's time loop (the ``recurrence`` of :func:`gradsim.engine.gates.forward`).

    ``gates`` ``(4, T, B, H)`` (block-major) comes holding ``W_ih x_t`` (``-W_ih x_t`` in ``i, f, o``
    without batch norm: :func:`gradsim.engine.gates.negate_gate_rows`, as this loop's ``W_hh`` and
    biases) and leaves holding ``i, f, g, o``; the cell states ``c`` ``(T + 1, B, H)`` and
    ``tanh(c_t)`` ``(T, B, H)`` go to ``cache``.
    """
    params, layer, gates, states, candidate = run.params, run.layer, run.gates, run.states, run.candidate
    norm, cache, work = run.norm, run.cache, run.work
    checkpoint, every = run.checkpoint, run.checkpoint_every
    _, steps, batch, hidden = gates.shape
    dtype = gates.dtype
    _, w_hh, b_ih, b_hh = (params[name] for name in bptt.layer_names(layer))
    bias = b_ih + b_hh
    if norm is None:  # the sigmoid blocks' pre-activations are formed as -a
        w_hh, bias = gated.negate_gate_rows("lstm", w_hh), gated.negate_gate_rows("lstm", bias)
    gates += bias.reshape(GATES, 1, 1, hidden)
    cells = work.output(("cells", layer), (steps + 1, batch, hidden), dtype)
    cell_tanh = work.output(("cell_tanh", layer), (steps, batch, hidden), dtype)
    cells[0] = 0
    product = work.scratch(("product", "lstm"), (GATES, batch, hidden), dtype)
    term = work.scratch(("term",), (batch, hidden), dtype)
    tanh_scratch = work.scratch(("tanh_scratch",), (batch, hidden), dtype)
    row = work.scratch(("bn_row", "lstm"), (batch, GATES * hidden), dtype)  # batch norm's
    w_hh_blocks = bptt.recurrent_blocks(w_hh, GATES, batch, states.dtype)  # (4, H, H)
    # Each block's (T, B, H) view, and i and f together (2, T, B, H), made once: a step indexes them.
    i_all, f_all, g_all, o_all = gates
    if_all, product_if, product_g, product_o = gates[:2], product[:2], product[2], product[3]
    # |c_t| <= t: f, i in [0, 1] and g in [-1, 1] after rounding (each product and sum rounds
    # towards what bounds it), so tanh(c_t) needs no clip while t <= 354
    clip_cells = steps > TANH_UNCLIPPED_BOUND
    for t in range(steps):
        if checkpoint is not None and not t % every:
            checkpoint()
        i, f, g, o = i_all[t], f_all[t], g_all[t], o_all[t]  # each block contiguous
        np.matmul(states[t], w_hh_blocks, out=product)
        if norm is None:
            # -a for i, f (together) and o; a_g straight into the candidate's pre-activation
            i_f = if_all[:, t]
            i_f += product_if
            o += product_o
            np.add(g, product_g, out=candidate[t])
            gated.sigmoid_negated_(i_f)
            gated.sigmoid_negated_(o)
        else:
            a_t = gates[:, t]
            a_t += product
            gated.normalise_blocks(norm, a_t, t, row)
            np.copyto(candidate[t], g)
            gated.sigmoid_blocks_(a_t, (a_t[:2], o))  # i and f together; g left as scratch
        step_tanh(candidate[t], g, tanh_scratch)
        # c_t = f * c_{t-1} + i * g; h_t = o * tanh(c_t)
        np.multiply(f, cells[t], out=cells[t + 1])
        np.multiply(i, g, out=term)
        cells[t + 1] += term
        step_tanh(cells[t + 1], cell_tanh[t], tanh_scratch, clip=clip_cells)
        np.multiply(o, cell_tanh[t], out=states[t + 1])
    cache.cells.append(cells)
    cache.cell_tanh.append(cell_tanh)


def layer_backward(run: LayerBackwardPass) -> LayerBackwardSteps:
    """One LSTM layer's backward time loop (the ``layer_backward`` of
    :func:`gradsim.engine.gates.backward_steps`); also fills ``dL/dc`` and its norm table."""
    params, cache, layer, state, outside = run.params, run.cache, run.layer, run.state, run.outside
    norm, band, work = run.norm, run.band, run.work
    steps, batch, hidden = cache.preactivations[layer].shape
    dtype = outside.values.dtype
    exponents = state.scale_exponents
    assert state.log10_cell_grad_norms is not None
    layer_grad = work.scratch(("layer_grad",), (steps, batch, hidden), dtype)  # dL/dh_t
    cell_grad = work.scratch(("cell_grad",), (steps, batch, hidden), dtype)  # dL/dc_t
    gate_grad = work.scratch(("pre_grad", "lstm"), (steps, batch, GATES * hidden), dtype)  # dL/dA_t
    step_grad = work.scratch(("step_grad", "lstm"), (GATES, batch, hidden), dtype)  # dL/dA_t block-major
    carry = work.scratch(("carry",), (batch, hidden), dtype)  # hidden path into h_{t-1}
    cell_carry = work.scratch(("cell_carry",), (batch, hidden), dtype)  # f_t * dc_t
    to_cell = work.scratch(("to_cell",), (batch, hidden), dtype)  # o (1 - tanh(c_t)^2)
    carry.fill(0)
    cell_carry.fill(0)
    values = cache.gates[layer]  # (4, T, B, H): i, f, g, o
    # Each block's (T, B, H) values, and dL/dA's rows seen block-major, made once: a step indexes
    # them by t. dL/dA is formed block-major in step_grad (every pass contiguous), each block's
    # last product written into its block of gate_grad's row, for the product into h_{t-1} and the
    # weights' gradients.
    i_all, f_all, g_all, o_all = values
    gate_blocks = gate_grad.reshape(steps, batch, GATES, hidden).transpose(0, 2, 1, 3)  # (T, 4, B, H)
    d_i, d_f, d_g, d_o = step_grad
    cells, cell_tanh, derivative = cache.cells[layer], cache.cell_tanh[layer], cache.derivatives[layer]
    h_rows, c_rows = layer_grad.reshape(steps, -1), cell_grad.reshape(steps, -1)
    path_norms = state.log10_path_norms[layer]
    from_outside = outside.values
    state.layer_grad, state.cell_grad, state.layer = layer_grad, cell_grad, layer
    weight_hh = params[bptt.layer_names(layer)[1]]
    exponent = outside.first_exponent()  # of the carries, zero at the last step
    one = UNIT[np.dtype(dtype)]
    for t in reversed(range(steps)):
        exponent = outside.join(t, (carry, cell_carry), exponent)
        if run.path_norms and t < steps - 1:
            paths = path_norms[t]
            paths[0] = bptt.row_log10_norm(carry, exponent)
            paths[1] = bptt.row_log10_norm(cell_carry, exponent)
        dh, dc, tanh_c, o, d_all = layer_grad[t], cell_grad[t], cell_tanh[t], o_all[t], gate_grad[t]
        np.add(from_outside[t], carry, out=dh)
        # dc = dh * o (1 - tanh(c)^2) + f_{t+1} dc_{t+1}
        np.multiply(tanh_c, tanh_c, out=to_cell)
        np.subtract(one, to_cell, out=to_cell)
        to_cell *= o
        np.multiply(dh, to_cell, out=dc)
        dc += cell_carry
        h_row, c_row = h_rows[t], c_rows[t]
        squares = max(np.dot(h_row, h_row), np.dot(c_row, c_row))
        exponent = bptt.renormalise((dh, dc), float(squares), exponent, band)
        exponents[layer, t] = exponent
        # s (1 - s) for every block (the g block is overwritten), then each block's own factor:
        # dA_i = dc g i(1-i), dA_f = dc c_{t-1} f(1-f), dA_g = dc i (1-g^2), dA_o = dh tanh(c) o(1-o)
        values_t = values[:, t]
        np.subtract(one, values_t, out=step_grad)
        step_grad *= values_t
        # each block's last factor goes straight into its block of dL/dA's row
        row_blocks = gate_blocks[t]
        d_i *= g_all[t]
        np.multiply(d_i, dc, out=row_blocks[0])
        d_f *= cells[t]
        np.multiply(d_f, dc, out=row_blocks[1])
        np.multiply(i_all[t], derivative[t], out=d_g)
        np.multiply(d_g, dc, out=row_blocks[2])
        d_o *= tanh_c
        np.multiply(d_o, dh, out=row_blocks[3])
        if norm is not None:
            norm.step(d_all, t, exponent)
        # a_t = ... + W_hh h_{t-1}: the hidden path into h_{t-1}; c_t = f_t c_{t-1} + ...
        np.matmul(d_all, weight_hh, out=carry)
        np.multiply(dc, f_all[t], out=cell_carry)
        state.time_step = t
        yield state
    state.log10_cell_grad_norms[layer] = bptt.log10_table(cell_grad, exponents[layer], work)[0]
    return gate_grad, None
