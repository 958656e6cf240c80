"""Mean-field theory of gradient propagation in the engine's RNN, and the classic bound.

The question answered here: by what factor does ``||dL/dh||`` change per step as it travels back
through time, for a given activation, initialisation and weight scale, before any training?

Mean field (Poole et al. 2016; Schoenholz et al. 2017; Chen, Pennington & Schoenholz 2018)
-----------------------------------------------------------------------------------------
For a wide layer, the pre-activation ``a = W_hh h + W_ih x`` of a unit, taken over units and
samples, is close to Gaussian with zero mean. Its variance has two parts:

- the recurrent part ``sigma_w^2 * E[f(a)^2]``, where ``sigma_w^2 = H * Var(W_hh entry)`` is the
  effective weight variance (gaussian: ``s^2``, he: ``2 s^2``, xavier: ``s^2``, orthogonal:
  ``s^2`` for a square matrix; identity is not random and has none);
- the input part ``v_ih * ||x_t||^2`` with ``v_ih`` the variance of one ``W_ih`` entry. Over the
  units, ``W_ih x`` is Gaussian with exactly that variance given ``x``, so the input part is a
  *mixture*: its variance follows the distribution of ``||x_t||^2`` over samples
  (:func:`input_power`). With the random task's four N(0, 1) channels, ``||x||^2`` is chi-square
  with 4 degrees of freedom, and using the mixture instead of its mean moves the predicted
  tanh factor by about 3%.

The recurrent variance settles at a fixed point ``Q*`` of

    Q = sigma_w^2 * E_V E_z[ f(sqrt(Q + V) z)^2 ],        z ~ N(0, 1), V the input part,

and the squared gradient norm is multiplied per step back in time by

    chi = sigma_w^2 * E_V E_z[ f'(sqrt(Q* + V) z)^2 ]

because ``dL/dh_{t-1} = W_hh^T (f'(a_t) * dL/dh_t)``: the derivative mask keeps a fraction
``E[f'^2]`` of the squared norm and ``W_hh^T`` multiplies it by ``sigma_w^2``. The engine's
``grad_norms`` is the Frobenius norm over batch and hidden units, a sum of many such squared
norms, so its per-step ratio is ``sqrt(chi)`` (:attr:`MeanField.step_factor`).

Per layer (docs/theory.md, section 3b): layer 0 sees the task's inputs; layer l sees layer
l - 1's outputs through ``weight_ih_l``, so its input part is ``H Var(W_ih entry) E[f^2]`` of the
layer below (carried up node by node of the input mixture), and every layer has its own fixed
point, its own factor per step through ``weight_hh_l`` and its own factor down to the layer below
through ``weight_ih_l``. A lower layer's gradient also receives, at every step, what comes down
from the layer above, so its span through time is predicted from the (layer, time) lattice
(:func:`predicted_log10_grad_norms`), and measured and predicted maps are reduced to spans by
the same function (:func:`span_decades`). :func:`predict_layers` gathers it all, or says why
there is no prediction (:class:`NotApplicable`); :func:`compare_layers` puts it next to a
record.

Gaussian expectations ``E_z[g(sqrt(q) z)]`` are tabulated once per activation on a log grid of
``q`` by composite Gauss-Legendre quadrature (:func:`gaussian_expectation`). Plain Gauss-Hermite
(``numpy.polynomial.hermite_e.hermegauss``) was the first choice, but for ``q`` above about 10 the
derivative ``f'(sqrt(q) z)^2`` of a saturating unit is a spike narrower than the spacing of the
Hermite nodes and its error grows to tens of percent (to 130% for tanh at ``q = 100`` with 101
nodes); panels sized to the spike keep every value within 1e-10. ReLU, leaky ReLU and linear
units use their exact closed forms.

Where the theory gives no number: gated cells (LSTM, GRU: :mod:`gated_theory` gives the cell
path's gate product instead), the identity initialisation (a fixed matrix, nothing random
to average over) and batch norm (whose per-unit statistics over a finite batch fluctuate; a
simple normalised-Gaussian model of it underestimated the measured factor by 10-30%, see
``docs/theory.md``). Both return None with a note (:func:`not_applicable`).

The sufficient condition (Pascanu, Mikolov & Bengio 2013)
---------------------------------------------------------
``||dh_t / dh_{t-1}|| <= ||W_hh||_2 * max|f'|``; when that product is below 1 the gradient
must vanish exponentially, whatever the data (:func:`vanishing_bound`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, lru_cache

import numpy as np
from numpy.polynomial.legendre import leggauss

from . import gated_theory
from . import tasks as task_module
from .activations import make_activation
from .config import FLOAT_RANGES, SimConfig
from .records import nonfinite_norms

# -- Gaussian expectations ---------------------------------------------------------------------

# The integration range in z: the Gaussian mass beyond 9 standard deviations is 2e-19.
Z_LIMIT = 9.0
# Gauss-Legendre nodes per panel; exact for polynomials of degree 15 on each panel.
PANEL_NODES = 8
# Panel width in z where the integrand only varies with the Gaussian weight.
COARSE_PANEL = 0.2
# Panel width in y = sqrt(q) z near the origin, where a saturating unit's derivative lives.
FINE_PANEL_Y = 0.25
# Beyond |y| = 40 tanh, sigmoid and ELU (for y < 0) are constant to double precision.
SATURATED_Y = 40.0

# The table of E[f^2] and E[f'^2] as functions of q, per activation.
TABLE_LOG10_RANGE = (-10.0, 10.0)
TABLE_POINTS_PER_DECADE = 100


def _quadrature_grid(variance: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``z`` and weights (including the Gaussian density) for ``E_z[g(sqrt(q) z)]``.

    Panel edges are symmetric about 0 (so a kink at 0 is integrated exactly): fine panels of
    width ``FINE_PANEL_Y / sqrt(q)`` out to ``|y| = SATURATED_Y``, coarse ones beyond.
    """
    root = math.sqrt(max(variance, 0.0))
    fine_width = FINE_PANEL_Y / root if root > 0 else COARSE_PANEL
    fine_width = min(fine_width, COARSE_PANEL)
    fine_end = min(Z_LIMIT, SATURATED_Y / root) if root > 0 else Z_LIMIT
    fine = np.arange(0.0, fine_end, fine_width)
    coarse = np.arange(fine_end, Z_LIMIT, COARSE_PANEL)
    half = np.unique(np.concatenate([fine, coarse, [fine_end, Z_LIMIT]]))
    edges = np.concatenate([-half[::-1], half[1:]])
    nodes, weights = leggauss(PANEL_NODES)
    left, right = edges[:-1, None], edges[1:, None]
    z = (0.5 * (right - left) * nodes + 0.5 * (right + left)).ravel()
    w = (0.5 * (right - left) * weights).ravel() * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return z, w


