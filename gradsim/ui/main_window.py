"""The main window: controls on the left, the live plots on the right, transport in the toolbar.

Data flows one way: the :class:`ControlPanel` emits a config, the :class:`Runner` rebuilds the
simulation on its worker thread and sends back step records, the window appends them to a
bounded :class:`RunHistory`, and the :class:`~gradsim.ui.training.frame_pacer.FramePacer`
redraws the :class:`Dashboard` only when new records arrived, each frame at its due time (it
holds a worker thread while a frame paints). The GUI thread does no numerics.

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

from collections.abc import Sequence
from importlib import import_module
from typing import TYPE_CHECKING

from PySide6 import QtCore, QtGui, QtWidgets

from gradsim.engine.config import SimConfig, check_resources
from gradsim.engine.history import RunHistory
from gradsim.engine.presets import DEFAULT_PRESET, load_preset
from gradsim.engine.records import NonFiniteEvent, StepRecord
from gradsim.ui.common import fit
from gradsim.ui.common import settings as stored
from gradsim.ui.common.icons import icon
from gradsim.ui.common.status_bar import MessageBar
from gradsim.ui.common.teardown import release_window
from gradsim.ui.common.widgets import make_action, vertical_scroll
from gradsim.ui.feature_api import FEATURE_MODULES, WindowAPI
from gradsim.ui.training.control_panel import CUSTOM, ControlPanel
from gradsim.ui.training.dashboard import Dashboard
from gradsim.ui.training.dialogs import open_about, open_help, open_refusal
from gradsim.ui.training.frame_pacer import FramePacer
from gradsim.ui.training.run_status import RunStatus, StopBanner, format_loss, regime_status
from gradsim.ui.training.runner import Runner
from gradsim.ui.training.transport import (
    DEFAULT_SPEED,
    SPEEDS,
    SpeedChooser,
    TransportActions,
    fill_run_toolbar,
    speed_label,
)

if TYPE_CHECKING:
    import pyqtgraph as pg

# The status texts and the speeds live in ui/training since the window was split; importable here
# as before.
__all__ = ["DEFAULT_SIZE", "SPEEDS", "MainWindow", "format_loss", "regime_status", "speed_label"]

DEFAULT_SIZE = (1440, 900)


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
        (``transport``, a :class:`~gradsim.ui.training.transport.TransportActions`, holds the first three)
    speed_combo, iteration_label : the toolbar's speed chooser and iteration counter (``speed_chooser``
        keeps the combo and the Run menu's Speed items alike)
    banner : the message shown above the plots when a run stops on a non-finite value
    regime_badge : the status bar's healthy / vanishing / exploding / non-finite badge (``run_status``
        holds it and the iteration, loss and ratio labels)
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

    # event() runs for events sent while the window is built, before the pacer exists.
    _pacer_ready = False

    def __init__(
        self,
        config: SimConfig | None = None,
        *,
        settings: QtCore.QSettings | None = None,
        autoplay: bool = False,
        features: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings if settings is not None else QtCore.QSettings(self)
        restore_note = ""
        if config is None:
            config, restore_note = stored.load_config(self.settings)
        if config is None:
            config = load_preset(DEFAULT_PRESET)
        self.setWindowTitle("gradsim")
        self.setWindowIcon(icon("gradsim"))
        self.history = RunHistory()
        self._closed = False

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

        self.pacer = FramePacer(
            self._draw_frame, self.runner.hold_for_frame, self.runner.release_frame,
            self.isVisible, lambda: self.runner.kind == "thread", parent=self,
            settled=lambda: not self.dashboard.paints_pending,
        )  # fmt: skip
        self.dashboard.frame_work = self.pacer.painting  # a staggered view's data update
        self._pacer_ready = True
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
            open_refusal(self, check.refusal)
            return
        self.control_panel.set_config(config)
        self._on_user_config(config)

    # -- construction ----------------------------------------------------------------------------
    def _build_central(self) -> None:
        scroll = vertical_scroll(self.control_panel, "controls_scroll")
        scrollbar = scroll.verticalScrollBar().sizeHint().width()
        scroll.setMinimumWidth(self.control_panel.minimumSizeHint().width() + scrollbar + 4)
        self.controls_scroll = scroll

        page = QtWidgets.QWidget()
        page_layout = QtWidgets.QVBoxLayout(page)
        page_layout.setContentsMargins(0, 0, 0, 0)
        page_layout.setSpacing(4)
        self.banner = StopBanner()
        self.banner_label = self.banner.label
        self.banner_button = self.banner.button
        self.banner_button.clicked.connect(self._on_user_reset)
        page_layout.addWidget(self.banner)
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

    def _build_actions(self) -> None:
        key = QtGui.QKeySequence
        self.transport = TransportActions(
            self, toggle_play=self._on_user_toggle_play, step=self._on_user_step, reset=self._on_user_reset
        )
        self.play_action, self.step_action, self.reset_action = self.transport.actions()
        self.quit_action = make_action(self, "Quit", self.close, "Close gradsim", [key(key.StandardKey.Quit)])
        self.quit_action.setMenuRole(QtGui.QAction.MenuRole.QuitRole)
        self.show_controls_action = make_action(
            self,
            "Controls panel",
            self._on_user_show_controls,
            "Show or hide the controls (F9): more room for the plots",
            [key(QtCore.Qt.Key.Key_F9)],
        )
        self.show_controls_action.setCheckable(True)
        self.show_controls_action.setChecked(True)
        self.full_screen_action = make_action(
            self,
            "Full screen",
            self._on_user_full_screen,
            "Fill the screen",
            [key(key.StandardKey.FullScreen)],
        )
        self.full_screen_action.setCheckable(True)
        help_keys = [key(key.StandardKey.HelpContents)]
        self.help_action = make_action(
            self, "What am I looking at?", self._on_user_help, "What the plots show", help_keys
        )
        self.about_action = make_action(self, "About gradsim", self._on_user_about, "Version and licence")
        self.about_action.setMenuRole(QtGui.QAction.MenuRole.AboutRole)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        self.file_menu = bar.addMenu("&File")
        self.file_menu.addAction(self.quit_action)
        self.run_menu = bar.addMenu("&Run")
        for action in self.transport.actions():
            self.run_menu.addAction(action)
        self.run_menu.addSeparator()
        self.speed_menu = self.run_menu.addMenu("Speed")
        self.speed_chooser = SpeedChooser(self.speed_menu, self)
        self.speed_combo = self.speed_chooser.combo
        self.view_menu = bar.addMenu("&View")
        self.view_menu.addAction(self.show_controls_action)
        self.view_menu.addAction(self.full_screen_action)
        self.help_menu = bar.addMenu("&Help")
        self.help_menu.addAction(self.help_action)
        self.help_menu.addAction(self.about_action)

    def _build_toolbar(self) -> None:
        self.run_toolbar = self.addToolBar("Run")
        self.iteration_label = fill_run_toolbar(self.run_toolbar, self.transport, self.speed_chooser)

    def _build_status_bar(self) -> None:
        # Messages too long for the bar are elided with "more…" beside them, never cut silently.
        self.setStatusBar(MessageBar())
        status = self.run_status = RunStatus(self.statusBar())
        self.status_iteration, self.status_loss = status.iteration, status.loss
        self.status_ratio = status.ratio
        self.regime_badge = status.badge

    def _connect(self) -> None:
        self.control_panel.configChanged.connect(self._on_user_config)
        self.runner.recordsReady.connect(self._on_records)
        self.runner.runningChanged.connect(self._on_running_changed)
        self.runner.halted.connect(self._on_halted)
        self.runner.failed.connect(self._on_failed)
        self.speed_chooser.chosen.connect(self._apply_speed)
        self.tabs.currentChanged.connect(self._sync_transport_shortcuts)

    # -- persistence -------------------------------------------------------------------------------
    def _restore_layout(self) -> None:
        geometry = stored.byte_array(self.settings.value(stored.GEOMETRY_KEY))
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(*DEFAULT_SIZE)
        restorers = {
            stored.STATE_KEY: self.restoreState,
            stored.SPLITTER_KEY: self.splitter.restoreState,
            stored.DASHBOARD_KEY: self.dashboard.restore_state,
        }
        for key, restore in restorers.items():
            state = stored.byte_array(self.settings.value(key))
            if state is not None:
                restore(state)
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
        """A paint of a frame being drawn is timed by the pacer (and may end the frame)."""
        painted = event.type() == QtCore.QEvent.Type.UpdateRequest
        if not (painted and self._pacer_ready and self.pacer.drawing):
            return super().event(event)
        with self.pacer.painting():
            return super().event(event)

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
            self.pacer.stop()
            self.dashboard.stop_frames()
            # Gone from the screen at once, even if a backward pass keeps the worker a moment.
            self.hide()
            self.runner.shutdown()
            # pyqtgraph's parentless menus, timers and pixmaps die here, on the GUI thread, not
            # with whatever reference cycle later frees the plots (docs/architecture.md).
            release_window(self)
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

    @QtCore.Slot(bool)
    def _on_user_show_controls(self, shown: bool) -> None:
        self.controls_scroll.setVisible(shown)

    @QtCore.Slot(bool)
    def _on_user_full_screen(self, full: bool) -> None:
        self.showFullScreen() if full else self.showNormal()

    @QtCore.Slot()
    def _on_user_help(self) -> None:
        open_help(self)

    @QtCore.Slot()
    def _on_user_about(self) -> None:
        open_about(self)

    # -- display -------------------------------------------------------------------------------------
    @QtCore.Slot(float)
    def _apply_speed(self, speed: float) -> None:
        self.runner.set_speed(self.speed_chooser.show_speed(speed))

    def _restart_plots(self) -> None:
        self.history.clear()
        self.dashboard.reset(self.runner.config)
        self.banner.setVisible(False)
        self.statusBar().clearMessage()
        self.pacer.dirty = False
        self._show_status(None)
        self.runRestarted.emit(self.runner.config)

    @QtCore.Slot(object)
    def _on_records(self, records: list[StepRecord]) -> None:
        for record in records:
            self.history.append(record)
        self.pacer.dirty = True

    def _draw_frame(self) -> None:
        self.dashboard.refresh(self.history, self.runner.config)
        self._show_status(self.history.latest)

    @QtCore.Slot(bool)
    def _on_running_changed(self, running: bool) -> None:
        self.dashboard.set_live(running)
        self.transport.show_running(running)

    @QtCore.Slot(object)
    def _on_halted(self, event: NonFiniteEvent | None) -> None:
        where = event.describe() if event is not None else "the run stopped on a non-finite value"
        self.banner.show_message(
            f"The run {where}. It is paused: press Reset (R) to start again, "
            "or change a setting (clipping, a smaller weight scale or learning rate)."
        )
        self.statusBar().showMessage(f"Non-finite values: {where}")
        self.pacer.dirty = True

    @QtCore.Slot(str)
    def _on_failed(self, message: str) -> None:
        self.banner.show_message(message[:1].upper() + message[1:])
        self.statusBar().showMessage(message)

    def _show_status(self, record: StepRecord | None) -> None:
        self.iteration_label.setText(f"Iteration {0 if record is None else record.iteration}")
        self.run_status.show(record)

    def _sync_title(self) -> None:
        name = self.control_panel.preset_name()
        # Qt appends the application's display name ("— gradsim") unless the title ends with it.
        self.setWindowTitle("custom settings — gradsim" if name == CUSTOM else f"{name} — gradsim")

    @QtCore.Slot(int)
    def _sync_transport_shortcuts(self, index: int) -> None:
        # Other tabs may use Space and the arrow keys themselves (the backprop step-through).
        on_training = self.tabs.widget(index) is self._training_page
        self.transport.enable_keys(on_training)
