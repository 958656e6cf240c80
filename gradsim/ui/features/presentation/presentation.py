"""Presentation mode: the plots drawn 1.6 times larger for a projector, the controls folded away.

View ▸ Presentation mode (F5) scales the text, lines and markers of the Training tab's plots by
:data:`PRESENTATION_SCALE`, hides the controls panel and the dashboard's bottom row so that the
gradient plot and its heatmap get the room (View ▸ "All five plots in presentation mode" keeps
the bottom row, for screens of 1920 x 1080 and more), and is remembered (QSettings) like the
other view settings. Snapshots and recorded animations of the dashboard taken in the mode carry
the same scale, since they paint the same (scaled) plots. The other tabs keep their size: the
backward pass, the sweep and A/B lay out more panels than a 1280 x 720 projector has room for
at 1.6 times the size.

How a plot is scaled (:func:`scale_plots`): each pyqtgraph ``GraphicsView`` lays its scene out
in a rectangle ``1/scale`` of its size and shows it through a ``scale`` transform, as a screen
of higher pixel density would. Titles, axis labels, tick labels, legends and overlay text grow
exactly by the scale, and every layout decision (tick spacing, where a title is cut) is the one
the plot makes at the smaller size, so what fits there fits here. Two things a view transform
does not enlarge are scaled item by item: pens (pyqtgraph's pens are *cosmetic*, a width in
device pixels) and scatter markers (drawn at a size in device pixels). Plots may set new pens as
they redraw, so :func:`scale_items` is idempotent and is applied again after every dashboard
refresh: an item's pen is scaled only if it is not the one this module set.
"""

from __future__ import annotations

from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

# isort: split
import pyqtgraph as pg

from gradsim.ui.feature_api import WindowAPI

__all__ = [
    "PRESENTATION_KEY",
    "PRESENTATION_SCALE",
    "PresentationFeature",
    "install",
    "scale_items",
    "scale_of",
    "scale_plots",
    "scale_widget_fonts",
]

# Text on a projector seen from the back of a lecture room: 10 pt ticks become 16 pt.
PRESENTATION_SCALE = 1.6
PRESENTATION_KEY = "view/presentation"
ALL_PLOTS_KEY = "view/presentation_all_plots"
_SCALE_ATTR = "_gradsim_presentation_scale"
_STATE_ATTR = "_gradsim_presentation_state"
_FONT_ATTR = "_gradsim_presentation_font"


def scale_of(widget: QtWidgets.QWidget) -> float:
    """The presentation scale applied to ``widget`` (a plot view) by :func:`scale_plots`; 1 if none."""
    return float(getattr(widget, _SCALE_ATTR, 1.0))


def _graphics_views(root: QtWidgets.QWidget) -> list[pg.GraphicsView]:
    views = root.findChildren(pg.GraphicsView)
    if isinstance(root, pg.GraphicsView):
        views.insert(0, root)
    return views


def scale_plots(root: QtWidgets.QWidget, scale: float) -> None:
    """Draw every pyqtgraph view inside ``root`` (and ``root`` itself) ``scale`` times larger.

    ``scale`` 1 restores the normal drawing. Text and layout scale through the view transform,
    pens and markers through :func:`scale_items` (see the module docstring).
    """
    for view in _graphics_views(root):
        _scale_view(view, scale)
        _span_titles(view, scale)
        scale_items(view, scale)


def _scale_view(view: pg.GraphicsView, scale: float) -> None:
    if scale == scale_of(view):
        return
    setattr(view, _SCALE_ATTR, scale)
    if scale == 1.0:
        # Back to pyqtgraph's own method (the instance attribute shadowed the class's).
        if "updateMatrix" in view.__dict__:
            del view.updateMatrix
        view.resetTransform()
    else:
        view.updateMatrix = lambda propagate=True, view=view: _scaled_matrix(view, propagate)
    size = view.size()
    pg.GraphicsView.setRange(
        view, QtCore.QRectF(0, 0, size.width(), size.height()), padding=0, disableAutoPixel=False
    )
    view.updateMatrix()


def _span_titles(view: pg.GraphicsView, scale: float) -> None:
    """Let each plot title span its plot's whole width (axes included) while scaled.

    A title normally spans the data area only; at 1.6 times the size a title that fits the
    window at 1 would be cut, and the room over the left axis is free.
    """
    for item in view.scene().items() if view.scene() is not None else []:
        if not isinstance(item, pg.PlotItem) or item.titleLabel is None:
            continue
        title, layout = item.titleLabel, item.layout
        columns = 3 if scale != 1.0 else 1
        first = 0 if scale != 1.0 else 1
        if getattr(title, "_gradsim_columns", 1) == columns:
            continue
        layout.removeItem(title)
        layout.addItem(title, 0, first, 1, columns)
        title._gradsim_columns = columns


