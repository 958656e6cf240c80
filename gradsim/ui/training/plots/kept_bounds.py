"""Curves whose bounding rectangle after a change of data costs no pass over the view's transforms.

Qt asks a curve item for its bounding rectangle several times per paint. pyqtgraph keeps the
rectangle until the data or the view's transform change, but a live curve's data change every
frame, and working the rectangle out again costs two things: the data's min and max (through
``np.nanmin``/``np.nanmax`` inside a ``warnings.catch_warnings`` block) and the size of a pixel
in data units for the pen's padding (``pixelVectors``: the item's device transform, made by
mapping through the scene and the view, about half of the cost). The pixel's size changes only
with the view's transform (a new range or size, when pyqtgraph calls ``viewTransformChanged``);
the min and max of all-finite data are two plain reductions. :class:`KeptBoundsCurve` keeps the
first and takes the short route for the second; the rectangle is the one pyqtgraph works out
(tested). In 200 profiled live frames (refresh and the paint on screen) the curves' bounding
rectangles went from 0.91 to 0.48 s, ``pixelVectors`` from 3238 to 1038 calls; on its own the
change is within the noise of a frame (benchmarks/README.md, "Bounds, titles and bars kept").
"""

from __future__ import annotations

import math

import numpy as np
from PySide6 import QtCore

# isort: split
import pyqtgraph as pg


class KeptBoundsCurve(pg.PlotCurveItem):
    """A ``pg.PlotCurveItem`` (same options, same rectangle) that keeps a pixel's size per view
    transform and finds all-finite data's bounds without pyqtgraph's NaN-safe pass."""

    # The pixel vectors of the current view transform (None: ask pyqtgraph at the next need).
    _pixel_vectors: tuple[QtCore.QPointF, QtCore.QPointF] | None = None

    def viewTransformChanged(self) -> None:  # noqa: N802 (pyqtgraph's name)
        self._pixel_vectors = None
        super().viewTransformChanged()

    def pixelVectors(  # noqa: N802 (pyqtgraph's name)
        self, direction: QtCore.QPointF | None = None
    ) -> tuple[pg.Point | None, pg.Point | None]:
        """pyqtgraph's pixel vectors (local width and height of a device pixel), kept until the
        view's transform changes (``direction`` given: asked of pyqtgraph every time)."""
        if direction is not None:
            return super().pixelVectors(direction)
        if self._pixel_vectors is None:
            x, y = super().pixelVectors()
            if x is None or y is None:
                return x, y  # not shown yet: ask again next time
            self._pixel_vectors = (QtCore.QPointF(x), QtCore.QPointF(y))
        x, y = self._pixel_vectors
        return pg.Point(x), pg.Point(y)

    def dataBounds(  # noqa: N802 (pyqtgraph's name)
        self,
        ax: int,
        frac: float = 1.0,
        orthoRange: tuple[float, float] | None = None,  # noqa: N803
    ) -> tuple[float | None, float | None]:
        """pyqtgraph's bounds of the data on axis ``ax``; for the whole range of all-finite data
        (what the bounding rectangle asks), two reductions instead of its NaN-safe pass."""
        cache = self._boundsCache[ax]
        if cache is not None and cache[0] == (frac, orthoRange):
            return cache[1]
        x, y = self.getData()
        if frac < 1.0 or orthoRange is not None or x is None or len(x) == 0 or ax not in (0, 1):
            return super().dataBounds(ax, frac, orthoRange)
        values = x if ax == 0 else y
        low, high = float(np.min(values)), float(np.max(values))
        if not (math.isfinite(low) and math.isfinite(high)):
            return super().dataBounds(ax, frac, orthoRange)  # gaps: pyqtgraph's route
        if ax == 1 and self.opts["fillLevel"] not in (None, "enclosed"):
            return super().dataBounds(ax, frac, orthoRange)
        for pen in (self.opts["pen"], self.opts["shadowPen"]):
            if pen is not None and not pen.isCosmetic() and pen.style() != QtCore.Qt.PenStyle.NoPen:
                low, high = low - pen.widthF() * 0.7072, high + pen.widthF() * 0.7072
        bounds = (low, high)
        self._boundsCache[ax] = [(frac, orthoRange), bounds]
        return bounds


def use_kept_bounds(item: pg.PlotDataItem) -> None:
    """Give ``item`` a :class:`KeptBoundsCurve` in place of its curve (before it has data; the
    curve keeps its place under the item's symbols and passes its clicks on, as pyqtgraph's)."""
    old = item.curve
    curve = KeptBoundsCurve()
    curve.setParentItem(item)
    curve.stackBefore(item.scatter)
    curve.sigClicked.connect(item.sigClicked)
    old.sigClicked.disconnect(item.sigClicked)
    old.setParentItem(None)
    if old.scene() is not None:
        old.scene().removeItem(old)
    item.curve = curve
    item.updateItems(styleUpdate=True)
