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
the same function (:func:`span_decades`, which takes the decades from the regime measure's
:func:`gradsim.engine.regime.time_and_depth_decades`). :func:`predict_layers` gathers it all, or says why
there is no prediction (:class:`NotApplicable`); :func:`compare_layers` puts it next to a
record.

Where the theory gives no number: gated cells (LSTM, GRU: :mod:`gated_theory` gives the cell
path's gate product instead), the identity initialisation (a fixed matrix, nothing random
to average over) and batch norm (whose per-unit statistics over a finite batch fluctuate; a
simple normalised-Gaussian model of it underestimated the measured factor by 10-30%, see
``docs/theory.md``). Both return None with a note (:func:`not_applicable`).

The sufficient condition (Pascanu, Mikolov & Bengio 2013)
---------------------------------------------------------
``||dh_t / dh_{t-1}|| <= ||W_hh||_2 * max|f'|``; when that product is below 1 the gradient
must vanish exponentially, whatever the data (:func:`vanishing_bound`).

Where the code lives
--------------------
Every name is importable from here. The bound and the single-layer measurement sit in this
module; the rest in three siblings, in the order the theory builds up:

- :mod:`gradsim.engine.theory_gaussian`: Gaussian expectations of each activation, the variances
  the weights and the task's inputs bring;
- :mod:`gradsim.engine.theory_meanfield`: each layer's fixed point and factors
  (:func:`mean_field`), the predicted (layer, time) map (:func:`predicted_log10_grad_norms`);
- :mod:`gradsim.engine.theory_layers`: spans, the theory per layer next to a record
  (:func:`predict_layers`, :func:`compare_layers`), the critical weight scale.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .activations import make_activation
from .config import SimConfig
from .simulation import Simulation
from .theory_gaussian import (
    COARSE_PANEL,
    FINE_PANEL_Y,
    PANEL_NODES,
    SATURATED_Y,
    TABLE_LOG10_RANGE,
    TABLE_POINTS_PER_DECADE,
    Z_LIMIT,
    InputPower,
    entry_variance,
    gaussian_expectation,
    input_power,
    moments,
    recurrent_weight_variance,
    typical_input_power,
)
from .theory_layers import (
    CRITERIA,
    LOWEST_SCALE,
    NON_FINITE_NOTE,
    SHORT_REASONS,
    ZERO_NOTE,
    LayerComparison,
    LayerPrediction,
    NotApplicable,
    Spans,
    compare_layers,
    critical_weight_scale,
    predict_layers,
    predicted_spans,
    span_decades,
)
from .theory_meanfield import (
    BATCH_NORM_NOTE,
    DIVERGED_VARIANCE,
    IDENTITY_NOTE,
    MeanField,
    mean_field,
    not_applicable,
    predicted_decades,
    predicted_grad_norms,
    predicted_log10_grad_norms,
    predicted_step_factor,
    solve_recurrent_variance,
)

__all__ = [
    "BATCH_NORM_NOTE",
    "COARSE_PANEL",
    "CRITERIA",
    "DIVERGED_VARIANCE",
    "FINE_PANEL_Y",
    "FactorComparison",
    "IDENTITY_NOTE",
    "InputPower",
    "LOWEST_SCALE",
    "LayerComparison",
    "LayerPrediction",
    "MeanField",
    "NON_FINITE_NOTE",
    "NotApplicable",
    "PANEL_NODES",
    "SATURATED_Y",
    "SHORT_REASONS",
    "Spans",
    "SpectralBound",
    "TABLE_LOG10_RANGE",
    "TABLE_POINTS_PER_DECADE",
    "ZERO_NOTE",
    "Z_LIMIT",
    "compare",
    "compare_layers",
    "critical_weight_scale",
    "entry_variance",
    "gaussian_expectation",
    "input_power",
    "mean_field",
    "measured_step_factor",
    "measured_spans",
    "measurement_window",
    "moments",
    "not_applicable",
    "predict_layers",
    "predicted_decades",
    "predicted_grad_norms",
    "predicted_log10_grad_norms",
    "predicted_spans",
    "predicted_step_factor",
    "recurrent_weight_variance",
    "solve_recurrent_variance",
    "span_decades",
    "typical_input_power",
    "vanishing_bound",
]


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


def measured_spans(config: SimConfig, seeds: Iterable[int]) -> tuple[np.ndarray, float]:
    """What :func:`predict_layers` predicts, measured on real runs at initialisation.

    One forward and backward pass per seed (``config.replace(seed=seed)``, its own first batch);
    the spans of :func:`span_decades` are averaged over the seeds in decades (a geometric mean of
    the factors) and spread over their steps: ``T - 1`` through time, ``L - 1`` through depth.

    Returns
    -------
    time factors : (L,) each layer's per-step factor back through time
    depth factor : the per-layer factor down through the stack (one layer: its span itself)
    """
    time, depth = [], []
    for seed in seeds:
        simulation = Simulation(config.replace(seed=seed))
        x, y = simulation.sample_batch()
        spans = span_decades(np.log10(simulation.forward_backward(x, y).grad_norms))
        time.append(spans.time)
        depth.append(spans.depth)
    steps, layers = config.seq_len - 1, config.num_layers
    return 10.0 ** (np.mean(time, axis=0) / steps), float(10.0 ** (np.mean(depth) / max(layers - 1, 1)))


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
