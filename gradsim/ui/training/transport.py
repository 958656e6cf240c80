"""The training run's transport: Play/Pause, Step and Reset, the speed chooser, the counter."""

from __future__ import annotations

import math
from collections.abc import Callable

from PySide6 import QtCore, QtGui, QtWidgets

from gradsim.ui.common.icons import icon
from gradsim.ui.common.widgets import IterationCounter, make_action
from gradsim.ui.training.runner import UNLIMITED

SPEEDS: tuple[float, ...] = (1, 2, 5, 10, 20, 50, 100, 200, 500, UNLIMITED)
DEFAULT_SPEED = UNLIMITED


class TransportActions:
    """Play/Pause, Step and Reset: actions of ``owner`` with their icons and keys.

    Attributes
    ----------
    play, step, reset : the actions (Space; → or N; R), calling ``toggle_play``, ``step``, ``reset``
    """

    def __init__(
        self,
        owner: QtWidgets.QWidget,
        *,
        toggle_play: Callable[..., object],
        step: Callable[..., object],
        reset: Callable[..., object],
    ) -> None:
        key, qt_key = QtGui.QKeySequence, QtCore.Qt.Key
        tip = "Start the run again from its initial weights (R)"
        self.play = make_action(
            owner, "Play", toggle_play, "Train continuously, or pause (Space)", [key(qt_key.Key_Space)]
        )
        self.step = make_action(
            owner, "Step", step, "Take one training step (→ or N)", [key(qt_key.Key_Right), key(qt_key.Key_N)]
        )
        self.reset = make_action(owner, "Reset", reset, tip, [key(qt_key.Key_R)])
        for action, name in ((self.play, "play"), (self.step, "step"), (self.reset, "reset")):
            action.setIcon(icon(name))
            # Application-wide, so the keys work whatever dock (even a floating one) had the focus
            # last; text fields and spin boxes still get Space, arrows and letters first (Qt asks
            # the focus widget before it runs a shortcut, and those widgets claim typing keys).
            action.setShortcutContext(QtCore.Qt.ShortcutContext.ApplicationShortcut)
        self._keys = {action: action.shortcuts() for action in self.actions()}

    def actions(self) -> tuple[QtGui.QAction, QtGui.QAction, QtGui.QAction]:
        """Play, Step, Reset."""
        return self.play, self.step, self.reset

    def enable_keys(self, enabled: bool) -> None:
        """Give the actions their keys, or take them (another tab may use Space and the arrows)."""
        for action, keys in self._keys.items():
            action.setShortcuts(keys if enabled else [])

    def show_running(self, running: bool) -> None:
        """Show Play as "Pause" while the run trains."""
        self.play.setText("Pause" if running else "Play")
        self.play.setIcon(icon("pause" if running else "play"))


def speed_label(iterations_per_second: float) -> str:
    """``"10 it/s"`` or ``"max"``."""
    return "max" if math.isinf(iterations_per_second) else f"{iterations_per_second:g} it/s"


class SpeedChooser(QtCore.QObject):
    """The training speed, offered twice and kept alike: a menu's checkable items and a combo.

    Parameters
    ----------
    menu : the menu the speeds are added to (the Run menu's "Speed")
    parent : the owner (the window)

    Attributes
    ----------
    group : the menu items' exclusive action group
    combo : the toolbar's combo box (``objectName`` "speed"), not yet placed

    Signals
    -------
    chosen(speed) : the user picked ``speed`` (iterations per second) in either place
    """

    chosen = QtCore.Signal(float)

    def __init__(self, menu: QtWidgets.QMenu, parent: QtCore.QObject) -> None:
        super().__init__(parent)
        self.group = QtGui.QActionGroup(self)
        for speed in SPEEDS:
            action = menu.addAction(speed_label(speed))
            action.setCheckable(True)
            action.setData(speed)
            self.group.addAction(action)
        self.group.triggered.connect(self._on_user_action)
        self.combo = QtWidgets.QComboBox()
        self.combo.setObjectName("speed")
        self.combo.setToolTip(
            "Training steps per second while playing; 'max' trains as fast as the engine goes"
        )
        self.combo.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)  # keep Space/→ for the transport
        for speed in SPEEDS:
            self.combo.addItem(speed_label(speed), speed)
        self.combo.activated.connect(self._on_user_combo)

    def show_speed(self, speed: float) -> float:
        """Show the one of :data:`SPEEDS` nearest ``speed`` in both places; return it.

        Only displays: :attr:`chosen` is not emitted.
        """
        if speed not in SPEEDS:
            speed = min(SPEEDS, key=lambda s: abs(math.log(s / speed)) if math.isfinite(s) else math.inf)
        index = self.combo.findData(speed)
        blocked = self.combo.blockSignals(True)
        self.combo.setCurrentIndex(index)
        self.combo.blockSignals(blocked)
        for action in self.group.actions():
            action.setChecked(action.data() == speed)
        return speed

    @QtCore.Slot(int)
    def _on_user_combo(self, index: int) -> None:
        self.chosen.emit(float(self.combo.itemData(index)))

    @QtCore.Slot(QtGui.QAction)
    def _on_user_action(self, action: QtGui.QAction) -> None:
        self.chosen.emit(float(action.data()))


def fill_run_toolbar(
    toolbar: QtWidgets.QToolBar, transport: TransportActions, speed: SpeedChooser
) -> QtWidgets.QLabel:
    """Lay out the window's Run toolbar: Play, Step, Reset | Speed [combo] | the iteration counter.

    Returns the iteration counter ("Iteration N", ``objectName`` "iteration_counter").
    """
    toolbar.setObjectName("run_toolbar")
    toolbar.setMovable(False)
    toolbar.setIconSize(QtCore.QSize(24, 24))
    toolbar.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    for action in transport.actions():
        toolbar.addAction(action)
    toolbar.addSeparator()
    speed_caption = QtWidgets.QLabel(" Speed ")
    toolbar.addWidget(speed_caption)
    speed_caption.setBuddy(speed.combo)
    toolbar.addWidget(speed.combo)
    toolbar.addSeparator()
    counter = IterationCounter("iteration_counter", "Training steps taken in this run", 8)
    toolbar.addWidget(counter)
    return counter
