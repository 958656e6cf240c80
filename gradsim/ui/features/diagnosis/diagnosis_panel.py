"""The Diagnosis dock and the theory line on the gradient plot.

The dock (``diagnosis_dock``, View ▸ Diagnosis panel, Ctrl+D, shown on first launch) reads the
run the way a practitioner reads the plots, with :func:`gradsim.engine.diagnosis.diagnose`:

- a verdict badge and one sentence with its numbers (for a non-finite run also where the first
  inf/NaN appeared: iteration, layer, time step, quantity);
- the evidence: first/last time step and layer ratios, the per-step rate, update:data ratios of
  the early and late weights, iteration-to-iteration instability, saturation;
- the theory box: per layer, the per-step factor mean-field theory predicts next to the measured
  one, and the depth span's per-layer factor (or why theory has none), and the classic
  sufficient condition ``sigma_max(W_hh) * max|f'| < 1`` per layer;
- one button per fix that applies to this run; clicking it starts a new run with
  ``fix.apply(config)`` and the panel compares the new run's diagnosis with the one before.

A config's first ``diagnose`` takes about 0.5 s for the presets and 3.5 s for 16 layers of 2000
steps (its fixes ask the theory about several candidate configs; the theory keeps the answers,
so later diagnoses of the config take milliseconds), so it runs in a separate process
(:mod:`gradsim.ui.features.diagnosis.diagnosis_process`), asked and waited for by a
:class:`DiagnosisJob` on its own worker thread (:mod:`gradsim.ui.common.workers`); closing the
window abandons a diagnosis in progress. The panel sends the worker a copy of the
newest :data:`~gradsim.engine.diagnosis.WINDOW` records at most every :data:`MIN_INTERVAL_MS`
(twice as long as the last diagnosis took, if that is longer), with one request in flight:
whatever arrived meanwhile goes in the next request, so the newest records always win. Results
of a run that was restarted since are dropped.

The theory lines: one dashed straight line per layer on the log axis of the ``||dL/dh_t||``
plot, in that layer's colour, anchored at the newest record's norm of that layer at the last step
and going back to step 1 with the per-step factor mean-field theory predicts for that layer's time
span (:func:`gradsim.engine.theory.predict_layers`, milliseconds to a second, so computed in the
process too, once per config). Where theory gives no number (batch norm, identity weights, a
non-finite record) a short text on the plot says why instead. View ▸ Theory line hides them;
the choice is kept in the settings.

The parts live beside this module: the words (:mod:`.diagnosis_text`), the worker's job
(:mod:`.diagnosis_job`), the theory lines (:mod:`.diagnosis_overlay`) and the widgets
(:mod:`.diagnosis_view`); this module holds the panel's logic and :func:`install`.
"""

from __future__ import annotations

import math
import time
from collections import deque
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from gradsim.engine.config import SimConfig
from gradsim.engine.diagnosis import WINDOW, Diagnosis, Fix
from gradsim.engine.history import RunHistory
from gradsim.engine.records import StepRecord
from gradsim.ui.common.config_diff import describe_difference
from gradsim.ui.common.widgets import vertical_scroll
from gradsim.ui.common.workers import Worker
from gradsim.ui.feature_api import WindowAPI
from gradsim.ui.features.diagnosis.diagnosis_job import DiagnosisJob, DiagnosisResult, Prediction
from gradsim.ui.features.diagnosis.diagnosis_overlay import TheoryOverlay
from gradsim.ui.features.diagnosis.diagnosis_view import Before, DiagnosisView

# A new diagnosis is asked for at most this often while records arrive.
MIN_INTERVAL_MS = 700
# ... and at least this many times as long as the last one took (one request in flight), so that
# the diagnosis process is busy at most half the time (a 16 x 2000 network's first takes 3.5 s).
INTERVAL_PER_DIAGNOSIS = 2.0
# The "now at iteration N" line follows the records at most this often: records arrive in many
# small batches (hundreds a second), and a label set for each repainted the dock between frames.
# Each new text also lays the panel out again (its labels wrap: 2-4 ms a time while a run trains).
PROGRESS_INTERVAL_MS = 1000
THEORY_LINE_KEY = "diagnosis/theory_line"
# The window's other parts need about 1070 px: at 1440 px the dock can be 360 px wide.
DOCK_MIN_WIDTH = 300
DOCK_WIDTH = 360


