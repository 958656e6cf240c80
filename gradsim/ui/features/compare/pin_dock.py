"""The "Pinned runs" dock: one row per pin (swatch, visibility, label, Remove, Load this config),
Pin current run and Clear all. The rows call the compare feature; they hold no state of their own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6 import QtWidgets

from gradsim.ui.common.widgets import wrapped_label
from gradsim.ui.features.compare.pins import MAX_PINS, PinnedRun

if TYPE_CHECKING:
    from gradsim.ui.features.compare.compare import CompareFeature


class PinnedRunsDock(QtWidgets.QDockWidget):
    """The list of pins: swatch, visibility, label, Remove, Load this config; Clear all."""

    def __init__(self, feature: CompareFeature, parent: QtWidgets.QWidget) -> None:
        super().__init__("Pinned runs", parent)
        self.setObjectName("pinned_dock")
        self._feature = feature
        body = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(body)
        layout.setContentsMargins(6, 6, 6, 6)
        self.hint = QtWidgets.QLabel(
            "Pin the run shown (Ctrl+P) to keep it as a dashed ghost on the plots while you change "
            f"a setting. Up to {MAX_PINS} pins."
        )
        self.hint.setWordWrap(True)
        layout.addWidget(self.hint)
        self.rows_widget = QtWidgets.QWidget()
        self.rows = QtWidgets.QVBoxLayout(self.rows_widget)
        self.rows.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.rows_widget)
        buttons = QtWidgets.QHBoxLayout()
        self.pin_button = QtWidgets.QPushButton("Pin current run")
        self.pin_button.setObjectName("pin_current_button")
        self.pin_button.setToolTip("Keep the run shown as a reference drawn on every plot (Ctrl+P)")
        self.pin_button.clicked.connect(feature.pin_current)
        self.clear_button = QtWidgets.QPushButton("Clear all")
        self.clear_button.setObjectName("clear_pins_button")
        self.clear_button.setToolTip("Remove every pinned run")
        self.clear_button.clicked.connect(feature.clear)
        buttons.addWidget(self.pin_button)
        buttons.addStretch(1)
        buttons.addWidget(self.clear_button)
        layout.addLayout(buttons)
        layout.addStretch(1)
        self.setWidget(body)
        self.row_widgets: list[PinRow] = []
        self.rebuild([])

    def rebuild(self, pins: list[PinnedRun]) -> None:
        """One row per pin (a handful: rebuilt whole when the list changes)."""
        for row in self.row_widgets:
            self.rows.removeWidget(row)
            row.deleteLater()
        self.row_widgets = []
        for index, pin in enumerate(pins):
            row = PinRow(pin, index, self._feature)
            self.rows.addWidget(row)
            self.row_widgets.append(row)
        self.clear_button.setEnabled(bool(pins))
        self.pin_button.setEnabled(len(pins) < MAX_PINS)

    def relabel(self, pins: list[PinnedRun]) -> None:
        """Show the pins' current labels."""
        for row, pin in zip(self.row_widgets, pins, strict=True):
            row.set_label(pin.label, self._feature.details(pin))


class PinRow(QtWidgets.QFrame):
    """One pinned run in the dock."""

    def __init__(self, pin: PinnedRun, index: int, feature: CompareFeature) -> None:
        super().__init__()
        self.setObjectName(f"pin_row_{index}")
        self.setFrameShape(QtWidgets.QFrame.Shape.StyledPanel)
        grid = QtWidgets.QGridLayout(self)
        grid.setContentsMargins(6, 4, 6, 4)
        self.visible_box = QtWidgets.QCheckBox()
        self.visible_box.setObjectName("pin_visible")
        self.visible_box.setChecked(pin.visible)
        self.visible_box.setToolTip("Draw this pinned run on the plots")
        self.visible_box.toggled.connect(lambda shown: feature.set_visible(pin, shown))
        swatch = QtWidgets.QLabel()
        swatch.setFixedSize(18, 18)
        swatch.setStyleSheet(f"background: {pin.color}; border-radius: 3px;")
        swatch.setToolTip("The colour of this run's dashed ghosts")
        self.label = wrapped_label("pin_label")
        self.set_label(pin.label, feature.details(pin))
        detail = QtWidgets.QLabel(f"{pin.iteration} iterations pinned")
        detail.setStyleSheet("color: palette(placeholder-text);")
        self.remove_button = QtWidgets.QPushButton("Remove")
        self.remove_button.setObjectName("pin_remove")
        self.remove_button.setToolTip("Forget this pinned run")
        self.remove_button.clicked.connect(lambda: feature.remove(pin))
        self.load_button = QtWidgets.QPushButton("Load this config")
        self.load_button.setObjectName("pin_load")
        self.load_button.setToolTip("Put this run's settings in the controls and start a new run with them")
        self.load_button.clicked.connect(lambda: feature.load_config(pin))
        grid.addWidget(self.visible_box, 0, 0)
        grid.addWidget(swatch, 0, 1)
        grid.addWidget(self.label, 0, 2, 1, 2)
        grid.addWidget(detail, 1, 2, 1, 2)
        grid.addWidget(self.load_button, 2, 2)
        grid.addWidget(self.remove_button, 2, 3)
        grid.setColumnStretch(2, 1)

    def set_label(self, label: str, details: list[str]) -> None:
        """Show ``label``; the tooltip lists every difference (the label shows a few)."""
        self.label.setText(label)
        listed = "\n".join(details) if details else "none: the same settings as the live run"
        self.label.setToolTip(f"How the pinned run differs from the live run (pinned → live):\n{listed}")
