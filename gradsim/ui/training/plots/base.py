"""What every dashboard plot shares: a themed graphics area, change detection, overlay text.

A plot reads a :class:`~gradsim.engine.history.RunHistory` and a
:class:`~gradsim.engine.config.SimConfig` and only displays them (it never writes back).
``refresh`` is called by the window's timer at display rate; when neither the history nor the
config changed since the last call it returns at once, so an idle or paused run costs nothing.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

# isort: split
import pyqtgraph as pg

from gradsim.engine.config import SimConfig
from gradsim.engine.history import RunHistory
from gradsim.engine.records import StepRecord
from gradsim.ui.common.scaling import scale_of
from gradsim.ui.common.theme import Theme, current_theme


class PlotPanel(QtWidgets.QWidget):
    """Base class of the five dashboard plots.

    Subclasses build their pyqtgraph items once in ``__init__`` and implement
    :meth:`_draw` (update the items from the data) and :meth:`_clear` (empty them).

    Attributes
    ----------
    theme : the colours and fonts in use
    graphics : the ``pg.GraphicsLayoutWidget`` holding the plot items; export the whole plot
        with ``pyqtgraph.exporters.ImageExporter(panel.graphics.scene())`` or ``panel.grab()``
    """

    def __init__(self, theme: Theme | None = None, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.theme = theme if theme is not None else current_theme()
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground(self.theme.background)
        self.graphics.ci.setContentsMargins(4, 4, 8, 4)
        self._layout = QtWidgets.QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(2)
        self._layout.addWidget(self.graphics, 1)
        # Three of these side by side fit the Training tab of a 1280-pixel window.
        self.setMinimumSize(200, 180)
        self.grids: list[MajorGrid] = []
        self._history: RunHistory | None = None
        self._config: SimConfig | None = None
        self._seen: tuple[int, StepRecord | None, SimConfig] | None = None

    # -- the contract ---------------------------------------------------------------------
    def refresh(self, history: RunHistory, config: SimConfig) -> None:
        """Show the current state of ``history`` (a no-op if nothing changed since last time)."""
        seen = (history.total_records, history.latest, config)
        if history is self._history and self._seen is not None and _same(seen, self._seen):
            return
        if history is not self._history or not self._continues(history):
            # Another history, or this one was cleared and refilled: no cache applies.
            self._forget()
        self._history, self._config, self._seen = history, config, seen
        self._draw(history, config)

    def _continues(self, history: RunHistory) -> bool:
        """Whether ``history`` still holds the run last drawn (it was not cleared since).

        The record drawn last must still be there: the same object among the newest records,
        or (once pushed out of those) an entry with its iteration number and loss.
        """
        if self._seen is None:
            return True
        total, previous, _ = self._seen
        if previous is None:
            return True
        if history.total_records < total:
            return False
        if any(record is previous for record in history.recent()):
            return True
        iterations = history.iterations()
        index = int(np.searchsorted(iterations, previous.iteration))
        if index >= len(iterations) or iterations[index] != previous.iteration:
            return False
        loss = float(history.losses()[index])
        return loss == previous.loss or (math.isnan(loss) and math.isnan(previous.loss))

    def reset(self) -> None:
        """Forget the data shown (after the simulation was rebuilt)."""
        self._history = None
        self._config = None
        self._seen = None
        self._forget()
        self._clear()

    def redraw(self) -> None:
        """Draw the last history again (after a display option such as the layer changed)."""
        if self._history is not None and self._config is not None:
            self._draw(self._history, self._config)

    # -- for subclasses -------------------------------------------------------------------
    def _draw(self, history: RunHistory, config: SimConfig) -> None:
        raise NotImplementedError

    def _clear(self) -> None:
        raise NotImplementedError

    def _forget(self) -> None:
        """Drop caches derived from the previous history (override when there are any)."""

    def _add_plot(self, row: int = 0, col: int = 0, grid: str = "xy", **kwargs: object) -> pg.PlotItem:
        """A plot in the graphics layout with a :class:`TitleLabel`; ``grid`` names the axes
        (``"x"``, ``"y"``, ``"xy"`` or ``""``) whose major ticks get grid lines."""
        plot = self.graphics.addPlot(row=row, col=col, **kwargs)
        plot.setMenuEnabled(False)
        # The "A" (auto range) button stays only where pyqtgraph keeps the range (see
        # GradientPlot); plots that set their ranges themselves hide it.
        plot.hideButtons()
        install_title(plot)
        if grid:
            self.grids.append(MajorGrid(plot, self.theme, x="x" in grid, y="y" in grid))
        return plot

    def _add_selector(self, label: str, tooltip: str) -> Selector:
        """A labelled combo box above the graphics (hidden until shown)."""
        selector = Selector(label, tooltip, self.theme)
        self._layout.insertWidget(0, selector)
        selector.hide()
        return selector

    def _set_title(
        self,
        plot: pg.PlotItem,
        text: str,
        points: int | None = None,
        justify: str = "center",
        shorter: tuple[str, ...] = (),
    ) -> None:
        """Set ``plot``'s title (HTML allowed) in the theme's colour and title size.

        ``shorter``: forms of the title to show, longest first, when ``text`` does not fit the
        plot's width (the full text is then the tooltip). ``justify="left"``: a title wider than
        its plot is cut on the right only, so that a key (coloured words) keeps its first words.
        """
        size = self.theme.title_pt if points is None else points
        set_title(plot, text, *shorter, color=self.theme.foreground, size=f"{size}pt", justify=justify)


def set_title(plot: pg.PlotItem, text: str, *shorter: str, **style: object) -> None:
    """Title ``plot`` with ``text``, or the first of ``shorter`` that fits (see :class:`TitleLabel`).

    ``style``: pyqtgraph's title options (``color``, ``size``, ``justify``). The plot must have a
    TitleLabel (:meth:`PlotPanel._add_plot` and :func:`install_title` give it one).
    """
    if isinstance(plot.titleLabel, TitleLabel):
        plot.titleLabel.set_choices(text, *shorter)
    plot.setTitle(text, **style)


def _same(a: tuple[int, StepRecord | None, SimConfig], b: tuple[int, StepRecord | None, SimConfig]) -> bool:
    return a[0] == b[0] and a[1] is b[1] and a[2] == b[2]


class TitleLabel(pg.LabelItem):
    """A plot title that never widens its plot and is never cut silently.

    pyqtgraph's title asks for its full text width as the plot's minimum, so a long title
    pushes the plot wider than its pane and the pane clips the axes instead. This one spans the
    whole plot (axes included) and shows the longest of its texts that fits: the full title, then
    the shorter forms given with :meth:`set_choices`; only when even the shortest is too long is
    it cut with an ellipsis. Whenever the full title is not shown, its tooltip holds it.
    """

    def __init__(self) -> None:
        self._full_text = ""
        self._choices: tuple[str, ...] = ()
        super().__init__("")
        self.setFlag(self.GraphicsItemFlag.ItemClipsChildrenToShape, True)

    @property
    def full_text(self) -> str:
        """The title as set (``text`` is what is shown: a shorter form, or cut with an ellipsis)."""
        return self._full_text

    def set_choices(self, text: str, *shorter: str) -> None:
        """The next ``setText(text)`` shows ``text``, or the first of ``shorter`` (longest first)
        that fits the plot's width."""
        self._choices = (text, *shorter)

    def setText(self, text: str, **args: object) -> None:  # noqa: N802
        if not self._choices or self._choices[0] != text:
            self._choices = (text,)
        self._full_text = text
        super().setText(text, **args)
        self._elide()

    def resizeEvent(self, ev: QtWidgets.QGraphicsSceneResizeEvent | None) -> None:  # noqa: N802
        super().resizeEvent(ev)
        if ev is not None:
            self._elide()

    def _font(self) -> QtGui.QFont:
        font = QtGui.QFont(self.item.font())
        size = str(self.opts.get("size", ""))
        if size.endswith("pt"):
            font.setPointSizeF(float(size[:-2]))
        return font

    def text_width(self, text: str) -> float:
        """Width in pixels of ``text`` (HTML allowed) in the title's font."""
        document = QtGui.QTextDocument()
        document.setDefaultFont(self._font())
        document.setDocumentMargin(0)
        document.setHtml(text)
        return document.idealWidth()

    def _elide(self) -> None:
        """Show the longest choice that fits; cut a plain-text last choice with an ellipsis."""
        width = self.rect().width()
        if not self._full_text or width <= 0:
            return
        room = width - 8
        shown = next((c for c in self._choices if self.text_width(c) <= room), None)
        if shown is None:
            last = self._choices[-1]
            shown = last
            if "<" not in last:
                metrics = QtGui.QFontMetricsF(self._font())
                shown = metrics.elidedText(last, QtCore.Qt.TextElideMode.ElideRight, room)
        self.setToolTip("" if shown == self._full_text else _plain_text(self._full_text))
        if shown != self.text:
            pg.LabelItem.setText(self, shown)  # same style; keeps the choices for a wider plot

    def updateMin(self) -> None:  # noqa: N802
        super().updateMin()
        self.setMinimumWidth(0)

    def sizeHint(  # noqa: N802
        self, which: QtCore.Qt.SizeHint, constraint: QtCore.QSizeF | None = None
    ) -> QtCore.QSizeF:
        size = super().sizeHint(which, constraint)
        if which == QtCore.Qt.SizeHint.MinimumSize:
            size.setWidth(0)
        elif which == QtCore.Qt.SizeHint.PreferredSize:
            # Prefer no width: the plot's columns, not the title, decide how wide it is.
            size.setWidth(0)
        return size