class DiagnosisPanel(DiagnosisView):
    """Verdict, evidence, theory and fixes for the window's run: records in, requests to the
    diagnosis worker out, answers shown (the widgets are :class:`DiagnosisView`'s).

    Parameters
    ----------
    window : the window (:class:`~gradsim.ui.feature_api.WindowAPI`)
    dock : the dock it sits in (no diagnosis is asked for while the user has hidden it)

    Attributes
    ----------
    result : the newest :class:`DiagnosisResult` of the current run (None before one)
    prediction : the theory's :class:`Prediction` for the current config (None until computed)
    before : the diagnosis kept from before the last change of settings (None if none)
    last_fix : the fix applied last and the config it produced (None before one)
    overlay : the :class:`TheoryOverlay`
    theory_action : View ▸ Theory line (checkable)
    worker, thread_ : the diagnosing :class:`~gradsim.ui.common.workers.Worker` and its thread
    requests : diagnoses asked for so far (for tests and the benchmark)
    """

    def __init__(self, window: WindowAPI, dock: QtWidgets.QDockWidget) -> None:
        super().__init__()
        self.setObjectName("diagnosis_panel")
        self.main_window = window
        self.dock = dock
        self.result: DiagnosisResult | None = None
        self.prediction: Prediction | None = None
        self.before: Before | None = None
        self.last_fix: tuple[Fix, SimConfig] | None = None
        self.requests = 0
        self._run = 0
        self._records: deque[StepRecord] = deque(maxlen=WINDOW)
        self._busy = False
        self._dirty = False
        self._last_sent = -math.inf
        self._interval_ms = float(MIN_INTERVAL_MS)
        self._pending_fix_label: str | None = None
        self._previous_result: DiagnosisResult | None = None
        self._closed = False
        self.fix_chosen.connect(self.apply_fix)

        theme = window.dashboard.theme
        plot, legend = window.overlay_plot("gradient")
        self.overlay = TheoryOverlay(plot, legend, theme)
        self.theory_action = QtGui.QAction("Theory line", self)
        self.theory_action.setCheckable(True)
        self.theory_action.setToolTip(
            "Show or hide the dashed lines of the per-step factor mean-field theory predicts for each "
            "layer on the ||dL/dh_t|| plot (in the layer's colour)"
        )
        self.theory_action.setStatusTip(self.theory_action.toolTip())
        shown = window.settings.value(THEORY_LINE_KEY, True)
        self.theory_action.setChecked(str(shown).lower() not in ("false", "0"))
        self.overlay.enabled = self.theory_action.isChecked()
        self.theory_action.toggled.connect(self._on_user_theory_line)

        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._send_if_due)
        self._latest_trained: int | None = None  # the newest iteration not yet shown
        self._progress_timer = QtCore.QTimer(self)
        self._progress_timer.setSingleShot(True)
        self._progress_timer.setInterval(PROGRESS_INTERVAL_MS)
        self._progress_timer.timeout.connect(self._show_latest_progress)

        self.job = DiagnosisJob()
        self.worker = Worker(self.job.run, name="gradsim-diagnosis")
        self.thread_ = self.worker.thread
        self.worker.yielded.connect(self._on_answer)
        self.worker.start()

        window.runner.recordsReady.connect(self._on_records)
        window.runRestarted.connect(self._on_run_restarted)
        window.dashboard.refreshed.connect(self._on_refreshed)
        window.closing.connect(self.shutdown)
        dock.visibilityChanged.connect(self._on_dock_visibility)
        self._show_waiting()
        self.job.current_config = window.current_config()
        self.worker.send(("predict", window.current_config()))

    # -- public ----------------------------------------------------------------------------------
    @property
    def diagnosis(self) -> Diagnosis | None:
        """The newest diagnosis of the current run (None before one)."""
        return None if self.result is None else self.result.diagnosis

    @property
    def is_busy(self) -> bool:
        """Whether a diagnosis is being computed."""
        return self._busy

    @property
    def request_interval_ms(self) -> float:
        """The least time between two requests: :data:`MIN_INTERVAL_MS`, or
        :data:`INTERVAL_PER_DIAGNOSIS` times the last diagnosis of this config after its first."""
        return self._interval_ms

    @QtCore.Slot()
    def shutdown(self) -> None:
        """Stop asking for diagnoses and end the worker thread (waits for one in progress)."""
        if self._closed:
            return
        self._closed = True
        self._timer.stop()
        self._progress_timer.stop()
        self.main_window.settings.setValue(THEORY_LINE_KEY, self.theory_action.isChecked())
        self.worker.stop()  # a diagnosis being waited for is abandoned within 50 ms

    def apply_fix(self, fix: Fix) -> None:
        """Start a new run with ``fix`` applied to the current config (what a fix button does)."""
        window = self.main_window
        try:
            config = fix.apply(window.current_config())
        except (ValueError, TypeError) as error:  # ConfigError, or a field this config does not have
            window.statusBar().showMessage(f"Could not apply “{fix.label}”: {error}", 10000)
            return
        self.last_fix = (fix, config)
        self._pending_fix_label = fix.label
        window.apply_config(config)
        # A paused run would show nothing to compare: take its first step at once.
        if not window.runner.is_running:
            window.runner.step()
        window.statusBar().showMessage(
            f"Applied: {fix.label}. The new run is compared with the last one.", 8000
        )

    # -- records in, requests out ----------------------------------------------------------------------
    @QtCore.Slot(object)
    def _on_records(self, records: list[StepRecord]) -> None:
        self._records.extend(records)
        self._dirty = True
        if records:
            # Shown within PROGRESS_INTERVAL_MS, once for all the batches that came meanwhile.
            self._latest_trained = records[-1].iteration
            if not self._progress_timer.isActive():
                self._progress_timer.start()
        self._send_if_due()

    @QtCore.Slot()
    def _show_latest_progress(self) -> None:
        if self._latest_trained is not None and not self._closed:
            self._show_progress(self._latest_trained)
        self._latest_trained = None

    def _show_progress(self, latest: int) -> None:
        self.show_progress(self.result, latest)

    @QtCore.Slot()
    def _send_if_due(self) -> None:
        if self._closed or self._busy or not self._dirty or not self._records or self.dock.isHidden():
            return
        waited_ms = (time.perf_counter() - self._last_sent) * 1e3
        if waited_ms < self._interval_ms:
            if not self._timer.isActive():
                self._timer.start(max(1, round(self._interval_ms - waited_ms)))
            return
        self._busy = True
        self._dirty = False
        self._last_sent = time.perf_counter()
        self.requests += 1
        # The records themselves are never changed once made; the list is the panel's own copy.
        self.worker.send(("diagnose", self._run, self.main_window.current_config(), list(self._records)))

    @QtCore.Slot(bool)
    def _on_dock_visibility(self, visible: bool) -> None:
        if visible:
            self._send_if_due()

    @QtCore.Slot(object)
    def _on_run_restarted(self, config: SimConfig) -> None:
        self._run += 1
        # The worker skips or abandons what it was asked for the old run (and the old config's
        # theory): the new run's first request is the next one it serves.
        self.job.current_run, self.job.current_config = self._run, config
        self._busy = False
        self._records.clear()
        self._dirty = False
        self._timer.stop()
        self._progress_timer.stop()
        self._latest_trained = None
        # A new run's first records are diagnosed at once: the user just changed something; its
        # first diagnosis may build the theory's tables (seconds) and does not set the interval.
        self._last_sent = -math.inf
        self._interval_ms = float(MIN_INTERVAL_MS)
        previous = self.result
        if previous is not None and previous.config != config:
            change = self._pending_fix_label or describe_difference(previous.config, config)
            self.before = Before(previous, change)
        self._pending_fix_label = None
        self.result = None
        if self.prediction is None or self.prediction.config != config:
            self.worker.send(("predict", config))
        self.overlay.clear()
        self._show_waiting()

    @QtCore.Slot(object)
    def _on_answer(self, answer: tuple[Any, ...]) -> None:
        kind, *payload = answer
        if kind == "diagnosed":
            self._on_diagnosed(*payload)
        elif kind == "predicted":
            self._on_predicted(*payload)
        else:
            self._on_failed(*payload)

    def _on_diagnosed(self, result: DiagnosisResult) -> None:
        if result.run != self._run or self._closed:
            return  # an older run's (its request no longer counts as in flight)
        self._busy = False
        if self.result is not None:
            # The first diagnosis of a config builds the theory's tables once (a second or more,
            # 15 s on a loaded machine): spacing the next one by it left the dock seconds behind.
            wanted = INTERVAL_PER_DIAGNOSIS * result.seconds * 1e3
            self._interval_ms = max(float(MIN_INTERVAL_MS), wanted)
        self.result = result
        self._show(result)
        self._update_overlay(self.main_window.history.latest)
        self._send_if_due()

    def _on_failed(self, run: int, message: str) -> None:
        if run != self._run or self._closed:
            return
        self._busy = False
        self.sentence.setText(message)
        self.main_window.statusBar().showMessage(message, 10000)
        self._send_if_due()

    def _on_predicted(self, prediction: Prediction) -> None:
        if self._closed or prediction.config != self.main_window.current_config():
            return
        self.prediction = prediction
        self._show_theory()
        self._update_overlay(self.main_window.history.latest)

    # -- the theory line ---------------------------------------------------------------------------------
    @QtCore.Slot(object, object)
    def _on_refreshed(self, history: RunHistory, config: SimConfig) -> None:
        del config
        self._update_overlay(history.latest)

    def _update_overlay(self, record: StepRecord | None) -> None:
        prediction = self.prediction
        current = prediction is not None and prediction.config == self.main_window.current_config()
        layers = prediction.layers if current and prediction is not None else None
        self.overlay.update(record, layers)

    @QtCore.Slot(bool)
    def _on_user_theory_line(self, shown: bool) -> None:
        self.overlay.enabled = shown
        self.main_window.settings.setValue(THEORY_LINE_KEY, shown)
        self._update_overlay(self.main_window.history.latest)

    # -- display ---------------------------------------------------------------------------------------
    def _show_waiting(self) -> None:
        self.show_waiting()
        self._show_comparison()
        self._show_theory()

    def _show(self, result: DiagnosisResult) -> None:
        latest = self.main_window.history.latest
        self.show_result(result, None if latest is None else latest.iteration)
        self._show_comparison()
        self._show_theory()

    def _show_comparison(self) -> None:
        self.show_comparison(self.before, self.diagnosis)

    def _show_theory(self) -> None:
        config = self.main_window.current_config()
        prediction = self.prediction
        layers = prediction.layers if prediction is not None and prediction.config == config else None
        self.show_theory(config, layers, self.diagnosis)


