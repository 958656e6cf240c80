"""Theme: light and dark variants chosen from the application, readable font sizes, distinct colours."""

from __future__ import annotations

import pytest
from PySide6 import QtGui, QtWidgets

from gradsim.ui.common.theme import DARK, LIGHT, current_theme, detect_scheme, theme_named


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
