"""Geometry checks of a laid-out window, from widget geometry and font metrics.

Used by ``test_layout_sizes.py``, ``features/backprop/test_backprop_frames.py`` and
``docs/make_presentation_screenshot.py`` (which prints what it finds and fails on it). Every
function returns a list of readable problems; an empty list means the check passed.
"""

from __future__ import annotations

import re

from PySide6 import QtCore, QtGui, QtWidgets

# isort: split
import pyqtgraph as pg

from gradsim.ui.training.plots.base import TitleLabel

# Pixels of slack for rounding (fractional layouts, frame widths).
SLACK = 2


def _name(widget: QtWidgets.QWidget) -> str:
    text = ""
    for attribute in ("text", "currentText", "title", "windowTitle"):
        getter = getattr(widget, attribute, None)
        if callable(getter):
            try:
                value = getter()
            except TypeError:
                continue
            if isinstance(value, str) and value:
                text = value[:40]
                break
    label = widget.objectName() or type(widget).__name__
    return f"{label} {text!r}" if text else label


def _scrolled(widget: QtWidgets.QWidget) -> bool:
    """Whether ``widget`` sits in a scroll area's content (it may extend past the viewport)."""
    parent = widget.parentWidget()
    while parent is not None:
        grand = parent.parentWidget()
        if isinstance(grand, QtWidgets.QAbstractScrollArea) and parent is grand.viewport():
            return True
        parent = grand
    return False


def _qt_internal(widget: QtWidgets.QWidget) -> bool:
    """Parts Qt places itself partly outside their parent on purpose (tab scrollers, popups)."""
    name = widget.objectName()
    if name.startswith("qt_") or isinstance(widget, QtWidgets.QRubberBand | QtWidgets.QFocusFrame):
        return True
    return isinstance(widget.parentWidget(), QtWidgets.QTabBar | QtWidgets.QToolBar)


def widgets_outside(root: QtWidgets.QWidget) -> list[str]:
    """Visible widgets reaching past ``root`` or past their parent (cut off), or squeezed
    narrower or lower than their layout's minimum (their text or contents overlap)."""
    problems: list[str] = []
    bounds = root.rect().adjusted(-SLACK, -SLACK, SLACK, SLACK)
    for widget in root.findChildren(QtWidgets.QWidget):
        if not widget.isVisible() or widget.isWindow() or widget.window() is not root:
            continue
        if _qt_internal(widget) or _scrolled(widget):
            continue
        top_left = widget.mapTo(root, QtCore.QPoint(0, 0))
        rect = QtCore.QRect(top_left, widget.size())
        if not rect.intersects(root.rect()):
            continue  # parked outside by Qt: the hidden tabs of tabbed docks
        if not bounds.contains(rect):
            problems.append(
                f"{_name(widget)} at {rect.getRect()} reaches past the window {root.size().toTuple()}"
            )
            continue
        parent = widget.parentWidget()
        if parent is not None and not parent.rect().adjusted(-SLACK, -SLACK, SLACK, SLACK).contains(
            widget.geometry()
        ):
            problems.append(
                f"{_name(widget)} {widget.geometry().getRect()} is cut by its parent "
                f"{_name(parent)} {parent.size().toTuple()}"
            )
            continue
        if isinstance(widget, QtWidgets.QLabel | QtWidgets.QAbstractButton):
            policy = widget.sizePolicy()
            hint = widget.minimumSizeHint()
            ignored = QtWidgets.QSizePolicy.Policy.Ignored
            if policy.horizontalPolicy() != ignored and widget.width() + SLACK < hint.width():
                problems.append(f"{_name(widget)} is {widget.width()} px wide, needs {hint.width()}")
            elif (
                policy.verticalPolicy() != ignored
                and not (isinstance(widget, QtWidgets.QLabel) and widget.wordWrap())
                and widget.height() + SLACK < hint.height()
            ):
                problems.append(f"{_name(widget)} is {widget.height()} px high, needs {hint.height()}")
    return problems


def combos_cut(root: QtWidgets.QWidget) -> list[str]:
    """Visible combo boxes whose current text does not fit and whose tooltip does not hold it."""
    problems = []
    for combo in root.findChildren(QtWidgets.QComboBox):
        if not combo.isVisible() or combo.isEditable():
            continue
        option = QtWidgets.QStyleOptionComboBox()
        combo.initStyleOption(option)
        field = combo.style().subControlRect(
            QtWidgets.QStyle.ComplexControl.CC_ComboBox, option,
            QtWidgets.QStyle.SubControl.SC_ComboBoxEditField, combo,
        )  # fmt: skip
        text = combo.currentText()
        needed = combo.fontMetrics().horizontalAdvance(text)
        if needed > field.width() + SLACK and text not in combo.toolTip():
            problems.append(
                f"combo {_name(combo)} shows {field.width()} of {needed} px, no tooltip with the text"
            )
    return problems


def _plain(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html).replace("&nbsp;", " ").replace("&amp;", "&")


