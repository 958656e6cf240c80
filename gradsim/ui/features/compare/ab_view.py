"""The A/B tab: two configs trained in lockstep on the same batches, drawn side by side.

One worker (a thread or the training process, as for the Training tab) owns both simulations
(the Training tab's training loop with two simulations, :class:`PairRunner`) and steps them
alternately, one training step of A then one of
B per pair, so after every pair both have taken the same number
of steps. Both draw their batches from the data stream of the seed (B always uses A's seed), and
the engine keeps that stream apart from the weights' (:meth:`Simulation.reset`): configs that
differ in cell, weights, activation, clipping, optimiser or learning rate see identical batches
("RNN vs LSTM" sets up a vanilla RNN against an LSTM of the same size).

The pair's worker handle is in :mod:`.ab_runner`, the plots in :mod:`.ab_plots`; this module
holds the tab: the editors, the transport, and when to draw.

If either side produces a non-finite value, the pair stops after that pair of steps and the
message names the side. The GUI thread draws at most every :data:`FRAME_INTERVAL_MS`, holding
a worker thread while it draws (as :mod:`gradsim.ui.training.runner` explains, both threads share
the GIL).
"""

from __future__ import annotations

import time
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

# isort: split
import pyqtgraph as pg

from gradsim.engine.config import SimConfig
from gradsim.engine.history import RunHistory
from gradsim.engine.records import NonFiniteEvent, StepRecord
from gradsim.ui.common.config_diff import data_differences, describe_difference, rnn_vs_lstm, suggest_change
from gradsim.ui.common.icons import icon
from gradsim.ui.common.scaling import scale_fonts
from gradsim.ui.common.theme import Theme, current_theme
from gradsim.ui.common.widgets import IterationCounter, fit_combo, wrapped_label
from gradsim.ui.feature_api import WindowAPI
from gradsim.ui.features.compare.ab_plots import ABPlots
from gradsim.ui.features.compare.ab_runner import SIDES, PairRunner, halt_message
from gradsim.ui.training.control_panel import ControlPanel

__all__ = ["SIDES", "ABView", "PairRunner", "halt_message", "install_shortcuts"]
# The settings editor's narrowest width (pixels); narrower than a control panel, which then
# scrolls sideways, so that the plots keep their room in a 1280-pixel window.
AB_EDITOR_MIN_WIDTH = 200
# The editors' combo boxes ask for room for this many characters (their tooltip has the whole
# text): with the Training tab's 16 the panel needed 300 px and scrolled sideways at 1440 px.
AB_COMBO_CHARACTERS = 8
# Draw at most this often; a slow frame spaces the next one out (at most half the time drawing).
FRAME_INTERVAL_MS = 40
# The worker is released this long after a frame's data were set (Qt paints in later events).
FRAME_QUIET_MS = 15
# A and B in ink and grey, never a layer's hue: the gradient and ratio plots colour their curves
# by layer (blue, orange, ...), and a blue A and an orange B read as layers 1 and 2.
SIDE_COLORS = {"light": ("#212121", "#6d6d6d"), "dark": ("#f5f5f5", "#b0b0b0")}


