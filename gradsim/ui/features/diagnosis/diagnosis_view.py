"""The Diagnosis dock's widgets: they only display (badge, sentence, fixes, evidence, theory).

:class:`DiagnosisView` builds the dock's labels and boxes and shows what it is given: a
diagnosis, the fixes that apply (a click is :attr:`DiagnosisView.fix_chosen`, nothing more), the
comparison with the run before a change, and the theory table. It never asks for a diagnosis
and never changes the run; :class:`~gradsim.ui.features.diagnosis.diagnosis_panel.DiagnosisPanel`
decides what to show.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from PySide6 import QtCore, QtWidgets

from gradsim.engine import theory
from gradsim.engine.activations import make_activation
from gradsim.engine.config import SimConfig
from gradsim.engine.diagnosis import WINDOW, Diagnosis, Fix
from gradsim.engine.regime import DECADES_THRESHOLD
from gradsim.ui.common.config_diff import describe_difference
from gradsim.ui.common.widgets import text_label
from gradsim.ui.features.diagnosis.diagnosis_job import DiagnosisResult
from gradsim.ui.features.diagnosis.diagnosis_text import (
    GATED_BOUND_TEXT,
    bound_text,
    compare_diagnoses,
    config_change_text,
    describe_start,
    records_text,
    summary,
    theory_rows,
)

# Badge colours (white text), as the status bar's regime badge.
BADGE_COLORS = {
    "healthy": "#2e7d32",
    "vanishing": "#1565c0",
    "exploding": "#d84315",
    "non-finite": "#b00020",
    "waiting": "#616161",
}
WAITING_TEXT = "Waiting for the first training step: press Play (Space) or Step (→)."


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


class DiagnosisView(QtWidgets.QWidget):
    """The dock's labels and boxes, and what they show.

    Signals
    -------
    fix_chosen(Fix) : a fix button was clicked

    Attributes
    ----------
    badge, iteration_label, sentence, where_label, comparison : the header and verdict labels
    fix_box, fix_buttons, no_fix_label : the fixes (one QPushButton ``fix_<key>`` per fix)
    evidence : the evidence label
    span_names_label, predicted_label, measured_label, theory_note, bound_label : the theory box
    """

    fix_chosen = QtCore.Signal(object)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._shown_fixes: tuple[tuple[str, str, str], ...] = ()
        self._fixes: list[Fix] = []  # what the buttons stand for, in their order
        self._build()

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
        self.iteration_label = text_label("diagnosis_iteration")
        self.iteration_label.setAlignment(
            QtCore.Qt.AlignmentFlag.AlignVCenter | QtCore.Qt.AlignmentFlag.AlignRight
        )
        self.iteration_label.setToolTip(
            "The newest iteration diagnosed, and how many of the newest records the averaged signs "
            "(update:data ratios, instability) use"
        )
        header.addWidget(self.iteration_label, 1)
        layout.addLayout(header)

        self.sentence = text_label("diagnosis_sentence", scale=1.3, bold=True)
        self.sentence.setToolTip("The verdict, with the numbers it rests on")
        layout.addWidget(self.sentence)
        self.where_label = text_label("diagnosis_where", bold=True)
        self.where_label.setStyleSheet(
            "QLabel { background: #b00020; color: #ffffff; padding: 4px 6px; border-radius: 4px; }"
        )
        self.where_label.setToolTip(
            "Where the first inf/NaN appeared: iteration, layer, time step and quantity"
        )
        layout.addWidget(self.where_label)
        self.comparison = text_label("diagnosis_comparison")
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
        self.no_fix_label = text_label("diagnosis_no_fix")
        fix_layout.addWidget(self.no_fix_label)
        self.fix_layout = fix_layout
        self.fix_buttons: list[QtWidgets.QPushButton] = []
        layout.addWidget(self.fix_box)

        evidence_box = QtWidgets.QGroupBox("Evidence")
        evidence_box.setObjectName("diagnosis_evidence_box")
        evidence_layout = QtWidgets.QVBoxLayout(evidence_box)
        self.evidence = text_label("diagnosis_evidence")
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
        caption = text_label("theory_caption")
        caption.setText("Per-step factor of ||dL/dh|| through time in each layer; through depth per layer")
        grid.addWidget(caption, 0, 0, 1, 3)
        self.span_names_label = text_label("theory_spans")
        self.predicted_label = text_label("theory_predicted", bold=True)
        self.predicted_label.setToolTip(
            "What mean-field theory predicts for this activation, initialisation and weight scale, "
            "layer by layer: each layer has its own fixed point, fed by the layer below "
            "(docs/theory.md). The dashed lines on the ||dL/dh_t|| plot, in the layers' colours."
        )
        self.measured_label = text_label("theory_measured", bold=True)
        self.measured_label.setToolTip(
            "Measured on the newest diagnosed record: each layer's ratio of step 1 to step T, as a "
            "factor per step; depth: layer 1 over the top layer at the last step, per layer"
        )
        for column, (title, value) in enumerate(
            (("span", self.span_names_label), ("mean-field theory", self.predicted_label),
             ("measured", self.measured_label))
        ):  # fmt: skip
            heading = text_label(f"theory_heading_{column}")
            heading.setText(title)
            grid.addWidget(heading, 1, column)
            grid.addWidget(value, 2, column)
        self.theory_note = text_label("theory_note")
        grid.addWidget(self.theory_note, 3, 0, 1, 3)
        self.bound_label = text_label("theory_bound")
        self.bound_label.setToolTip(
            "Pascanu, Mikolov & Bengio (2013): ||dh_t/dh_t-1|| ≤ σmax(W_hh) × max|f′| (1/4 for sigmoid, "
            "1 for tanh and ReLU). Below 1 the gradient must vanish, whatever the data; at 1 or above the "
            "bound does not decide (the derivative is usually well below its maximum)."
        )
        grid.addWidget(self.bound_label, 4, 0, 1, 3)
        layout.addWidget(theory_box)
        layout.addStretch(1)

    # -- display ---------------------------------------------------------------------------------------
    def set_badge(self, regime: str) -> None:
        """The regime badge: ``regime`` in its colour (a style sheet change re-polishes the badge
        and lays the panel out again: only when the regime changes)."""
        if regime == self.badge.text():
            return
        self.badge.setText(regime)
        self.badge.setStyleSheet(
            f"QLabel {{ background: {BADGE_COLORS.get(regime, BADGE_COLORS['waiting'])}; color: #ffffff;"
            " border-radius: 4px; padding: 3px 12px; }"
        )

    def show_waiting(self) -> None:
        """No diagnosis of this run yet."""
        self.set_badge("waiting")
        self.iteration_label.setText("")
        self.sentence.setText(WAITING_TEXT)
        self.where_label.hide()
        self.evidence.setText("–")
        self.measured_label.setText("–")
        self.bound_label.setText("")
        self.set_fixes((), None, diagnosed=False)
        self.no_fix_label.setText("Fixes appear once the run is diagnosed.")

    def show_progress(self, result: DiagnosisResult | None, latest: int) -> None:
        """Say which iteration the text describes while training runs ahead of the diagnosis."""
        if result is None:
            if self.sentence.text() == WAITING_TEXT:
                self.sentence.setText(f"Diagnosing the run (iteration {latest})…")
            self.iteration_label.setText(f"now at iteration {latest}")
            return
        self.iteration_label.setText(records_text(result.iteration, result.count, WINDOW, latest))

    def show_result(self, result: DiagnosisResult, latest: int | None) -> None:
        """Badge, sentence, where it overflowed, evidence and fixes of ``result`` (``latest``:
        the newest iteration trained, None: none)."""
        diagnosis = result.diagnosis
        self.set_badge(diagnosis.regime)
        self.iteration_label.setText(records_text(result.iteration, result.count, WINDOW))
        if latest is not None and latest != result.iteration:
            self.show_progress(result, latest)
        self.sentence.setText(diagnosis.sentence)
        if diagnosis.nonfinite is not None:
            self.where_label.setText(f"Started at {describe_start(diagnosis.nonfinite)}")
            self.where_label.show()
        else:
            self.where_label.hide()
        self.evidence.setText("\n".join(f"• {line}" for line in diagnosis.evidence))
        self.set_fixes(diagnosis.fixes, result.config, diagnosed=True)

    def set_fixes(self, fixes: Sequence[Fix], config: SimConfig | None, *, diagnosed: bool) -> None:
        """One button per fix; ``diagnosed`` with none: "Nothing to fix".

        The buttons are made anew only when the kinds of fix change; a fix whose numbers moved
        (a shorter sequence of 12 steps instead of 11) keeps its button and gets the new text, so
        that a diagnosis while a run trains does not rebuild the panel.
        """
        if diagnosed and not fixes:
            self.no_fix_label.setText(
                "Nothing to fix: the gradient keeps its size from the last step to the first."
            )
        self.no_fix_label.setVisible(not fixes)
        shown = tuple((fix.key, fix.label, config_change_text(fix)) for fix in fixes)
        if shown == self._shown_fixes:
            return
        keys = [fix.key for fix in fixes]
        if keys != [key for key, _, _ in self._shown_fixes]:
            for button in self.fix_buttons:
                self.fix_layout.removeWidget(button)
                button.deleteLater()
            self.fix_buttons = []
            for index, fix in enumerate(fixes):
                button = QtWidgets.QPushButton()
                button.setObjectName(f"fix_{fix.key}")
                button.setAutoDefault(False)
                button.clicked.connect(lambda _checked=False, at=index: self.fix_chosen.emit(self._fixes[at]))
                self.fix_layout.addWidget(button)
                self.fix_buttons.append(button)
        self._shown_fixes, self._fixes = shown, list(fixes)
        for button, fix in zip(self.fix_buttons, fixes, strict=True):
            change = config_change_text(fix)
            differs = describe_difference(config, fix.apply(config)) if config is not None else change
            explanation, change_html, differs_html = (
                html.escape(text, quote=False) for text in (fix.explanation, change, differs)
            )
            button.setText(fix.label)
            button.setToolTip(
                f"<p>{explanation}</p><p><b>Config change:</b> {change_html}<br>({differs_html})</p>"
                "<p>Click to start a new run with this change; the panel then compares it with this run.</p>"
            )
            button.setStatusTip(f"{fix.label}: {change}")

    def show_comparison(self, before: Before | None, now: Diagnosis | None) -> None:
        """This run against the one before the last change (hidden when there is none)."""
        if before is None:
            self.comparison.hide()
            return
        lines = [f"Change: {before.change}", f"before: {summary(before.result.diagnosis)}"]
        if now is None:
            lines.append("now: waiting for the new run's first step")
        else:
            _, verdict = compare_diagnoses(before.result.diagnosis, now)
            lines.append(f"now: {summary(now)}")
            lines.append(verdict)
        self.comparison.setText("\n".join(lines))
        self.comparison.show()

    def show_theory(
        self,
        config: SimConfig,
        prediction: theory.LayerPrediction | theory.NotApplicable | None,
        diagnosis: Diagnosis | None,
    ) -> None:
        """The theory box for ``config``: the predicted and measured factors per layer (the
        diagnosis's own comparison once there is one, else ``prediction``; None: computing), and
        the sufficient condition."""
        comparison = diagnosis.signs.layer_theory if diagnosis is not None else None
        layers = comparison.predicted if comparison is not None else prediction
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
        if config.cell != "rnn":
            # As the engine's evidence: the bound is the vanilla RNN's (diag(f') W_hh).
            self.bound_label.setText(GATED_BOUND_TEXT)
            return
        bound = make_activation(config.activation, config.leaky_slope).max_derivative
        self.bound_label.setText(bound_text(diagnosis.signs.bound_products, bound))
