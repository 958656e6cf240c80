"""How a sweep's axes map onto the phase diagram (no Qt): value <-> grid index, round ticks, and
the colour levels.

The image is drawn in *grid index* space (column ``j`` centred at x = j, row ``i`` at y = i). An
axis of whole numbers spaced in log10 (``seq_len`` 10..200 rounds to 10, 12, 15, ...) is not
uniform in value or in log10, so :class:`AxisScale` maps between values and index positions
piecewise linearly, in log10 of the value for a log-spaced axis (as
:func:`~gradsim.engine.sweep.measured_edge` interpolates); :func:`round_ticks` picks round values
of the field wherever they fall.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def symmetric_levels(values: np.ndarray, quantile: float = 0.9) -> tuple[float, float]:
    """``(-L, L)``: white is exactly 0 and the bar reads in whole decades.

    L is the ``quantile`` of the finite ``|value|`` rounded up to whole decades (at least 1).
    Not the largest: a few cells 40 decades deep would otherwise wash the edge region (a few
    decades either side of 0, where the interesting change happens) out to white; cells beyond
    L take the end colour and their tooltip gives the number.
    """
    finite = np.abs(values[np.isfinite(values)])
    typical = float(np.quantile(finite, quantile)) if finite.size else 0.0
    limit = max(1.0, math.ceil(typical - 1e-9))
    return (-limit, limit)


class AxisScale:
    """Maps a swept axis' values to index positions in the plot and back.

    Piecewise linear between grid values (in log10 of the value for a log-spaced axis) and
    extended past the ends with the slope of the end interval, so a theory line that leaves the
    grid is still drawn in the right direction.

    Parameters
    ----------
    values : (n,) strictly increasing axis values
    spacing : ``"linear"`` or ``"log"``
    integer : the field takes whole numbers (ticks are whole numbers too)
    """

    def __init__(self, values: Sequence[float], spacing: str = "linear", integer: bool = False) -> None:
        self.values = np.asarray(values, dtype=np.float64)
        self.log = spacing == "log" and bool(np.all(self.values > 0))
        self.integer = integer
        self.positions = np.log10(self.values) if self.log else self.values.copy()
        self.indices = np.arange(len(self.values), dtype=np.float64)

    def _forward(self, values: np.ndarray) -> np.ndarray:
        if not self.log:
            return values
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(values > 0, np.log10(np.where(values > 0, values, 1.0)), np.nan)

    def to_plot(self, values: np.ndarray | Sequence[float] | float) -> np.ndarray:
        """Index positions of ``values`` (NaN stays NaN)."""
        spaced = self._forward(np.asarray(values, dtype=np.float64))
        return piecewise(spaced, self.positions, self.indices)

    def to_value(self, positions: np.ndarray | Sequence[float] | float) -> np.ndarray:
        """Axis values at index ``positions`` (the inverse of :meth:`to_plot`)."""
        spaced = piecewise(np.asarray(positions, dtype=np.float64), self.indices, self.positions)
        return 10.0**spaced if self.log else spaced


def piecewise(x: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Linear interpolation of (xs, ys) at x, extrapolated with the end slopes."""
    if len(xs) == 1:
        # One value: one unit of index per unit of position (an arbitrary but monotone map).
        return ys[0] + (x - xs[0])
    inside = np.interp(x, xs, ys)
    low_slope = (ys[1] - ys[0]) / (xs[1] - xs[0])
    high_slope = (ys[-1] - ys[-2]) / (xs[-1] - xs[-2])
    result = np.where(x < xs[0], ys[0] + (x - xs[0]) * low_slope, inside)
    result = np.where(x > xs[-1], ys[-1] + (x - xs[-1]) * high_slope, result)
    return np.where(np.isnan(x), np.nan, result)


def nice_step(raw: float) -> float:
    """The smallest of 1, 2, 5 x 10^k that is at least ``raw``."""
    exponent = math.floor(math.log10(raw))
    for mantissa in (1.0, 2.0, 5.0, 10.0):
        step = mantissa * 10.0**exponent
        if step >= raw * (1 - 1e-9):
            return step
    return 10.0 ** (exponent + 1)


def round_ticks(scale: AxisScale, low: float, high: float, wanted: int) -> list[float]:
    """Index positions of round values of the field that lie in ``low..high`` (index space),
    about ``wanted`` of them.

    Log-spaced axes spanning a decade or more get 1-2-5 ticks per decade; others evenly spaced
    round values (whole numbers for an integer field). With no more cells than ``wanted``, each
    cell's own value instead.
    """
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return []
    if len(scale.values) <= wanted:
        # Few cells: label each one with its own value (an uneven list like 5, 400 reads
        # better that way than as round values placed on a stretched scale).
        inside = (scale.indices >= low) & (scale.indices <= high)
        return [float(p) for p in scale.indices[inside]]
    # Only values the grid spans (half a cell past each end), never extrapolated ones.
    low, high = max(low, -0.5), min(high, len(scale.values) - 0.5)
    value_low, value_high = (float(v) for v in scale.to_value(np.array([low, high])))
    ticks: list[float] = []
    if scale.log and value_low > 0 and value_high / value_low >= 10:
        first, last = math.floor(math.log10(value_low)), math.ceil(math.log10(value_high))
        for mantissas in ((1, 2, 5), (1, 3), (1,)):
            ticks = [
                m * 10.0**k
                for k in range(first, last + 1)
                for m in mantissas
                if value_low <= m * 10.0**k <= value_high
            ]
            if len(ticks) <= wanted + 1:
                break
    else:
        step = nice_step((value_high - value_low) / wanted) if value_high > value_low else 1.0
        if scale.integer:
            step = max(1.0, round(step))
        start = math.ceil(value_low / step - 1e-9) * step
        ticks = [start + k * step for k in range(int((value_high - start) / step + 1e-9) + 1)]
        if scale.log:
            ticks = [t for t in ticks if t > 0]
    return [float(p) for p in scale.to_plot(np.array(ticks, dtype=np.float64))] if ticks else []
