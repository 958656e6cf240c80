"""Scaling for presentation mode: widget fonts, plot views, pens, markers and legends, and back."""

from __future__ import annotations

import pytest
from PySide6 import QtCore, QtGui, QtWidgets

# isort: split
import pyqtgraph as pg

from gradsim.ui.common import scaling
from gradsim.ui.common.theme import LIGHT
from gradsim.ui.training.plots.base import install_title

pytestmark = [pytest.mark.qt_log_level_fail("WARNING")]

WA_SET_FONT = QtCore.Qt.WidgetAttribute.WA_SetFont


def fonts(widgets: list[QtWidgets.QWidget]) -> list[tuple[str, bool]]:
    return [(widget.font().toString(), widget.testAttribute(WA_SET_FONT)) for widget in widgets]


def test_fonts_scale_and_come_back_inherited_or_own(qtbot):
    root = QtWidgets.QWidget()
    qtbot.addWidget(root)
    layout = QtWidgets.QVBoxLayout(root)
    inherited = QtWidgets.QLabel("inherits its font")
    own = QtWidgets.QLabel("has its own, bold")
    bold = own.font()
    bold.setBold(True)
    bold.setPointSizeF(bold.pointSizeF() * 1.2)
    own.setFont(bold)
    pixels = QtWidgets.QPushButton("sized in pixels")
    pixel_font = pixels.font()
    pixel_font.setPixelSize(15)
    pixels.setFont(pixel_font)
    view = pg.GraphicsLayoutWidget()  # its text is the scene's: no font of its own is set
    for widget in (inherited, own, pixels, view):
        layout.addWidget(widget)
    root.show()
    widgets = [root, inherited, own, pixels, view]
    before = fonts(widgets)
    points = [widget.font().pointSizeF() for widget in (root, inherited, own)]

    scaling.scale_fonts(root, 1.6)
    assert [w.font().pointSizeF() for w in (root, inherited, own)] == pytest.approx([p * 1.6 for p in points])
    assert own.font().bold()
    assert pixels.font().pixelSize() == 24
    assert not view.testAttribute(WA_SET_FONT)  # not set: the plot view only inherits
    hint = inherited.sizeHint().height()

    scaling.scale_fonts(root, 1.6)  # again: nothing grows twice
    assert inherited.font().pointSizeF() == pytest.approx(points[1] * 1.6)
    assert inherited.sizeHint().height() == hint

    scaling.scale_fonts(root, 1.0)
    assert fonts(widgets) == before
    # The label inherits again: a new font of its parent reaches it.
    larger = root.font()
    larger.setPointSizeF(21)
    root.setFont(larger)
    assert inherited.font().pointSizeF() == 21 and own.font().pointSizeF() == pytest.approx(points[2])


def test_scale_one_on_a_widget_never_scaled_changes_nothing(qtbot):
    label = QtWidgets.QLabel("plain")
    qtbot.addWidget(label)
    scaling.scale_fonts(label, 1.0)
    assert not label.testAttribute(WA_SET_FONT)


def plot_scene(qtbot) -> tuple[pg.GraphicsLayoutWidget, dict[str, object]]:
    view = pg.GraphicsLayoutWidget()
    qtbot.addWidget(view)
    view.resize(500, 400)
    plot = view.addPlot()
    install_title(plot)
    plot.setTitle("a title that spans the plot")
    other = view.addPlot(row=1, col=0, title="pyqtgraph's own title")
    curve = plot.plot([1, 2, 3], [1, 3, 2], pen=LIGHT.pen("#1f77b4", 3))
    marker_pen = LIGHT.pen("#000000", 1)
    dots = pg.PlotDataItem([1, 2], [2, 1], pen=None, symbol="o", symbolSize=8, symbolPen=marker_pen)
    plot.addItem(dots)
    line = pg.InfiniteLine(pos=2, angle=90, pen=LIGHT.pen("#505050", 1.5))
    plot.addItem(line)
    outline = QtWidgets.QGraphicsRectItem(QtCore.QRectF(0, 0, 1, 1))
    outline.setPen(pg.mkPen("#000000", width=5, cosmetic=True))
    plot.addItem(outline)
    legend = plot.addLegend(offset=(-8, 8))
    legend.addItem(curve, "curve")
    view.show()
    qtbot.waitExposed(view)
    items = {"plot": plot, "other": other, "curve": curve, "dots": dots, "line": line}
    items |= {"outline": outline, "legend": legend}
    return view, items


