"""A pin's ghosts: the items drawn on the dashboard's own plots, the legend and the heatmap note.

:class:`GhostItems` adds one pin's dashed curves, hollow markers and histogram outline to the
plots' ``PlotItem``s once and updates them with ``setData``; :class:`GhostLegend` keys the
visible pins on the gradient plot, :class:`HeatmapNote` names them on the heatmap;
:func:`fit_log_range` widens a log plot's range to hold the ghosts.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PySide6 import QtCore, QtGui

# isort: split
import pyqtgraph as pg

from gradsim.engine.activations import make_activation
from gradsim.engine.config import SimConfig
from gradsim.ui.common.theme import Theme
from gradsim.ui.features.compare.pins import PinnedRun
from gradsim.ui.training.plots.activation import BINS
from gradsim.ui.training.plots.base import OverlayText, drawable
from gradsim.ui.training.plots.health import KINDS

# Horizontal offset of the weight_ih / weight_hh bars in the health charts (as HealthPlot draws).
_KIND_OFFSETS = {"weight_ih": -0.19, "weight_hh": 0.19}
GHOST_Z = -2  # under the live curves (0) and over the faint trail (-1)


class GhostItems:
    """The plot items of one pin, added to the dashboard's plots once and updated with setData.

    Attributes
    ----------
    gradient_curves : one dashed PlotDataItem per layer, ``(1..T, latest.log10_grad_norms[k])``
        (log10 data, as the gradient plot's own curves; non-finite entries as NaN)
    loss_curve, norm_curve : ``(iterations, losses)``, ``(iterations, global norm before)``
    saturation_markers : ``(layers, latest.saturation)``
    gradient_markers, ratio_markers : kind -> ``(layers ± offset, param_grad_norms / update_ratios)``
    histogram_outline : step curve in the activation plot's histogram view
    derivative_curve : the pinned activation's derivative (empty if it is the live one's)
    """

    def __init__(self, pin: PinnedRun, dashboard: Any) -> None:
        self.pin = pin
        self._dashboard = dashboard
        color = QtGui.QColor(pin.color)
        if dashboard.theme.name == "dark":
            color = color.lighter(160)
        self.color = color
        dashed = pg.mkPen(color, width=2.2, style=QtCore.Qt.PenStyle.DashLine, cosmetic=True)
        plots = dashboard.plots
        gradient = plots["gradient"]
        self.gradient_curves: list[pg.PlotDataItem] = []
        record = pin.latest
        if record is not None:
            logs = drawable(record.log10_grad_norms)
            steps = np.arange(1, logs.shape[1] + 1, dtype=np.float64)
            for k in range(logs.shape[0]):
                curve = pg.PlotDataItem(steps, logs[k], pen=dashed, connect="finite")
                self._add(gradient.plot, curve)
                self.gradient_curves.append(curve)
        loss = plots["loss"]
        history = pin.history
        iterations = history.iterations().astype(np.float64)
        before, _after = history.global_norms()
        self.loss_curve = pg.PlotDataItem(iterations, history.losses(), pen=dashed, connect="finite")
        self.norm_curve = pg.PlotDataItem(iterations, before, pen=dashed, connect="finite")
        self._add(loss.loss_plot, self.loss_curve)
        self._add(loss.norm_plot, self.norm_curve)

        health = plots["health"]
        marker = {"pen": None, "symbol": "o", "symbolSize": 11, "symbolBrush": None,
                  "symbolPen": pg.mkPen(color, width=2.2)}  # fmt: skip
        self.saturation_markers = pg.PlotDataItem(**marker)
        self._add(health.saturation_plot, self.saturation_markers)
        self.gradient_markers: dict[str, pg.PlotDataItem] = {}
        self.ratio_markers: dict[str, pg.PlotDataItem] = {}
        if record is not None:
            count = record.saturation.shape[0]
            layers = np.arange(1, count + 1, dtype=np.float64)
            self.saturation_markers.setData(layers, record.saturation)
        per_layer = {"gradient": {}, "ratio": {}} if record is None else {
            "gradient": record.param_grad_norms, "ratio": record.update_ratios,
        }  # fmt: skip
        for kind in KINDS:
            for plot, markers, name in (
                (health.gradient_plot, self.gradient_markers, "gradient"),
                (health.ratio_plot, self.ratio_markers, "ratio"),
            ):
                item = pg.PlotDataItem(**marker)
                if record is not None:
                    count = record.saturation.shape[0]
                    named = per_layer[name]
                    y = np.array([named.get(f"{kind}_l{k}", np.nan) for k in range(count)], dtype=np.float64)
                    item.setData(np.arange(1, count + 1, dtype=np.float64) + _KIND_OFFSETS[kind], y)
                self._add(plot, item)
                markers[kind] = item

        activation = plots["activation"]
        self.histogram_outline = pg.PlotDataItem(stepMode="center", pen=pg.mkPen(color, width=2))
        activation.hist_view.addItem(self.histogram_outline)
        self.derivative_curve = pg.PlotDataItem(pen=dashed)
        self._add(activation.plot, self.derivative_curve)
        self._histogram_key: tuple[float, int] | None = None
        self._derivative_key: tuple[str, float, float] | None = None

    def _add(self, plot: pg.PlotItem, item: pg.PlotDataItem) -> None:
        item.setZValue(GHOST_Z)
        plot.addItem(item)

    def items(self) -> list[pg.GraphicsObject]:
        """Every item of this pin."""
        return [
            *self.gradient_curves, self.loss_curve, self.norm_curve, self.saturation_markers,
            *self.gradient_markers.values(), *self.ratio_markers.values(), self.histogram_outline,
            self.derivative_curve,
        ]  # fmt: skip

    def set_visible(self, visible: bool) -> None:
        for item in self.items():
            item.setVisible(visible)

    def update_activation(self, extent: float, choice: int, live: SimConfig) -> float:
        """Histogram outline on the live plot's bins and, for another activation, its f'.

        Returns the outline's highest share (percent), 0 without samples.
        """
        record = self.pin.latest
        if record is None:
            return 0.0
        samples = record.preactivation_samples
        if choice > samples.shape[0]:
            choice = 0
        key = (extent, choice)
        if key != self._histogram_key:
            self._histogram_key = key
            chosen = samples if choice == 0 else samples[choice - 1 : choice]
            values = chosen[np.isfinite(chosen)]
            edges = np.linspace(-extent, extent, BINS + 1)
            counts, _ = np.histogram(values, bins=edges)
            share = 100.0 * counts / values.size if values.size else np.zeros(BINS)
            self.histogram_outline.setData(edges, share)
        config = self.pin.config
        same = config.activation == live.activation and (
            config.activation != "leaky_relu" or config.leaky_slope == live.leaky_slope
        )
        derivative_key = ("", 0.0, extent) if same else (config.activation, config.leaky_slope, extent)
        if derivative_key != self._derivative_key:
            self._derivative_key = derivative_key
            if same:
                self.derivative_curve.setData([], [])
            else:
                activation = make_activation(config.activation, config.leaky_slope)
                z = np.linspace(-extent, extent, 801)
                with np.errstate(all="ignore"):
                    slope = activation.derivative(z, activation.forward(z))
                self.derivative_curve.setData(z, slope)
        _edges, share = self.histogram_outline.getData()
        return float(np.max(share)) if share is not None and len(share) else 0.0

    def remove(self) -> None:
        """Take every item off its plot."""
        plots = self._dashboard.plots
        for curve in self.gradient_curves:
            plots["gradient"].plot.removeItem(curve)
        plots["loss"].loss_plot.removeItem(self.loss_curve)
        plots["loss"].norm_plot.removeItem(self.norm_curve)
        health = plots["health"]
        health.saturation_plot.removeItem(self.saturation_markers)
        for kind in KINDS:
            health.gradient_plot.removeItem(self.gradient_markers[kind])
            health.ratio_plot.removeItem(self.ratio_markers[kind])
        plots["activation"].hist_view.removeItem(self.histogram_outline)
        plots["activation"].plot.removeItem(self.derivative_curve)


class GhostLegend(pg.LegendItem):
    """A key of the visible pins in a corner of a plot (dashed sample line + label)."""

    def __init__(self, plot: pg.PlotItem, theme: Theme, corner: tuple[float, float], offset: tuple[int, int]):
        super().__init__(
            offset=None, labelTextColor=theme.foreground, labelTextSize=f"{theme.tick_pt}pt",
            brush=pg.mkBrush(theme.background + "d0"), pen=theme.pen(theme.foreground, 1),
        )  # fmt: skip
        self.setParentItem(plot.getViewBox())
        self.anchor(itemPos=corner, parentPos=corner, offset=offset)
        self.setZValue(900)

    def show_pins(self, entries: list[tuple[pg.PlotDataItem, str]]) -> None:
        """Show ``(sample item, label)`` rows; hidden when there are none."""
        self.clear()
        for item, label in entries:
            self.addItem(item, label)
        self.setVisible(bool(entries))


class HeatmapNote(OverlayText):
    """Rich text in a corner of the heatmap naming each pin and its gradient ratio."""

    def show_html(self, html: str) -> None:
        """Show ``html`` (hide the note when empty)."""
        self._show(html, "_html", self.setHtml)


def fit_log_range(plot: pg.PlotItem, values: list[np.ndarray]) -> None:
    """Widen ``plot``'s y range (log10 units) to whole decades holding the positive ``values``."""
    if not values:
        return
    data = np.concatenate(values)
    data = data[np.isfinite(data) & (data > 0)]
    if not data.size:
        return
    logs = np.log10(data)
    (_, _), (low, high) = plot.getViewBox().viewRange()
    new_low = min(low, math.floor(float(logs.min())) - 0.5)
    new_high = max(high, math.ceil(float(logs.max())) + 0.5)
    if new_low < low - 1e-9 or new_high > high + 1e-9:
        plot.setYRange(new_low, new_high, padding=0.0)
