"""The Backprop tab's controls: the transport actions and toolbar, and the play speed.

:func:`transport_actions` makes the five actions (Home, ←, →, End, Space/P), active while the
focus is inside the view; :class:`TransportBar` shows them in a toolbar with the play speed
beside it, outside the toolbar: a slider that shrinks between :data:`SPEED_SLIDER_MIN_WIDTH` and
:data:`SPEED_SLIDER_MAX_WIDTH` and its label, so at 1280 x 720 nothing hides behind the
toolbar's "»". The speed slider is logarithmic: :func:`speed_notch` and :func:`notch_speed`
convert between cells per second and its notches. :class:`Player` is play's clock.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from PySide6 import QtCore, QtGui, QtWidgets

# Play speed range, cells per second (slider on a log scale).
MIN_SPEED = 1.0
MAX_SPEED = 2000.0
SPEED_SLIDER_STEPS = 200
# Play never ticks faster than the display.
MIN_TICK_MS = 16
# The slider gives way first when the row is narrow; the buttons and the speed label never do.
SPEED_SLIDER_MIN_WIDTH = 48
SPEED_SLIDER_MAX_WIDTH = 150
# The widest speed label, which the label reserves so the row does not jump while dragging.
WIDEST_SPEED_TEXT = "2000 cells/s"


def speed_notch(cells_per_second: float) -> int:
    """The slider notch of a speed (clamped to :data:`MIN_SPEED` .. :data:`MAX_SPEED`)."""
    speed = min(MAX_SPEED, max(MIN_SPEED, float(cells_per_second)))
    return round(math.log10(speed / MIN_SPEED) / math.log10(MAX_SPEED / MIN_SPEED) * SPEED_SLIDER_STEPS)


def notch_speed(notch: int) -> float:
    """The speed (cells per second) of a slider notch: logarithmic from 1 to 2000."""
    return float(MIN_SPEED * (MAX_SPEED / MIN_SPEED) ** (notch / SPEED_SLIDER_STEPS))


def speed_text(cells_per_second: float) -> str:
    """The speed label: whole cells per second from 10 on, two digits below."""
    speed = cells_per_second
    number = f"{speed:.0f}" if speed >= 10 else f"{speed:.2g}"
    return f"{number} cells/s"


@dataclass
class TransportActions:
    """The view's transport actions (shortcuts active while the focus is inside the view)."""

    start: QtGui.QAction
    step: QtGui.QAction
    undo: QtGui.QAction
    end: QtGui.QAction
    play: QtGui.QAction

    def all(self) -> tuple[QtGui.QAction, ...]:
        """The actions in toolbar order."""
        return (self.start, self.step, self.undo, self.end, self.play)


def transport_actions(
    owner: QtWidgets.QWidget,
    go_to_start: Callable[[], object],
    step_backward: Callable[[], object],
    undo_step: Callable[[], object],
    go_to_end: Callable[[], object],
    toggle_play: Callable[[], object],
) -> TransportActions:
    """The five transport actions, added to ``owner`` with their keys and tooltips."""
    context = QtCore.Qt.ShortcutContext.WidgetWithChildrenShortcut
    key = QtCore.Qt.Key

    def action(
        text: str, tip: str, keys: list[QtGui.QKeySequence], slot: Callable[[], object]
    ) -> QtGui.QAction:
        act = QtGui.QAction(text, owner)
        act.setShortcuts(keys)
        act.setShortcutContext(context)
        shortcut = ", ".join(k.toString(QtGui.QKeySequence.SequenceFormat.NativeText) for k in keys)
        act.setToolTip(f"{tip} ({shortcut})")
        act.triggered.connect(slot)
        owner.addAction(act)
        return act

    return TransportActions(
        start=action(
            "⟲ Start", "Back to the start: the forward pass done, no gradient computed yet",
            [QtGui.QKeySequence(key.Key_Home)], go_to_start,
        ),
        step=action(
            "◀ Step back", "Compute the next cell of the backward pass: one time step further back "
            "(after the first step of a layer, the last step of the layer below)",
            [QtGui.QKeySequence(key.Key_Left)], step_backward,
        ),
        undo=action(
            "Undo ▶", "Undo the last cell (nothing is recomputed when you step back again)",
            [QtGui.QKeySequence(key.Key_Right)], undo_step,
        ),
        end=action(
            "End ⇤", "Complete the backward pass: every layer, every time step",
            [QtGui.QKeySequence(key.Key_End)], go_to_end,
        ),
        play=action(
            "▶ Play", "Animate the backward pass at the chosen speed; again to pause",
            [QtGui.QKeySequence(key.Key_Space), QtGui.QKeySequence(key.Key_P)], toggle_play,
        ),
    )  # fmt: skip


