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

``diagnose`` takes about 0.3 s for the presets and over a minute for 16 layers of 2000 steps
(its fixes ask the theory for the critical weight scale of several candidate configs), so it
runs in a separate process (:mod:`gradsim.ui.features.diagnosis.diagnosis_process`), asked and
waited for by a :class:`DiagnosisJob` on its own worker thread (:mod:`gradsim.ui.common.workers`);
closing the window abandons a diagnosis in progress. The panel sends the worker a copy of the
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
"""

from __future__ import annotations

import html
import math
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

# isort: split
import pyqtgraph as pg

from gradsim.engine import theory
from gradsim.engine.activations import make_activation
from gradsim.engine.config import SimConfig
from gradsim.engine.diagnosis import WINDOW, Diagnosis, Fix
from gradsim.engine.formatting import format_number
from gradsim.engine.history import RunHistory
from gradsim.engine.records import NonFiniteEvent, StepRecord
from gradsim.engine.regime import DECADES_THRESHOLD
from gradsim.ui.common.config_diff import describe_difference
from gradsim.ui.common.theme import Theme
from gradsim.ui.common.workers import JobContext, Worker
from gradsim.ui.feature_api import WindowAPI
from gradsim.ui.features.diagnosis.diagnosis_process import SERVER, DiagnosisCancelled
from gradsim.ui.training.plots.base import OverlayText

# A new diagnosis is asked for at most this often while records arrive.
MIN_INTERVAL_MS = 700
# ... and at least this many times as long as the last one took (one request in flight), so that
# the diagnosis process is busy at most half the time (a 16 x 2000 network takes over a minute).
INTERVAL_PER_DIAGNOSIS = 2.0
THEORY_LINE_KEY = "diagnosis/theory_line"
# The window's other parts need about 1070 px: at 1440 px the dock can be 360 px wide.
DOCK_MIN_WIDTH = 300
DOCK_WIDTH = 360
# Badge colours (white text), as the status bar's regime badge.
BADGE_COLORS = {
    "healthy": "#2e7d32",
    "vanishing": "#1565c0",
    "exploding": "#d84315",
    "non-finite": "#b00020",
    "waiting": "#616161",
}
WAITING_TEXT = "Waiting for the first training step: press Play (Space) or Step (→)."


# -- formatting ----------------------------------------------------------------------------------


def format_factor(value: float | None) -> str:
    """A per-step factor: ``×0.225`` (``–`` when there is none)."""
    if value is None or not math.isfinite(value):
        return "–"
    return f"×{format_number(value)}"


def describe_start(event: NonFiniteEvent) -> str:
    """Where a run first turned non-finite: ``"iteration 2 · layer 1 · time step 9 · hidden state"``."""
    parts = [f"iteration {event.iteration}"]
    if event.layer is not None:
        parts.append(f"layer {event.layer + 1}")
    if event.time_step is not None:
        parts.append(f"time step {event.time_step + 1}")
    parts.append(event.quantity if event.parameter is None else f"{event.quantity} {event.parameter}")
    return " · ".join(parts)


def config_change_text(fix: Fix) -> str:
    """The fix's exact change: ``"activation = 'relu', weight_scale = 0.977"``."""
    return ", ".join(f"{name} = {value!r}" for name, value in fix.changes.items())


