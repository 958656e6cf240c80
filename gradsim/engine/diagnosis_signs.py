"""The signs a diagnosis reads from a run's records, and the small types it is made of.

Part of the diagnosis (:mod:`gradsim.engine.diagnosis` explains it and re-exports these names):
the thresholds, :class:`Fix`, :class:`Signs`, :class:`Diagnosis` (what a diagnosis returns) and
:func:`measure_signs`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import theory
from .config import SimConfig
from .formatting import format_number
from .records import NonFiniteEvent, StepRecord, nonfinite_norms
from .regime import RegimeMeasure, corner_decades, measure

# The usual reference for a healthy update:data ratio (Karpathy, makemore part 3).
UPDATE_RATIO_REFERENCE = 1e-3
# Early weights moving this many decades less than late ones count as "barely changing".
UPDATE_GAP_DECADES = 2.0
# A median jump of the global norm beyond this many decades per iteration counts as unstable.
UNSTABLE_DECADES = 0.5
# How many of the newest records the averaged signs use.
WINDOW = 20
# Batch norm makes the per-step factor of tanh and sigmoid units independent of the weight scale
# (docs/theory.md); it is offered for vanishing saturating runs whose factor is this far below 1.
BATCH_NORM_HELPS_BELOW = 0.6
# A fix theory judges must bring the most extreme span this many decades closer to 0 (or
# within the healthy band).
IMPROVEMENT_DECADES = 0.5
# The sentence mentions saturation from this fraction of units on.
SENTENCE_SATURATION = 0.1
# A scale within this fraction of the critical one is left alone.
SCALE_TOLERANCE = 0.05


@dataclass(frozen=True)
class Fix:
    """A change to the config that addresses the diagnosed problem.

    Attributes
    ----------
    key : stable identifier (``"relu"``, ``"orthogonal"``, ``"raise_scale"``, ``"lower_scale"``,
        ``"clip_norm"``, ``"batch_norm"``, ``"fewer_steps"``, ``"fewer_layers"``, and for gated
        cells ``"lstm"`` and ``"forget_bias"``: :mod:`gated_diagnosis`)
    label : button text
    explanation : why it helps, with numbers
    changes : ``{field: value}`` for ``SimConfig.replace``
    """

    key: str
    label: str
    explanation: str
    changes: dict[str, Any] = field(hash=False)

    def apply(self, config: SimConfig) -> SimConfig:
        """The config with this fix applied (validated)."""
        return config.replace(**self.changes)


@dataclass(frozen=True)
class Signs:
    """The numbers behind a diagnosis (NaN / None where they cannot be measured).

    Attributes
    ----------
    decades : log10 corner ratio, :func:`gradsim.engine.regime.corner_decades` (evidence;
        the regime is decided by ``measure``)
    time_ratio : ``||dL/dh||`` at the first step over the last, in the first layer
    layer_ratio : at the last step, first layer over top layer (NaN with one layer)
    measured_factor : per-step factor in the top layer, fitted (:func:`theory.measured_step_factor`)
    predicted_factor : the same from mean-field theory (None where it does not apply)
    critical_weight_scale : where the predicted factor is 1 (None if nowhere or no theory)
    bound_products : (L,) ``||W_hh||_2 * max|f'|`` per layer
    saturation : (L,) fraction of saturated (ReLU: inactive) units per layer
    early_update_ratio, late_update_ratio : geometric-mean update:data ratios of the first layer's
        weights and of the top layer's (the readout's with one layer); NaN before any update
    instability : median |change| of log10 global gradient norm between iterations (decades)
    seq_len, num_layers, iteration : of the record the ratios come from
    measure : :func:`gradsim.engine.regime.measure` of that record (its spans are the evidence,
        its extreme span the headline)
    layer_theory : mean-field theory per layer next to the same record's spans
        (:func:`theory.compare_layers`: predicted and measured per-step factor of every layer's
        time span and the depth span's per-layer factor, or why there is no prediction)
    balanced_weight_scale : where the most extreme predicted span is 0 decades
        (``theory.critical_weight_scale(config, "span")``; None if nowhere or no theory)
    nonfinite : (L,) fraction of units per layer whose value is inf/NaN (not counted as saturated)
    """

    decades: float
    time_ratio: float
    layer_ratio: float
    measured_factor: float
    predicted_factor: float | None
    critical_weight_scale: float | None
    bound_products: np.ndarray
    saturation: np.ndarray
    early_update_ratio: float
    late_update_ratio: float
    instability: float
    seq_len: int
    num_layers: int
    iteration: int
    measure: RegimeMeasure
    layer_theory: theory.LayerComparison | None = None
    balanced_weight_scale: float | None = None
    nonfinite: np.ndarray | None = None


@dataclass(frozen=True)
class Diagnosis:
    """Verdict, evidence and fixes for a run.

    Attributes
    ----------
    regime : ``"healthy"``, ``"vanishing"``, ``"exploding"`` or ``"non-finite"``
    sentence : the verdict in one sentence with its numbers
    evidence : one line per sign
    fixes : applicable fixes, most direct first
    signs : the numbers
    nonfinite : where the first inf/NaN appeared (non-finite runs)
    """

    regime: str
    sentence: str
    evidence: tuple[str, ...]
    fixes: tuple[Fix, ...]
    signs: Signs
    nonfinite: NonFiniteEvent | None = None


# -- formatting (format_number lives in gradsim.engine.formatting) -----------------------------


def _factor(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.3g}" if value < 10 else format_number(value)


def _percent(fraction: float) -> str:
    return f"{100 * fraction:.0f}%"


# -- the signs ---------------------------------------------------------------------------------


def _geometric_mean(values: list[float]) -> float:
    usable = [v for v in values if math.isfinite(v) and v > 0]
    if not usable:
        return float("nan")
    return float(np.exp(np.mean(np.log(usable))))


def _update_ratios(records: Sequence[StepRecord], num_layers: int) -> tuple[float, float]:
    early_names = ("weight_ih_l0", "weight_hh_l0")
    top = num_layers - 1
    late_names = (f"weight_ih_l{top}", f"weight_hh_l{top}") if num_layers > 1 else ("readout.weight",)
    early: list[float] = []
    late: list[float] = []
    for record in records:
        early += [record.update_ratios[name] for name in early_names if name in record.update_ratios]
        late += [record.update_ratios[name] for name in late_names if name in record.update_ratios]
    return _geometric_mean(early), _geometric_mean(late)


def _instability(records: Sequence[StepRecord]) -> float:
    norms = np.array([r.global_norm_before for r in records], dtype=np.float64)
    usable = norms[np.isfinite(norms) & (norms > 0)]
    if usable.size < 3:
        return float("nan")
    return float(np.median(np.abs(np.diff(np.log10(usable)))))


def _ratio_from_logs(log_numerator: float, log_denominator: float) -> float:
    """``10 ** (a - b)``: the ratio of two norms given by their log10 (0 for an exact-zero
    numerator, NaN where the denominator is 0 or either is not finite)."""
    if math.isnan(log_numerator) or log_numerator == math.inf or not math.isfinite(log_denominator):
        return float("nan")
    with np.errstate(under="ignore", over="ignore"):
        return float(np.power(10.0, log_numerator - log_denominator))


def measure_signs(records: Sequence[StepRecord], config: SimConfig) -> Signs:
    """The numbers :func:`diagnose` reasons with; see :class:`Signs`.

    The gradient-shape signs come from the newest record whose ``grad_norms`` are all finite
    (for a non-finite run: the last one before it broke), the averaged ones from the newest
    :data:`WINDOW` records.
    """
    if not records:
        raise ValueError("diagnose needs at least one step record")
    recent = list(records[-WINDOW:])
    # From the exact log10 norms: a gradient of 1e-607 is a number here, not an underflowed 0.
    finite = [r for r in records if not nonfinite_norms(r.log10_grad_norms).any()]
    shape_record = finite[-1] if finite else records[-1]
    logs = shape_record.log10_grad_norms
    norms = shape_record.grad_norms
    num_layers, seq_len = logs.shape
    field_ = theory.mean_field(config)
    with np.errstate(all="ignore"):
        decades = corner_decades(logs)
        time_ratio = _ratio_from_logs(float(logs[0, 0]), float(logs[0, -1]))
        layer_ratio = (
            _ratio_from_logs(float(logs[0, -1]), float(logs[-1, -1])) if num_layers > 1 else float("nan")
        )
        measured = theory.measured_step_factor(norms)
    bound = theory.vanishing_bound(shape_record.spectral_norms, config.activation, config.leaky_slope)
    early, late = _update_ratios(recent, num_layers)
    return Signs(
        decades=decades,
        time_ratio=time_ratio,
        layer_ratio=layer_ratio,
        measured_factor=measured,
        predicted_factor=None if field_ is None else field_.top_step_factor,
        critical_weight_scale=theory.critical_weight_scale(config),
        bound_products=bound.products,
        saturation=np.asarray(records[-1].saturation, dtype=np.float64),
        early_update_ratio=early,
        late_update_ratio=late,
        instability=_instability(recent),
        seq_len=seq_len,
        num_layers=num_layers,
        iteration=shape_record.iteration,
        measure=measure(shape_record),
        layer_theory=theory.compare_layers(theory.predict_layers(config), shape_record.log10_grad_norms),
        balanced_weight_scale=theory.critical_weight_scale(config, criterion="span"),
        nonfinite=np.asarray(records[-1].nonfinite_fraction, dtype=np.float64),
    )
