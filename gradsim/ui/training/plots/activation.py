"""The activation function, its derivative, and where the current pre-activations fall.

The curves come from the engine's own activation (``make_activation``), so what is drawn is
what the network computes. Behind them, on a second y axis, the histogram of the newest
record's pre-activation samples; the saturating regions (derivative below 5% of its maximum,
as the engine counts saturation) are shaded, and a key under the plot says so. A student sees
the samples pile up where the derivative is nearly zero, which is why sigmoid and tanh starve
the gradient.

For a gated cell (LSTM, GRU) the activation is the tanh candidate's (LSTM ``g``, GRU ``n``, as in
PyTorch, whatever ``config.activation`` says), and under it a second plot shows the sigmoid
gates' means and saturated shares (:mod:`.activation_gates`).
"""

from __future__ import annotations

import html

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

# isort: split
import pyqtgraph as pg

from gradsim.engine.activations import make_activation
from gradsim.engine.config import SimConfig
from gradsim.engine.gates import BLOCK_LETTERS, BLOCKS, CANDIDATE_BLOCK
from gradsim.engine.history import RunHistory
from gradsim.engine.records import StepRecord
from gradsim.ui.common.theme import Theme, style_plot
from gradsim.ui.training.plots.activation_gates import GateBars
from gradsim.ui.training.plots.base import OverlayText, PlotPanel, RowLegend, layer_names, snapped_range
from gradsim.ui.training.plots.live_line import LiveLine

# Half-widths the z axis can take: the smallest that holds the samples (the curves' interesting
# part lies within +-6; an exploding run's samples are cut at the widest and counted in a note).
EXTENTS = (6.0, 10.0, 20.0, 50.0, 100.0)
GRID_POINTS = 801  # odd, so z = 0 (the ReLU kink) is on the grid
BINS = 80
# The left axis shows at most this range: an unbounded f (ReLU, linear) would flatten f'.
CURVE_LIMIT = 2.0
# A shaded region that runs off the grid ends this far out, in units of the extent (a huge
# coordinate would overflow the painter and flood the whole view).
_BEYOND = 3.0
# The key of the shading, beside a swatch of it: the longest that fits the plot's width.
SHADING_KEYS = ("saturated: f′ < 5% of max", "f′ < 5% of max")
# PyTorch's letter of a gated cell's tanh candidate (nn.LSTM's g, nn.GRU's n).
CANDIDATE_LETTERS = {cell: BLOCK_LETTERS[BLOCKS[cell][block]] for cell, block in CANDIDATE_BLOCK.items()}


class ShadingSwatch(pg.ItemSample):
    """A legend sample drawn as a square of the shading (clicking it changes nothing)."""

    def __init__(self, brush: QtGui.QBrush, pen: QtGui.QPen) -> None:
        super().__init__(pg.PlotDataItem())
        self._brush, self._pen = brush, pen

    def paint(self, painter: QtGui.QPainter, *args: object) -> None:
        painter.setPen(self._pen)
        painter.setBrush(self._brush)
        painter.drawRect(QtCore.QRectF(3.0, 4.0, 14.0, 14.0))

    def mouseClickEvent(self, event: object) -> None:  # noqa: N802 (pyqtgraph override)
        event.ignore()  # type: ignore[attr-defined]