def _plain_text(html: str) -> str:
    """``html`` without its tags (for a tooltip)."""
    document = QtGui.QTextDocument()
    document.setHtml(html)
    return document.toPlainText()


def install_title(plot: pg.PlotItem) -> None:
    """Swap ``plot``'s title label for a :class:`TitleLabel` spanning the plot (axes included;
    hidden until a title is set)."""
    old = plot.titleLabel
    plot.layout.removeItem(old)
    old.hide()
    old.setParentItem(None)
    if old.scene() is not None:
        old.scene().removeItem(old)
    title = TitleLabel()
    title.setParentItem(plot)
    plot.layout.addItem(title, 0, 0, 1, 3)
    plot.titleLabel = title
    plot.setTitle(None)


class OverlayText(pg.TextItem):
    """Text pinned to a corner of a plot's view box (in pixels, unaffected by zoom and log axes).

    Parameters
    ----------
    plot : the plot whose view box holds the text
    theme : for the font
    corner : ``"top-left"``, ``"top-right"``, ``"bottom-left"`` or ``"bottom-right"``
    color : text colour
    """

    _ANCHORS = {
        "top-left": (0.0, 0.0),
        "top-right": (1.0, 0.0),
        "bottom-left": (0.0, 1.0),
        "bottom-right": (1.0, 1.0),
    }

    def __init__(self, plot: pg.PlotItem, theme: Theme, corner: str = "top-left", color: str = "") -> None:
        super().__init__("", color=color or theme.foreground, anchor=self._ANCHORS[corner])
        self.setFont(theme.font(theme.tick_pt, bold=True))
        self._corner = corner
        self._view = plot.getViewBox()
        self.setParentItem(self._view)
        self.setZValue(1000)
        self._view.sigResized.connect(self._place)
        self._place()

    def _place(self, *_: object) -> None:
        rect = self._view.rect()
        margin = 6.0
        text = self.textItem
        full = getattr(self, "_full_plain", None)
        if full is not None and text.toPlainText() != full:
            text.setPlainText(full)  # a wider view: start again from the whole text
        text.setTextWidth(-1)
        self.setToolTip("")
        room = max(rect.width() - 2 * margin, 40.0)
        if text.boundingRect().width() > room:
            # Wrap text that would run past the view's edge, unless that makes a narrow column
            # over the curves: then each line is cut to the room and the whole text is the tooltip.
            height = text.boundingRect().height()
            lines = text.toPlainText().count("\n") + 1
            text.setTextWidth(room)
            if full is not None and text.boundingRect().height() > height * (lines + 1) / lines + 1:
                metrics = QtGui.QFontMetricsF(text.font())
                cut = QtCore.Qt.TextElideMode.ElideRight
                text.setTextWidth(-1)
                text.setPlainText("\n".join(metrics.elidedText(line, cut, room) for line in full.split("\n")))
                self.setToolTip(full)
        self.updateTextPos()
        x = rect.left() + margin if self._corner.endswith("left") else rect.right() - margin
        y = rect.top() + margin if self._corner.startswith("top") else rect.bottom() - margin
        self.setPos(QtCore.QPointF(x, y))

    @property
    def full_text(self) -> str:
        """The whole text last given to :meth:`show_text` (shown cut to fit, whole in the tooltip)."""
        full = getattr(self, "_full_plain", None)
        return self.toPlainText() if full is None else full

    def show_text(self, text: str) -> None:
        """Show ``text`` (hide the item when empty)."""
        if text != getattr(self, "_full_plain", None):
            self._full_plain = text
            self.setText(text)
            self._place()
        self.setVisible(bool(text))


