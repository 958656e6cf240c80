"""Presentation mode: scaled text, lines and markers, the controls folded away, remembered."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PySide6 import QtCore, QtGui

from gradsim.engine.config import SimConfig
from gradsim.ui.features.presentation import presentation
from gradsim.ui.features.presentation.presentation import PRESENTATION_SCALE, PresentationFeature, scale_of
from gradsim.ui.features.recording.animation import qimage_to_rgb
from gradsim.ui.main_window import MainWindow
from gradsim.ui.training import render

pytestmark = [
    pytest.mark.qt_log_level_fail("WARNING"),
    pytest.mark.qt_log_ignore(re.escape("This plugin does not support propagateSizeHints()")),
]

SMALL = SimConfig(num_layers=2, hidden_size=8, seq_len=12, batch_size=4, activation="sigmoid", seed=2)
pytestmark.append(pytest.mark.window(config=SMALL, size=(1280, 720), steps=3))
# Clipping that acts: the loss plot draws its clip markers (a scatter of symbols).
CLIPPED = SimConfig(
    num_layers=2, hidden_size=8, seq_len=12, batch_size=4, clip_mode="norm", clip_threshold=0.01, seed=2
)


def feature(window: MainWindow) -> PresentationFeature:
    found = window.features["gradsim.ui.features.presentation.presentation"]
    assert isinstance(found, PresentationFeature)
    return found


def title_pixels(window: MainWindow) -> float:
    """The gradient plot's title font size in screen pixels (point size x the view's scale)."""
    plot = window.dashboard.plots["gradient"]
    title = plot.plot.titleLabel
    points = float(title.opts["size"][:-2])
    return points * plot.graphics.transform().m11()


def test_f5_is_the_shortcut_and_no_other_action_has_it(make_window):
    window = make_window(steps=0)
    action = feature(window).action
    assert action.shortcut() == QtGui.QKeySequence(QtCore.Qt.Key.Key_F5)
    assert action in window.view_menu.actions()
    others = [a for a in window.findChildren(QtGui.QAction) if a is not action]
    assert all(QtGui.QKeySequence(QtCore.Qt.Key.Key_F5) not in a.shortcuts() for a in others)


def test_the_mode_scales_fonts_lines_and_markers_and_back(qtbot, make_window):
    window = make_window(CLIPPED, steps=3)
    present = feature(window)
    theme = window.dashboard.theme
    gradient = window.dashboard.plots["gradient"]
    loss = window.dashboard.plots["loss"]
    labels = presentation.selector_widgets(window.dashboard)
    assert labels
    base_points = [widget.font().pointSizeF() for widget in labels]
    bold_width = gradient.curves[0].opts["pen"].widthF()
    marker = loss.clip_markers.opts["symbolSize"]
    assert marker == 7
    assert title_pixels(window) == pytest.approx(theme.title_pt)

    present.action.trigger()  # as the View menu does
    assert present.action.isChecked() and present.scale == PRESENTATION_SCALE
    assert title_pixels(window) == pytest.approx(theme.title_pt * PRESENTATION_SCALE)
    for view in (gradient.graphics, loss.graphics):
        assert scale_of(view) == PRESENTATION_SCALE
        assert view.transform().m11() == pytest.approx(PRESENTATION_SCALE)
    # Tick labels: the tick font's points times the view's scale.
    tick_font = gradient.plot.getAxis("left").style["tickFont"]
    assert tick_font.pointSizeF() * gradient.graphics.transform().m11() == pytest.approx(
        theme.tick_pt * PRESENTATION_SCALE
    )
    assert [w.font().pointSizeF() for w in labels] == pytest.approx([p * 1.6 for p in base_points])
    assert gradient.curves[0].opts["pen"].widthF() == pytest.approx(bold_width * PRESENTATION_SCALE)
    assert loss.clip_markers.opts["symbolSize"] == pytest.approx(marker * PRESENTATION_SCALE)
    assert not window.controls_scroll.isVisible()
    assert not window.dashboard.splitters[2].isVisible()  # the bottom row
    # Only the Training tab's plots: the Backprop tab has no room for 1.6 times its panels.
    backprop = window.features["gradsim.ui.features.backprop.backprop_tab"].view.graphics
    assert scale_of(backprop) == 1.0 and backprop.transform().isIdentity()
    assert "F5" in window.statusBar().currentMessage()

    # More training: pens the plots set anew are scaled too, and nothing is scaled twice.
    window.runner.step()
    qtbot.waitUntil(lambda: gradient._seen is not None and gradient._seen[0] == 4, timeout=5000)
    assert gradient.curves[0].opts["pen"].widthF() == pytest.approx(bold_width * PRESENTATION_SCALE)
    for view in (gradient.graphics, loss.graphics):
        assert presentation.scale_items(view, PRESENTATION_SCALE) == 0

    present.action.trigger()
    assert present.scale == 1.0
    assert title_pixels(window) == pytest.approx(theme.title_pt)
    assert gradient.graphics.transform().isIdentity()
    assert [w.font().pointSizeF() for w in labels] == pytest.approx(base_points)
    assert gradient.curves[0].opts["pen"].widthF() == pytest.approx(bold_width)
    assert loss.clip_markers.opts["symbolSize"] == pytest.approx(marker)
    assert window.controls_scroll.isVisible()
    assert window.dashboard.splitters[2].isVisible()


def test_all_five_plots_can_stay(make_window):
    window = make_window(steps=1)
    present = feature(window)
    present.all_plots_action.setChecked(True)
    present.set_enabled(True)
    assert window.dashboard.splitters[2].isVisible()
    assert scale_of(window.dashboard.plots["health"].graphics) == PRESENTATION_SCALE
    present.all_plots_action.setChecked(False)
    assert not window.dashboard.splitters[2].isVisible()


def test_the_mode_persists(qtbot, make_window):
    settings = QtCore.QSettings()
    window = make_window(steps=0, settings=settings)
    feature(window).set_enabled(True)
    window.close()
    assert settings.value(presentation.PRESENTATION_KEY) in (True, "true")
    again = make_window(steps=0, settings=QtCore.QSettings())
    present = feature(again)
    assert present.action.isChecked() and present.scale == PRESENTATION_SCALE
    assert scale_of(again.dashboard.plots["gradient"].graphics) == PRESENTATION_SCALE
    assert not again.controls_scroll.isVisible()
    present.set_enabled(False)
    again.close()
    assert QtCore.QSettings().value(presentation.PRESENTATION_KEY) in (False, "false")


def test_snapshots_in_the_mode_carry_the_scale(make_window):
    window = make_window(steps=3)
    plot = window.dashboard.plots["gradient"]
    normal = qimage_to_rgb(render.png_image(plot, 800))
    feature(window).set_enabled(True)
    large = qimage_to_rgb(render.png_image(plot, 800))
    feature(window).set_enabled(False)
    again = qimage_to_rgb(render.png_image(plot, 800))
    # Thicker lines and larger text: more dark pixels (the plot's shape changed too, so the
    # images are compared by what they hold, not pixel by pixel).
    dark = [np.count_nonzero(image.sum(axis=2) < 300) / image[..., 0].size for image in (normal, large)]
    assert dark[1] > 1.3 * dark[0]
    assert again.shape == normal.shape
