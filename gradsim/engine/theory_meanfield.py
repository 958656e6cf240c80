"""The mean-field fixed point of every layer, and the predicted (layer, time) map of the gradient.

Part of the mean-field theory (:mod:`gradsim.engine.theory` explains it and re-exports these
names): :func:`mean_field` solves each layer's stationary variance and per-step factor;
:func:`predicted_log10_grad_norms` follows the variances step by step and propagates the
expected squared gradient norm back over the lattice of layers and steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from . import gated_theory
from . import tasks as task_module
from .config import SimConfig
from .theory_gaussian import (
    entry_variance,
    input_power,
    moments,
    recurrent_weight_variance,
    typical_input_power,
)

# -- the mean-field fixed point ----------------------------------------------------------------

# A recurrent variance beyond this is treated as having no fixed point (growing without bound).
DIVERGED_VARIANCE = 1e12
_PIECEWISE_LINEAR = ("relu", "leaky_relu", "linear")


@dataclass(frozen=True)
class MeanField:
    """Stationary mean-field prediction for one config, per layer (index 0 = first layer).

    Attributes
    ----------
    recurrent_variance : float, ``sigma_w^2`` of ``W_hh`` (the same in every layer)
    input_variance : (L,) mean variance the input projection adds at a typical step
    fixed_point : (L,) ``q* = Q* + E[V]``, the pre-activation variance (inf: no fixed point, the
        forward pass grows without bound while the derivative statistics still settle)
    chi : (L,) per-step factor of the squared gradient norm along time in each layer
    vertical_chi : (L,) factor of the squared norm from layer l down to layer l - 1 at the same
        step (NaN for layer 0)
    notes : what was approximated, in words
    """

    recurrent_variance: float
    input_variance: np.ndarray
    fixed_point: np.ndarray
    chi: np.ndarray
    vertical_chi: np.ndarray
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def step_factor(self) -> np.ndarray:
        """(L,) predicted per-step factor of ``||dL/dh||`` in each layer, ``sqrt(chi)``."""
        return np.sqrt(self.chi)

    @property
    def top_step_factor(self) -> float:
        """The top layer's per-step factor: the slope the gradient plot shows from the last step."""
        return float(self.step_factor[-1])


def _mixture(
    activation: str, recurrent: float, values: np.ndarray, weights: np.ndarray, slope: float
) -> tuple[float, float]:
    """``E_V E[f^2]`` and ``E_V E[f'^2]`` at pre-activation variance ``recurrent + V``."""
    total = np.minimum(recurrent + values, DIVERGED_VARIANCE)
    second, derivative = moments(activation, total, slope)
    return float(np.dot(weights, second)), float(np.dot(weights, derivative))


def solve_recurrent_variance(
    activation: str,
    sigma2: float,
    input_values: np.ndarray,
    input_weights: np.ndarray,
    start: float,
    leaky_slope: float = 0.01,
) -> float:
    """The fixed point ``Q*`` of ``Q -> sigma2 * E_V E_z[f(sqrt(Q + V) z)^2]`` reached from ``start``.

    The map increases with ``Q``, so iterating it (which is what the forward pass does, one step
    per time step) moves monotonically to the nearest fixed point in the direction it starts in.
    That point is found by bracketing in that direction and bisecting in ``log Q``. Returns inf
    if the variance grows past ``DIVERGED_VARIANCE`` (no fixed point).

    Parameters
    ----------
    input_values, input_weights : (M,) distribution of the input part V of the variance
    start : the recurrent variance the forward pass starts from (after its first step)
    """
    if activation in _PIECEWISE_LINEAR:
        # E[f^2] is proportional to the variance, so the fixed point is explicit.
        gain = sigma2 * float(moments(activation, 1.0, leaky_slope)[0])
        if gain >= 1.0:
            return math.inf
        drive = sigma2 * float(np.dot(input_weights, moments(activation, input_values, leaky_slope)[0]))
        return drive / (1.0 - gain)

    def excess(q: float) -> float:
        return sigma2 * _mixture(activation, q, input_values, input_weights, leaky_slope)[0] - q

    low = high = max(start, 1e-300)
    if excess(low) > 0:
        while excess(high) > 0:
            low, high = high, high * 4.0
            if high > DIVERGED_VARIANCE:
                return math.inf
    else:
        while excess(low) < 0:
            high, low = low, low / 4.0
            if low < 1e-300:
                return 0.0
    while high / low - 1.0 > 1e-12:
        middle = math.sqrt(low * high)
        if excess(middle) > 0:
            low = middle
        else:
            high = middle
    return math.sqrt(low * high)


