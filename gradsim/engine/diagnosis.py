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

Where the code lives: the thresholds, :class:`Fix`, :class:`Signs`, :class:`Diagnosis` and
:func:`measure_signs` in :mod:`gradsim.engine.diagnosis_signs`; the fixes in
:mod:`gradsim.engine.diagnosis_fixes`; the sentence, the evidence and :func:`diagnose` here. Every
name is importable from this module.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from . import gated_diagnosis, theory
from .activations import make_activation
from .config import SimConfig
from .diagnosis_fixes import (
    _fixes,
)
from .diagnosis_signs import (
    BATCH_NORM_HELPS_BELOW,
    IMPROVEMENT_DECADES,
    SCALE_TOLERANCE,
    SENTENCE_SATURATION,
    UNSTABLE_DECADES,
    UPDATE_GAP_DECADES,
    UPDATE_RATIO_REFERENCE,
    WINDOW,
    Diagnosis,
    Fix,
    Signs,
    _factor,
    _percent,
    measure_signs,
)
from .formatting import format_number
from .records import NonFiniteEvent, StepRecord
from .regime import DECADES_THRESHOLD, measure

__all__ = [
    "BATCH_NORM_HELPS_BELOW",
    "Diagnosis",
    "Fix",
    "IMPROVEMENT_DECADES",
    "SCALE_TOLERANCE",
    "SENTENCE_SATURATION",
    "Signs",
    "UNSTABLE_DECADES",
    "UPDATE_GAP_DECADES",
    "UPDATE_RATIO_REFERENCE",
    "WINDOW",
    "diagnose",
    "measure_signs",
]


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