class ActivationPlot(PlotPanel):
    """``f(z)`` and ``f'(z)`` over the pre-activation axis, with the histogram of samples.

    Attributes
    ----------
    plot : the PlotItem (left axis: f and f'; right axis: histogram share)
    hist_view : the ViewBox of the histogram (x linked to ``plot``)
    function_curve, derivative_curve : ``make_activation(...)`` forward and derivative on
        ``GRID_POINTS`` points over ``[-extent, extent]``
    histogram : step curve, ``x`` = ``BINS + 1`` bin edges, ``y`` = percent of finite samples
    saturated_regions : shaded LinearRegionItems where ``activation.saturated(f'(z))``
    shading_key : the row under the plot with a swatch of the shading and what it means
        (one of :data:`SHADING_KEYS`); notes on samples off the axis go in ``note``, on the plot
    layer_selector : QComboBox, index 0 = all layers, k = layer k
    selector_row : the row holding it (hidden with one layer)
    extent : current half-width of the z axis
    gates : :class:`GateBars`, the gated cells' gates (its plot is in the layout, under the
        key, only while a gated run's record is drawn)
    """

    def __init__(self, theme: Theme | None = None, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(theme, parent)
        theme = self.theme
        self.layer_selector = self._add_selector(
            "Histogram of:", "Whose pre-activations the histogram shows", self._on_layer_chosen
        )

        self.plot = self._add_plot()
        function, derivative = (f"<span style='color:{c}'>" for c in (theme.function, theme.derivative))
        # Each y axis's label, longest first: a short plot (the gates under it) takes the short one.
        self.axis_labels = {
            "left": (f"{function}━ f(z)</span>,&nbsp; {derivative}╍ f′(z)</span>",
                     f"{function}━ f</span> {derivative}╍ f′</span>"),
            "right": ("% of samples", "%"),
        }  # fmt: skip
        style_plot(
            self.plot, theme, title="Activation and its derivative", left=self.axis_labels["left"][0],
            bottom="pre-act. z", right=self.axis_labels["right"][0],
        )  # fmt: skip
        self.hist_view = pg.ViewBox(enableMenu=False)
        self.hist_view.setMouseEnabled(False, False)
        self.plot.scene().addItem(self.hist_view)
        self.plot.getAxis("right").linkToView(self.hist_view)
        self.hist_view.setXLink(self.plot)
        self.hist_view.setZValue(-100)  # behind the curves
        self.plot.getViewBox().sigResized.connect(self._sync_views)
        self.plot.getViewBox().sigResized.connect(self._fit_axis_labels)
        # Its new shares reach its curve item without its style set again (a LiveLine; the
        # shares, never more than 100, need no dynamic-range limit).
        self.histogram = LiveLine(
            stepMode="center", fillLevel=0, pen=None, brush=pg.mkBrush(theme.histogram), connect="all"
        )
        self.hist_view.addItem(self.histogram)
        self.saturated_regions: list[pg.LinearRegionItem] = []
        for _ in range(3):
            region = pg.LinearRegionItem(
                values=(0, 1), movable=False, brush=pg.mkBrush(theme.saturated_fill), pen=pg.mkPen(None)
            )
            region.setZValue(-10)
            region.hide()
            self.plot.addItem(region, ignoreBounds=True)
            self.saturated_regions.append(region)
        self.function_curve = self.plot.plot(pen=theme.pen(theme.function, 2.5))
        self.derivative_curve = self.plot.plot(pen=theme.pen(theme.derivative, 2.5, dashed=True))
        # The shading's key in a row under the plot: in the view box it covered the curves, and a
        # 1280-pixel window left it room for "shaded: …" only.
        self.shading_key = RowLegend(
            self.graphics, labelTextColor=theme.foreground, labelTextSize=f"{theme.tick_pt}pt"
        )
        edge = QtGui.QColor(theme.foreground)
        edge.setAlphaF(0.35)
        swatch = ShadingSwatch(pg.mkBrush(theme.saturated_fill), pg.mkPen(edge, width=1))
        self.shading_key.addItem(swatch, html.escape(SHADING_KEYS[0]))
        self.graphics.addItem(self.shading_key, row=1, col=0)
        self.gates = GateBars(theme)
        self.note = OverlayText(self.plot, theme, "top-left", theme.note)
        self.extent = EXTENTS[0]
        self._curve_key: tuple[str, float, float] | None = None
        self._hist_range: tuple[float, float] | None = None
        self._choice = 0  # 0: all layers, k: layer k
        self._num_layers = 0
        self._clear()

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._fit_key()

    def _fit_key(self) -> None:
        """The longest of :data:`SHADING_KEYS` whose row (swatch, spacing, text) fits the width."""
        _, label = self.shading_key.items[0]
        room = self.graphics.width() - 12  # the graphics layout's margins
        for text in SHADING_KEYS:
            if self.shading_text != text:
                label.setText(html.escape(text))
                self.shading_key.layout.invalidate()
            needed = self.shading_key.layout.effectiveSizeHint(QtCore.Qt.SizeHint.PreferredSize).width()
            if needed <= room:
                break
        self.shading_key.updateSize()

    @property
    def shading_text(self) -> str:
        """The key's text beside the swatch of the shading."""
        return html.unescape(str(self.shading_key.items[0][1].text))

    def _fit_axis_labels(self, *_: object) -> None:
        """Each y axis's longest label that fits its length (the last one if none does)."""
        length = self.plot.getViewBox().height()
        for side, forms in self.axis_labels.items():
            axis = self.plot.getAxis(side)
            for text in forms:
                if axis.labelText != text:
                    axis.setLabel(text)  # the style set by style_plot stays
                if axis.label.boundingRect().width() <= length:
                    break

    def _sync_views(self, *_: object) -> None:
        self.hist_view.setGeometry(self.plot.getViewBox().sceneBoundingRect())
        self.hist_view.linkedViewChanged(self.plot.getViewBox(), self.hist_view.XAxis)

    # -- layer choice -------------------------------------------------------------------------
    def set_layer(self, layer: int | None) -> None:
        """Histogram of ``layer`` (0-based), or of all layers for None."""
        self.layer_selector.setCurrentIndex(0 if layer is None else layer + 1)

    def _on_layer_chosen(self, index: int) -> None:
        if index < 0 or index == self._choice:
            return
        self._choice = index
        self.redraw()

    def _ensure_layers(self, count: int) -> None:
        if count == self._num_layers:
            return
        self._num_layers = count
        if self._choice > count:
            self._choice = 0
        self.selector_row.set_items(["all layers", *layer_names(count)], self._choice)
        self.selector_row.setVisible(count > 1)

    # -- drawing ----------------------------------------------------------------------------
    def _draw(self, history: RunHistory, config: SimConfig) -> None:
        record = history.latest
        if record is None:
            self._clear()
            self._draw_curves(config, EXTENTS[0])
            self._set_title(self.plot, f"Activation: {_candidate_name(config)}")
            self.note.show_text("")
            return
        samples = record.preactivation_samples
        self._ensure_layers(samples.shape[0])
        chosen = samples if self._choice == 0 else samples[self._choice - 1 : self._choice]
        values = chosen[np.isfinite(chosen)]
        magnitude = float(np.abs(values).max()) if values.size else 0.0
        extent = next((e for e in EXTENTS if magnitude <= e), EXTENTS[-1])
        self._draw_curves(config, extent)
        edges = np.linspace(-extent, extent, BINS + 1)
        # Equal bins given by their count and range: numpy's linear pass (edges given as an array
        # have it sort the samples first); it bins by this same linspace, so the counts are equal.
        counts, _ = np.histogram(values, bins=BINS, range=(-extent, extent))
        share = 100.0 * counts / values.size if values.size else np.zeros(BINS)
        self.histogram.set_line(edges, share, skip_finite_check=True)  # (shares of a count: finite)
        # In round steps, so the right axis is not laid out again on every frame.
        hist_range = snapped_range(0.0, max(float(share.max()) * 1.15, 1.0), self._hist_range)
        if hist_range != self._hist_range:
            self.hist_view.setYRange(*hist_range, padding=0.0)
            self._hist_range = hist_range
        saturation = record.saturation
        fraction = float(np.mean(saturation)) if self._choice == 0 else float(saturation[self._choice - 1])
        title = f"{_candidate_name(config)}: {fraction:.0%} saturated"
        # A gated cell's longer name gives way to its letter in a narrow plot.
        letter = CANDIDATE_LETTERS.get(config.cell)
        short = title if letter is None else f"tanh {letter}: {fraction:.0%} saturated"
        self._show_gates(record, config)
        # Units whose value is inf/NaN are not saturated: the engine counts them apart.
        nonfinite = np.asarray(record.nonfinite_fraction, dtype=np.float64)
        if nonfinite.shape == saturation.shape:
            bad = float(np.mean(nonfinite)) if self._choice == 0 else float(nonfinite[self._choice - 1])
            if bad > 0:
                title += f", {bad:.0%} non-finite"
                short += f", {bad:.0%} non-finite"
        self._set_title(self.plot, title, shorter=(short,) if short != title else ())
        notes = []
        outside = int(np.count_nonzero(np.abs(values) > extent))
        if outside:
            notes.append(f"{outside} samples beyond ±{extent:g}")
        # NaN also pads the samples of a small network, so it only counts once the run blew up.
        missing = int(np.count_nonzero(~np.isfinite(chosen) if record.nonfinite else np.isinf(chosen)))
        if missing:
            notes.append(f"{missing} non-finite samples")
        self.note.show_text("\n".join(notes))

    def _draw_curves(self, config: SimConfig, extent: float) -> None:
        """Recompute the curves and shaded regions when the activation or the axis changed."""
        # A gated cell's candidate is tanh whatever config.activation says (as the engine's).
        name = config.activation if config.cell == "rnn" else "tanh"
        key = (name, config.leaky_slope, extent)
        if key == self._curve_key:
            return
        self._curve_key = key
        activation = make_activation(name, config.leaky_slope)
        self.extent = extent
        z = np.linspace(-extent, extent, GRID_POINTS)
        with np.errstate(all="ignore"):
            value = activation.forward(z)
            slope = activation.derivative(z, value)
        self.function_curve.setData(z, value)
        self.derivative_curve.setData(z, slope)
        self._shade(z, activation.saturated(slope))
        low = max(min(float(value.min()), float(slope.min())), -CURVE_LIMIT)
        high = min(max(float(value.max()), float(slope.max())), CURVE_LIMIT)
        margin = 0.08 * (high - low)
        self.plot.setYRange(low - margin, high + margin, padding=0.0)
        self.plot.setXRange(-extent, extent, padding=0.0)

    def _shade(self, z: np.ndarray, saturated: np.ndarray) -> None:
        """Shade each run of saturated grid points (extended to infinity at the grid's ends)."""
        flags = saturated.astype(np.int8)
        changes = np.flatnonzero(np.diff(flags)) + 1
        bounds = np.concatenate(([0], changes, [len(z)]))
        runs = [(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if saturated[a]]
        step = z[1] - z[0]
        for region, run in zip(self.saturated_regions, runs + [None] * len(self.saturated_regions),
                               strict=False):  # fmt: skip
            if run is None:
                region.hide()
                continue
            start, stop = run
            far = _BEYOND * z[-1]
            left = -far if start == 0 else z[start] - step / 2
            right = far if stop == len(z) else z[stop - 1] + step / 2
            region.setRegion((left, right))
            region.show()

    def saturated_spans(self) -> list[tuple[float, float]]:
        """The shaded ``(left, right)`` z intervals (for tests and tooltips)."""
        return [tuple(r.getRegion()) for r in self.saturated_regions if r.isVisible()]

    def _show_gates(self, record: StepRecord, config: SimConfig) -> None:
        """The gates' plot under the key for a gated cell's record; out of the layout otherwise."""
        gated = record.gate_means is not None and config.cell in ("lstm", "gru")
        in_layout = self.gates.plot in self.graphics.ci.items
        if gated and not in_layout:
            self.graphics.addItem(self.gates.plot, row=2, col=0)
            # A short panel shares its height two to one between the activation and the gates.
            self.graphics.ci.layout.setRowStretchFactor(0, 2)
            self.graphics.ci.layout.setRowStretchFactor(2, 1)
        elif not gated and in_layout:
            self.graphics.removeItem(self.gates.plot)
        if gated:
            self.gates.draw(record, config.cell, None if self._choice == 0 else self._choice - 1)
        else:
            self.gates.clear()

    def _clear(self) -> None:
        self.gates.clear()
        if self.gates.plot in self.graphics.ci.items:
            self.graphics.removeItem(self.gates.plot)
        self.histogram.setData(np.array([0.0, 1.0]), np.array([0.0]))
        self._hist_range = None  # the next run's histogram picks its range afresh
        self._set_title(self.plot, "Activation and its derivative")
        self.note.show_text("")


def _candidate_name(config: SimConfig) -> str:
    """What the plot's activation is: ``config.activation`` for the RNN, the gated cell's tanh
    candidate otherwise (PyTorch's letters: LSTM ``g``, GRU ``n``)."""
    letter = CANDIDATE_LETTERS.get(config.cell)
    return config.activation if letter is None else f"candidate {letter} (tanh)"
