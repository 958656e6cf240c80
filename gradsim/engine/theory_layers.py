"""Mean-field theory per layer, next to what a run measured, and the critical weight scale.

Part of the mean-field theory (:mod:`gradsim.engine.theory` explains it and re-exports these
names). Measured and predicted (layer, time) maps are reduced to spans by one function
(:func:`span_decades`), which takes its decades from the regime measure
(:func:`gradsim.engine.regime.time_and_depth_decades`); :func:`predict_layers` gathers the
theory of a stack, :func:`compare_layers` puts it next to a record, and
:func:`critical_weight_scale` finds where the predicted gradient neither vanishes nor explodes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from . import gated_theory
from .config import FLOAT_RANGES, SimConfig
from .records import nonfinite_norms
from .regime import time_and_depth_decades
from .theory_meanfield import (
    mean_field,
    not_applicable,
    predicted_decades,
    predicted_log10_grad_norms,
    predicted_step_factor,
)

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
    time, depth = time_and_depth_decades(logs)
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
