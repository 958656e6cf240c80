"""Diagnosis: which gradient problem a run has, the signs that show it, and what would fix it.

:func:`diagnose` reads the step records of a run the way a practitioner reads their plots:

- the spans of :func:`gradsim.engine.regime.measure`: back through time in each layer and
  down through the layers; the most extreme one decides the regime and its ratio and factor make
  the headline sentence (the one measure every view quotes);
- the corner ratio of ``||dL/dh||`` (first layer, first step over top layer, last step), as
  evidence;
- the per-step geometric rate, measured and as mean-field theory predicts it;
- the spectral sufficient condition for vanishing;
- update:data ratios of the early against the late weights (early layers barely moving is the
  classic sign of vanishing; about 1e-3 is the usual healthy reference);
- how much the global gradient norm jumps from one iteration to the next (exploding runs are
  unstable);
- where a value first turned inf/NaN;
- the fraction of saturated (or, for ReLU, switched-off) units.

The fixes it offers are configs one ``config.replace(**changes)`` away, chosen for this run:
a fix appears only where it addresses the problem, and where theory can say so, the explanation
gives the predicted per-step factor after the change.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import gated_diagnosis, theory
from .activations import make_activation
from .config import SimConfig
from .formatting import format_number
from .records import NonFiniteEvent, StepRecord, nonfinite_norms
from .regime import DECADES_THRESHOLD, RegimeMeasure, corner_decades, measure

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
# A fix theory judges must bring the end-to-end change this many decades closer to 0 (or
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


# -- the sentence and the evidence -------------------------------------------------------------


def _saturation_phrase(signs: Signs, config: SimConfig) -> str | None:
    if signs.saturation.size == 0 or not np.all(np.isfinite(signs.saturation)):
        return None
    fraction = float(signs.saturation.mean())
    nonfinite = signs.nonfinite
    bad = float(nonfinite.mean()) if nonfinite is not None and nonfinite.size else 0.0
    if config.cell != "rnn" or make_activation(config.activation, config.leaky_slope).saturating:
        word = "saturated"  # a gated cell's candidate is tanh
    elif config.activation == "relu":
        word = "switched off"
    else:
        word = None
    if bad > 0 and math.isfinite(bad):
        # A NaN unit is neither saturated nor switched off: name it for what it is.
        text = f"{_percent(bad)} of units non-finite"
        return text if word is None else f"{text}, {_percent(fraction)} {word}"
    return None if word is None else f"{_percent(fraction)} of units {word}"


def _sentence(regime: str, signs: Signs, config: SimConfig, event: NonFiniteEvent | None) -> str:
    """The headline: the measure's named sentence, whose ratio and factor come from one span."""
    if regime == "non-finite":
        if event is None:
            return "non-finite: a gradient is inf or NaN"
        text = f"non-finite: {event.describe()}"
        span = signs.measure.extreme
        if signs.measure.regime != "non-finite" and span is not None and math.isfinite(span.decades):
            text += f"; at iteration {signs.iteration} it was {span.describe()}"
        return text
    text = signs.measure.sentence()
    saturation = _saturation_phrase(signs, config)
    if saturation is not None and regime == "vanishing" and signs.saturation.mean() >= SENTENCE_SATURATION:
        text += f"; {saturation}"
    return text


