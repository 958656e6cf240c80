"""Pictures of the plots: PNG at any width, SVG as vectors, and a dashboard filled without a window.

A PNG is not an upscaled screen grab: the widget is painted again into an image whose device
pixel ratio is the requested scale, so text, lines and markers are drawn at full resolution (a
slide at twice the screen size stays sharp). An SVG is the same paint sent to
``QSvgGenerator``: curves become ``<path>`` elements, text ``<text>``, the heatmap an embedded
image. Both work on the whole :class:`~gradsim.ui.training.dashboard.Dashboard` (all five plots) or one
:class:`~gradsim.ui.training.plots.PlotPanel`.

A figure holds the plots only, as a publication expects: the graphics views are painted, not
the widgets around them (the "Heatmap layer" and "Histogram of" combos, splitter handles), and
pyqtgraph's auto-range "A" button is hidden while painting. Curves are painted with their
real pens and antialiased, even while the window draws them with light pens as a run trains
(:func:`~gradsim.ui.training.plots.quality.full_quality`). SVG has no clipping in Qt's
generator, so shaded bands that reach past a plot's axes are cut to its visible range first.

Everything here paints widgets, so it runs on the GUI thread; a 2x dashboard takes about 0.1 s.
:func:`offscreen_dashboard` is for the command line: it trains headless and fills a Dashboard
that is laid out but never appears on screen.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from PySide6 import QtCore, QtGui, QtSvg, QtWidgets

# isort: split
import pyqtgraph as pg

from gradsim.engine.config import SimConfig
from gradsim.engine.history import RunHistory
from gradsim.engine.simulation import replay
from gradsim.ui.common.theme import Theme
from gradsim.ui.training.dashboard import Dashboard
from gradsim.ui.training.plots.base import PlotPanel
from gradsim.ui.training.plots.quality import full_quality

__all__ = [
    "DEFAULT_DASHBOARD_SIZE",
    "MAX_WIDTH",
    "MIN_WIDTH",
    "default_width",
    "logical_size",
    "offscreen_dashboard",
    "png_bytes",
    "png_size",
    "svg_bytes",
]

# A PNG is at least this wide and at most this wide (in pixels): below, nothing is legible;
# above, the image takes hundreds of megabytes of memory (4 bytes a pixel).
MIN_WIDTH = 200
MAX_WIDTH = 8000
# The dashboard's logical size when it was never laid out (the window's default plot area).
DEFAULT_DASHBOARD_SIZE = (1200, 800)
# A single plot's logical size when it was never laid out (a top-row pane of that dashboard).
DEFAULT_PLOT_SIZE = (720, 440)
# Twice the screen size: sharp on a projector or a retina slide.
DEFAULT_SCALE = 2


def _painted(target: QtWidgets.QWidget) -> QtWidgets.QWidget:
    """The widget a figure of ``target`` shows: a plot panel's graphics, without its selector row."""
    graphics = getattr(target, "graphics", None)
    return graphics if isinstance(target, PlotPanel) and isinstance(graphics, QtWidgets.QWidget) else target


def _laid_out(target: QtWidgets.QWidget) -> bool:
    """Whether ``target`` has a real size: its window was shown once (now or earlier)."""
    window = target.window()
    shown = window.isVisible() or window.testAttribute(QtCore.Qt.WidgetAttribute.WA_WState_ExplicitShowHide)
    return shown and target.width() > 1 and target.height() > 1


def logical_size(target: QtWidgets.QWidget) -> QtCore.QSize:
    """The size ``target`` is drawn at, in logical pixels (a default size if never laid out)."""
    if _laid_out(target):
        return _painted(target).size()
    width, height = DEFAULT_DASHBOARD_SIZE if isinstance(target, Dashboard) else DEFAULT_PLOT_SIZE
    return QtCore.QSize(width, height)


def default_width(target: QtWidgets.QWidget) -> int:
    """The proposed PNG width: twice ``target``'s logical width (of its default size if never shown)."""
    return min(MAX_WIDTH, max(MIN_WIDTH, DEFAULT_SCALE * logical_size(target).width()))


def png_size(target: QtWidgets.QWidget, width: int | None = None) -> QtCore.QSize:
    """The pixel size of ``png_bytes(target, width)``: ``width`` wide, height in proportion.

    Raises
    ------
    ValueError
        ``width`` outside ``MIN_WIDTH..MAX_WIDTH``.
    """
    if width is None:
        width = default_width(target)
    if not MIN_WIDTH <= width <= MAX_WIDTH:
        raise ValueError(f"the image width must be between {MIN_WIDTH} and {MAX_WIDTH} pixels (got {width})")
    _ensure_size(target)
    size = _painted(target).size()
    return QtCore.QSize(width, max(1, round(width * size.height() / size.width())))


