"""Painting a widget that never reaches the screen, as an ``(H, W, 3) uint8`` picture.

The animations' frame sources (the dashboard's in the recording feature, the backward pass's in
the backprop feature) lay their widget out offscreen (:func:`show_offscreen`) and paint it with
:func:`gradsim.ui.training.render.png_image` (the function snapshots use) after the layout the
painting asks for (:func:`paint_settled`). GUI thread only.
"""

from __future__ import annotations

import sys

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

# isort: split
import pyqtgraph as pg

from gradsim.ui.training import render


def qimage_to_rgb(image: QtGui.QImage) -> np.ndarray:
    """``image`` as an ``(H, W, 3) uint8`` RGB array (a copy).

    An opaque 32-bit image (what :func:`gradsim.ui.training.render.png_image` paints) is read as it is
    (bytes B, G, R, A on a little-endian machine), without Qt converting it first.
    """
    width, height = image.width(), image.height()
    formats = (QtGui.QImage.Format.Format_ARGB32_Premultiplied, QtGui.QImage.Format.Format_RGB32)
    if image.format() in formats and sys.byteorder == "little" and not _has_alpha(image):
        data = np.frombuffer(image.constBits(), dtype=np.uint8, count=image.sizeInBytes())
        pixels = data.reshape(height, image.bytesPerLine() // 4, 4)[:, :width]
        return pixels[..., 2::-1].copy()
    rgb = image.convertToFormat(QtGui.QImage.Format.Format_RGB888)
    stride = rgb.bytesPerLine()
    data = np.frombuffer(rgb.constBits(), dtype=np.uint8, count=rgb.sizeInBytes())
    return data.reshape(height, stride)[:, : 3 * width].reshape(height, width, 3).copy()


def _has_alpha(image: QtGui.QImage) -> bool:
    """Whether any pixel of a 32-bit ARGB image is not fully opaque."""
    data = np.frombuffer(image.constBits(), dtype=np.uint8, count=image.sizeInBytes())
    alpha = data.reshape(image.height(), image.bytesPerLine() // 4, 4)[:, : image.width(), 3]
    return bool((alpha != 255).any())


def settle() -> None:
    """Deliver the layout requests a refresh posted (titles and overlays are placed by them).

    Only layout events: the window's other posted events (a worker's next frame request, user
    input) must not run inside a frame.
    """
    for _ in range(2):
        QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.LayoutRequest.value)


def show_offscreen(widget: QtWidgets.QWidget, size: tuple[int, int]) -> None:
    """Lay ``widget`` out at ``size`` (logical pixels) as a window that never reaches the screen."""
    widget.setAttribute(QtCore.Qt.WidgetAttribute.WA_DontShowOnScreen, True)
    widget.resize(*size)
    widget.show()
    settle()


def _view_boxes(widget: QtWidgets.QWidget) -> list[tuple[float, float, float, float]]:
    """Where every plot's data area sits in ``widget`` (scene rectangles, in order)."""
    boxes = []
    for view in widget.findChildren(pg.GraphicsView):
        scene = view.scene()
        for item in scene.items() if scene is not None else []:
            if isinstance(item, pg.ViewBox):
                rect = item.sceneBoundingRect()
                boxes.append((rect.x(), rect.y(), rect.width(), rect.height()))
    return boxes


def paint_settled(target: QtWidgets.QWidget, width: int) -> np.ndarray:
    """``target`` painted ``width`` pixels wide, after the layout its own painting asks for.

    pyqtgraph sizes an axis to its tick labels while painting them, so the first paint after
    new data may still show the old axis width (the labels then overlap the axis title). When
    that paint moved any plot's data area, the layout it posted is applied and the target is
    painted again: the frame is then the picture a snapshot of the same state gives.
    """
    before = _view_boxes(target)
    image = render.png_image(target, width)
    settle()
    if _view_boxes(target) != before:
        image = render.png_image(target, width)
    return qimage_to_rgb(image)
