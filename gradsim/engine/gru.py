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
depend on ``dh`` are formed in the step, block-major, and their last products written into
``dA``'s row (layout and the negated ``r, z`` as for the LSTM, :mod:`gates`).

The passes run inside :func:`gradsim.engine.gates.forward` and
:func:`gradsim.engine.gates.backward_steps`, as :func:`recurrence` and :func:`layer_backward`.

Scaling, workspace and the order of the yields are those of :func:`gradsim.engine.rnn.backward_steps`.
"""

from __future__ import annotations

import numpy as np

from . import bptt
from . import gates as gated
from .activations import UNIT, step_tanh
from .gates import LayerBackwardPass, LayerBackwardSteps, LayerForward

GATES = 3


def recurrence(run: LayerForward) -> None:
    """One GRU layer's time loop (the ``recurrence`` of :func:`gradsim.engine.gates.forward`).

    ``gates`` ``(3, T, B, H)`` (block-major) comes holding ``W_ih x_t`` (``-W_ih x_t`` in ``r, z``
    without batch norm: :func:`gradsim.engine.gates.negate_gate_rows`, as this loop's ``W_hh`` and
    biases) and leaves holding ``r, z, n``; the hidden side of the candidate, ``q = W_hn h_{t-1} +
    b_hn`` ``(T, B, H)``, goes to ``cache``.
    """
    params, layer, gates, states, candidate = run.params, run.layer, run.gates, run.states, run.candidate
    norm, cache, work = run.norm, run.cache, run.work
    checkpoint, every = run.checkpoint, run.checkpoint_every
    _, steps, batch, hidden = gates.shape
    dtype = gates.dtype
    _, w_hh, b_ih, b_hh = (params[name] for name in bptt.layer_names(layer))
    if norm is None:  # r's and z's pre-activations are formed as -a
        w_hh, b_ih, b_hh = (gated.negate_gate_rows("gru", array) for array in (w_hh, b_ih, b_hh))
    # One pass adds both biases of r and z (their sum) and b_in; b_hn sits inside r * q.
    bias = b_ih.copy()
    bias[: 2 * hidden] += b_hh[: 2 * hidden]
    gates += bias.reshape(GATES, 1, 1, hidden)
    projection = work.output(("projection", layer), (steps, batch, hidden), dtype)
    product = work.scratch(("product", "gru"), (GATES, batch, hidden), dtype)
    term = work.scratch(("term",), (batch, hidden), dtype)
    tanh_scratch = work.scratch(("tanh_scratch",), (batch, hidden), dtype)
    row = work.scratch(("bn_row", "gru"), (batch, 2 * hidden), dtype)  # batch norm's
    rz, new = slice(0, 2 * hidden), slice(2 * hidden, 3 * hidden)
    w_hh_blocks = bptt.recurrent_blocks(w_hh, GATES, batch, states.dtype)  # (3, H, H)
    b_hn = b_hh[2 * hidden :]
    # Each block's (T, B, H) view, and r and z together (2, T, B, H), made once: a step indexes them.
    r_all, z_all, n_all = gates
    rz_all, product_rz, product_n = gates[:2], product[:2], product[2]
    for t in range(steps):
        if checkpoint is not None and not t % every:
            checkpoint()
        # each block contiguous; n holds W_in x + b_in until n is formed
        r_z, r, z, n = rz_all[:, t], r_all[t], z_all[t], n_all[t]
        np.matmul(states[t], w_hh_blocks, out=product)
        r_z += product_rz  # r's and z's sums
        np.add(product_n, b_hn, out=projection[t])
        if norm is None:
            gated.sigmoid_negated_(r_z)  # r and z together, formed as -a
        else:
            gated.normalise_blocks(norm, r_z, t, row, rz)
            gated.sigmoid_blocks_(r_z, (r_z,))
        # n = tanh(W_in x + b_in + r * q)
        np.multiply(r, projection[t], out=term)
        if norm is None:
            np.add(n, term, out=candidate[t])
        else:
            n += term
            norm.step(n, t, new)
            np.copyto(candidate[t], n)
        step_tanh(candidate[t], n, tanh_scratch)
        # h_t = n + z * (h_{t-1} - n)
        np.subtract(states[t], n, out=term)
        term *= z
        np.add(n, term, out=states[t + 1])
    cache.hidden_projection.append(projection)


def layer_backward(run: LayerBackwardPass) -> LayerBackwardSteps:
    """One GRU layer's backward time loop (the ``layer_backward`` of
    :func:`gradsim.engine.gates.backward_steps`); returns ``[dA_r, dA_z, dA_n]`` and ``dq``."""
    params, cache, layer, state, outside = run.params, run.cache, run.layer, run.state, run.outside
    norm, band, work = run.norm, run.band, run.work
    steps, batch, hidden = cache.preactivations[layer].shape
    dtype = outside.values.dtype
    exponents = state.scale_exponents
    layer_grad = work.scratch(("layer_grad",), (steps, batch, hidden), dtype)  # dL/dh_t
    gate_grad = work.scratch(("pre_grad", "gru"), (steps, batch, GATES * hidden), dtype)  # [dA_r, dA_z, dA_n]
    step_grad = work.scratch(("step_grad", "gru"), (GATES, batch, hidden), dtype)  # the same, block-major
    projection_grad = work.scratch(("projection_grad",), (steps, batch, hidden), dtype)  # dq
    carry = work.scratch(("carry",), (batch, hidden), dtype)
    direct = work.scratch(("direct",), (batch, hidden), dtype)
    carry.fill(0)
    values = cache.gates[layer]  # (3, T, B, H): r, z, n
    # Each block's (T, B, H) values, and dL/dA's rows seen block-major, made once: a step indexes
    # them by t. dL/dA's factors are formed block-major in step_grad (every pass contiguous); the
    # last product of each block is written into its row of gate_grad.
    r_all, z_all, n_all = values
    gate_blocks = gate_grad.reshape(steps, batch, GATES, hidden).transpose(0, 2, 1, 3)  # (T, 3, B, H)
    d_r, d_z, d_n = step_grad
    states, projection, derivative = (
        cache.states[layer],
        cache.hidden_projection[layer],
        cache.derivatives[layer],
    )
    rows = layer_grad.reshape(steps, -1)
    path_norms = state.log10_path_norms[layer]
    from_outside = outside.values
    state.layer_grad, state.layer = layer_grad, layer
    rz, new = slice(0, 2 * hidden), slice(2 * hidden, 3 * hidden)
    weight_hh = params[bptt.layer_names(layer)[1]]
    exponent = outside.first_exponent()
    one = UNIT[np.dtype(dtype)]
    for t in reversed(range(steps)):
        exponent = outside.join(t, (carry,), exponent)
        dh, row = layer_grad[t], rows[t]
        np.add(from_outside[t], carry, out=dh)
        exponent = bptt.renormalise((dh,), float(np.dot(row, row)), exponent, band)
        exponents[layer, t] = exponent
        r, z, n, values_t, d_all = r_all[t], z_all[t], n_all[t], values[:2, t], gate_grad[t]
        # s (1 - s) for r and z; dA_z = dh (h_{t-1} - n) z(1-z); dA_n = dh (1 - z)(1 - n^2) (then
        # batch norm's backward on the n columns)
        np.subtract(one, values_t, out=step_grad[:2])
        step_grad[:2] *= values_t
        # dA_r and dA_z go straight into their blocks of the row (row_blocks): the product into
        # h_{t-1} reads [dA_r, dA_z, dq], the row holding dq in its n block for it, then dA_n
        row_blocks = gate_blocks[t]
        np.subtract(states[t], n, out=direct)
        d_z *= direct
        np.multiply(d_z, dh, out=row_blocks[1])
        np.subtract(one, z, out=d_n)
        d_n *= derivative[t]
        d_n *= dh
        if norm is not None:
            norm.step(d_n, t, exponent, new)
        # q enters n behind the reset gate: dq = dA_n r, dA_r = dA_n q r (1 - r)
        np.multiply(d_n, r, out=projection_grad[t])
        d_r *= projection[t]
        np.multiply(d_r, d_n, out=row_blocks[0])
        np.copyto(row_blocks[2], projection_grad[t])
        if norm is not None:
            norm.step(d_all[:, rz], t, exponent, rz)
        np.matmul(d_all, weight_hh, out=carry)
        np.copyto(row_blocks[2], d_n)
        np.multiply(dh, z, out=direct)  # h_t = ... + z h_{t-1}
        if run.path_norms and t > 0:
            paths = path_norms[t - 1]
            paths[0] = bptt.row_log10_norm(carry, exponent)
            paths[1] = bptt.row_log10_norm(direct, exponent)
        carry += direct
        state.time_step = t
        yield state
    return gate_grad, projection_grad
