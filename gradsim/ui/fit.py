"""Layout helpers that keep long text from widening the window or hiding silently.

A ``QLabel`` asks for its whole text's width as its minimum; in a status line that is one long
sentence, so a finished sweep's summary could push the window past the screen. A combo box shows
as much of its current item as fits and cuts the rest without a trace. The helpers here make
such widgets shrink with the window and keep their full text one hover away.
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

_ORIGINAL_TIP = "gradsim_original_tooltip"


def tooltip_shows_text(combo: QtWidgets.QComboBox) -> None:
    """Keep ``combo``'s current text at the top of its tooltip (the box may be too narrow for it)."""
    if combo.property(_ORIGINAL_TIP) is not None:
        return
    combo.setProperty(_ORIGINAL_TIP, combo.toolTip())

    def update(text: str) -> None:
        original = combo.property(_ORIGINAL_TIP) or ""
        combo.setToolTip(f"{text}\n\n{original}" if original and text else text or original)

    combo.currentTextChanged.connect(update)
    update(combo.currentText())


def all_combos_show_text(root: QtWidgets.QWidget) -> None:
    """:func:`tooltip_shows_text` for every combo box under ``root``."""
    for combo in root.findChildren(QtWidgets.QComboBox):
        tooltip_shows_text(combo)


class ElidedLabel(QtWidgets.QLabel):
    """A one-line label that never asks for its text's width: it shows what fits, ending in "…",
    and the whole text is its tooltip whenever it is cut.

    Use it for status lines whose text length depends on the data (a sweep's summary, a file
    path). ``text()`` returns the full text.
    """

    def __init__(self, text: str = "", parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self._tip = ""
        policy = self.sizePolicy()
        policy.setHorizontalPolicy(QtWidgets.QSizePolicy.Policy.Ignored)
        self.setSizePolicy(policy)
        self.setText(text)

    def text(self) -> str:  # noqa: D102 (the full text, not the elided one)
        return self._full

    def setText(self, text: str) -> None:  # noqa: N802
        self._full = text
        self._refresh()

    def setToolTip(self, tip: str) -> None:  # noqa: N802
        self._tip = tip
        self._refresh()

    def minimumSizeHint(self) -> QtCore.QSize:  # noqa: N802
        return QtCore.QSize(self.fontMetrics().horizontalAdvance("…") * 4, super().minimumSizeHint().height())

    def resizeEvent(self, event: object) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._refresh()

    def _refresh(self) -> None:
        width = self.contentsRect().width()
        shown = self.fontMetrics().elidedText(self._full, QtCore.Qt.TextElideMode.ElideRight, max(width, 0))
        QtWidgets.QLabel.setText(self, shown)
        tip = self._full if shown != self._full else ""
        if self._tip:
            tip = f"{tip}\n\n{self._tip}" if tip else self._tip
        QtWidgets.QLabel.setToolTip(self, tip)


def share_dock_area(window: QtWidgets.QMainWindow) -> None:
    """Put every right-hand dock in one tabbed stack, and raise a dock when it is shown.

    Docks stacked one above the other each ask for their own minimum height, and side by side
    for their widths: opening a second dock (lessons, pinned runs) would widen the window past
    the screen or squeeze both. As tabs they share the area the first dock was given.
    """
    area = QtCore.Qt.DockWidgetArea.RightDockWidgetArea
    docks = [d for d in window.findChildren(QtWidgets.QDockWidget) if window.dockWidgetArea(d) == area]
    for dock in docks[1:]:
        window.tabifyDockWidget(docks[0], dock)
    for dock in docks:
        # Raised once Qt has shown its tab (a raise before that leaves the other tab in front).
        dock.toggleViewAction().toggled.connect(
            lambda shown, d=dock: shown and QtCore.QTimer.singleShot(0, d.raise_)
        )
    if docks:
        docks[0].raise_()