def _visible_plots(root: QtWidgets.QWidget) -> list[tuple[QtWidgets.QGraphicsView, pg.PlotItem]]:
    found = []
    for view in root.findChildren(pg.GraphicsView):
        if not view.isVisible() or view.width() < 2:
            continue
        for item in view.scene().items():
            if isinstance(item, pg.PlotItem) and item.isVisible():
                found.append((view, item))
    return found


def _scene_rect(item: QtWidgets.QGraphicsItem, view: QtWidgets.QGraphicsView) -> QtCore.QRectF:
    """Where ``item`` is drawn in ``view``, in scene coordinates. Through the device: an item that
    ignores the view's transform (a legend) is drawn at its own size in pixels, whatever the
    view's scale (presentation mode), which ``mapRectToScene`` does not know."""
    viewport = view.viewportTransform()
    device = item.deviceTransform(viewport).mapRect(item.boundingRect())
    return viewport.inverted()[0].mapRect(device)


def plot_texts_cut(root: QtWidgets.QWidget) -> list[str]:
    """Plot titles cut or elided, axis labels longer than their axis, legends outside their view
    box or over the title, and plots reaching past their view (a pane narrower than the plot)."""
    problems: list[str] = []
    for view, plot in _visible_plots(root):
        title = plot.titleLabel
        where = (
            _plain(title.full_text if isinstance(title, TitleLabel) else title.text) or type(plot).__name__
        )
        visible = QtCore.QRectF(view.mapToScene(view.viewport().rect()).boundingRect())
        plot_rect = _scene_rect(plot, view)
        if not visible.adjusted(-SLACK, -SLACK, SLACK, SLACK).contains(plot_rect):
            problems.append(f"plot {where!r} {plot_rect.getRect()} reaches past its view {visible.getRect()}")
        if title.isVisible() and title.text:
            room = title.rect().width()
            shown = title.item.boundingRect().width()
            if _plain(title.text).endswith("…"):
                problems.append(f"title {where!r} is cut to {_plain(title.text)!r}")
            elif isinstance(title, TitleLabel) and title.text != title.full_text and not title.toolTip():
                problems.append(f"title {where!r} is shortened to {_plain(title.text)!r} without a tooltip")
            elif shown > room + SLACK:
                problems.append(f"title {where!r} needs {shown:.0f} px, has {room:.0f}")
        for side in ("left", "bottom", "right"):
            axis = plot.getAxis(side)
            if not axis.isVisible() or not axis.label.isVisible() or not axis.labelText:
                continue
            length = axis.geometry().height() if side in ("left", "right") else axis.geometry().width()
            needed = axis.label.boundingRect().width()
            if needed > length + SLACK:
                label = _plain(axis.labelString()).strip()
                problems.append(f"axis label {label!r} of {where!r} needs {needed:.0f} px, has {length:.0f}")
        legend = plot.legend
        if legend is not None and legend.isVisible() and legend.items:
            legend_rect = _scene_rect(legend, view)
            box = _scene_rect(plot.getViewBox(), view)
            inside = box.adjusted(-SLACK, -SLACK, SLACK, SLACK).contains(legend_rect)
            beside = not box.adjusted(SLACK, SLACK, -SLACK, -SLACK).intersects(legend_rect)
            if not inside and not (beside and visible.contains(legend_rect)):
                problems.append(
                    f"legend of {where!r} {legend_rect.getRect()} is outside its view box {box.getRect()}"
                )
            if title.isVisible() and title.text and legend_rect.intersects(_scene_rect(title, view)):
                problems.append(f"legend of {where!r} covers its title")
    return problems


def overlay_wrapped(root: QtWidgets.QWidget) -> list[str]:
    """Annotation texts pinned in a view box that wrap into a column (more lines than they have,
    plus one) or reach past the view box: they then run over the curves or are cut."""
    from gradsim.ui.training.plots.base import OverlayText

    problems = []
    for view in root.findChildren(pg.GraphicsView):
        if not view.isVisible():
            continue
        for item in view.scene().items():
            if not (isinstance(item, OverlayText) and item.isVisible() and item.toPlainText()):
                continue
            own_lines = item.toPlainText().count("\n") + 1
            line_height = QtGui.QFontMetricsF(item.textItem.font()).lineSpacing()
            lines = round(item.textItem.boundingRect().height() / line_height - 0.3)
            if lines > own_lines + 1:
                problems.append(f"annotation {item.toPlainText()[:40]!r} wraps into {lines} lines")
            box = _scene_rect(item.parentItem(), view)
            if not box.adjusted(-SLACK, -SLACK, SLACK, SLACK).contains(_scene_rect(item.textItem, view)):
                problems.append(f"annotation {item.toPlainText()[:40]!r} reaches past its view box")
    return problems


