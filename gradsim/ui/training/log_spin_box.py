"""A spin box for a positive value spanning decades: ``%g`` text, any typed number in range, and
arrows that step along the 1-2-5 sequence (:func:`~gradsim.ui.training.control_fields.step_125`).
"""

from __future__ import annotations

import re

from PySide6 import QtGui, QtWidgets

from gradsim.ui.training.control_fields import step_125


class LogSpinBox(QtWidgets.QDoubleSpinBox):
    """A spin box for a positive value spanning decades (a learning rate, a threshold).

    Shows numbers in ``%g`` form (``0.001``, ``1e-05``), accepts any typed number in range,
    and its arrows step along the 1-2-5 sequence.
    """

    _NUMBER = re.compile(r"^[+]?(\d+\.?\d*|\.\d*)?([eE][-+]?\d*)?$")

    def __init__(self, minimum: float, maximum: float, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        # QDoubleSpinBox rounds to `decimals`; keep enough to hold 1e-9 exactly.
        self.setDecimals(15)
        self.setRange(minimum, maximum)
        self.setKeyboardTracking(False)

    def textFromValue(self, value: float) -> str:  # noqa: N802 (Qt override)
        return f"{value:.6g}"

    def valueFromText(self, text: str) -> float:  # noqa: N802 (Qt override)
        try:
            return float(text)
        except ValueError:
            return self.value()

    def validate(self, text: str, position: int) -> object:
        stripped = text.strip()
        try:
            value = float(stripped)
        except ValueError:
            state = (
                QtGui.QValidator.State.Intermediate
                if self._NUMBER.match(stripped)
                else QtGui.QValidator.State.Invalid
            )
            return state, text, position
        if self.minimum() <= value <= self.maximum():
            return QtGui.QValidator.State.Acceptable, text, position
        return QtGui.QValidator.State.Intermediate, text, position

    def fixup(self, text: str) -> str:
        try:
            value = float(text)
        except ValueError:
            return self.textFromValue(self.value())
        return self.textFromValue(min(max(value, self.minimum()), self.maximum()))

    def stepBy(self, steps: int) -> None:  # noqa: N802 (Qt override)
        target = min(max(step_125(self.value(), steps), self.minimum()), self.maximum())
        self.setValue(target)
        self.selectAll()

    def stepEnabled(self) -> QtWidgets.QAbstractSpinBox.StepEnabledFlag:  # noqa: N802 (Qt override)
        flags = QtWidgets.QAbstractSpinBox.StepEnabledFlag.StepNone
        if self.value() < self.maximum():
            flags |= QtWidgets.QAbstractSpinBox.StepEnabledFlag.StepUpEnabled
        if self.value() > self.minimum():
            flags |= QtWidgets.QAbstractSpinBox.StepEnabledFlag.StepDownEnabled
        return flags
