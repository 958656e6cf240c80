"""The phase diagram of a sweep: a heatmap of the gradient's change, the theory's edge on top.

One widget, :class:`SweepPlot`, draws a :class:`~gradsim.engine.sweep.SweepResult` for the
Sweep tab and, laid out offscreen, for ``gradsim sweep --image`` (:func:`sweep_png`), so the
window and the command line give the same picture.

The image is drawn in grid index space; :class:`~.sweep_scale.AxisScale` maps the swept values
to index positions and :class:`GridAxis` labels round values of the field wherever they fall
(:func:`~.sweep_scale.round_ticks`). The words (titles, key, tooltips) come from
:mod:`.sweep_text`.
"""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

# isort: split
import pyqtgraph as pg

from gradsim.engine import sweep
from gradsim.engine.sweep import CriticalLine, SweepResult
from gradsim.ui.common.scaling import scale_of, scale_plots
from gradsim.ui.common.teardown import release_window
from gradsim.ui.common.theme import LIGHT, Theme, current_theme, style_colorbar, style_plot
from gradsim.ui.features.sweep.sweep_scale import AxisScale, round_ticks, symmetric_levels
from gradsim.ui.features.sweep.sweep_text import (
    LINE_LABELS,
    field_label,
    format_decades,
    format_value,
    plot_title,
    theory_explanation,
    verdict,
)
from gradsim.ui.training.plots.base import install_title, set_title

__all__ = [
    "COLORBAR_LABEL",
    "COLORBAR_LABEL_SHORT",
    "STATUS_COLORS",
    "GridAxis",
    "SweepPlot",
    "diverging_colormap",
    "sweep_png",
]

COLORBAR_LABEL = "log10 ratio (extreme span)"
# In presentation mode: 1.6 times larger, the long one is longer than the bar at 1280 x 720.
COLORBAR_LABEL_SHORT = "log10 ratio"
# Cells without a value, drawn over the colour map in colours it does not contain (it runs
# blue - white - red), each with a key entry.
NOT_COMPUTED = -1
STATUS_COLORS = {
    sweep.STATUS_OVERFLOW: "#000000",
    sweep.STATUS_VANISHED: "#6b6b6b",
    sweep.STATUS_NO_GRADIENT: "#a8a8a8",
    NOT_COMPUTED: "#e4e4e4",
}
STATUS_KEYS = {
    sweep.STATUS_OVERFLOW: "overflow (inf/NaN)",
    sweep.STATUS_VANISHED: "vanished to exactly 0",
    sweep.STATUS_NO_GRADIENT: "no gradient at step T",
    NOT_COMPUTED: "not computed",
}
# Blue (vanishing) - white (no change) - red (exploding): ColorBrewer RdBu, reversed.
_DIVERGING = ("#2166ac", "#67a9cf", "#d1e5f0", "#f7f7f7", "#fddbc7", "#ef8a62", "#b2182b")
# The default picture of `gradsim sweep --image` and of the docs, in logical pixels.
DEFAULT_IMAGE_SIZE = (900, 720)


def diverging_colormap() -> pg.ColorMap:
    """Blue below 0 (vanishing), white at 0 (no change), red above (exploding)."""
    positions = np.linspace(0.0, 1.0, len(_DIVERGING))
    return pg.ColorMap(positions, [pg.mkColor(c) for c in _DIVERGING], name="gradsim-diverging")


class GridAxis(pg.AxisItem):
    """An axis over grid index positions whose ticks sit at round values of the swept field.

    Log-spaced axes spanning a decade or more get 1-2-5 ticks per decade; others evenly spaced
    round values. Labels are the real values, never log10 or index numbers.
    """

    def __init__(self, orientation: str) -> None:
        super().__init__(orientation)
        self.scale_map: AxisScale | None = None

    def set_scale(self, scale: AxisScale | None) -> None:
        self.scale_map = scale
        self.picture = None  # pyqtgraph caches the drawn ticks
        self.update()

    def tick_values(self, low: float, high: float, pixels: float) -> list[float]:
        """Round field values whose positions lie in ``low..high`` (index space)."""
        if self.scale_map is None:
            return []
        wanted = max(2, int(pixels / (110 if self.orientation in ("top", "bottom") else 60)))
        return round_ticks(self.scale_map, low, high, wanted)

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, list[float]]]:  # noqa: N802, N803
        return [(1.0, self.tick_values(minVal, maxVal, size))]

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:  # noqa: N802
        if self.scale_map is None:
            return ["" for _ in values]
        real = self.scale_map.to_value(np.array(values, dtype=np.float64))
        return [format_value(float(v), self.scale_map.integer) for v in real]