def _scaled_matrix(view: pg.GraphicsView, propagate: bool = True) -> None:
    """``GraphicsView.updateMatrix`` for a scaled view: the scene is the view's size / scale."""
    del propagate  # no locked viewports in gradsim
    scale = scale_of(view)
    size = view.size()
    rect = QtCore.QRectF(0, 0, size.width() / scale, size.height() / scale)
    view.range = rect
    if view.centralWidget is not None:
        view.centralWidget.setGeometry(rect)
    view.setSceneRect(rect)
    view.setTransform(QtGui.QTransform.fromScale(scale, scale))
    view.sigDeviceRangeChanged.emit(view, rect)
    view.sigDeviceTransformChanged.emit(view)


def scale_items(view: pg.GraphicsView, scale: float) -> int:
    """Scale the pens and markers of the items in ``view``'s scene to ``scale`` x their own size.

    Idempotent: an item keeps, per property, the size the plot gave it and the one set here; a
    size that is neither was set by the plot since, and becomes the new base. Returns the number
    of items changed (0 when everything was already at ``scale``).
    """
    scene = view.scene()
    if scene is None:
        return 0
    changed = 0
    for item in scene.items():
        if isinstance(item, pg.PlotDataItem):
            changed += _scale_data_item(item, scale)
        elif isinstance(item, pg.PlotCurveItem | pg.InfiniteLine | pg.AxisItem):
            if not isinstance(item.parentItem(), pg.PlotDataItem):  # its PlotDataItem scales it
                changed += _scale_pen(item, scale)
        elif isinstance(item, pg.ScatterPlotItem) and not isinstance(item.parentItem(), pg.PlotDataItem):
            changed += _scale_scatter(item, scale)
        elif isinstance(item, pg.LegendItem) and item.scale() != scale:
            # A legend ignores the view's transform (it keeps its size in pixels): scale it itself.
            item.setScale(scale)
            changed += 1
    return changed


def _state(item: Any) -> dict[str, tuple[float, float]]:
    state = getattr(item, _STATE_ATTR, None)
    if state is None:
        state = {}
        setattr(item, _STATE_ATTR, state)
    return state


def _target(item: Any, key: str, current: float, scale: float) -> float | None:
    """The size ``key`` of ``item`` must get, or None if it already has it."""
    state = _state(item)
    base, applied = state.get(key, (current, current))
    if current != applied:
        base = current  # the plot set a new size since
    wanted = base * scale
    state[key] = (base, wanted)
    return None if wanted == current else wanted


def _scaled_pen(pen: QtGui.QPen, width: float) -> QtGui.QPen:
    pen = QtGui.QPen(pen)
    pen.setWidthF(width)
    return pen


def _pen_width(pen: QtGui.QPen) -> float:
    # A width of 0 is Qt's one-pixel "cosmetic" line: it grows like a pen of width 1.
    return pen.widthF() or 1.0


def _scale_pen(item: Any, scale: float) -> int:
    if isinstance(item, pg.AxisItem):
        pen = item.pen()
    else:
        pen = item.opts["pen"] if isinstance(item, pg.PlotCurveItem) else item.pen
    return _rescale_pen(item, "pen", pen, item.setPen, scale)


def _rescale_pen(item: Any, key: str, pen: object, setter: Any, scale: float) -> int:
    """Give ``item`` (through ``setter``) ``pen`` at ``scale`` x its base width; 1 if it changed."""
    if not isinstance(pen, QtGui.QPen) or pen.style() == QtCore.Qt.PenStyle.NoPen:
        return 0
    width = _target(item, key, _pen_width(pen), scale)
    if width is None:
        return 0
    setter(_scaled_pen(pen, width))
    return 1


def _scale_data_item(item: pg.PlotDataItem, scale: float) -> int:
    changed = _rescale_pen(item, "pen", item.opts.get("pen"), item.setPen, scale)
    if item.opts.get("symbol") is not None:
        size = _target(item, "symbol", float(item.opts["symbolSize"]), scale)
        if size is not None:
            item.setSymbolSize(size)
            changed = 1
        changed |= _rescale_pen(item, "symbol_pen", item.opts.get("symbolPen"), item.setSymbolPen, scale)
    return changed


def _scale_scatter(item: pg.ScatterPlotItem, scale: float) -> int:
    size = item.opts.get("size")
    if not isinstance(size, int | float):
        return 0
    wanted = _target(item, "symbol", float(size), scale)
    if wanted is None:
        return 0
    item.setSize(wanted)
    return 1


def scale_widget_fonts(widgets: list[QtWidgets.QWidget], scale: float) -> None:
    """Set each widget's font to ``scale`` times the point size it had before the first call."""
    for widget in widgets:
        base = getattr(widget, _FONT_ATTR, None)
        if base is None:
            base = widget.font().pointSizeF()
            setattr(widget, _FONT_ATTR, base)
        font = QtGui.QFont(widget.font())
        font.setPointSizeF(base * scale)
        widget.setFont(font)


def selector_widgets(root: QtWidgets.QWidget) -> list[QtWidgets.QWidget]:
    """The labels and combo boxes above the plots in ``root`` (the dashboard's selectors)."""
    from gradsim.ui.training.plots.base import Selector

    widgets: list[QtWidgets.QWidget] = []
    for selector in root.findChildren(Selector):
        widgets += selector.findChildren(QtWidgets.QLabel) + selector.findChildren(QtWidgets.QComboBox)
    return widgets


