"""Theme: light and dark variants chosen from the application, readable font sizes, distinct colours."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

# isort: split
import pyqtgraph as pg

from gradsim.ui.common.theme import DARK, LIGHT, current_theme, detect_scheme, style_colorbar, theme_named


def test_variants_contrast_with_their_background():
    for theme in (LIGHT, DARK):
        background = QtGui.QColor(theme.background).lightnessF()
        foreground = QtGui.QColor(theme.foreground).lightnessF()
        assert abs(background - foreground) > 0.7
    assert QtGui.QColor(LIGHT.background).lightnessF() > 0.5 > QtGui.QColor(DARK.background).lightnessF()


def test_font_sizes_are_projector_readable(qapp):
    for theme in (LIGHT, DARK):
        assert min(theme.tick_pt, theme.label_pt, theme.title_pt) >= 10
        assert theme.font(theme.tick_pt).pointSize() == theme.tick_pt


@pytest.mark.parametrize("theme", [LIGHT, DARK])
def test_sixteen_layers_get_distinct_colours_none_of_them_the_nonfinite_red(qapp, theme):
    colors = [theme.layer_color(k).name() for k in range(16)]
    assert len(set(colors)) == 16
    assert theme.nonfinite.lower() not in colors


def test_theme_follows_the_application_palette(qapp):
    original = QtGui.QGuiApplication.palette()
    if QtGui.QGuiApplication.styleHints().colorScheme() != QtGui.Qt.ColorScheme.Unknown:
        pytest.skip("the platform states a colour scheme; the palette fallback is not used")
    try:
        dark = QtGui.QPalette(original)
        dark.setColor(QtGui.QPalette.ColorRole.Window, QtGui.QColor("#202020"))
        QtWidgets.QApplication.setPalette(dark)
        assert detect_scheme() == "dark" and current_theme() is DARK
        light = QtGui.QPalette(original)
        light.setColor(QtGui.QPalette.ColorRole.Window, QtGui.QColor("#f0f0f0"))
        QtWidgets.QApplication.setPalette(light)
        assert detect_scheme() == "light" and current_theme() is LIGHT
    finally:
        QtWidgets.QApplication.setPalette(original)


def test_theme_named():
    assert theme_named("dark") is DARK and theme_named("light") is LIGHT
    with pytest.raises(ValueError, match="light' or 'dark"):
        theme_named("blue")


def _tick_texts_and_title(bar: pg.ColorBarItem) -> tuple[list[tuple[str, QtCore.QRectF]], QtCore.QRectF]:
    """The tick labels' rectangles and the title's text rectangle (without the text item's
    document margin), in the colour bar axis's coordinates."""
    axis = bar.axis
    image = QtGui.QImage(8, 8, QtGui.QImage.Format.Format_ARGB32)
    painter = QtGui.QPainter(image)
    try:
        texts = [(text, rect) for rect, _flags, text in axis.generateDrawSpecs(painter)[2]]
    finally:
        painter.end()
    margin = axis.label.document().documentMargin()
    title = axis.label.mapRectToParent(axis.label.boundingRect().adjusted(margin, margin, -margin, -margin))
    return texts, title


@pytest.mark.parametrize("height", [220, 330, 480])
def test_colorbar_tick_labels_stay_clear_of_its_title(qtbot, height):
    # The training heatmap's bar at the sizes of 1280x720 ... 1920x1080 windows: ticks such as
    # "-1.5" ran into the rotated title when pyqtgraph's fixed 45 px axis width was kept.
    widget = pg.GraphicsLayoutWidget()
    qtbot.addWidget(widget)
    plot = widget.addPlot()
    image = pg.ImageItem(np.zeros((4, 4), dtype=np.float32))
    plot.addItem(image)
    bar = pg.ColorBarItem(values=(-2.0, 0.0), colorMap=LIGHT.colormap, interactive=False, colorMapMenu=False)
    bar.setImageItem(image, insert_in=plot)
    style_colorbar(bar, LIGHT, "log10 ||dL/dh||  (decades)")
    widget.resize(250, height)
    widget.show()
    for _ in range(3):  # the axis widens once it has measured its labels, then lays out again
        widget.grab()
        QtWidgets.QApplication.processEvents()
    texts, title = _tick_texts_and_title(bar)
    assert [text for text, _ in texts if text.startswith("-1")]  # e.g. "-1.0", "-1.5"
    for text, rect in texts:
        assert not rect.intersects(title), f"tick {text!r} {rect.getRect()} overlaps {title.getRect()}"
