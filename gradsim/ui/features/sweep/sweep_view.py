"""The "Sweep" tab: a phase diagram of where gradients vanish or explode over two settings.

The user picks two of the sweepable settings (weight scale, sequence length, layer count,
learning rate, hidden size) with their ranges, when to measure (at initialisation or after N
training steps) and how many seeds to average; the base config is the window's current one.
Run computes the grid with :func:`gradsim.engine.sweep.run_sweep` on all cores: a
:class:`SweepWorker` on a worker thread (:mod:`gradsim.ui.common.workers`) calls it (the call
blocks while worker *processes* compute), passing a cancel event and a progress callback whose
reports carry the finished cells, so the heatmap fills in as chunks come back. The theory's
critical line is computed on a second worker meanwhile (about 1 s the first time for saturating
units) and drawn as soon as it is ready.

"Run on…" sends the points to a Dask cluster instead (its scheduler's address, or ``local:N``),
with the same progress, cancel and cache (:mod:`gradsim.engine.sweep_executors`).

Points and sweeps are kept in the sweep store (:mod:`gradsim.io.sweepstore`, a SQLite file in the
user's cache folder), shared with other windows and ``gradsim sweep``: a phase diagram of a few
hundred points takes tens of seconds, and the sweep a user repeats is usually one from an earlier
session (the same lesson, the same figure). Each chunk of points is written as it arrives. The
"past" list reopens a recorded sweep without computing; the store's size is shown beside it, with
Clear…. A store that cannot be used costs the sweep its cache, never its result (the tab says so).

Clicking a cell loads its config into the Training tab. Closing the window cancels a running
sweep and waits for it: its worker processes are terminated, none is left behind.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from gradsim.engine import sweep
from gradsim.engine.config import FLOAT_RANGES, INT_RANGES, ConfigError, SimConfig
from gradsim.engine.formatting import format_bytes
from gradsim.engine.sweep import CriticalLine, SweepProgress, SweepResult, SweepSpec
from gradsim.engine.sweep_executors import ExecutorError, check_scheduler, describe
from gradsim.io.sweepstore import StoreError, SweepStore, open_store
from gradsim.ui.common.scaling import scale_fonts
from gradsim.ui.common.workers import JobContext, Worker
from gradsim.ui.feature_api import WindowAPI
from gradsim.ui.features.sweep.sweep_plot import FIELD_LABELS, SweepPlot, format_value

TAB_TITLE = "Sweep"
PLOT_MIN_SIZE = (420, 320)
# In presentation mode: with the settings unfolded, what a 720-pixel window leaves under them.
PLOT_MIN_HEIGHT_PRESENTING = 240
SETTINGS_PREFIX = "sweep/"
PAST_SWEEPS_SHOWN = 200
# A store another program holds locked makes the tab wait this long, once, before going without.
STORE_TIMEOUT_SECONDS = 2.0
RUN_ON_TIP = (
    "Where the points are computed. Empty: worker processes on this computer, one per core. "
    "A Dask scheduler's address (tcp://host:8786) runs them on that cluster; local:N starts a "
    'local Dask cluster of N processes. Needs: pip install "gradsim[cluster]"'
)
# Default range of each field when it is chosen for an axis: (low, high, count, spacing).
DEFAULT_RANGES: dict[str, tuple[float, float, int, str]] = {
    "weight_scale": (0.5, 2.5, 17, "linear"),
    "seq_len": (5.0, 200.0, 12, "log"),
    "num_layers": (1.0, 6.0, 6, "linear"),
    "learning_rate": (1e-4, 1e-1, 10, "log"),
    "hidden_size": (8.0, 128.0, 5, "log"),
}
DEFAULT_AXES = ("weight_scale", "seq_len")
DEFAULT_SEEDS = 2
FIELD_TIPS = {
    "weight_scale": "multiplies the initial weights (the recurrent factor per time step)",
    "seq_len": "time steps the gradient travels back through",
    "num_layers": "stacked recurrent layers",
    "learning_rate": "step size of training (matters only with iterations > 0)",
    "hidden_size": "units per layer",
}


def describe_base(config: SimConfig) -> str:
    """The base config in one line (what the sweep does not vary)."""
    text = (
        f"{config.activation}, {config.init} init × {config.weight_scale:g}, {config.num_layers} "
        f"layer{'s' if config.num_layers > 1 else ''} × {config.hidden_size} units, T = {config.seq_len}, "
        f"batch {config.batch_size}, {config.task} task"
    )
    if config.normalization == "batch":
        text += ", batch norm"
    if config.clip_mode != "none":
        text += f", clip by {config.clip_mode} at {config.clip_threshold:g}"
    return text + f", {config.optimizer} lr {config.learning_rate:g}, seed {config.seed}"


def format_seconds(seconds: float) -> str:
    """``"about 12 s left"``, ``"about 3 min left"``."""
    if seconds < 90:
        return f"about {max(1, round(seconds))} s left"
    return f"about {round(seconds / 60)} min left"


# -- the form ----------------------------------------------------------------------------------
class AxisEditor(QtCore.QObject):
    """The widgets of one axis: field, low, high, number of values, spacing.

    Attributes
    ----------
    field_combo, low_spin, high_spin, count_spin, spacing_combo : the controls (objectNames
        ``sweep_<name>_field`` etc., ``name`` being ``x`` or ``y``)
    """

    def __init__(self, name: str, parent: QtWidgets.QWidget) -> None:
        super().__init__(parent)
        self.name = name
        self.field_combo = QtWidgets.QComboBox(parent)
        for field in sweep.SWEEP_FIELDS:
            self.field_combo.addItem(FIELD_LABELS[field], field)
            index = self.field_combo.count() - 1
            self.field_combo.setItemData(index, FIELD_TIPS[field], QtCore.Qt.ItemDataRole.ToolTipRole)
        self.low_spin = QtWidgets.QDoubleSpinBox(parent)
        self.high_spin = QtWidgets.QDoubleSpinBox(parent)
        self.count_spin = QtWidgets.QSpinBox(parent)
        self.count_spin.setRange(1, sweep.MAX_AXIS_POINTS)
        self.spacing_combo = QtWidgets.QComboBox(parent)
        self.spacing_combo.addItem("linear", "linear")
        self.spacing_combo.addItem("log", "log")
        controls = (self.field_combo, self.low_spin, self.high_spin, self.count_spin, self.spacing_combo)
        for control, part in zip(controls, ("field", "low", "high", "count", "spacing"), strict=True):
            control.setObjectName(f"sweep_{name}_{part}")
        axis = f"the {name} axis"
        self.field_combo.setToolTip(f"The setting along {axis}")
        self.low_spin.setToolTip(f"The first value of {axis}")
        self.high_spin.setToolTip(f"The last value of {axis} (included)")
        self.count_spin.setToolTip(
            f"How many values along {axis}; whole-number settings drop repeated values after rounding"
        )
        self.spacing_combo.setToolTip(
            "linear: values evenly spaced; log: evenly spaced in log10 (for ranges over decades), "
            "drawn on a log axis"
        )
        for spin in (self.low_spin, self.high_spin):
            spin.setKeyboardTracking(False)
            spin.setMinimumWidth(96)
        self.field_combo.currentIndexChanged.connect(self._on_user_field)

    def widgets(self) -> tuple[QtWidgets.QWidget, ...]:
        """The controls, left to right."""
        return (self.field_combo, self.low_spin, self.high_spin, self.count_spin, self.spacing_combo)

    def field(self) -> str:
        return str(self.field_combo.currentData())

    def set_state(self, field: str, low: float, high: float, count: int, spacing: str) -> None:
        """Show these values (limits and decimals follow the field)."""
        index = self.field_combo.findData(field)
        blocked = self.field_combo.blockSignals(True)
        self.field_combo.setCurrentIndex(max(0, index))
        self.field_combo.blockSignals(blocked)
        self._set_limits(self.field())
        self.low_spin.setValue(low)
        self.high_spin.setValue(high)
        self.count_spin.setValue(count)
        self.spacing_combo.setCurrentIndex(max(0, self.spacing_combo.findData(spacing)))

    def state(self) -> dict[str, Any]:
        return {
            "field": self.field(),
            "low": self.low_spin.value(),
            "high": self.high_spin.value(),
            "count": self.count_spin.value(),
            "spacing": str(self.spacing_combo.currentData()),
        }

    def axis(self) -> sweep.SweepAxis:
        """The axis the controls describe (raises SweepError with a message for the user)."""
        state = self.state()
        return sweep.make_axis(state["field"], state["low"], state["high"], state["count"], state["spacing"])

    def _set_limits(self, field: str) -> None:
        low: float
        high: float
        if field in sweep.INTEGER_FIELDS:
            low, high = INT_RANGES[field]
            decimals, step = 0, 1.0
        else:
            low, high = FLOAT_RANGES[field][0], FLOAT_RANGES[field][1]
            decimals = 6 if field == "learning_rate" else 3
            low = 10.0**-decimals  # the field excludes 0
            step = 0.1 if field == "weight_scale" else 0.001
        for spin in (self.low_spin, self.high_spin):
            spin.setDecimals(decimals)
            spin.setRange(low, high)
            spin.setSingleStep(step)

    @QtCore.Slot(int)
    def _on_user_field(self, index: int) -> None:
        field = str(self.field_combo.itemData(index))
        low, high, count, spacing = DEFAULT_RANGES[field]
        self.set_state(field, low, high, count, spacing)


class SweepPage(QtWidgets.QWidget):
    """The tab's widgets: the form above, the phase diagram below (no logic: see SweepController)."""

    def __init__(self, plot: SweepPlot) -> None:
        super().__init__()
        self.setObjectName("sweep_page")
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 4)
        layout.setSpacing(6)

        form = QtWidgets.QGridLayout()
        form.setHorizontalSpacing(8)
        form.setVerticalSpacing(4)
        self.x_editor = AxisEditor("x", self)
        self.y_editor = AxisEditor("y", self)
        for column, text in enumerate(("", "setting", "from", "to", "values", "spacing"), start=0):
            if text:
                header = QtWidgets.QLabel(f"<b>{text}</b>")
                form.addWidget(header, 0, column)
        for row, (label, editor) in enumerate(
            (("x axis", self.x_editor), ("y axis", self.y_editor)), start=1
        ):
            caption = QtWidgets.QLabel(label)
            caption.setBuddy(editor.field_combo)
            form.addWidget(caption, row, 0)
            for column, widget in enumerate(
                (
                    editor.field_combo,
                    editor.low_spin,
                    editor.high_spin,
                    editor.count_spin,
                    editor.spacing_combo,
                ),
                start=1,
            ):
                form.addWidget(widget, row, column)

        self.iterations_spin = QtWidgets.QSpinBox()
        self.iterations_spin.setObjectName("sweep_iterations")
        self.iterations_spin.setRange(0, sweep.MAX_ITERATIONS)
        self.iterations_spin.setSpecialValueText("0 (at init)")
        self.iterations_spin.setSuffix(" steps")
        self.iterations_spin.setToolTip(
            "When to measure the gradient: 0 = at initialisation; N = after N training steps of each "
            "grid config (costs N times more)"
        )
        self.seeds_spin = QtWidgets.QSpinBox()
        self.seeds_spin.setObjectName("sweep_seeds")
        self.seeds_spin.setRange(1, sweep.MAX_SEEDS)
        self.seeds_spin.setToolTip(
            "Seeds averaged per cell (in log10), counted from the base config's seed; more seeds, "
            "smoother edge"
        )
        measure = QtWidgets.QHBoxLayout()
        measure.setSpacing(6)
        iterations_label = QtWidgets.QLabel("iterations")
        iterations_label.setBuddy(self.iterations_spin)
        seeds_label = QtWidgets.QLabel("seeds")
        seeds_label.setBuddy(self.seeds_spin)
        self.run_on_edit = QtWidgets.QLineEdit()
        self.run_on_edit.setObjectName("sweep_run_on")
        self.run_on_edit.setPlaceholderText("this computer")
        self.run_on_edit.setToolTip(RUN_ON_TIP)
        self.run_on_edit.setMinimumWidth(150)
        self.run_on_edit.setMaximumWidth(240)
        run_on_label = QtWidgets.QLabel("run on")
        run_on_label.setBuddy(self.run_on_edit)
        for widget in (iterations_label, self.iterations_spin, seeds_label, self.seeds_spin):
            measure.addWidget(widget)
        measure.addStretch(1)
        form.addWidget(QtWidgets.QLabel("measure"), 3, 0)
        form.addLayout(measure, 3, 1, 1, 3)
        # On a row of its own: beside the measure's spin boxes and the buttons it made the tab
        # wider than a 1280-pixel window leaves it next to the controls and the diagnosis.
        form.addWidget(run_on_label, 4, 0)
        form.addWidget(self.run_on_edit, 4, 1, 1, 3)

        self.run_button = QtWidgets.QPushButton("Run sweep")
        self.run_button.setObjectName("sweep_run")
        self.run_button.setDefault(True)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setObjectName("sweep_cancel")
        self.cancel_button.setEnabled(False)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        form.addLayout(buttons, 3, 4, 1, 2)

        self.base_label = QtWidgets.QLabel()
        self.base_label.setObjectName("sweep_base")
        self.base_label.setWordWrap(True)
        self.base_label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.use_current_button = QtWidgets.QPushButton("Use current config")
        self.use_current_button.setObjectName("sweep_use_current")
        form.addWidget(QtWidgets.QLabel("base"), 5, 0)
        form.addWidget(self.base_label, 5, 1, 1, 4)
        form.addWidget(self.use_current_button, 5, 5)

        # Past sweeps and the store. The list's items are long: it must not size itself to them.
        self.past_combo = QtWidgets.QComboBox()
        self.past_combo.setObjectName("sweep_past")
        self.past_combo.setSizeAdjustPolicy(
            QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.past_combo.setMinimumContentsLength(24)
        self.past_combo.setSizePolicy(
            QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Fixed
        )
        self.past_combo.setToolTip(
            "Sweeps recorded in the store (by this window, others, or gradsim sweep), newest first: "
            "choose one to show it again, without computing"
        )
        self.store_label = QtWidgets.QLabel()
        self.store_label.setObjectName("sweep_store_size")
        self.clear_button = QtWidgets.QPushButton("Clear…")
        self.clear_button.setObjectName("sweep_clear_store")
        self.clear_button.setToolTip("Delete every stored point and recorded sweep (asks first)")
        past_label = QtWidgets.QLabel("past")
        past_label.setBuddy(self.past_combo)
        past = QtWidgets.QHBoxLayout()
        past.setSpacing(6)
        past.addWidget(self.past_combo, 1)
        past.addWidget(self.store_label)
        past.addWidget(self.clear_button)
        form.addWidget(past_label, 6, 0)
        form.addLayout(past, 6, 1, 1, 5)
        form.setColumnStretch(6, 1)
        # In a widget of its own, so that presentation mode can fold it (see fold_form).
        form.setContentsMargins(0, 0, 0, 0)
        self.form_box = QtWidgets.QWidget()
        self.form_box.setObjectName("sweep_form")
        self.form_box.setLayout(form)
        layout.addWidget(self.form_box)

        progress_row = QtWidgets.QHBoxLayout()
        self.progress_bar = QtWidgets.QProgressBar()
        self.progress_bar.setObjectName("sweep_progress")
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setTextVisible(False)
        self.progress_bar.setMaximumWidth(320)
        self.progress_bar.setToolTip("Grid points finished, computed or taken from the cache")
        self.progress_label = QtWidgets.QLabel("No sweep yet: choose two settings and press Run sweep")
        self.progress_label.setObjectName("sweep_progress_label")
        # Wrapped, and never asking for its text's width: a finished sweep's summary and the
        # theory line's notes are a paragraph, which must neither widen the window nor be cut.
        self.progress_label.setWordWrap(True)
        policy = self.progress_label.sizePolicy()
        policy.setHorizontalPolicy(QtWidgets.QSizePolicy.Policy.Ignored)
        self.progress_label.setSizePolicy(policy)
        self.form_toggle = QtWidgets.QToolButton()
        self.form_toggle.setObjectName("sweep_form_toggle")
        self.form_toggle.setText("Settings")
        self.form_toggle.setCheckable(True)
        self.form_toggle.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.form_toggle.setArrowType(QtCore.Qt.ArrowType.DownArrow)  # the form is shown
        self.form_toggle.setToolTip(
            "Show or hide the sweep's settings (folded in presentation mode; Ctrl+Return runs, Esc cancels)"
        )
        self.form_toggle.toggled.connect(self._on_user_form_toggle)
        self.form_toggle.hide()
        progress_row.addWidget(self.form_toggle)
        progress_row.addWidget(self.progress_bar)
        progress_row.addWidget(self.progress_label, 1)
        layout.addLayout(progress_row)

        self.plot = plot
        plot.setObjectName("sweep_plot")
        plot.setMinimumSize(*PLOT_MIN_SIZE)
        layout.addWidget(plot, 1)
        self.info_label = QtWidgets.QLabel(
            "Point at a cell for its numbers; click it to load its config into the Training tab."
        )
        self.info_label.setObjectName("sweep_info")
        self.info_label.setWordWrap(True)
        layout.addWidget(self.info_label)

    def fold_form(self, folded: bool) -> None:
        """Presentation mode: the settings folded behind the Settings button, the phase diagram
        given the height (at 1.6 times the size the form alone takes 40% of a 720-pixel window).
        Unfolded in the mode, the diagram may be lower than it may be otherwise: the window
        keeps its size."""
        self.plot.setMinimumHeight(PLOT_MIN_SIZE[1] if not folded else PLOT_MIN_HEIGHT_PRESENTING)
        self.form_toggle.setVisible(folded)
        self.form_toggle.setChecked(not folded)
        self._on_user_form_toggle(not folded)

    @QtCore.Slot(bool)
    def _on_user_form_toggle(self, shown: bool) -> None:
        self.form_box.setVisible(shown)
        arrow = QtCore.Qt.ArrowType.DownArrow if shown else QtCore.Qt.ArrowType.RightArrow
        self.form_toggle.setArrowType(arrow)

    def set_running(self, running: bool) -> None:
        """Lock the form while a sweep runs (its spec is fixed once started)."""
        for editor in (self.x_editor, self.y_editor):
            for widget in editor.widgets():
                widget.setEnabled(not running)
        for widget in (
            self.iterations_spin, self.seeds_spin, self.run_on_edit, self.run_button, self.use_current_button,
            self.past_combo, self.clear_button,
        ):  # fmt: skip
            widget.setEnabled(not running)
        self.cancel_button.setEnabled(running)


# -- the worker --------------------------------------------------------------------------------
def critical_line_or_reason(spec: SweepSpec) -> CriticalLine:
    """The theory's critical line of ``spec`` (about 1 s the first time for saturating units), or
    a line that says why there is none."""
    try:
        return sweep.critical_line(spec)
    except Exception as error:  # the heatmap is worth showing without the line
        return CriticalLine(None, None, "step", f"the theory could not be evaluated ({error})")


class LineJob:
    """Computes the critical line of ``spec`` on a worker thread; ``done`` is set once it is sent.

    Returns ``(spec, line)`` (:attr:`Worker.returned`).
    """

    def __init__(self, spec: SweepSpec) -> None:
        self.spec = spec
        self.done = threading.Event()

    def run(self, context: JobContext) -> tuple[SweepSpec, CriticalLine]:
        del context
        try:
            return self.spec, critical_line_or_reason(self.spec)
        finally:
            self.done.set()


class SweepWorker:
    """Runs one sweep (its processes do the numerics): the job of the sweep's worker thread.

    Messages (see :func:`gradsim.ui.common.background.start_job`)
    --------
    ("progressed", SweepProgress) : a chunk of points finished (carries them)
    ("finished", SweepResult) : the sweep ended, complete or cancelled
    ("failed", str) : the sweep could not run; nothing to show

    The theory's critical line is computed meanwhile by a :class:`LineJob` on a second worker
    (it overlaps the start of the worker processes, about 1 s); the sweep's last message waits
    for it, so the line is shown before the sweep's outcome.
    """

    def __init__(
        self, spec: SweepSpec, workers: int | None, store: SweepStore | None, scheduler: str | None = None
    ) -> None:
        self.spec = spec
        self.workers = workers
        self.store = store
        self.scheduler = scheduler
        self.cancel_event = threading.Event()
        self.line_done: threading.Event | None = None

    def cancel(self) -> None:
        """Stop the sweep within about 50 ms (callable from any thread)."""
        self.cancel_event.set()

    def run(self, context: JobContext) -> None:
        def progress(report: SweepProgress) -> None:
            context.emit(("progressed", report))

        try:
            result = sweep.run_sweep(
                self.spec, workers=self.workers, progress=progress,
                cancel=self.cancel_event, cache=self.store, scheduler=self.scheduler, journal=self.store,
            )  # fmt: skip
        except Exception as error:  # every failure becomes a message, never a traceback
            self._wait_for_line()
            context.emit(("failed", str(error) or type(error).__name__))
            return
        self._wait_for_line()
        context.emit(("finished", result))

    def _wait_for_line(self) -> None:
        if self.line_done is not None:
            self.line_done.wait()


# -- the feature -------------------------------------------------------------------------------
class SweepController(QtCore.QObject):
    """The Sweep tab of ``window``: form, background sweep, phase diagram, cell loading.

    Attributes
    ----------
    page : :class:`SweepPage` (the tab)
    plot : its :class:`SweepPlot`
    open_action : Run menu action showing the tab (Ctrl+3)
    base_config : the config the grid starts from
    workers : worker processes per sweep (None: one per core; 0: in the worker thread, for tests)
        when "Run on…" is empty
    store_path : the sweep store's file (None: the default one in the user's cache folder)
    result : the last (possibly partial, or reopened) result shown; line: its critical line
    thread, worker : the running sweep, if any
    """

    def __init__(self, window: WindowAPI) -> None:
        super().__init__(window)
        self.window = window
        self.plot = SweepPlot(theme=window.dashboard.theme)
        self.page = SweepPage(self.plot)
        self.base_config: SimConfig = window.current_config()
        self.workers: int | None = None
        self.store_path: Path | None = None
        self._store: SweepStore | None = None
        self._store_opened_for: Path | None = None
        self._line: Worker | None = None
        self._sweep: Worker | None = None
        self.result: SweepResult | None = None
        self.line: CriticalLine | None = None
        self.worker_thread: QtCore.QThread | None = None
        self.worker: SweepWorker | None = None
        self._live: dict[str, np.ndarray] = {}
        self._spec: SweepSpec | None = None

        page = self.page
        page.run_button.setToolTip("Compute the grid on all cores (Ctrl+Return); the window stays usable")
        page.cancel_button.setToolTip("Stop the sweep; the points computed so far stay (Esc)")
        page.use_current_button.setToolTip("Sweep around the config the Training tab runs now")
        page.run_button.clicked.connect(self.start)
        page.cancel_button.clicked.connect(self.cancel)
        page.use_current_button.clicked.connect(self.use_current_config)
        page.past_combo.activated.connect(self._on_past_chosen)
        page.clear_button.clicked.connect(self.clear_store)
        run_shortcut = QtGui.QShortcut(QtGui.QKeySequence("Ctrl+Return"), page)
        run_shortcut.activated.connect(self.start)
        cancel_shortcut = QtGui.QShortcut(QtGui.QKeySequence(QtCore.Qt.Key.Key_Escape), page)
        cancel_shortcut.activated.connect(self.cancel)
        self.plot.cellClicked.connect(self.load_cell)
        self.plot.cellHovered.connect(self._on_hovered)

        self.open_action = QtGui.QAction("Sweep (phase diagram)", window)
        self.open_action.setObjectName("sweep_open_action")
        self.open_action.setShortcut(QtGui.QKeySequence("Ctrl+3"))
        tip = "Map where gradients vanish or explode over a grid of two settings (Ctrl+3)"
        self.open_action.setToolTip(tip)
        self.open_action.setStatusTip(tip)
        self.open_action.triggered.connect(self.show_tab)
        window.run_menu.addAction(self.open_action)
        window.addAction(self.open_action)
        # After Training and Backprop when they are there (Ctrl+1..3 follow the tab order).
        window.tabs.insertTab(min(2, window.tabs.count()), page, TAB_TITLE)
        window.tabs.setTabToolTip(window.tabs.indexOf(page), tip)
        window.runRestarted.connect(self._on_run_restarted)
        window.tabs.currentChanged.connect(self._on_tab_changed)
        window.closing.connect(self.shutdown)
        window.presentationScaleChanged.connect(self.set_presentation_scale)
        if window.presentation_scale != 1.0:
            self.set_presentation_scale(window.presentation_scale)
        self._restore_form()
        self._show_base()

    # -- public ----------------------------------------------------------------------------
    @property
    def store(self) -> SweepStore:
        """The sweep store, opened on first use (a window that never shows the tab touches no
        disk); check :attr:`SweepStore.available`."""
        if self._store is None or self._store_opened_for != self.store_path:
            if self._store is not None:
                self._store.close()
            self._store = open_store(self.store_path, timeout=STORE_TIMEOUT_SECONDS)
            self._store_opened_for = self.store_path
        return self._store

    @property
    def is_running(self) -> bool:
        return self.worker_thread is not None

    @QtCore.Slot()
    def show_tab(self) -> None:
        self.window.tabs.setCurrentWidget(self.page)

    @QtCore.Slot(float)
    def set_presentation_scale(self, scale: float) -> None:
        """Presentation mode: the form's text and the phase diagram ``scale`` times larger."""
        scale_fonts(self.page, scale)
        self.page.fold_form(scale != 1.0)
        self.plot.set_presentation_scale(scale)

    def spec_from_form(self) -> SweepSpec:
        """The sweep the form describes (raises SweepError or ConfigError with a message)."""
        page = self.page
        return SweepSpec(
            self.base_config, page.x_editor.axis(), page.y_editor.axis(),
            page.iterations_spin.value(), page.seeds_spin.value(),
        )  # fmt: skip

    @QtCore.Slot()
    def start(self) -> SweepWorker | None:
        """Start the sweep the form describes on a worker thread (None if refused or running)."""
        if self.worker_thread is not None:
            return None
        scheduler = self.page.run_on_edit.text().strip() or None
        try:
            spec = self.spec_from_form()
            if scheduler is not None:
                check_scheduler(scheduler)
        except (sweep.SweepError, ConfigError, ExecutorError) as error:
            self._message(f"Cannot run this sweep: {error}", error=True)
            return None
        self._save_form()
        opened = self.store
        store: SweepStore | None = opened
        if not opened.available:
            self.window.statusBar().showMessage(f"{opened.error}: this sweep runs without the store", 15000)
            store = None
        ny, nx = spec.shape
        self._spec = spec
        self._live = {
            "values": np.full((ny, nx), np.nan),
            "status": np.zeros((ny, nx), dtype=np.int8),
            "seed_values": np.full((ny, nx, len(spec.seeds)), np.nan),  # type: ignore[arg-type]
            "computed": np.zeros((ny, nx), dtype=bool),
        }
        self.line = None
        self.result = self._partial_result()
        self.plot.show_result(self.result, None)
        worker = SweepWorker(spec, self.workers, store, scheduler)
        worker.line_done = self._start_line(spec)
        handlers: dict[str, Callable[..., None]] = {
            "progressed": self._on_progress, "finished": self._on_finished, "failed": self._on_failed,
        }  # fmt: skip
        self._sweep = Worker(worker.run, name="sweep_thread", cancel_event=worker.cancel_event)
        self._sweep.yielded.connect(lambda message: handlers[message[0]](*message[1:]))
        self._sweep.errored.connect(self._on_failed)
        self.worker_thread, self.worker = self._sweep.thread, worker
        page = self.page
        page.set_running(True)
        page.progress_bar.setRange(0, spec.size)
        page.progress_bar.setValue(0)
        page.progress_bar.setTextVisible(True)
        page.progress_bar.setFormat("%v / %m")
        workers = self.workers if self.workers is not None else sweep.default_workers()
        self._message(f"Starting {spec.size} points on {describe(workers, scheduler)}…")
        self._sweep.start()
        return worker

    @QtCore.Slot()
    def cancel(self) -> None:
        """Stop the running sweep (its processes are terminated; the points so far stay)."""
        if self.worker is not None:
            self.worker.cancel()
            self._message("Cancelling…")

    @QtCore.Slot()
    def shutdown(self) -> None:
        """Cancel a running sweep and wait for it: no thread or worker process outlives the window."""
        if self.worker is not None:
            self.worker.cancel()
        self._finish_thread()
        self._stop_line()
        if self._store is not None:
            self._store.close()
            self._store = None

    @QtCore.Slot()
    def use_current_config(self) -> None:
        """Take the Training tab's config as the base of the next sweep."""
        self.base_config = self.window.current_config()
        self._show_base()

    @QtCore.Slot(int, int)
    def load_cell(self, row: int, column: int) -> None:
        """Load a cell's config into the Training tab (a new run) and show that tab."""
        if self.result is None:
            return
        config = self.result.config_at(row, column)
        spec = self.result.spec
        self.window.apply_config(config)
        self.window.tabs.setCurrentWidget(self.window.training_tab())
        x_text = format_value(spec.x.values[column], spec.x.field in sweep.INTEGER_FIELDS)
        y_text = format_value(spec.y.values[row], spec.y.field in sweep.INTEGER_FIELDS)
        self.window.statusBar().showMessage(
            f"Loaded the sweep cell {spec.x.field} = {x_text}, {spec.y.field} = {y_text} "
            "into the Training tab: press Play (Space) to train it",
            10000,
        )

    # -- the store: past sweeps, size, clearing ------------------------------------------------
    def refresh_store_view(self) -> None:
        """List the recorded sweeps and show the store's size (skipped while a sweep runs: the
        worker thread is writing to the store then)."""
        if self.is_running:
            return
        page = self.page
        combo = page.past_combo
        store = self.store
        records = []
        problem = store.error
        if store.available:
            try:
                records = store.sweeps(limit=PAST_SWEEPS_SHOWN)
            except StoreError as error:
                problem = str(error)
        blocked = combo.blockSignals(True)
        combo.clear()
        if problem is not None:
            combo.addItem("the sweep store cannot be used (see its tooltip)")
            combo.setItemData(0, problem, QtCore.Qt.ItemDataRole.ToolTipRole)
        elif records:
            combo.addItem(
                f"{len(records)} recorded sweep{'s' if len(records) != 1 else ''}: choose one to reopen"
            )
        else:
            combo.addItem("no sweeps recorded yet")
        for record in records:
            combo.addItem(record.describe(), record.id)
            combo.setItemData(combo.count() - 1, record.describe(), QtCore.Qt.ItemDataRole.ToolTipRole)
        combo.setCurrentIndex(0)
        combo.setEnabled(bool(records))
        combo.blockSignals(blocked)
        if problem is None:
            page.store_label.setText(f"store {format_bytes(store.size_bytes())}")
            page.store_label.setToolTip(
                f"The sweep store: every computed point and recorded sweep, in {store.path} (shared with "
                "other windows and gradsim sweep)"
            )
        else:
            page.store_label.setText("store unavailable")
            page.store_label.setToolTip(problem)
        page.clear_button.setEnabled(store.available)

    def open_past(self, sweep_id: int) -> SweepResult | None:
        """Show a recorded sweep again (no computing): its grid, its form and base config; the
        theory's line follows from a side thread. None if it cannot be read (the tab says why)."""
        if self.is_running:
            return None
        try:
            record = self.store.sweep(sweep_id)
            result = self.store.open_sweep(sweep_id)
        except StoreError as error:
            self._message(f"Cannot reopen sweep #{sweep_id}: {error}", error=True)
            return None
        spec = result.spec
        page = self.page
        for editor, axis in ((page.x_editor, spec.x), (page.y_editor, spec.y)):
            editor.set_state(axis.field, axis.values[0], axis.values[-1], len(axis.values), axis.spacing)
        page.iterations_spin.setValue(spec.iterations)
        page.seeds_spin.setValue(len(spec.seeds))  # type: ignore[arg-type]
        self.base_config = spec.base
        self._show_base()
        self._spec, self.result, self.line = spec, result, None
        self.plot.show_result(result, None)
        page.progress_bar.setRange(0, spec.size)
        page.progress_bar.setValue(int(result.computed.sum()))
        page.progress_bar.setTextVisible(True)
        page.progress_bar.setFormat("%v / %m")
        self._message(f"Reopened sweep {record.describe()}")
        self._start_line(spec)
        return result

    @QtCore.Slot(int)
    def _on_past_chosen(self, index: int) -> None:
        sweep_id = self.page.past_combo.itemData(index)
        if sweep_id is not None:
            self.open_past(int(sweep_id))

    def _start_line(self, spec: SweepSpec) -> threading.Event:
        """Compute ``spec``'s critical line on a worker thread; the event is set once it is sent."""
        self._stop_line()  # one at a time: the previous one is at most about a second
        job = LineJob(spec)
        self._line = Worker(job.run, name="sweep-critical-line")
        self._line.returned.connect(self._on_line)
        self._line.start()
        return job.done

    def _stop_line(self) -> None:
        if self._line is not None:
            self._line.stop()
            self._line = None

    @QtCore.Slot()
    def clear_store(self) -> bool:
        """Delete every stored point and recorded sweep, after the user confirms; True if done."""
        if self.is_running:
            return False
        store = self.store
        if not store.available:
            self._message(f"Cannot clear the sweep store: {store.error}", error=True)
            return False
        answer = QtWidgets.QMessageBox.question(
            self.page,
            "Clear the sweep store",
            f"Delete every stored sweep point and recorded sweep ({format_bytes(store.size_bytes())})?\n\n"
            f"{store.path}\n\nOther gradsim windows and commands share this store; sweeps will compute "
            "their points again.",
            QtWidgets.QMessageBox.StandardButton.Yes | QtWidgets.QMessageBox.StandardButton.Cancel,
            QtWidgets.QMessageBox.StandardButton.Cancel,
        )
        if answer != QtWidgets.QMessageBox.StandardButton.Yes:
            return False
        try:
            points, sweeps = store.clear()
        except StoreError as error:
            self._message(f"Cannot clear the sweep store: {error}", error=True)
            return False
        self.refresh_store_view()
        self._message(f"Cleared the sweep store: {points} points and {sweeps} sweeps deleted")
        return True

    @QtCore.Slot(int)
    def _on_tab_changed(self, index: int) -> None:
        if self.window.tabs.widget(index) is self.page:
            self.refresh_store_view()

    # -- worker reports ----------------------------------------------------------------------
    def _partial_result(self) -> SweepResult:
        assert self._spec is not None
        live = self._live
        return SweepResult(
            self._spec, live["values"].copy(), live["status"].copy(), live["seed_values"].copy(),
            live["computed"].copy(),
        )  # fmt: skip

    @QtCore.Slot(object)
    def _on_progress(self, report: SweepProgress) -> None:
        if self._spec is None or self.worker is None:
            return
        live = self._live
        for row, column, point in report.points:
            live["values"][row, column] = point.value
            live["status"][row, column] = point.status
            live["seed_values"][row, column] = point.seed_values
            live["computed"][row, column] = True
        if report.points:
            self.result = self._partial_result()
            self.plot.show_result(self.result, self.line)
        self.page.progress_bar.setValue(report.done)
        text = f"{report.done} of {report.total} points"
        if report.cached:
            text += f" ({report.cached} from the cache)"
        if report.done < report.total:
            if report.remaining_seconds is None:
                text += " · estimating the time left…"
            else:
                text += f" · {format_seconds(report.remaining_seconds)}"
        if not self.worker.cancel_event.is_set():
            self._message(text)

    @QtCore.Slot(object)
    def _on_line(self, answer: tuple[SweepSpec, CriticalLine]) -> None:
        spec, line = answer
        if self.result is None or self._spec is not spec:
            return  # another sweep is shown by now
        self.line = line
        self.plot.show_result(self.result, line)

    @QtCore.Slot(object)
    def _on_finished(self, result: SweepResult) -> None:
        self.result = result
        self.plot.show_result(result, self.line)
        page = self.page
        page.progress_bar.setValue(int(result.computed.sum()))
        seconds = f"{result.elapsed_seconds:.1f} s"
        if result.cancelled:
            text = f"Cancelled after {int(result.computed.sum())} of {result.spec.size} points ({seconds})"
        elif result.computed_points:
            text = (
                f"Done: {result.spec.size} points in {seconds}: {result.computed_points} computed on "
                f"{result.ran_on}, {result.cached_points} from the cache"
            )
        else:
            text = f"Done: all {result.spec.size} points from the cache ({seconds})"
        notes = self._line_notes()
        self._message(text + (f". {notes}" if notes else ""))
        if result.cache_error:
            self.window.statusBar().showMessage(
                f"The sweep store could not keep these points ({result.cache_error}); "
                "the result is complete, a repeat will compute them again",
                15000,
            )
        self._finish_thread()
        self.refresh_store_view()

    @QtCore.Slot(str)
    def _on_failed(self, message: str) -> None:
        self._message(f"The sweep failed: {message}", error=True)
        self.window.statusBar().showMessage(f"The sweep failed: {message}", 15000)
        self._finish_thread()

    def _finish_thread(self) -> None:
        sweep_worker, self._sweep = self._sweep, None
        self.worker_thread = self.worker = None
        if sweep_worker is not None:
            sweep_worker.stop()
        self.page.set_running(False)

    # -- display -----------------------------------------------------------------------------
    def _line_notes(self) -> str:
        line = self.line
        if line is None:
            return ""
        if not line.available:
            return f"No theory line: {line.reason}."
        return " ".join(note[:1].upper() + note[1:] + "." for note in line.notes)

    def _message(self, text: str, error: bool = False) -> None:
        label = self.page.progress_label
        label.setText(text)
        label.setStyleSheet("color: #b00020; font-weight: bold;" if error else "")

    def _show_base(self) -> None:
        base = self.base_config
        self.page.base_label.setText(describe_base(base))
        self.page.base_label.setToolTip(
            "Every grid point is this config with the two swept settings changed. Fields not swept "
            "stay as shown."
        )
        same = base == self.window.current_config()
        self.page.use_current_button.setText("Use current config" if not same else "Current config ✓")
        if self.worker_thread is None:
            self.page.use_current_button.setEnabled(not same)

    @QtCore.Slot(str)
    def _on_hovered(self, text: str) -> None:
        self.page.info_label.setText(
            text.replace("\n", " · ")
            if text
            else "Point at a cell for its numbers; click it to load its config into the Training tab."
        )

    @QtCore.Slot(object)
    def _on_run_restarted(self, config: SimConfig) -> None:
        del config
        self._show_base()

    # -- settings ----------------------------------------------------------------------------
    def _save_form(self) -> None:
        settings = self.window.settings
        for name, editor in (("x", self.page.x_editor), ("y", self.page.y_editor)):
            for key, value in editor.state().items():
                settings.setValue(f"{SETTINGS_PREFIX}{name}_{key}", value)
        settings.setValue(f"{SETTINGS_PREFIX}iterations", self.page.iterations_spin.value())
        settings.setValue(f"{SETTINGS_PREFIX}seeds", self.page.seeds_spin.value())
        settings.setValue(f"{SETTINGS_PREFIX}run_on", self.page.run_on_edit.text().strip())

    def _restore_form(self) -> None:
        settings = self.window.settings
        for name, editor, default_field in (
            ("x", self.page.x_editor, DEFAULT_AXES[0]),
            ("y", self.page.y_editor, DEFAULT_AXES[1]),
        ):
            field = str(settings.value(f"{SETTINGS_PREFIX}{name}_field", default_field))
            if field not in sweep.SWEEP_FIELDS:
                field = default_field
            low, high, count, spacing = DEFAULT_RANGES[field]
            editor.set_state(
                field,
                _number(settings.value(f"{SETTINGS_PREFIX}{name}_low"), low),
                _number(settings.value(f"{SETTINGS_PREFIX}{name}_high"), high),
                int(_number(settings.value(f"{SETTINGS_PREFIX}{name}_count"), count)),
                str(settings.value(f"{SETTINGS_PREFIX}{name}_spacing", spacing)),
            )
        self.page.iterations_spin.setValue(int(_number(settings.value(f"{SETTINGS_PREFIX}iterations"), 0)))
        self.page.seeds_spin.setValue(int(_number(settings.value(f"{SETTINGS_PREFIX}seeds"), DEFAULT_SEEDS)))
        self.page.run_on_edit.setText(str(settings.value(f"{SETTINGS_PREFIX}run_on", "") or ""))


def _number(value: object, default: float) -> float:
    """A stored setting as a finite number (INI files give strings; bad values give the default)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return number if math.isfinite(number) else default


def install(window: WindowAPI) -> SweepController:
    """Add the Sweep tab (Ctrl+3) and its Run menu entry."""
    return SweepController(window)
