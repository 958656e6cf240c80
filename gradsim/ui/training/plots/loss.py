"""Loss against iteration, and the global gradient norm before and after clipping.

Two stacked plots share the iteration axis: the loss on top, the global norm below (both log
y). Iterations where clipping acted are marked on the norm curve; with clipping by norm the
threshold is drawn as a dashed line. A non-finite loss or norm cannot sit on a log axis: the
iteration where the run went non-finite gets a red line on both plots and a message.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6 import QtGui, QtWidgets

# isort: split
import pyqtgraph as pg

from gradsim.engine.config import SimConfig
from gradsim.engine.history import RunHistory
from gradsim.ui.common.theme import Theme, style_plot
from gradsim.ui.training.plots.base import OverlayText, PlotPanel, SnappedBounds, log_axes, snapped_range
from gradsim.ui.training.plots.live_line import LiveLine

# Up to this many iterations the curves also mark each point.
FEW_POINTS = 30


class LossPlot(PlotPanel):
    """Loss (top) and global gradient norm before/after clipping (bottom) against iteration.

    Attributes
    ----------
    loss_plot, norm_plot : the two PlotItems (x linked, log y)
    loss_curve : ``history.losses()`` against ``history.iterations()`` (a :class:`LiveLine`, as
        the two norm curves)
    norm_before_curve, norm_after_curve : ``history.global_norms()`` against the iterations
    clip_markers : ``(iteration, norm before)`` of the iterations where clipping acted
    bounds : ``{"loss", "norm"}`` -> the y range the auto range of each plot sees (log10 of
        the curves' range, snapped to round steps; the curves are added with ``ignoreBounds``)
    threshold_line : the clip threshold (clip by norm only), at ``log10(threshold)``
    nonfinite_lines : red vertical lines at the first non-finite iteration (one per plot)
    message : overlay text naming the non-finite iteration
    """

    def __init__(self, theme: Theme | None = None, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(theme, parent)
        theme = self.theme
        self.loss_plot = self._add_plot(row=0, col=0, axisItems=log_axes("left"))
        self.norm_plot = self._add_plot(row=1, col=0, axisItems=log_axes("left"))
        style_plot(self.loss_plot, theme, title="Loss and gradient norm", left="loss  (log)")
        style_plot(self.norm_plot, theme, left="||dL/dθ||", bottom="iteration")
        self._set_title(self.loss_plot, "Loss and gradient norm", shorter=("Loss, gradient norm", "Loss"))
        # In the tick size: the norm plot is the lower half of a short pane at 1280 x 720.
        small = {"font-size": f"{theme.tick_pt}pt"}
        self.norm_plot.getAxis("left").setLabel("||dL/dθ||", color=theme.foreground, **small)
        self.loss_plot.hideAxis("bottom")  # shared with the norm plot below
        for plot in (self.loss_plot, self.norm_plot):
            plot.setLogMode(x=False, y=True)
            # Both left axes equally wide, so the linked x axes line up.
            plot.getAxis("left").setWidth(74)
        self.norm_plot.setXLink(self.loss_plot)
        # Long curves: pyqtgraph draws only the visible part, at most a few points per pixel
        # (the min and max of each group, so no spike is lost); the data arrays stay whole.
        # The auto range sees the snapped bounds, not the curves, and the x range grows in
        # round steps: the axes are laid out again only when the data leaves the range.
        self.bounds = {"loss": SnappedBounds(), "norm": SnappedBounds()}
        self.loss_plot.addItem(self.bounds["loss"])
        self.norm_plot.addItem(self.bounds["norm"])
        self.loss_curve = self._line(self.loss_plot, theme.pen(theme.loss, 2))
        self.norm_before_curve = self._line(self.norm_plot, theme.pen(theme.norm_before, 2))
        self.norm_after_curve = self._line(self.norm_plot, theme.pen(theme.norm_after, 2, dashed=True))
        self.clip_markers = self._curve(self.norm_plot, pg.PlotDataItem(
            connect="finite", pen=None, symbol="o", symbolSize=7, symbolBrush=theme.clip_marker,
            symbolPen=theme.pen(theme.clip_marker, 1),
        ))  # fmt: skip
        self.clip_markers.setDownsampling(ds=1, auto=False)  # markers are few, each one counts
        self._x_range: tuple[float, float] | None = None
        self.threshold_line = pg.InfiniteLine(
            angle=0, movable=False, pen=theme.pen(theme.reference, 1.5, dashed=True),
            label="clip threshold",
            labelOpts={"position": 0.02, "color": theme.reference, "anchors": [(0, 1), (0, 1)]},
        )  # fmt: skip
        self.norm_plot.addItem(self.threshold_line, ignoreBounds=True)
        self.nonfinite_lines = []
        for plot in (self.loss_plot, self.norm_plot):
            line = pg.InfiniteLine(angle=90, movable=False, pen=theme.pen(theme.nonfinite, 2, dashed=True))
            plot.addItem(line, ignoreBounds=True)
            self.nonfinite_lines.append(line)
        # A coloured key as the norm plot's title: a legend box would hide the curves.
        key = (
            f"<span style='color:{theme.norm_before}'>━ before</span>&nbsp; "
            f"<span style='color:{theme.norm_after}'>╍ after</span>&nbsp; "
            f"<span style='color:{theme.clip_marker}'>● clipped</span>"
        )
        self._set_title(self.norm_plot, key, theme.tick_pt, justify="left")
        self._symbols = False
        # What the curves' whole series hold, brought up to date with the new entries only.
        self._summaries = {name: _Summary() for name in ("loss", "before", "after")}
        self.message = OverlayText(self.loss_plot, theme, "top-right", theme.nonfinite)
        self.graphics.ci.layout.setRowStretchFactor(0, 1)
        self.graphics.ci.layout.setRowStretchFactor(1, 1)
        self._clear()

    @staticmethod
    def _line(plot: pg.PlotItem, pen: QtGui.QPen) -> LiveLine:
        """A long line in ``plot`` (:meth:`_curve`) whose new data reach its curve without its
        style set again (:class:`LiveLine`; with pyqtgraph's own dynamic-range limit)."""
        line = LiveLine(pen=pen, connect="finite", dynamicRangeLimit=1e6)
        LossPlot._curve(plot, line)
        return line

    @staticmethod
    def _curve(plot: pg.PlotItem, curve: pg.PlotDataItem) -> pg.PlotDataItem:
        """``curve`` as a long curve in ``plot``: downsampled, clipped to the view, ignored by
        the auto range (``bounds`` stands for it)."""
        plot.addItem(curve, ignoreBounds=True)
        curve.setDownsampling(auto=True, method="peak")
        # Groups of about a pixel, each drawn as its min and max ("peak": no spike is lost);
        # pyqtgraph's default of five samples per pixel never thins 1000 points in a pane a
        # few hundred pixels wide.
        curve.opts["autoDownsampleFactor"] = 1.0
        curve.setClipToView(True)
        return curve

    def _draw(self, history: RunHistory, config: SimConfig) -> None:
        if len(history) == 0:
            self._clear()
            return
        iterations = history.iterations().astype(np.float64)
        losses = history.losses()
        before, after = history.global_norms()
        clipped = history.clipped()
        # A run that stops after a step or two has no line to draw: show its points.
        symbols = len(iterations) <= FEW_POINTS
        if symbols != self._symbols:
            for curve in (self.loss_curve, self.norm_before_curve, self.norm_after_curve):
                curve.setSymbol("o" if symbols else None)
                curve.setSymbolSize(5)
                curve.setSymbolPen(curve.opts["pen"])
                curve.setSymbolBrush(curve.opts["pen"].color())
            self._symbols = symbols
        summaries = self._summaries
        series = (("loss", self.loss_curve, losses), ("before", self.norm_before_curve, before),
                  ("after", self.norm_after_curve, after))  # fmt: skip
        for name, curve, values in series:
            summaries[name].update(values, history.thinnings)
            # Positive finite values all: no gaps to look for on the log axis.
            curve.set_line(iterations, values, skip_finite_check=summaries[name].drawable)
        markers = (iterations[clipped], before[clipped])
        shown = self.clip_markers.getOriginalDataset()
        if shown[0] is None:  # (pyqtgraph gives no arrays for empty data)
            shown = (np.zeros(0), np.zeros(0))
        if not all(np.array_equal(a, b, equal_nan=True) for a, b in zip(shown, markers, strict=True)):
            self.clip_markers.setData(*markers)
        self.bounds["loss"].set_range(1, *summaries["loss"].log_range())
        self.bounds["norm"].set_range(1, *summaries["before"].log_range(summaries["after"]))
        # Set the x range here: pyqtgraph's auto range skips iterations whose values are not
        # finite, which would hide the iteration where the run exploded.
        first, last = float(iterations[0]), float(iterations[-1])
        x_range = snapped_range(first - 0.5, max(last, first + 1.0) + 0.5, self._x_range)
        if x_range != self._x_range:
            self.loss_plot.setXRange(*x_range, padding=0.02)
            self._x_range = x_range
        if config.clip_mode == "norm":
            self.threshold_line.setPos(math.log10(config.clip_threshold))
            self.threshold_line.show()
        else:
            self.threshold_line.hide()
        record = history.nonfinite_record
        if record is None:
            for line in self.nonfinite_lines:
                line.hide()
            self.message.show_text("")
            return
        for line in self.nonfinite_lines:
            line.setPos(record.iteration)
            line.show()
        if not np.isfinite(record.loss):
            what = "loss"
        elif not np.isfinite(record.global_norm_before):
            what = "gradient norm"
        else:
            what = "values"  # e.g. the update overflowed the parameters
        self.message.show_text(f"non-finite {what} at iteration {record.iteration}")

    def _forget(self) -> None:
        self._x_range = None
        for summary in self._summaries.values():
            summary.reset()

    def _clear(self) -> None:
        for item in (self.loss_curve, self.norm_before_curve, self.norm_after_curve, self.clip_markers):
            item.setData([], [])
        for bounds in self.bounds.values():
            bounds.clear()
        self._forget()
        self.threshold_line.hide()
        for line in self.nonfinite_lines:
            line.hide()
        self.message.show_text("")


class _Summary:
    """The range of a series' positive finite values, and whether it holds only such values.

    The history's series only grow at their end between two thinnings (``history.thinnings``):
    :meth:`update` reads the new entries only, and the whole series after a thinning.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget the series (the next :meth:`update` reads it whole)."""
        self._thinnings: int | None = None
        self._count = 0
        self.low, self.high = math.inf, -math.inf  # of the positive finite values
        self.drawable = True  # every value positive and finite

    def update(self, values: np.ndarray, thinnings: int) -> None:
        """Take in ``values`` ``(n,)``, the whole series, of which only entries past the last
        ``n`` read are new unless the history was thinned (``thinnings`` changed) since."""
        if thinnings != self._thinnings or len(values) < self._count:
            self.reset()
            self._thinnings = thinnings
        new = values[self._count :]
        good = np.isfinite(new) & (new > 0)
        if not good.all():
            self.drawable = False
        if good.any():
            self.low = min(self.low, float(new[good].min()))
            self.high = max(self.high, float(new[good].max()))
        self._count = len(values)

    def log_range(self, *others: _Summary) -> tuple[float, float]:
        """log10 of the min and max positive finite value of this series and ``others`` (NaN,
        NaN if none): found without reading the series again."""
        low = min([self.low, *(other.low for other in others)])
        high = max([self.high, *(other.high for other in others)])
        if low > high:
            return math.nan, math.nan
        return math.log10(low), math.log10(high)
