"""The A/B tab: two configs trained in lockstep on the same batches, drawn side by side.

One worker (a thread or the training process, as for the Training tab) owns both simulations
(the Training tab's training loop with two simulations, :class:`PairRunner`) and steps them
alternately, one training step of A then one of
B per pair, so after every pair both have taken the same number
of steps. Both draw their batches from the data stream of the seed (B always uses A's seed), and
the engine keeps that stream apart from the weights' (:meth:`Simulation.reset`): configs that
differ in weights, activation, clipping, optimiser or learning rate see identical batches.

If either side produces a non-finite value, the pair stops after that pair of steps and the
message names the side. The GUI thread draws at most every :data:`FRAME_INTERVAL_MS`, holding
a worker thread while it draws (as :mod:`gradsim.ui.training.runner` explains, both threads share
the GIL).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

# isort: split
import pyqtgraph as pg

from gradsim.engine.config import SimConfig
from gradsim.engine.formatting import format_ratio
from gradsim.engine.history import RunHistory
from gradsim.engine.records import NonFiniteEvent, StepRecord
from gradsim.engine.simulation import Simulation
from gradsim.ui.common.config_diff import data_differences, describe_difference, suggest_change
from gradsim.ui.common.icons import icon
from gradsim.ui.common.scaling import scale_fonts, scale_items, scale_of, scale_plots
from gradsim.ui.common.theme import Theme, current_theme, style_plot
from gradsim.ui.feature_api import WindowAPI
from gradsim.ui.training.control_panel import ControlPanel
from gradsim.ui.training.plots.base import (
    DecadeAxis,
    OverlayText,
    RowLegend,
    drawable,
    install_title,
    log_axes,
    set_title,
)
from gradsim.ui.training.runner import TrainingHandle

SIDES = ("A", "B")
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
SIDE_COLORS = {"light": ("#1565c0", "#e65100"), "dark": ("#64b5f6", "#ffb74d")}


def halt_message(events: dict[str, NonFiniteEvent | None]) -> str:
    """``"A exploded at iteration 3, ... The pair is paused: ..."`` for the sides that stopped."""
    parts = []
    for side, event in events.items():
        where = event.describe() if event is not None else "stopped on a non-finite value"
        parts.append(f"{side} {where}")
    return "; ".join(parts) + ". Both runs are paused: press Reset to start the pair again."


class PairRunner(TrainingHandle):
    """The GUI thread's handle on a training loop that steps A and B in lockstep.

    The loop is the Training tab's :class:`~gradsim.ui.training.runner.TrainingLoop` with two
    simulations: every round takes one step of A, then one of B.

    Signals
    -------
    rebuilt(config_a, config_b) : a fresh pair is ready; records restart at iteration 1
    recordsReady(records_a, records_b) : records of the current pair, oldest first
    runningChanged(running)
    halted(events) : ``{side: NonFiniteEvent | None}`` of the sides that stopped the pair
    failed(message)
    """

    rebuilt = QtCore.Signal(object, object)
    recordsReady = QtCore.Signal(object, object)
    halted = QtCore.Signal(object)

    def __init__(
        self,
        config_a: SimConfig,
        config_b: SimConfig,
        parent: QtCore.QObject | None = None,
        kind: str | None = None,
    ) -> None:
        super().__init__(2, "gradsim-ab", parent, kind)
        self._configs = (config_a, config_b)
        self.rebuild(config_a, config_b)

    @property
    def configs(self) -> tuple[SimConfig, SimConfig]:
        """The configs of A and B of the current pair."""
        return self._configs

    @property
    def simulations(self) -> tuple[Simulation, Simulation] | None:
        """The worker's simulations; read-only inspection (tests) while paused (None for the
        ``process`` kind, whose simulations live in the child)."""
        return self._simulations()  # type: ignore[return-value]

    def rebuild(self, config_a: SimConfig, config_b: SimConfig) -> None:
        """Start a new pair (keeps playing if playing)."""
        if not self._shut_down:
            self._configs = (config_a, config_b)
            self._rebuild_all(self._configs)

    def _deliver(self, kind: str, payload: Any) -> None:
        if kind == "built":
            self.rebuilt.emit(*payload)
        elif kind == "records":
            self.recordsReady.emit(*payload)
        elif kind == "halted":
            self.halted.emit({SIDES[index]: event for index, event in payload.items()})


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
    gradient_plots : ``{"A", "B"}`` -> PlotItem of ``||dL/dh_t||`` of the latest step: log10
        data (``record.log10_grad_norms``, exact below float64) on a :class:`DecadeAxis`
    gradient_curves : ``{"A", "B"}`` -> one PlotDataItem per layer in its side's plot
    overlay_curves : B's curves drawn dashed in A's plot (overlaid layout)
    loss_plot, loss_curves : losses of A (solid) and B (dashed) against iteration (log y)
    ratio_plot, ratio_curves : ``B / A`` per layer and time step as log10 data, the difference
        of the two records' ``log10_grad_norms`` (defined where both are below float64)
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
        self._width_before_presentation: int | None = None  # the plots' minimum, in the mode
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
        self.difference_label = QtWidgets.QLabel()
        self.difference_label.setObjectName("ab_difference")
        self.difference_label.setWordWrap(True)
        # The two "set up A and B" buttons share the line that says how B differs from A: the
        # transport bar alone then fits the narrowest window (1280 px with controls and a dock).
        setup_row = QtWidgets.QHBoxLayout()
        setup_row.addWidget(self.difference_label, 1)
        setup_row.addWidget(self.from_training_button)
        setup_row.addWidget(self.copy_button)
        outer.addLayout(setup_row)
        self.message = QtWidgets.QLabel()
        self.message.setObjectName("ab_message")
        self.message.setWordWrap(True)
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
                combo.setSizeAdjustPolicy(
                    QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
                )
                combo.setMinimumContentsLength(AB_COMBO_CHARACTERS)
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
        bar.addStretch(1)
        self.iteration_label = QtWidgets.QLabel()
        self.iteration_label.setObjectName("ab_iteration")
        font = self.iteration_label.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.2)
        self.iteration_label.setFont(font)
        self.iteration_label.setToolTip("Training steps taken by each of A and B")
        self.iteration_label.setMinimumWidth(
            self.iteration_label.fontMetrics().horizontalAdvance("Iteration 00000000") + 12
        )
        bar.addWidget(self.iteration_label)
        return bar

    def _build_plots(self) -> pg.GraphicsLayoutWidget:
        theme = self.theme
        graphics = pg.GraphicsLayoutWidget()
        graphics.setObjectName("ab_plots")
        graphics.setBackground(theme.background)
        graphics.ci.setContentsMargins(4, 4, 8, 4)
        self.graphics = graphics
        self.gradient_plots: dict[str, pg.PlotItem] = {}
        for side in SIDES:
            # log10 data on an axis labelled in powers of ten: norms below float64 stay drawn.
            plot = pg.PlotItem(axisItems={"left": DecadeAxis("left")})
            plot.setMenuEnabled(False)
            install_title(plot)  # titles that never widen the plot past the pane
            style_plot(plot, theme, title=f"{side}: ||dL/dh_t||", left="||dL/dh_t||", bottom="time step t")
            # In the tick size: side by side, each plot is a quarter of the plot area at 1280 px.
            small = {"font-size": f"{theme.tick_pt}pt"}
            plot.getAxis("bottom").setLabel("time step t", color=theme.foreground, **small)
            self.gradient_plots[side] = plot
        self.gradient_plots["B"].setYLink(self.gradient_plots["A"])
        # One key for the layer colours of all four plots (the ratio plot's curves too), in a row
        # under them: a box in A's corner hid its curves and left the ratio plot without a key.
        self.legend = RowLegend(
            graphics, labelTextColor=theme.foreground, labelTextSize=f"{theme.tick_pt}pt", horSpacing=18
        )
        self.gradient_curves: dict[str, list[pg.PlotDataItem]] = {side: [] for side in SIDES}
        self.overlay_curves: list[pg.PlotDataItem] = []
        self.loss_plot = pg.PlotItem(axisItems=log_axes("left"))
        self.loss_plot.setMenuEnabled(False)
        install_title(self.loss_plot)
        style_plot(self.loss_plot, theme, left="loss  (log)", bottom="iteration")
        # The key is the title, in the sides' colours (a legend box sat on the curves).
        key = {
            side: f"<span style='color:{self.side_colors[side]}'>{'━' if side == 'A' else '╍'} {side}</span>"
            for side in SIDES
        }
        title_style = {"color": theme.foreground, "size": f"{theme.title_pt}pt"}
        set_title(self.loss_plot, f"Loss of {key['A']} and {key['B']}", f"Loss {key['A']} {key['B']}",
                  f"{key['A']} {key['B']}", **title_style)  # fmt: skip
        self.loss_plot.setLogMode(x=False, y=True)
        self.loss_curves = {
            side: self.loss_plot.plot(
                pen=theme.pen(self.side_colors[side], 2, dashed=side == "B"), connect="finite", name=side
            )
            for side in SIDES
        }
        self.ratio_plot = pg.PlotItem(axisItems={"left": DecadeAxis("left")})
        self.ratio_plot.setMenuEnabled(False)
        install_title(self.ratio_plot)
        style_plot(self.ratio_plot, theme, left="B / A", bottom="time step t")
        self._set_ratio_title("")
        self.ratio_plot.setXLink(self.gradient_plots["A"])
        self.ratio_line = pg.InfiniteLine(
            pos=0.0, angle=0, movable=False, pen=theme.pen(theme.reference, 1.5, dashed=True),
            label="B = A",
            labelOpts={"position": 0.02, "color": theme.reference, "anchors": [(0, 1), (0, 1)]},
        )  # fmt: skip
        self.ratio_plot.addItem(self.ratio_line, ignoreBounds=True)
        self.ratio_curves: list[pg.PlotDataItem] = []
        self.ratio_note = OverlayText(self.ratio_plot, theme, "top-left", theme.note)
        self.layout_mode = ""
        self.arrange("side")
        return graphics

    def arrange(self, mode: str) -> None:
        """``"side"``: A's and B's gradient plots next to each other; ``"overlay"``: B dashed on A."""
        if mode == self.layout_mode:
            return
        layout = self.graphics.ci
        for item in (*self.gradient_plots.values(), self.loss_plot, self.ratio_plot, self.legend):
            if item in layout.items:
                layout.removeItem(item)
        plot_a, plot_b = self.gradient_plots["A"], self.gradient_plots["B"]
        if mode == "side":
            layout.addItem(plot_a, row=0, col=0)
            layout.addItem(plot_b, row=0, col=1)
            plot_b.setVisible(True)
        else:
            layout.addItem(plot_a, row=0, col=0, colspan=2)
            plot_b.setVisible(False)
        layout.addItem(self.loss_plot, row=1, col=0)
        layout.addItem(self.ratio_plot, row=1, col=1)
        layout.addItem(self.legend, row=2, col=0, colspan=2)
        for curve in self.overlay_curves:
            curve.setVisible(mode == "overlay")
        self.layout_mode = mode
        index = self.layout_combo.findData(mode)
        if index != self.layout_combo.currentIndex():
            blocked = self.layout_combo.blockSignals(True)
            self.layout_combo.setCurrentIndex(index)
            self.layout_combo.blockSignals(blocked)
        self._draw_titles()
        # The plots' own minimum width becomes the widget's, so that the splitter narrows the
        # editor (which scrolls) instead of cutting the right-hand column of plots.
        self._fit_plots_width()
        self._dirty = True

    def _fit_plots_width(self) -> None:
        needed = self.graphics.ci.layout.effectiveSizeHint(QtCore.Qt.SizeHint.MinimumSize).width()
        self.graphics.setMinimumWidth(int(needed * scale_of(self.graphics)) + 4)

    def set_presentation_scale(self, scale: float) -> None:
        """Presentation mode: the plots, their keys, the bar and the editors ``scale`` times larger.

        At 1.6 times the size a 1280 x 720 window has the room of 800 x 450, so the editors fold
        away (as the Training tab's controls do; the line above the plots says how B differs
        from A), the y axes whose titles already name them (||dL/dh_t||, loss) leave their names
        to the titles, and the loss plot's key is one row. Scale 1 puts it all back.
        """
        normal = scale == 1.0
        self.editors.setVisible(normal)
        for plot in (*self.gradient_plots.values(), self.loss_plot):
            plot.getAxis("left").showLabel(normal)
        if self.loss_plot.legend is not None:
            self.loss_plot.legend.setColumnCount(1 if normal else 2)
        if not normal and self._width_before_presentation is None:
            self._width_before_presentation = self.graphics.minimumWidth()
        scale_fonts(self, scale)
        scale_plots(self.graphics, scale)
        self.legend.fit()
        if normal and self._width_before_presentation is not None:
            self.graphics.setMinimumWidth(self._width_before_presentation)  # as it was
            self._width_before_presentation = None
        else:
            self._fit_plots_width()

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
        for side, record in (("A", latest_a), ("B", latest_b)):
            self._draw_gradient(side, record)
        self._fit_gradient_range(latest_a, latest_b)
        for side, history in self.histories.items():
            self.loss_curves[side].setData(history.iterations().astype(np.float64), history.losses())
        self._draw_ratio(latest_a, latest_b)
        self._draw_titles()

    def _ensure_curves(self, curves: list[pg.PlotDataItem], plot: pg.PlotItem, count: int, kind: str) -> None:
        """Create curves up to ``count`` layers (once); show exactly ``count``."""
        theme = self.theme
        while len(curves) < count:
            k = len(curves)
            color = theme.layer_color(k)
            width = 2.5 if kind != "ratio" else 2.0
            curve = pg.PlotDataItem(pen=theme.pen(color, width, dashed=kind == "overlay"), connect="finite")
            plot.addItem(curve)
            if kind == "A":
                self.legend.addItem(curve, f"layer {k + 1}")
            if kind == "overlay":
                curve.setVisible(self.layout_mode == "overlay")
            curves.append(curve)
            if scale_of(self.graphics) != 1.0:
                scale_items(self.graphics, scale_of(self.graphics))  # the new curve's pen
        for k, curve in enumerate(curves):
            if k >= count:
                curve.setData([], [])

    def _draw_gradient(self, side: str, record: StepRecord) -> None:
        norms = drawable(record.log10_grad_norms)
        count, seq_len = norms.shape
        steps = np.arange(1, seq_len + 1, dtype=np.float64)
        curves = self.gradient_curves[side]
        self._ensure_curves(curves, self.gradient_plots[side], count, side)
        for k in range(count):
            curves[k].setData(steps, norms[k])
        if side == "B":
            self._ensure_curves(self.overlay_curves, self.gradient_plots["A"], count, "overlay")
            for k in range(count):
                self.overlay_curves[k].setData(steps, norms[k])

    def _fit_gradient_range(self, record_a: StepRecord, record_b: StepRecord) -> None:
        """A's and B's gradient plots share a y range (B's is linked to A's) that holds both
        sides' curves: A's own auto range cut off B's curves above or below it."""
        values = np.concatenate([drawable(r.log10_grad_norms).ravel() for r in (record_a, record_b)])
        finite = values[np.isfinite(values)]
        if finite.size:
            low, high = float(finite.min()), float(finite.max())
            half = max(high - low, 0.2) / 2  # at least a fifth of a decade
            middle = (low + high) / 2
            self.gradient_plots["A"].setYRange(middle - half, middle + half, padding=0.05)

    def _draw_ratio(self, record_a: StepRecord, record_b: StepRecord) -> None:
        a, b = record_a.log10_grad_norms, record_b.log10_grad_norms
        if a.shape != b.shape:
            for curve in self.ratio_curves:
                curve.setData([], [])
            self.ratio_note.show_text("A and B have different layers or sequence lengths: no ratio")
            return
        with np.errstate(invalid="ignore"):
            ratio = drawable(b - a)  # log10(B / A); NaN where either is 0 or not finite
        count, seq_len = ratio.shape
        steps = np.arange(1, seq_len + 1, dtype=np.float64)
        self._ensure_curves(self.ratio_curves, self.ratio_plot, count, "ratio")
        if not self.ratio_plot.getViewBox().autoRangeEnabled()[1]:
            self.ratio_plot.enableAutoRange(axis="y")  # the empty plot's fixed range ends
        for k in range(count):
            self.ratio_curves[k].setData(steps, ratio[k])
        self.ratio_note.show_text("")
        first = ratio[:, 0]
        finite = first[np.isfinite(first)]
        if finite.size:
            self._set_ratio_title(format_ratio(float(finite[0]), digits=2))
        else:
            self._set_ratio_title("not finite")

    def _set_ratio_title(self, at_step_one: str) -> None:
        """The ratio plot's title, with B / A at step 1 of layer 1 when known (its longest form
        that fits; the whole sentence is the tooltip of a shorter one). Not a note on the plot:
        that covered the curves where they start."""
        style = {"color": self.theme.foreground, "size": f"{self.theme.title_pt}pt"}
        if not at_step_one:
            set_title(self.ratio_plot, "B / A per time step", "B / A", **style)
            return
        number = at_step_one if at_step_one == "not finite" else f"{at_step_one} ×"
        # In layer 1's colour: the short form names no layer, the colour says whose curve it is.
        number = f"<span style='color:{self.theme.layer_color(0).name()}'>{number}</span>"
        set_title(self.ratio_plot, f"B / A per time step (step 1, layer 1: {number})",
                  f"B / A (step 1: {number})", "B / A", **style)  # fmt: skip

    def _draw_titles(self) -> None:
        latest = self.histories["A"].latest
        at = "" if latest is None else f" at iteration {latest.iteration}"
        size = f"{self.theme.title_pt}pt"
        color = self.theme.foreground
        if self.layout_mode == "overlay":
            set_title(self.gradient_plots["A"], f"||dL/dh_t||{at}: A solid, B dashed",
                      "||dL/dh_t||: A solid, B dashed", color=color, size=size)  # fmt: skip
        else:
            for side in SIDES:
                set_title(self.gradient_plots[side], f"{side}: ||dL/dh_t||{at}", f"{side}: ||dL/dh_t||",
                          color=color, size=size)  # fmt: skip

    def _clear_plots(self) -> None:
        for curves in (*self.gradient_curves.values(), self.overlay_curves, self.ratio_curves):
            for curve in curves:
                curve.setData([], [])
        for curve in self.loss_curves.values():
            curve.setData([], [])
        self.ratio_note.show_text("")
        self._set_ratio_title("")
        self.gradient_plots["A"].enableAutoRange(axis="y")
        # Empty: 1/10 to 10, the B = A line across the middle (not on the bottom edge).
        self.ratio_plot.setYRange(-1.0, 1.0, padding=0.0)
        self.iteration_label.setText("Iteration 0")
        self._draw_titles()


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
