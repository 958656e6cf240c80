"""The gradient plot's faint trail of one layer: each record's curve turned into a path once.

While a run trains, every frame moves the trail by one record: the newest joins, the oldest
leaves, the ten or so in between stay. A curve item given the trail's joined data anew each
frame converts every record's ``T`` points to a path again, and checks them for gaps again
(the larger part of a gradient-plot frame at T = 1000). :class:`TrailCurve` keeps each record's
path and finite range while the record is in the trail, and strokes the kept paths one after
the other (the same pixels as their join: each path is a separate line; joining them was a copy
of every path element at every frame). It is a pyqtgraph ``PlotCurveItem`` (keeping a
pixel's size per view transform: :class:`.KeptBoundsCurve`), so the light pens and the
antialiasing of figures (:mod:`.quality`) apply to it as to any curve.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from PySide6 import QtCore, QtGui

# isort: split
import pyqtgraph as pg

from gradsim.ui.training.plots.kept_bounds import KeptBoundsCurve


class _Block(NamedTuple):
    """One record's row of the trail: its values ``(T,)``, their path, finite min and max."""

    row: np.ndarray
    path: QtGui.QPainterPath
    low: float
    high: float


def _block(steps: np.ndarray, row: np.ndarray) -> _Block:
    finite = row[np.isfinite(row)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (np.inf, -np.inf)
    # With the NaN that followed the row in the joined curve: pyqtgraph ends a line before a
    # gap with a zero-length segment (its last pixel), and the joined paths are the same. A row
    # with no gap is that one polyline, its last point twice: made without the search for gaps.
    if finite.size == row.size:
        path = pg.arrayToQPath(
            np.append(steps, steps[-1]), np.append(row, row[-1]), connect="all", finiteCheck=False
        )
    else:
        path = pg.arrayToQPath(np.append(steps, np.nan), np.append(row, np.nan), connect="finite")
    return _Block(row, path, low, high)


class TrailCurve(KeptBoundsCurve):
    """Earlier records' values of one layer against ``steps``, each a separate line.

    Parameters
    ----------
    pen : the trail's pen (faint)

    :meth:`set_rows` gives the records; :meth:`getOriginalDataset` returns them joined as a
    curve item would hold them: ``steps`` and each row, each followed by NaN,
    ``(count * (T + 1),)`` each (None, None when empty).
    """

    def __init__(self, pen: QtGui.QPen) -> None:
        super().__init__(pen=pen, connect="finite")
        self._steps = np.zeros(0)
        self._keys: list[int] = []
        self._blocks: dict[int, _Block] = {}
        self._paths: list[QtGui.QPainterPath] = []
        self._joined: QtGui.QPainterPath | None = QtGui.QPainterPath()  # None: not joined yet
        self._range = (np.inf, -np.inf)

    def set_rows(self, steps: np.ndarray, rows: Sequence[tuple[int, np.ndarray]]) -> None:
        """Show ``rows``: ``(key, values (T,))`` oldest first, a key standing for one record.

        A row whose key and array (the same object) were given last time keeps its path; the
        others are converted (non-finite values are gaps).
        """
        if len(steps) != len(self._steps):
            self._blocks = {}
        self._steps = steps
        kept = self._blocks
        blocks: dict[int, _Block] = {}
        for key, row in rows:
            block = kept.get(key)
            blocks[key] = block if block is not None and block.row is row else _block(steps, row)
        self._blocks, self._keys = blocks, [key for key, _ in rows]
        self._paths = [blocks[key].path for key in self._keys]
        self._joined = None
        lows = [block.low for block in blocks.values()]
        highs = [block.high for block in blocks.values()]
        self._range = (min(lows, default=np.inf), max(highs, default=-np.inf))
        # What the base class's setData would do for new data: new bounds, a repaint.
        self.prepareGeometryChange()
        self.invalidateBounds()
        self.update()

    def getData(self) -> tuple[np.ndarray | None, np.ndarray | None]:  # noqa: N802 (pyqtgraph's name)
        """The rows joined, each followed by NaN (built on demand: not used to draw)."""
        if not self._keys:
            return None, None
        block_x = np.append(self._steps, np.nan)
        x = np.tile(block_x, len(self._keys))
        y = np.concatenate([np.append(self._blocks[key].row, np.nan) for key in self._keys])
        return x, y

    getOriginalDataset = getData  # noqa: N815 (PlotDataItem's name, which the trail replaced)

    def getPath(self) -> QtGui.QPainterPath:  # noqa: N802 (pyqtgraph's name)
        """The rows' paths joined (made on demand: the paint strokes them one by one)."""
        if self._joined is None:
            joined = QtGui.QPainterPath()
            for path in self._paths:
                joined.addPath(path)
            self._joined = joined
        return self._joined

    def dataBounds(  # noqa: N802 (pyqtgraph's name)
        self, ax: int, frac: float = 1.0, orthoRange: object = None
    ) -> tuple[float | None, float | None]:
        """The x range of the steps (``ax`` 0) or the rows' finite range (1); None, None when empty."""
        del frac, orthoRange  # the trail is added with ignoreBounds: only its own rect asks
        low, high = self._range
        if not self._keys or low > high:
            return None, None
        if ax == 0:
            return float(self._steps[0]), float(self._steps[-1])
        return low, high

    def paint(self, painter: QtGui.QPainter, option: object, widget: object = None) -> None:
        """Stroke the rows' paths with the pen (as the base class does its path for a faint pen)."""
        pen = self.opts["pen"]
        if not self._paths or pen is None or pen.style() == QtCore.Qt.PenStyle.NoPen:
            return
        if self._exportOpts is not False:
            antialias = self._exportOpts.get("antialias", True)
        else:
            antialias = self.opts["antialias"]
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, antialias)
        painter.setPen(pen)
        for path in self._paths:
            painter.drawPath(path)
