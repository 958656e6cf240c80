"""File ▸ Record animation…: the dialog, and the job that makes the animation beside the window.

The dialog chooses what to animate (the dashboard, one plot, or the Backprop tab's backward
pass), the iterations (from, to, every k-th; for the backward pass, cells a frame or a layer a
frame), the width, the frame rate, the format and the file. The animation is made by
:func:`.animation_job.start_job` from a replay of the run, so it does not depend on what
the window drew live; a non-modal progress dialog shows the frames done and cancels (nothing is
written then). The window keeps training and drawing meanwhile.

In presentation mode the frames are drawn at the mode's scale, the dashboard's with the rows
the mode shows, the backward pass's as the Backprop tab shows it in the mode.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from gradsim.io.animation_writer import (
    FORMAT_LABELS,
    FORMATS,
    VIDEO_MISSING,
    format_for_path,
    frame_duration_ms,
    suffix_for,
    video_available,
)
from gradsim.ui.common import background
from gradsim.ui.common.naming import TARGET_LABELS as SNAPSHOT_LABELS
from gradsim.ui.common.naming import base_name, confirm_replace, propose_path
from gradsim.ui.feature_api import SnapshotFolder, WindowAPI
from gradsim.ui.features.recording import animation, animation_job
from gradsim.ui.features.recording.animation import BACKPROP, DASHBOARD
from gradsim.ui.features.recording.animation_job import AnimationJob, AnimationRequest
from gradsim.ui.training import render
from gradsim.ui.training.dashboard import PLOT_KEYS

__all__ = ["RecordDialog", "RecordingFeature", "install"]

# The snapshot dialog's names for the plots (one list of names), plus the backward pass.
TARGET_LABELS = {**SNAPSHOT_LABELS, BACKPROP: "Backward pass, cell by cell (Backprop tab)"}
FORMAT_KEY = "animation/format"
FPS_KEY = "animation/fps"
WIDTH_KEY = "animation/width"
# A proposed animation has at most this many frames (the proposed "every" follows from it).
PROPOSED_FRAMES = 120
MAX_ITERATION = 1_000_000
_PRESENTATION = "gradsim.ui.features.presentation.presentation"
_BACKPROP = "gradsim.ui.features.backprop.backprop_tab"


class RecordDialog(QtWidgets.QDialog):
    """Choose what to animate and how; :class:`RecordingFeature` makes it when accepted.

    Attributes
    ----------
    target_combo, first_spin, last_spin, every_spin, by_layer_check, width_spin, size_label,
    fps_spin, format_combo, summary_label, message_label, path_edit, browse_button, buttons
    """

    def __init__(
        self, feature: RecordingFeature, target: str, parent: QtWidgets.QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.feature = feature
        self.setObjectName("record_dialog")
        self.setWindowTitle("Record animation")
        self._path_edited = False
        settings = feature.window.settings

        self.target_combo = QtWidgets.QComboBox()
        self.target_combo.setObjectName("record_target")
        self.target_combo.setToolTip(
            "The plot to animate, all five, or the backward pass of the Backprop tab"
        )
        for key in (DASHBOARD, *PLOT_KEYS, BACKPROP):
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
        self.message_label = QtWidgets.QLabel()
        self.message_label.setObjectName("record_message")
        self.message_label.setWordWrap(True)
        self.message_label.setStyleSheet("color: #b00020;")
        self.path_edit = QtWidgets.QLineEdit()
        self.path_edit.setObjectName("record_path")
        self.path_edit.setMinimumWidth(self.path_edit.fontMetrics().horizontalAdvance("x" * 56))
        self.path_edit.setToolTip("The file to write (written only when the animation is complete)")
        self.browse_button = QtWidgets.QPushButton("Browse…")
        self.browse_button.setObjectName("record_browse")

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
        path_row = QtWidgets.QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(self.browse_button)
        form = QtWidgets.QFormLayout()
        form.addRow("&Animate:", self.target_combo)
        self._range_caption = QtWidgets.QLabel("&Iterations:")
        self._range_caption.setBuddy(self.first_spin)
        form.addRow(self._range_caption, range_row)
        width_caption = QtWidgets.QLabel("&Width:")
        width_caption.setBuddy(self.width_spin)
        form.addRow(width_caption, width_row)
        form.addRow("Frame &rate:", self.fps_spin)
        form.addRow("&Format:", self.format_combo)
        form.addRow("F&ile:", path_row)
        form.addRow("", self.summary_label)
        self.buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Save | QtWidgets.QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.setObjectName("record_buttons")
        self.save_button = self.buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Save)
        self.save_button.setText("Record")
        self.save_button.setToolTip("Replay the run and write the animation")
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.message_label)
        layout.addWidget(self.buttons)

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
        self.path_edit.textEdited.connect(self._on_user_path_edited)
        self.browse_button.clicked.connect(self._on_user_browse)
        self.buttons.accepted.connect(self._on_user_record)
        self.buttons.rejected.connect(self.reject)
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
                raise ValueError(
                    "open the Backprop tab first: it freezes the weights whose backward pass is shown"
                )
            return len(animation.backprop_positions(total, self.every()))
        return len(animation.frame_iterations(self.first_spin.value(), self.last_spin.value(), self.every()))

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
        self._propose_path()
        self._refresh()

    def _every_suffix(self) -> None:
        if self.target() == BACKPROP:
            self.every_spin.setSuffix(" cell" if self.every_spin.value() == 1 else " cells")
        else:
            self.every_spin.setSuffix("")

    @QtCore.Slot()
    def _on_user_format(self) -> None:
        self._propose_path()
        self._refresh()

    @QtCore.Slot(str)
    def _on_user_path_edited(self, _text: str) -> None:
        self._path_edited = True

    def _propose_path(self) -> None:
        if self._path_edited:
            self.path_edit.setText(str(self.path()))
        else:
            self.path_edit.setText(str(self.feature.proposed_path(self.target(), self.format())))

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
            self.summary_label.setText(f"{animation.describe_frames(count, fps)} ({delay} ms a frame)")
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

    @QtCore.Slot()
    def _on_user_record(self) -> None:
        if not self.path_edit.text().strip():
            self.feature.show_error("Choose a file name for the animation.", parent=self)
            return
        path = self.path()
        if path.exists() and not confirm_replace(self, path):
            return
        if self.feature.record(self.request(), parent=self) is not None:
            self.accept()


class RecordingFeature(QtCore.QObject):
    """File ▸ Record animation… and the Backprop tab's "Record…" button.

    Attributes
    ----------
    action : "Record animation…" in the File menu
    backprop_button : the Backprop tab's "Record…" button (None without the tab)
    dialog : the dialog while open
    job : the animation being made, if any
    progress : its progress dialog
    last_path : the last animation written
    last_outcome : ``(outcome, message)`` of the last job: "finished", "failed" or "cancelled"
    """

    def __init__(self, window: WindowAPI) -> None:
        super().__init__(window)
        self.window = window
        self.dialog: RecordDialog | None = None
        self.job: AnimationJob | None = None
        self.progress: QtWidgets.QProgressDialog | None = None
        self.last_path: Path | None = None
        self.last_outcome: tuple[str, str] | None = None
        self._job_path: Path | None = None
        self.action = QtGui.QAction("Record animation…", window)
        self.action.setObjectName("record_animation_action")
        tip = (
            "Save an animation of a plot while the run trains, or of the backward pass, as GIF, "
            "WebP, APNG or MP4: drawn from a replay of the run, smooth whatever the live frame rate"
        )
        self.action.setToolTip(tip)
        self.action.setStatusTip(tip)
        self.action.triggered.connect(lambda: self.open_dialog())
        window.addAction(self.action)
        menu: QtWidgets.QMenu = window.file_menu
        before = window.quit_action if window.quit_action in menu.actions() else None
        menu.insertAction(before, self.action)  # type: ignore[arg-type]  # None appends (Qt's nullptr)
        self.backprop_button = self._add_backprop_button()
        window.closing.connect(self._on_closing)

    def _add_backprop_button(self) -> QtWidgets.QPushButton | None:
        tab = animation.feature_of(self.window, _BACKPROP)
        refreeze = getattr(tab, "refreeze_button", None)
        if refreeze is None:
            return None
        button = QtWidgets.QPushButton("Record…")
        button.setObjectName("backprop_record")
        button.setToolTip(
            "Save the backward pass as an animation: the cells filling in, the chain rule growing"
        )
        button.clicked.connect(lambda: self.open_dialog(BACKPROP))
        # Beside "Freeze current weights", in the tab's header row.
        page_layout = tab.page.layout()
        for index in range(page_layout.count()):
            row = page_layout.itemAt(index).layout()
            if row is not None and row.indexOf(refreeze) >= 0:
                row.addWidget(button)
                return button
        return None

    # -- what the window shows -----------------------------------------------------------------
    def shown_iteration(self) -> int:
        """The iteration the dashboard shows (0 before the first record)."""
        latest = self.window.history.latest
        return 0 if latest is None else int(latest.iteration)

    def _frozen(self) -> Any:
        tab = animation.feature_of(self.window, _BACKPROP)
        return None if tab is None else getattr(tab, "frozen", None)

    def backprop_cells(self) -> int:
        """Cells of the Backprop tab's frozen network (0 if none is frozen)."""
        frozen = self._frozen()
        return 0 if frozen is None else frozen.config.num_layers * frozen.config.seq_len

    def backprop_seq_len(self) -> int:
        """Time steps of the frozen network (0 if none)."""
        frozen = self._frozen()
        return 0 if frozen is None else frozen.config.seq_len

    def presentation(self) -> tuple[float, bool]:
        """``(scale, bottom row shown)`` of presentation mode now (``(1, True)`` outside it)."""
        feature = animation.feature_of(self.window, _PRESENTATION)
        if feature is None:
            return 1.0, True
        return float(feature.scale), bool(feature.bottom_row_shown())

    def frame_height(self, target: str, width: int) -> int:
        """The frame height for ``width`` (the target's proportions on screen)."""
        if target == BACKPROP:
            frame_width, frame_height = animation.DEFAULT_BACKPROP_SIZE
        else:
            widget = self.window.dashboard if target == DASHBOARD else self.window.dashboard.plots[target]
            size = render.logical_size(widget)
            frame_width, frame_height = size.width(), size.height()
        return max(1, round(width * frame_height / frame_width))

    def folder(self) -> Path:
        """The folder snapshots use (the home folder without the snapshot feature)."""
        snapshots = self.window.offered(SnapshotFolder)  # type: ignore[type-abstract]
        return snapshots.folder() if snapshots is not None else Path.home()

    def proposed_path(self, target: str, fmt: str) -> Path:
        """A free name: ``gradsim-<preset>-it<N>-<plot>.<ext>`` in the snapshot folder."""
        preset = str(self.window.control_panel.preset_name())
        return propose_path(self.folder(), base_name(preset, self.shown_iteration(), target), suffix_for(fmt))

    # -- actions -------------------------------------------------------------------------------
    def open_dialog(self, target: str | None = None) -> RecordDialog:
        """Show the dialog (non-blocking), preset to ``target`` (the current plot by default)."""
        if self.dialog is not None:
            self.dialog.close()
        if target is None:
            snapshots = self.window.offered(SnapshotFolder)  # type: ignore[type-abstract]
            target = snapshots.current_plot if snapshots is not None else "gradient"
        dialog = RecordDialog(self, str(target), parent=self.window)
        dialog.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose, True)
        dialog.finished.connect(self._on_dialog_finished)
        self.dialog = dialog
        dialog.open()
        return dialog

    def record(
        self, request: AnimationRequest, parent: QtWidgets.QWidget | None = None
    ) -> AnimationJob | None:
        """Start making ``request``'s animation; None (and a message) if it cannot start."""
        window = self.window
        if self.job is not None:
            self.show_error("An animation is being recorded: wait for it or cancel it.", parent=parent)
            return None
        scale, bottom_row = self.presentation()
        dashboard = window.dashboard
        size = render.logical_size(dashboard)
        backprop = None
        config = window.current_config()
        if request.target == BACKPROP:
            frozen = self._frozen()
            if frozen is not None:
                tab = animation.feature_of(window, _BACKPROP)
                backprop = (frozen.params, tab.view.batch)
                config = frozen.config
        try:
            job = animation_job.start_job(
                self, request, config, theme=dashboard.theme, scale=scale,
                size=(size.width(), size.height()), dashboard_state=dashboard.save_state(),
                bottom_row=bottom_row, backprop=backprop,
            )  # fmt: skip
        except (ValueError, OSError, RuntimeError) as error:
            self.show_error(str(error), parent=parent)
            return None
        self.job, self._job_path = job, request.path
        total = job.worker.total
        self.progress = background.progress_dialog(
            window, f"Recording {total} frames into {request.path.name}…", "Record animation",
            total, "record_progress", self.cancel,
        )  # fmt: skip
        job.progressed.connect(self._on_progress)
        job.done.connect(self._on_done)
        settings = window.settings
        settings.setValue(FORMAT_KEY, request.fmt)
        settings.setValue(FPS_KEY, request.fps)
        settings.setValue(WIDTH_KEY, request.width)
        snapshots = window.offered(SnapshotFolder)  # type: ignore[type-abstract]
        if snapshots is not None:
            snapshots.remember_folder(request.path.parent)
        return job

    @QtCore.Slot()
    def cancel(self) -> None:
        """Cancel the animation being made (nothing is written)."""
        if self.job is not None:
            self.job.cancel()

    def show_error(self, message: str, parent: QtWidgets.QWidget | None = None) -> QtWidgets.QMessageBox:
        """A warning box (non-blocking, objectName ``record_error``)."""
        box = QtWidgets.QMessageBox(parent if parent is not None else self.window)
        box.setObjectName("record_error")
        box.setIcon(QtWidgets.QMessageBox.Icon.Warning)
        box.setWindowTitle("No animation was recorded")
        text = message[:1].upper() + message[1:]
        box.setText(text)
        box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose, True)
        box.open()
        self.window.statusBar().showMessage(text, 10000)
        return box

    # -- slots ---------------------------------------------------------------------------------
    @QtCore.Slot(int)
    def _on_dialog_finished(self, _result: int) -> None:
        self.dialog = None

    @QtCore.Slot(int, int)
    def _on_progress(self, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress.setMaximum(max(1, total))
            self.progress.setValue(done)

    @QtCore.Slot(str, str)
    def _on_done(self, outcome: str, message: str) -> None:
        path = self._job_path
        progress, self.progress = self.progress, None
        background.finish(None, progress)
        if self.job is not None:
            self.job.deleteLater()  # its thread has ended (AnimationJob.finish waited for it)
        self.job = None
        self.last_outcome = (outcome, message)
        status = self.window.statusBar()
        if outcome == "finished":
            self.last_path = path
            status.showMessage(f"Saved animation {path} ({message})", 10000)
        elif outcome == "cancelled":
            status.showMessage("Animation cancelled: nothing was written", 5000)
        else:
            self.show_error(message)

    @QtCore.Slot()
    def _on_closing(self) -> None:
        job = self.job
        if job is not None:
            job.done.disconnect(self._on_done)
            job.cancel()
            job.finish()
            self.job = None
        if self.progress is not None:
            background.finish(None, self.progress)
            self.progress = None


def install(window: WindowAPI) -> RecordingFeature:
    """Add File ▸ Record animation… and the Backprop tab's Record button."""
    return RecordingFeature(window)
