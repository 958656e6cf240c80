"""Drawing a view larger for a projector: plots, their pens and markers, and widget text.

Presentation mode (:mod:`gradsim.ui.features.presentation.presentation`) sets one scale for the
window (:meth:`gradsim.ui.main_window.MainWindow.set_presentation_scale`); each tab applies it to
its own widgets with the functions here, so that no feature needs another to be scaled.

How a plot is scaled (:func:`scale_plots`): each pyqtgraph ``GraphicsView`` lays its scene out
in a rectangle ``1/scale`` of its size and shows it through a ``scale`` transform, as a screen
of higher pixel density would. Titles, axis labels, tick labels, legends and overlay text grow
exactly by the scale, and every layout decision (tick spacing, where a title is cut) is the one
the plot makes at the smaller size, so what fits there fits here. Two things a view transform
does not enlarge are scaled item by item: pens (pyqtgraph's pens are *cosmetic*, a width in
device pixels) and scatter markers (drawn at a size in device pixels). Plots may set new pens as
they redraw, so :func:`scale_items` is idempotent and is applied again after a redraw: an item's
pen is scaled only if it is not the one this module set.

Widget text (:func:`scale_fonts`): every widget under a root gets ``scale`` times the font it
had before the first call; scale 1 gives each back the very font it had (inherited or its own).
"""

from __future__ import annotations

from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

# isort: split
import pyqtgraph as pg

__all__ = [
    "scale_fonts",
    "scale_items",
    "scale_of",
    "scale_plots",
    "scale_widget_fonts",
]

_SCALE_ATTR = "_gradsim_presentation_scale"
_STATE_ATTR = "_gradsim_presentation_state"
_FONT_ATTR = "_gradsim_presentation_font"
_OWN_FONT_ATTR = "_gradsim_presentation_own_font"


def scale_of(widget: QtWidgets.QWidget) -> float:
    """The presentation scale applied to ``widget`` (a plot view) by :func:`scale_plots`; 1 if none."""
    return float(getattr(widget, _SCALE_ATTR, 1.0))


def graphics_views(root: QtWidgets.QWidget) -> list[pg.GraphicsView]:
    """The pyqtgraph views inside ``root``, ``root`` itself first if it is one."""
    views = root.findChildren(pg.GraphicsView)
    if isinstance(root, pg.GraphicsView):
        views.insert(0, root)
    return views


def scale_plots(root: QtWidgets.QWidget, scale: float) -> None:
    """Draw every pyqtgraph view inside ``root`` (and ``root`` itself) ``scale`` times larger.

    ``scale`` 1 restores the normal drawing. Text and layout scale through the view transform,
    pens and markers through :func:`scale_items` (see the module docstring).
    """
    for view in graphics_views(root):
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
    window at 1 would be cut, and the room over the left axis is free. A title that already
    spans the plot (``TitleLabel``, three columns) is left where it is.
    """
    for item in view.scene().items() if view.scene() is not None else []:
        if not isinstance(item, pg.PlotItem) or item.titleLabel is None:
            continue
        title, layout = item.titleLabel, item.layout
        if not hasattr(title, "_gradsim_columns") and _columns_of(layout, title) == 3:
            continue
        columns = 3 if scale != 1.0 else 1
        first = 0 if scale != 1.0 else 1
        if getattr(title, "_gradsim_columns", 1) == columns:
            continue
        layout.removeItem(title)
        layout.addItem(title, 0, first, 1, columns)
        title._gradsim_columns = columns


def _columns_of(layout: QtWidgets.QGraphicsGridLayout, item: object) -> int:
    """How many columns of row 0 hold ``item`` in ``layout`` (0 if it is not in row 0)."""
    return sum(1 for column in range(layout.columnCount()) if layout.itemAt(0, column) is item)


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
        elif isinstance(item, pg.LegendItem):
            changed += _scale_legend(item, scale)
        elif isinstance(item, QtWidgets.QGraphicsRectItem) and item.pen().isCosmetic():
            # Outlines drawn with Qt's own rectangles (the Backprop grid's current cell).
            changed += _rescale_pen(item, "pen", item.pen(), item.setPen, scale)
    return changed


def _scale_legend(legend: pg.LegendItem, scale: float) -> int:
    """A legend ignores the view's transform (it keeps its size in pixels): while scaled it
    follows the transform like the rest of the plot. Not by its own ``setScale``: an anchored
    legend (a corner of the view box) would then be placed as if it were ``scale`` times wider."""
    flag = QtWidgets.QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations
    ignores = bool(legend.flags() & flag)
    state = _state(legend)
    if "ignores" not in state:
        if scale == 1.0:
            return 0
        state["ignores"] = (float(ignores), 0.0)
    wanted = bool(state["ignores"][0]) and scale == 1.0
    if wanted == ignores:
        return 0
    legend.setFlag(flag, wanted)
    legend.updateGeometry()
    return 1


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


def _in_graphics_view(widget: QtWidgets.QWidget, root: QtWidgets.QWidget) -> bool:
    """Whether ``widget`` is a plot view or part of one (its text is the scene's, scaled there)."""
    current: QtWidgets.QWidget | None = widget
    while current is not None:
        if isinstance(current, QtWidgets.QGraphicsView):
            return True
        if current is root:
            return False
        current = current.parentWidget()
    return False


def scale_fonts(root: QtWidgets.QWidget, scale: float) -> None:
    """Give ``root`` and every widget under it (plot views aside) ``scale`` x its own font size.

    The first call records each widget's font as it is (its own, or inherited from its
    parent); ``scale`` 1 sets that font back, so that a widget that inherited its font
    inherits it again, and forgets it (a font the program sets later is the next base).
    Widgets created after a call inherit the scaled font of their parent (or keep their own).
    Fonts sized in pixels are scaled in pixels.
    """
    widgets = [w for w in (root, *root.findChildren(QtWidgets.QWidget)) if not _in_graphics_view(w, root)]
    # Every base first: setting a parent's font changes the font its children inherit.
    bases: list[tuple[QtWidgets.QWidget, QtGui.QFont, bool]] = []
    for widget in widgets:
        base = getattr(widget, _OWN_FONT_ATTR, None)
        if base is None:
            if scale == 1.0:
                continue  # never scaled: nothing to give back
            base = (QtGui.QFont(widget.font()), widget.testAttribute(QtCore.Qt.WidgetAttribute.WA_SetFont))
            setattr(widget, _OWN_FONT_ATTR, base)
        bases.append((widget, *base))
    for widget, font, own in bases:
        if scale == 1.0:
            # A font with nothing set makes the widget inherit its parent's again.
            widget.setFont(QtGui.QFont(font) if own else QtGui.QFont())
            delattr(widget, _OWN_FONT_ATTR)
            continue
        scaled = QtGui.QFont(font)
        if font.pointSizeF() > 0:
            scaled.setPointSizeF(font.pointSizeF() * scale)
        else:
            scaled.setPixelSize(max(1, round(font.pixelSize() * scale)))
        widget.setFont(scaled)