def gaussian_expectation(func: Callable[[np.ndarray], np.ndarray], variance: float) -> float:
    """``E[func(y)]`` for ``y ~ N(0, variance)``, by composite Gauss-Legendre quadrature.

    ``func`` must accept a 1-D float64 array. Accurate to about 1e-10 for smooth functions and
    for functions with a kink or jump at 0 (ReLU-like), for ``variance`` from 0 to 1e10.
    """
    if variance <= 0:
        return float(func(np.zeros(1))[0])
    z, w = _quadrature_grid(variance)
    with np.errstate(over="ignore", under="ignore"):
        return float(np.dot(w, func(math.sqrt(variance) * z)))


def _square_of(activation_name: str, derivative: bool) -> Callable[[np.ndarray], np.ndarray]:
    act = make_activation(activation_name)

    def func(y: np.ndarray) -> np.ndarray:
        h = act.forward(y)
        value = act.derivative(y, h) if derivative else h
        return value * value

    return func


@cache
def _table(activation_name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """log q grid and E[f^2], E[f'^2] on it (tabulated once; about 2000 integrals)."""
    low, high = TABLE_LOG10_RANGE
    count = int((high - low) * TABLE_POINTS_PER_DECADE) + 1
    log_q = np.linspace(low * math.log(10), high * math.log(10), count)
    square = _square_of(activation_name, derivative=False)
    derivative_square = _square_of(activation_name, derivative=True)
    second = np.array([gaussian_expectation(square, math.exp(v)) for v in log_q])
    derivative_second = np.array([gaussian_expectation(derivative_square, math.exp(v)) for v in log_q])
    return log_q, np.log(second), np.log(derivative_second)


def _interpolate(log_q: np.ndarray, log_values: np.ndarray, variance: np.ndarray) -> np.ndarray:
    # Beyond both ends of the grid every tabulated moment is a power law in q to double
    # precision (E[tanh^2] ~ q near 0, E[tanh'^2] ~ q^-1/2 for large q, ...), so extrapolate
    # linearly in log-log from the two outermost points.
    with np.errstate(divide="ignore"):
        v = np.log(np.asarray(variance, dtype=np.float64))
    inside = np.interp(v, log_q, log_values)
    low_slope = (log_values[1] - log_values[0]) / (log_q[1] - log_q[0])
    high_slope = (log_values[-1] - log_values[-2]) / (log_q[-1] - log_q[-2])
    with np.errstate(invalid="ignore", over="ignore"):
        below = log_values[0] + low_slope * (v - log_q[0])
        above = log_values[-1] + high_slope * (v - log_q[-1])
        return np.exp(np.where(v < log_q[0], below, np.where(v > log_q[-1], above, inside)))


def moments(
    activation: str, variance: np.ndarray | float, leaky_slope: float = 0.01
) -> tuple[np.ndarray, np.ndarray]:
    """``E[f(y)^2]`` and ``E[f'(y)^2]`` for ``y ~ N(0, variance)``.

    Closed forms for ReLU, leaky ReLU and linear units; for the others, interpolated from a
    table of :func:`gaussian_expectation` (relative error about 1e-5).

    Parameters
    ----------
    activation : one of config.ACTIVATIONS
    variance : pre-activation variance(s), any shape, >= 0 (inf allowed for ReLU-like units)
    leaky_slope : negative-side slope of leaky_relu

    Returns
    -------
    (second_moment, derivative_second_moment), float64 arrays of the shape of ``variance``.
    """
    q = np.asarray(variance, dtype=np.float64)
    if activation == "linear":
        return q.copy(), np.ones_like(q)
    if activation in ("relu", "leaky_relu"):
        # Half of a symmetric Gaussian is positive: E[relu(y)^2] = q / 2 and relu'^2 is 1 there.
        slope = leaky_slope if activation == "leaky_relu" else 0.0
        keep = 0.5 * (1.0 + slope * slope)
        return keep * q, np.full_like(q, keep)
    log_q, log_second, log_derivative = _table(activation)
    second = _interpolate(log_q, log_second, q)
    derivative = _interpolate(log_q, log_derivative, q)
    if np.any(q <= 0):
        # No variance: the unit sits at f(0) with derivative f'(0).
        act = make_activation(activation, leaky_slope)
        zero = np.zeros(1)
        at_zero = float(act.forward(zero)[0]) ** 2, float(act.derivative(zero, act.forward(zero))[0]) ** 2
        second = np.where(q <= 0, at_zero[0], second)
        derivative = np.where(q <= 0, at_zero[1], derivative)
    return second, derivative


# -- weights and inputs ------------------------------------------------------------------------


def entry_variance(init: str, weight_scale: float, fan_in: int, fan_out: int) -> float | None:
    """Variance of one entry of a ``(fan_out, fan_in)`` matrix drawn by ``init`` and scaled.

    None for ``identity``: a fixed matrix has no variance to average over.
    """
    s2 = weight_scale * weight_scale
    if init == "gaussian":
        return s2 / fan_in
    if init == "he":
        return 2.0 * s2 / fan_in
    if init == "xavier":
        # uniform(-a, a) with a^2 = 6 / (fan_in + fan_out) has variance a^2 / 3.
        return 2.0 * s2 / (fan_in + fan_out)
    if init == "orthogonal":
        # Orthonormal columns (tall) or rows (wide): each of the larger dimension's vectors has
        # unit norm spread over max(fan_in, fan_out) entries.
        return s2 / max(fan_in, fan_out)
    if init == "identity":
        return None
    raise ValueError(f"unknown initialisation {init!r}")


def recurrent_weight_variance(init: str, weight_scale: float, hidden_size: int) -> float | None:
    """``sigma_w^2 = H * Var(W_hh entry)``: gaussian s^2, he 2 s^2, xavier s^2, orthogonal s^2.

    None for identity.
    """
    variance = entry_variance(init, weight_scale, hidden_size, hidden_size)
    return None if variance is None else hidden_size * variance


@dataclass(frozen=True)
class InputPower:
    """Distribution of ``||x_t||^2`` over samples, at each time step, as quadrature nodes.

    Attributes
    ----------
    values : (T, M) float64, values of ``||x_t||^2``
    weights : (T, M) float64, their probabilities (each row sums to 1)
    """

    values: np.ndarray
    weights: np.ndarray

    @property
    def mean(self) -> np.ndarray:
        """(T,) ``E||x_t||^2``."""
        return (self.values * self.weights).sum(axis=1)


def _gamma_nodes(shape: float, mean: float, count: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature nodes for a Gamma distribution of the given shape and mean.

    Trapezoid rule in ``u = log(g)``, where the density ``exp(k u - k e^u)`` is smooth and decays
    at both ends, so the rule converges geometrically; weights are normalised to sum to 1.
    """
    low = -40.0 / shape
    high = math.log(1.0 + 40.0 / shape) + 1.0
    u = np.linspace(low, high, count)
    log_density = shape * u - shape * np.exp(u)
    weights = np.exp(log_density - log_density.max())
    weights /= weights.sum()
    values = np.exp(u)
    # The rule is accurate to about 1e-8; rescale so the mean is exact.
    return mean * values / np.dot(weights, values), weights


def input_power(task: str, seq_len: int) -> InputPower:
    """Distribution of ``||x_t||^2`` for the engine's task ``task`` at each of ``seq_len`` steps.

    - random: ``RANDOM_INPUTS`` N(0, 1) channels, chi-square with that many degrees of freedom
      at every step;
    - adding: ``u^2 + m`` with ``u`` uniform in [0, 1) and ``m`` the marker, 1 with probability
      ``1 / half`` in the first half (``half = T // 2``) and ``1 / (T - half)`` in the second;
    - memory: 1 at the first step (the one-hot class) and at the last (the recall flag), 0
      between; a single-step sequence carries both, 2.
    """
    if seq_len < 1:
        raise ValueError(f"seq_len must be at least 1 (got {seq_len})")
    if task == "random":
        channels = task_module.RANDOM_INPUTS
        values, weights = _gamma_nodes(channels / 2.0, float(channels))
        return InputPower(np.tile(values, (seq_len, 1)), np.tile(weights, (seq_len, 1)))
    if task == "adding":
        nodes, legendre_weights = leggauss(16)
        uniform = 0.5 * (nodes + 1.0)
        base_values, base_weights = uniform * uniform, 0.5 * legendre_weights
        half = max(seq_len // 2, 1)
        if seq_len == 1:
            marker = np.ones(1)
        else:
            marker = np.where(np.arange(seq_len) < half, 1.0 / half, 1.0 / (seq_len - half))
        values = np.concatenate(
            [np.tile(base_values, (seq_len, 1)), np.tile(base_values + 1.0, (seq_len, 1))], axis=1
        )
        weights = np.concatenate(
            [np.outer(1.0 - marker, base_weights), np.outer(marker, base_weights)], axis=1
        )
        return InputPower(values, weights)
    if task == "memory":
        values = np.zeros((seq_len, 1))
        values[0, 0] += 1.0
        values[-1, 0] += 1.0
        return InputPower(values, np.ones((seq_len, 1)))
    raise ValueError(f"no input statistics for task {task!r}")


def typical_input_power(task: str, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """``||x||^2`` at a typical step, for the stationary fixed point: (values, weights).

    random: every step is typical. adding: the marker probability averaged over the sequence,
    ``2 / T``. memory: the blank steps between the first and the last, i.e. no input at all
    (the stationary theory then describes the long middle of the sequence; the one-hot kick at
    step 0 only sets where the recurrent variance starts, see :func:`mean_field`).
    """
    power = input_power(task, seq_len)
    if task == "memory" and seq_len > 2:
        return np.zeros(1), np.ones(1)
    if task == "adding" and seq_len > 1:
        marker = min(1.0, 2.0 / seq_len)
        base = power.values[0, :16]
        base_weights = power.weights[0, :16] + power.weights[0, 16:]
        values = np.concatenate([base, base + 1.0])
        weights = np.concatenate([(1.0 - marker) * base_weights, marker * base_weights])
        return values, weights
    return power.values[0], power.weights[0]


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


def predicted_decades(config: SimConfig) -> float | None:
    """Predicted log10 of ``||dL/dh||`` at (first layer, first step) over (top layer, last step).

    The theory's counterpart of :func:`gradsim.engine.regime.end_to_end_decades`; None where the
    theory does not apply.
    """
    logs = predicted_log10_grad_norms(config)
    return None if logs is None else float(logs[0, 0])


# -- spans: through time in each layer, through depth at the last step -------------------------


@dataclass(frozen=True)
class Spans:
    """How far ``||dL/dh||`` changes along each way the gradient travels, in decades.

    The same definition serves the measured norms and the predicted map (:func:`span_decades`),
    so the two can be put side by side.

    Attributes
    ----------
    time : (L,) ``log10 ||dL/dh_1|| - log10 ||dL/dh_T||`` within each layer (back through time;
        NaN where a norm is zero or not finite)
    depth : ``log10`` of layer 1 over the top layer at the last step (NaN with one layer)
    seq_len, num_layers : T and L of the map
    """

    time: np.ndarray
    depth: float
    seq_len: int
    num_layers: int

    @property
    def time_factors(self) -> np.ndarray:
        """(L,) per-step factor of each layer's time span, ``10 ** (time / (T - 1))`` (1 for T = 1)."""
        steps = max(self.seq_len - 1, 1)
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            return 10.0 ** (self.time / steps)

    @property
    def depth_factor(self) -> float:
        """Per-layer factor of the depth span, ``10 ** (depth / (L - 1))`` (NaN with one layer)."""
        if self.num_layers < 2 or not math.isfinite(self.depth):
            return float("nan")
        return float(10.0 ** (self.depth / (self.num_layers - 1)))

    def extreme(self) -> float:
        """The signed decades of the span furthest from 0 (time spans and the depth span).

        NaN if any span is NaN (a zero or non-finite norm).
        """
        values = np.append(self.time, self.depth) if self.num_layers > 1 else self.time
        if not np.all(np.isfinite(values)):
            return float("nan")
        return float(values[np.argmax(np.abs(values))])

    def balance(self) -> float:
        """Largest plus smallest span: it has the sign of :meth:`extreme` and, unlike it, moves
        continuously with the settings, so its zero is where the extreme span changes sign."""
        values = np.append(self.time, self.depth) if self.num_layers > 1 else self.time
        return float(np.max(values) + np.min(values))


def span_decades(log10_grad_norms: np.ndarray) -> Spans:
    """The time span of every layer and the depth span of an (L, T) map of ``log10 ||dL/dh||``.

    Parameters
    ----------
    log10_grad_norms : (L, T) float64, measured (``record.log10_grad_norms``) or predicted
        (:func:`predicted_log10_grad_norms`); -inf for a zero norm, non-finite spans become NaN
    """
    logs = np.asarray(log10_grad_norms, dtype=np.float64)
    layers, steps = logs.shape
    with np.errstate(invalid="ignore"):
        time = logs[:, 0] - logs[:, -1]
        depth = float(logs[0, -1] - logs[-1, -1]) if layers > 1 else float("nan")
    time = np.where(np.isfinite(time), time, np.nan)
    if not math.isfinite(depth):
        depth = float("nan")
    return Spans(time, depth, steps, layers)


def predicted_spans(config: SimConfig) -> Spans | None:
    """:func:`span_decades` of the predicted map (None where the theory does not apply)."""
    logs = predicted_log10_grad_norms(config)
    return None if logs is None else span_decades(logs)


@dataclass(frozen=True)
class NotApplicable:
    """Why mean-field theory gives no number here; ``str()`` is ``"not applicable: <reason>"``.

    Attributes
    ----------
    reason : the reason in a sentence
    short : a few words for a plot (``"batch norm"``); the reason itself when empty
    """

    reason: str
    short: str = ""

    def __str__(self) -> str:
        return f"not applicable: {self.reason}"

    @property
    def label(self) -> str:
        """``"not applicable: <short>"``, for the plot in place of the lines."""
        return f"not applicable: {self.short or self.reason}"


# Few words for a plot, per reason of :func:`not_applicable`.
SHORT_REASONS = {
    "identity": "identity weights are not random",
    "batch": "batch norm",
    "gated": gated_theory.NO_MEAN_FIELD_SHORT,
}


@dataclass(frozen=True)
class LayerPrediction:
    """Mean-field theory per layer of a stack (index 0 = layer 1), at initialisation.

    Attributes
    ----------
    fixed_point : (L,) ``q*_l``, each layer's stationary pre-activation variance (inf: none)
    input_variance : (L,) the part of it the input projection ``weight_ih_l`` adds
    own_step_factor : (L,) ``sqrt(chi_l)``: the per-step factor through ``weight_hh_l`` alone, at
        the layer's fixed point (what the layer does to a gradient it carries far back in time)
    own_depth_factor : (L,) factor from layer l down to layer l - 1 through ``weight_ih_l`` at
        the fixed point (NaN for layer 1)
    spans : the predicted time span of every layer and the depth span, from the (layer, time)
        map, which adds to the own factors the gradient that comes down from the layer above at
        every step and the start-up of the first steps
    log10_grad_norms : (L, T) that map, 0 where the gradient enters
    notes : approximations, in words
    """

    fixed_point: np.ndarray
    input_variance: np.ndarray
    own_step_factor: np.ndarray
    own_depth_factor: np.ndarray
    spans: Spans
    log10_grad_norms: np.ndarray
    notes: tuple[str, ...] = ()

    @property
    def step_factors(self) -> np.ndarray:
        """(L,) predicted per-step factor of each layer's time span (what the regime measures)."""
        return self.spans.time_factors

    @property
    def depth_factor(self) -> float:
        """Predicted per-layer factor of the depth span (NaN with one layer)."""
        return self.spans.depth_factor


@lru_cache(maxsize=64)
def predict_layers(config: SimConfig) -> LayerPrediction | NotApplicable:
    """Mean-field theory for every layer of ``config``'s stack, or why there is none.

    Remembered for the last configs asked (the window asks again at every diagnosis); the
    arrays of the answer are read-only.
    """
    reason = not_applicable(config)
    if reason is not None:
        kind = "gated" if config.cell != "rnn" else "identity" if config.init == "identity" else "batch"
        short = SHORT_REASONS[kind]
        return NotApplicable(reason, short)
    field_ = mean_field(config)
    logs = predicted_log10_grad_norms(config)
    assert field_ is not None and logs is not None
    spans = span_decades(logs)
    own_step, own_depth = field_.step_factor, np.sqrt(field_.vertical_chi)
    fixed_point, input_variance = field_.fixed_point.copy(), field_.input_variance.copy()
    for array in (fixed_point, input_variance, own_step, own_depth, logs, spans.time):
        array.flags.writeable = False
    return LayerPrediction(
        fixed_point=fixed_point,
        input_variance=input_variance,
        own_step_factor=own_step,
        own_depth_factor=own_depth,
        spans=spans,
        log10_grad_norms=logs,
        notes=field_.notes,
    )


@dataclass(frozen=True)
class LayerComparison:
    """Predicted next to measured, per layer, for one record of a run.

    Attributes
    ----------
    predicted : the theory, or why there is none (also when the record cannot be compared:
        non-finite or zero norms)
    measured : :func:`span_decades` of the record
    """

    predicted: LayerPrediction | NotApplicable
    measured: Spans

    @property
    def reason(self) -> str | None:
        """``"not applicable: ..."`` when there is no prediction to show, else None."""
        return str(self.predicted) if isinstance(self.predicted, NotApplicable) else None


NON_FINITE_NOTE = "the run is non-finite (inf/NaN): the theory describes a finite network"
ZERO_NOTE = "a gradient norm is exactly zero: there is no rate to compare"


def compare_layers(
    prediction: LayerPrediction | NotApplicable, log10_grad_norms: np.ndarray
) -> LayerComparison:
    """Predicted and measured per-step factor of every layer, and the depth factor.

    Parameters
    ----------
    prediction : :func:`predict_layers` of the run's config
    log10_grad_norms : (L, T) of one record of that run (``record.log10_grad_norms``); a
        non-finite or zero norm makes the prediction not applicable to it (with the reason)
    """
    logs = np.asarray(log10_grad_norms, dtype=np.float64)
    measured = span_decades(logs)
    if nonfinite_norms(logs).any():
        prediction = NotApplicable(NON_FINITE_NOTE, "the run is non-finite")
    elif np.isneginf(logs).any():
        prediction = NotApplicable(ZERO_NOTE, "a gradient norm is 0")
    elif isinstance(prediction, LayerPrediction) and prediction.log10_grad_norms.shape != logs.shape:
        prediction = NotApplicable("the prediction is for another shape of network", "other network")
    return LayerComparison(prediction, measured)


# -- the critical weight scale -----------------------------------------------------------------

CRITERIA = ("span", "step", "end_to_end")


def critical_weight_scale(config: SimConfig, criterion: str = "step") -> float | None:
    """The weight scale at which the gradient neither vanishes nor explodes, by theory.

    Every field of ``config`` but ``weight_scale`` is used (activation, init, task, sizes, ...).

    criterion
        ``"span"``: the most extreme predicted span (:meth:`Spans.extreme` of
        :func:`predicted_spans`: every layer's time span and the depth span) changes sign, i.e.
        the quantity the regime and the sweep measure is predicted to be 0 decades (ratio 1) for
        this config's ``seq_len`` and ``num_layers``. The search follows :meth:`Spans.balance`
        (largest plus smallest span), which has the extreme span's sign and moves continuously.
        ``"step"``: the top layer's own per-step factor is exactly 1 (the edge for long sequences
        in one layer);
        ``"end_to_end"``: the predicted ratio of (layer 1, step 1) over (top layer, step T), of
        :func:`predicted_decades`, is exactly 1.

    Returns None when the theory does not apply (:func:`not_applicable`) or no weight scale in
    the config's range reaches the edge.
    """
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {', '.join(CRITERIA)} (got {criterion!r})")
    if not_applicable(config) is not None:
        return None
    # The weight scale itself plays no part: one search serves every scale of a config.
    return _critical_weight_scale(config.replace(weight_scale=1.0), criterion)


@lru_cache(maxsize=512)
def _critical_weight_scale(config: SimConfig, criterion: str) -> float | None:
    _, high, _ = FLOAT_RANGES["weight_scale"]

    def excess(scale: float) -> float:
        # exp(log(high)) may land a rounding error above the config's upper limit.
        changed = config.replace(weight_scale=min(scale, high))
        if criterion == "step":
            return math.log(predicted_step_factor(changed) or 0.0)
        if criterion == "span":
            spans = predicted_spans(changed)
            return -math.inf if spans is None else spans.balance()
        decades = predicted_decades(changed)
        return -math.inf if decades is None else decades

    root = _monotone_root(excess, math.log(LOWEST_SCALE), math.log(high))
    return None if root is None else min(root, high)


# The lowest weight scale the critical search considers.
LOWEST_SCALE = 1e-2


def _monotone_root(excess: Callable[[float], float], low: float, high: float) -> float | None:
    """The scale ``exp(x)``, x in [low, high], where an increasing ``excess(scale)`` crosses 0.

    Illinois (regula falsi with halving) in log scale: the excess is close to linear in
    ``log(scale)``, so a dozen evaluations reach 1e-10. None if there is no sign change.
    """
    f_low, f_high = excess(math.exp(low)), excess(math.exp(high))
    if not (f_low < 0 <= f_high) or not math.isfinite(f_low) or not math.isfinite(f_high):
        return None
    a, fa, b, fb = low, f_low, high, f_high
    for _ in range(200):
        c = b - fb * (b - a) / (fb - fa)
        fc = excess(math.exp(c))
        if fc == 0 or abs(b - a) < 1e-12:
            return math.exp(c)
        if (fc < 0) != (fb < 0):
            a, fa = b, fb
        else:
            fa /= 2.0
        b, fb = c, fc
        if abs(fc) < 1e-11:
            break
    return math.exp(b)


# -- the spectral bound ------------------------------------------------------------------------


@dataclass(frozen=True)
class SpectralBound:
    """The sufficient condition for vanishing, ``||W_hh||_2 * max|f'| < 1``, per layer.

    Attributes
    ----------
    spectral_norms : (L,) largest singular value of each ``weight_hh_l{k}``
    derivative_bound : ``max|f'|``: 1/4 for sigmoid, 1 for tanh, ReLU, leaky ReLU, ELU, linear
    products : (L,) ``spectral_norms * derivative_bound``, an upper bound on the per-step factor
    """

    spectral_norms: np.ndarray
    derivative_bound: float
    products: np.ndarray

    @property
    def guaranteed_vanishing(self) -> np.ndarray:
        """(L,) True where the product is below 1: the gradient must vanish in that layer."""
        return self.products < 1.0


def vanishing_bound(spectral_norms: np.ndarray, activation: str, leaky_slope: float = 0.01) -> SpectralBound:
    """The classic bound (Pascanu, Mikolov & Bengio 2013) for the given recurrent matrices.

    ``dh_t / dh_{t-1} = diag(f'(a_t)) W_hh``, so its norm is at most ``||W_hh||_2 max|f'|``: below
    1 the gradient shrinks by at least that factor at every step, whatever the inputs. The
    converse does not hold: above 1 the gradient may still vanish (the bound ignores how far
    below its maximum ``f'`` usually is).

    Parameters
    ----------
    spectral_norms : (L,) e.g. ``StepRecord.spectral_norms``
    """
    norms = np.asarray(spectral_norms, dtype=np.float64).reshape(-1)
    bound = make_activation(activation, leaky_slope).max_derivative
    return SpectralBound(norms, bound, norms * bound)


# -- measurement -------------------------------------------------------------------------------


def measurement_window(seq_len: int) -> tuple[int, int]:
    """Steps ``[start, stop)`` a per-step factor is measured over: all but the first fifth.

    The first steps of the forward pass start from ``h = 0`` and have not reached the
    stationary variance yet; the last step is where the gradient enters and is kept.
    """
    start = seq_len // 5
    if seq_len - start < 3:
        start = 0
    return start, seq_len


def measured_step_factor(
    grad_norms: np.ndarray, layer: int = -1, window: tuple[int, int] | None = None
) -> float:
    """The measured per-step factor of ``||dL/dh||`` (backwards in time) in one layer.

    ``10 ** -slope`` of a least-squares line through ``log10 grad_norms[layer, t]`` over the
    window's steps: a geometric mean of the step-to-step ratios that one noisy step cannot
    dominate. Only finite, positive norms enter the fit; a gradient that reached exactly zero
    (every ReLU off) gives 0.0 when fewer than two positive points remain, NaN if there is no
    gradient at all.

    Parameters
    ----------
    grad_norms : (L, T) as in ``StepRecord.grad_norms``
    layer : which layer (default: the top one, where the gradient enters)
    window : steps ``[start, stop)``; default :func:`measurement_window`
    """
    norms = np.asarray(grad_norms, dtype=np.float64)[layer]
    start, stop = window if window is not None else measurement_window(norms.shape[0])
    values = norms[start:stop]
    steps = np.arange(start, stop)
    usable = np.isfinite(values) & (values > 0)
    if usable.sum() < 2:
        return 0.0 if np.any(values == 0) else float("nan")
    slope = np.polyfit(steps[usable], np.log10(values[usable]), 1)[0]
    return float(10.0**-slope)


@dataclass(frozen=True)
class FactorComparison:
    """Predicted next to measured, for the theory overlay.

    Attributes
    ----------
    predicted : top layer's per-step factor from :func:`mean_field` (None: no theory applies)
    measured : the same, fitted to the record's ``grad_norms``
    critical_weight_scale : where the predicted factor is 1 (None if it never is)
    fixed_point : top layer's pre-activation variance q* (None without theory)
    bound : the spectral sufficient condition with the record's spectral norms
    notes : approximations and caveats in words
    """

    predicted: float | None
    measured: float
    critical_weight_scale: float | None
    fixed_point: float | None
    bound: SpectralBound
    notes: tuple[str, ...]


def compare(config: SimConfig, grad_norms: np.ndarray, spectral_norms: np.ndarray) -> FactorComparison:
    """Predicted and measured per-step factors side by side, with the spectral bound.

    Parameters
    ----------
    config : the run's config
    grad_norms : (L, T) of a record of that run
    spectral_norms : (L,) of the same record
    """
    field_ = mean_field(config)
    reason = not_applicable(config)
    notes = list(field_.notes) if field_ is not None else [str(reason)]
    return FactorComparison(
        predicted=None if field_ is None else field_.top_step_factor,
        measured=measured_step_factor(grad_norms),
        critical_weight_scale=critical_weight_scale(config),
        fixed_point=None if field_ is None else float(field_.fixed_point[-1]),
        bound=vanishing_bound(spectral_norms, config.activation, config.leaky_slope),
        notes=tuple(notes),
    )
