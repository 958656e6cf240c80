"""The Save snapshot dialog: what to save (dashboard or one plot), PNG width or SVG, and the file.

The dialog only chooses; :class:`~gradsim.ui.features.snapshots.snapshots.SnapshotFeature`
proposes the names, renders and writes the file when the dialog is accepted.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6 import QtCore, QtWidgets

from gradsim.ui.common.naming import DASHBOARD, TARGET_LABELS
from gradsim.ui.common.save_dialog import SaveDialog
from gradsim.ui.common.widgets import caption, named
from gradsim.ui.training import render
from gradsim.ui.training.dashboard import PLOT_KEYS

if TYPE_CHECKING:
    from gradsim.ui.features.snapshots.snapshots import SnapshotFeature

FORMATS = ("png", "svg")


class SnapshotDialog(SaveDialog):
    """Choose what to save (dashboard or one plot), the format, the PNG width and the file.

    The dialog only chooses; :class:`SnapshotFeature` writes the file when it is accepted.

    Attributes
    ----------
    target_combo, format_combo, width_spin, size_label; those of :class:`SaveDialog`
    """

    feature: SnapshotFeature

    def __init__(
        self,
        feature: SnapshotFeature,
        target: str = DASHBOARD,
        fmt: str = "png",
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(
            feature, "snapshot", "Save snapshot", "the snapshot",
            "The file to write (its folder is remembered for next time)",
            "Choose the folder and the file name", parent,
        )  # fmt: skip
        self.target_combo = named(
            QtWidgets.QComboBox(),
            "snapshot_target",
            "Save all five plots as laid out in the window, or one plot",
        )
        for key in (DASHBOARD, *PLOT_KEYS):
            self.target_combo.addItem(TARGET_LABELS[key], key)
        self.format_combo = named(
            QtWidgets.QComboBox(),
            "snapshot_format",
            "PNG: a picture for slides and notes. SVG: vector graphics for papers",
        )
        self.format_combo.addItem("PNG image", "png")
        self.format_combo.addItem("SVG vector graphics", "svg")
        self.width_spin = named(
            QtWidgets.QSpinBox(),
            "snapshot_width",
            "Width of the PNG in pixels; the height follows the plot's proportions. "
            "The default, twice the size on screen, stays sharp on slides",
        )
        self.width_spin.setRange(render.MIN_WIDTH, render.MAX_WIDTH)
        self.width_spin.setSingleStep(100)
        self.width_spin.setSuffix(" px")
        self.size_label = named(QtWidgets.QLabel(), "snapshot_size")
        self.default_width_button = named(
            QtWidgets.QPushButton("2× screen"),
            "snapshot_default_width",
            "Set the width to twice the size on screen",
        )

        width_row = QtWidgets.QHBoxLayout()
        width_row.addWidget(self.width_spin)
        width_row.addWidget(self.size_label, 1)
        width_row.addWidget(self.default_width_button)
        form = QtWidgets.QFormLayout()
        form.addRow("&Save:", self.target_combo)
        form.addRow("&Format:", self.format_combo)
        self._width_caption = caption("&Width:", self.width_spin)
        form.addRow(self._width_caption, width_row)
        form.addRow(caption("F&ile:", self.path_edit), self.path_row)
        self.save_button.setToolTip("Write the file")
        self.buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Cancel).setToolTip(
            "Close without saving"
        )
        self.lay_out(form)

        self.target_combo.setCurrentIndex(max(0, self.target_combo.findData(target)))
        self.format_combo.setCurrentIndex(max(0, self.format_combo.findData(fmt)))
        self._on_user_target()
        self.target_combo.currentIndexChanged.connect(self._on_user_target)
        self.format_combo.currentIndexChanged.connect(self._on_user_format)
        self.width_spin.valueChanged.connect(self._show_height)
        self.default_width_button.clicked.connect(self._on_user_default_width)

    # -- what was chosen ---------------------------------------------------------------------------
    def target(self) -> str:
        """``"dashboard"`` or a plot key."""
        return str(self.target_combo.currentData())

    def format(self) -> str:
        """``"png"`` or ``"svg"``."""
        return str(self.format_combo.currentData())

    def png_width(self) -> int:
        """The PNG width in pixels."""
        return self.width_spin.value()

    def path(self) -> Path:
        """The file to write, with the format's extension."""
        return self._with_suffix(Path(self.path_edit.text().strip()).expanduser())

    # -- user edits --------------------------------------------------------------------------------
    @QtCore.Slot()
    def _on_user_target(self) -> None:
        self.width_spin.setValue(render.default_width(self.feature.widget_for(self.target())))
        self._show_height()
        self.propose_path()

    @QtCore.Slot()
    def _on_user_format(self) -> None:
        png = self.format() == "png"
        for widget in (self.width_spin, self.size_label, self.default_width_button, self._width_caption):
            widget.setEnabled(png)
        self.propose_path()

    @QtCore.Slot()
    def _on_user_default_width(self) -> None:
        self.width_spin.setValue(render.default_width(self.feature.widget_for(self.target())))

    @QtCore.Slot()
    def _show_height(self) -> None:
        target = self.feature.widget_for(self.target())
        size = render.logical_size(target)
        height = round(self.width_spin.value() * size.height() / size.width())
        self.size_label.setText(f"× {height} px")
        self.size_label.setToolTip(f"On screen the plot is {size.width()} × {size.height()} pixels")

    @QtCore.Slot()
    def _on_user_browse(self) -> None:
        fmt = self.format()
        filters = {"png": "PNG image (*.png)", "svg": "SVG vector graphics (*.svg)"}
        # The current format's filter first: it is the one selected when the dialog opens.
        order = (fmt, *(other for other in FORMATS if other != fmt))
        chosen, chosen_filter = QtWidgets.QFileDialog.getSaveFileName(
            self, "Save snapshot as", str(self.path()), ";;".join(filters[f] for f in order)
        )
        if not chosen:
            return
        suffix = Path(chosen).suffix.lower().lstrip(".")
        if suffix in FORMATS and suffix != fmt:
            self.format_combo.setCurrentIndex(self.format_combo.findData(suffix))
        elif suffix not in FORMATS and "svg" in chosen_filter.lower() and fmt != "svg":
            self.format_combo.setCurrentIndex(self.format_combo.findData("svg"))
        self._path_edited = True
        self.path_edit.setText(str(self._with_suffix(Path(chosen))))

    def save(self, path: Path) -> bool:
        """Write the snapshot to ``path``; whether it worked."""
        return self.feature.save_snapshot(self.target(), self.format(), path, self.png_width(), parent=self)

    def _with_suffix(self, path: Path) -> Path:
        suffix = f".{self.format()}"
        if path.suffix.lower() == suffix:
            return path
        if path.suffix.lower() in (".png", ".svg"):
            return path.with_suffix(suffix)
        return path.with_name(path.name + suffix) if path.name else path
