"""The "Backprop" tab: the running network frozen, its backward pass stepped by hand.

Opening the tab (or Run ▸ Step through backprop, Ctrl+2) pauses training and asks the worker for
a copy of the current weights (:meth:`Runner.capture`, answered between two training steps). The
:class:`~.backprop_view.BackpropView` then runs the forward pass of those weights on
the first batch of the run's data stream and puts the backward pass under the user's keys.

The frozen network is kept while the user looks elsewhere: coming back to the tab reloads only
if the run has moved on since (it trained, was reset or rebuilt), so a half-stepped backward
pass is not lost by a glance at the Training tab. While the tab shows, the window's Space and
arrow keys belong to the view (the window drops its transport shortcuts on other tabs).
"""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from gradsim.engine.config import SimConfig
from gradsim.ui.common.theme import Theme
from gradsim.ui.common.widgets import wrapped_label
from gradsim.ui.feature_api import NOTHING_FROZEN, FrozenWeights, WindowAPI
from gradsim.ui.features.backprop.backprop_frames import DEFAULT_BACKPROP_SIZE, BackpropFrames
from gradsim.ui.features.backprop.backprop_view import BackpropView
from gradsim.ui.training.runner import Capture

TAB_TITLE = "Backprop"


class BackpropTab(QtCore.QObject):
    """Keeps the Backprop tab's view in step with the window's run.

    Attributes
    ----------
    page : the tab's widget (a header line above the view)
    view : the :class:`BackpropView`
    header : QLabel saying which weights are frozen
    refreeze_button : loads the run's current weights again
    open_action : Run menu action that shows the tab (Ctrl+2)
    frozen : the capture shown, or None before the first one arrives
    """

    def __init__(self, window: WindowAPI) -> None:
        super().__init__(window)
        self.window = window
        self.view = BackpropView(theme=window.dashboard.theme)
        self.view.setObjectName("backprop_view")
        self.frozen: Capture | None = None
        self._pending_token = 0
        self._frozen_generation = -1

        self.page = QtWidgets.QWidget()
        self.page.setObjectName("backprop_page")
        layout = QtWidgets.QVBoxLayout(self.page)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.setSpacing(4)
        header_row = QtWidgets.QHBoxLayout()
        header_row.setContentsMargins(8, 0, 8, 0)
        self.header = wrapped_label("backprop_header")
        header_row.addWidget(self.header, 1)
        self.refreeze_button = QtWidgets.QPushButton("Freeze current weights")
        self.refreeze_button.setObjectName("backprop_refreeze")
        self.refreeze_button.setToolTip(
            "Pause training and step through the backward pass of the weights the run has now"
        )
        self.refreeze_button.clicked.connect(self.freeze)
        header_row.addWidget(self.refreeze_button)
        layout.addLayout(header_row)
        self._header_row = header_row
        # The view needs about 520 px of height (a 1280 x 720 window with both docks gives it
        # 550); in a smaller window it scrolls rather than setting the whole window's minimum size.
        scroll = QtWidgets.QScrollArea()
        scroll.setObjectName("backprop_scroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        scroll.setWidget(self.view)
        layout.addWidget(scroll, 1)

        self.open_action = QtGui.QAction("Step through backprop", window)
        self.open_action.setShortcut(QtGui.QKeySequence("Ctrl+2"))
        self.open_action.setToolTip(
            "Freeze training and step through the backward pass one layer and time step at a time (Ctrl+2)"
        )
        self.open_action.triggered.connect(self.show_tab)
        window.run_menu.addSeparator()
        window.run_menu.addAction(self.open_action)
        window.addAction(self.open_action)
        self.training_action = QtGui.QAction("Training tab", window)
        self.training_action.setObjectName("training_tab_action")
        self.training_action.setShortcut(QtGui.QKeySequence("Ctrl+1"))
        self.training_action.setToolTip("Show the Training tab: the live plots of the run (Ctrl+1)")
        self.training_action.triggered.connect(lambda: window.tabs.setCurrentWidget(window.training_tab()))
        window.addAction(self.training_action)
        # In a menu like the other tabs' (Ctrl+2 and Ctrl+3 under Run, Ctrl+4 under View), so
        # that the shortcut can be found.
        window.view_menu.addAction(self.training_action)

        window.tabs.insertTab(1, self.page, TAB_TITLE)
        window.tabs.setTabToolTip(
            window.tabs.indexOf(self.page),
            "Step through backpropagation on the current weights, one layer and time step at a time (Ctrl+2)",
        )
        window.tabs.currentChanged.connect(self._on_tab_changed)
        window.runner.captured.connect(self._on_captured)
        window.runRestarted.connect(self._on_run_restarted)
        window.closing.connect(self.view.shutdown)
        window.presentationScaleChanged.connect(self.set_presentation_scale)
        if window.presentation_scale != 1.0:
            self.set_presentation_scale(window.presentation_scale)
        self._show_header()

    # -- public ----------------------------------------------------------------------------
    def is_current(self) -> bool:
        """Whether the Backprop tab is the one shown."""
        return self.window.tabs.currentWidget() is self.page

    @QtCore.Slot()
    def show_tab(self) -> None:
        """Bring the tab to the front (which freezes the run if it moved on)."""
        self.window.tabs.setCurrentWidget(self.page)
        self.view.setFocus()

    @QtCore.Slot()
    def freeze(self) -> None:
        """Pause training and load the run's current weights into the view."""
        runner = self.window.runner
        runner.pause()
        self._pending_token = runner.capture()
        self.header.setText("Pausing training and copying the current weights…")

    def is_stale(self) -> bool:
        """Whether the run moved on since the weights shown were frozen."""
        if self.frozen is None:
            return True
        if self._frozen_generation != self.window.runner.generation:
            return True
        latest = self.window.history.latest
        return (latest.iteration if latest is not None else 0) != self.frozen.iteration

    @QtCore.Slot(float)
    def set_presentation_scale(self, scale: float) -> None:
        """Presentation mode: the view ``scale`` times larger, the header row folded away.

        At 1.6 times the size the three plots need every pixel of a 720-pixel window's height.
        The header's buttons are not missed meanwhile: opening the tab freezes the run's current
        weights when it moved on, and File ▸ Record animation… records the backward pass.
        """
        row = self._header_row
        for item in (row.itemAt(index) for index in range(row.count())):
            widget = None if item is None else item.widget()
            if widget is not None:
                widget.setVisible(scale == 1.0)
        self.view.set_presentation_scale(scale)

    # -- reactions -------------------------------------------------------------------------
    @QtCore.Slot(int)
    def _on_tab_changed(self, index: int) -> None:
        if self.window.tabs.widget(index) is not self.page:
            self.view.pause()
            return
        if self.is_stale() and not self._pending_token:
            self.freeze()
        self.view.setFocus()

    @QtCore.Slot(object)
    def _on_run_restarted(self, config: SimConfig) -> None:
        del config
        # A new run (rebuild or reset): what is shown belongs to the old one.
        if self.is_current():
            self.freeze()

    @QtCore.Slot(object)
    def _on_captured(self, capture: Capture) -> None:
        if capture.token != self._pending_token:
            return  # asked for by someone else, or superseded by a newer request
        self._pending_token = 0
        self.frozen = capture
        self._frozen_generation = self.window.runner.generation
        self.view.load(capture.config, capture.params)
        self._show_header()
        if self.is_current():
            self.view.setFocus()

    def _show_header(self) -> None:
        capture = self.frozen
        if capture is None:
            self.header.setText(
                "Opening this tab pauses training and freezes the current weights; then step the "
                "backward pass with ← (back one step), → (undo), Home, End and Space (play)."
            )
            return
        title = self.window.control_panel.preset_title()
        state = " (the run had stopped on a non-finite value)" if capture.halted else ""
        self.header.setText(
            f"Frozen: the weights after iteration {capture.iteration} of “{title}”{state} and the run's "
            "first batch. Training is paused."
        )

    # -- what this feature offers others (feature_api.FrozenNetwork) ------------------------
    def frozen_network(self) -> FrozenWeights | None:
        """``(config, params, batch)`` of the weights the tab shows (None before the first)."""
        if self.frozen is None:
            return None
        return self.frozen.config, self.frozen.params, self.view.batch

    def backward_frames(self, width: int, theme: Theme, *, scale: float = 1.0) -> BackpropFrames:
        """An offscreen copy of the view of the frozen network for animation frames (see
        :class:`BackpropFrames`); ValueError if nothing is frozen yet."""
        frozen = self.frozen_network()
        if frozen is None:
            raise ValueError(NOTHING_FROZEN)
        config, params, batch = frozen
        return BackpropFrames(config, params, batch, width, theme, scale=scale)

    def backward_frame_size(self) -> tuple[int, int]:
        """The offscreen view's logical size, ``(width, height)``."""
        return DEFAULT_BACKPROP_SIZE

    def add_header_widget(self, widget: QtWidgets.QWidget) -> None:
        """Put ``widget`` in the header row, after "Freeze current weights"."""
        self._header_row.addWidget(widget)


def install(window: WindowAPI) -> BackpropTab:
    """Add the Backprop tab, its Run menu entry and the Ctrl+1 / Ctrl+2 tab shortcuts."""
    return BackpropTab(window)
