"""View ranges that follow live data in round steps, so axes are not laid out again every frame."""

from __future__ import annotations

import math

import numpy as np
from PySide6 import QtCore, QtWidgets

# isort: split
import pyqtgraph as pg


def nice_step(size: float) -> float:
    """The smallest of 1, 2, 5 times a power of ten that is at least ``size`` (> 0)."""
    power = 10.0 ** math.floor(math.log10(size))
    return next(m * power for m in (1.0, 2.0, 5.0, 10.0) if m * power >= size * (1.0 - 1e-12))


def snapped_range(
    low: float, high: float, current: tuple[float, float] | None = None, divisions: int = 20
) -> tuple[float, float]:
    """``[low, high]`` widened outward to multiples of a round step about ``1/divisions`` of it.

    ``current`` (the last result) is kept while it holds ``[low, high]`` and is at most 1.3
    times the snapped width, so a range that follows live data changes only when the data
    leaves it or shrinks well inside it, not on every frame.
    """
    span = max(high - low, 1e-9 * max(1.0, abs(low), abs(high)))
    step = nice_step(span / divisions)
    if current is not None and current[0] <= low and current[1] >= high:
        if current[1] - current[0] <= 1.3 * (span + 2.0 * step):
            return current
    snapped_low, snapped_high = math.floor(low / step) * step, math.ceil(high / step) * step
    if snapped_high <= snapped_low:
        snapped_high = snapped_low + step
    return snapped_low, snapped_high


class SnappedBounds(pg.GraphicsObject):
    """An invisible item that gives pyqtgraph's auto range the data's range, snapped.

    Add the live curves with ``ignoreBounds=True`` and this item without: the auto range (the
    "A" button, and following the data until the user zooms) then sees :func:`snapped_range`
    of the values, which changes only now and then. Every frame the curves move but the view
    range does not, so the axes, their labels and the grid are not laid out again, and the view
    box does not scan every curve for its bounds.

    Ranges are in view coordinates (log10 values on a log axis).
    """

    def __init__(self) -> None:
        super().__init__()
        self.ranges: list[tuple[float, float] | None] = [None, None]

    def set_range(self, axis: int, low: float, high: float) -> None:
        """Follow ``[low, high]`` on ``axis`` (0: x, 1: y), snapped; non-finite: no bounds."""
        if not (math.isfinite(low) and math.isfinite(high)):
            snapped = None
        else:
            snapped = snapped_range(low, high, self.ranges[axis])
        if snapped != self.ranges[axis]:
            self.ranges[axis] = snapped
            self.informViewBoundsChanged()

    def set_exact(self, axis: int, low: float, high: float) -> None:
        """Bounds ``[low, high]`` on ``axis`` as they are (for a range that rarely changes)."""
        if self.ranges[axis] != (low, high):
            self.ranges[axis] = (low, high)
            self.informViewBoundsChanged()

    def clear(self) -> None:
        """No bounds (the view keeps its range)."""
        if self.ranges != [None, None]:
            self.ranges = [None, None]
            self.informViewBoundsChanged()

    def dataBounds(  # noqa: N802 (pyqtgraph's interface)
        self,
        ax: int,
        frac: float = 1.0,
        orthoRange: object = None,  # noqa: N803
    ) -> tuple[float, float] | None:
        return self.ranges[ax]

    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802
        return QtCore.QRectF()

    def paint(self, *args: object) -> None:
        pass


class LiveViewBox(pg.ViewBox):
    """A view box whose auto range is worked out again only when an item it ranges over changed.

    pyqtgraph's view box queues an auto-range update (a pass over the items it ranges over, at
    the next paint) whenever *any* item in it reports new bounds, including the items added
    with ``ignoreBounds``, which the auto range never looks at. The live curves are added that
    way (:class:`SnappedBounds` stands for them), and they change every frame: the gradient and
    loss plots' views worked their ranges out three times a frame to find them unchanged.
    """

    def itemBoundsChanged(self, item: QtWidgets.QGraphicsItem) -> None:  # noqa: N802 (pyqtgraph's name)
        """Queue an auto-range update if ``item`` is (or is part of) an item the range follows."""
        node: QtWidgets.QGraphicsItem | None = item
        while node is not None and node is not self.childGroup:
            if node in self.addedItems:
                super().itemBoundsChanged(item)
                return
            node = node.parentItem()
        self._itemBoundsCache.pop(item, None)


def finite_range(*arrays: np.ndarray) -> tuple[float, float]:
    """Min and max of the finite values of ``arrays`` (NaN, NaN when there are none)."""
    low, high = math.inf, -math.inf
    for values in arrays:
        finite = values[np.isfinite(values)]
        if finite.size:
            low, high = min(low, float(finite.min())), max(high, float(finite.max()))
    return (low, high) if low <= high else (math.nan, math.nan)