IDENTITY_NOTE = (
    "identity initialisation: the weights are not random, so the mean-field theory does not "
    "apply; see the spectral bound instead"
)
BATCH_NORM_NOTE = (
    "batch norm: no mean-field prediction; its per-unit statistics over a finite batch "
    "fluctuate too much for the simple theory (see docs/theory.md)"
)


def not_applicable(config: SimConfig) -> str | None:
    """Why the mean-field theory gives no prediction for ``config``, or None if it does."""
    if config.cell != "rnn":
        return gated_theory.NO_MEAN_FIELD
    if config.init == "identity":
        return IDENTITY_NOTE
    if config.normalization == "batch":
        return BATCH_NORM_NOTE
    return None


@dataclass(frozen=True)
class _Weights:
    sigma2_hh: float
    input_entry: list[float]  # Var(W_ih entry) per layer


def _weights(config: SimConfig) -> _Weights | None:
    if not_applicable(config) is not None:
        return None
    hidden = config.hidden_size
    fan_in = [task_module.make_task(config.task).input_size] + [hidden] * (config.num_layers - 1)
    entries = [entry_variance(config.init, config.weight_scale, n, hidden) for n in fan_in]
    sigma2 = recurrent_weight_variance(config.init, config.weight_scale, hidden)
    if sigma2 is None or any(v is None for v in entries):
        return None
    return _Weights(sigma2, [float(v or 0.0) for v in entries])


