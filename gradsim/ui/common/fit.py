"""Layout helpers that keep the window's parts from widening it or hiding text silently.

A combo box shows as much of its current item as fits and cuts the rest without a trace: its
tooltip gets the whole text. Docks opened one after another on the right each asked for their
own width and height: they share one tabbed area instead. A plot's title or legend that asks
for its text's width widens the plot: it asks for none (:func:`without_width`) and fits itself.
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

_ORIGINAL_TIP = "gradsim_original_tooltip"


def without_width(
    size: QtCore.QSizeF, which: QtCore.Qt.SizeHint, *hints: QtCore.Qt.SizeHint
) -> QtCore.QSizeF:
    """``size``, a graphics item's ``sizeHint(which)``, with no width if ``which`` is one of ``hints``.

    For items on a plot that clip or elide their own text (titles, legends): the plot's columns,
    not the text, then decide how wide the plot is.
    """
    if which in hints:
        size.setWidth(0)
    return size


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
