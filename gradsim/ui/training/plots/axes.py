"""Axes of the plots: log labels that stay legible, decades of log10 data, a cheap major grid."""

from __future__ import annotations

import math

import numpy as np
from PySide6 import QtCore, QtGui

# isort: split
import pyqtgraph as pg

from gradsim.ui.common.theme import Theme


class MajorGrid:
    """Faint grid lines at the major ticks of a plot's left and bottom axes, as one curve item.

    pyqtgraph's own grid (``showGrid``) is drawn by the axes with every tick level and costs
    several milliseconds per plot and frame on the raster engine; one line item with a pair of
    points per line costs a fraction of that. Lines are in view coordinates (log10 units on a
    log axis) and follow the view range.
    """

    def __init__(self, plot: pg.PlotItem, theme: Theme, x: bool = True, y: bool = True) -> None:
        self._x, self._y = x, y
        color = QtGui.QColor(theme.foreground)
        color.setAlphaF(0.16)
        self.item = pg.PlotCurveItem(pen=pg.mkPen(color, width=1), connect="pairs", antialias=False)
        self.item.setZValue(-50)
        self._plot = plot
        plot.addItem(self.item, ignoreBounds=True)
        plot.getViewBox().sigRangeChanged.connect(self.update)
        plot.getViewBox().sigResized.connect(self.update)

    def update(self, *_: object) -> None:
        view = self._plot.getViewBox()
        (x_low, x_high), (y_low, y_high) = view.viewRange()
        none = np.zeros(0)
        xs = _major_ticks(self._plot.getAxis("bottom"), x_low, x_high, view.width()) if self._x else none
        ys = _major_ticks(self._plot.getAxis("left"), y_low, y_high, view.height()) if self._y else none
        x = np.concatenate([np.repeat(xs, 2), np.tile([x_low, x_high], len(ys))])
        y = np.concatenate([np.tile([y_low, y_high], len(xs)), np.repeat(ys, 2)])
        self.item.setData(x, y)


def _major_ticks(axis: pg.AxisItem, low: float, high: float, size: float) -> np.ndarray:
    """Values of the coarsest tick levels ``axis`` draws between ``low`` and ``high``.

    Two levels on a linear axis; on a log axis spanning more than two decades only the decades
    (its minor ticks, 2..9 of each decade, would fill the plot with lines).
    """
    if not (np.isfinite(low) and np.isfinite(high)) or high <= low or size <= 0:
        return np.zeros(0)
    depth = 1 if axis.logMode and high - low > 2.0 else 2
    levels = [list(values) for _, values in axis.tickValues(low, high, size)[:depth]]
    values = np.array(sorted({v for level in levels for v in level}), dtype=np.float64)
    return values[(values >= low) & (values <= high)]


