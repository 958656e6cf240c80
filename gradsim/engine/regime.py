"""The regime of a run in one word: healthy, vanishing, exploding or non-finite."""

from __future__ import annotations

import numpy as np

from .records import StepRecord

# A gradient that changes by more than this many decades between where it enters (last time
# step, top layer) and where it ends (first step, first layer) has vanished or exploded.
DECADES_THRESHOLD = 3.0


def end_to_end_decades(grad_norms: np.ndarray) -> float:
    """log10 of ``||dL/dh||`` at (first layer, first step) over (top layer, last step).

    Negative: the gradient shrank on its way back (vanishing); positive: it grew (exploding).
    NaN if either end is zero or not finite.
    """
    first, last = float(grad_norms[0, 0]), float(grad_norms[-1, -1])
    if not (np.isfinite(first) and np.isfinite(last)) or first <= 0 or last <= 0:
        return float("nan")
    return float(np.log10(first) - np.log10(last))


def classify(record: StepRecord) -> str:
    """``"non-finite"``, ``"vanishing"``, ``"exploding"`` or ``"healthy"`` for one record."""
    if record.nonfinite is not None or not np.all(np.isfinite(record.grad_norms)):
        return "non-finite"
    decades = end_to_end_decades(record.grad_norms)
    if np.isnan(decades):
        # A gradient that reached exactly zero (e.g. every ReLU off) vanished completely.
        return "vanishing"
    if decades < -DECADES_THRESHOLD:
        return "vanishing"
    if decades > DECADES_THRESHOLD:
        return "exploding"
    return "healthy"