class Selector(QtWidgets.QWidget):
    """A row with a label and a combo box (``combo``), for choosing what a plot shows."""

    def __init__(self, label: str, tooltip: str, theme: Theme) -> None:
        super().__init__()
        row = QtWidgets.QHBoxLayout(self)
        row.setContentsMargins(6, 2, 6, 0)
        text = QtWidgets.QLabel(label)
        text.setFont(theme.font(theme.tick_pt))
        self.combo = QtWidgets.QComboBox()
        self.combo.setToolTip(tooltip)
        self.combo.setFont(theme.font(theme.tick_pt))
        text.setBuddy(self.combo)
        row.addWidget(text)
        row.addWidget(self.combo)
        row.addStretch(1)

    def set_items(self, items: list[str], index: int) -> None:
        """Replace the choices and select ``index`` without emitting a change."""
        blocked = self.combo.blockSignals(True)
        self.combo.clear()
        self.combo.addItems(items)
        self.combo.setCurrentIndex(index)
        self.combo.blockSignals(blocked)


class MajorGrid:
    """Faint grid lines at the major ticks of a plot's left and bottom axes, as one curve item.

    pyqtgraph's own grid (``showGrid``) is drawn by the axes with every tick level and costs
    several milliseconds per plot and frame on the raster engine; one line item with a pair of
    points per line costs a fraction of that. Lines are in view coordinates (log10 units on a
    log axis) and follow the view range.
    """

    def __init__(self, plot: pg.PlotItem, theme: Theme, x: bool = True, y: bool = True) -> None:
        self._x, self._y = x, y
        color = QtGui.QColor(theme.foreground)
        color.setAlphaF(0.16)
        self.item = pg.PlotCurveItem(pen=pg.mkPen(color, width=1), connect="pairs", antialias=False)
        self.item.setZValue(-50)
        self._plot = plot
        plot.addItem(self.item, ignoreBounds=True)
        plot.getViewBox().sigRangeChanged.connect(self.update)
        plot.getViewBox().sigResized.connect(self.update)

    def update(self, *_: object) -> None:
        view = self._plot.getViewBox()
        (x_low, x_high), (y_low, y_high) = view.viewRange()
        none = np.zeros(0)
        xs = _major_ticks(self._plot.getAxis("bottom"), x_low, x_high, view.width()) if self._x else none
        ys = _major_ticks(self._plot.getAxis("left"), y_low, y_high, view.height()) if self._y else none
        x = np.concatenate([np.repeat(xs, 2), np.tile([x_low, x_high], len(ys))])
        y = np.concatenate([np.tile([y_low, y_high], len(xs)), np.repeat(ys, 2)])
        self.item.setData(x, y)