def _evidence(
    signs: Signs, config: SimConfig, records: Sequence[StepRecord], event: NonFiniteEvent | None
) -> list[str]:
    lines: list[str] = []
    if event is not None:
        lines.append(f"first non-finite value: {event.describe()}")
        loss = records[-1].loss
        if not math.isfinite(loss):
            lines.append(f"loss is {loss} at iteration {records[-1].iteration}")
    if signs.measure.spans:
        lines.append(
            f"spans (beyond {DECADES_THRESHOLD:g} decades either way a span has vanished or exploded; "
            "the most extreme decides):"
        )
        lines += [f"  {line}" for line in signs.measure.span_lines()]
    if math.isfinite(signs.decades):
        lines.append(
            f"corner, layer 1 step 1 over layer {signs.num_layers} step {signs.seq_len}: "
            f"{signs.decades:+.1f} decades (mixes both ways; evidence only)"
        )
    # The top layer's per-step factor as the span above quotes it (one number per fact), next to
    # the theory's prediction for the same span and the weight scale where the most extreme
    # predicted span is 0 decades (the theory box and the sweep's line use the same).
    time_spans = [span for span in signs.measure.spans if span.kind == "time"]
    if time_spans:
        top = time_spans[-1]
        line = (
            f"per-step factor in layer {signs.num_layers} (where the gradient enters): "
            f"×{top.factor_text()} measured"
        )
        comparison = signs.layer_theory
        if comparison is not None and isinstance(comparison.predicted, theory.LayerPrediction):
            predicted = float(comparison.predicted.step_factors[-1])
            line += f", ×{_factor(predicted)} predicted by mean-field theory"
            if signs.balanced_weight_scale is not None:
                line += (
                    f" (spans predicted balanced at weight scale {signs.balanced_weight_scale:.3g}, "
                    f"now {config.weight_scale:g})"
                )
        elif comparison is not None and comparison.reason is not None:
            line += f" (no mean-field prediction: {comparison.reason.removeprefix('not applicable: ')})"
        lines.append(line)
    products = signs.bound_products
    # The bound is the vanilla RNN's (diag(f') W_hh); a gated cell's Jacobian has gates in it.
    if config.cell == "rnn" and products.size and np.all(np.isfinite(products)):
        worst = float(products.max())
        bound = make_activation(config.activation, config.leaky_slope).max_derivative
        # The bound makes every step back shrink the gradient; whether that adds up to more than
        # the threshold depends on how many steps there are, which the spans above measure.
        verdict = (
            "below 1 in every layer: every step back must shrink the gradient"
            if worst < 1
            else "not below 1: the bound does not decide"
        )
        lines.append(
            f"spectral bound ||W_hh|| x max|f'| (max|f'| = {bound:g}): at most {worst:.3g}, {verdict}"
        )
    saturation = _saturation_phrase(signs, config)
    if saturation is not None:
        per_layer = ", ".join(_percent(float(s)) for s in signs.saturation)
        lines.append(f"{saturation} (per layer: {per_layer})")
    early, late = signs.early_update_ratio, signs.late_update_ratio
    if math.isfinite(early) and math.isfinite(late):
        late_name = f"layer {signs.num_layers}" if signs.num_layers > 1 else "the readout"
        line = (
            f"update:data ratio {format_number(early)} in layer 1 vs {format_number(late)} in {late_name} "
            f"(reference about {UPDATE_RATIO_REFERENCE:g})"
        )
        if math.log10(late) - math.log10(early) > UPDATE_GAP_DECADES:
            line += ": the early weights barely change"
        lines.append(line)
    if math.isfinite(signs.instability):
        judged = "unstable" if signs.instability > UNSTABLE_DECADES else "steady"
        lines.append(
            f"global gradient norm changes by a median {signs.instability:.2g} decades per "
            f"iteration ({judged})"
        )
    lines += gated_diagnosis.evidence(records, config)
    clipped = [r for r in records[-WINDOW:] if r.clipped]
    if clipped:
        last = clipped[-1]
        lines.append(
            f"clipping active in {len(clipped)} of the last {len(records[-WINDOW:])} iterations "
            f"(global norm {format_number(last.global_norm_before)} -> "
            f"{format_number(last.global_norm_after)})"
        )
    return lines


# -- the fixes ---------------------------------------------------------------------------------


def _rounded(value: float) -> float:
    return float(f"{value:.3g}")


def _improves(candidate: SimConfig, signs: Signs, config: SimConfig) -> bool:
    """Whether theory predicts ``candidate`` ends clearly closer to no change end to end.

    Both sides are compared as theory predicts them where it applies to the current config too
    (so its approximations cancel), else against the measured decades. False when theory says
    nothing about ``candidate``: such fixes are not offered blind.
    """
    new = theory.predicted_decades(candidate)
    if new is None or not math.isfinite(new):
        return False
    if abs(new) <= DECADES_THRESHOLD:
        return True
    current = theory.predicted_decades(config)
    if current is None or not math.isfinite(current):
        current = signs.decades
    if not math.isfinite(current):
        return False
    return abs(new) < abs(current) - IMPROVEMENT_DECADES


def _prediction(candidate: SimConfig, signs: Signs) -> str:
    """' Theory predicts ...' for the explanation ('' without theory)."""
    decades = theory.predicted_decades(candidate)
    factor = theory.predicted_step_factor(candidate)
    if decades is None or factor is None:
        return ""
    return (
        f" Theory predicts {_factor(factor)} per step and {decades:+.1f} decades end to end, "
        f"against {_factor(signs.measured_factor)} and {signs.decades:+.1f} measured now."
    )


def _large_weights_note(scale: float) -> str:
    if scale <= 3.0:
        return ""
    return (
        f" Weights of scale {scale:g} also make the loss and the first updates large; "
        "pair this with clipping if training turns unstable."
    )


