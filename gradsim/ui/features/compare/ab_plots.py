"""The A/B tab's plots: A's and B's ``||dL/dh_t||``, their losses and the ratio B / A (display only).

:class:`ABPlots` builds the pyqtgraph items once, lays them out side by side or overlaid, and
draws the pair's latest records into them; the view (:mod:`.ab_view`) decides when.
"""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore

# isort: split
import pyqtgraph as pg

from gradsim.engine.formatting import format_ratio
from gradsim.engine.history import RunHistory
from gradsim.engine.records import StepRecord
from gradsim.ui.common.scaling import scale_items, scale_of, scale_plots
from gradsim.ui.common.theme import Theme, style_plot
from gradsim.ui.features.compare.ab_runner import SIDES
from gradsim.ui.training.plots.base import (
    DecadeAxis,
    OverlayText,
    RowLegend,
    drawable,
    install_title,
    log_axes,
    set_title,
)


class ABPlots:
    """The four plots of the A/B tab in one graphics widget, and their shared key.

    Attributes
    ----------
    graphics : the pg.GraphicsLayoutWidget holding them
    gradient_plots : ``{"A", "B"}`` -> PlotItem of ``||dL/dh_t||`` of the latest step: log10
        data (``record.log10_grad_norms``, exact below float64) on a :class:`DecadeAxis`
    gradient_curves : ``{"A", "B"}`` -> one PlotDataItem per layer in its side's plot
    overlay_curves : B's curves drawn dashed in A's plot (overlaid layout)
    loss_plot, loss_curves : losses of A (solid) and B (dashed) against iteration (log y)
    ratio_plot, ratio_curves : ``B / A`` per layer and time step as log10 data, the difference
        of the two records' ``log10_grad_norms`` (defined where both are below float64)
    ratio_note : text on the ratio plot when there is no ratio
    legend : the layer colours' key under the plots
    layout_mode : ``"side"`` or ``"overlay"``
    """

    def __init__(self, theme: Theme, side_colors: dict[str, str]) -> None:
        self.theme, self.side_colors = theme, side_colors
        self._width_before_presentation: int | None = None  # the plots' minimum, in the mode
        graphics = pg.GraphicsLayoutWidget()
        graphics.setObjectName("ab_plots")
        graphics.setBackground(theme.background)
        graphics.ci.setContentsMargins(4, 4, 8, 4)
        self.graphics = graphics
        self.gradient_plots: dict[str, pg.PlotItem] = {}
        for side in SIDES:
            # log10 data on an axis labelled in powers of ten: norms below float64 stay drawn.
            plot = pg.PlotItem(axisItems={"left": DecadeAxis("left")})
            plot.setMenuEnabled(False)
            install_title(plot)  # titles that never widen the plot past the pane
            style_plot(plot, theme, title=f"{side}: ||dL/dh_t||", left="||dL/dh_t||", bottom="time step t")
            # In the tick size: side by side, each plot is a quarter of the plot area at 1280 px.
            small = {"font-size": f"{theme.tick_pt}pt"}
            plot.getAxis("bottom").setLabel("time step t", color=theme.foreground, **small)
            self.gradient_plots[side] = plot
        self.gradient_plots["B"].setYLink(self.gradient_plots["A"])
        # One key for the layer colours of all four plots (the ratio plot's curves too), in a row
        # under them: a box in A's corner hid its curves and left the ratio plot without a key.
        self.legend = RowLegend(
            graphics, labelTextColor=theme.foreground, labelTextSize=f"{theme.tick_pt}pt", horSpacing=18
        )
        self.gradient_curves: dict[str, list[pg.PlotDataItem]] = {side: [] for side in SIDES}
        self.overlay_curves: list[pg.PlotDataItem] = []
        self.loss_plot = pg.PlotItem(axisItems=log_axes("left"))
        self.loss_plot.setMenuEnabled(False)
        install_title(self.loss_plot)
        style_plot(self.loss_plot, theme, left="loss  (log)", bottom="iteration")
        # The key is the title, in the sides' colours (a legend box sat on the curves).
        key = {
            side: f"<span style='color:{self.side_colors[side]}'>{'━' if side == 'A' else '╍'} {side}</span>"
            for side in SIDES
        }
        title_style = {"color": theme.foreground, "size": f"{theme.title_pt}pt"}
        set_title(self.loss_plot, f"Loss of {key['A']} and {key['B']}", f"Loss {key['A']} {key['B']}",
                  f"{key['A']} {key['B']}", **title_style)  # fmt: skip
        self.loss_plot.setLogMode(x=False, y=True)
        self.loss_curves = {
            side: self.loss_plot.plot(
                pen=theme.pen(self.side_colors[side], 2, dashed=side == "B"), connect="finite", name=side
            )
            for side in SIDES
        }
        self.ratio_plot = pg.PlotItem(axisItems={"left": DecadeAxis("left")})
        self.ratio_plot.setMenuEnabled(False)
        install_title(self.ratio_plot)
        style_plot(self.ratio_plot, theme, left="B / A", bottom="time step t")
        self._set_ratio_title("")
        # The ratio's time axis follows A's (zooming one zooms the other): linked side by side,
        # copied when overlaid (see arrange).
        self.gradient_plots["A"].getViewBox().sigXRangeChanged.connect(self._follow_time_range)
        self.ratio_line = pg.InfiniteLine(
            pos=0.0, angle=0, movable=False, pen=theme.pen(theme.reference, 1.5, dashed=True),
            label="B = A",
            labelOpts={"position": 0.02, "color": theme.reference, "anchors": [(0, 1), (0, 1)]},
        )  # fmt: skip
        self.ratio_plot.addItem(self.ratio_line, ignoreBounds=True)
        self.ratio_curves: list[pg.PlotDataItem] = []
        self.ratio_note = OverlayText(self.ratio_plot, theme, "top-left", theme.note)
        self.layout_mode = ""
        self.arrange("side")

    def arrange(self, mode: str) -> None:
        """``"side"``: A's and B's gradient plots next to each other; ``"overlay"``: B dashed on A."""
        if mode == self.layout_mode:
            return
        layout = self.graphics.ci
        for item in (*self.gradient_plots.values(), self.loss_plot, self.ratio_plot, self.legend):
            if item in layout.items:
                layout.removeItem(item)
        plot_a, plot_b = self.gradient_plots["A"], self.gradient_plots["B"]
        if mode == "side":
            layout.addItem(plot_a, row=0, col=0)
            layout.addItem(plot_b, row=0, col=1)
            plot_b.setVisible(True)
        else:
            layout.addItem(plot_a, row=0, col=0, colspan=2)
            plot_b.setVisible(False)
        layout.addItem(self.loss_plot, row=1, col=0)
        layout.addItem(self.ratio_plot, row=1, col=1)
        layout.addItem(self.legend, row=2, col=0, colspan=2)
        for curve in self.overlay_curves:
            curve.setVisible(mode == "overlay")
        # Overlaid, A spans both columns and so overlaps the ratio plot below its right half: a
        # link would line the two time axes up on screen and show only steps of that half
        # (28-53 of 1-50); the ratio plot then takes A's range as it is instead.
        self.ratio_plot.setXLink(plot_a if mode == "side" else None)
        self.layout_mode = mode
        self._follow_time_range()
        self._draw_titles()
        # The plots' own minimum width becomes the widget's, so that the splitter narrows the
        # editor (which scrolls) instead of cutting the right-hand column of plots.
        self.fit_width()

    def _follow_time_range(self, *_: object) -> None:
        """Overlaid: give the ratio plot A's time range (side by side, the link does it)."""
        if self.layout_mode == "overlay":
            low, high = self.gradient_plots["A"].getViewBox().viewRange()[0]
            self.ratio_plot.setXRange(low, high, padding=0.0)

    def set_presentation_scale(self, scale: float) -> None:
        """The plots and their keys ``scale`` times larger (1: as they were); the y axes whose
        titles already name them (||dL/dh_t||, loss) leave their names to the titles, and the
        loss plot's key is one row."""
        normal = scale == 1.0
        for plot in (*self.gradient_plots.values(), self.loss_plot):
            plot.getAxis("left").showLabel(normal)
        if self.loss_plot.legend is not None:
            self.loss_plot.legend.setColumnCount(1 if normal else 2)
        if not normal and self._width_before_presentation is None:
            self._width_before_presentation = self.graphics.minimumWidth()
        scale_plots(self.graphics, scale)
        self.legend.fit()
        if normal and self._width_before_presentation is not None:
            self.graphics.setMinimumWidth(self._width_before_presentation)  # as it was
            self._width_before_presentation = None
        else:
            self.fit_width()

    def fit_width(self) -> None:
        """The plots' own minimum width becomes the widget's (times the presentation scale)."""
        needed = self.graphics.ci.layout.effectiveSizeHint(QtCore.Qt.SizeHint.MinimumSize).width()
        self.graphics.setMinimumWidth(int(needed * scale_of(self.graphics)) + 4)

    def draw(self, history_a: RunHistory, history_b: RunHistory) -> None:
        """Draw both sides' latest records and losses (both histories hold a record)."""
        latest_a, latest_b = history_a.latest, history_b.latest
        assert latest_a is not None and latest_b is not None
        for side, record in (("A", latest_a), ("B", latest_b)):
            self._draw_gradient(side, record)
        self._fit_gradient_range(latest_a, latest_b)
        for side, history in (("A", history_a), ("B", history_b)):
            self.loss_curves[side].setData(history.iterations().astype(np.float64), history.losses())
        self._draw_ratio(latest_a, latest_b)
        self._draw_titles(latest_a.iteration)

    def _ensure_curves(self, curves: list[pg.PlotDataItem], plot: pg.PlotItem, count: int, kind: str) -> None:
        """Create curves up to ``count`` layers (once); show exactly ``count``."""
        theme = self.theme
        while len(curves) < count:
            k = len(curves)
            color = theme.layer_color(k)
            width = 2.5 if kind != "ratio" else 2.0
            curve = pg.PlotDataItem(pen=theme.pen(color, width, dashed=kind == "overlay"), connect="finite")
            plot.addItem(curve)
            if kind == "A":
                self.legend.addItem(curve, f"layer {k + 1}")
            if kind == "overlay":
                curve.setVisible(self.layout_mode == "overlay")
            curves.append(curve)
            if scale_of(self.graphics) != 1.0:
                scale_items(self.graphics, scale_of(self.graphics))  # the new curve's pen
        for k, curve in enumerate(curves):
            if k >= count:
                curve.setData([], [])

    def _draw_gradient(self, side: str, record: StepRecord) -> None:
        norms = drawable(record.log10_grad_norms)
        count, seq_len = norms.shape
        steps = np.arange(1, seq_len + 1, dtype=np.float64)
        curves = self.gradient_curves[side]
        self._ensure_curves(curves, self.gradient_plots[side], count, side)
        for k in range(count):
            curves[k].setData(steps, norms[k])
        if side == "B":
            self._ensure_curves(self.overlay_curves, self.gradient_plots["A"], count, "overlay")
            for k in range(count):
                self.overlay_curves[k].setData(steps, norms[k])

    def _fit_gradient_range(self, record_a: StepRecord, record_b: StepRecord) -> None:
        """A's and B's gradient plots share a y range (B's is linked to A's) that holds both
        sides' curves: A's own auto range cut off B's curves above or below it."""
        values = np.concatenate([drawable(r.log10_grad_norms).ravel() for r in (record_a, record_b)])
        finite = values[np.isfinite(values)]
        if finite.size:
            low, high = float(finite.min()), float(finite.max())
            half = max(high - low, 0.2) / 2  # at least a fifth of a decade
            middle = (low + high) / 2
            self.gradient_plots["A"].setYRange(middle - half, middle + half, padding=0.05)

    def _draw_ratio(self, record_a: StepRecord, record_b: StepRecord) -> None:
        a, b = record_a.log10_grad_norms, record_b.log10_grad_norms
        if a.shape != b.shape:
            for curve in self.ratio_curves:
                curve.setData([], [])
            self.ratio_note.show_text("A and B have different layers or sequence lengths: no ratio")
            return
        with np.errstate(invalid="ignore"):
            ratio = drawable(b - a)  # log10(B / A); NaN where either is 0 or not finite
        count, seq_len = ratio.shape
        steps = np.arange(1, seq_len + 1, dtype=np.float64)
        self._ensure_curves(self.ratio_curves, self.ratio_plot, count, "ratio")
        if not self.ratio_plot.getViewBox().autoRangeEnabled()[1]:
            self.ratio_plot.enableAutoRange(axis="y")  # the empty plot's fixed range ends
        for k in range(count):
            self.ratio_curves[k].setData(steps, ratio[k])
        self.ratio_note.show_text("")
        first = ratio[:, 0]
        finite = first[np.isfinite(first)]
        if finite.size:
            self._set_ratio_title(format_ratio(float(finite[0]), digits=2))
        else:
            self._set_ratio_title("not finite")

    def _set_ratio_title(self, at_step_one: str) -> None:
        """The ratio plot's title, with B / A at step 1 of layer 1 when known (its longest form
        that fits; the whole sentence is the tooltip of a shorter one). Not a note on the plot:
        that covered the curves where they start."""
        style = {"color": self.theme.foreground, "size": f"{self.theme.title_pt}pt"}
        if not at_step_one:
            set_title(self.ratio_plot, "B / A per time step", "B / A", **style)
            return
        number = at_step_one if at_step_one == "not finite" else f"{at_step_one} ×"
        # In layer 1's colour: the short form names no layer, the colour says whose curve it is.
        number = f"<span style='color:{self.theme.layer_color(0).name()}'>{number}</span>"
        set_title(self.ratio_plot, f"B / A per time step (step 1, layer 1: {number})",
                  f"B / A (step 1: {number})", "B / A", **style)  # fmt: skip

    def _draw_titles(self, iteration: int | None = None) -> None:
        at = "" if iteration is None else f" at iteration {iteration}"
        size = f"{self.theme.title_pt}pt"
        color = self.theme.foreground
        if self.layout_mode == "overlay":
            set_title(self.gradient_plots["A"], f"||dL/dh_t||{at}: A solid, B dashed",
                      "||dL/dh_t||: A solid, B dashed", color=color, size=size)  # fmt: skip
        else:
            for side in SIDES:
                set_title(self.gradient_plots[side], f"{side}: ||dL/dh_t||{at}", f"{side}: ||dL/dh_t||",
                          color=color, size=size)  # fmt: skip

    def clear(self) -> None:
        """No curves; the ratio plot spans 1/10 to 10."""
        for curves in (*self.gradient_curves.values(), self.overlay_curves, self.ratio_curves):
            for curve in curves:
                curve.setData([], [])
        for curve in self.loss_curves.values():
            curve.setData([], [])
        self.ratio_note.show_text("")
        self._set_ratio_title("")
        self.gradient_plots["A"].enableAutoRange(axis="y")
        # Empty: 1/10 to 10, the B = A line across the middle (not on the bottom edge).
        self.ratio_plot.setYRange(-1.0, 1.0, padding=0.0)
        self._draw_titles()