def _major_ticks(axis: pg.AxisItem, low: float, high: float, size: float) -> np.ndarray:
    """Values of the coarsest tick levels ``axis`` draws between ``low`` and ``high``.

    Two levels on a linear axis; on a log axis spanning more than two decades only the decades
    (its minor ticks, 2..9 of each decade, would fill the plot with lines).
    """
    if not (np.isfinite(low) and np.isfinite(high)) or high <= low or size <= 0:
        return np.zeros(0)
    depth = 1 if axis.logMode and high - low > 2.0 else 2
    levels = [list(values) for _, values in axis.tickValues(low, high, size)[:depth]]
    values = np.array(sorted({v for level in levels for v in level}), dtype=np.float64)
    return values[(values >= low) & (values <= high)]


class LogAxis(pg.AxisItem):
    """Axis whose log-mode labels stay legible: decades, plus 2 and 5 only when zoomed in.

    pyqtgraph labels every minor tick (2..9) of a log axis once the range is under a few
    decades, which piles labels on top of each other in a short plot.
    """

    def logTickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:  # noqa: N802
        labels = super().logTickStrings(values, scale, spacing)
        low, high = sorted(self.range)
        kept = []
        for value, label in zip(values, labels, strict=True):
            fraction = value - np.floor(value)
            decade = min(fraction, 1 - fraction) < 1e-6
            mantissa = round(float(10**fraction))
            kept.append(label if decade or (high - low < 1.5 and mantissa in (2, 5)) else "")
        return kept if any(kept) else labels


