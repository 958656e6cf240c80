"""The main window: controls on the left, the live plots on the right, transport in the toolbar.

Data flows one way: the :class:`ControlPanel` emits a config, the :class:`Runner` rebuilds the
simulation on its worker thread and sends back step records, the window appends them to a
bounded :class:`RunHistory`, and a display-rate timer redraws the :class:`Dashboard` only when
new records arrived. The GUI thread does no numerics; while it draws a frame it holds the
worker (:meth:`Runner.hold_for_frame`): a worker thread shares the interpreter, and training
flat out it would make every frame several times slower (a training process is not held).

Extension points for later features: the central area is a ``QTabWidget`` (:attr:`tabs`) whose
first tab, "Training", holds the dashboard; the menus (:attr:`file_menu`, :attr:`run_menu`,
:attr:`view_menu`, :attr:`help_menu`) are attributes; docks can be added with
``addDockWidget`` and are saved with the window state. Each feature lives in its own module
with an ``install(window)`` function, called for every module of
:data:`~gradsim.ui.feature_api.FEATURE_MODULES` (or the subset given) once the window is built
(before its saved layout is restored, so docks find their places); the window's signals
:attr:`MainWindow.runRestarted` and :attr:`MainWindow.closing` and the dashboard's ``refreshed``
tell a feature when to update or clean up, and :attr:`MainWindow.presentationScaleChanged` when
to draw its tab larger (presentation mode). What a feature may use of the window is typed in
:class:`gradsim.ui.feature_api.WindowAPI`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from importlib import import_module, metadata
from typing import TYPE_CHECKING

from PySide6 import QtCore, QtGui, QtWidgets

from gradsim.engine.config import SimConfig, check_resources
from gradsim.engine.formatting import format_number
from gradsim.engine.history import RunHistory
from gradsim.engine.presets import DEFAULT_PRESET, load_preset
from gradsim.engine.records import NonFiniteEvent, StepRecord
from gradsim.engine.regime import DECADES_THRESHOLD, RegimeMeasure, measure
from gradsim.ui.common import fit
from gradsim.ui.common import settings as stored
from gradsim.ui.common.collector import GuiGarbageCollector
from gradsim.ui.common.icons import icon
from gradsim.ui.common.status_bar import MessageBar
from gradsim.ui.feature_api import FEATURE_MODULES, WindowAPI
from gradsim.ui.training.control_panel import CUSTOM, ControlPanel
from gradsim.ui.training.dashboard import Dashboard
from gradsim.ui.training.runner import UNLIMITED, Runner

if TYPE_CHECKING:
    import pyqtgraph as pg

# The dashboard is redrawn at most this often (and only when new records arrived).
REDRAW_HZ = 30
# A frame's painting comes in several window updates a few milliseconds apart (each plot's
# scene reports its changes in its own event); the frame is over when none came for this long.
FRAME_QUIET_MS = 10
SPEEDS: tuple[float, ...] = (1, 2, 5, 10, 20, 50, 100, 200, 500, UNLIMITED)
DEFAULT_SPEED = UNLIMITED
DEFAULT_SIZE = (1440, 900)

# Badge colours per regime (white text on each): they read on light and dark themes alike.
REGIME_COLORS = {
    "healthy": "#2e7d32",
    "vanishing": "#1565c0",
    "exploding": "#d84315",
    "non-finite": "#b00020",
    "idle": "#616161",
}
REGIME_TIPS = {
    "healthy": "The gradient keeps its size within {d:g} decades along every span: back through time "
    "in each layer and down the layers.",
    "vanishing": "The gradient shrinks by more than {d:g} decades along one span (or reached 0).",
    "exploding": "The gradient grows by more than {d:g} decades along one span.",
    "non-finite": "Values overflowed to inf or NaN: the run stopped. Reset to start again.",
    "idle": "No training step yet: press Play or Step.",
}

RATIO_TIP = (
    "The ratio of the gradient's most extreme span, the one the badge is decided on: "
    "||dL/dh|| at step 1 over the last step within one layer (time), or layer 1 over the top layer "
    "at the last step (depth). Far below 1: vanished; far above 1: exploded."
)

HELP_TEXT = f"""
<h3>What am I looking at?</h3>
<p>A recurrent network learns a sequence task. Its loss is measured at the last time step only,
so to learn from early inputs the gradient must travel backwards through every time step and
every layer (backpropagation through time). At each step back it is multiplied by the recurrent
weights and by the activation's derivative: factors below 1 make it <b>vanish</b>, factors above
1 make it <b>explode</b>.</p>
<ul>
<li><b>||dL/dh_t|| through time</b>: the size of the gradient at each time step, one curve per
layer, log scale. Flat is healthy; falling towards step 1 is vanishing; rising is exploding.
The bold curve is the latest iteration, the faint ones the iterations before.</li>
<li><b>Heatmap</b>: the same sizes for every iteration (rows) and time step (columns); the colour
is log10 of the size, in decades.</li>
<li><b>Loss</b>: the training loss, with the global gradient norm before and after clipping.</li>
<li><b>Activation</b>: the activation function, its derivative and, behind them, where the
pre-activations lie now. Units in the shaded flat regions pass almost no gradient.</li>
<li><b>Layer health</b>: per layer, the fraction of saturated units, the parameter-gradient norm
and the update:data ratio (around 1e-3 is a healthy learning speed).</li>
</ul>
<p>The badge in the status bar sums it up. The gradient travels two ways: back through time
inside each layer (step 1 over the last step), and down the layers at the last step (layer 1
over the top layer). Each way is a span; the badge names the most extreme one:
<b>vanishing</b> or <b>exploding</b> when it changes the gradient by more than
{DECADES_THRESHOLD:g} decades, <b>healthy</b> when no span does, <b>non-finite</b> once values
overflow to inf or NaN. Next to it the status bar shows that span's ratio; its tooltip names the
span, its per-step factor, and every other span.</p>
<p>Try it: pick a preset, press Play (Space), then change one control and watch the curves.
Step (→ or N) takes one training step; Reset (R) starts the run again.</p>
"""


def regime_status(measured: RegimeMeasure | None) -> tuple[str, str, str, str]:
    """What the status bar says about a record's regime measure (None: no record yet).

    Returns
    -------
    (ratio_text, regime, badge_tooltip, ratio_tooltip): the extreme span's ratio as
    ``"time, layer 2: 5.18e-06"`` / ``"depth: 0.712"``, the badge word, and the two tooltips
    (the badge's ends with the measure's sentence, the ratio's lists every span).
    """
    if measured is None:
        return "–", "idle", REGIME_TIPS["idle"], RATIO_TIP
    regime = measured.regime
    badge_tip = REGIME_TIPS[regime].format(d=DECADES_THRESHOLD) + "\n\n" + measured.sentence()
    span = measured.extreme
    if span is None:
        text = "non-finite" if regime == "non-finite" else "–"
        return text, regime, badge_tip, RATIO_TIP + "\n\n" + measured.sentence()
    where = "depth" if span.kind == "depth" else f"time, layer {span.layer + 1}"  # type: ignore[operator]
    lines = "\n".join(measured.span_lines())
    ratio_tip = f"{RATIO_TIP}\n\nShown: {span.describe()}\n\nEvery span:\n{lines}"
    return f"{where}: {span.ratio_text()}", regime, badge_tip, ratio_tip


def format_loss(value: float) -> str:
    """A loss for the status bar: 4 significant digits, or inf/NaN."""
    return format_number(value, digits=4)


def speed_label(iterations_per_second: float) -> str:
    """``"10 it/s"`` or ``"max"``."""
    return "max" if math.isinf(iterations_per_second) else f"{iterations_per_second:g} it/s"


class MainWindow(WindowAPI):
    """The gradsim window.

    Parameters
    ----------
    config : the first run's config; None restores the last session's (or the default preset)
    settings : where geometry, splitters and the last config persist (``QSettings()`` if None)
    autoplay : start training as soon as the window is built
    features : the feature modules to install (None: every one of ``FEATURE_MODULES``), in
        ``FEATURE_MODULES``' order

    Attributes
    ----------
    control_panel, dashboard, runner, history : the parts (see the module docstring)
    tabs : central tab widget; tab 0 "Training" holds the dashboard
    file_menu, run_menu, view_menu, help_menu : menus, for later features to extend
    play_action, step_action, reset_action, quit_action : the transport and Quit actions
    speed_combo, iteration_label : the toolbar's speed chooser and iteration counter
    banner : the message shown above the plots when a run stops on a non-finite value
    regime_badge : the status bar's healthy / vanishing / exploding / non-finite badge
    features : module name -> what its ``install(window)`` returned

    Signals
    -------
    runRestarted(config) : the plots were cleared for a new run (rebuild or reset)
    closing() : the window is closing; the worker is still alive, the settings not yet saved
    presentationScaleChanged(scale) : presentation mode changed the scale every tab draws its
        text, lines and markers at (1: normal size); see :meth:`set_presentation_scale`
    """

    runRestarted = QtCore.Signal(object)
    closing = QtCore.Signal()
    presentationScaleChanged = QtCore.Signal(float)

    def __init__(
        self,
        config: SimConfig | None = None,
        *,
        settings: QtCore.QSettings | None = None,
        autoplay: bool = False,
        features: Sequence[str] | None = None,
    ) -> None:
        # Set first: event() reads it for every event, some sent during construction.
        self._frame_held = False
        super().__init__()
        self.settings = settings if settings is not None else QtCore.QSettings()
        restore_note = ""
        if config is None:
            config, restore_note = stored.load_config(self.settings)
        if config is None:
            config = load_preset(DEFAULT_PRESET)
        self.setWindowTitle("gradsim")
        self.setWindowIcon(icon("gradsim"))
        self.history = RunHistory()
        # Garbage is collected on this thread only while the window's workers run (see collector).
        self.garbage_collector = GuiGarbageCollector(self)
        self._dirty = False
        self._closed = False
        self._frame_started = 0.0
        self._frame_busy = 0.0
        self._next_frame_at = 0.0

        self.control_panel = ControlPanel(config)
        self.dashboard = Dashboard()
        self.runner = Runner(config, parent=self)
        self._build_central()
        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._build_status_bar()
        self._connect()
        wanted = FEATURE_MODULES if features is None else tuple(features)
        unknown = sorted(set(wanted) - set(FEATURE_MODULES))
        if unknown:
            raise ValueError(f"unknown feature modules: {', '.join(unknown)}")
        self.presentation_scale = 1.0
        self.features: dict[str, object] = {}
        for name in FEATURE_MODULES:
            if name in wanted:
                self.features[name] = import_module(name).install(self)
        fit.all_combos_show_text(self)
        fit.share_dock_area(self)
        self._restore_layout()
        self._sync_title()

        self._frame_quiet = QtCore.QTimer(self)
        self._frame_quiet.setSingleShot(True)
        self._frame_quiet.setInterval(FRAME_QUIET_MS)
        self._frame_quiet.timeout.connect(self._release_frame)
        self._redraw_timer = QtCore.QTimer(self)
        self._redraw_timer.setInterval(round(1000 / REDRAW_HZ))
        self._redraw_timer.timeout.connect(self._on_redraw)
        self._redraw_timer.start()
        self._show_status(None)
        if restore_note:
            self.statusBar().showMessage(restore_note, 15000)
        if autoplay:
            self.runner.play()

    # -- public --------------------------------------------------------------------------------
    def current_config(self) -> SimConfig:
        """The config of the run being shown."""
        return self.runner.config

    def overlay_plot(self, key: str) -> tuple[pg.PlotItem, pg.LegendItem | None]:
        """The dashboard plot ``key``'s PlotItem and legend (None without one), for overlays."""
        panel = self.dashboard.plots[key]
        plot: pg.PlotItem = panel.plot  # type: ignore[attr-defined]  # every dashboard panel has one
        return plot, getattr(panel, "legend", None)

    def training_tab(self) -> QtWidgets.QWidget:
        """The "Training" tab (banner + dashboard)."""
        return self._training_page

    def set_presentation_scale(self, scale: float) -> None:
        """Ask every tab to draw its text, lines and markers ``scale`` times larger (1: normal).

        The one way presentation mode reaches the tabs without knowing them: a feature that
        draws a tab connects to :attr:`presentationScaleChanged` when it is installed and
        applies :attr:`presentation_scale` then (a scale set before it was installed).
        """
        if scale == self.presentation_scale:
            return
        self.presentation_scale = scale
        self.presentationScaleChanged.emit(scale)

    def apply_config(self, config: SimConfig) -> None:
        """Show ``config`` in the controls and start a new run with it, as a user's edit would.

        A config that cannot fit in the memory free now is refused with a message box (the
        current run goes on); one that is large or slow starts with a warning in the status bar.
        """
        check = check_resources(config)
        if check.refusal is not None:
            box = QtWidgets.QMessageBox(self)
            box.setObjectName("resource_refusal_box")
            box.setWindowTitle("Run not started")
            box.setIcon(QtWidgets.QMessageBox.Icon.Warning)
            box.setText(f"Not applied: {check.refusal}")
            box.open()
            return
        self.control_panel.set_config(config)
        self._on_user_config(config)

    # -- construction ----------------------------------------------------------------------------
    def _build_central(self) -> None:
        scroll = QtWidgets.QScrollArea()
        scroll.setObjectName("controls_scroll")
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        scroll.setWidget(self.control_panel)
        scrollbar = scroll.verticalScrollBar().sizeHint().width()
        scroll.setMinimumWidth(self.control_panel.minimumSizeHint().width() + scrollbar + 4)
        self.controls_scroll = scroll

        page = QtWidgets.QWidget()
        page_layout = QtWidgets.QVBoxLayout(page)
        page_layout.setContentsMargins(0, 0, 0, 0)
        page_layout.setSpacing(4)
        page_layout.addWidget(self._build_banner())
        page_layout.addWidget(self.dashboard, 1)
        self._training_page = page

        self.tabs = QtWidgets.QTabWidget()
        self.tabs.setObjectName("main_tabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(page, "Training")

        self.splitter = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        self.splitter.setObjectName("main_splitter")
        self.splitter.addWidget(scroll)
        self.splitter.addWidget(self.tabs)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setCollapsible(1, False)
        self.splitter.setSizes([scroll.minimumWidth() + 20, DEFAULT_SIZE[0] - scroll.minimumWidth()])
        self.setCentralWidget(self.splitter)

    def _build_banner(self) -> QtWidgets.QFrame:
        banner = QtWidgets.QFrame()
        banner.setObjectName("nonfinite_banner")
        banner.setStyleSheet(
            "#nonfinite_banner { background: #b00020; border-radius: 4px; }"
            "#nonfinite_banner QLabel { color: #ffffff; font-weight: bold; }"
        )
        layout = QtWidgets.QHBoxLayout(banner)
        layout.setContentsMargins(10, 6, 10, 6)
        self.banner_label = QtWidgets.QLabel()
        self.banner_label.setWordWrap(True)
        self.banner_label.setTextFormat(QtCore.Qt.TextFormat.PlainText)
        layout.addWidget(self.banner_label, 1)
        self.banner_button = QtWidgets.QPushButton("Reset run")
        self.banner_button.setToolTip("Start the run again from its initial weights (R)")
        self.banner_button.clicked.connect(self._on_user_reset)
        layout.addWidget(self.banner_button)
        banner.setVisible(False)
        self.banner = banner
        return banner

    def _action(
        self, text: str, slot: object, tip: str, shortcuts: list[QtGui.QKeySequence] | None = None
    ) -> QtGui.QAction:
        action = QtGui.QAction(text, self)
        action.triggered.connect(slot)
        action.setToolTip(tip)
        action.setStatusTip(tip)
        if shortcuts:
            action.setShortcuts(shortcuts)
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        key = QtGui.QKeySequence
        space, right = key(QtCore.Qt.Key.Key_Space), key(QtCore.Qt.Key.Key_Right)
        n_key, r_key = key(QtCore.Qt.Key.Key_N), key(QtCore.Qt.Key.Key_R)
        self.play_action = self._action(
            "Play", self._on_user_toggle_play, "Train continuously, or pause (Space)", [space]
        )
        self.play_action.setIcon(icon("play"))
        self.step_action = self._action(
            "Step", self._on_user_step, "Take one training step (→ or N)", [right, n_key]
        )
        self.step_action.setIcon(icon("step"))
        self.reset_action = self._action(
            "Reset", self._on_user_reset, "Start the run again from its initial weights (R)", [r_key]
        )
        self.reset_action.setIcon(icon("reset"))
        # Application-wide, so the keys work whatever dock (even a floating one) had the focus
        # last; text fields and spin boxes still get Space, arrows and letters first (Qt asks
        # the focus widget before it runs a shortcut, and those widgets claim typing keys).
        for action in (self.play_action, self.step_action, self.reset_action):
            action.setShortcutContext(QtCore.Qt.ShortcutContext.ApplicationShortcut)
        self._transport_shortcuts = {
            action: action.shortcuts() for action in (self.play_action, self.step_action, self.reset_action)
        }
        self.quit_action = self._action("Quit", self.close, "Close gradsim", [key(key.StandardKey.Quit)])
        self.quit_action.setMenuRole(QtGui.QAction.MenuRole.QuitRole)
        self.show_controls_action = self._action(
            "Controls panel",
            self._on_user_show_controls,
            "Show or hide the controls (F9): more room for the plots",
            [key(QtCore.Qt.Key.Key_F9)],
        )
        self.show_controls_action.setCheckable(True)
        self.show_controls_action.setChecked(True)
        self.full_screen_action = self._action(
            "Full screen", self._on_user_full_screen, "Fill the screen", [key(key.StandardKey.FullScreen)]
        )
        self.full_screen_action.setCheckable(True)
        self.help_action = self._action(
            "What am I looking at?", self._on_user_help, "What the plots show",
            [key(key.StandardKey.HelpContents)],
        )  # fmt: skip
        self.about_action = self._action("About gradsim", self._on_user_about, "Version and licence")
        self.about_action.setMenuRole(QtGui.QAction.MenuRole.AboutRole)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        self.file_menu = bar.addMenu("&File")
        self.file_menu.addAction(self.quit_action)
        self.run_menu = bar.addMenu("&Run")
        for action in (self.play_action, self.step_action, self.reset_action):
            self.run_menu.addAction(action)
        self.run_menu.addSeparator()
        self.speed_menu = self.run_menu.addMenu("Speed")
        self._speed_group = QtGui.QActionGroup(self)
        for speed in SPEEDS:
            action = self.speed_menu.addAction(speed_label(speed))
            action.setCheckable(True)
            action.setData(speed)
            self._speed_group.addAction(action)
        self._speed_group.triggered.connect(self._on_user_speed_action)
        self.view_menu = bar.addMenu("&View")
        self.view_menu.addAction(self.show_controls_action)
        self.view_menu.addAction(self.full_screen_action)
        self.help_menu = bar.addMenu("&Help")
        self.help_menu.addAction(self.help_action)
        self.help_menu.addAction(self.about_action)

    def _build_toolbar(self) -> None:
        toolbar = self.addToolBar("Run")
        toolbar.setObjectName("run_toolbar")
        toolbar.setMovable(False)
        toolbar.setIconSize(QtCore.QSize(24, 24))
        toolbar.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for action in (self.play_action, self.step_action, self.reset_action):
            toolbar.addAction(action)
        toolbar.addSeparator()
        speed_caption = QtWidgets.QLabel(" Speed ")
        toolbar.addWidget(speed_caption)
        self.speed_combo = QtWidgets.QComboBox()
        self.speed_combo.setObjectName("speed")
        self.speed_combo.setToolTip(
            "Training steps per second while playing; 'max' trains as fast as the engine goes"
        )
        self.speed_combo.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)  # keep Space/→ for the transport
        for speed in SPEEDS:
            self.speed_combo.addItem(speed_label(speed), speed)
        speed_caption.setBuddy(self.speed_combo)
        toolbar.addWidget(self.speed_combo)
        toolbar.addSeparator()
        self.iteration_label = QtWidgets.QLabel()
        self.iteration_label.setObjectName("iteration_counter")
        font = self.iteration_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        self.iteration_label.setFont(font)
        self.iteration_label.setToolTip("Training steps taken in this run")
        self.iteration_label.setMinimumWidth(
            self.iteration_label.fontMetrics().horizontalAdvance("Iteration 00000000") + 16
        )
        self.iteration_label.setContentsMargins(8, 0, 8, 0)
        toolbar.addWidget(self.iteration_label)
        self.run_toolbar = toolbar

    def _build_status_bar(self) -> None:
        # Messages too long for the bar are elided with "more…" beside them, never cut silently.
        self.setStatusBar(MessageBar())
        bar = self.statusBar()
        self.status_iteration = QtWidgets.QLabel()
        self.status_loss = QtWidgets.QLabel()
        self.status_ratio = QtWidgets.QLabel()
        self.status_ratio.setToolTip(RATIO_TIP)
        self.regime_badge = QtWidgets.QLabel()
        self.regime_badge.setObjectName("regime_badge")
        self.regime_badge.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.regime_badge.setMinimumWidth(
            self.regime_badge.fontMetrics().horizontalAdvance("non-finite") + 28
        )
        # Widths fixed for the longest text each label shows, so that changing numbers never
        # re-lay out the window (which would repaint the plots as well).
        widest = {
            self.status_iteration: "iteration 00000000",
            self.status_loss: "loss -0.000e+000",
            self.status_ratio: "gradient, time, layer 16: -0.00e-000",
        }
        # A size larger than the application's: read from the back of a lecture room.
        font = bar.font()
        font.setPointSizeF(font.pointSizeF() * 1.15)
        bar.setFont(font)
        for label, text in widest.items():
            label.setContentsMargins(6, 0, 6, 0)
            label.setMinimumWidth(label.fontMetrics().horizontalAdvance(text) + 12)
            bar.addPermanentWidget(label)
        bar.addPermanentWidget(self.regime_badge)
        self._shown_regime = ""

    def _connect(self) -> None:
        self.control_panel.configChanged.connect(self._on_user_config)
        self.runner.recordsReady.connect(self._on_records)
        self.runner.runningChanged.connect(self._on_running_changed)
        self.runner.halted.connect(self._on_halted)
        self.runner.failed.connect(self._on_failed)
        self.speed_combo.activated.connect(self._on_user_speed_combo)
        self.tabs.currentChanged.connect(self._sync_transport_shortcuts)

    # -- persistence -------------------------------------------------------------------------------
    def _restore_layout(self) -> None:
        geometry = stored.byte_array(self.settings.value(stored.GEOMETRY_KEY))
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(*DEFAULT_SIZE)
        state = stored.byte_array(self.settings.value(stored.STATE_KEY))
        if state is not None:
            self.restoreState(state)
        splitter = stored.byte_array(self.settings.value(stored.SPLITTER_KEY))
        if splitter is not None:
            self.splitter.restoreState(splitter)
        dashboard = stored.byte_array(self.settings.value(stored.DASHBOARD_KEY))
        if dashboard is not None:
            self.dashboard.restore_state(dashboard)
        self._apply_speed(stored.load_speed(self.settings, DEFAULT_SPEED))

    def save_settings(self) -> None:
        """Store geometry, splitters, speed and the config of the controls (the current run's)."""
        settings = self.settings
        settings.setValue(stored.GEOMETRY_KEY, self.saveGeometry())
        settings.setValue(stored.STATE_KEY, self.saveState())
        settings.setValue(stored.SPLITTER_KEY, self.splitter.saveState())
        settings.setValue(stored.DASHBOARD_KEY, self.dashboard.save_state())
        stored.save_config(settings, self.control_panel.config())
        stored.save_speed(settings, self.runner.speed)
        settings.sync()

    def event(self, event: QtCore.QEvent) -> bool:
        """While a frame holds the worker, every window update (a paint) extends the hold and
        counts towards the frame's cost."""
        if not (self._frame_held and event.type() == QtCore.QEvent.Type.UpdateRequest):
            return super().event(event)
        started = time.perf_counter()
        handled = super().event(event)
        self._frame_busy += time.perf_counter() - started
        self._frame_quiet.start()
        return handled

    @QtCore.Slot()
    def _release_frame(self) -> None:
        self._frame_held = False
        self.runner.release_frame()
        # However slow the plots draw, the GUI thread stays idle at least half the time: the next
        # frame starts no sooner than twice this frame's work (data update and paints, measured)
        # after this one started; cheap frames still come at REDRAW_HZ. A worker thread was held
        # for the whole frame (paints and the quiet time after them): it gets as long again.
        now = time.perf_counter()
        self._next_frame_at = self._frame_started + 2.0 * self._frame_busy
        if self.runner.kind == "thread":
            self._next_frame_at = max(self._next_frame_at, now + (now - self._frame_started))

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802 (Qt override)
        """Save the settings, then stop the display timer and the worker thread."""
        if not self._closed:
            self._closed = True
            # An edit still in its debounce is what the user last chose: store it, without
            # building a simulation for it.
            self.control_panel.configChanged.disconnect(self._on_user_config)
            self.control_panel.apply_pending_edit()
            self.closing.emit()
            self.save_settings()
            self._redraw_timer.stop()
            self._frame_quiet.stop()
            # Gone from the screen at once, even if a backward pass keeps the worker a moment.
            self.hide()
            self.runner.shutdown()
            self.garbage_collector.stop()
        super().closeEvent(event)

    # -- user actions ------------------------------------------------------------------------------
    @QtCore.Slot(object)
    def _on_user_config(self, config: SimConfig) -> None:
        """A control changed: rebuild the simulation; the plots start again."""
        self.runner.rebuild(config)
        self._restart_plots()
        self._sync_title()
        # The control panel refuses what cannot fit; a large or slow run gets a warning here.
        warnings = check_resources(config).warnings
        if warnings:
            self.statusBar().showMessage("Warning: " + " ".join(warnings), 20000)

    @QtCore.Slot()
    def _on_user_toggle_play(self) -> None:
        if self.runner.is_running:
            self.runner.pause()
        else:
            self.runner.play()

    @QtCore.Slot()
    def _on_user_step(self) -> None:
        self.runner.step()

    @QtCore.Slot()
    def _on_user_reset(self) -> None:
        self.runner.reset()
        self._restart_plots()

    @QtCore.Slot(int)
    def _on_user_speed_combo(self, index: int) -> None:
        self._apply_speed(float(self.speed_combo.itemData(index)))

    @QtCore.Slot(QtGui.QAction)
    def _on_user_speed_action(self, action: QtGui.QAction) -> None:
        self._apply_speed(float(action.data()))

    @QtCore.Slot(bool)
    def _on_user_show_controls(self, shown: bool) -> None:
        self.controls_scroll.setVisible(shown)

    @QtCore.Slot(bool)
    def _on_user_full_screen(self, full: bool) -> None:
        self.showFullScreen() if full else self.showNormal()

    @QtCore.Slot()
    def _on_user_help(self) -> None:
        # A scrolling text in a dialog no taller than the window: the explanation of every plot
        # is longer than a 720-pixel screen, and a message box grows to its text.
        box = QtWidgets.QDialog(self)
        box.setObjectName("help_box")
        box.setWindowTitle("What am I looking at?")
        box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        layout = QtWidgets.QVBoxLayout(box)
        text = QtWidgets.QTextBrowser()
        text.setObjectName("help_text")
        text.setHtml(HELP_TEXT)
        layout.addWidget(text)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(box.reject)
        layout.addWidget(buttons)
        box.resize(min(720, int(self.width() * 0.8)), min(640, int(self.height() * 0.85)))
        box.open()

    @QtCore.Slot()
    def _on_user_about(self) -> None:
        try:
            version = metadata.version("gradsim")
        except metadata.PackageNotFoundError:
            version = "(not installed)"
        box = QtWidgets.QMessageBox(self)
        box.setObjectName("about_box")
        box.setWindowTitle("About gradsim")
        box.setTextFormat(QtCore.Qt.TextFormat.RichText)
        box.setText(
            f"<h3>gradsim {version}</h3>"
            "<p>A simulator that makes vanishing and exploding gradients in recurrent networks "
            "visible. Every number comes from an exact backpropagation-through-time engine in "
            "numpy; the window draws what it computes.</p>"
            "<p>Licence: MIT. Built with Python, numpy, Qt (PySide6) and pyqtgraph.</p>"
        )
        box.setIconPixmap(icon("gradsim").pixmap(64, 64))
        box.open()

    # -- display -------------------------------------------------------------------------------------
    def _apply_speed(self, speed: float) -> None:
        if speed not in SPEEDS:
            speed = min(SPEEDS, key=lambda s: abs(math.log(s / speed)) if math.isfinite(s) else math.inf)
        self.runner.set_speed(speed)
        index = self.speed_combo.findData(speed)
        blocked = self.speed_combo.blockSignals(True)
        self.speed_combo.setCurrentIndex(index)
        self.speed_combo.blockSignals(blocked)
        for action in self._speed_group.actions():
            action.setChecked(action.data() == speed)

    def _restart_plots(self) -> None:
        self.history.clear()
        self.dashboard.reset(self.runner.config)
        self.banner.setVisible(False)
        self.statusBar().clearMessage()
        self._dirty = False
        self._show_status(None)
        self.runRestarted.emit(self.runner.config)

    @QtCore.Slot(object)
    def _on_records(self, records: list[StepRecord]) -> None:
        for record in records:
            self.history.append(record)
        self._dirty = True

    @QtCore.Slot()
    def _on_redraw(self) -> None:
        now = time.perf_counter()
        if not self._dirty or self._frame_held or now < self._next_frame_at:
            return
        self._dirty = False
        # The worker waits while this frame is updated and painted (see Runner.hold_for_frame):
        # Qt paints in later events (UpdateRequest), released after FRAME_QUIET_MS without one.
        if self.isVisible():
            self._frame_held = True
            self._frame_started = now
            self.runner.hold_for_frame()
            self._frame_quiet.start()
        self.dashboard.refresh(self.history, self.runner.config)
        self._show_status(self.history.latest)
        self._frame_busy = time.perf_counter() - now

    @QtCore.Slot(bool)
    def _on_running_changed(self, running: bool) -> None:
        self.dashboard.set_live(running)
        self.play_action.setText("Pause" if running else "Play")
        self.play_action.setIcon(icon("pause" if running else "play"))

    @QtCore.Slot(object)
    def _on_halted(self, event: NonFiniteEvent | None) -> None:
        where = event.describe() if event is not None else "the run stopped on a non-finite value"
        self._show_banner(
            f"The run {where}. It is paused: press Reset (R) to start again, "
            "or change a setting (clipping, a smaller weight scale or learning rate)."
        )
        self.statusBar().showMessage(f"Non-finite values: {where}")
        self._dirty = True

    @QtCore.Slot(str)
    def _on_failed(self, message: str) -> None:
        self._show_banner(message[:1].upper() + message[1:])
        self.statusBar().showMessage(message)

    def _show_banner(self, text: str) -> None:
        self.banner_label.setText(text)
        self.banner.setVisible(True)

    def _show_status(self, record: StepRecord | None) -> None:
        if record is None:
            iteration, loss = "0", "–"
        else:
            iteration = str(record.iteration)
            loss = format_loss(record.loss)
        ratio, regime, badge_tip, ratio_tip = regime_status(None if record is None else measure(record))
        self.iteration_label.setText(f"Iteration {iteration}")
        self.status_iteration.setText(f"iteration {iteration}")
        self.status_loss.setText(f"loss {loss}")
        self.status_ratio.setText(f"gradient, {ratio}")
        self.status_ratio.setToolTip(ratio_tip)
        self.regime_badge.setToolTip(badge_tip)
        if regime != self._shown_regime:
            # A style sheet change re-polishes the widget: only when the regime changes.
            self._shown_regime = regime
            self.regime_badge.setText(regime)
            self.regime_badge.setStyleSheet(
                f"QLabel {{ background: {REGIME_COLORS[regime]}; color: #ffffff; font-weight: bold;"
                " border-radius: 4px; padding: 2px 10px; }"
            )

    def _sync_title(self) -> None:
        name = self.control_panel.preset_name()
        # Qt appends the application's display name ("— gradsim") unless the title ends with it.
        self.setWindowTitle("custom settings — gradsim" if name == CUSTOM else f"{name} — gradsim")

    @QtCore.Slot(int)
    def _sync_transport_shortcuts(self, index: int) -> None:
        # Other tabs may use Space and the arrow keys themselves (the backprop step-through).
        on_training = self.tabs.widget(index) is self._training_page
        for action, shortcuts in self._transport_shortcuts.items():
            action.setShortcuts(shortcuts if on_training else [])
