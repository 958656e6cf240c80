"""What the gated cells (:mod:`lstm`, :mod:`gru`) share: gate layout, parameters, cache, statistics.

Layout (PyTorch's ``nn.LSTM`` / ``nn.GRU``): a layer's ``weight_ih_l{k}`` is ``(G H, I)``,
``weight_hh_l{k}`` ``(G H, H)``, ``bias_ih_l{k}`` and ``bias_hh_l{k}`` ``(G H,)``, the ``G``
blocks of ``H`` rows stacked in the order of :data:`BLOCKS`: LSTM ``i, f, g, o`` (input gate,
forget gate, cell candidate, output gate), GRU ``r, z, n`` (reset gate, update gate, new
candidate). A state dict therefore moves between gradsim and PyTorch unchanged.

Inside the engine a layer's gate values are *block-major*, ``(G, T, B, H)`` in the same block
order (:attr:`GatedCache.gates`): each block of a step is one contiguous ``(B, H)`` run, so every
elementwise pass of a step is one contiguous loop (over a ``(B, H)`` column block of a ``(B, G H)``
row numpy walks the ``B`` strided rows one by one, 2-3x slower). The input projection and the
per-step product write straight into that layout (:func:`block_projection`,
:func:`gradsim.engine.workspace.recurrent_blocks`). The backward pass's ``dL/dA`` stays
``(T, B, G H)``: the product into ``dL/dh_{t-1}``, the weights' gradients and the gradient sent
down each read it as one matrix.

Gate statistics: the *sigmoid* gates (:data:`GATE_NAMES`: LSTM input, forget, output; GRU
reset, update) are summarised per (layer, time step) by their mean and by the fraction of
saturated units, a gate value below :data:`GATE_LOW` or above :data:`GATE_HIGH`
(:func:`gate_statistics`). The candidate (LSTM ``g``, GRU ``n``) is a tanh unit and is what the
records' activation statistics describe (``saturation``, ``mean_derivative``,
``preactivation_samples``), as the activation of a vanilla RNN.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field

import numpy as np

from . import bptt
from .activations import UNIT
from .initializers import init_matrix
from .rnn import BackwardState, layer_names

CELLS = ("rnn", "lstm", "gru")
# The row blocks of the stacked weights, in PyTorch's order.
BLOCKS: dict[str, tuple[str, ...]] = {
    "rnn": ("hidden",),
    "lstm": ("input", "forget", "cell", "output"),
    "gru": ("reset", "update", "new"),
}
# PyTorch's letter of each block (nn.LSTM: i, f, g, o; nn.GRU: r, z, n), for labels.
BLOCK_LETTERS: dict[str, str] = {
    "input": "i",
    "forget": "f",
    "cell": "g",
    "output": "o",
    "reset": "r",
    "update": "z",
    "new": "n",
}
# The sigmoid gates of each cell (the ones whose mean and saturation a record keeps), and the
# index of each in BLOCKS.
GATE_NAMES: dict[str, tuple[str, ...]] = {
    "rnn": (),
    "lstm": ("input", "forget", "output"),
    "gru": ("reset", "update"),
}
GATE_BLOCKS: dict[str, tuple[int, ...]] = {"rnn": (), "lstm": (0, 1, 3), "gru": (0, 1)}
# The block of the tanh candidate.
CANDIDATE_BLOCK = {"lstm": 2, "gru": 2}
# A sigmoid gate below GATE_LOW or above GATE_HIGH counts as saturated (closed or open).
GATE_LOW = 0.05
GATE_HIGH = 0.95


def gate_count(cell: str) -> int:
    """Row blocks per weight matrix: 1 (rnn), 4 (lstm), 3 (gru)."""
    return len(BLOCKS[cell])


def init_layer(
    cell: str,
    init: str,
    scale: float,
    hidden: int,
    fan_in: int,
    layer: int,
    rng: np.random.Generator,
    dtype: np.dtype,
    forget_bias: float = 0.0,
) -> dict[str, np.ndarray]:
    """The parameters of one gated layer, each ``(H, .)`` gate block drawn as the RNN's matrix.

    Every block of ``weight_ih`` ``(H, I)`` and of ``weight_hh`` ``(H, H)`` is drawn by ``init``
    at ``scale`` on its own (an orthogonal block is orthogonal, an identity block the identity),
    input blocks first, then recurrent ones. Biases are 0 except, for an LSTM, the forget-gate
    block of ``bias_ih`` (rows ``H:2H``), which is ``forget_bias``: the forget gate's
    pre-activation is ``... + bias_ih[H:2H] + bias_hh[H:2H]``, so in PyTorch the same network
    has ``bias_ih_l{k}[H:2H] = forget_bias`` and ``bias_hh_l{k}[H:2H] = 0`` set by hand (or any
    split of it between the two; PyTorch's own default draws both uniformly).
    """
    blocks = gate_count(cell)
    w_ih, w_hh, b_ih, b_hh = layer_names(layer)
    params = {
        w_ih: np.concatenate([init_matrix(init, (hidden, fan_in), scale, rng, dtype) for _ in range(blocks)]),
        w_hh: np.concatenate([init_matrix(init, (hidden, hidden), scale, rng, dtype) for _ in range(blocks)]),
        b_ih: np.zeros(blocks * hidden, dtype=dtype),
        b_hh: np.zeros(blocks * hidden, dtype=dtype),
    }
    if cell == "lstm":
        params[b_ih][hidden : 2 * hidden] = forget_bias
    return params


def sigmoid_blocks_(row: np.ndarray, blocks: Sequence[np.ndarray]) -> None:
    """``1 / (1 + exp(-a))`` in place on ``blocks``, views of one step's pre-activations ``row``.

    ``row`` the step's block-major ``(k, B, H)`` gates (each block contiguous); ``blocks`` the
    views of it that are sigmoid gates (LSTM: ``i, f`` together and ``o``). The negation, the
    ``+ 1`` and the reciprocal run over the whole row, three calls instead of three per block;
    only ``exp`` (scalar libm code, ~6 ns a value) runs on the blocks alone. The gates' values are
    those of these operations on the blocks alone; the other blocks of ``row`` are left holding
    scratch (the caller saved what it needs from them first).

    For very negative values ``exp`` overflows to inf and the gate is exactly 0 (below 1e-308);
    callers run under ``np.errstate(all="ignore")`` as the whole engine does. The reciprocal of
    a scratch block divides by zero where it held exactly 1 (not a value of the cell): that one
    is never reported, whatever the caller's error state.
    """
    one = UNIT[row.dtype]
    np.negative(row, out=row)
    for block in blocks:
        np.exp(block, out=block)
    row += one
    with np.errstate(divide="ignore"):
        np.divide(one, row, out=row)


def sigmoid_negated_(block: np.ndarray) -> None:
    """``1 / (1 + exp(b))`` in place on ``block`` holding ``b = -a``, the sigmoid of ``a``.

    For pre-activations formed negated (:func:`negate_gate_rows`): three passes, ``exp``, ``+ 1``
    and the reciprocal, over the gate blocks only (a ``(k, B, H)`` view of contiguous blocks).
    ``1 + exp(b)`` is at least 1, so the reciprocal never divides by zero; ``exp`` overflows to inf
    for ``b`` above ~709 and the gate is then exactly 0, as :func:`sigmoid_blocks_` gives. The
    reciprocal is ``np.divide(1.0, .)``, the same bits as ``np.reciprocal``, which numpy does not
    vectorise for float64 (0.77 against 0.42 ns a value here).
    """
    one = UNIT[block.dtype]
    np.exp(block, out=block)
    block += one
    np.divide(one, block, out=block)


@dataclass
class GatedCache:
    """What the backward pass of a gated cell needs from its forward pass.

    The first fields have the meaning of :class:`gradsim.engine.rnn.ForwardCache`'s, so that code
    reading a cache for its states and activation statistics works for every cell.

    Attributes
    ----------
    cell : ``"lstm"`` or ``"gru"``
    inputs : list of (T, B, I_l), each layer's input sequence
    states : list of (T + 1, B, H); ``states[l][0] = 0`` and ``states[l][t + 1] = h_t``
    preactivations : list of (T, B, H), the candidate's pre-activation (the input of the tanh of
        LSTM's ``g`` / GRU's ``n``, after batch norm where it is on)
    derivatives : list of (T, B, H), ``1 - candidate**2``, the candidate's tanh derivative
    gates : list of (G, T, B, H), every block's value after its non-linearity, block-major, in
        PyTorch's order (LSTM ``i, f, g, o``; GRU ``r, z, n``): ``gates[l][k, t]`` is block ``k``
        at step ``t``
    normalized : list of (T, B, G H), ``(a - mean) / std`` of every block's pre-activation (batch
        norm only, else empty)
    inverse_std : list of (T, 1, G H), ``1 / std`` (batch norm only, else empty)
    output : (B, O) readout of the top layer's last state
    cells : LSTM: list of (T + 1, B, H) cell states ``c`` (``cells[l][0] = 0``); GRU: empty
    cell_tanh : LSTM: list of (T, B, H) ``tanh(c_t)``; GRU: empty
    hidden_projection : GRU: list of (T, B, H) ``W_hn h_{t-1} + b_hn``; LSTM: empty
    """

    cell: str
    inputs: list[np.ndarray] = field(default_factory=list)
    states: list[np.ndarray] = field(default_factory=list)
    preactivations: list[np.ndarray] = field(default_factory=list)
    derivatives: list[np.ndarray] = field(default_factory=list)
    gates: list[np.ndarray] = field(default_factory=list)
    normalized: list[np.ndarray] = field(default_factory=list)
    inverse_std: list[np.ndarray] = field(default_factory=list)
    output: np.ndarray = field(default_factory=lambda: np.empty(0))
    cells: list[np.ndarray] = field(default_factory=list)
    cell_tanh: list[np.ndarray] = field(default_factory=list)
    hidden_projection: list[np.ndarray] = field(default_factory=list)

    def gate_values(self, layer: int, time_step: int) -> dict[str, np.ndarray]:
        """``{block name: (B, H) values}`` of every block of ``layer`` at ``time_step`` (views)."""
        values = self.gates[layer]
        return {name: values[k, time_step] for k, name in enumerate(BLOCKS[self.cell])}


@dataclass
class GatedBackwardState(BackwardState):
    """:class:`gradsim.engine.rnn.BackwardState` of a gated cell, with its cell path.

    Attributes (besides the RNN's)
    ------------------------------
    cell_grad : LSTM: (T, B, H) mantissa of ``dL/dc`` of the layer being processed, at the same
        power of two as ``layer_grad`` (see :meth:`cell_gradient`); GRU: empty
    log10_cell_grad_norms : LSTM: (L, T) ``log10 ||dL/dc||`` exact at any magnitude (NaN where
        not reached yet); GRU: None
    log10_path_norms : (L, T, 2) log10 norms of the two recurrent terms that arrive at each
        cell from the next time step (NaN at the last step and where not reached yet):
        ``[..., 0]`` the hidden path, through the gates' pre-activations and ``weight_hh``, into
        ``dL/dh_t``; ``[..., 1]`` the cell path: LSTM ``f_{t+1} * dL/dc_{t+1}`` into ``dL/dc_t``,
        GRU ``z_{t+1} * dL/dh_{t+1}`` into ``dL/dh_t`` (the update gate's direct path)
    """

    cell_grad: np.ndarray = field(default_factory=lambda: np.empty(0))
    log10_cell_grad_norms: np.ndarray | None = None
    log10_path_norms: np.ndarray = field(default_factory=lambda: np.empty((0, 0, 2)))

    @classmethod
    def empty_gated(cls, cell: str, num_layers: int, steps: int) -> GatedBackwardState:
        """A state with nothing reached yet: norms NaN, exponents 0."""
        return cls(
            {},
            np.full((num_layers, steps), np.nan),
            np.empty(0),
            log10_grad_norms=np.full((num_layers, steps), np.nan),
            scale_exponents=np.zeros((num_layers, steps), dtype=np.int64),
            log10_cell_grad_norms=np.full((num_layers, steps), np.nan) if cell == "lstm" else None,
            log10_path_norms=np.full((num_layers, steps, 2), np.nan),
        )

    def cell_gradient(self, time_step: int) -> np.ndarray:
        """(B, H) true ``dL/dc`` of the current layer at ``time_step`` (a new array; LSTM only)."""
        return np.ldexp(self.cell_grad[time_step], int(self.scale_exponents[self.layer, time_step]))


def gate_statistics(
    cell: str, gates: np.ndarray, masks: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and saturated fraction of each sigmoid gate of one layer, per time step.

    Parameters
    ----------
    cell : ``"lstm"`` or ``"gru"``
    gates : (G, T, B, H) a layer's block values (:attr:`GatedCache.gates`)
    masks : two boolean (T, B, H) scratch arrays (overwritten); None allocates them

    Returns
    -------
    means, saturated : (T, len(GATE_NAMES[cell])) float64; ``saturated`` is the fraction of the
        gate's B x H values below :data:`GATE_LOW` or above :data:`GATE_HIGH` (a NaN value counts
        in neither)
    """
    _, steps, batch, hidden = gates.shape
    if masks is None:
        masks = (np.empty((steps, batch, hidden), dtype=bool), np.empty((steps, batch, hidden), dtype=bool))
    low, high = masks
    chosen = GATE_BLOCKS[cell]
    means = np.empty((steps, len(chosen)))
    saturated = np.empty((steps, len(chosen)))
    for column, block in enumerate(chosen):
        values = gates[block]
        means[:, column] = values.mean(axis=(1, 2), dtype=np.float64)
        np.less(values, GATE_LOW, out=low)
        np.greater(values, GATE_HIGH, out=high)
        np.logical_or(low, high, out=low)
        saturated[:, column] = np.count_nonzero(low, axis=(1, 2)) / (batch * hidden)
    return means, saturated


def negate_gate_rows(cell: str, array: np.ndarray) -> np.ndarray:
    """A copy of ``array`` ``(G H, ...)`` (a layer's weights or biases) with the sigmoid gates'
    rows negated.

    Without batch norm the cells run their products and bias sums with these, so that the
    sigmoid blocks come out holding ``-a``, the argument of ``exp`` in ``1 / (1 + exp(-a))``, and
    need no negation pass per step. A product or sum of negated operands is the exact negation of
    the original one (rounding to nearest is symmetric), so the gates keep their bits. With batch
    norm the pre-activations must keep their sign and the cells use the weights as they are.
    """
    negated = array.copy()
    hidden = array.shape[0] // gate_count(cell)
    for block in GATE_BLOCKS[cell]:
        rows = negated[block * hidden : (block + 1) * hidden]
        np.negative(rows, out=rows)
    return negated


def block_projection(
    layer_input: np.ndarray, weight_ih: np.ndarray, blocks: int, key: tuple[object, ...], work: bptt.Workspace
) -> np.ndarray:
    """``layer_input W_ih^T`` for all steps, block-major ``(G, T, B, H)`` (an output of ``work``).

    ``layer_input`` ``(T, B, I)``, ``weight_ih`` ``(G H, I)``: one product ``(T B, I) x (I, H)``
    per block, each into its contiguous ``(T B, H)`` run; the recurrence then adds the per-step
    products in place.
    """
    steps, batch, width = layer_input.shape
    hidden = weight_ih.shape[0] // blocks
    dtype = np.result_type(layer_input, weight_ih)
    projection = work.output(key, (blocks, steps, batch, hidden), dtype)
    np.matmul(
        layer_input.reshape(steps * batch, width),
        weight_ih.reshape(blocks, hidden, width).transpose(0, 2, 1),
        out=projection.reshape(blocks, steps * batch, hidden),
    )
    return projection


def normalise_blocks(
    norm: bptt.BatchNormForward, blocks: np.ndarray, t: int, row: np.ndarray, columns: slice = slice(None)
) -> None:
    """Batch norm of step ``t``'s block-major ``blocks`` ``(k, B, H)`` in place, through ``row``.

    :class:`gradsim.engine.bptt.BatchNormForward` keeps its arrays in the row layout ``(B, k H)``
    (``columns`` of the layer's ``G H``): the blocks are copied into ``row`` (scratch), normalised
    there, and copied back.
    """
    count, batch, hidden = blocks.shape
    row_blocks = row.reshape(batch, count, hidden).transpose(1, 0, 2)
    np.copyto(row_blocks, blocks)
    norm.step(row, t, columns)
    np.copyto(blocks, row_blocks)


@dataclass
class LayerForward:
    """What a gated cell's forward time loop works on for one layer (see :func:`forward`).

    Attributes
    ----------
    params : the network's parameters (PyTorch's names)
    layer : the layer's index
    gates : (G, T, B, H), block-major: ``W_ih x_t`` on the way in, every block's value on the way out
    states : (T + 1, B, H), ``h_t`` (``states[0] = 0``)
    candidate : (T, B, H), the candidate's pre-activation, written by the loop
    norm : the layer's batch norm, None without
    cache : where the cell's own arrays go
    work : the workspace of the pass
    checkpoint : called before every ``checkpoint_every``-th time step, from the first (None: no
        checkpoint; :data:`gradsim.engine.bptt.Checkpoint`)
    """

    params: dict[str, np.ndarray]
    layer: int
    gates: np.ndarray
    states: np.ndarray
    candidate: np.ndarray
    norm: bptt.BatchNormForward | None
    cache: GatedCache
    work: bptt.Workspace
    checkpoint: bptt.Checkpoint | None = None
    checkpoint_every: int = 1


# One layer's time loop of a gated cell (lstm.recurrence, gru.recurrence), see :func:`forward`.
Recurrence = Callable[[LayerForward], None]


def forward(
    cell: str, params: dict[str, np.ndarray], x: np.ndarray, num_layers: int, batch_norm: bool,
    recurrence: Recurrence, workspace: bptt.Workspace | None = None,
    checkpoint: bptt.Checkpoint | None = None, checkpoint_every: int = 1,
) -> GatedCache:  # fmt: skip
    """Run a gated cell over ``x`` ``(B, T, I)``, layer by layer, and keep what backward needs.

    What every gated layer does around its time loop is here: the input made time-major, its
    projection for all steps in one product, the arrays the cache keeps, the candidate's tanh
    derivative ``1 - g^2`` for all steps at once. ``recurrence(LayerForward(params, layer, gates,
    states, candidate, norm, cache, work))`` is the cell's own time loop: ``gates`` ``(G, T, B, H)`` comes
    holding ``W_ih x_t`` (without batch norm ``-W_ih x_t`` in the sigmoid blocks, see
    :func:`negate_gate_rows`, so the recurrence must add ``-W_hh h`` and ``-b`` there) and leaves
    holding every block's value; it writes ``states[t + 1]``
    (``states[0] = 0``) and ``candidate[t]`` (the candidate's pre-activation), normalises with
    ``norm`` (None without batch norm) and appends the cell's own arrays to ``cache``.

    ``workspace``: where the cache and the intermediates go; None allocates everything fresh.
    The numbers do not depend on it. ``checkpoint``: called before time step ``t`` of every layer
    for ``t`` a multiple of ``checkpoint_every`` (:data:`gradsim.engine.bptt.Checkpoint`).
    """
    work = bptt.Workspace() if workspace is None else workspace
    batch, steps, _ = x.shape
    layer_input = bptt.time_major(x, work)
    cache = GatedCache(cell)
    for layer in range(num_layers):
        weight_ih, weight_hh = params[f"weight_ih_l{layer}"], params[f"weight_hh_l{layer}"]
        hidden = weight_hh.shape[1]
        # Without batch norm the sigmoid blocks' rows are negated (negate_gate_rows): the
        # recurrence then finds -W_ih x there.
        signed_ih = weight_ih if batch_norm else negate_gate_rows(cell, weight_ih)
        gates = block_projection(layer_input, signed_ih, gate_count(cell), ("gates", layer), work)
        states = work.output(("states", layer), (steps + 1, batch, hidden), x.dtype)
        states[0] = 0
        candidate = work.output(("preactivation", layer), (steps, batch, hidden), gates.dtype)
        norm = None
        if batch_norm:
            shape = (steps, batch, weight_ih.shape[0])
            norm = bptt.BatchNormForward(params, layer, shape, gates.dtype, work)
        recurrence(
            LayerForward(
                params, layer, gates, states, candidate, norm, cache, work,
                checkpoint=checkpoint, checkpoint_every=checkpoint_every,
            )
        )  # fmt: skip
        # The candidate's tanh derivative 1 - g^2, all steps at once.
        derivative = work.output(("derivative", layer), candidate.shape, gates.dtype)
        values = gates[CANDIDATE_BLOCK[cell]]
        np.multiply(values, values, out=derivative)
        np.subtract(1.0, derivative, out=derivative)
        cache.inputs.append(layer_input)
        cache.states.append(states)
        cache.preactivations.append(candidate)
        cache.derivatives.append(derivative)
        cache.gates.append(gates)
        if norm is not None:
            cache.normalized.append(norm.normalized)
            cache.inverse_std.append(norm.inverse_std)
        layer_input = states[1:]
    cache.output = cache.states[-1][-1] @ params["readout.weight"].T + params["readout.bias"]
    return cache


@dataclass
class LayerBackwardPass:
    """What a gated cell's backward time loop works on for one layer (see :func:`backward_steps`).

    Attributes
    ----------
    params : the network's parameters
    cache : the forward pass's cache
    layer : the layer's index
    state : the backward state the loop fills and yields
    outside : the gradient arriving from the layer above or the readout
    norm : the layer's batch norm backward, None without
    band : the safe band of the mantissas' sums of squares (:func:`gradsim.engine.bptt.band`)
    work : the workspace of the pass
    path_norms : fill ``state.log10_path_norms`` (the step-through shows them; a training step,
        whose record does not keep them, leaves them NaN)
    """

    params: dict[str, np.ndarray]
    cache: GatedCache
    layer: int
    state: GatedBackwardState
    outside: bptt.OutsideGradient
    norm: bptt.BatchNormBackward | None
    band: tuple[float, float]
    work: bptt.Workspace
    path_norms: bool = True


# What a cell's backward time loop yields after each step and returns: dL/dA (and a GRU's dL/dq).
LayerBackwardSteps = Generator[GatedBackwardState, None, tuple[np.ndarray, np.ndarray | None]]
# One layer's backward time loop of a gated cell (lstm.layer_backward, gru.layer_backward), see
# :func:`backward_steps`.
LayerBackward = Callable[[LayerBackwardPass], LayerBackwardSteps]


def backward_steps(
    params: dict[str, np.ndarray], cache: GatedCache, output_grad: np.ndarray, batch_norm: bool,
    layer_backward: LayerBackward, state: GatedBackwardState | None = None,
    workspace: bptt.Workspace | None = None, path_norms: bool = True,
) -> Generator[GatedBackwardState, None, GatedBackwardState]:  # fmt: skip
    """Backpropagate ``output_grad`` ``(B, O)`` through a gated cell, yielding after each (layer, step).

    Same order and contract as :func:`gradsim.engine.rnn.backward_steps`; the state also holds the
    two paths into each cell (``log10_path_norms``) and, for an LSTM, ``dL/dc`` (``cell_grad``,
    ``log10_cell_grad_norms``). What every layer does around its time loop is here (the readout's
    gradients, what arrives from outside each layer, :func:`gradsim.engine.bptt.finish_layer`);
    ``layer_backward(LayerBackwardPass(params, cache, layer, state, outside, norm, band, work))``
    is the cell's own loop: it fills ``state.layer_grad`` and the exponents, yields ``state`` after
    each step and returns ``dL/dA`` ``(T, B, G H)`` of every block (mantissas, row layout) and, for
    a GRU, ``dL/dq``. ``path_norms=False`` leaves ``log10_path_norms`` NaN (a training step's
    pass: its record does not keep them).
    """
    work = bptt.Workspace() if workspace is None else workspace
    num_layers = len(cache.states)
    steps = cache.preactivations[-1].shape[0]
    dtype = output_grad.dtype
    if state is None:
        state = GatedBackwardState.empty_gated(cache.cell, num_layers, steps)
    band = bptt.band(dtype)
    outside = bptt.OutsideGradient(params, output_grad, cache.states[-1][-1], steps, state.grads, work)
    for layer in reversed(range(num_layers)):
        norm = None
        if batch_norm:
            norm = bptt.BatchNormBackward(
                params, layer, cache.normalized[layer], cache.inverse_std[layer], dtype, work
            )
        gate_grad, projection_grad = yield from layer_backward(
            LayerBackwardPass(params, cache, layer, state, outside, norm, band, work, path_norms)
        )
        tables = (state.log10_grad_norms, state.grad_norms, state.scale_exponents)
        bptt.finish_layer(
            tables, layer, state.layer_grad, gate_grad, params, cache.states[layer], cache.inputs[layer],
            outside, state.grads, work, gru_projection_grad=projection_grad,
        )  # fmt: skip
        if norm is not None:
            norm.store(state.grads)
    return state