_SUPERSCRIPTS = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def power_of_ten_label(log10_value: float) -> str:
    """Tick text for ``10 ** log10_value`` at any magnitude: ``10⁻⁶⁰⁷``, ``3.2·10⁻⁴``, ``1``."""
    exponent = math.floor(log10_value + 1e-9)
    mantissa = round(10.0 ** (log10_value - exponent), 1)
    if mantissa >= 10.0:
        mantissa, exponent = 1.0, exponent + 1
    power = "1" if exponent == 0 else "10" + str(exponent).translate(_SUPERSCRIPTS)
    if abs(mantissa - 1.0) < 1e-9:
        return power
    return f"{mantissa:g}·{power}" if exponent else f"{mantissa:g}"


class DecadeAxis(pg.AxisItem):
    """A linear axis over log10 values, labelled as the powers of ten they stand for.

    For data no float holds: a gradient norm of 1e-607 is plotted as its logarithm -606.5 on a
    linear axis and this axis writes 10⁻⁶⁰⁰ beside it. pyqtgraph's log mode cannot do that:
    it takes raw values, and its labels compute ``10 ** value``, which is 0 below 1e-308.
    Items added to such a plot carry log10 values (a reference line at 1e-3 goes at -3). Where
    the range spans more than 1.5 decades only whole decades are labelled, as on a
    :class:`LogAxis`.
    """

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:  # noqa: N802
        low, high = sorted(self.range)
        labels = []
        for value in values:
            whole = abs(value - round(value)) < 1e-6
            labels.append(power_of_ten_label(value) if whole or high - low < 1.5 else "")
        return labels if any(labels) else [power_of_ten_label(v) for v in values]


def drawable(log10_values: np.ndarray) -> np.ndarray:
    """log10 values for a :class:`DecadeAxis` plot, every non-finite entry (an exact 0, inf,
    NaN) as NaN: a gap in a curve and nothing for the auto range to reach for."""
    values = np.asarray(log10_values, dtype=np.float64)
    return np.where(np.isfinite(values), values, np.nan)


def nice_step(size: float) -> float:
    """The smallest of 1, 2, 5 times a power of ten that is at least ``size`` (> 0)."""
    power = 10.0 ** math.floor(math.log10(size))
    return next(m * power for m in (1.0, 2.0, 5.0, 10.0) if m * power >= size * (1.0 - 1e-12))


def snapped_range(
    low: float, high: float, current: tuple[float, float] | None = None, divisions: int = 20
) -> tuple[float, float]:
    """``[low, high]`` widened outward to multiples of a round step about ``1/divisions`` of it.

    ``current`` (the last result) is kept while it holds ``[low, high]`` and is at most 1.3
    times the snapped width, so a range that follows live data changes only when the data
    leaves it or shrinks well inside it, not on every frame.
    """
    span = max(high - low, 1e-9 * max(1.0, abs(low), abs(high)))
    step = nice_step(span / divisions)
    if current is not None and current[0] <= low and current[1] >= high:
        if current[1] - current[0] <= 1.3 * (span + 2.0 * step):
            return current
    snapped_low, snapped_high = math.floor(low / step) * step, math.ceil(high / step) * step
    if snapped_high <= snapped_low:
        snapped_high = snapped_low + step
    return snapped_low, snapped_high


class SnappedBounds(pg.GraphicsObject):
    """An invisible item that gives pyqtgraph's auto range the data's range, snapped.

    Add the live curves with ``ignoreBounds=True`` and this item without: the auto range (the
    "A" button, and following the data until the user zooms) then sees :func:`snapped_range`
    of the values, which changes only now and then. Every frame the curves move but the view
    range does not, so the axes, their labels and the grid are not laid out again, and the view
    box does not scan every curve for its bounds.

    Ranges are in view coordinates (log10 values on a log axis).
    """

    def __init__(self) -> None:
        super().__init__()
        self.ranges: list[tuple[float, float] | None] = [None, None]

    def set_range(self, axis: int, low: float, high: float) -> None:
        """Follow ``[low, high]`` on ``axis`` (0: x, 1: y), snapped; non-finite: no bounds."""
        if not (math.isfinite(low) and math.isfinite(high)):
            snapped = None
        else:
            snapped = snapped_range(low, high, self.ranges[axis])
        if snapped != self.ranges[axis]:
            self.ranges[axis] = snapped
            self.informViewBoundsChanged()

    def set_exact(self, axis: int, low: float, high: float) -> None:
        """Bounds ``[low, high]`` on ``axis`` as they are (for a range that rarely changes)."""
        if self.ranges[axis] != (low, high):
            self.ranges[axis] = (low, high)
            self.informViewBoundsChanged()

    def clear(self) -> None:
        """No bounds (the view keeps its range)."""
        if self.ranges != [None, None]:
            self.ranges = [None, None]
            self.informViewBoundsChanged()

    def dataBounds(  # noqa: N802 (pyqtgraph's interface)
        self,
        ax: int,
        frac: float = 1.0,
        orthoRange: object = None,  # noqa: N803
    ) -> tuple[float, float] | None:
        return self.ranges[ax]

    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802
        return QtCore.QRectF()

    def paint(self, *args: object) -> None:
        pass


