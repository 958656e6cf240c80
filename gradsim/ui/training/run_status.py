"""What the status bar says about the run: iteration, loss, the extreme span's ratio, the badge.

:func:`regime_status` derives the texts from the engine's one regime measure
(:func:`gradsim.engine.regime.measure`); :class:`RunStatus` owns the status bar's permanent
labels and shows a record in them.
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from gradsim.engine.formatting import format_number
from gradsim.engine.records import StepRecord
from gradsim.engine.regime import DECADES_THRESHOLD, RegimeMeasure, measure
from gradsim.ui.common.widgets import SteadyLabel

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


class RunStatus:
    """The status bar's permanent labels, added to ``bar`` (which owns them).

    Attributes
    ----------
    iteration, loss, ratio : the labels "iteration 3", "loss 0.6931", "gradient, depth: 0.712"
    badge : the healthy / vanishing / exploding / non-finite / idle badge
    """

    def __init__(self, bar: QtWidgets.QStatusBar) -> None:
        # Sizes fixed for the longest text each label shows (SteadyLabel), so that changing
        # numbers never re-lay out the window (which would repaint the plots as well).
        self.iteration = SteadyLabel("iteration 00000000", 6)
        self.loss = SteadyLabel("loss -0.000e+000", 6)
        self.ratio = SteadyLabel("gradient, time, layer 16: -0.00e-000", 6)
        self.ratio.setToolTip(RATIO_TIP)
        self.badge = QtWidgets.QLabel()
        self.badge.setObjectName("regime_badge")
        self.badge.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.badge.setMinimumWidth(self.badge.fontMetrics().horizontalAdvance("non-finite") + 28)
        # A size larger than the application's: read from the back of a lecture room.
        font = bar.font()
        font.setPointSizeF(font.pointSizeF() * 1.15)
        bar.setFont(font)
        for label in (self.iteration, self.loss, self.ratio):
            bar.addPermanentWidget(label)  # takes the bar's font: a FontChange refits it
        bar.addPermanentWidget(self.badge)
        self._shown_regime = ""

    def show(self, record: StepRecord | None) -> None:
        """Show ``record``'s iteration, loss and regime (None: no step yet)."""
        if record is None:
            iteration, loss = "0", "–"
        else:
            iteration, loss = str(record.iteration), format_loss(record.loss)
        ratio, regime, badge_tip, ratio_tip = regime_status(None if record is None else measure(record))
        self.iteration.setText(f"iteration {iteration}")
        self.loss.setText(f"loss {loss}")
        self.ratio.setText(f"gradient, {ratio}")
        self.ratio.setToolTip(ratio_tip)
        self.badge.setToolTip(badge_tip)
        if regime != self._shown_regime:
            # A style sheet change re-polishes the widget: only when the regime changes.
            self._shown_regime = regime
            self.badge.setText(regime)
            self.badge.setStyleSheet(
                f"QLabel {{ background: {REGIME_COLORS[regime]}; color: #ffffff; font-weight: bold;"
                " border-radius: 4px; padding: 2px 10px; }"
            )


class StopBanner(QtWidgets.QFrame):
    """The red message above the plots when a run stops (non-finite values, a failure).

    Hidden until :meth:`show_message`; :attr:`button` ("Reset run") is for the owner to connect.
    """

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("nonfinite_banner")
        self.setStyleSheet(
            "#nonfinite_banner { background: #b00020; border-radius: 4px; }"
            "#nonfinite_banner QLabel { color: #ffffff; font-weight: bold; }"
        )
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        self.label = QtWidgets.QLabel()
        self.label.setWordWrap(True)
        self.label.setTextFormat(QtCore.Qt.TextFormat.PlainText)
        layout.addWidget(self.label, 1)
        self.button = QtWidgets.QPushButton("Reset run")
        self.button.setToolTip("Start the run again from its initial weights (R)")
        layout.addWidget(self.button)
        self.setVisible(False)

    def show_message(self, text: str) -> None:
        """Show ``text`` (plain text, wrapped) in the banner."""
        self.label.setText(text)
        self.setVisible(True)
