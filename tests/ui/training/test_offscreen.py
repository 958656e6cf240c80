"""Offscreen pictures: a QImage read as RGB rows and columns."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtGui

from gradsim.ui.training.offscreen import qimage_to_rgb

pytestmark = [pytest.mark.qt_log_level_fail("WARNING")]


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