class KeptRectAxis(pg.AxisItem):
    """A ``pg.AxisItem`` that works its bounding rectangle out again only when it may differ.

    Qt asks every item of a scene for its bounding rectangle at each paint of the scene; an
    axis's (its geometry, widened by its tick length and label margin) was a tenth of the
    Python time of a live frame's paint (60 calls a frame, 20 us each under the profiler). The
    rectangle depends on the axis's geometry and style only, except with pyqtgraph's own grid
    (the view's rectangle joins it: worked out every time, as pyqtgraph does).
    """

    _kept: tuple[tuple[object, ...], QtCore.QRectF] | None = None

    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802 (Qt's name)
        if self.grid is not False:
            return super().boundingRect()
        geometry = self.geometry()
        key = (
            geometry.x(), geometry.y(), geometry.width(), geometry.height(),
            self.orientation, self.style["tickLength"], self.style["hideOverlappingLabels"],
        )  # fmt: skip
        kept = self._kept
        if kept is None or kept[0] != key or not self.transform().isIdentity():
            kept = (key, super().boundingRect())
            self._kept = kept
        return QtCore.QRectF(kept[1])


class LogAxis(KeptRectAxis):
    """Axis whose log-mode labels stay legible: decades, plus 2 and 5 only when zoomed in.

    pyqtgraph labels every minor tick (2..9) of a log axis once the range is under a few
    decades, which piles labels on top of each other in a short plot.
    """

    def logTickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:  # noqa: N802
        labels = super().logTickStrings(values, scale, spacing)
        low, high = sorted(self.range)
        zoomed = high - low < 1.5  # 2 and 5 labelled too
        kept = []
        for value, label in zip(values, labels, strict=True):
            fraction = value - np.floor(value)
            decade = min(fraction, 1 - fraction) < 1e-6
            mantissa = round(float(10**fraction))
            if decade or (zoomed and mantissa in (2, 5)):
                # Beside 2 and 5, which pyqtgraph writes as plain numbers, a decade is plain too:
                # 0.5, 1, 2, 5, 10 rather than 5, 10¹ (within 0.001 to 1000, where plain is short).
                kept.append(f"{10.0**value:g}" if zoomed and -3.5 < value < 3.5 else label)
            else:
                kept.append("")
        return kept if any(kept) else labels


_SUPERSCRIPTS = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def power_of_ten_label(log10_value: float) -> str:
    """Tick text for ``10 ** log10_value`` at any magnitude: ``10⁻⁶⁰⁷``, ``3.2·10⁻⁴``, ``1``."""
    exponent = math.floor(log10_value + 1e-9)
    mantissa = round(10.0 ** (log10_value - exponent), 1)
    if mantissa >= 10.0:
        mantissa, exponent = 1.0, exponent + 1
    power = "1" if exponent == 0 else "10" + str(exponent).translate(_SUPERSCRIPTS)
    if abs(mantissa - 1.0) < 1e-9:
        return power
    return f"{mantissa:g}·{power}" if exponent else f"{mantissa:g}"


# Decades between labelled ticks of a :class:`DecadeAxis`, and the value steps of its ticks
# within a decade (times a power of ten): the 1, 2, 5 series.
_DECADE_STEPS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
_WITHIN_DECADE = (1.0, 2.0, 5.0)
# Unlabelled minor ticks are drawn only this many pixels apart or more.
_MINOR_GAP = 4.0
# Labels of 2 and 5 (5·10⁻²) are wider than a decade's (10⁻²) and widen the axis: they are
# added only with this many times the pitch between them, where the plot is not cramped.
_BETWEEN_ROOM = 4 / 3


def decade_ticks(
    low: float, high: float, pixels: float, pitch: float
) -> tuple[list[list[float]], list[float]]:
    """Tick levels of a :class:`DecadeAxis` over log10 values ``low..high`` drawn ``pixels``
    long, whose labels need ``pitch`` pixels each; and the values to label.

    Whole decades (every 2nd, 5th, 10th... one when neighbours would be closer than ``pitch``),
    then 2 and 5 of each decade where they keep a third more than that distance (the closest
    pair, 1 and 2, is 0.3 decade apart), then unlabelled minor ticks: 3..9 of each decade, or the decades
    skipped. Within less than a decade (fewer than two labels of that series), values round
    in the data's own units (0.8, 1, 1.2, 1.4, ...), each labelled.
    """
    per_decade = pixels / (high - low)
    first, last = math.ceil(low - 1e-9), math.floor(high + 1e-9)
    decades = list(range(first, last + 1))
    step = next((k for k in _DECADE_STEPS if k * per_decade >= pitch), _DECADE_STEPS[-1])
    majors = [float(d) for d in decades if d % step == 0]
    if step > 1:
        skipped = [float(d) for d in decades if d % step] if per_decade >= _MINOR_GAP else []
        return [majors, [], skipped], majors
    between = _in_decades(low, high, (2, 5))
    if math.log10(2.0) * per_decade < _BETWEEN_ROOM * pitch:
        minors = between if math.log10(2.0) * per_decade >= _MINOR_GAP else []
        return [majors, [], minors], majors
    labelled = sorted(majors + between)
    if len(labelled) < 2:
        linear = _round_value_ticks(low, high, per_decade, pitch)
        return [linear], linear
    minors = (
        _in_decades(low, high, (3, 4, 6, 7, 8, 9)) if math.log10(10 / 9) * per_decade >= _MINOR_GAP else []
    )
    return [majors, between, minors], labelled


def _in_decades(low: float, high: float, mantissas: tuple[int, ...]) -> list[float]:
    """log10 of ``m · 10^d`` for each of ``mantissas`` and every decade ``d``, within ``low..high``."""
    values = (d + math.log10(m) for d in range(math.floor(low), math.ceil(high) + 1) for m in mantissas)
    return [value for value in values if low <= value <= high]


def _round_value_ticks(low: float, high: float, per_decade: float, pitch: float) -> list[float]:
    """log10 of the values between ``10**low`` and ``10**high`` that are multiples of a step of
    the 1, 2, 5 series, the closest two (at the top) at least ``pitch`` pixels apart, each with
    at most one decimal in its mantissa (so its label is exact); at least two where the range
    holds two multiples of one step."""
    bottom, top = 10.0**low, 10.0**high
    # The smallest step keeping every mantissa to one decimal: a tenth of the top decade's unit.
    finest = 0.1 * 10.0 ** math.floor(math.log10(top) + 1e-9)
    exponent = math.floor(math.log10(finest))
    previous: list[float] = []
    while True:
        for mantissa in _WITHIN_DECADE:
            size = mantissa * 10.0**exponent
            if size < finest * (1 - 1e-9):
                continue
            multiples = range(max(1, math.ceil(bottom / size - 1e-9)), math.floor(top / size + 1e-9) + 1)
            values = [math.log10(k * size) for k in multiples]
            if len(values) < 2:
                return previous or values
            if (values[-1] - values[-2]) * per_decade >= pitch:
                return values
            previous = values
        exponent += 1


class DecadeAxis(KeptRectAxis):
    """A linear axis over log10 values, labelled as the powers of ten they stand for.

    For data no float holds: a gradient norm of 1e-607 is plotted as its logarithm -606.5 on a
    linear axis and this axis writes 10⁻⁶⁰⁰ beside it. pyqtgraph's log mode cannot do that:
    it takes raw values, and its labels compute ``10 ** value``, which is 0 below 1e-308.
    Items added to such a plot carry log10 values (a reference line at 1e-3 goes at -3).

    The ticks are chosen here (:func:`decade_ticks`), not by pyqtgraph's linear spacing, whose
    tenths of a decade read as 7.9·10⁻², 6.3·10⁻², ...: whole decades, with 2 and 5 between
    them where they fit, or round values within less than a decade. Every label is
    :func:`power_of_ten_label`'s.
    """

    _labelled: frozenset[float] | None = None

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list:  # noqa: N802, N803
        low, high = sorted((minVal, maxVal))
        ticks = self._ticks(low, high, size)
        if ticks is None:
            self._labelled = None
            return super().tickValues(minVal, maxVal, size)
        levels, labelled = ticks
        self._labelled = frozenset(round(value, 9) for value in labelled)
        spacing = max(high - low, 1e-12)
        return [(spacing / (n + 1), values) for n, values in enumerate(levels)]

    def major_values(self, low: float, high: float, pixels: float) -> list[float]:
        """The values this axis gives its first tick level over ``low..high`` drawn ``pixels``
        long: the labelled decades (or, within less than a decade, its round values). For grid
        lines drawn by hand at the labels' heights."""
        ticks = self._ticks(low, high, pixels)
        return [] if ticks is None else ticks[0][0]

    def _ticks(self, low: float, high: float, pixels: float) -> tuple[list[list[float]], list[float]] | None:
        """:func:`decade_ticks` at this axis's label pitch; None for a range with no ticks of its
        own (not finite, empty, or drawn on no pixels)."""
        if not (math.isfinite(low) and math.isfinite(high)) or high <= low or pixels <= 0:
            return None
        return decade_ticks(low, high, pixels, self._label_pitch())

    def _label_pitch(self) -> float:
        """Pixels along the axis from one label to the next: the label and a gap."""
        metrics = QtGui.QFontMetricsF(self.style["tickFont"] or QtGui.QFont())
        if self.orientation in ("left", "right"):
            return 1.5 * metrics.height()
        return metrics.horizontalAdvance("5·10⁻³⁰⁰") + metrics.height()

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:  # noqa: N802
        labelled = self._labelled
        return [
            power_of_ten_label(value) if labelled is None or round(value, 9) in labelled else ""
            for value in values
        ]


def drawable(log10_values: np.ndarray) -> np.ndarray:
    """log10 values for a :class:`DecadeAxis` plot, every non-finite entry (an exact 0, inf,
    NaN) as NaN: a gap in a curve and nothing for the auto range to reach for."""
    values = np.asarray(log10_values, dtype=np.float64)
    return np.where(np.isfinite(values), values, np.nan)


def log_axes(*sides: str) -> dict[str, LogAxis]:
    """``axisItems`` for ``addPlot``: a :class:`LogAxis` on each of ``sides``."""
    return {side: LogAxis(side) for side in sides}
