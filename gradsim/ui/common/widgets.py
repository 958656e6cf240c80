"""Small widget builders every part of the window uses: a text label, a named widget, a scroll area,
a dialog opened in place of the previous one, an action with its tips and keys, a caption for a
field, a combo box as wide as a number of characters, a label that wraps its text."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from PySide6 import QtCore, QtGui, QtWidgets

Widget = TypeVar("Widget", bound=QtWidgets.QWidget)
Dialog = TypeVar("Dialog", bound=QtWidgets.QDialog)


def named(widget: Widget, object_name: str, tip: str = "") -> Widget:
    """``widget`` with its ``objectName`` (how tests and style sheets find it) and tooltip set."""
    widget.setObjectName(object_name)
    if tip:
        widget.setToolTip(tip)
    return widget


def make_action(
    owner: QtWidgets.QWidget,
    text: str,
    slot: Callable[..., object],
    tip: str,
    shortcuts: list[QtGui.QKeySequence] | None = None,
    *,
    keys: str = "",
    name: str = "",
    icon: QtGui.QIcon | None = None,
    menu: QtWidgets.QMenu | None = None,
) -> QtGui.QAction:
    """An action of ``owner`` calling ``slot`` when triggered, with ``tip`` as tool and status tip.

    It is added to ``owner``, so its ``shortcuts`` work while the owner's window is active (also
    with the menu bar hidden); ``name`` is its ``objectName`` (how tests find it). A tip names
    the keys, as the user reads them ("... (Ctrl+P)"): ``keys`` ("Ctrl+P") is a shortcut the tip
    names for itself; with ``shortcuts`` (a standard key, several keys) the tip names them.
    ``menu``: the menu it is appended to.
    """
    if keys:
        tip = f"{tip} ({keys})"
        shortcuts = [*(shortcuts or []), QtGui.QKeySequence(keys)]
    action = QtGui.QAction(text, owner) if icon is None else QtGui.QAction(icon, text, owner)
    if name:
        action.setObjectName(name)
    action.triggered.connect(slot)
    action.setToolTip(tip)
    action.setStatusTip(tip)
    if shortcuts:
        action.setShortcuts(shortcuts)
    owner.addAction(action)
    if menu is not None:
        menu.addAction(action)
    return action


def caption(text: str, buddy: QtWidgets.QWidget) -> QtWidgets.QLabel:
    """A label naming ``buddy``: its "&" mnemonic (Alt+letter) moves the focus there.

    A form row makes this label itself when its field is a widget; a row whose field is a layout
    (a spin box and a button, say) needs one: without a buddy the text reads literally "F&ile:".
    """
    label = QtWidgets.QLabel(text)
    label.setBuddy(buddy)
    return label


def fit_combo(combo: QtWidgets.QComboBox, characters: int) -> QtWidgets.QComboBox:
    """``combo`` sized for ``characters`` characters (and an icon) instead of its longest item,
    which the closed box then elides (the open list shows it whole); returns it."""
    combo.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(characters)
    return combo


def wrapped_label(object_name: str, text: str = "") -> QtWidgets.QLabel:
    """A label showing ``text`` on as many lines as its width needs, named ``object_name``."""
    label = QtWidgets.QLabel(text)
    label.setObjectName(object_name)
    label.setWordWrap(True)
    return label


def text_label(object_name: str, *, scale: float = 1.0, bold: bool = False) -> QtWidgets.QLabel:
    """A wrapping (:func:`wrapped_label`), mouse-selectable plain-text label, top-left aligned.

    With ``scale`` or ``bold`` it gets its own font (the application's, ``scale`` times larger);
    otherwise it inherits its parent's.
    """
    label = wrapped_label(object_name)
    label.setTextFormat(QtCore.Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setAlignment(QtCore.Qt.AlignmentFlag.AlignTop | QtCore.Qt.AlignmentFlag.AlignLeft)
    if scale != 1.0 or bold:
        font = label.font()
        font.setPointSizeF(font.pointSizeF() * scale)
        font.setBold(bold)
        label.setFont(font)
    return label


def vertical_scroll(
    content: QtWidgets.QWidget, object_name: str, area: QtWidgets.QScrollArea | None = None
) -> QtWidgets.QScrollArea:
    """``content`` in a frameless scroll area (``area``, or a new one) that scrolls vertically only.

    The content is resized to the area's width, so it wraps its text instead of widening the
    area; returns the area.
    """
    scroll = QtWidgets.QScrollArea() if area is None else area
    scroll.setObjectName(object_name)
    scroll.setWidgetResizable(True)
    scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
    scroll.setWidget(content)
    return scroll


def reopen_dialog(
    previous: QtWidgets.QDialog | None, build: Callable[[], Dialog], on_finished: Callable[[int], object]
) -> Dialog:
    """Close ``previous`` (if any), then build a dialog and open it (non-blocking); returns it.

    The dialog deletes itself when closed; ``on_finished`` (a slot of the owner, which should
    forget the dialog there) is connected to its ``finished`` signal.
    """
    if previous is not None:
        previous.close()
    dialog = build()
    dialog.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose, True)
    dialog.finished.connect(on_finished)
    dialog.open()
    return dialog


# Qt's largest widget size (QWIDGETSIZE_MAX), which PySide does not export.
QWIDGETSIZE_MAX = (1 << 24) - 1


class SteadyLabel(QtWidgets.QLabel):
    """A label of a fixed size, for a text that changes with every frame (a counter, a loss).

    A label whose size follows its text makes each new text ask its parent, and through a
    toolbar or the status bar the whole window, to lay itself out again: measured ten times a
    second while a run trains, each time with Qt's animations of the docks' geometry. This
    label's size is fixed for ``widest`` (the longest text expected), refitted after a font
    change, and widened once for a text that would not fit (with a digit to spare).

    Parameters
    ----------
    widest : a sample of the longest text it will show
    margin : pixels left and right of the text
    """

    def __init__(self, widest: str, margin: int = 0, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._widest = widest
        self.setContentsMargins(margin, 0, margin, 0)
        self._fit()

    def _fit(self) -> None:
        """Fix the size to what the widest text needs in the current font."""
        shown = self.text()
        # A label's size hint is never below its minimum size: free it before asking.
        self.setMinimumSize(0, 0)
        self.setMaximumSize(QWIDGETSIZE_MAX, QWIDGETSIZE_MAX)
        QtWidgets.QLabel.setText(self, self._widest)
        hint = self.sizeHint()
        QtWidgets.QLabel.setText(self, shown)
        self.setFixedSize(hint)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt's name)
        """Show ``text``, widening the label first if it would not fit."""
        margins = self.contentsMargins()
        needed = self.fontMetrics().horizontalAdvance(text) + margins.left() + margins.right()
        if needed > self.width():
            self._widest = text + "0"
            self._fit()
        super().setText(text)

    def changeEvent(self, event: QtCore.QEvent) -> None:  # noqa: N802 (Qt's name)
        super().changeEvent(event)
        if event.type() == QtCore.QEvent.Type.FontChange:
            self._fit()


class IterationCounter(SteadyLabel):
    """A toolbar's large bold "Iteration N" label (a :class:`SteadyLabel` for 8 digits).

    Parameters
    ----------
    name : its ``objectName``
    tip : its tooltip
    margin : pixels left and right of the text
    scale : its font's size against the application's
    """

    def __init__(self, name: str, tip: str, margin: int, scale: float = 1.4) -> None:
        super().__init__("Iteration 00000000", margin)
        self.setObjectName(name)
        font = self.font()
        font.setPointSizeF(font.pointSizeF() * scale)
        font.setBold(True)
        self.setFont(font)
        self.setToolTip(tip)