def finite_range(*arrays: np.ndarray) -> tuple[float, float]:
    """Min and max of the finite values of ``arrays`` (NaN, NaN when there are none)."""
    low, high = math.inf, -math.inf
    for values in arrays:
        finite = values[np.isfinite(values)]
        if finite.size:
            low, high = min(low, float(finite.min())), max(high, float(finite.max()))
    return (low, high) if low <= high else (math.nan, math.nan)


def log_axes(*sides: str) -> dict[str, LogAxis]:
    """``axisItems`` for ``addPlot``: a :class:`LogAxis` on each of ``sides``."""
    return {side: LogAxis(side) for side in sides}


def layer_names(count: int) -> list[str]:
    """``["layer 1", ..., "layer count"]`` (layers are numbered from 1 for people)."""
    return [f"layer {k + 1}" for k in range(count)]


class RowLegend(pg.LegendItem):
    """A legend laid out in rows under a plot: as many columns as fit ``view``'s width.

    Put it in the graphics layout (a row of its own), not in the view box, so it never hides
    data. It refits whenever an entry is added or removed (features add theirs, such as the
    theory line) and when :meth:`fit` is called on a resize.
    """

    def __init__(self, view: QtWidgets.QWidget, **options: object) -> None:
        self._view = view
        super().__init__(**options)
        self.layout.setContentsMargins(4, 0, 4, 0)  # a row of text, not a framed box
        # A long entry (a pinned run's name) is cut at the plot's edge rather than widening it.
        self.setFlag(self.GraphicsItemFlag.ItemClipsChildrenToShape, True)

    def sizeHint(  # noqa: N802
        self, which: QtCore.Qt.SizeHint, constraint: QtCore.QSizeF | None = None
    ) -> QtCore.QSizeF:
        size = super().sizeHint(which, constraint)
        if which == QtCore.Qt.SizeHint.MinimumSize:
            size.setWidth(0)
        return size

    def addItem(self, item: object, name: str) -> None:  # noqa: N802
        super().addItem(item, name)
        self.fit()

    def removeItem(self, item: object) -> None:  # noqa: N802
        super().removeItem(item)
        self.fit()

    def _addItemToLayout(self, sample: object, label: object) -> None:  # noqa: N802
        # Row-major by entry index (pyqtgraph's own placement leaves holes after a removal).
        row, column = divmod(len(self.items) - 1, max(self.columnCount, 1))
        self.layout.addItem(sample, row, 2 * column, alignment=QtCore.Qt.AlignmentFlag.AlignVCenter)
        self.layout.addItem(label, row, 2 * column + 1)

    def _arrange(self, columns: int) -> None:
        self.columnCount = columns
        for index in range(self.layout.count() - 1, -1, -1):
            self.layout.removeAt(index)
        for index, (sample, label) in enumerate(self.items):
            row, column = divmod(index, columns)
            self.layout.addItem(sample, row, 2 * column, alignment=QtCore.Qt.AlignmentFlag.AlignVCenter)
            self.layout.addItem(label, row, 2 * column + 1)
        self.layout.invalidate()
        self.updateSize()

    def fit(self) -> None:
        """The most columns (up to one row) whose width fits the view."""
        # The legend keeps its size in pixels times the presentation scale (see scaling).
        available = self._view.width() / scale_of(self._view) - 16
        entries = max(len(self.items), 1)
        for columns in range(entries, 0, -1):
            self._arrange(columns)
            width = self.layout.effectiveSizeHint(QtCore.Qt.SizeHint.PreferredSize).width()
            if width <= available:
                break