def _layer_input(
    layer: int, weights: _Weights, hidden: int, first: tuple[np.ndarray, np.ndarray], below: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of the input part ``V`` of layer ``layer``'s pre-activation variance.

    Layer 0: ``Var(W_ih entry) * ||x||^2`` over the task's input distribution ``first``.
    Layer l > 0: ``H * Var(W_ih entry) * E[f^2]`` of the layer below, *per node*: a sample whose
    input was strong drives the layer below harder, and that layer's output drives this one
    harder, so the mixture over samples is carried up the stack node by node (``below``: (M,)
    ``E[f^2]`` of the layer below at each node of ``first``).
    """
    entry = weights.input_entry[layer]
    values, probabilities = first
    if layer == 0:
        return entry * values, probabilities
    return entry * hidden * below, probabilities


def mean_field(config: SimConfig) -> MeanField | None:
    """The stationary mean-field prediction for ``config`` at initialisation, or None.

    None where the theory does not apply (:func:`not_applicable`: identity init, batch norm).

    Layer 0's input part comes from the task at a typical step (:func:`typical_input_power`);
    layer l > 0 sees layer l - 1's outputs at *its* fixed point through ``weight_ih_l``: input
    part ``H * Var(W_ih entry) * E[f^2]`` of the layer below, node by node of the input mixture
    (:func:`_layer_input`). So each layer has its own ``q*``, its own per-step factor through
    ``weight_hh_l`` and, for l > 0, its own factor from layer l down to layer l - 1 through
    ``weight_ih_l``. The recurrent variance starts where the first time step puts it and settles
    at the fixed point it reaches (:func:`solve_recurrent_variance`).
    """
    weights = _weights(config)
    if weights is None:
        return None
    activation, slope = config.activation, config.leaky_slope
    layers, hidden = config.num_layers, config.hidden_size
    sigma2 = weights.sigma2_hh
    typical = typical_input_power(config.task, config.seq_len)
    first = input_power(config.task, config.seq_len)
    input_variance = np.empty(layers)
    fixed_point = np.empty(layers)
    chi = np.empty(layers)
    vertical = np.full(layers, np.nan)
    notes: list[str] = []
    below = np.zeros_like(typical[0])  # E[f^2] of the layer below at its fixed point, per node
    below_start = np.zeros_like(first.values[0])  # ... after the first step
    for layer in range(layers):
        node_values, node_weights = _layer_input(layer, weights, hidden, typical, below)
        start_values, start_weights = _layer_input(
            layer, weights, hidden, (first.values[0], first.weights[0]), below_start
        )
        start_nodes, _ = moments(activation, np.minimum(start_values, DIVERGED_VARIANCE), slope)
        start_second = float(np.dot(start_weights, start_nodes))
        input_variance[layer] = float(np.dot(node_values, node_weights))
        recurrent = solve_recurrent_variance(
            activation, sigma2, node_values, node_weights, sigma2 * start_second, slope
        )
        if math.isinf(recurrent):
            notes.append(
                f"layer {layer + 1}: the forward variance grows without bound (no fixed point); "
                "the derivative statistics are those of that limit"
            )
        total = np.minimum(recurrent + node_values, DIVERGED_VARIANCE)
        second, derivative = moments(activation, total, slope)
        fixed_point[layer] = recurrent + input_variance[layer]
        chi[layer] = sigma2 * float(np.dot(node_weights, derivative))
        if layer > 0:
            vertical[layer] = weights.input_entry[layer] * hidden * float(np.dot(node_weights, derivative))
        below = second
        below_start = start_nodes
    if config.task == "memory" and config.seq_len > 2:
        notes.append("memory task: the stationary state is that of the blank steps (no input)")
    return MeanField(sigma2, input_variance, fixed_point, chi, vertical, tuple(notes))


# predicted_step_factor and predicted_decades are kept per config (the diagnosis asks them for the
# same candidate fixes at every request while a run trains: 180 of its 190 ms for 4 layers of
# 1000 steps, each answer the same as the last).
@lru_cache(maxsize=512)
def predicted_step_factor(config: SimConfig) -> float | None:
    """The top layer's predicted per-step factor of ``||dL/dh||`` (None: no theory applies)."""
    field_ = mean_field(config)
    return None if field_ is None else field_.top_step_factor


# -- the whole (layer, time) map ---------------------------------------------------------------

# A recurrent variance that changes by less than this (relative) from one step to the next, with
# the same inputs, has converged: the following steps repeat it (the lattice copies them).
_CONVERGED = 1e-13
# log of a route's factor is floored here (a factor of e^-10000 is zero for every purpose), so
# that cumulative sums over the steps stay finite.
_LOG_FLOOR = -1.0e4


def _forward_statistics(config: SimConfig, weights: _Weights) -> np.ndarray:
    """(L, T) ``E[f'^2]`` at every cell: what the derivative mask keeps of the squared norm there.

    The forward variances are followed step by step from the zero initial state with each step's
    own input statistics, layer after layer (layer l's input mixture at step t is layer l - 1's
    ``E[f^2]`` at step t, node by node). Once a layer's recurrent variance stops changing under
    unchanged inputs, the remaining steps are copies; that keeps a 16 x 2000 lattice in the tens
    of milliseconds for stationary inputs.
    """
    activation, slope = config.activation, config.leaky_slope
    layers, steps, hidden = config.num_layers, config.seq_len, config.hidden_size
    sigma2 = weights.sigma2_hh
    power = input_power(config.task, steps)
    # same[t]: the inputs of step t equal those of step t - 1 (layer 0; then layer by layer).
    same = np.zeros(steps, dtype=bool)
    same[1:] = np.all(power.values[1:] == power.values[:-1], axis=1) & np.all(
        power.weights[1:] == power.weights[:-1], axis=1
    )
    kept = np.empty((layers, steps))
    below = np.zeros_like(power.values)  # (T, M) E[f^2] of the layer below, per node
    for layer in range(layers):
        second = np.empty_like(power.values)
        repeated = np.zeros(steps, dtype=bool)
        recurrent = previous = 0.0
        for t in range(steps):
            if t > 0 and same[t] and abs(recurrent - previous) <= _CONVERGED * max(recurrent, 1e-300):
                second[t], kept[layer, t], repeated[t] = second[t - 1], kept[layer, t - 1], True
                continue
            values, probabilities = _layer_input(
                layer, weights, hidden, (power.values[t], power.weights[t]), below[t]
            )
            nodes, derivative = moments(activation, np.minimum(recurrent + values, DIVERGED_VARIANCE), slope)
            second[t] = nodes
            kept[layer, t] = float(np.dot(probabilities, derivative))
            following = sigma2 * float(np.dot(probabilities, nodes))
            previous, recurrent = recurrent, min(following, DIVERGED_VARIANCE)
        below, same = second, repeated
    return kept


def _reverse_log_cumsum(log_terms: np.ndarray) -> np.ndarray:
    """``log sum_{k >= t} exp(log_terms[k])`` for every t (a reversed cumulative log-sum-exp)."""
    return np.logaddexp.accumulate(log_terms[::-1])[::-1]


def predicted_log10_grad_norms(config: SimConfig) -> np.ndarray | None:
    """(L, T) predicted ``log10 ||dL/dh||`` relative to where it enters (top layer, last step) = 0.

    The time-resolved version of :func:`mean_field` (:func:`_forward_statistics`), and the
    expected squared norms propagated back over the (layer, time) lattice:

        S[l, t] = chi_hh[l, t + 1] S[l, t + 1] + chi_ih[l + 1, t] S[l + 1, t]

    (the two routes into ``dL/dh`` of layer l at step t: from the next step through ``W_hh``
    and from the layer above through its ``W_ih``; cross terms average out because the two
    weight matrices are independent). Within a layer this linear recurrence has the closed form
    ``S[l, t] = sum_{k >= t} (prod_{j = t+1..k} chi_hh[l, j]) chi_ih[l + 1, k] S[l + 1, k]``,
    evaluated with cumulative sums in log space, so nothing underflows however long the
    sequence. None where the theory does not apply.
    """
    weights = _weights(config)
    if weights is None:
        return None
    layers, steps, hidden = config.num_layers, config.seq_len, config.hidden_size
    kept = _forward_statistics(config, weights)
    with np.errstate(divide="ignore"):
        log_along = np.maximum(np.log(weights.sigma2_hh * kept), _LOG_FLOOR)  # into (l, t-1) from (l, t)
        log_down = np.maximum(
            np.log(np.asarray(weights.input_entry)[:, None] * hidden * kept), _LOG_FLOOR
        )  # from (l, t) into (l - 1, t)
    log_squared = np.empty((layers, steps))
    # cumulative[t] = sum_{j <= t} log chi_hh[l, j]: the product over (t, k] is a difference.
    for layer in reversed(range(layers)):
        cumulative = np.cumsum(log_along[layer])
        if layer == layers - 1:
            injected = np.full(steps, -np.inf)
            injected[-1] = 0.0  # the gradient enters at the top layer's last step
        else:
            injected = log_down[layer + 1] + log_squared[layer + 1]
        log_squared[layer] = _reverse_log_cumsum(cumulative + injected) - cumulative
    return log_squared / (2.0 * math.log(10.0))


def predicted_grad_norms(config: SimConfig) -> np.ndarray | None:
    """(L, T) predicted ``||dL/dh||`` relative to where it enters (top layer, last step) = 1.

    ``10 ** predicted_log10_grad_norms(config)`` (may underflow to 0 for very long sequences;
    use the log version for numbers). None where the theory does not apply.
    """
    logs = predicted_log10_grad_norms(config)
    if logs is None:
        return None
    with np.errstate(under="ignore", over="ignore"):
        return 10.0**logs


@lru_cache(maxsize=512)
def predicted_decades(config: SimConfig) -> float | None:
    """Predicted log10 of ``||dL/dh||`` at (first layer, first step) over (top layer, last step).

    The theory's counterpart of :func:`gradsim.engine.regime.end_to_end_decades`; None where the
    theory does not apply.
    """
    logs = predicted_log10_grad_norms(config)
    return None if logs is None else float(logs[0, 0])
