"""The pictures of an animation: offscreen copies of the dashboard and of the backward-pass view.

:class:`DashboardFrames` follows a replayed history record by record and paints the dashboard or
one plot; :class:`BackpropFrames` shows the frozen weights' backward pass ``position`` cells at
a time. Both paint with :func:`gradsim.ui.training.render.png_image` (the function snapshots
use) after the layout their painting asks for (:func:`paint_settled`), as ``(H, W, 3) uint8``
arrays (:func:`qimage_to_rgb`). GUI thread only.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

# isort: split
import pyqtgraph as pg

from gradsim.engine.config import SimConfig
from gradsim.engine.history import RunHistory
from gradsim.engine.records import StepRecord
from gradsim.ui.common.scaling import scale_items
from gradsim.ui.common.theme import Theme
from gradsim.ui.features.backprop.backprop_view import BackpropView
from gradsim.ui.training import render
from gradsim.ui.training.dashboard import PLOT_KEYS, Dashboard

DASHBOARD = "dashboard"
BACKPROP = "backprop"
TARGETS = (DASHBOARD, *PLOT_KEYS)
BOTTOM_ROW = ("loss", "activation", "health")  # the dashboard's second row
# The dashboard's logical size offscreen (as ``gradsim snapshot``): a plot gets its pane of it.
DEFAULT_DASHBOARD_SIZE = (1200, 800)
# The backward-pass view's logical size offscreen: the grid, the curve, the derivative map and
# the chain-rule numbers beside them.
DEFAULT_BACKPROP_SIZE = (1280, 760)


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


def _settle() -> None:
    """Deliver the layout requests a refresh posted (titles and overlays are placed by them).

    Only layout events: the window's other posted events (a worker's next frame request, user
    input) must not run inside a frame.
    """
    for _ in range(2):
        QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.LayoutRequest.value)


def _offscreen(widget: QtWidgets.QWidget, size: tuple[int, int]) -> None:
    """Lay ``widget`` out at ``size`` (logical pixels) as a window that never reaches the screen."""
    widget.setAttribute(QtCore.Qt.WidgetAttribute.WA_DontShowOnScreen, True)
    widget.resize(*size)
    widget.show()
    _settle()


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
    _settle()
    if _view_boxes(target) != before:
        image = render.png_image(target, width)
    return qimage_to_rgb(image)


class DashboardFrames:
    """An offscreen dashboard following a history record by record; paints one plot or all.

    Parameters
    ----------
    config : the run's config (the plots read its settings)
    target : ``"dashboard"`` or a plot key of :data:`~gradsim.ui.training.dashboard.PLOT_KEYS`
    width : frame width in pixels (height in proportion to the target's logical size)
    theme : colours; the application's if None
    size : the dashboard's logical size
    scale : presentation scale of the plots (1: normal; see presentation mode)
    dashboard_state : splitter positions (:meth:`Dashboard.save_state`) to copy, e.g. the
        window's, so that a plot has the shape it has on screen
    bottom_row : whether the dashboard's bottom row shows (presentation mode may hide it)

    Must be used on the GUI thread; :meth:`close` deletes the offscreen widgets.
    """

    def __init__(
        self,
        config: SimConfig,
        target: str = DASHBOARD,
        width: int = 640,
        theme: Theme | None = None,
        size: tuple[int, int] = DEFAULT_DASHBOARD_SIZE,
        scale: float = 1.0,
        dashboard_state: QtCore.QByteArray | bytes | None = None,
        bottom_row: bool = True,
    ) -> None:
        if target not in TARGETS:
            raise ValueError(f"the plot must be one of {', '.join(TARGETS)} (got {target!r})")
        self.config = config
        self.history = RunHistory()
        self.dashboard = Dashboard(theme=theme)
        # A plot of the bottom row is drawn even where presentation mode hides that row.
        self.dashboard.splitters[2].setVisible(bottom_row or target in BOTTOM_ROW)
        _offscreen(self.dashboard, size)
        if dashboard_state is not None:
            self.dashboard.restore_state(dashboard_state)
        self.scale = scale
        if scale != 1.0:
            self.dashboard.set_presentation_scale(scale)
        self.target: QtWidgets.QWidget = (
            self.dashboard if target == DASHBOARD else self.dashboard.plots[target]
        )
        self.width = width
        self.size = (width, render.png_size(self.target, width).height())

    def add(self, records: Iterable[StepRecord]) -> None:
        """Append ``records`` to the history shown."""
        for record in records:
            self.history.append(record)

    def frame(self) -> np.ndarray:
        """The target as it shows the history now: ``(H, W, 3) uint8``."""
        if self.target is self.dashboard:
            self.dashboard.refresh(self.history, self.config)
        else:
            # One plot shown: the other four need not draw (no plot reads another).
            self.target.refresh(self.history, self.config)  # type: ignore[attr-defined]
        _settle()
        if self.scale != 1.0:
            for view in self.dashboard.findChildren(QtWidgets.QGraphicsView):
                scale_items(view, self.scale)  # pens the refresh set anew
        return paint_settled(self.target, self.width)

    def close(self) -> None:
        """Delete the offscreen dashboard."""
        self.dashboard.close()
        self.dashboard.deleteLater()


class BackpropFrames:
    """An offscreen backward-pass view of frozen weights, shown ``position`` cells at a time.

    Parameters
    ----------
    config, params : the network (``params`` as ``Simulation.params``; copied by the view)
    batch : ``(x, y)``, the batch to backpropagate; the config's first batch if None (as the
        Backprop tab)
    width : frame width in pixels
    theme, size, scale : as :class:`DashboardFrames`

    The view computes its cells inline (on this thread): each frame advances a few cells, a
    few matrix products each.
    """

    def __init__(
        self,
        config: SimConfig,
        params: dict[str, np.ndarray],
        batch: tuple[np.ndarray, np.ndarray] | None = None,
        width: int = 960,
        theme: Theme | None = None,
        size: tuple[int, int] = DEFAULT_BACKPROP_SIZE,
        scale: float = 1.0,
    ) -> None:
        self.view = BackpropView(theme=theme)
        self.view.inline_seconds = math.inf  # frames must show their cells, never a busy bar
        self.view.toolbar.hide()  # the transport buttons mean nothing in a recording
        # A frame paints the plot views only (as every figure): the reading and the chain-rule
        # panel would leave blank bands, the panel a wide one at the presentation scale.
        self.view.reading.hide()
        self.view.side_panel.hide()
        _offscreen(self.view, size)
        if scale != 1.0:
            self.view.set_presentation_scale(scale)  # as the Backprop tab in presentation mode
        self.scale = scale
        self.view.load(config, params, batch)
        if self.view.session is None:
            raise ValueError(f"the backward pass cannot be shown: {self.view.reading.text()}")
        self.width = width
        self.size = (width, render.png_size(self.view, width).height())

    @property
    def total_cells(self) -> int:
        """Layers x time steps."""
        return self.view.total_cells

    def frame(self, position: int) -> np.ndarray:
        """The view with the first ``position`` cells computed: ``(H, W, 3) uint8``."""
        self.view.go_to(position)
        _settle()
        if self.scale != 1.0:
            scale_items(self.view.graphics, self.scale)
        return paint_settled(self.view, self.width)

    def close(self) -> None:
        """Delete the offscreen view."""
        self.view.shutdown()
        self.view.close()
        self.view.deleteLater()
