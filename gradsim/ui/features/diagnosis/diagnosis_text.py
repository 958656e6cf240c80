"""The Diagnosis dock's words and numbers (no Qt): factors, where a run overflowed, a fix's
change, the theory box's rows and line, the sufficient condition, and the before/now verdict.

Every number goes through :mod:`gradsim.engine.formatting` or the engine's own span texts, so
the dock says what the engine measured.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from gradsim.engine import theory
from gradsim.engine.diagnosis import Diagnosis, Fix
from gradsim.engine.formatting import format_number
from gradsim.engine.records import NonFiniteEvent


def format_factor(value: float | None) -> str:
    """A per-step factor: ``×0.225`` (``–`` when there is none)."""
    if value is None or not math.isfinite(value):
        return "–"
    return f"×{format_number(value)}"


def describe_start(event: NonFiniteEvent) -> str:
    """Where a run first turned non-finite: ``"iteration 2 · layer 1 · time step 9 · hidden state"``."""
    parts = [f"iteration {event.iteration}"]
    if event.layer is not None:
        parts.append(f"layer {event.layer + 1}")
    if event.time_step is not None:
        parts.append(f"time step {event.time_step + 1}")
    parts.append(event.quantity if event.parameter is None else f"{event.quantity} {event.parameter}")
    return " · ".join(parts)


def config_change_text(fix: Fix) -> str:
    """The fix's exact change: ``"activation = 'relu', weight_scale = 0.977"``."""
    return ", ".join(f"{name} = {value!r}" for name, value in fix.changes.items())


def theory_line_values(log10_anchor: float, factor: float, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """The theory line ``anchor * factor ** (T - t)`` for ``t = 1..T``, as log10 values (the
    gradient plot draws log10 norms: the line continues below float64 as the curves do).

    Parameters
    ----------
    log10_anchor : measured ``log10 ||dL/dh||`` at the last step of the top layer (finite)
    factor : predicted per-step factor backwards in time (> 0)
    seq_len : T

    Returns
    -------
    steps : (T,) float64 ``1..T``
    log10_norms : (T,) float64, ``log10_anchor + (T - t) log10(factor)``
    """
    steps = np.arange(1, seq_len + 1, dtype=np.float64)
    return steps, log10_anchor + (seq_len - steps) * math.log10(factor)


def theory_rows(
    num_layers: int,
    prediction: theory.LayerPrediction | theory.NotApplicable | None,
    comparison: theory.LayerComparison | None,
) -> tuple[list[str], list[str], list[str]]:
    """The theory box's three columns, one row per layer and one for depth (two layers or more).

    Returns
    -------
    (names, predicted, measured) : ``"layer 1"``... ``"depth"``; ``"×0.959"`` or ``"–"``
    """
    names = [f"layer {k + 1}" for k in range(num_layers)]
    predicted = ["–"] * num_layers
    measured = ["–"] * num_layers
    if num_layers > 1:
        names.append("depth")
        predicted.append("–")
        measured.append("–")
    if isinstance(prediction, theory.LayerPrediction) and prediction.step_factors.shape[0] == num_layers:
        predicted[:num_layers] = [format_factor(float(f)) for f in prediction.step_factors]
        if num_layers > 1:
            predicted[-1] = format_factor(prediction.depth_factor)
    if comparison is not None and comparison.measured.num_layers == num_layers:
        spans = comparison.measured
        measured[:num_layers] = [format_factor(float(f)) for f in spans.time_factors]
        if num_layers > 1:
            measured[-1] = format_factor(spans.depth_factor)
    return names, predicted, measured


def summary(diagnosis: Diagnosis) -> str:
    """``"vanishing, 5.30e-64 through time in layer 2, ×0.22954 per step"``: the extreme span."""
    span = diagnosis.signs.measure.extreme
    parts = [diagnosis.regime]
    if span is not None and not math.isnan(span.decades):
        parts.append(f"{span.ratio_text()} {span.name()}")
        if span.zero_at is None:
            parts.append(f"×{span.factor_text()} per {span.unit}")
    return ", ".join(parts)


def extreme_decades(diagnosis: Diagnosis) -> float:
    """|decades| of the extreme span (the regime's measure); NaN without one."""
    return abs(diagnosis.signs.measure.decades)


def compare_diagnoses(before: Diagnosis, now: Diagnosis) -> tuple[bool, str]:
    """Whether ``now`` is strictly better than ``before``, and the verdict in words.

    Better means: healthy where it was not, finite where it overflowed, or the change of the
    gradient over its most extreme span (in decades, ``signs.measure.decades``, the measure the
    regime is decided on) strictly closer to none.
    """
    was_finite = before.regime != "non-finite"
    is_finite = now.regime != "non-finite"
    old, new = extreme_decades(before), extreme_decades(now)
    gain = old - new if math.isfinite(old) and math.isfinite(new) else math.nan
    if not is_finite and was_finite:
        return False, "worse: the run overflows now"
    if is_finite and not was_finite:
        extra = f", and {gain:.1f} decades closer to no change" if math.isfinite(gain) and gain > 0 else ""
        return True, f"better: the run stays finite now{extra}"
    if now.regime == "healthy" and before.regime != "healthy":
        return True, f"fixed: healthy now ({abs(gain):.1f} decades closer to no change)"
    if not math.isfinite(old) and math.isfinite(new):
        return True, "better: the gradient reaches step 1 now"
    if math.isfinite(gain) and gain > 0:
        return True, f"better: {gain:.1f} decades closer to no change"
    if math.isfinite(gain):
        return False, f"not better: {-gain:.1f} decades further from no change"
    return False, "not better"


def records_text(iteration: int, count: int, window: int, latest: int | None = None) -> str:
    """``"iteration 120 · 50 records"`` (`` · now 130`` while training runs ahead of it): the
    newest iteration diagnosed and how many of the newest records (at most ``window``) it used."""
    averaged = min(count, window)
    text = f"iteration {iteration} · {averaged} record{'s' if averaged != 1 else ''}"
    if latest is not None and latest != iteration:
        text += f" · now {latest}"
    return text


# What the theory box says of the spectral bound for an LSTM or GRU.
GATED_BOUND_TEXT = (
    "The bound σmax(W_hh) × max|f′| < 1 is the vanilla RNN's: a gated cell's step back goes "
    "through its gates too, so no such bound decides here."
)


def bound_text(products: Sequence[float] | np.ndarray, max_derivative: float) -> str:
    """The sufficient condition for vanishing, ``sigma_max(W_hh) * max|f'| < 1``, per layer.

    Parameters
    ----------
    products : (L,) ``sigma_max(W_hh) * max|f'|`` of each layer (the diagnosis's bound products)
    max_derivative : ``max|f'|`` of the activation (1/4 for sigmoid, 1 for tanh and ReLU)
    """
    bound = max_derivative
    lines = [f"Vanishing is certain where σmax(W_hh) × max|f′| < 1 (max|f′| = {bound:g}):"]
    for layer, product in enumerate(products):
        if not math.isfinite(product):
            lines.append(f"layer {layer + 1}: not finite")
            continue
        verdict = "< 1, vanishes" if product < 1 else "≥ 1, undecided"
        lines.append(f"layer {layer + 1}: {product / bound:.3g} × {bound:g} = {product:.3g} ({verdict})")
    return "\n".join(lines)
