"""Bars whose bounding rectangle is worked out once per change, not at every paint.

pyqtgraph's ``BarGraphItem`` computes its bounding rectangle anew each time Qt asks (its data
bounds, then the size of a pixel in data units for the pen's padding), and Qt asks several
times per paint of a view: the health plot's six bar items cost about as much as the rest of
its paint. The rectangle only changes with the bars (``setOpts``) or the view's transform
(pyqtgraph's ``viewTransformChanged``, which also covers a resize): :class:`Bars` keeps it in
between, as pyqtgraph's curves do.
"""

from __future__ import annotations

from PySide6 import QtCore

# isort: split
import pyqtgraph as pg


class Bars(pg.BarGraphItem):
    """A ``pg.BarGraphItem`` (same options, same picture) that keeps its bounding rectangle."""

    _rect: QtCore.QRectF | None = None

    def setOpts(self, **opts: object) -> None:  # noqa: N802 (pyqtgraph's name)
        self._rect = None
        super().setOpts(**opts)

    def viewTransformChanged(self) -> None:  # noqa: N802 (pyqtgraph's name)
        self._rect = None
        self.prepareGeometryChange()
        super().viewTransformChanged()

    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802 (Qt's name)
        if self._rect is None:
            self._rect = super().boundingRect()
        return QtCore.QRectF(self._rect)
