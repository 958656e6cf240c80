"""Light pens while a run trains, the plots' own pens and antialiasing for figures."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from gradsim.ui.training.plots.quality import RESCAN_PAINTS, PlotGraphics, full_quality, is_heavy, light_pen

BACKGROUND = "#ffffff"
LINE = "#d62728"


def pen(width: float, dashed: bool = False) -> QtGui.QPen:
    made = pg.mkPen(LINE, width=width)
    if dashed:
        made.setStyle(QtCore.Qt.PenStyle.DashLine)
    made.setCosmetic(True)
    return made


def test_heavy_pens_are_the_wide_and_the_dashed_ones():
    assert is_heavy(pen(3.0)) and is_heavy(pen(1.5)) and is_heavy(pen(1.0, dashed=True))
    assert not is_heavy(pen(1.0)) and not is_heavy(None)
    assert not is_heavy(QtGui.QPen(QtCore.Qt.PenStyle.NoPen))
    light = light_pen(pen(3.0))
    assert light.widthF() == 1.0 and light.style() == QtCore.Qt.PenStyle.SolidLine and light.isCosmetic()
    assert light.color() == QtGui.QColor(LINE)
    # A dashed curve stays dashed while training: the dashes say which curve it is.
    dashed = light_pen(pen(3.0, dashed=True))
    assert dashed.widthF() == 1.0 and dashed.style() == QtCore.Qt.PenStyle.DashLine and dashed.isCosmetic()
    custom = pg.mkPen(LINE, width=2, style=QtCore.Qt.PenStyle.CustomDashLine)
    custom.setDashPattern([4.0, 2.0])
    assert light_pen(custom).dashPattern() == [4.0, 2.0]


def graphics_with_line(qtbot, width: float, points: list) -> tuple[PlotGraphics, pg.PlotDataItem]:
    """A PlotGraphics (no axes) with one curve through ``points`` in a 0..10 x 0..10 view."""
    graphics = PlotGraphics()
    qtbot.addWidget(graphics)
    graphics.setBackground(BACKGROUND)
    plot = graphics.addPlot()
    plot.hideAxis("left")
    plot.hideAxis("bottom")
    plot.setRange(xRange=(0, 10), yRange=(0, 10), padding=0.0)
    x, y = np.array(points, dtype=np.float64).T
    curve = plot.plot(x, y, pen=pen(width))
    graphics.resize(300, 200)
    graphics.show()
    qtbot.waitExposed(graphics)
    return graphics, curve


def line_rows(graphics: PlotGraphics) -> int:
    """How many pixel rows the horizontal line covers in the middle column of the view."""
    image = graphics.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGB888)
    array = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    column = array[:, 3 * (image.width() // 2) : 3 * (image.width() // 2) + 3].astype(int)
    red = QtGui.QColor(LINE)
    return int(np.all(np.abs(column - [red.red(), red.green(), red.blue()]) < 40, axis=1).sum())


def test_draft_paints_a_thick_curve_one_pixel_wide_and_keeps_its_pen(qtbot):
    graphics, curve = graphics_with_line(qtbot, 5.0, [(0, 5), (10, 5)])
    assert line_rows(graphics) == 5
    graphics.draft = True
    assert line_rows(graphics) == 1
    # Only the paint used the light pen: the item, its legend and scaling keep the real one.
    assert curve.opts["pen"].widthF() == 5.0 and curve.curve.opts["pen"].widthF() == 5.0
    graphics.draft = False
    assert line_rows(graphics) == 5


def test_draft_keeps_axes_and_texts_as_pixmaps_and_stops_when_the_run_stops(qtbot):
    graphics = PlotGraphics()
    qtbot.addWidget(graphics)
    plot = graphics.addPlot(title="a title")
    plot.setLabel("left", "a label")
    graphics.resize(300, 200)
    graphics.show()
    qtbot.waitExposed(graphics)
    items = [i for i in graphics.scene().items() if isinstance(i, pg.AxisItem | QtWidgets.QGraphicsTextItem)]
    assert len(items) >= 6  # four axes, the title, the label
    cached = QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache
    graphics.draft = True
    graphics.grab()
    assert all(item.cacheMode() == cached for item in items)
    graphics.draft = False
    assert all(item.cacheMode() == QtWidgets.QGraphicsItem.CacheMode.NoCache for item in items)


def test_full_quality_antialiases_and_uses_the_real_pens_then_restores(qtbot):
    graphics, curve = graphics_with_line(qtbot, 5.0, [(0, 5), (10, 5)])
    graphics.draft = True
    assert curve.curve.opts["antialias"] is False
    with full_quality([graphics]):
        assert not graphics.draft
        assert curve.curve.opts["antialias"] is True
        assert line_rows(graphics) >= 4  # five pixels, antialiased edges
    assert graphics.draft and curve.curve.opts["antialias"] is False
    assert line_rows(graphics) == 1


def blended_pixels(graphics: PlotGraphics) -> int:
    """Pixels that are neither the background nor the line's colour (antialiasing's shades)."""
    image = graphics.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGB888)
    array = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    array = array[:, : 3 * image.width()].reshape(image.height(), image.width(), 3).astype(int)
    red, white = QtGui.QColor(LINE), QtGui.QColor(BACKGROUND)
    is_line = np.all(np.abs(array - [red.red(), red.green(), red.blue()]) <= 2, axis=2)
    is_background = np.all(np.abs(array - [white.red(), white.green(), white.blue()]) <= 2, axis=2)
    return int((~is_line & ~is_background).sum())


def test_a_diagonal_curve_is_antialiased_in_full_quality_only(qtbot):
    graphics, _ = graphics_with_line(qtbot, 2.0, [(0, 0), (10, 7)])
    assert blended_pixels(graphics) == 0  # on screen: no antialiasing
    with full_quality([graphics]):
        assert blended_pixels(graphics) > 100


def test_a_curve_added_while_drafting_gets_the_light_pen_at_the_next_look(qtbot):
    graphics, _ = graphics_with_line(qtbot, 1.0, [(0, 2), (10, 2)])
    graphics.draft = True
    graphics.grab()  # the first draft paint looks at the scene
    added = pg.PlotDataItem([0, 10], [7, 7], pen=pen(5.0))
    graphics.getItem(0, 0).addItem(added)
    # Until the next look, the new curve paints with its own pen (only slower): 1 + 5 rows...
    assert line_rows(graphics) == 6
    for _ in range(RESCAN_PAINTS):
        graphics.grab()
    # ...then light, like the other: 1 + 1; its own pen is kept.
    assert line_rows(graphics) == 2
    assert added.opts["pen"].widthF() == 5.0


def test_light_pens_are_worked_out_once_per_pen_not_at_every_paint(qtbot):
    graphics, curve = graphics_with_line(qtbot, 5.0, [(0, 5), (10, 5)])
    thin = graphics.getItem(0, 0).plot([0, 10], [2, 2], pen=pen(1.0))
    graphics.draft = True
    for _ in range(5):
        graphics.grab()
    assert graphics.lights.made == 2  # one look at each curve's pen, whatever the paints
    assert line_rows(graphics) == 1 + 1
    curve.setPen(pen(3.0))  # a new pen: looked at again at the next paint
    assert line_rows(graphics) == 1 + 1 and graphics.lights.made == 3
    curve.opts["pen"].setWidthF(7.0)  # a pen changed in place, too
    curve.curve.opts["pen"] = curve.opts["pen"]
    assert line_rows(graphics) == 1 + 1 and graphics.lights.made == 4
    graphics.draft = False
    assert line_rows(graphics) == 7 + 1  # its own pen again
    assert thin.opts["pen"].widthF() == 1.0 and curve.opts["pen"].widthF() == 7.0


def test_the_viewport_skips_its_own_fill_only_under_an_opaque_background(qtbot):
    graphics = PlotGraphics()
    qtbot.addWidget(graphics)
    graphics.resize(120, 90)
    graphics.show()
    qtbot.waitExposed(graphics)
    viewport = graphics.viewport()
    opaque = QtCore.Qt.WidgetAttribute.WA_OpaquePaintEvent

    def skips_fill() -> bool:
        return viewport.testAttribute(opaque) and not viewport.autoFillBackground()

    graphics.setBackground(BACKGROUND)
    assert skips_fill()
    assert graphics.grab().toImage().pixelColor(5, 5).name() == BACKGROUND  # the view's own
    graphics.setBackground(None)  # transparent: what lies behind must be painted first
    assert not viewport.testAttribute(opaque) and viewport.autoFillBackground()
    graphics.setBackground("#80ff0000")  # translucent
    assert not skips_fill()
    graphics.setBackgroundBrush(QtGui.QBrush(QtGui.QColor("#202020"), QtCore.Qt.BrushStyle.Dense4Pattern))
    assert not skips_fill()  # a pattern leaves gaps
    graphics.setBackgroundBrush(QtGui.QColor("#1e1e1e"))
    assert skips_fill()
    assert graphics.grab().toImage().pixelColor(5, 5).name() == "#1e1e1e"