class DiagnosisFeature:
    """What :func:`install` returns.

    Attributes
    ----------
    dock : the ``diagnosis_dock``
    panel : the :class:`DiagnosisPanel`
    toggle_action : View ▸ Diagnosis panel (Ctrl+D)
    theory_action : View ▸ Theory line
    """

    def __init__(
        self, dock: QtWidgets.QDockWidget, panel: DiagnosisPanel, toggle_action: QtGui.QAction
    ) -> None:
        self.dock = dock
        self.panel = panel
        self.toggle_action = toggle_action
        self.theory_action = panel.theory_action


def install(window: WindowAPI) -> DiagnosisFeature:
    """Add the Diagnosis dock (right, shown), its View menu entries and the theory line."""
    dock = QtWidgets.QDockWidget("Diagnosis", window)
    dock.setObjectName("diagnosis_dock")
    areas = QtCore.Qt.DockWidgetArea
    dock.setAllowedAreas(areas.LeftDockWidgetArea | areas.RightDockWidgetArea)
    panel = DiagnosisPanel(window, dock)
    dock.setWidget(vertical_scroll(panel, "diagnosis_scroll"))
    dock.setMinimumWidth(DOCK_MIN_WIDTH)
    window.addDockWidget(areas.RightDockWidgetArea, dock)
    window.resizeDocks([dock], [DOCK_WIDTH], QtCore.Qt.Orientation.Horizontal)

    toggle = dock.toggleViewAction()
    toggle.setText("Diagnosis panel")
    toggle.setShortcut(
        QtGui.QKeySequence(QtCore.QKeyCombination(QtCore.Qt.Modifier.CTRL, QtCore.Qt.Key.Key_D))
    )
    toggle.setToolTip("Show or hide the diagnosis: verdict, evidence, theory and fixes (Ctrl+D)")
    toggle.setStatusTip(toggle.toolTip())
    window.addAction(toggle)
    window.view_menu.addAction(toggle)
    window.view_menu.addAction(panel.theory_action)
    return DiagnosisFeature(dock, panel, toggle)