class SweepPlot(pg.GraphicsLayoutWidget):
    """The phase diagram: heatmap, colour bar, theory's critical line, measured edge, key.

    Attributes
    ----------
    plot : the PlotItem (x: the sweep's x axis, y: its y axis, both in grid index positions)
    image : ImageItem; ``image.image`` is ``(ny, nx)`` float32, ``result.values`` with cells
        without a value set to 0 (they are covered by ``status_image``)
    status_image : RGBA ImageItem colouring overflow, vanished, no-gradient and not-computed cells
    colorbar : ColorBarItem, levels symmetric about 0 in whole decades
    critical_curve : the theory's critical line (index positions; see :attr:`x_scale`)
    edge_curve : where the measured value crosses 0, one point per grid line
    legend : the key below the plot (lines and the cell colours present); its tooltip, and the
        hover text over it, is :attr:`theory_text`
    theory_text : what the theory's line and the measured dots mean (:func:`theory_explanation`)
    x_scale, y_scale : :class:`AxisScale` of the shown result
    result, line : what is shown (None before :meth:`show_result`)

    Signals
    -------
    cellClicked(row, column) : the user clicked a cell of the grid
    cellHovered(text) : the pointer is over a cell (its description) or left the grid ("")
    """

    cellClicked = QtCore.Signal(int, int)
    cellHovered = QtCore.Signal(str)

    def __init__(self, theme: Theme | None = None, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.theme = theme if theme is not None else current_theme()
        theme = self.theme
        self.setBackground(theme.background)
        self.ci.setContentsMargins(6, 6, 10, 6)
        self.x_axis, self.y_axis = GridAxis("bottom"), GridAxis("left")
        self.plot = self.addPlot(row=0, col=0, axisItems={"bottom": self.x_axis, "left": self.y_axis})
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        # A title that never widens the plot past its pane (the full one is then a tooltip).
        install_title(self.plot)
        # A phase diagram is read whole and clicked to load a cell: no pan or zoom to get lost in.
        self.plot.setMouseEnabled(x=False, y=False)
        style_plot(self.plot, theme, title="", left="", bottom="")
        self.y_axis.setWidth(70)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.status_image = pg.ImageItem(axisOrder="row-major")
        self.status_image.setZValue(5)
        self.plot.addItem(self.image)
        self.plot.addItem(self.status_image)
        self.colorbar = pg.ColorBarItem(
            values=(-1.0, 1.0), colorMap=diverging_colormap(), interactive=False, width=18,
            colorMapMenu=False, pen=theme.pen(theme.foreground, 1),
        )  # fmt: skip
        self.colorbar.setImageItem(self.image, insert_in=self.plot)
        style_colorbar(self.colorbar, theme, COLORBAR_LABEL)
        self._short_labels = False

        self.critical_curve = pg.PlotDataItem(
            pen=_outlined_pen(theme.foreground, 3.0, dashed=True), connect="finite"
        )
        self.edge_curve = pg.PlotDataItem(
            pen=theme.pen("#1a9641", 1.5), connect="finite", symbol="o", symbolSize=8,
            symbolPen=theme.pen("#ffffff", 1.2), symbolBrush="#1a9641",
        )  # fmt: skip
        self.critical_curve.setZValue(10)
        self.edge_curve.setZValue(11)
        self.plot.addItem(self.critical_curve)
        self.plot.addItem(self.edge_curve)

        self.legend = pg.LegendItem(
            colCount=3, labelTextColor=theme.foreground, labelTextSize=f"{theme.tick_pt}pt",
            horSpacing=24, verSpacing=-4,
        )  # fmt: skip
        self.addItem(self.legend, row=1, col=0)
        self._status_samples = {
            status: pg.PlotDataItem(
                pen=None,
                symbol="s",
                symbolSize=13,
                symbolBrush=color,
                symbolPen=theme.pen(theme.foreground, 1),
            )
            for status, color in STATUS_COLORS.items()
        }
        self.result: SweepResult | None = None
        self.line: CriticalLine | None = None
        self.x_scale: AxisScale | None = None
        self.y_scale: AxisScale | None = None
        self.hover_text = ""
        self.theory_text = theory_explanation(None)
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.scene().sigMouseClicked.connect(self._on_mouse_clicked)
        self.clear_result()

    # -- showing -------------------------------------------------------------------------------
    def clear_result(self) -> None:
        """Show an empty plot (no sweep yet)."""
        self.result = None
        self.line = None
        self.image.hide()
        self.status_image.hide()
        self.critical_curve.setData([], [])
        self.edge_curve.setData([], [])
        self.legend.clear()
        self.x_axis.set_scale(None)
        self.y_axis.set_scale(None)
        self.plot.setTitle("No sweep yet", color=self.theme.foreground, size=f"{self.theme.title_pt}pt")

    def show_result(self, result: SweepResult, line: CriticalLine | None = None) -> None:
        """Draw ``result`` (complete or partial) and, if given, the theory's ``line``."""
        spec = result.spec
        new_grid = self.result is None or self.result.spec != spec
        self.result, self.line = result, line
        ny, nx = spec.shape
        if new_grid:
            self.x_scale = AxisScale(spec.x.values, spec.x.spacing, spec.x.field in sweep.INTEGER_FIELDS)
            self.y_scale = AxisScale(spec.y.values, spec.y.spacing, spec.y.field in sweep.INTEGER_FIELDS)
            self.x_axis.set_scale(self.x_scale)
            self.y_axis.set_scale(self.y_scale)
            self._set_labels()
            self.plot.setXRange(-0.5, nx - 0.5, padding=0.0)
            self.plot.setYRange(-0.5, ny - 0.5, padding=0.0)
        title = plot_title(result)
        style = {"color": self.theme.foreground, "size": f"{self.theme.title_pt}pt"}
        set_title(self.plot, title, title.split("; ")[0], **style)
        rect = QtCore.QRectF(-0.5, -0.5, nx, ny)
        values = result.values
        shown = np.where(np.isfinite(values), values, 0.0).astype(np.float32)
        levels = symmetric_levels(values)
        self.image.setImage(np.ascontiguousarray(shown), levels=levels)
        self.image.setRect(rect)
        self.image.show()
        self.colorbar.setLevels(levels)
        statuses = cell_statuses(result)
        overlay = np.zeros((ny, nx, 4), dtype=np.uint8)
        for status, color in STATUS_COLORS.items():
            qcolor = pg.mkColor(color)
            overlay[statuses == status] = (qcolor.red(), qcolor.green(), qcolor.blue(), 255)
        self.status_image.setImage(overlay, levels=(0, 255))
        self.status_image.setRect(rect)
        self.status_image.setVisible(bool((statuses != sweep.STATUS_OK).any()))
        self._draw_lines(result, line)
        self._fill_legend(statuses)
        # The layout grows with its items' minimum widths (a longer title, a wider key) but
        # the view does not shrink it back on its own: fit it to the widget again (the scene is
        # the widget's size over the presentation scale).
        scale = scale_of(self)
        self.ci.setGeometry(QtCore.QRectF(0, 0, self.width() / scale, self.height() / scale))

    def _draw_lines(self, result: SweepResult, line: CriticalLine | None) -> None:
        assert self.x_scale is not None and self.y_scale is not None
        if line is not None and line.available:
            assert line.x is not None and line.y is not None
            self.critical_curve.setData(self.x_scale.to_plot(line.x), self.y_scale.to_plot(line.y))
        else:
            self.critical_curve.setData([], [])
        edge_x, edge_y = sweep.measured_edge(result)
        if np.isfinite(edge_x).any() and np.isfinite(edge_y).any():
            self.edge_curve.setData(self.x_scale.to_plot(edge_x), self.y_scale.to_plot(edge_y))
        else:
            self.edge_curve.setData([], [])

    def _fill_legend(self, statuses: np.ndarray) -> None:
        self.legend.clear()
        line = self.line
        self.theory_text = theory_explanation(line)
        self.legend.setToolTip(self.theory_text)
        if line is not None and line.available:
            criterion = LINE_LABELS.get(line.criterion, line.criterion)
            self.legend.addItem(
                self.critical_curve, f"theory: {criterion} (mean field){self._off_grid_note()}"
            )
        if self.edge_curve.xData is not None and len(self.edge_curve.xData):
            self.legend.addItem(self.edge_curve, "measured: ratio crosses 1")
        for status, sample in self._status_samples.items():
            if (statuses == status).any():
                self.legend.addItem(sample, STATUS_KEYS[status])
        self._fit_legend()

    def _fit_legend(self) -> None:
        """As many key columns as fit the width: a key wider than the widget would push the
        colour bar out of sight (the layout grows to its widest row)."""
        if getattr(self, "legend", None) is None:  # pyqtgraph resizes during its own __init__
            return
        # The key keeps its own size in pixels, times the presentation scale (see scaling).
        available = self.width() / scale_of(self) - 20
        for columns in (3, 2, 1):
            self.legend.setColumnCount(columns)
            if self.legend.layout.preferredWidth() <= available:
                break

    def set_presentation_scale(self, scale: float) -> None:
        """Draw the phase diagram ``scale`` times larger (1: normal): text, lines, markers, key.

        Larger, the axis and colour bar titles say less ("(log)", "log10 ratio"): the long ones
        are longer than their axes in a 1280 x 720 window.
        """
        scale_plots(self, scale)
        self._short_labels = scale != 1.0
        self._set_labels()
        self._fit_legend()

    def _set_labels(self) -> None:
        """The colour bar's title and, with a result shown, the axes' (short in presentation mode)."""
        style = {"color": self.theme.foreground, "font-size": f"{self.theme.label_pt}pt"}
        short = self._short_labels
        self.colorbar.axis.setLabel(COLORBAR_LABEL_SHORT if short else COLORBAR_LABEL, **style)
        if self.result is not None:
            spec = self.result.spec
            self.x_axis.setLabel(field_label(spec.x.field, spec.x.spacing, short), **style)
            self.y_axis.setLabel(field_label(spec.y.field, spec.y.spacing, short), **style)

    def resizeEvent(self, event: QtGui.QResizeEvent | None) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._fit_legend()

    def _off_grid_note(self) -> str:
        """Where the theory's line is when none of it falls on the grid (else "")."""
        assert self.result is not None and self.line is not None
        ny, nx = self.result.spec.shape
        x, y = self.critical_curve.xData, self.critical_curve.yData
        if x is None or y is None or not len(x):
            return ""
        on_grid = (x >= -0.5) & (x <= nx - 0.5) & (y >= -0.5) & (y <= ny - 0.5)
        if on_grid.any():
            return ""
        scales = self.line.x if self.result.spec.x.field == "weight_scale" else self.line.y
        assert scales is not None
        finite = scales[np.isfinite(scales)]
        low, high = float(finite.min()), float(finite.max())
        where = f"{low:.3g}" if high - low <= 1e-3 * high else f"{low:.3g} to {high:.3g}"
        return f": off the grid, at weight scale {where}"

    # -- cells ---------------------------------------------------------------------------------
    def cell_at(self, view_point: QtCore.QPointF) -> tuple[int, int] | None:
        """``(row, column)`` of the cell under a point in view (index) coordinates, or None."""
        if self.result is None:
            return None
        ny, nx = self.result.spec.shape
        column, row = round(view_point.x()), round(view_point.y())
        if 0 <= row < ny and 0 <= column < nx and abs(view_point.x() - column) <= 0.5:
            return (row, column)
        return None

    def cell_center(self, row: int, column: int) -> QtCore.QPoint:
        """Where the centre of a cell is, in the widget's viewport pixels (for tests and tours)."""
        scene_point = self.plot.getViewBox().mapViewToScene(QtCore.QPointF(column, row))
        return self.mapFromScene(scene_point)

    def cell_text(self, row: int, column: int) -> str:
        """A cell's description: both field values, its value and each seed's."""
        assert self.result is not None
        result, spec = self.result, self.result.spec
        x_text = format_value(spec.x.values[column], spec.x.field in sweep.INTEGER_FIELDS)
        y_text = format_value(spec.y.values[row], spec.y.field in sweep.INTEGER_FIELDS)
        where = f"{spec.x.field} = {x_text}, {spec.y.field} = {y_text}"
        status = int(cell_statuses(result)[row, column])
        if status == NOT_COMPUTED:
            return f"{where}\nnot computed yet"
        seeds: tuple[int, ...] = spec.seeds  # type: ignore[assignment]
        per_seed = ", ".join(
            f"{seed}: {format_decades(value)}"
            for seed, value in zip(seeds, result.seed_values[row, column], strict=True)
        )
        if status == sweep.STATUS_OK:
            value = float(result.values[row, column])
            head = f"log10 ratio {value:+.2f} decades (ratio {10.0**value:.2g}, {verdict(value)})"
        else:
            head = STATUS_KEYS[status]
        return f"{where}\n{head}\nseeds {per_seed}\nclick to load this config into the Training tab"

    @QtCore.Slot(object)
    def _on_mouse_moved(self, scene_point: QtCore.QPointF) -> None:
        view = self.plot.getViewBox()
        cell = None
        if view.sceneBoundingRect().contains(scene_point):
            cell = self.cell_at(view.mapSceneToView(scene_point))
        text = self.cell_text(*cell) if cell is not None else ""
        if not text and self.legend.sceneBoundingRect().contains(scene_point):
            # Over the key: what the dashed line and the dots mean (also on a cut-off status line).
            text = self.theory_text
        if text != self.hover_text:
            self.hover_text = text
            # Qt shows the widget's tooltip when the pointer rests; one already open follows
            # the pointer from cell to cell.
            self.setToolTip(text)
            if QtWidgets.QToolTip.isVisible():
                if text:
                    QtWidgets.QToolTip.showText(QtGui.QCursor.pos(), text, self)
                else:
                    QtWidgets.QToolTip.hideText()
            self.cellHovered.emit(text)

    @QtCore.Slot(object)
    def _on_mouse_clicked(self, event: object) -> None:
        if event.button() != QtCore.Qt.MouseButton.LeftButton:  # type: ignore[attr-defined]
            return
        view = self.plot.getViewBox()
        scene_point = event.scenePos()  # type: ignore[attr-defined]
        if not view.sceneBoundingRect().contains(scene_point):
            return
        cell = self.cell_at(view.mapSceneToView(scene_point))
        if cell is not None:
            self.cellClicked.emit(*cell)


def _outlined_pen(color: str, width: float, dashed: bool = False) -> QtGui.QPen:
    pen = pg.mkPen(color, width=width)
    if dashed:
        pen.setDashPattern([4.0, 2.5])
    pen.setCosmetic(True)
    return pen


def cell_statuses(result: SweepResult) -> np.ndarray:
    """(ny, nx) int: the STATUS_* of each computed cell, :data:`NOT_COMPUTED` elsewhere."""
    return np.where(result.computed, result.status.astype(np.int64), NOT_COMPUTED)


def sweep_png(
    result: SweepResult,
    line: CriticalLine | None,
    width: int | None = None,
    size: tuple[int, int] = DEFAULT_IMAGE_SIZE,
    theme: Theme | None = None,
    scale: float = 1.0,
) -> bytes:
    """The phase diagram as PNG bytes, drawn offscreen exactly as the Sweep tab draws it.

    Parameters
    ----------
    result, line : the sweep and the theory's critical line (None: no line)
    width : PNG width in pixels (the height in proportion to ``size``); None = twice ``size``
    size : logical size of the picture (sets the proportions and the text size relative to it)
    theme : colours; LIGHT if None (a picture for documents, not the screen's scheme)
    scale : presentation scale of text, lines and markers (1: normal; see presentation mode)

    Needs a QApplication. Raises ValueError for a width outside 200..8000.
    """
    from gradsim.ui.training import render  # a module of plots: imported only when a picture is asked for

    plot = SweepPlot(theme=theme if theme is not None else LIGHT)
    # A plain widget around the graphics view: QGraphicsView.render paints the scene, not the
    # widget, and takes other arguments than the QWidget.render the renderer uses.
    widget = QtWidgets.QWidget()
    widget.theme = plot.theme  # type: ignore[attr-defined]  # read by render for the background
    layout = QtWidgets.QVBoxLayout(widget)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(plot)
    widget.setAttribute(QtCore.Qt.WidgetAttribute.WA_DontShowOnScreen, True)
    widget.resize(*size)
    widget.show()
    QtWidgets.QApplication.processEvents()
    try:
        if scale != 1.0:
            plot.set_presentation_scale(scale)
        plot.show_result(result, line)
        QtWidgets.QApplication.processEvents()
        return render.png_bytes(widget, width)
    finally:
        release_window(widget)  # pyqtgraph's parentless Qt objects die here, on the GUI thread
        widget.close()
        widget.deleteLater()
