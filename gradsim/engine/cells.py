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

from . import gru, lstm, rnn
from .activations import Activation
from .bptt import Workspace
from .gates import CELLS, GatedBackwardState, GatedCache

Cache = rnn.ForwardCache | GatedCache
State = rnn.BackwardState | GatedBackwardState

__all__ = ["CELLS", "Cache", "State", "backward", "backward_steps", "empty_state", "forward"]


def _check(cell: str) -> None:
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {', '.join(CELLS)} (got {cell!r})")


def forward(
    cell: str,
    params: dict[str, np.ndarray],
    x: np.ndarray,
    num_layers: int,
    activation: Activation,
    batch_norm: bool,
    workspace: Workspace | None = None,
) -> Cache:
    """The forward pass of ``cell`` over ``x`` ``(B, T, I)`` (``activation``: the RNN's only)."""
    _check(cell)
    if cell == "lstm":
        return lstm.forward(params, x, num_layers, batch_norm, workspace)
    if cell == "gru":
        return gru.forward(params, x, num_layers, batch_norm, workspace)
    return rnn.forward(params, x, num_layers, activation, batch_norm, workspace)


def empty_state(cell: str, num_layers: int, steps: int) -> State:
    """A backward state with nothing reached yet, of the kind ``cell``'s backward pass fills."""
    _check(cell)
    if cell == "rnn":
        return rnn.BackwardState.empty(num_layers, steps)
    return GatedBackwardState.empty_gated(cell, num_layers, steps)


def backward_steps(
    cell: str,
    params: dict[str, np.ndarray],
    cache: Cache,
    output_grad: np.ndarray,
    batch_norm: bool,
    state: State | None = None,
    workspace: Workspace | None = None,
) -> Generator[State, None, State]:
    """``cell``'s backward generator (see :func:`gradsim.engine.rnn.backward_steps`)."""
    _check(cell)
    if cell == "rnn":
        assert isinstance(cache, rnn.ForwardCache)
        return rnn.backward_steps(params, cache, output_grad, batch_norm, state, workspace)
    assert isinstance(cache, GatedCache) and (state is None or isinstance(state, GatedBackwardState))
    module = lstm if cell == "lstm" else gru
    return module.backward_steps(params, cache, output_grad, batch_norm, state, workspace)


def backward(
    cell: str,
    params: dict[str, np.ndarray],
    cache: Cache,
    output_grad: np.ndarray,
    batch_norm: bool,
    workspace: Workspace | None = None,
) -> State:
    """Run :func:`backward_steps` to the end and return its final state."""
    state = empty_state(cell, len(cache.states), cache.preactivations[-1].shape[0])
    for _ in backward_steps(cell, params, cache, output_grad, batch_norm, state, workspace):
        pass
    return state