def _edge_scale(candidate: SimConfig) -> float | None:
    """The weight scale at which theory predicts no end-to-end change for ``candidate``."""
    critical = theory.critical_weight_scale(candidate, criterion="end_to_end")
    return None if critical is None else _rounded(critical)


def _relu_fix(signs: Signs, config: SimConfig) -> Fix | None:
    scale = _edge_scale(config.replace(activation="relu", init="he"))
    if scale is None:
        return None
    changes: dict[str, Any] = {"activation": "relu", "init": "he", "weight_scale": scale}
    clip = ""
    if config.clip_mode == "none":
        # ReLU is unbounded: near the edge its states and loss can be large enough that one plain
        # SGD step overflows (docs/theory.md), so the switch comes with clipping.
        changes.update(clip_mode="norm", clip_threshold=1.0)
        clip = " ReLU is unbounded, so the fix also clips the gradient norm to 1 to keep the updates finite."
    candidate = config.replace(**changes)
    if not _improves(candidate, signs, config):
        return None
    bound = make_activation(config.activation, config.leaky_slope).max_derivative
    return Fix(
        "relu",
        f"Switch to ReLU, He init (scale {scale:g})",
        f"{config.activation}'s derivative is at most {bound:g} and close to 0 once a unit saturates; "
        "ReLU passes the gradient of every active unit unchanged, and He initialisation doubles the "
        "weight variance to make up for the half of the units that are off."
        + _prediction(candidate, signs)
        + clip,
        changes,
    )


def _orthogonal_fix(signs: Signs, config: SimConfig) -> Fix | None:
    if config.init == "orthogonal":
        return None
    candidate = config.replace(init="orthogonal")
    if theory.not_applicable(candidate) is not None:
        return None
    scale = _edge_scale(candidate)
    if scale is None:
        return None
    changes: dict[str, Any] = {"init": "orthogonal", "weight_scale": scale}
    candidate = config.replace(**changes)
    if not _improves(candidate, signs, config):
        return None
    return Fix(
        "orthogonal",
        f"Orthogonal weights at scale {scale:g}",
        "Every singular value of an orthogonal matrix is the same, so it turns the gradient without "
        f"stretching or shrinking it in any direction; at scale {scale:g} theory predicts the gradient "
        f"keeps its size end to end for {config.activation}."
        + _prediction(candidate, signs)
        + _large_weights_note(scale),
        changes,
    )


def _scale_fix(regime: str, signs: Signs, config: SimConfig) -> Fix | None:
    if theory.not_applicable(config) is not None:
        return None
    scale = _edge_scale(config)
    if scale is None:
        return None
    raising = regime == "vanishing" and scale > config.weight_scale * (1 + SCALE_TOLERANCE)
    lowering = regime in ("exploding", "non-finite") and scale < config.weight_scale * (1 - SCALE_TOLERANCE)
    if not (raising or lowering):
        return None
    changes: dict[str, Any] = {"weight_scale": scale}
    candidate = config.replace(**changes)
    if not _improves(candidate, signs, config):
        return None
    verb = "Raise" if raising else "Lower"
    return Fix(
        "raise_scale" if raising else "lower_scale",
        f"{verb} weight scale to {scale:g}",
        "Each step back multiplies the gradient by about the weight scale times the typical "
        f"derivative; at {scale:g} mean-field theory puts the gradient at (first layer, first step) "
        f"level with where it enters, for {config.activation} with {config.init} weights."
        + _prediction(candidate, signs)
        + (_large_weights_note(scale) if raising else ""),
        changes,
    )


def _clip_fix(regime: str, config: SimConfig) -> Fix | None:
    if regime not in ("exploding", "non-finite") or config.clip_mode == "norm":
        return None
    return Fix(
        "clip_norm",
        "Clip the gradient norm to 1",
        "Clipping rescales the whole gradient whenever its global norm exceeds 1. It does not change "
        "how the gradient grows back through time, but it bounds every update, so one huge gradient "
        "can no longer throw the weights to inf/NaN.",
        {"clip_mode": "norm", "clip_threshold": 1.0},
    )


