"""A curve whose points change every live frame and whose style does not.

pyqtgraph's ``PlotDataItem.setData`` is written for any change at all: it sets every style
option of its curve again (a new copy of the pen, the brush, the fill), works out the data's
bounds for its display options (clipping to the view, downsampling, the dynamic-range limit)
and runs the data through them, before the curve item converts the points. For a plain line
(none of those options) that is about 250 us a call against 40 us for the curve item's own
``setData`` (a micro-benchmark, T = 1000): the gradient plot's four bold curves spent about
0.8 ms of every live frame there; its data update went from 2.5-2.7 to 1.8-2.0 ms of CPU with
this and the trail's gapless rows (benchmarks/README.md, "Less redone per live frame").
:meth:`LiveLine.set_line` gives the new points to the curve item directly when the display
would show them as they are; for a line that pyqtgraph maps or reduces (the loss plot's curves:
log axis, clipped to the view, downsampled) it gives the curve the result of pyqtgraph's
display pass, without setting the style again; otherwise (symbols, a fill) it falls back to
``setData``: about 0.2 ms less of the loss plot's data update a live frame, out of 1.1
(benchmarks/README.md, "Bounds, titles and bars kept").
"""

from __future__ import annotations

import numpy as np

# isort: split
import pyqtgraph as pg
from pyqtgraph.graphicsItems.PlotDataItem import PlotDataset

from gradsim.ui.training.plots.kept_bounds import use_kept_bounds

# The PlotDataItem options under which its display data are the data as given.
_PLAIN = {
    "fftMode": False,
    "logMode": [False, False],
    "derivativeMode": False,
    "phasemapMode": False,
    "subtractMeanMode": False,
    "downsample": 1,
    "autoDownsample": False,
    "clipToView": False,
    "dynamicRangeLimit": None,
    "symbol": None,
}


class LiveLine(pg.PlotDataItem):
    """A ``PlotDataItem`` (legend, pens, figures as any) whose live data go in by :meth:`set_line`.

    It is made without pyqtgraph's dynamic-range limit (which clips values more than a million
    view heights away: none of a plot's log10 values are), and its curve is a
    :class:`~gradsim.ui.training.plots.kept_bounds.KeptBoundsCurve`.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        # Whether the curve item has the style of this item (pyqtgraph hands it over only along
        # with data: an item made or restyled while empty has not).
        self._styled = False
        kwargs.setdefault("dynamicRangeLimit", None)
        super().__init__(*args, **kwargs)
        use_kept_bounds(self)

    def updateItems(self, styleUpdate: bool = True) -> None:  # noqa: N802, N803 (pyqtgraph's names)
        """pyqtgraph's update of the curve item (style and data), noting whether the style went."""
        super().updateItems(styleUpdate)
        self._styled = self._dataset is not None

    def plain(self) -> bool:
        """Whether the item displays its data as given (no option transforms or reduces them)."""
        opts = self.opts
        return all(opts.get(key) == value for key, value in _PLAIN.items()) and (
            self._drawn() and isinstance(opts["connect"], str)
        )

    def live(self) -> bool:
        """Whether the curve item alone shows the data (a line or a filled area: no symbols, a
        named connection other than "auto"), so that new data need not set its style again."""
        opts = self.opts
        return (
            self._drawn()
            and isinstance(opts["connect"], str)
            and opts["connect"] != "auto"
            and opts["symbol"] is None
        )

    def _drawn(self) -> bool:
        """Whether pyqtgraph shows the curve item: a pen, or a fill (a level and a brush)."""
        opts = self.opts
        return opts["pen"] is not None or (opts["fillBrush"] is not None and opts["fillLevel"] is not None)

    def set_line(self, x: np.ndarray, y: np.ndarray, skip_finite_check: bool = False) -> None:
        """Show the points ``(x, y)``, ``(n,) float64`` each; ``skip_finite_check`` when all are
        finite. The same as ``setData(x, y, skipFiniteCheck=...)``, without setting the style.

        An item that maps or reduces its data (a log axis, clipping to the view, downsampling)
        gives the curve what pyqtgraph's display pass makes of them, as ``setData`` would.
        """
        if not self._styled or not self.live() or len(x) == 0 or len(y) == 0:
            self.setData(x, y, skipFiniteCheck=skip_finite_check)
            return
        self.opts["skipFiniteCheck"] = skip_finite_check
        x = np.asarray(x).view(np.ndarray)
        y = np.asarray(y).view(np.ndarray)
        self._dataset = PlotDataset(x, y)
        # What setData drops: the mapped and displayed data are made again when asked for.
        self._datasetMapped = None
        self._datasetDisplay = None
        self._adsLastValue = 1
        connect = self.opts["connect"]
        if not self.plain():
            shown = self._getDisplayDataset()
            if shown is None:  # nothing to show: pyqtgraph's way (the curve hides)
                self.updateItems(styleUpdate=False)
                self.informViewBoundsChanged()
                self.sigPlotChanged.emit(self)
                return
            x, y = shown.x, shown.y
            if shown.connect is not None:
                connect = shown.connect
        # Points all finite: one polyline, the path pyqtgraph's "finite" search would make of
        # them (one chunk), without the search (as its own "auto" connection does).
        if skip_finite_check and isinstance(connect, str) and connect == "finite":
            connect = "all"
        self.curve.setData(x=x, y=y, connect=connect, skipFiniteCheck=skip_finite_check)
        self.curve.show()
        self.informViewBoundsChanged()
        self.sigPlotChanged.emit(self)
