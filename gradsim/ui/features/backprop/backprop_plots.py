"""The three time-aligned plots of the backprop step-through view.

One ``pg.GraphicsLayoutWidget`` holds, one above the other and sharing the time axis::

    +----------------------------------------------+-----------+
    | unrolled network: layers x time steps         | colour bar|
    |   (log10 ||dL/dh|| of the cells reached)      | (decades) |
    +----------------------------------------------+-----------+
    | ||dL/dh_t|| of the current layer (log axis),   |           |
    |   running products drawn against it           |           |
    +----------------------------------------------+-----------+
    | activation derivative f'(z): units x time     | colour bar|
    +----------------------------------------------+-----------+

All items are created once; the view updates them with ``setImage``/``setData``. The grid is a
single RGBA ``ImageItem`` coloured here (blank, finite, exactly zero, non-finite need four kinds
of colour, which a plain levels + colour map image cannot give), so it stays one item for any
``T`` up to 2000.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

# isort: split
import pyqtgraph as pg

from gradsim.ui.common.theme import Theme, style_colorbar, style_plot
from gradsim.ui.features.backprop.backprop_cells import FINITE, NONFINITE, NOT_REACHED, ZERO, decade_levels
from gradsim.ui.training.plots.base import DecadeAxis, install_title, set_title

# Exactly-zero gradients (underflow, dead units) get a neutral grey, visible on both themes and
# outside every colour map used here.
ZERO_COLOR = "#a0a0a0"
# Cells not reached yet: a faint fill, so the extent of the unrolled network shows from the start.
BLANK_COLORS = {"light": "#eeeeee", "dark": "#2c2c2c"}
GRID_COLORMAP = "viridis"
DERIVATIVE_COLORMAP = "magma"
# Left axes share one width so the three plots' time axes line up exactly.
LEFT_AXIS_WIDTH = 78
# How far (decades) the curve's y range widens to show the parts estimate beyond the data.
ESTIMATE_MARGIN_DECADES = 3.0
# Draw the cell borders only while cells are wide enough for them to help.
MAX_STEPS_WITH_BORDERS = 120


def color_cells(
    log_values: np.ndarray,
    kinds: np.ndarray,
    levels: tuple[float, float],
    lookup: np.ndarray,
    colors: dict[int, tuple[int, int, int, int]],
) -> np.ndarray:
    """RGBA image of the grid.

    Parameters
    ----------
    log_values : (L, T) float64, log10 of the finite positive cells (other entries ignored)
    kinds : (L, T) int8, :data:`NOT_REACHED`, :data:`FINITE`, :data:`ZERO` or :data:`NONFINITE`
    levels : (low, high) log10 values mapped to the two ends of ``lookup``
    lookup : (N, 4) uint8 colour table
    colors : RGBA of the kinds other than FINITE

    Returns
    -------
    (L, T, 4) uint8, C-contiguous
    """
    image = np.empty(kinds.shape + (4,), dtype=np.uint8)
    for kind, rgba in colors.items():
        image[kinds == kind] = rgba
    finite = kinds == FINITE
    if finite.any():
        low, high = levels
        scaled = (log_values[finite] - low) / (high - low) * (len(lookup) - 1)
        index = np.clip(np.rint(scaled), 0, len(lookup) - 1).astype(np.intp)
        image[finite] = lookup[index]
    return image


def _rgba(color: str) -> tuple[int, int, int, int]:
    qcolor = pg.mkColor(color)
    return (qcolor.red(), qcolor.green(), qcolor.blue(), qcolor.alpha())


class _LayerAxis(pg.AxisItem):
    """Left axis of the grid: ``layer k`` at the middle of each row, thinned when rows are short."""

    def __init__(self) -> None:
        super().__init__("left")
        self.num_layers = 1

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list:  # noqa: N802, N803
        count = max(1, self.num_layers)
        rows_per_label = max(1, math.ceil(count * 16 / max(size, 1.0)))
        # Every k-th layer, counted down from the top one so that the top layer is always named.
        shown = [layer for layer in range(count) if (count - 1 - layer) % rows_per_label == 0]
        return [(1.0, [layer + 0.5 for layer in shown if minVal <= layer + 0.5 <= maxVal])]

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:  # noqa: N802
        labels = []
        for value in values:
            layer = int(math.floor(value))
            labels.append(f"layer {layer + 1}")
        return labels


class _TimeAxis(pg.AxisItem):
    """Bottom axis of time steps 1..T: the room left for the markers before step 1 gets no
    tick label (a "0" there would read as a time step 0)."""

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:  # noqa: N802
        labels = super().tickStrings(values, scale, spacing)
        return [label if value >= 1 - 1e-9 else "" for value, label in zip(values, labels, strict=True)]


class BackpropGraphics(pg.GraphicsLayoutWidget):
    """The unrolled grid, the gradient curve and the derivative heatmap, time-aligned.

    Attributes
    ----------
    grid_plot, curve_plot, derivative_plot : the three PlotItems (x: time step 1..T)
    grid_image : RGBA ImageItem, ``grid_image.image`` is the ``(L, T, 4)`` uint8 grid; row ``l``
        is layer ``l`` (layer 1 at the bottom), column ``t`` time step ``t + 1``
    cell_kinds : (L, T) int8, what each cell holds (see :data:`NOT_REACHED` ...)
    grid_levels : (low, high) log10 levels of the grid colours, whole decades
    grid_colorbar, derivative_colorbar : the colour bars (decades; derivative value)
    highlight : outline of the current cell (its ``rect()`` is ``(t + 0.5, layer, 1, 1)``)
    curve : ``log10 ||dL/dh_t||`` of the current layer; ``getOriginalDataset()`` gives the
        values shown (NaN where not reached, zero or not finite: gaps in the curve)
    factor_product_curve : entry value times the running product of the local factors
    parts_product_curve : entry value times the running product of mean f' x sigma_max(W_hh)
    nonfinite_marks : red crosses at time steps whose ``||dL/dh||`` is not finite
    current_point : the current cell's value on the curve
    derivative_image : ImageItem of ``(H, T)`` float32 mean activation derivative of the layer
    time_lines : vertical lines at the current time step in the curve and derivative plots
    """

    def __init__(self, theme: Theme, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.theme = theme
        self.setBackground(theme.background)
        self.ci.setContentsMargins(4, 4, 6, 4)
        self.ci.setSpacing(6)
        self._grid_lookup = pg.colormap.get(GRID_COLORMAP).getLookupTable(0.0, 1.0, 256, alpha=True)
        self._kind_colors = {
            NOT_REACHED: _rgba(BLANK_COLORS.get(theme.name, BLANK_COLORS["light"])),
            ZERO: _rgba(ZERO_COLOR),
            NONFINITE: _rgba(theme.nonfinite),
        }
        self._shape = (0, 0)
        self._grid_rect = QtCore.QRectF(0.5, 0.0, 1.0, 1.0)
        self._derivative_rect = QtCore.QRectF(0.5, 0.0, 1.0, 1.0)
        self._max_derivative = 1.0
        self._curve_title = ""
        self._curve_decades = (0.0, 0.0)
        self._fitted_x: tuple[float, float] | None = None

        # -- the unrolled network -----------------------------------------------------------
        self._layer_axis = _LayerAxis()
        self.grid_plot = self._new_plot(0, axisItems={"left": self._layer_axis})
        style_plot(self.grid_plot, theme, bottom="time step t", grid=False)
        self._set_title(
            self.grid_plot,
            "Unrolled network: log10 ||dL/dh|| of the cells reached so far",
            "Unrolled network: log10 ||dL/dh|| per cell",
            "log10 ||dL/dh|| per cell",
        )
        self.grid_plot.setMouseEnabled(x=True, y=False)
        self.grid_image = pg.ImageItem(axisOrder="row-major")
        self.grid_plot.addItem(self.grid_image)
        self._borders = pg.PlotCurveItem(connect="pairs", pen=theme.pen(theme.background, 1))
        self._borders.setZValue(5)
        self.grid_plot.addItem(self._borders)
        self.highlight = self._outline(theme)
        self.grid_plot.addItem(self.highlight)
        self.grid_levels: tuple[float, float] = (-1.0, 0.0)
        self.grid_colorbar = self._colorbar(GRID_COLORMAP, self.grid_levels, "log10 ||dL/dh||")
        self.addItem(self.grid_colorbar, row=0, col=1)
        self.cell_kinds = np.zeros((0, 0), dtype=np.int8)

        # -- the gradient curve of the current layer -----------------------------------------
        self.curve_plot = self._new_plot(1, axisItems={"left": DecadeAxis("left")})
        style_plot(self.curve_plot, theme, left="||dL/dh_t||", bottom="time step t")
        # log10 data on a linear axis labelled in powers of ten as every other plot's (not
        # pyqtgraph's log mode, which needs raw values and so drops every norm below float64).
        # pyqtgraph's grid (8 minor lines per decade on a log axis) took 20 to 50 ms per repaint
        # once the curve spanned 30 decades; a line at each label, drawn here, costs nothing.
        self.curve_plot.showGrid(x=False, y=False)
        grid_color = pg.mkColor(theme.foreground)
        grid_color.setAlphaF(0.2)
        self._decade_lines = pg.PlotCurveItem(
            connect="pairs", pen=pg.mkPen(grid_color, width=1, cosmetic=True)
        )
        self._decade_lines.setZValue(-10)
        self.curve_plot.addItem(self._decade_lines, ignoreBounds=True)
        self.curve_plot.setMouseEnabled(x=True, y=False)
        self.parts_product_curve = pg.PlotDataItem(
            pen=theme.pen(theme.derivative, 2, dashed=True), connect="finite"
        )
        self.parts_product_curve.opts["pen"].setStyle(QtCore.Qt.PenStyle.DotLine)
        self.factor_product_curve = pg.PlotDataItem(
            pen=theme.pen(theme.foreground, 2, dashed=True), connect="finite"
        )
        self.curve = pg.PlotDataItem(pen=theme.pen(theme.function, 3), connect="finite")
        self.current_point = pg.PlotDataItem(
            pen=None, symbol="o", symbolSize=11, symbolPen=theme.pen(theme.foreground, 2), symbolBrush=None
        )
        self.nonfinite_marks = pg.PlotDataItem(
            pen=None, symbol="x", symbolSize=12, symbolPen=theme.pen(theme.nonfinite, 2),
            symbolBrush=theme.nonfinite,
        )  # fmt: skip
        for item in (
            self.parts_product_curve, self.factor_product_curve, self.curve,
            self.current_point, self.nonfinite_marks,
        ):  # fmt: skip
            self.curve_plot.addItem(item)
        self.curve_plot.setXLink(self.grid_plot)

        # -- activation derivative, units x time -----------------------------------------------
        self.derivative_plot = self._new_plot(2)
        style_plot(self.derivative_plot, theme, left="unit", bottom="time step t", grid=False)
        self.derivative_plot.setMouseEnabled(x=True, y=False)
        self.derivative_image = pg.ImageItem(axisOrder="row-major", autoDownsample=True)
        self.derivative_image.setColorMap(pg.colormap.get(DERIVATIVE_COLORMAP))
        self.derivative_plot.addItem(self.derivative_image)
        self.derivative_plot.setXLink(self.grid_plot)
        self.derivative_colorbar = self._colorbar(DERIVATIVE_COLORMAP, (0.0, 1.0), "f'(z)")
        self.addItem(self.derivative_colorbar, row=2, col=1)

        line_pen = theme.pen(theme.foreground, 1.5, dashed=True)
        self.time_lines = (
            pg.InfiniteLine(angle=90, movable=False, pen=line_pen),
            pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#00c8ff", width=2, cosmetic=True)),
        )
        self.curve_plot.addItem(self.time_lines[0], ignoreBounds=True)
        self.derivative_plot.addItem(self.time_lines[1], ignoreBounds=True)
        layout = self.ci.layout
        # The curve plot gets the most: its rotated axis name needs 88 px at the smallest size.
        for row, stretch in ((0, 4), (1, 7), (2, 4)):
            layout.setRowStretchFactor(row, stretch)
        for plot in (self.grid_plot, self.curve_plot):
            plot.getViewBox().sigResized.connect(self.fit_ranges)

    def sizeHint(self) -> QtCore.QSize:  # noqa: N802 (Qt override)
        """A fixed hint: a graphics view's own follows its current size (its scene's rectangle),
        and in the tab's scroll area, which sizes the view by its hints, a height it once had
        (in presentation mode, say) would then stay. 400 px high: the tab's scroll area takes
        the hint as the height below which it scrolls, and with both docks open a 1280 x 720
        window leaves the plots about 430 (at 480 the f'(z) heatmap sat below the fold)."""
        return QtCore.QSize(640, 400)

    # -- construction helpers ----------------------------------------------------------------
    def _new_plot(self, row: int, axisItems: dict[str, pg.AxisItem] | None = None) -> pg.PlotItem:  # noqa: N803
        plot = self.addPlot(row=row, col=0, axisItems={"bottom": _TimeAxis("bottom"), **(axisItems or {})})
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.getAxis("left").setWidth(LEFT_AXIS_WIDTH)
        install_title(plot)
        return plot

    def _set_title(self, plot: pg.PlotItem, text: str, *shorter: str) -> None:
        """Title ``plot``: ``text``, or the first of ``shorter`` that fits (``text`` is then the tooltip)."""
        set_title(plot, text, *shorter, color=self.theme.foreground, size=f"{self.theme.title_pt}pt")

    def _colorbar(self, name: str, values: tuple[float, float], label: str) -> pg.ColorBarItem:
        bar = pg.ColorBarItem(
            values=values, colorMap=pg.colormap.get(name), width=16, interactive=False, colorMapMenu=False,
            pen=self.theme.pen(self.theme.foreground, 1),
        )  # fmt: skip
        style_colorbar(bar, self.theme, label, label_pt=self.theme.tick_pt)
        return bar

    @staticmethod
    def _outline(theme: Theme) -> QtWidgets.QGraphicsRectItem:
        """A two-tone outline (dark around light) that stands out on every colour of the map."""
        outer = QtWidgets.QGraphicsRectItem(QtCore.QRectF(0, 0, 1, 1))
        outer.setPen(pg.mkPen("#000000", width=5, cosmetic=True))
        outer.setBrush(QtGui.QBrush(QtCore.Qt.BrushStyle.NoBrush))
        inner = QtWidgets.QGraphicsRectItem(QtCore.QRectF(0, 0, 1, 1), outer)
        inner.setPen(pg.mkPen("#ffffff", width=2, cosmetic=True))
        outer.setZValue(10)
        outer.inner = inner  # type: ignore[attr-defined]
        outer.hide()
        return outer

    # -- shape ----------------------------------------------------------------------------
    def set_shape(self, num_layers: int, seq_len: int, hidden_size: int, max_derivative: float) -> None:
        """Prepare for a network of ``num_layers`` x ``seq_len`` cells and ``hidden_size`` units."""
        self._shape = (num_layers, seq_len)
        self._curve_decades = (0.0, 0.0)  # draw the decade lines for this length
        self._layer_axis.num_layers = num_layers
        self._layer_axis.picture = None
        # An ImageItem's rect scales its current image: set it again after every setImage.
        self._grid_rect = QtCore.QRectF(0.5, 0.0, seq_len, num_layers)
        self._derivative_rect = QtCore.QRectF(0.5, 0.0, seq_len, hidden_size)
        self.derivative_colorbar.setLevels((0.0, float(max_derivative)))
        self._max_derivative = float(max_derivative)
        self.derivative_plot.setYRange(0.0, hidden_size, padding=0.0)
        self._fitted_x = None  # a new network: its whole length, whatever the user zoomed to
        self.fit_ranges()
        self._draw_borders(num_layers, seq_len)
        self.cell_kinds = np.zeros((num_layers, seq_len), dtype=np.int8)
        self.show_cells(np.full((num_layers, seq_len), np.nan), self.cell_kinds, (-1.0, 0.0))
        self.show_current(None, None)
        empty = np.full(seq_len, np.nan)
        self.show_curve(np.arange(1, seq_len + 1), empty, np.zeros(seq_len, dtype=bool), empty, empty)

    def _draw_borders(self, num_layers: int, seq_len: int) -> None:
        """Thin lines between cells (between layers always, between steps while cells are wide)."""
        xs: list[float] = []
        ys: list[float] = []
        for layer in range(1, num_layers):
            xs += [0.5, seq_len + 0.5]
            ys += [layer, layer]
        if seq_len <= MAX_STEPS_WITH_BORDERS:
            for t in range(1, seq_len):
                xs += [t + 0.5, t + 0.5]
                ys += [0.0, float(num_layers)]
        self._borders.setData(np.array(xs, dtype=float), np.array(ys, dtype=float))

    # -- updates --------------------------------------------------------------------------
    def show_cells(self, log_values: np.ndarray, kinds: np.ndarray, levels: tuple[float, float]) -> None:
        """Colour the grid: ``log_values`` (L, T) log10 norms where ``kinds`` is FINITE."""
        self.cell_kinds = kinds
        self.grid_levels = levels
        image = color_cells(log_values, kinds, levels, self._grid_lookup, self._kind_colors)
        self.grid_image.setImage(image, levels=(0, 255))
        self.grid_image.setRect(self._grid_rect)
        if tuple(self.grid_colorbar.levels()) != levels:
            self.grid_colorbar.setLevels(levels)

    def show_current(self, layer: int | None, time_step: int | None) -> None:
        """Outline cell (``layer``, ``time_step``) (0-based) and mark its time step; None hides."""
        if layer is None or time_step is None:
            self.highlight.hide()
            for line in self.time_lines:
                line.hide()
            return
        rect = QtCore.QRectF(time_step + 0.5, layer, 1.0, 1.0)
        self.highlight.setRect(rect)
        self.highlight.inner.setRect(rect)  # type: ignore[attr-defined]
        self.highlight.show()
        for line in self.time_lines:
            line.setValue(time_step + 1)
            line.show()

    def show_curve(
        self,
        steps: np.ndarray,
        norms: np.ndarray,
        reached: np.ndarray,
        factor_product: np.ndarray,
        parts_product: np.ndarray,
        current_time_step: int | None = None,
    ) -> None:
        """Draw the current layer's ``||dL/dh_t||`` and the two running products.

        Parameters
        ----------
        steps : (T,) time steps 1..T (x)
        norms : (T,) ``log10 ||dL/dh_t||`` of the cells reached (other entries ignored)
        reached : (T,) bool, the cells computed so far
        factor_product, parts_product : (T,) log10 of the running products, NaN where there
            are none
        current_time_step : 0-based time step of the current cell, or None

        Exact zeros (-inf) and non-finite values are gaps in the curve; non-finite reached
        cells get a red cross at the top of the curve.
        """
        series = (norms, factor_product, parts_product)
        shown = [np.where(reached & np.isfinite(v), v, np.nan) for v in series]
        for item, values in zip(
            (self.curve, self.factor_product_curve, self.parts_product_curve), shown, strict=True
        ):
            _set_or_clear(item, steps, values)
        bad = reached & (np.isnan(norms) | (norms == np.inf))
        finite_values = shown[0][np.isfinite(shown[0])]
        if bad.any():
            top = float(finite_values.max()) if finite_values.size else 0.0
            self.nonfinite_marks.setData(steps[bad], np.full(int(bad.sum()), top))
        else:
            self.nonfinite_marks.setData([], [])
        if current_time_step is not None and np.isfinite(shown[0][current_time_step]):
            self.current_point.setData([steps[current_time_step]], [shown[0][current_time_step]])
        else:
            self.current_point.setData([], [])
        self._set_curve_range(finite_values, shown[2])

    def _set_curve_range(self, norms: np.ndarray, parts_product: np.ndarray) -> None:
        """Whole decades around the finite log10 ``norms``, widened for the estimate by at most
        :data:`ESTIMATE_MARGIN_DECADES` (an estimate far off leaves the view rather than squash
        the curve). Changed only when the decades change: the axes stay still while stepping."""
        if norms.size == 0:
            decades = (-1.0, 1.0)
        else:
            low, high = float(norms.min()), float(norms.max())
            estimate = parts_product[np.isfinite(parts_product)]
            if estimate.size:
                low = min(low, max(float(estimate.min()), low - ESTIMATE_MARGIN_DECADES))
                high = max(high, min(float(estimate.max()), high + ESTIMATE_MARGIN_DECADES))
            decades = decade_levels(low, high)
        if decades != self._curve_decades:
            self._curve_decades = decades
            self._fit_curve_range()

    # -- ranges with room for the markers ---------------------------------------------------
    def fit_ranges(self, *_: object) -> None:
        """Ranges of the grid and the curve with a margin of screen pixels around the cells and
        decades, so the current cell's outline and the curve's circle stay whole at the first
        and last step and at the lowest and highest value (a view box clips what crosses its
        edge). Called on every resize, when markers change size (presentation mode) and for a
        new shape; the time range only while the user has not panned or zoomed it."""
        num_layers, seq_len = self._shape
        if not seq_len:
            return
        outline = self.highlight.pen().widthF() / 2 + 1
        circle = self._circle_radius() + 1
        grid_box = self.grid_plot.getViewBox()
        x_low, x_high = grid_box.viewRange()[0]
        if self._fitted_x is None or np.allclose((x_low, x_high), self._fitted_x, rtol=0, atol=1e-9):
            pad = _padding(seq_len, _device_size(grid_box)[0], max(outline, circle))
            self._fitted_x = (0.5 - pad, seq_len + 0.5 + pad)
            self.grid_plot.setXRange(*self._fitted_x, padding=0.0)
        pad = _padding(num_layers, _device_size(grid_box)[1], outline)
        self.grid_plot.setYRange(-pad, num_layers + pad, padding=0.0)
        self._fit_curve_range()

    def _circle_radius(self) -> float:
        """Screen pixels from the centre of the current value's circle to its outer edge."""
        options = self.current_point.opts
        pen = options["symbolPen"]
        width = pen.widthF() if isinstance(pen, QtGui.QPen) else 1.0
        return (float(options["symbolSize"]) + width) / 2

    def _fit_curve_range(self) -> None:
        low, high = self._curve_decades
        if high <= low:
            return
        box = self.curve_plot.getViewBox()
        pixels = _device_size(box)[1]
        pad = _padding(high - low, pixels, self._circle_radius() + 1)
        self.curve_plot.setYRange(low - pad, high + pad, padding=0.0)
        # One grid line at each labelled value, so a line never sits between two labels (the
        # labels thin out with the height: every 2nd, 5th... decade). pyqtgraph's own grid
        # (8 minor lines per decade on a log axis) took 20 to 50 ms per repaint.
        axis = self.curve_plot.getAxis("left")
        assert isinstance(axis, DecadeAxis)
        levels = np.repeat(np.array(axis.major_values(low - pad, high + pad, pixels), dtype=float), 2)
        ends = np.tile([0.5, self._shape[1] + 0.5], len(levels) // 2)
        self._decade_lines.setData(ends, levels)

    def curve_titles(self, layer: int, num_layers: int, estimate: bool = True) -> tuple[str, ...]:
        """Titles of the curve plot for ``layer`` (0-based), longest first, each a key to its
        lines in their colours: the title is the legend (a legend box would sit on the curves,
        and presentation mode has no height for a row of its own). ``estimate``: the
        mean f′ × σmax(W_hh) line is drawn (not for gated cells)."""
        theme = self.theme
        measured = f"<span style='color:{theme.function}'>━━</span> ||dL/dh_t||"
        factors = "<span>╍╍</span> product of local factors"
        parts = f"<span style='color:{theme.derivative}'>┈┈</span>"
        name, short = f"Layer {layer + 1} of {num_layers}:", f"Layer {layer + 1}:"
        if not estimate:
            return (f"{name} {measured}, {factors}", f"{name} {measured}", f"{short} {measured}")
        return (
            f"{name} {measured}, {factors}, {parts} mean f′ × σmax(W_hh) estimate",
            f"{name} {measured} &nbsp;{parts} estimate mean f′ × σmax(W_hh)",
            f"{short} {measured} &nbsp;{parts} f′ × σmax estimate",
            f"{measured} &nbsp;{parts} f′·σmax estimate",
            f"<span style='color:{theme.function}'>━</span> ||dL/dh_t|| "
            f"<span style='color:{theme.derivative}'>┈</span> f′·σmax",
        )

    def set_curve_title(self, text: str, *shorter: str) -> None:
        """Title of the curve plot (the current layer), or the first of ``shorter`` that fits; a new
        title costs a relayout, so only on change."""
        if text != self._curve_title:
            self._curve_title = text
            self._set_title(self.curve_plot, text, *shorter)

    def show_derivative(self, derivative_map: np.ndarray, layer: int) -> None:
        """Show ``derivative_map`` (H, T) of ``layer`` (0-based)."""
        image = np.ascontiguousarray(
            np.nan_to_num(derivative_map, nan=0.0, posinf=0.0, neginf=0.0), np.float32
        )
        self.derivative_image.setImage(image, levels=(0.0, max(self._max_derivative, 1e-12)))
        self.derivative_image.setRect(self._derivative_rect)
        self._set_title(
            self.derivative_plot,
            f"Layer {layer + 1}: activation derivative f'(z) per unit (dark = saturated)",
            f"Layer {layer + 1}: f'(z) per unit (dark = saturated)",
            f"Layer {layer + 1}: f'(z) per unit",
        )


def _set_or_clear(item: pg.PlotDataItem, x: np.ndarray, y: np.ndarray) -> None:
    """``setData`` that draws nothing for an all-NaN series (pyqtgraph's bounds would warn)."""
    if np.isfinite(y).any():
        item.setData(x, y)
    else:
        item.setData([], [])


def _device_size(box: pg.ViewBox) -> tuple[float, float]:
    """``box``'s width and height in screen pixels (its size times the view's presentation scale)."""
    rect = box.mapRectToDevice(box.rect())
    return (box.width(), box.height()) if rect is None else (rect.width(), rect.height())


def _padding(span: float, pixels: float, margin: float) -> float:
    """Data units to add on each side of ``span`` so that ``margin`` screen pixels of a view
    ``pixels`` long hold them: ``pad / (span + 2 pad) = margin / pixels``."""
    if pixels <= 4 * margin:
        return 0.0
    return margin * span / (pixels - 2 * margin)