def scale_dashboard(dashboard: QtWidgets.QWidget, scale: float) -> None:
    """Scale a dashboard's plots and the selectors above them (an offscreen one included)."""
    scale_plots(dashboard, scale)
    scale_widget_fonts(selector_widgets(dashboard), scale)


class PresentationFeature(QtCore.QObject):
    """View ▸ Presentation mode (F5) of ``window``.

    Attributes
    ----------
    action : the checkable "Presentation mode" action (F5)
    all_plots_action : checkable; in the mode, keep the dashboard's bottom row too (off by default)
    scale : the scale in use now (1 outside the mode)
    """

    def __init__(self, window: WindowAPI) -> None:
        super().__init__(window)
        self.window = window
        self.scale = 1.0
        self._controls_were_shown = True
        self.action = QtGui.QAction("Presentation mode", window)
        self.action.setObjectName("presentation_action")
        self.action.setCheckable(True)
        self.action.setShortcut(QtGui.QKeySequence(QtCore.Qt.Key.Key_F5))
        tip = (
            f"Text, lines and markers {PRESENTATION_SCALE:g} times larger for a projector, the controls "
            "panel hidden (F5); snapshots and animations keep the scale"
        )
        self.action.setToolTip(tip)
        self.action.setStatusTip(tip)
        self.action.toggled.connect(self._on_user_toggled)
        window.addAction(self.action)
        self.all_plots_action = QtGui.QAction("All five plots in presentation mode", window)
        self.all_plots_action.setObjectName("presentation_all_plots_action")
        self.all_plots_action.setCheckable(True)
        tip = (
            "In presentation mode, keep the bottom row (loss, activation, layer health) as well; "
            "off, the gradient plot and its heatmap get the whole height (for screens below 1920 x 1080)"
        )
        self.all_plots_action.setToolTip(tip)
        self.all_plots_action.setStatusTip(tip)
        self.all_plots_action.setChecked(
            str(window.settings.value(ALL_PLOTS_KEY, False)).lower() in ("true", "1")
        )
        self.all_plots_action.toggled.connect(self._on_user_all_plots)
        window.view_menu.addSeparator()
        window.view_menu.addAction(self.action)
        window.view_menu.addAction(self.all_plots_action)
        window.dashboard.refreshed.connect(self._on_refreshed)
        window.closing.connect(self._on_closing)
        stored = window.settings.value(PRESENTATION_KEY, False)
        if str(stored).lower() in ("true", "1"):
            self.action.setChecked(True)

    def set_enabled(self, on: bool) -> None:
        """Enter or leave presentation mode (as the menu does)."""
        self.action.setChecked(on)

    @QtCore.Slot(bool)
    def _on_user_toggled(self, on: bool) -> None:
        window = self.window
        self.scale = PRESENTATION_SCALE if on else 1.0
        controls = window.show_controls_action
        if on:
            self._controls_were_shown = controls.isChecked()
            if controls.isChecked():
                controls.trigger()
        elif self._controls_were_shown and not controls.isChecked():
            controls.trigger()
        # The Training tab's dashboard only: the other tabs (the backward pass, sweeps, A/B) lay
        # out more panels than a 1280 x 720 projector has room for at 1.6 times the size.
        scale_dashboard(window.dashboard, self.scale)
        self._show_rows()
        window.settings.setValue(PRESENTATION_KEY, on)
        window.statusBar().showMessage(
            "Presentation mode: press F5 to leave it" if on else "Presentation mode off", 5000
        )

    @QtCore.Slot(bool)
    def _on_user_all_plots(self, on: bool) -> None:
        self.window.settings.setValue(ALL_PLOTS_KEY, on)
        self._show_rows()

    def bottom_row_shown(self) -> bool:
        """Whether the dashboard's bottom row (loss, activation, health) is shown."""
        return self.scale == 1.0 or self.all_plots_action.isChecked()

    def _show_rows(self) -> None:
        # At 1.6x, five plots in a 1280 x 720 window have the room of 800 x 450: too little for
        # their titles and axis labels. The top row (the gradient and its heatmap) is the core.
        bottom = self.window.dashboard.splitters[2]
        bottom.setVisible(self.bottom_row_shown())

    @QtCore.Slot(object, object)
    def _on_refreshed(self, *_: object) -> None:
        if self.scale != 1.0:
            # Plots may have set new pens while drawing; scale those (cheap when none changed).
            for view in _graphics_views(self.window.dashboard):
                scale_items(view, self.scale)

    @QtCore.Slot()
    def _on_closing(self) -> None:
        self.window.settings.setValue(PRESENTATION_KEY, self.action.isChecked())


def install(window: WindowAPI) -> PresentationFeature:
    """Add View ▸ Presentation mode (F5), restored from the settings."""
    return PresentationFeature(window)