def theory_line_values(log10_anchor: float, factor: float, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """The theory line ``anchor * factor ** (T - t)`` for ``t = 1..T``, as log10 values (the
    gradient plot draws log10 norms: the line continues below float64 as the curves do).

    Parameters
    ----------
    log10_anchor : measured ``log10 ||dL/dh||`` at the last step of the top layer (finite)
    factor : predicted per-step factor backwards in time (> 0)
    seq_len : T

    Returns
    -------
    steps : (T,) float64 ``1..T``
    log10_norms : (T,) float64, ``log10_anchor + (T - t) log10(factor)``
    """
    steps = np.arange(1, seq_len + 1, dtype=np.float64)
    return steps, log10_anchor + (seq_len - steps) * math.log10(factor)


def theory_rows(
    num_layers: int,
    prediction: theory.LayerPrediction | theory.NotApplicable | None,
    comparison: theory.LayerComparison | None,
) -> tuple[list[str], list[str], list[str]]:
    """The theory box's three columns, one row per layer and one for depth (two layers or more).

    Returns
    -------
    (names, predicted, measured) : ``"layer 1"``... ``"depth"``; ``"×0.959"`` or ``"–"``
    """
    names = [f"layer {k + 1}" for k in range(num_layers)]
    predicted = ["–"] * num_layers
    measured = ["–"] * num_layers
    if num_layers > 1:
        names.append("depth")
        predicted.append("–")
        measured.append("–")
    if isinstance(prediction, theory.LayerPrediction) and prediction.step_factors.shape[0] == num_layers:
        predicted[:num_layers] = [format_factor(float(f)) for f in prediction.step_factors]
        if num_layers > 1:
            predicted[-1] = format_factor(prediction.depth_factor)
    if comparison is not None and comparison.measured.num_layers == num_layers:
        spans = comparison.measured
        measured[:num_layers] = [format_factor(float(f)) for f in spans.time_factors]
        if num_layers > 1:
            measured[-1] = format_factor(spans.depth_factor)
    return names, predicted, measured


# -- the worker ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiagnosisResult:
    """A diagnosis with what it was made from.

    Attributes
    ----------
    run : the panel's run number the records belong to
    config : the config of that run
    diagnosis : what :func:`diagnose` returned
    iteration : the newest record's iteration
    count : how many records were diagnosed
    seconds : how long ``diagnose`` took
    """

    run: int
    config: SimConfig
    diagnosis: Diagnosis
    iteration: int
    count: int
    seconds: float


@dataclass(frozen=True)
class Prediction:
    """Mean-field theory per layer for one config.

    Attributes
    ----------
    config : the config
    layers : :func:`gradsim.engine.theory.predict_layers` of it (``NotApplicable`` says why not)
    seconds : how long the prediction took
    """

    config: SimConfig
    layers: theory.LayerPrediction | theory.NotApplicable
    seconds: float

    @property
    def factors(self) -> np.ndarray | None:
        """(L,) predicted per-step factor of each layer's time span (None: no theory)."""
        layers = self.layers
        return layers.step_factors if isinstance(layers, theory.LayerPrediction) else None

    @property
    def factor(self) -> float | None:
        """The top layer's predicted per-step factor (None: no theory)."""
        factors = self.factors
        return None if factors is None else float(factors[-1])

    @property
    def reason(self) -> str | None:
        """``"not applicable: ..."`` when theory has no prediction (None when it has one)."""
        layers = self.layers
        return str(layers) if isinstance(layers, theory.NotApplicable) else None


class DiagnosisJob:
    """Asks :data:`SERVER` for diagnoses and theory predictions: the diagnosis worker's job.

    Commands (:meth:`Worker.send`): ``("diagnose", run, config, records)`` and ``("predict",
    config)``, answered in order with the messages ``("diagnosed", DiagnosisResult)``,
    ``("predicted", Prediction)`` or ``("failed", run, message)`` (diagnose raised or its process
    failed; the message says why in words). Stopping the worker abandons a diagnosis being
    waited for within 50 ms (its process is ended by the next request, or at exit).

    Attributes
    ----------
    current_run, current_config : the panel's run number and config, written by the GUI thread
        when the run restarts. A request for another run or config is stale: skipped if still
        queued, abandoned within 50 ms if running, so a new config's first diagnosis never
        waits behind the last config's theory table or diagnosis.
    """

    def run(self, context: JobContext) -> None:
        """Answer commands until the worker stops (on the worker thread)."""
        while True:
            command = context.next_command()
            if command is None:
                continue
            try:
                if command[0] == "diagnose":  # type: ignore[index]
                    self._diagnose(context, *command[1:])  # type: ignore[index]
                else:
                    self._predict(context, command[1])  # type: ignore[index]
            except DiagnosisCancelled:
                if context.is_cancelled():
                    return
                # Abandoned because a newer run or config made it stale: serve the next command.

    def __init__(self) -> None:
        self.current_run = 0
        self.current_config: SimConfig | None = None

    def _diagnose(
        self, context: JobContext, run: int, config: SimConfig, records: Sequence[StepRecord]
    ) -> None:
        def stale() -> bool:
            return context.is_cancelled() or run != self.current_run

        if stale():
            return
        try:
            diagnosis, seconds = SERVER.diagnose(config, records, stale)
        except DiagnosisCancelled:
            raise
        except Exception as error:  # the panel must hear back, whatever went wrong
            context.emit(("failed", run, f"The diagnosis failed: {error}"))
            return
        result = DiagnosisResult(run, config, diagnosis, records[-1].iteration, len(records), seconds)
        context.emit(("diagnosed", result))

    def _predict(self, context: JobContext, config: SimConfig) -> None:
        def stale() -> bool:
            return context.is_cancelled() or config != self.current_config

        if stale():
            return
        layers: theory.LayerPrediction | theory.NotApplicable
        try:
            layers, seconds = SERVER.predict(config, stale)
        except DiagnosisCancelled:
            raise
        except Exception as error:  # as above
            layers, seconds = theory.NotApplicable(f"the theory failed for this config: {error}"), 0.0
        context.emit(("predicted", Prediction(config, layers, seconds)))


# -- the theory line ------------------------------------------------------------------------------


class TheoryOverlay:
    """The dashed theory lines (one per layer, in the layer's colour) on the gradient plot.

    Attributes
    ----------
    plot : the gradient plot's PlotItem (log y)
    lines : one PlotDataItem per layer created so far; ``lines[k].getOriginalDataset()`` gives
        the raw ``(steps, norms)`` of layer k's line: its two ends, step 1 (or the first step
        whose value does not underflow) and step T
    label : the legend text while lines are shown (``"theory: ×0.959, ×0.856/step"``; from
        three layers on ``"theory, per layer"``), attached to the first line
    reason_text : the text shown on the plot in place of the lines when theory has no number
        (``"theory: not applicable: batch norm"``; empty otherwise; the whole reason is in the
        theory box)
    """

    def __init__(self, plot: pg.PlotItem, legend: pg.LegendItem | None, theme: Theme) -> None:
        self.plot = plot
        self.legend = legend
        self.theme = theme
        self.lines: list[pg.PlotDataItem] = []
        # Top right: the plot's own messages take the left corners, its legend the bottom right.
        self.reason = OverlayText(plot, theme, "top-right", theme.note)
        self.reason.setObjectName("theory_reason")
        self.label = ""
        self.reason_text = ""
        self.enabled = True

    def _line(self, layer: int) -> pg.PlotDataItem:
        while len(self.lines) <= layer:
            pen = self.theme.pen(self.theme.layer_color(len(self.lines)), 2.0, dashed=True)
            line = pg.PlotDataItem(pen=pen, connect="finite")
            line.setObjectName(f"theory_line_{len(self.lines)}")
            line.setZValue(5)
            # A line may run far outside the measured curves (theory wrong, or a different
            # regime): the y range keeps following the data.
            self.plot.addItem(line, ignoreBounds=True)
            self.lines.append(line)
        return self.lines[layer]

    @property
    def line(self) -> pg.PlotDataItem | None:
        """The top layer's line (None before one was drawn)."""
        shown = [line for line in self.lines if line.isVisible()]
        return shown[-1] if shown else None

    def _in_legend(self, item: pg.PlotDataItem) -> bool:
        return self.legend is not None and any(sample.item is item for sample, _ in self.legend.items)

    def update(
        self,
        record: StepRecord | None,
        prediction: theory.LayerPrediction | theory.NotApplicable | None,
    ) -> None:
        """Draw each layer's line for ``record`` with the predicted factors, or the reason why not.

        Parameters
        ----------
        record : the newest record (None: nothing to draw)
        prediction : :func:`theory.predict_layers` of the run's config (None: not computed yet)
        """
        if not self.enabled or record is None or prediction is None:
            self.clear()
            return
        comparison = theory.compare_layers(prediction, record.log10_grad_norms)
        if isinstance(comparison.predicted, theory.NotApplicable):
            self.clear()
            self.reason_text = f"theory: {comparison.predicted.label}"
            self.reason.show_text(self.reason_text)
            self.reason.setToolTip(str(comparison.predicted))
            return
        assert isinstance(prediction, theory.LayerPrediction)
        factors = prediction.step_factors
        log10_norms = record.log10_grad_norms
        layers, steps = log10_norms.shape
        for layer in range(layers):
            line = self._line(layer)
            anchor, factor = float(log10_norms[layer, -1]), float(factors[layer])
            if not (math.isfinite(anchor) and math.isfinite(factor) and factor > 0):
                # An exact 0 (log10 -inf) or a non-finite end has no line to anchor.
                line.setData([], [])
                line.setVisible(False)
                continue
            xs, ys = theory_line_values(anchor, factor, steps)
            # A straight line on the log axis: its two ends draw it (16 dashed lines of 2000
            # points each cost a frame its budget). In log10 values both ends always exist.
            line.setData(xs[[0, -1]], ys[[0, -1]])
            line.setVisible(True)
        for line in self.lines[layers:]:
            line.setData([], [])
            line.setVisible(False)
        self.reason_text = ""
        self.reason.show_text("")
        # Short: a legend wider than the plot is cut off at its left edge. The measured factors
        # stand next to the predicted ones in the diagnosis' theory box.
        if layers <= 2:
            label = f"theory: {', '.join(format_factor(float(f)) for f in factors)}/step"
        else:
            label = "theory, per layer"
        if self.legend is None:
            self.label = label
            return
        first = self.lines[0]
        # The gradient plot rebuilds its legend when the layer count changes: add back if gone.
        if label != self.label or not self._in_legend(first):
            self.legend.removeItem(first)
            self.legend.addItem(first, label)
        self.label = label

    def clear(self) -> None:
        """Hide the lines, their legend entry and the reason."""
        for line in self.lines:
            line.setData([], [])
            line.setVisible(False)
            if self.legend is not None and self._in_legend(line):
                self.legend.removeItem(line)
        self.reason.show_text("")
        self.reason_text = ""
        self.label = ""


# -- the panel -----------------------------------------------------------------------------------


def _label(object_name: str, *, scale: float = 1.0, bold: bool = False) -> QtWidgets.QLabel:
    label = QtWidgets.QLabel()
    label.setObjectName(object_name)
    label.setWordWrap(True)
    label.setTextFormat(QtCore.Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setAlignment(QtCore.Qt.AlignmentFlag.AlignTop | QtCore.Qt.AlignmentFlag.AlignLeft)
    if scale != 1.0 or bold:
        font = label.font()
        font.setPointSizeF(font.pointSizeF() * scale)
        font.setBold(bold)
        label.setFont(font)
    return label


@dataclass(frozen=True)
class Before:
    """The diagnosis of the run before a change, kept to compare the new run with.

    Attributes
    ----------
    result : its last diagnosis
    change : what changed, in words (a fix's label, or the settings that differ)
    """

    result: DiagnosisResult
    change: str


def _summary(diagnosis: Diagnosis) -> str:
    """``"vanishing, 5.30e-64 through time in layer 2, ×0.22954 per step"``: the extreme span."""
    span = diagnosis.signs.measure.extreme
    parts = [diagnosis.regime]
    if span is not None and not math.isnan(span.decades):
        parts.append(f"{span.ratio_text()} {span.name()}")
        if span.zero_at is None:
            parts.append(f"×{span.factor_text()} per {span.unit}")
    return ", ".join(parts)


def _extreme_decades(diagnosis: Diagnosis) -> float:
    """|decades| of the extreme span (the regime's measure); NaN without one."""
    return abs(diagnosis.signs.measure.decades)


def compare_diagnoses(before: Diagnosis, now: Diagnosis) -> tuple[bool, str]:
    """Whether ``now`` is strictly better than ``before``, and the verdict in words.

    Better means: healthy where it was not, finite where it overflowed, or the change of the
    gradient over its most extreme span (in decades, ``signs.measure.decades``, the measure the
    regime is decided on) strictly closer to none.
    """
    was_finite = before.regime != "non-finite"
    is_finite = now.regime != "non-finite"
    old, new = _extreme_decades(before), _extreme_decades(now)
    gain = old - new if math.isfinite(old) and math.isfinite(new) else math.nan
    if not is_finite and was_finite:
        return False, "worse: the run overflows now"
    if is_finite and not was_finite:
        extra = f", and {gain:.1f} decades closer to no change" if math.isfinite(gain) and gain > 0 else ""
        return True, f"better: the run stays finite now{extra}"
    if now.regime == "healthy" and before.regime != "healthy":
        return True, f"fixed: healthy now ({abs(gain):.1f} decades closer to no change)"
    if not math.isfinite(old) and math.isfinite(new):
        return True, "better: the gradient reaches step 1 now"
    if math.isfinite(gain) and gain > 0:
        return True, f"better: {gain:.1f} decades closer to no change"
    if math.isfinite(gain):
        return False, f"not better: {-gain:.1f} decades further from no change"
    return False, "not better"


class DiagnosisPanel(QtWidgets.QWidget):
    """Verdict, evidence, theory and fixes for the window's run.

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
        self._shown_fixes: tuple[tuple[str, str, str], ...] = ()
        self._closed = False
        self._build()

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

    # -- construction ------------------------------------------------------------------------------
    def _build(self) -> None:
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.setSpacing(8)

        header = QtWidgets.QHBoxLayout()
        self.badge = QtWidgets.QLabel()
        self.badge.setObjectName("diagnosis_badge")
        self.badge.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        font = self.badge.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        self.badge.setFont(font)
        self.badge.setMinimumWidth(self.badge.fontMetrics().horizontalAdvance("non-finite") + 28)
        self.badge.setToolTip(
            f"The regime: vanishing or exploding when the gradient changes by more than "
            f"{DECADES_THRESHOLD:g} decades along one of its spans — back through time in any layer "
            "(step 1 over the last step), or down the layers at the last step (layer 1 over the top)"
        )
        header.addWidget(self.badge)
        self.iteration_label = _label("diagnosis_iteration")
        self.iteration_label.setAlignment(
            QtCore.Qt.AlignmentFlag.AlignVCenter | QtCore.Qt.AlignmentFlag.AlignRight
        )
        self.iteration_label.setToolTip(
            "The newest iteration diagnosed, and how many of the newest records the averaged signs "
            "(update:data ratios, instability) use"
        )
        header.addWidget(self.iteration_label, 1)
        layout.addLayout(header)

        self.sentence = _label("diagnosis_sentence", scale=1.3, bold=True)
        self.sentence.setToolTip("The verdict, with the numbers it rests on")
        layout.addWidget(self.sentence)
        self.where_label = _label("diagnosis_where", bold=True)
        self.where_label.setStyleSheet(
            "QLabel { background: #b00020; color: #ffffff; padding: 4px 6px; border-radius: 4px; }"
        )
        self.where_label.setToolTip(
            "Where the first inf/NaN appeared: iteration, layer, time step and quantity"
        )
        layout.addWidget(self.where_label)
        self.comparison = _label("diagnosis_comparison")
        self.comparison.setStyleSheet(
            "QLabel { border: 1px solid palette(mid); border-radius: 4px; padding: 4px 6px; }"
        )
        self.comparison.setToolTip("This run against the one before the last change of settings")
        layout.addWidget(self.comparison)

        self.fix_box = QtWidgets.QGroupBox("Try a fix")
        self.fix_box.setObjectName("diagnosis_fixes")
        self.fix_box.setToolTip("Each button starts a new run with one change; the panel then compares")
        fix_layout = QtWidgets.QVBoxLayout(self.fix_box)
        fix_layout.setSpacing(4)
        self.no_fix_label = _label("diagnosis_no_fix")
        fix_layout.addWidget(self.no_fix_label)
        self.fix_layout = fix_layout
        self.fix_buttons: list[QtWidgets.QPushButton] = []
        layout.addWidget(self.fix_box)

        evidence_box = QtWidgets.QGroupBox("Evidence")
        evidence_box.setObjectName("diagnosis_evidence_box")
        evidence_layout = QtWidgets.QVBoxLayout(evidence_box)
        self.evidence = _label("diagnosis_evidence")
        self.evidence.setToolTip(
            "The signs practitioners look for: ratios between the first and last time step and layer, "
            "the per-step rate, update:data ratios, iteration-to-iteration jumps, saturation"
        )
        evidence_layout.addWidget(self.evidence)
        layout.addWidget(evidence_box)

        theory_box = QtWidgets.QGroupBox("Theory")
        theory_box.setObjectName("diagnosis_theory_box")
        grid = QtWidgets.QGridLayout(theory_box)
        grid.setHorizontalSpacing(12)
        caption = _label("theory_caption")
        caption.setText("Per-step factor of ||dL/dh|| through time in each layer; through depth per layer")
        grid.addWidget(caption, 0, 0, 1, 3)
        self.span_names_label = _label("theory_spans")
        self.predicted_label = _label("theory_predicted", bold=True)
        self.predicted_label.setToolTip(
            "What mean-field theory predicts for this activation, initialisation and weight scale, "
            "layer by layer: each layer has its own fixed point, fed by the layer below "
            "(docs/theory.md). The dashed lines on the ||dL/dh_t|| plot, in the layers' colours."
        )
        self.measured_label = _label("theory_measured", bold=True)
        self.measured_label.setToolTip(
            "Measured on the newest diagnosed record: each layer's ratio of step 1 to step T, as a "
            "factor per step; depth: layer 1 over the top layer at the last step, per layer"
        )
        for column, (title, value) in enumerate(
            (("span", self.span_names_label), ("mean-field theory", self.predicted_label),
             ("measured", self.measured_label))
        ):  # fmt: skip
            heading = _label(f"theory_heading_{column}")
            heading.setText(title)
            grid.addWidget(heading, 1, column)
            grid.addWidget(value, 2, column)
        self.theory_note = _label("theory_note")
        grid.addWidget(self.theory_note, 3, 0, 1, 3)
        self.bound_label = _label("theory_bound")
        self.bound_label.setToolTip(
            "Pascanu, Mikolov & Bengio (2013): ||dh_t/dh_t-1|| ≤ σmax(W_hh) × max|f′| (1/4 for sigmoid, "
            "1 for tanh and ReLU). Below 1 the gradient must vanish, whatever the data; at 1 or above the "
            "bound does not decide (the derivative is usually well below its maximum)."
        )
        grid.addWidget(self.bound_label, 4, 0, 1, 3)
        layout.addWidget(theory_box)
        layout.addStretch(1)

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
            self._show_progress(records[-1].iteration)
        self._send_if_due()

    def _show_progress(self, latest: int) -> None:
        """Say which iteration the text describes while training runs ahead of the diagnosis."""
        result = self.result
        if result is None:
            if self.sentence.text() == WAITING_TEXT:
                self.sentence.setText(f"Diagnosing the run (iteration {latest})…")
            self.iteration_label.setText(f"now at iteration {latest}")
            return
        averaged = min(result.count, WINDOW)
        text = f"iteration {result.iteration} · {averaged} record{'s' if averaged != 1 else ''}"
        if latest != result.iteration:
            text += f" · now {latest}"
        self.iteration_label.setText(text)

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
    def _set_badge(self, regime: str) -> None:
        self.badge.setText(regime)
        self.badge.setStyleSheet(
            f"QLabel {{ background: {BADGE_COLORS.get(regime, BADGE_COLORS['waiting'])}; color: #ffffff;"
            " border-radius: 4px; padding: 3px 12px; }"
        )

    def _show_waiting(self) -> None:
        self._set_badge("waiting")
        self.iteration_label.setText("")
        self.sentence.setText(WAITING_TEXT)
        self.where_label.hide()
        self.evidence.setText("–")
        self.measured_label.setText("–")
        self.bound_label.setText("")
        self._set_fixes((), None)
        self.no_fix_label.setText("Fixes appear once the run is diagnosed.")
        self._show_comparison()
        self._show_theory()

    def _show(self, result: DiagnosisResult) -> None:
        diagnosis = result.diagnosis
        self._set_badge(diagnosis.regime)
        averaged = min(result.count, WINDOW)
        self.iteration_label.setText(
            f"iteration {result.iteration} · {averaged} record{'s' if averaged != 1 else ''}"
        )
        latest = self.main_window.history.latest
        if latest is not None and latest.iteration != result.iteration:
            self._show_progress(latest.iteration)
        self.sentence.setText(diagnosis.sentence)
        if diagnosis.nonfinite is not None:
            self.where_label.setText(f"Started at {describe_start(diagnosis.nonfinite)}")
            self.where_label.show()
        else:
            self.where_label.hide()
        self.evidence.setText("\n".join(f"• {line}" for line in diagnosis.evidence))
        self._set_fixes(diagnosis.fixes, result.config)
        self._show_comparison()
        self._show_theory()

    def _set_fixes(self, fixes: Sequence[Fix], config: SimConfig | None) -> None:
        if self.result is not None and not fixes:
            self.no_fix_label.setText(
                "Nothing to fix: the gradient keeps its size from the last step to the first."
            )
        self.no_fix_label.setVisible(not fixes)
        shown = tuple((fix.key, fix.label, config_change_text(fix)) for fix in fixes)
        if shown == self._shown_fixes:
            return
        self._shown_fixes = shown
        for button in self.fix_buttons:
            self.fix_layout.removeWidget(button)
            button.deleteLater()
        self.fix_buttons = []
        for fix in fixes:
            button = QtWidgets.QPushButton(fix.label)
            button.setObjectName(f"fix_{fix.key}")
            button.setAutoDefault(False)
            change = config_change_text(fix)
            differs = describe_difference(config, fix.apply(config)) if config is not None else change
            explanation, change_html, differs_html = (
                html.escape(text, quote=False) for text in (fix.explanation, change, differs)
            )
            button.setToolTip(
                f"<p>{explanation}</p><p><b>Config change:</b> {change_html}<br>({differs_html})</p>"
                "<p>Click to start a new run with this change; the panel then compares it with this run.</p>"
            )
            button.setStatusTip(f"{fix.label}: {change}")
            button.clicked.connect(lambda _checked=False, chosen=fix: self.apply_fix(chosen))
            self.fix_layout.addWidget(button)
            self.fix_buttons.append(button)

    def _show_comparison(self) -> None:
        before = self.before
        if before is None:
            self.comparison.hide()
            return
        lines = [f"Change: {before.change}", f"before: {_summary(before.result.diagnosis)}"]
        if self.diagnosis is None:
            lines.append("now: waiting for the new run's first step")
        else:
            _, verdict = compare_diagnoses(before.result.diagnosis, self.diagnosis)
            lines.append(f"now: {_summary(self.diagnosis)}")
            lines.append(verdict)
        self.comparison.setText("\n".join(lines))
        self.comparison.show()

    def _show_theory(self) -> None:
        config = self.main_window.current_config()
        prediction = (
            self.prediction if self.prediction is not None and self.prediction.config == config else None
        )
        diagnosis = self.diagnosis
        comparison = diagnosis.signs.layer_theory if diagnosis is not None else None
        if comparison is not None:
            layers: theory.LayerPrediction | theory.NotApplicable | None = comparison.predicted
        else:
            layers = prediction.layers if prediction is not None else None
        names, predicted, measured = theory_rows(config.num_layers, layers, comparison)
        self.span_names_label.setText("\n".join(names))
        self.predicted_label.setText("\n".join(predicted))
        self.measured_label.setText("\n".join(measured))
        if layers is None:
            self.theory_note.setText("Computing the prediction…")
        elif isinstance(layers, theory.NotApplicable):
            self.theory_note.setText(f"No mean-field prediction: {layers.reason}.")
        else:
            balanced = diagnosis.signs.balanced_weight_scale if diagnosis is not None else None
            note = "Dashed on the ||dL/dh_t|| plot, one line per layer (the untrained network)."
            if balanced is not None:
                note += (
                    f" The most extreme span is predicted at 0 decades at weight scale {balanced:.3g} "
                    f"(now {config.weight_scale:g})."
                )
            self.theory_note.setText(note)
        if diagnosis is None:
            self.bound_label.setText("")
            return
        products = diagnosis.signs.bound_products
        bound = make_activation(config.activation, config.leaky_slope).max_derivative
        lines = [f"Vanishing is certain where σmax(W_hh) × max|f′| < 1 (max|f′| = {bound:g}):"]
        for layer, product in enumerate(products):
            if not math.isfinite(product):
                lines.append(f"layer {layer + 1}: not finite")
                continue
            verdict = "< 1, vanishes" if product < 1 else "≥ 1, undecided"
            lines.append(f"layer {layer + 1}: {product / bound:.3g} × {bound:g} = {product:.3g} ({verdict})")
        self.bound_label.setText("\n".join(lines))


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
    scroll = QtWidgets.QScrollArea()
    scroll.setObjectName("diagnosis_scroll")
    scroll.setWidgetResizable(True)
    scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
    scroll.setWidget(panel)
    dock.setWidget(scroll)
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