class TransportBar(QtWidgets.QWidget):
    """The transport toolbar and, beside it, the play speed (caption, slider, label) and the busy
    indicator.

    Attributes
    ----------
    toolbar : QToolBar "Backprop" with the transport actions as text buttons
    speed_slider : QSlider, notches 0 .. :data:`SPEED_SLIDER_STEPS` (see :func:`notch_speed`)
    speed_label : QLabel with the speed in cells per second
    busy_box : shown while a background job runs: busy_label (what it does) and busy_bar
    """

    def __init__(
        self, actions: TransportActions, font: QtGui.QFont, parent: QtWidgets.QWidget | None = None
    ) -> None:
        super().__init__(parent)
        toolbar = QtWidgets.QToolBar("Backprop")
        toolbar.setFont(font)
        toolbar.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextOnly)
        toolbar.setMovable(False)  # no handle: it is not in a main window's toolbar area
        # At 1280 x 720 the row has about 600 px: the buttons keep their text, the margins go.
        toolbar_layout = toolbar.layout()
        assert toolbar_layout is not None  # a QToolBar always has its layout
        toolbar_layout.setContentsMargins(0, 2, 0, 2)
        for act in actions.all():
            toolbar.addAction(act)
            toolbar.widgetForAction(act).setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.toolbar = toolbar
        speed_caption = QtWidgets.QLabel("Speed")
        speed_caption.setFont(font)
        self.speed_slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.speed_slider.setRange(0, SPEED_SLIDER_STEPS)
        self.speed_slider.setMinimumWidth(SPEED_SLIDER_MIN_WIDTH)
        self.speed_slider.setMaximumWidth(SPEED_SLIDER_MAX_WIDTH)
        self.speed_slider.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.speed_slider.setToolTip("Play speed in cells per second (logarithmic, 1 to 2000)")
        self.speed_label = QtWidgets.QLabel()
        self.speed_label.setFont(font)
        self.fit_speed_label()
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        # The toolbar keeps its buttons' width; the slider takes what is left, up to its maximum.
        toolbar.setSizePolicy(QtWidgets.QSizePolicy.Policy.Fixed, QtWidgets.QSizePolicy.Policy.Preferred)
        layout.addWidget(toolbar)
        layout.addWidget(speed_caption)
        layout.addWidget(self.speed_slider, 1)
        layout.addWidget(self.speed_label)
        layout.addStretch(0)
        # Outside the toolbar, so showing it is immediate (a toolbar lays its widgets out lazily).
        self.busy_bar = QtWidgets.QProgressBar()
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setFixedWidth(120)
        self.busy_bar.setTextVisible(False)
        self.busy_label = QtWidgets.QLabel()
        self.busy_label.setFont(font)
        self.busy_box = QtWidgets.QWidget()
        busy_layout = QtWidgets.QHBoxLayout(self.busy_box)
        busy_layout.setContentsMargins(0, 0, 6, 0)
        busy_layout.addWidget(self.busy_label)
        busy_layout.addWidget(self.busy_bar)
        self.busy_box.setVisible(False)
        layout.addWidget(self.busy_box)

    def fit_speed_label(self) -> None:
        """Reserve the widest speed text at the label's current font (again after a rescale)."""
        self.speed_label.setMinimumWidth(self.speed_label.fontMetrics().horizontalAdvance(WIDEST_SPEED_TEXT))

    def show_speed(self, cells_per_second: float) -> None:
        """Put the slider at the notch of ``cells_per_second`` (without signalling) and label it."""
        blocked = self.speed_slider.blockSignals(True)
        self.speed_slider.setValue(speed_notch(cells_per_second))
        self.speed_slider.blockSignals(blocked)
        self.speed_label.setText(speed_text(cells_per_second))


def position_labels(font: QtGui.QFont) -> tuple[QtWidgets.QLabel, QtWidgets.QLabel]:
    """The cell count's two labels: beside the reading, and (presentation mode) in the transport
    bar, hidden. Beside the reading, not in the toolbar: there a 1440-pixel window hid it
    behind "»"."""
    labels = []
    for _ in range(2):
        label = QtWidgets.QLabel()
        label.setFont(font)
        label.setToolTip("Cells computed so far, out of layers x time steps")
        labels.append(label)
    beside, in_bar = labels
    beside.setAlignment(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
    in_bar.setVisible(False)
    return beside, in_bar


class Player(QtCore.QObject):
    """Play's clock: a timer that ticks at most at display rate (:data:`MIN_TICK_MS`) and hands
    out whole cells at :attr:`speed` cells per second, carrying fractions over to the next tick.

    Signals
    -------
    ticked : time for the view to ask :meth:`take_cells` and step
    """

    ticked = QtCore.Signal()

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.speed = 20.0
        self._credit = 0.0
        self._timer = QtCore.QTimer(self)
        self._timer.timeout.connect(self.ticked)

    @property
    def is_playing(self) -> bool:
        """The timer runs."""
        return self._timer.isActive()

    def start(self) -> None:
        """Start ticking with no cells owed."""
        self._credit = 0.0
        self._timer.start(self.tick_ms())

    def stop(self) -> None:
        """Stop ticking."""
        if self._timer.isActive():
            self._timer.stop()

    def set_speed(self, cells_per_second: float) -> None:
        """Play ``cells_per_second`` from the next tick on."""
        self.speed = cells_per_second
        if self._timer.isActive():
            self._timer.setInterval(self.tick_ms())

    def tick_ms(self) -> int:
        """The timer interval: one cell per tick, but no faster than the display."""
        return max(MIN_TICK_MS, round(1000.0 / self.speed))

    def take_cells(self) -> int:
        """The whole cells earned since the last tick (the fraction is kept for the next)."""
        self._credit += self.speed * self._timer.interval() / 1000.0
        count = int(self._credit)
        self._credit -= count
        return count