class ABView(QtWidgets.QWidget):
    """The "A/B" tab: two config editors, transport for the pair, and the comparison plots.

    Parameters
    ----------
    window : the window (for the live config, the status bar and the tab widget)

    Attributes
    ----------
    panel_a, panel_b : the two :class:`ControlPanel` editors (B's seed follows A's)
    histories : ``{"A": RunHistory, "B": RunHistory}`` of the current pair
    runner : the :class:`PairRunner` (None until the tab is first used)
    plots : the :class:`ABPlots`; its items are the view's too: ``graphics``, ``gradient_plots``,
        ``gradient_curves``, ``overlay_curves``, ``loss_plot``, ``loss_curves``, ``ratio_plot``,
        ``ratio_curves``, ``ratio_note``, ``legend`` (see there)
    layout_combo : "Side by side" / "Overlaid"
    play_button, step_button, reset_button : the pair's transport
    message : the red label naming the side that stopped the pair
    """

    def __init__(self, window: WindowAPI) -> None:
        super().__init__()
        self.setObjectName("ab_view")
        self.window_ = window
        self.theme: Theme = current_theme()
        self.runner: PairRunner | None = None
        self.histories = {side: RunHistory(trail=1) for side in SIDES}
        self._dirty = False
        self._holding = False
        self._next_frame_at = 0.0
        config_a = window.current_config()
        self.panel_a = ControlPanel(config_a)
        self.panel_b = ControlPanel(suggest_change(config_a))
        self.panel_a.setObjectName("ab_panel_a")
        self.panel_b.setObjectName("ab_panel_b")
        seed = self.panel_b.editors["seed"]
        seed.setEnabled(False)
        seed.setToolTip("B always uses A's seed: both draw the same batches")
        self._build(window)
        self.panel_a.configChanged.connect(self._on_user_config_a)
        self.panel_b.configChanged.connect(self._on_user_config_b)
        self._draw_timer = QtCore.QTimer(self)
        self._draw_timer.setInterval(FRAME_INTERVAL_MS)
        self._draw_timer.timeout.connect(self._on_draw_timer)
        self._draw_timer.start()
        self._release_timer = QtCore.QTimer(self)
        self._release_timer.setSingleShot(True)
        self._release_timer.setInterval(FRAME_QUIET_MS)
        self._release_timer.timeout.connect(self._release)
        self._show_difference()
        self._clear_plots()

    # -- construction --------------------------------------------------------------------------
    def _build(self, window: WindowAPI) -> None:
        theme = self.theme
        colors = SIDE_COLORS[theme.name]
        self.side_colors = dict(zip(SIDES, colors, strict=True))
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        outer.addLayout(self._build_bar())
        self.difference_label = wrapped_label("ab_difference")
        # The two "set up A and B" buttons share the line that says how B differs from A: the
        # transport bar alone then fits the narrowest window (1280 px with controls and a dock).
        setup_row = QtWidgets.QHBoxLayout()
        setup_row.addWidget(self.difference_label, 1)
        setup_row.addWidget(self.from_training_button)
        setup_row.addWidget(self.copy_button)
        setup_row.addWidget(self.rnn_lstm_button)
        outer.addLayout(setup_row)
        self.message = wrapped_label("ab_message")
        self.message.setStyleSheet(
            "QLabel { background: #b00020; color: #ffffff; font-weight: bold;"
            " border-radius: 4px; padding: 6px; }"
        )
        self.message.hide()
        outer.addWidget(self.message)
        splitter = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        splitter.setObjectName("ab_splitter")
        # One editor at a time (a tab each): two full panels side by side would leave the plots
        # too little room; the line above the plots says what differs.
        editors = QtWidgets.QTabWidget()
        editors.setObjectName("ab_editors")
        for side, panel in (("A", self.panel_a), ("B", self.panel_b)):
            for combo in panel.findChildren(QtWidgets.QComboBox):
                fit_combo(combo, AB_COMBO_CHARACTERS)
            scroll = QtWidgets.QScrollArea()
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
            scroll.setWidget(panel)
            # Narrower than the panel if need be (it then scrolls sideways): in a 1280-pixel
            # window the four plots need the room more than the editor does.
            scroll.setMinimumWidth(AB_EDITOR_MIN_WIDTH)
            style = "solid" if side == "A" else "dashed"
            editors.addTab(scroll, f"{side} ({style})")
            index = editors.count() - 1
            editors.tabBar().setTabTextColor(index, QtGui.QColor(self.side_colors[side]))
            editors.setTabToolTip(index, f"Settings of run {side} (drawn {style})")
        self.editors = editors
        splitter.addWidget(editors)
        splitter.addWidget(self._build_plots())
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setCollapsible(1, False)
        # The editor starts as wide as a whole panel (its text wraps, nothing scrolls sideways)
        # where the plots' minimum leaves the room; the four plots take the rest of the width.
        first_editor = editors.widget(0)
        assert isinstance(first_editor, QtWidgets.QAbstractScrollArea)
        extent = first_editor.style().pixelMetric(QtWidgets.QStyle.PixelMetric.PM_ScrollBarExtent)
        frame = 2 * editors.style().pixelMetric(QtWidgets.QStyle.PixelMetric.PM_DefaultFrameWidth)
        self.editor_width = self.panel_a.minimumSizeHint().width() + extent + frame + 4
        splitter.setSizes([max(self.editor_width, AB_EDITOR_MIN_WIDTH + 60), 4000])
        self.splitter = splitter
        outer.addWidget(splitter, 1)

    def _tool_button(
        self, text: str, name: str, tip: str, slot: Any, icon_name: str = ""
    ) -> QtWidgets.QToolButton:
        button = QtWidgets.QToolButton()
        button.setObjectName(name)
        button.setText(text)
        button.setToolTip(tip)
        if icon_name:
            button.setIcon(icon(icon_name))
        button.setIconSize(QtCore.QSize(20, 20))
        button.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        button.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)  # keep Space for the transport
        button.clicked.connect(slot)
        return button

    def _build_bar(self) -> QtWidgets.QHBoxLayout:
        bar = QtWidgets.QHBoxLayout()
        self.play_button = self._tool_button(
            "Play", "ab_play", "Train A and B in lockstep, or pause (Space)", self.toggle_play, "play"
        )
        self.step_button = self._tool_button(
            "Step", "ab_step", "One training step of A and one of B (→ or N)", self.step, "step"
        )
        self.reset_button = self._tool_button(
            "Reset", "ab_reset", "Both runs back to their initial weights (R)", self.reset, "reset"
        )
        for button in (self.play_button, self.step_button, self.reset_button):
            bar.addWidget(button)
        bar.addSpacing(12)
        caption = QtWidgets.QLabel("Plots:")
        self.layout_combo = QtWidgets.QComboBox()
        self.layout_combo.setObjectName("ab_layout")
        self.layout_combo.addItem("Side by side", "side")
        self.layout_combo.addItem("Overlaid", "overlay")
        self.layout_combo.setToolTip("Gradient plots of A and B next to each other, or B dashed over A")
        self.layout_combo.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.layout_combo.currentIndexChanged.connect(self._on_user_layout)
        caption.setBuddy(self.layout_combo)
        bar.addWidget(caption)
        bar.addWidget(self.layout_combo)
        self.from_training_button = self._tool_button(
            "A = training run", "ab_from_training",
            "Set A to the Training tab's settings and B to a copy with one change (clipping)",
            self.use_training_config,
        )  # fmt: skip
        self.copy_button = self._tool_button(
            "B = A", "ab_copy_a", "Copy A's settings to B (then change one thing in B)", self.copy_a_to_b
        )
        self.rnn_lstm_button = self._tool_button(
            "RNN vs LSTM", "ab_rnn_lstm",
            "A = A's settings as a vanilla RNN, B = an LSTM of the same size (forget bias 1.0): same "
            "task, seed and batches, so the two gradient plots show what the gates change",
            self.compare_rnn_lstm,
        )  # fmt: skip
        bar.addStretch(1)
        self.iteration_label = IterationCounter(
            "ab_iteration", "Training steps taken by each of A and B", 6, scale=1.2
        )
        bar.addWidget(self.iteration_label)
        return bar

    def _build_plots(self) -> pg.GraphicsLayoutWidget:
        plots = ABPlots(self.theme, self.side_colors)
        self.plots = plots
        # The plots' items, as the view's attributes (see the class's docstring).
        self.gradient_plots, self.gradient_curves = plots.gradient_plots, plots.gradient_curves
        self.overlay_curves, self.legend = plots.overlay_curves, plots.legend
        self.loss_plot, self.loss_curves = plots.loss_plot, plots.loss_curves
        self.ratio_plot, self.ratio_curves, self.ratio_note = (
            plots.ratio_plot,
            plots.ratio_curves,
            plots.ratio_note,
        )
        self.graphics = plots.graphics
        return plots.graphics

    @property
    def layout_mode(self) -> str:
        """``"side"`` or ``"overlay"``: how A's and B's gradient plots are laid out."""
        return self.plots.layout_mode

    def arrange(self, mode: str) -> None:
        """``"side"``: A's and B's gradient plots next to each other; ``"overlay"``: B dashed on A."""
        self.plots.arrange(mode)
        index = self.layout_combo.findData(mode)
        if index != self.layout_combo.currentIndex():
            blocked = self.layout_combo.blockSignals(True)
            self.layout_combo.setCurrentIndex(index)
            self.layout_combo.blockSignals(blocked)
        self._dirty = True

    def set_presentation_scale(self, scale: float) -> None:
        """Presentation mode: the plots, their keys, the bar and the editors ``scale`` times larger.

        At 1.6 times the size a 1280 x 720 window has the room of 800 x 450, so the editors fold
        away (as the Training tab's controls do; the line above the plots says how B differs
        from A), the y axes whose titles already name them (||dL/dh_t||, loss) leave their names
        to the titles, and the loss plot's key is one row. Scale 1 puts it all back.
        """
        self.editors.setVisible(scale == 1.0)
        scale_fonts(self, scale)  # the widgets' (plot views aside)
        self.plots.set_presentation_scale(scale)

    # -- public --------------------------------------------------------------------------------
    def configs(self) -> tuple[SimConfig, SimConfig]:
        """The configs of A and B as the editors show them."""
        return self.panel_a.config(), self.panel_b.config()

    def set_configs(self, config_a: SimConfig, config_b: SimConfig) -> None:
        """Show ``config_a`` and ``config_b`` (B takes A's seed) and start a new pair."""
        config_b = config_b.replace(seed=config_a.seed)
        self.panel_a.set_config(config_a)
        self.panel_b.set_config(config_b)
        self._restart()

    def ensure_runner(self) -> PairRunner:
        """The pair's runner, started on first use (a window that never shows A/B has no thread)."""
        if self.runner is None:
            config_a, config_b = self.configs()
            runner = PairRunner(config_a, config_b, parent=self)
            runner.recordsReady.connect(self._on_records)
            runner.runningChanged.connect(self._on_running_changed)
            runner.halted.connect(self._on_halted)
            runner.failed.connect(self._on_failed)
            self.runner = runner
        return self.runner

    @QtCore.Slot()
    def toggle_play(self) -> None:
        """Play the pair, or pause it."""
        runner = self.ensure_runner()
        if runner.is_running:
            runner.pause()
            return
        main_runner = self.window_.runner
        if main_runner.is_running:
            # Two trainings at once on two cores would leave none for the window.
            main_runner.pause()
            self.window_.statusBar().showMessage("The Training tab's run is paused while A/B trains.", 5000)
        runner.play()

    @QtCore.Slot()
    def step(self) -> None:
        """One step of each side."""
        self.ensure_runner().step()

    @QtCore.Slot()
    def reset(self) -> None:
        """Both runs back to their initial weights; the plots start again."""
        self.ensure_runner().reset()
        self._clear_run()

    @QtCore.Slot()
    def use_training_config(self) -> None:
        """A = the Training tab's settings, B = A with one suggested change."""
        config = self.window_.current_config()
        self.set_configs(config, suggest_change(config))

    @QtCore.Slot()
    def compare_rnn_lstm(self) -> None:
        """A = A's settings as a vanilla RNN, B = an LSTM of the same size on the same batches."""
        self.set_configs(*rnn_vs_lstm(self.panel_a.config()))

    @QtCore.Slot()
    def copy_a_to_b(self) -> None:
        """B = A (the user then changes one setting of B)."""
        self.set_configs(self.panel_a.config(), self.panel_a.config())

    @QtCore.Slot()
    def shutdown(self) -> None:
        """Stop the pair's thread (the window is closing)."""
        self._draw_timer.stop()
        self._release_timer.stop()
        if self.runner is not None:
            self.runner.shutdown()

    # -- user edits ----------------------------------------------------------------------------
    @QtCore.Slot(object)
    def _on_user_config_a(self, config: SimConfig) -> None:
        config_b = self.panel_b.config()
        if config_b.seed != config.seed:
            self.panel_b.set_config(config_b.replace(seed=config.seed))
        self._restart()

    @QtCore.Slot(object)
    def _on_user_config_b(self, config: SimConfig) -> None:
        del config
        self._restart()

    @QtCore.Slot(int)
    def _on_user_layout(self, index: int) -> None:
        self.arrange(str(self.layout_combo.itemData(index)))
        self.redraw()

    def _restart(self) -> None:
        config_a, config_b = self.configs()
        if self.runner is None:
            self.ensure_runner()  # builds the pair for the editors' configs
        else:
            self.runner.rebuild(config_a, config_b)
        self._show_difference()
        self._clear_run()

    def _clear_run(self) -> None:
        for history in self.histories.values():
            history.clear()
        self.message.hide()
        self._clear_plots()

    def _show_difference(self) -> None:
        config_a, config_b = self.configs()
        text = f"B differs from A in: {describe_difference(config_a, config_b)}"
        data = data_differences(config_a, config_b)
        if data:
            text += f"  —  A and B differ in {', '.join(data)}, so they do not see the same batches."
        self.difference_label.setText(text)
        self.difference_label.setToolTip(
            "Both runs start from the same seed; their batches are identical when they differ only in "
            "weights, activation, fixes or training settings."
        )

    # -- from the worker -------------------------------------------------------------------------
    @QtCore.Slot(object, object)
    def _on_records(self, records_a: list[StepRecord], records_b: list[StepRecord]) -> None:
        for record in records_a:
            self.histories["A"].append(record)
        for record in records_b:
            self.histories["B"].append(record)
        self._dirty = True

    @QtCore.Slot(bool)
    def _on_running_changed(self, running: bool) -> None:
        self.play_button.setText("Pause" if running else "Play")
        self.play_button.setIcon(icon("pause" if running else "play"))

    @QtCore.Slot(object)
    def _on_halted(self, events: dict[str, NonFiniteEvent | None]) -> None:
        text = halt_message(events)
        self.message.setText(text)
        self.message.show()
        self.window_.statusBar().showMessage(f"A/B: {text}", 10000)
        self._dirty = True

    @QtCore.Slot(str)
    def _on_failed(self, message: str) -> None:
        self.message.setText(message[:1].upper() + message[1:])
        self.message.show()

    # -- drawing -------------------------------------------------------------------------------
    @QtCore.Slot()
    def _on_draw_timer(self) -> None:
        now = time.perf_counter()
        if not self._dirty or self._holding or now < self._next_frame_at or not self.isVisible():
            return
        runner = self.runner
        if runner is not None:
            self._holding = True
            runner.hold_for_frame()
        start = time.perf_counter()
        self.redraw()
        # The worker gets at least as much time as the frame took.
        self._next_frame_at = time.perf_counter() + (time.perf_counter() - start)
        if runner is not None:
            self._release_timer.start()

    @QtCore.Slot()
    def _release(self) -> None:
        self._holding = False
        if self.runner is not None:
            self.runner.release_frame()

    def redraw(self) -> None:
        """Draw the pair's latest records (on the GUI thread)."""
        self._dirty = False
        history_a, history_b = self.histories["A"], self.histories["B"]
        latest_a, latest_b = history_a.latest, history_b.latest
        if latest_a is None or latest_b is None:
            self._clear_plots()
            return
        self.iteration_label.setText(f"Iteration {latest_a.iteration}")
        self.plots.draw(history_a, history_b)

    def _clear_plots(self) -> None:
        self.plots.clear()
        self.iteration_label.setText("Iteration 0")


def install_shortcuts(view: ABView, window: WindowAPI) -> list[QtGui.QAction]:
    """Space / → or N / R drive the pair while the A/B tab is shown (the Training tab's otherwise)."""
    key = QtGui.QKeySequence
    specs = (
        ("Play or pause A/B", view.toggle_play, [key(QtCore.Qt.Key.Key_Space)]),
        ("Step A/B", view.step, [key(QtCore.Qt.Key.Key_Right), key(QtCore.Qt.Key.Key_N)]),
        ("Reset A/B", view.reset, [key(QtCore.Qt.Key.Key_R)]),
    )
    keys: dict[QtGui.QAction, list[QtGui.QKeySequence]] = {}
    for text, slot, shortcuts in specs:
        action = QtGui.QAction(text, window)
        action.setObjectName(f"ab_{text.split()[0].lower()}_action")
        action.triggered.connect(slot)
        window.addAction(action)
        keys[action] = shortcuts

    def sync(index: int) -> None:
        shown = window.tabs.widget(index) is view
        for action, shortcuts in keys.items():
            action.setShortcuts(shortcuts if shown else [])

    window.tabs.currentChanged.connect(sync)
    sync(window.tabs.currentIndex())
    return list(keys)
