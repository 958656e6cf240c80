"""A status bar whose passing messages are never cut silently and never widen the window.

QStatusBar draws a message (``showMessage``, and the status tips of menus) on one line and cuts
it wherever the first permanent widget begins: at 1280 pixels the end of a sweep's or an
export's message was simply missing. :class:`MessageBar` draws a message that does not fit
with an ellipsis and shows a "more…" link beside it whose tooltip holds the whole text;
clicking the link opens the text in a box. Its size never depends on the message (the link is
a label of the bar's font, as high as the bar's other labels).
"""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

# QStatusBar's own margins around the message (qstatusbar.cpp, messageRect).
_LEFT_MARGIN = 6
_RIGHT_MARGIN = 12
_GAP = 2


class MessageBar(QtWidgets.QStatusBar):
    """A QStatusBar that elides a message too long for it and offers the whole text.

    Attributes
    ----------
    more_link : the "more…" label, shown while the current message is cut; tooltip = the message
    message_box : the box that shows the whole message (None until opened)
    """

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("status_bar")
        self.more_link = QtWidgets.QLabel("<a href='more'>more…</a>")
        self.more_link.setObjectName("status_more")
        self.more_link.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.LinksAccessibleByMouse)
        self.more_link.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)  # Space stays the transport's
        self.more_link.linkActivated.connect(self.show_whole_message)
        self.insertPermanentWidget(0, self.more_link)
        self.more_link.hide()
        self.message_box: QtWidgets.QMessageBox | None = None
        self._cut = False
        self.messageChanged.connect(self._check_fit)
        # After a resize, once the bar's layout has moved its widgets.
        self._refit = QtCore.QTimer(self)
        self._refit.setSingleShot(True)
        self._refit.setInterval(0)
        self._refit.timeout.connect(self._check_fit)

    # -- what fits -----------------------------------------------------------------------------
    def message_rect(self, *, with_link: bool = True) -> QtCore.QRect:
        """Where the message is drawn: from the left margin to the first permanent widget
        (the "more…" link counts only if ``with_link``)."""
        right = self.width() - _RIGHT_MARGIN
        grip = self.findChild(QtWidgets.QSizeGrip)
        if grip is not None and grip.isVisible():
            right = grip.x()
        for widget in self._widgets_shown():
            if widget is not self.more_link or with_link:
                right = min(right, widget.x() - _GAP)
        return QtCore.QRect(_LEFT_MARGIN, 0, max(right - _LEFT_MARGIN, 0), self.height())

    def message_fits(self) -> bool:
        """Whether the current message is drawn whole (True when there is none)."""
        text = _one_line(self.currentMessage())
        room = self.message_rect(with_link=False).width()
        return not text or self.fontMetrics().horizontalAdvance(text) <= room

    def _widgets_shown(self) -> list[QtWidgets.QWidget]:
        """The bar's visible widgets but the size grip (the permanent ones while a message shows)."""
        direct = QtCore.Qt.FindChildOption.FindDirectChildrenOnly
        children = self.findChildren(QtWidgets.QWidget, options=direct)
        return [w for w in children if w.isVisible() and not isinstance(w, QtWidgets.QSizeGrip)]

    @property
    def is_cut(self) -> bool:
        """Whether the current message is drawn shortened (with "more…" beside it)."""
        return self._cut

    @QtCore.Slot()
    def _check_fit(self, *_: object) -> None:
        cut = not self.message_fits()
        text = self.currentMessage()
        self.more_link.setToolTip(text if cut else "")
        self.setToolTip(text if cut else "")
        if cut != self._cut:
            self._cut = cut
            self.more_link.setVisible(cut)
        self.update()

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        if self.currentMessage():
            self._refit.start()

    # -- the whole text ------------------------------------------------------------------------
    @QtCore.Slot()
    def show_whole_message(self, *_: object) -> None:
        """Open a box with the current message, whole and wrapped."""
        text = self.currentMessage() or self.more_link.toolTip()
        if not text:
            return
        box = self.message_box
        if box is None:
            box = QtWidgets.QMessageBox(self.window())
            box.setObjectName("status_message_box")
            box.setWindowTitle("Message")
            box.setIcon(QtWidgets.QMessageBox.Icon.Information)
            box.setTextFormat(QtCore.Qt.TextFormat.PlainText)
            self.message_box = box
        box.setText(text)
        box.open()

    # -- drawing ---------------------------------------------------------------------------------
    def paintEvent(self, event: QtGui.QPaintEvent) -> None:  # noqa: N802 (Qt override)
        text = _one_line(self.currentMessage())
        if not text or not self._cut:
            super().paintEvent(event)
            return
        # As QStatusBar paints a message, but elided to the room left of "more…".
        painter = QtGui.QPainter(self)
        style, primitive = self.style(), QtWidgets.QStyle.PrimitiveElement
        option = QtWidgets.QStyleOption()
        option.initFrom(self)
        style.drawPrimitive(primitive.PE_PanelStatusBar, option, painter, self)
        for widget in self._widgets_shown():
            frame = QtWidgets.QStyleOption()
            frame.rect = widget.geometry().adjusted(-2, -1, 2, 1)
            frame.palette = self.palette()
            style.drawPrimitive(primitive.PE_FrameStatusBarItem, frame, painter, widget)
        rect = self.message_rect()
        shown = self.shown_text()
        painter.setPen(self.palette().windowText().color())
        flags = QtCore.Qt.AlignmentFlag.AlignLeading | QtCore.Qt.AlignmentFlag.AlignVCenter
        painter.drawText(rect, int(flags) | int(QtCore.Qt.TextFlag.TextSingleLine), shown)
        painter.end()

    def shown_text(self) -> str:
        """The message as drawn now: whole, or elided to the room it has."""
        text = _one_line(self.currentMessage())
        if not self._cut:
            return text
        room = self.message_rect().width()
        return self.fontMetrics().elidedText(text, QtCore.Qt.TextElideMode.ElideRight, room)


def _one_line(text: str) -> str:
    """``text`` as QStatusBar draws it (TextSingleLine: line breaks become spaces)."""
    return text.replace("\n", " ")
