"""The pictures of an animation: a QImage read as RGB, and the offscreen dashboard and
backward-pass view at the presentation scale."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import small_config
from PySide6 import QtGui

from gradsim.engine.simulation import replay
from gradsim.ui.common.theme import LIGHT
from gradsim.ui.features.presentation import presentation
from gradsim.ui.features.recording.animation import trained_params
from gradsim.ui.features.recording.frame_sources import BackpropFrames, DashboardFrames, qimage_to_rgb

pytestmark = [pytest.mark.qt_log_level_fail("WARNING")]

SMALL = small_config(activation="sigmoid", seed=2)


def two_colour_image(fmt: QtGui.QImage.Format, right: QtGui.QColor) -> QtGui.QImage:
    """A 5 x 3 image: the left 2 columns (10, 20, 30), the rest ``right``."""
    image = QtGui.QImage(5, 3, fmt)
    image.fill(QtGui.QColor(10, 20, 30))
    for y in range(3):
        for x in range(2, 5):
            image.setPixelColor(x, y, right)
    return image


@pytest.mark.parametrize(
    "fmt",
    [
        QtGui.QImage.Format.Format_ARGB32_Premultiplied,  # what render.png_image paints: read directly
        QtGui.QImage.Format.Format_RGB32,
        QtGui.QImage.Format.Format_RGB888,  # converted by Qt
    ],
)
def test_an_image_reads_as_rgb_rows_and_columns(qapp, fmt):
    rgb = qimage_to_rgb(two_colour_image(fmt, QtGui.QColor(200, 150, 100)))
    assert rgb.shape == (3, 5, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb[:, :2], np.broadcast_to([10, 20, 30], (3, 2, 3)))
    np.testing.assert_array_equal(rgb[:, 2:], np.broadcast_to([200, 150, 100], (3, 3, 3)))
    assert rgb.flags.owndata  # a copy: the image's buffer may go


def test_a_transparent_image_is_converted_not_read_raw(qapp):
    # Premultiplied bytes of a half-transparent pixel are not its colour: Qt converts those.
    image = two_colour_image(
        QtGui.QImage.Format.Format_ARGB32_Premultiplied, QtGui.QColor(200, 150, 100, 128)
    )
    expected = image.convertToFormat(QtGui.QImage.Format.Format_RGB888).pixelColor(3, 1)
    rgb = qimage_to_rgb(image)
    assert tuple(rgb[1, 3]) == (expected.red(), expected.green(), expected.blue())
    np.testing.assert_array_equal(rgb[:, :2], np.broadcast_to([10, 20, 30], (3, 2, 3)))


def test_presentation_scale_carries_into_the_frames(qtbot) -> None:
    normal = DashboardFrames(SMALL, "gradient", 500, LIGHT)
    scaled = DashboardFrames(SMALL, "gradient", 500, LIGHT, scale=presentation.PRESENTATION_SCALE)
    try:
        records = list(replay(SMALL, 3))
        for frames in (normal, scaled):
            frames.add(records)
        plain, large = normal.frame(), scaled.frame()
        view = scaled.dashboard.plots["gradient"].graphics
        assert presentation.scale_of(view) == presentation.PRESENTATION_SCALE
        assert view.transform().m11() == pytest.approx(presentation.PRESENTATION_SCALE)
        curve = scaled.dashboard.plots["gradient"].curves[0]
        assert curve.opts["pen"].widthF() == pytest.approx(3.0 * presentation.PRESENTATION_SCALE)
        # Thicker lines and larger text: more dark pixels in the same frame size.
        assert plain.shape == large.shape
        dark = [np.count_nonzero(picture.sum(axis=2) < 300) for picture in (plain, large)]
        assert dark[1] > 1.3 * dark[0]
    finally:
        normal.close()
        scaled.close()


def test_backward_pass_frames_in_presentation_mode_are_larger_and_whole(qtbot) -> None:
    """The Backprop tab's recording in presentation mode: the view drawn as the tab shows it in
    the mode (text, lines, markers x1.6), in a frame of the same size, every plot text whole."""
    from layout_checks import plot_texts_cut

    params, _ = trained_params(SMALL, 3)
    scale = presentation.PRESENTATION_SCALE
    normal = BackpropFrames(SMALL, params, width=800, theme=LIGHT)
    scaled = BackpropFrames(SMALL, params, width=800, theme=LIGHT, scale=scale)
    try:
        half = normal.total_cells // 2
        plain, large = normal.frame(half), scaled.frame(half)
        assert plain.shape == large.shape and scaled.size == normal.size
        graphics = scaled.view.graphics
        assert presentation.scale_of(graphics) == scale
        assert graphics.transform().m11() == pytest.approx(scale)
        assert graphics.curve.opts["pen"].widthF() == pytest.approx(3.0 * scale)
        assert graphics.current_point.opts["symbolSize"] == pytest.approx(11 * scale)
        reading = (normal.view.reading.font().pointSizeF(), scaled.view.reading.font().pointSizeF())
        assert reading[1] == pytest.approx(reading[0] * scale)
        assert plot_texts_cut(scaled.view) == []
        assert np.mean(np.any(plain != large, axis=2)) > 0.2  # a different picture, not a few pixels
    finally:
        normal.close()
        scaled.close()
