"""The Record animation dialog: what to animate, which iterations (or cells), width, frame rate,
format and file. It only chooses; :class:`~.recording.RecordingFeature` makes the animation.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6 import QtCore, QtWidgets

from gradsim.io.animation_writer import (
    FORMAT_LABELS,
    FORMATS,
    VIDEO_MISSING,
    format_for_path,
    frame_duration_ms,
    suffix_for,
    video_available,
)
from gradsim.ui.common.naming import TARGET_LABELS as SNAPSHOT_LABELS
from gradsim.ui.common.save_dialog import SaveDialog
from gradsim.ui.common.widgets import caption, wrapped_label
from gradsim.ui.feature_api import NOTHING_FROZEN
from gradsim.ui.features.recording import frames
from gradsim.ui.features.recording.animation_job import AnimationRequest
from gradsim.ui.features.recording.frame_sources import BACKPROP, DASHBOARD
from gradsim.ui.training import render
from gradsim.ui.training.dashboard import PLOT_KEYS

if TYPE_CHECKING:
    from gradsim.ui.features.recording.recording import RecordingFeature

# The snapshot dialog's names for the plots (one list of names), plus the backward pass.
TARGET_LABELS = {**SNAPSHOT_LABELS, BACKPROP: "Backward pass, cell by cell (Backprop tab)"}
FORMAT_KEY = "animation/format"
FPS_KEY = "animation/fps"
WIDTH_KEY = "animation/width"
# A proposed animation has at most this many frames (the proposed "every" follows from it).
PROPOSED_FRAMES = 120
MAX_ITERATION = 1_000_000


class RecordDialog(SaveDialog):
    """Choose what to animate and how; :class:`RecordingFeature` makes it when accepted.

    Attributes
    ----------
    target_combo, first_spin, last_spin, every_spin, by_layer_check, width_spin, size_label,
    fps_spin, format_combo, summary_label, message_label; those of :class:`SaveDialog`
    (``save_button`` reads "Record")
    """

    feature: RecordingFeature

    def __init__(
        self, feature: RecordingFeature, target: str, parent: QtWidgets.QWidget | None = None
    ) -> None:
        super().__init__(
            feature, "record", "Record animation", "the animation",
            "The file to write (written only when the animation is complete)", parent=parent,
        )  # fmt: skip
        settings = feature.window.settings

        self.target_combo = QtWidgets.QComboBox()
        self.target_combo.setObjectName("record_target")
        self.target_combo.setToolTip(
            "The plot to animate, all five, or the backward pass of the Backprop tab"
        )
        # The backward pass is the Backprop tab's: offered only where the tab is.
        backprop = (BACKPROP,) if feature.backprop_available() else ()
        for key in (DASHBOARD, *PLOT_KEYS, *backprop):
            self.target_combo.addItem(TARGET_LABELS[key], key)
        self.first_spin = self._spin("record_first", 1, MAX_ITERATION, "The first iteration shown")
        self.last_spin = self._spin(
            "record_last", 1, MAX_ITERATION,
            "The last iteration shown; the run is replayed this far (it may go past the window's run)",
        )  # fmt: skip
        self.every_spin = self._spin("record_every", 1, MAX_ITERATION, "A frame every k-th iteration")
        self.by_layer_check = QtWidgets.QCheckBox("A layer a frame")
        self.by_layer_check.setObjectName("record_by_layer")
        self.by_layer_check.setToolTip("For long sequences: one frame per layer of the backward pass")
        self.width_spin = self._spin("record_width", render.MIN_WIDTH, 3840, "Frame width in pixels")
        self.width_spin.setSingleStep(40)
        self.width_spin.setSuffix(" px")
        self.size_label = QtWidgets.QLabel()
        self.size_label.setObjectName("record_size")
        self.fps_spin = QtWidgets.QDoubleSpinBox()
        self.fps_spin.setObjectName("record_fps")
        self.fps_spin.setRange(1.0, 60.0)
        self.fps_spin.setDecimals(1)
        self.fps_spin.setSuffix(" frames/s")
        self.fps_spin.setToolTip("Frames a second when the animation plays (GIF stores 1/100 s steps)")
        self.format_combo = QtWidgets.QComboBox()
        self.format_combo.setObjectName("record_format")
        self.format_combo.setToolTip(
            "GIF plays everywhere; WebP and APNG are smaller and sharper; MP4 (H.264) for slides and "
            'videos needs pip install "gradsim[video]"'
        )
        for fmt in FORMATS:
            self.format_combo.addItem(FORMAT_LABELS[fmt], fmt)
        self.summary_label = QtWidgets.QLabel()
        self.summary_label.setObjectName("record_summary")
        self.message_label = wrapped_label("record_message")
        self.message_label.setStyleSheet("color: #b00020;")

        range_row = QtWidgets.QHBoxLayout()
        self._from_caption = QtWidgets.QLabel("from")
        self._to_caption = QtWidgets.QLabel("to")
        self._every_caption = QtWidgets.QLabel("every")
        for widget in (
            self._from_caption, self.first_spin, self._to_caption, self.last_spin,
            self._every_caption, self.every_spin, self.by_layer_check,
        ):  # fmt: skip
            range_row.addWidget(widget)
        range_row.addStretch(1)
        width_row = QtWidgets.QHBoxLayout()
        width_row.addWidget(self.width_spin)
        width_row.addWidget(self.size_label, 1)
        form = QtWidgets.QFormLayout()
        form.addRow("&Animate:", self.target_combo)
        self._range_caption = caption("&Iterations:", self.first_spin)
        form.addRow(self._range_caption, range_row)
        form.addRow(caption("&Width:", self.width_spin), width_row)
        form.addRow("Frame &rate:", self.fps_spin)
        form.addRow("&Format:", self.format_combo)
        # "Fi&le": Alt+I is the iterations'. The field is a layout, so the caption brings its buddy.
        form.addRow(caption("Fi&le:", self.path_edit), self.path_row)
        form.addRow("", self.summary_label)
        self.save_button.setText("Record")
        self.save_button.setToolTip("Replay the run and write the animation")
        self.lay_out(form, self.message_label)

        last = feature.shown_iteration() or 60
        every = max(1, math.ceil(last / PROPOSED_FRAMES))
        self.last_spin.setValue(last)
        self.every_spin.setValue(every)
        self.first_spin.setValue(every)
        self.width_spin.setValue(int(str(settings.value(WIDTH_KEY, 640))))
        self.fps_spin.setValue(float(str(settings.value(FPS_KEY, 20.0))))
        stored = str(settings.value(FORMAT_KEY, "gif"))
        self.format_combo.setCurrentIndex(max(0, self.format_combo.findData(stored)))
        self.target_combo.setCurrentIndex(max(0, self.target_combo.findData(target)))

        self.target_combo.currentIndexChanged.connect(self._on_user_target)
        self.format_combo.currentIndexChanged.connect(self._on_user_format)
        for spin in (self.first_spin, self.last_spin, self.every_spin, self.width_spin):
            spin.valueChanged.connect(self._refresh)
        self.fps_spin.valueChanged.connect(self._refresh)
        self.by_layer_check.toggled.connect(self._refresh)
        self._on_user_target()

    def _spin(self, name: str, low: int, high: int, tip: str) -> QtWidgets.QSpinBox:
        spin = QtWidgets.QSpinBox()
        spin.setObjectName(name)
        spin.setRange(low, high)
        spin.setToolTip(tip)
        spin.setAccelerated(True)
        return spin

    # -- what was chosen ---------------------------------------------------------------------
    def target(self) -> str:
        """``"dashboard"``, a plot key, or ``"backprop"``."""
        return str(self.target_combo.currentData())

    def format(self) -> str:
        """``"gif"``, ``"webp"``, ``"apng"`` or ``"mp4"``."""
        return str(self.format_combo.currentData())

    def every(self) -> int:
        """Iterations (or, for the backward pass, cells) between frames."""
        if self.target() == BACKPROP and self.by_layer_check.isChecked():
            return max(1, self.feature.backprop_seq_len())
        return self.every_spin.value()

    def path(self) -> Path:
        """The file, with the format's extension."""
        path = Path(self.path_edit.text().strip()).expanduser()
        suffix = suffix_for(self.format())
        try:
            if format_for_path(path) == self.format():
                return path
        except ValueError:
            return path.with_name(path.name + suffix) if path.name else path
        return path.with_suffix(suffix)

    def request(self) -> AnimationRequest:
        """The choices as an :class:`AnimationRequest`."""
        return AnimationRequest(
            self.target(), self.path(), self.format(), self.fps_spin.value(), self.width_spin.value(),
            self.first_spin.value(), self.last_spin.value(), self.every(),
        )  # fmt: skip

    def frame_count(self) -> int:
        """Frames the choices give (raises ValueError with the reason when they give none)."""
        if self.target() == BACKPROP:
            total = self.feature.backprop_cells()
            if total == 0:
                raise ValueError(NOTHING_FROZEN)
            return len(frames.backprop_positions(total, self.every()))
        return len(frames.frame_iterations(self.first_spin.value(), self.last_spin.value(), self.every()))

    # -- reactions ---------------------------------------------------------------------------
    @QtCore.Slot()
    def _on_user_target(self) -> None:
        backprop = self.target() == BACKPROP
        for widget in (self._from_caption, self.first_spin, self._to_caption, self.last_spin):
            widget.setVisible(not backprop)
        self.by_layer_check.setVisible(backprop)
        self._range_caption.setText("&Cells:" if backprop else "&Iterations:")
        self._every_caption.setText("every" if not backprop else "a frame every")
        self._every_suffix()
        self.propose_path()
        self._refresh()

    def _every_suffix(self) -> None:
        if self.target() == BACKPROP:
            self.every_spin.setSuffix(" cell" if self.every_spin.value() == 1 else " cells")
        else:
            self.every_spin.setSuffix("")

    @QtCore.Slot()
    def _on_user_format(self) -> None:
        self.propose_path()
        self._refresh()

    @QtCore.Slot()
    def _refresh(self) -> None:
        """Show the frame size and count; say why nothing can be recorded, if so."""
        backprop = self.target() == BACKPROP
        self._every_suffix()
        self.every_spin.setEnabled(not (backprop and self.by_layer_check.isChecked()))
        height = self.feature.frame_height(self.target(), self.width_spin.value())
        self.size_label.setText(f"× {height} px")
        problem = ""
        if self.format() == "mp4" and not video_available():
            problem = VIDEO_MISSING
        try:
            count = self.frame_count()
        except ValueError as error:
            count, problem = 0, problem or str(error)[:1].upper() + str(error)[1:]
        fps = self.fps_spin.value()
        if count:
            delay = frame_duration_ms(self.format(), fps)
            self.summary_label.setText(f"{frames.describe_frames(count, fps)} ({delay} ms a frame)")
        else:
            self.summary_label.setText("")
        self.message_label.setText(problem)
        self.message_label.setVisible(bool(problem))
        self.save_button.setEnabled(not problem)

    @QtCore.Slot()
    def _on_user_browse(self) -> None:
        filters = {fmt: f"{FORMAT_LABELS[fmt]} (*{suffix_for(fmt)})" for fmt in FORMATS}
        fmt = self.format()
        order = (fmt, *(other for other in FORMATS if other != fmt))
        chosen, _ = QtWidgets.QFileDialog.getSaveFileName(
            self, "Record animation as", str(self.path()), ";;".join(filters[f] for f in order)
        )
        if not chosen:
            return
        try:
            picked = format_for_path(chosen)
        except ValueError:
            picked = fmt
        self._path_edited = True
        self.format_combo.setCurrentIndex(self.format_combo.findData(picked))
        self.path_edit.setText(chosen)
        self.path_edit.setText(str(self.path()))

    def save(self, path: Path) -> bool:
        """Start making the animation (its file is :meth:`path`); whether it started."""
        return self.feature.record(self.request(), parent=self) is not None