def test_plots_pens_markers_and_legends_scale_and_come_back(qtbot):
    view, items = plot_scene(qtbot)
    curve, dots, line, outline, legend = (items[k] for k in ("curve", "dots", "line", "outline", "legend"))
    ignores = QtWidgets.QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations
    assert legend.flags() & ignores

    scaling.scale_plots(view, 1.6)
    assert scaling.scale_of(view) == 1.6 and view.transform().m11() == pytest.approx(1.6)
    assert curve.opts["pen"].widthF() == pytest.approx(4.8)
    assert dots.opts["symbolSize"] == pytest.approx(12.8)
    assert dots.opts["symbolPen"].widthF() == pytest.approx(1.6)
    assert line.pen.widthF() == pytest.approx(2.4)
    assert outline.pen().widthF() == pytest.approx(8.0)
    assert not legend.flags() & ignores  # it follows the view's transform while scaled
    assert scaling.scale_items(view, 1.6) == 0  # idempotent
    # A pen the plot sets anew becomes the base, scaled once.
    curve.setPen(LIGHT.pen("#1f77b4", 2))
    assert scaling.scale_items(view, 1.6) == 1
    assert curve.opts["pen"].widthF() == pytest.approx(3.2)

    scaling.scale_plots(view, 1.0)
    assert view.transform().isIdentity()
    assert curve.opts["pen"].widthF() == pytest.approx(2.0)
    assert dots.opts["symbolSize"] == pytest.approx(8.0)
    assert line.pen.widthF() == pytest.approx(1.5)
    assert outline.pen().widthF() == pytest.approx(5.0)
    assert legend.flags() & ignores


def title_columns(plot: pg.PlotItem) -> list[int]:
    layout = plot.layout
    return [column for column in range(layout.columnCount()) if layout.itemAt(0, column) is plot.titleLabel]


def test_titles_span_the_plot_while_scaled_and_keep_their_place_after(qtbot):
    view, items = plot_scene(qtbot)
    spanning, own = items["plot"], items["other"]
    assert title_columns(spanning) == [0, 1, 2] and title_columns(own) == [1]
    scaling.scale_plots(view, 1.6)
    assert title_columns(spanning) == [0, 1, 2] and title_columns(own) == [0, 1, 2]
    scaling.scale_plots(view, 1.0)
    assert title_columns(spanning) == [0, 1, 2] and title_columns(own) == [1]


def test_the_scene_is_the_view_over_the_scale(qtbot):
    view, _ = plot_scene(qtbot)
    scaling.scale_plots(view, 1.6)
    view.resize(800, 480)
    qtbot.wait(50)
    assert view.sceneRect().width() == pytest.approx(800 / 1.6)
    assert view.sceneRect().height() == pytest.approx(480 / 1.6)
    assert isinstance(view.ci.geometry(), QtCore.QRectF)
    assert view.ci.geometry().width() == pytest.approx(500)
    scaling.scale_plots(view, 1.0)
    assert view.sceneRect().width() == pytest.approx(800)


def test_pen_width_zero_is_one_pixel(qtbot):
    view, items = plot_scene(qtbot)
    line = items["line"]
    line.setPen(QtGui.QPen(QtGui.QColor("#000000"), 0))
    scaling.scale_items(view, 2.0)
    assert line.pen.widthF() == pytest.approx(2.0)