def _ensure_size(target: QtWidgets.QWidget) -> None:
    """Lay out a never-shown ``target`` at its default size, so it is not painted at 100 x 30."""
    window = target.window()
    if _laid_out(target) or window.isVisible():
        return
    if window is target:
        target.resize(logical_size(target))
    # Widgets that were never shown get no resize events, so their plots would have no
    # geometry; a show that never reaches the screen lays everything out.
    on_screen = not window.testAttribute(QtCore.Qt.WidgetAttribute.WA_DontShowOnScreen)
    window.setAttribute(QtCore.Qt.WidgetAttribute.WA_DontShowOnScreen, True)
    window.show()
    QtWidgets.QApplication.processEvents()
    window.hide()
    window.setAttribute(QtCore.Qt.WidgetAttribute.WA_DontShowOnScreen, not on_screen)


def _background(target: QtWidgets.QWidget) -> QtGui.QColor:
    theme: Theme | None = getattr(target, "theme", None)
    if theme is not None:
        return QtGui.QColor(theme.background)
    return target.palette().color(QtGui.QPalette.ColorRole.Window)


def png_image(target: QtWidgets.QWidget, width: int | None = None) -> QtGui.QImage:
    """``target`` painted into an image ``width`` pixels wide (see :func:`png_bytes`)."""
    size = png_size(target, width)
    logical = _painted(target).size()
    image = QtGui.QImage(size, QtGui.QImage.Format.Format_ARGB32_Premultiplied)
    # The ratio makes Qt paint at the scale (text and lines at full resolution); a fraction of
    # a pixel left over at the edges shows the background colour rather than transparency.
    image.setDevicePixelRatio(size.width() / logical.width())
    image.fill(_background(target))
    painter = QtGui.QPainter(image)
    try:
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, True)
        painter.setRenderHint(QtGui.QPainter.RenderHint.TextAntialiasing, True)
        with _without_buttons(target), full_quality(_graphics_views(target)):
            _paint_plots(target, painter)
    finally:
        painter.end()
    image.setDevicePixelRatio(1.0)
    return image


def png_bytes(target: QtWidgets.QWidget, width: int | None = None) -> bytes:
    """``target`` as a PNG exactly ``width`` pixels wide, its height in proportion.

    Parameters
    ----------
    target : the Dashboard or one PlotPanel (``window.dashboard.plots[name]``)
    width : pixels; None for :func:`default_width` (twice the logical width)

    Raises
    ------
    ValueError
        ``width`` outside ``MIN_WIDTH..MAX_WIDTH``.
    """
    image = png_image(target, width)
    buffer = QtCore.QBuffer()
    buffer.open(QtCore.QIODevice.OpenModeFlag.WriteOnly)
    # PySide6 6.10 takes the format as str (bytes fail at run time); its stubs say bytes.
    if not image.save(buffer, "PNG"):  # type: ignore[call-overload]
        raise OSError("the image could not be encoded as PNG")
    return bytes(buffer.data().data())


def _graphics_views(target: QtWidgets.QWidget) -> list[pg.GraphicsView]:
    """The plot views a figure of ``target`` shows (not those of a hidden part)."""
    painted = _painted(target)
    if isinstance(painted, pg.GraphicsView):
        return [painted]
    return [view for view in painted.findChildren(pg.GraphicsView) if view.isVisibleTo(painted)]


def _paint_plots(target: QtWidgets.QWidget, painter: QtGui.QPainter) -> None:
    """Paint ``target``'s plot views where they sit in it, and nothing else (no combos or handles)."""
    painted = _painted(target)
    for view in _graphics_views(target):
        offset = QtCore.QPoint(0, 0) if view is painted else view.mapTo(painted, QtCore.QPoint(0, 0))
        # The widget's render (frame, background, scene as shown), not QGraphicsView's scene render.
        QtWidgets.QWidget.render(view, painter, offset)


def _scene_items(target: QtWidgets.QWidget) -> Iterator[QtWidgets.QGraphicsItem]:
    for view in _graphics_views(target):
        scene = view.scene()
        yield from scene.items() if scene is not None else []


@contextlib.contextmanager
def _without_buttons(target: QtWidgets.QWidget) -> Iterator[None]:
    """pyqtgraph's auto-range "A" buttons hidden while painting (they are controls, not data)."""
    shown = [item for item in _scene_items(target) if isinstance(item, pg.ButtonItem) and item.isVisible()]
    for item in shown:
        item.setVisible(False)
    try:
        yield
    finally:
        for item in shown:
            item.setVisible(True)


