"""The recurrent cells behind one interface: ``"rnn"`` (:mod:`rnn`), ``"lstm"`` (:mod:`lstm`),
``"gru"`` (:mod:`gru`).

:class:`gradsim.engine.simulation.Simulation` and the step-through call these functions with
``config.cell``; each forwards to the cell's own module. Every cell's backward pass is a
generator yielding after each (layer, time step) in the same order (top layer first, last step
first), with the same power-of-two scaling of its gradients (:mod:`bptt`).
"""

from __future__ import annotations

from collections.abc import Generator

import numpy as np

from . import gates, gru, lstm, rnn
from .activations import Activation
from .bptt import Checkpoint, Workspace
from .config import SimConfig
from .gates import CELLS, GatedBackwardState, GatedCache, gate_count
from .tasks import make_task

Cache = rnn.ForwardCache | GatedCache
State = rnn.BackwardState | GatedBackwardState

__all__ = [
    "CELLS", "Cache", "State", "backward", "backward_steps", "empty_state", "forward", "parameter_shapes",
    "required_parameters",
]  # fmt: skip


def _check(cell: str) -> None:
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {', '.join(CELLS)} (got {cell!r})")


def forward(
    cell: str, params: dict[str, np.ndarray], x: np.ndarray, num_layers: int, activation: Activation,
    batch_norm: bool, workspace: Workspace | None = None, checkpoint: Checkpoint | None = None,
    checkpoint_every: int = 1,
) -> Cache:  # fmt: skip
    """The forward pass of ``cell`` over ``x`` ``(B, T, I)`` (``activation``: the RNN's only).

    ``checkpoint``: called before time step ``t`` of every layer for ``t`` a multiple of
    ``checkpoint_every`` (:data:`gradsim.engine.bptt.Checkpoint`).
    """
    _check(cell)
    if cell == "rnn":
        return rnn.forward(
            params, x, num_layers, activation, batch_norm, workspace, checkpoint, checkpoint_every
        )
    recurrence = lstm.recurrence if cell == "lstm" else gru.recurrence
    return gates.forward(
        cell, params, x, num_layers, batch_norm, recurrence, workspace, checkpoint, checkpoint_every
    )


def empty_state(cell: str, num_layers: int, steps: int) -> State:
    """A backward state with nothing reached yet, of the kind ``cell``'s backward pass fills."""
    _check(cell)
    if cell == "rnn":
        return rnn.BackwardState.empty(num_layers, steps)
    return GatedBackwardState.empty_gated(cell, num_layers, steps)


def backward_steps(
    cell: str, params: dict[str, np.ndarray], cache: Cache, output_grad: np.ndarray, batch_norm: bool,
    state: State | None = None, workspace: Workspace | None = None, path_norms: bool = True,
) -> Generator[State, None, State]:  # fmt: skip
    """``cell``'s backward generator (see :func:`gradsim.engine.rnn.backward_steps`).

    ``path_norms``: whether a gated cell fills ``log10_path_norms`` (see
    :func:`gradsim.engine.gates.backward_steps`); the RNN has none.
    """
    _check(cell)
    if cell == "rnn":
        assert isinstance(cache, rnn.ForwardCache)
        return rnn.backward_steps(params, cache, output_grad, batch_norm, state, workspace)
    assert isinstance(cache, GatedCache) and (state is None or isinstance(state, GatedBackwardState))
    layer_backward = lstm.layer_backward if cell == "lstm" else gru.layer_backward
    return gates.backward_steps(
        params, cache, output_grad, batch_norm, layer_backward, state, workspace, path_norms
    )


def backward(
    cell: str, params: dict[str, np.ndarray], cache: Cache, output_grad: np.ndarray, batch_norm: bool,
    workspace: Workspace | None = None, path_norms: bool = True,
) -> State:  # fmt: skip
    """Run :func:`backward_steps` to the end and return its final state."""
    state = empty_state(cell, len(cache.states), cache.preactivations[-1].shape[0])
    for _ in backward_steps(cell, params, cache, output_grad, batch_norm, state, workspace, path_norms):
        pass
    return state


def parameter_shapes(config: SimConfig) -> dict[str, tuple[int, ...]]:
    """The name and shape of every parameter of ``config``'s network, in ``Simulation.params`` order.

    PyTorch's names and shapes for the recurrent layers (``weight_ih_l{k}`` ``(G H, I)``,
    ``weight_hh_l{k}`` ``(G H, H)``, ``bias_ih_l{k}``, ``bias_hh_l{k}`` ``(G H,)``, ``G`` = 1, 4, 3
    for rnn, lstm, gru), then with batch norm ``bn_gain_l{k}``, ``bn_shift_l{k}`` ``(G H,)``, then
    ``readout.weight`` ``(O, H)`` and ``readout.bias`` ``(O,)``.
    """
    task = make_task(config.task)
    rows, hidden = gate_count(config.cell) * config.hidden_size, config.hidden_size
    shapes: dict[str, tuple[int, ...]] = {}
    fan_in = task.input_size
    for layer in range(config.num_layers):
        w_ih, w_hh, b_ih, b_hh = rnn.layer_names(layer)
        shapes.update({w_ih: (rows, fan_in), w_hh: (rows, hidden), b_ih: (rows,), b_hh: (rows,)})
        fan_in = hidden
    if config.normalization == "batch":
        for layer in range(config.num_layers):
            shapes[f"bn_gain_l{layer}"] = (rows,)
            shapes[f"bn_shift_l{layer}"] = (rows,)
    shapes["readout.weight"] = (task.output_size, hidden)
    shapes["readout.bias"] = (task.output_size,)
    return shapes


def required_parameters(config: SimConfig) -> tuple[str, ...]:
    """The parameters a set of loaded weights must hold: the recurrent layers' (a PyTorch
    ``nn.RNN``/``nn.LSTM``/``nn.GRU`` state dict); the readout and batch norm may be left out."""
    return tuple(name for name in parameter_shapes(config) if name.startswith(("weight_", "bias_")))


def check_weights(config: SimConfig, weights: dict[str, np.ndarray]) -> None:
    """Raise ValueError (one line) unless ``weights`` fit ``config``'s network.

    Every name must be one of :func:`parameter_shapes` with that shape, every name of
    :func:`required_parameters` present, and every array of a real floating dtype.
    """
    shapes = parameter_shapes(config)
    unknown = [name for name in weights if name not in shapes]
    if unknown:
        raise ValueError(
            f"unexpected parameter {str(unknown[0])[:80]!r} for a {config.num_layers}-layer {config.cell} "
            f"(expected {', '.join(list(shapes)[:4])}, ...)"
        )
    missing = [name for name in required_parameters(config) if name not in weights]
    if missing:
        raise ValueError(f"parameter {missing[0]!r} is missing ({config.num_layers}-layer {config.cell})")
    for name in (name for name in shapes if name in weights):  # in the network's order
        value = weights[name]
        if np.shape(value) != shapes[name]:
            raise ValueError(
                f"parameter {name!r} has shape {tuple(np.shape(value))}, the config needs {shapes[name]} "
                f"({config.cell}, hidden_size {config.hidden_size}, task {config.task})"
            )
        if not np.issubdtype(np.asarray(value).dtype, np.floating):
            raise ValueError(f"parameter {name!r} holds {np.asarray(value).dtype} numbers, not floats")