def _batch_norm_fix(regime: str, signs: Signs, config: SimConfig) -> Fix | None:
    # Batch norm's textbook case is a saturating unit pushed to its flat tails: normalising the
    # pre-activation brings it back to its steep middle. For ReLU-like units, or a run that
    # explodes, it is no fix: at initialisation it can even make the gradient grow (with small
    # batches), see docs/theory.md.
    saturating = make_activation(config.activation, config.leaky_slope).saturating
    factor = signs.measured_factor
    if (
        regime != "vanishing"
        or not saturating
        or config.normalization == "batch"
        or not (math.isfinite(factor) and factor < BATCH_NORM_HELPS_BELOW)
    ):
        return None
    changes: dict[str, Any] = {"normalization": "batch"}
    if config.batch_size < 2:
        changes["batch_size"] = 16
    return Fix(
        "batch_norm",
        "Turn on batch norm",
        "Batch norm rescales every pre-activation to zero mean and unit variance over the batch, "
        f"so {config.activation} works around its steep middle instead of its flat tails. The per-step "
        "factor then no longer depends on the weight scale; it is set by the activation, the task "
        f"and the batch (see docs/theory.md for measured values), against {_factor(factor)} now.",
        changes,
    )


def _fewer_steps_fix(signs: Signs, config: SimConfig) -> Fix | None:
    steps = config.seq_len
    if steps <= 2:
        return None
    factor = signs.measured_factor
    usable = math.isfinite(factor) and factor > 0 and factor != 1
    # The longest sequence over which the gradient changes by at most 2 decades, but at least
    # half as long as now; a product of fewer factors always changes less.
    healthy = 1 + int(2.0 / abs(math.log10(factor))) if usable else steps // 4
    new_steps = max(2, min(steps // 2, healthy))
    numbers = ""
    if usable:
        numbers = (
            f" At {_factor(factor)} per step that is about "
            f"{(new_steps - 1) * math.log10(factor):+.1f} decades instead of "
            f"{(steps - 1) * math.log10(factor):+.1f} along time."
        )
    return Fix(
        "fewer_steps",
        f"Fewer steps: {steps} -> {new_steps}",
        "The gradient that reaches the first step is a product of one factor per step; a shorter "
        "sequence has fewer factors (at the price of a network that cannot look as far back)." + numbers,
        {"seq_len": new_steps},
    )


def _fewer_layers_fix(signs: Signs, config: SimConfig) -> Fix | None:
    if config.num_layers <= 1:
        return None
    layers = max(1, config.num_layers // 2)
    changes: dict[str, Any] = {"num_layers": layers}
    candidate = config.replace(**changes)
    # Fewer layers is not always better: the gradient may then have to travel back in time in a
    # layer that shrinks it more. Offered only where theory predicts a gain.
    if not _improves(candidate, signs, config):
        return None
    return Fix(
        "fewer_layers",
        f"Fewer layers: {config.num_layers} -> {layers}",
        "Every layer the gradient crosses on its way down multiplies it once more, and with several "
        "layers it can also travel back in time in whichever layer shrinks it least; fewer layers "
        "means fewer factors (at the price of a less expressive network)." + _prediction(candidate, signs),
        changes,
    )


def _fixes(regime: str, signs: Signs, config: SimConfig) -> list[Fix]:
    """The applicable fixes, most direct first."""
    if regime == "healthy":
        return []
    candidates = [_clip_fix(regime, config)]
    if regime == "vanishing" and make_activation(config.activation, config.leaky_slope).saturating:
        candidates.append(_relu_fix(signs, config))
    candidates += [
        _orthogonal_fix(signs, config),
        _scale_fix(regime, signs, config),
        _batch_norm_fix(regime, signs, config),
        _fewer_steps_fix(signs, config),
        _fewer_layers_fix(signs, config),
    ]
    return [fix for fix in candidates if fix is not None]


# -- the entry point ---------------------------------------------------------------------------


def diagnose(records: Sequence[StepRecord], config: SimConfig) -> Diagnosis:
    """Classify a run and explain it.

    Parameters
    ----------
    records : the run's step records, oldest first (at least one); e.g. the history's recent ones
    config : the config that produced them

    Returns
    -------
    Diagnosis. Its regime is ``measure(records[-1]).regime`` — the same verdict the rest of
    gradsim shows — except that any non-finite record makes the run non-finite.

    Raises
    ------
    ValueError if ``records`` is empty.
    """
    signs = measure_signs(records, config)
    events = [r.nonfinite for r in records if r.nonfinite is not None]
    event = events[0] if events else None
    regime = "non-finite" if event is not None else measure(records[-1]).regime
    sentence = _sentence(regime, signs, config, event)
    evidence = _evidence(signs, config, records, event)
    fixes = _fixes(regime, signs, config) + [
        Fix(*fix) for fix in gated_diagnosis.fixes(regime, records, config)
    ]
    return Diagnosis(regime, sentence, tuple(evidence), tuple(fixes), signs, event)