def text_beside_the_data(root: QtWidgets.QWidget, text: str) -> list[str]:
    """Problems with how ``root``'s plots show ``text``: no visible text item holds it whole (it is
    cut by an item that clips it or by the view), or the one that does lies over a view box."""
    problems = []
    for view in root.findChildren(pg.GraphicsView):
        if not view.isVisible():
            continue
        visible = QtCore.QRectF(view.mapToScene(view.viewport().rect()).boundingRect())
        items = view.scene().items()
        boxes = [_scene_rect(i, view) for i in items if isinstance(i, pg.ViewBox) and i.isVisible()]
        for item in view.scene().items():
            if not (isinstance(item, QtWidgets.QGraphicsTextItem) and item.isVisible()):
                continue
            if text not in item.toPlainText():
                continue
            rect = _scene_rect(item, view)
            clips = [visible] + [
                _scene_rect(parent, view)
                for parent in _ancestors(item)
                if parent.flags() & QtWidgets.QGraphicsItem.GraphicsItemFlag.ItemClipsChildrenToShape
            ]
            if not all(c.adjusted(-SLACK, -SLACK, SLACK, SLACK).contains(rect) for c in clips):
                problems.append(f"{text!r} is cut: {rect.getRect()} reaches past what shows it")
            elif any(box.adjusted(SLACK, SLACK, -SLACK, -SLACK).intersects(rect) for box in boxes):
                problems.append(f"{text!r} lies over the data of a plot at {rect.getRect()}")
            else:
                return []
    return problems or [f"{text!r} is not shown whole"]


def _ancestors(item: QtWidgets.QGraphicsItem) -> list[QtWidgets.QGraphicsItem]:
    found = []
    parent = item.parentItem()
    while parent is not None:
        found.append(parent)
        parent = parent.parentItem()
    return found


def status_message_cut(root: QtWidgets.QWidget) -> list[str]:
    """A status bar message wider than the room left of the bar's first visible widget, with no
    visible widget of the bar whose tooltip holds the whole message (QStatusBar cuts it)."""
    bar = root.statusBar() if isinstance(root, QtWidgets.QMainWindow) else None
    message = bar.currentMessage() if bar is not None else ""
    if not message or not bar.isVisible():
        return []
    direct = QtCore.Qt.FindChildOption.FindDirectChildrenOnly
    shown = [w for w in bar.findChildren(QtWidgets.QWidget, options=direct) if w.isVisible()]
    whole = [w for w in shown if w.toolTip() == message]
    others = [w for w in shown if w not in whole and not isinstance(w, QtWidgets.QSizeGrip)]
    room = min([bar.width() - 12, *(w.x() - 2 for w in others)]) - 6
    needed = bar.fontMetrics().horizontalAdvance(message.replace("\n", " "))
    if needed > room + SLACK and not whole:
        return [f"status message {message[:40]!r}… needs {needed} px, has {room}, and nothing shows it whole"]
    return []


def legends_over_data(root: QtWidgets.QWidget) -> list[str]:
    """Legends drawn inside their plot's view box: on the curves (a key belongs beside the plot,
    in a row under it, or in the title)."""
    problems = []
    for view, plot in _visible_plots(root):
        legend = plot.legend
        if legend is None or not legend.isVisible() or not legend.items:
            continue
        box = _scene_rect(plot.getViewBox(), view).adjusted(SLACK, SLACK, -SLACK, -SLACK)
        if box.intersects(_scene_rect(legend, view)):
            title = plot.titleLabel
            where = _plain(title.full_text if isinstance(title, TitleLabel) else title.text)
            problems.append(f"legend of {where!r} lies over its data")
    return problems


def sideways_scrolling(root: QtWidgets.QWidget) -> list[str]:
    """Scroll areas of widgets (panels, editors) whose content is wider than their view: text
    in them is cut on the right until one scrolls."""
    problems = []
    for area in root.findChildren(QtWidgets.QScrollArea):
        if area.isVisible() and area.window() is root and area.horizontalScrollBar().maximum() > 0:
            content = area.widget()
            problems.append(
                f"{_name(area)} scrolls sideways: {_name(content) if content else 'its content'} is "
                f"{area.horizontalScrollBar().maximum()} px wider than its view"
            )
    return problems


def toolbar_overflow(root: QtWidgets.QWidget) -> list[str]:
    """Toolbars too narrow for their items: the ones that do not fit hide behind the "»" button."""
    problems = []
    for toolbar in root.findChildren(QtWidgets.QToolBar):
        if not toolbar.isVisible() or toolbar.window() is not root:
            continue
        direct = QtCore.Qt.FindChildOption.FindDirectChildrenOnly
        extension = [b for b in toolbar.findChildren(QtWidgets.QToolButton, options=direct)
                     if b.objectName() == "qt_toolbar_ext_button"]  # fmt: skip
        if extension and extension[0].isVisible():
            problems.append(
                f"toolbar {toolbar.windowTitle()!r} is {toolbar.width()} px wide, needs "
                f"{toolbar.sizeHint().width()}: items hide behind its » button"
            )
    return problems


def all_problems(root: QtWidgets.QWidget) -> list[str]:
    """Every check above, for ``root`` (a window or dialog)."""
    return (
        widgets_outside(root) + combos_cut(root) + plot_texts_cut(root) + overlay_wrapped(root)
        + status_message_cut(root) + legends_over_data(root) + sideways_scrolling(root)
        + toolbar_overflow(root)
    )  # fmt: skip