@contextlib.contextmanager
def _regions_within_views(target: QtWidgets.QWidget) -> Iterator[None]:
    """Shaded x bands cut to their view's visible x range while painting an SVG.

    Qt's SVG generator ignores clipping, so a band that reaches to "infinity" (the saturated
    flanks of the activation plot) would spill over the axes and the plot beside it.
    """
    changed: list[tuple[pg.LinearRegionItem, tuple[float, float]]] = []
    for item in _scene_items(target):
        if not isinstance(item, pg.LinearRegionItem) or not item.isVisible():
            continue
        view = item.getViewBox()
        if view is None:
            continue
        low, high = view.viewRange()[0]
        left, right = item.getRegion()
        if left < low or right > high:
            changed.append((item, (left, right)))
            item.blockSignals(True)
            item.setRegion((max(left, low), min(right, high)))
    try:
        yield
    finally:
        for item, region in changed:
            item.setRegion(region)
            item.blockSignals(False)


@contextlib.contextmanager
def _vector_friendly(target: QtWidgets.QWidget) -> Iterator[None]:
    """While painting into SVG: curves as one path each, no cached bitmap backgrounds.

    pyqtgraph draws thick opaque curves segment by segment (faster on screen), which in SVG
    becomes hundreds of two-point lines per curve; and its views paint their background from a
    cached bitmap, which would embed a full-size image under the vectors.
    """
    views = target.findChildren(QtWidgets.QGraphicsView)
    if isinstance(target, QtWidgets.QGraphicsView):
        views.append(target)
    modes = [(view, view.cacheMode()) for view in views]
    curves: list[tuple[pg.PlotCurveItem, str]] = []
    for view in views:
        view.setCacheMode(QtWidgets.QGraphicsView.CacheModeFlag.CacheNone)
        scene = view.scene()
        for item in scene.items() if scene is not None else []:
            if isinstance(item, pg.PlotCurveItem):
                curves.append((item, item.opts["segmentedLineMode"]))
                item.opts["segmentedLineMode"] = "off"
    try:
        yield
    finally:
        for item, mode in curves:
            item.opts["segmentedLineMode"] = mode
        for view, cache_mode in modes:
            view.setCacheMode(cache_mode)
            view.resetCachedContent()


def svg_bytes(target: QtWidgets.QWidget, title: str = "gradsim") -> bytes:
    """``target`` as an SVG document (vector curves and text; the heatmap as an embedded image).

    Parameters
    ----------
    target : the Dashboard or one PlotPanel
    title : the document's ``<title>``
    """
    _ensure_size(target)
    size = _painted(target).size()
    buffer = QtCore.QBuffer()
    buffer.open(QtCore.QIODevice.OpenModeFlag.WriteOnly)
    generator = QtSvg.QSvgGenerator()
    generator.setOutputDevice(buffer)
    generator.setSize(size)
    generator.setViewBox(QtCore.QRect(QtCore.QPoint(0, 0), size))
    generator.setTitle(title)
    generator.setDescription("Drawn by gradsim")
    quality = full_quality(_graphics_views(target))
    with _vector_friendly(target), _without_buttons(target), _regions_within_views(target), quality:
        painter = QtGui.QPainter(generator)
        try:
            painter.fillRect(QtCore.QRect(QtCore.QPoint(0, 0), size), _background(target))
            _paint_plots(target, painter)
        finally:
            painter.end()
    return bytes(buffer.data().data())


def offscreen_dashboard(
    config: SimConfig,
    iterations: int,
    size: tuple[int, int] = DEFAULT_DASHBOARD_SIZE,
    theme: Theme | None = None,
) -> Dashboard:
    """A Dashboard showing a fresh headless run of ``config`` (for ``gradsim snapshot``).

    The run trains ``iterations`` steps (fewer if it halts on a non-finite value) into a
    :class:`RunHistory`, exactly as the window would; the dashboard is laid out at ``size``
    (logical pixels) without appearing on screen. Needs a QApplication. The caller owns the
    widget (``deleteLater()`` it when done).

    Parameters
    ----------
    config : the run's config
    iterations : training steps (0 shows empty plots)
    size : ``(width, height)`` of the dashboard in logical pixels
    theme : colours; the application's light/dark theme if None
    """
    history = RunHistory()
    for record in replay(config, iterations):
        history.append(record)
    dashboard = Dashboard(theme=theme)
    dashboard.setAttribute(QtCore.Qt.WidgetAttribute.WA_DontShowOnScreen, True)
    dashboard.resize(*size)
    dashboard.show()
    QtWidgets.QApplication.processEvents()
    dashboard.refresh(history, config)
    # Titles and overlay texts are placed on resize events that the refresh queued.
    QtWidgets.QApplication.processEvents()
    return dashboard
