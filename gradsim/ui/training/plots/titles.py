"""Text on the plots: titles that never widen their plot, and overlay text pinned to a corner."""

from __future__ import annotations

from collections.abc import Callable

from PySide6 import QtCore, QtGui, QtWidgets

# isort: split
import pyqtgraph as pg

from gradsim.ui.common.fit import without_width
from gradsim.ui.common.theme import Theme


def set_title(plot: pg.PlotItem, text: str, *shorter: str, **style: object) -> None:
    """Title ``plot`` with ``text``, or the first of ``shorter`` that fits (see :class:`TitleLabel`).

    ``style``: pyqtgraph's title options (``color``, ``size``, ``justify``). The plot must have a
    TitleLabel (:meth:`PlotPanel._add_plot` and :func:`install_title` give it one).
    """
    label = plot.titleLabel
    if isinstance(label, TitleLabel):
        shown = label.isVisibleTo(plot)
        if shown and label.shows(text, shorter, style):
            return  # the same title: setting it again would lay its HTML out and elide it anew
        label.set_choices(text, *shorter)
        if shown:
            # pyqtgraph's setTitle would fix the title row's height again (as it is), which has
            # the plot's whole layout worked out again: a live plot's title changes every frame.
            label.setText(text, **style)
            return
    plot.setTitle(text, **style)


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
        # The document the texts are measured in, kept (half the cost of a measure is making
        # one): its default font is set again whenever the title's font differs from it. A
        # child of the label, so it goes with it on the label's thread.
        self._measure = QtGui.QTextDocument(self)
        self._measure.setDocumentMargin(0)
        self.setFlag(self.GraphicsItemFlag.ItemClipsChildrenToShape, True)

    @property
    def full_text(self) -> str:
        """The title as set (``text`` is what is shown: a shorter form, or cut with an ellipsis)."""
        return self._full_text

    def set_choices(self, text: str, *shorter: str) -> None:
        """The next ``setText(text)`` shows ``text``, or the first of ``shorter`` (longest first)
        that fits the plot's width."""
        self._choices = (text, *shorter)

    def shows(self, text: str, shorter: tuple[str, ...], style: dict[str, object]) -> bool:
        """Whether the title was set to ``text`` with these shorter forms and this style."""
        return (
            self._full_text == text
            and self._choices == (text, *shorter)
            and all(self.opts.get(key) == value for key, value in style.items())
        )

    def setText(self, text: str, **args: object) -> None:  # noqa: N802
        if not self._choices or self._choices[0] != text:
            self._choices = (text,)
        self._full_text = text
        self.opts.update(args)  # (the font the choices are measured in)
        # The choice that fits is picked before the text is set, so it is set (its HTML laid
        # out, the plot's layout told) once, not once in full and once shortened.
        self._show(self._fitting(), args)

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
        document, font = self._measure, self._font()
        if document.defaultFont() != font:
            document.setDefaultFont(font)
        document.setHtml(text)
        return document.idealWidth()

    def _fitting(self) -> str:
        """The longest choice that fits the width (the full text while the title has no width);
        a plain-text last choice cut with an ellipsis when none fits."""
        width = self.rect().width()
        if not self._full_text or width <= 0:
            return self._full_text
        room = width - 8
        shown = next((c for c in self._choices if self.text_width(c) <= room), None)
        if shown is None:
            shown = self._choices[-1]
            if "<" not in shown:
                metrics = QtGui.QFontMetricsF(self._font())
                shown = metrics.elidedText(shown, QtCore.Qt.TextElideMode.ElideRight, room)
        return shown

    def _elide(self) -> None:
        """Show the longest choice that fits the (new) width."""
        if self._full_text and self.rect().width() > 0:
            shown = self._fitting()
            if shown != self.text:
                self._show(shown, {})  # same style; keeps the choices for a wider plot

    def _show(self, shown: str, style: dict[str, object]) -> None:
        """Set the label's text to ``shown``, telling the layout only if the title's height
        changed: a new iteration number in the same font leaves the plot's layout as it was,
        and pyqtgraph's ``setText`` would have the plot's whole layout worked out again."""
        before = self._heights()
        self._quiet = True
        try:
            pg.LabelItem.setText(self, shown, **style)
        finally:
            self._quiet = False
        if self._heights() != before:
            super().updateGeometry()
        if self._full_text:
            self.setToolTip("" if shown == self._full_text else _plain_text(self._full_text))

    def _heights(self) -> tuple[float, ...]:
        """The heights of pyqtgraph's size hints (the widths are not this label's: ``sizeHint``)."""
        hints = getattr(self, "_sizeHint", {})
        return tuple(float(hints[which][1]) for which in sorted(hints, key=lambda w: w.value))

    def updateGeometry(self) -> None:  # noqa: N802 (Qt's name)
        """Tell the layout that the size hints changed (not while :meth:`_show` sets a text)."""
        if not getattr(self, "_quiet", False):
            super().updateGeometry()

    def updateMin(self) -> None:  # noqa: N802
        super().updateMin()
        self.setMinimumWidth(0)

    def sizeHint(  # noqa: N802
        self, which: QtCore.Qt.SizeHint, constraint: QtCore.QSizeF | None = None
    ) -> QtCore.QSizeF:
        # No preferred width either: the plot's columns, not the title, decide how wide it is.
        hints = (QtCore.Qt.SizeHint.MinimumSize, QtCore.Qt.SizeHint.PreferredSize)
        return without_width(super().sizeHint(which, constraint), which, *hints)


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
        self._show(text, "_full_plain", self.setText)

    def _show(self, content: str, kept_as: str, set_content: Callable[[str], None]) -> None:
        """Show ``content`` with ``set_content`` and place the item, unless it is what the
        attribute ``kept_as`` already holds; hide the item when ``content`` is empty."""
        if content != getattr(self, kept_as, None):
            setattr(self, kept_as, content)
            set_content(content)
            self._place()
        self.setVisible(bool(content))
