"""Gaussian expectations and the variances weights and inputs bring: the mean-field theory's inputs.

Part of the mean-field theory (:mod:`gradsim.engine.theory` explains it and re-exports these
names). Gaussian expectations ``E_z[g(sqrt(q) z)]`` are tabulated once per activation on a log
grid of ``q`` by composite Gauss-Legendre quadrature (:func:`gaussian_expectation`). Plain
Gauss-Hermite (``numpy.polynomial.hermite_e.hermegauss``) was the first choice, but for ``q``
above about 10 the derivative ``f'(sqrt(q) z)^2`` of a saturating unit is a spike narrower than
the spacing of the Hermite nodes and its error grows to tens of percent (to 130% for tanh at
``q = 100`` with 101 nodes); panels sized to the spike keep every value within 1e-10. ReLU, leaky
ReLU and linear units use their exact closed forms.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
from numpy.polynomial.legendre import leggauss

from . import tasks as task_module
from .activations import make_activation

# -- Gaussian expectations ---------------------------------------------------------------------

# The integration range in z: the Gaussian mass beyond 9 standard deviations is 2e-19.
Z_LIMIT = 9.0
# Gauss-Legendre nodes per panel; exact for polynomials of degree 15 on each panel.
PANEL_NODES = 8
# The nodes and weights on [-1, 1], computed once: a table of one activation integrates about
# 4000 times, and recomputing them each time was 60% of building it.
_PANEL_RULE = leggauss(PANEL_NODES)
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
    nodes, weights = _PANEL_RULE
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
