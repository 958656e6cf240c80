"""File ▸ Record animation…: the dialog, and the job that makes the animation beside the window.

The dialog chooses what to animate (the dashboard, one plot, or the Backprop tab's backward
pass), the iterations (from, to, every k-th; for the backward pass, cells a frame or a layer a
frame), the width, the frame rate, the format and the file. The animation is made by
:func:`.animation_job.start_job` from a replay of the run, so it does not depend on what
the window drew live; a non-modal progress dialog shows the frames done and cancels (nothing is
written then). The window keeps training and drawing meanwhile.

In presentation mode the frames are drawn at the mode's scale, the dashboard's with the rows
the mode shows, the backward pass's as the Backprop tab shows it in the mode.

This module holds the feature (the action, the Backprop tab's button, the job and its progress);
the dialog is :mod:`.record_dialog`.
"""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtWidgets

from gradsim.io.animation_writer import (
    suffix_for,
)
from gradsim.ui.common import background
from gradsim.ui.common.naming import base_name, propose_path
from gradsim.ui.common.widgets import make_action, reopen_dialog
from gradsim.ui.feature_api import FrozenNetwork, FrozenWeights, PresentationState, SnapshotFolder, WindowAPI
from gradsim.ui.features.recording import animation_job
from gradsim.ui.features.recording.animation_job import AnimationJob, AnimationRequest
from gradsim.ui.features.recording.frame_sources import BACKPROP, DASHBOARD
from gradsim.ui.features.recording.record_dialog import FORMAT_KEY, FPS_KEY, WIDTH_KEY, RecordDialog
from gradsim.ui.training import render

__all__ = ["RecordingFeature", "install"]


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
        self.action = make_action(
            window, "Record animation…", lambda: self.open_dialog(),
            "Save an animation of a plot while the run trains, or of the backward pass, as GIF, "
            "WebP, APNG or MP4: drawn from a replay of the run, smooth whatever the live frame rate",
            name="record_animation_action",
        )  # fmt: skip
        menu: QtWidgets.QMenu = window.file_menu
        before = window.quit_action if window.quit_action in menu.actions() else None
        menu.insertAction(before, self.action)  # type: ignore[arg-type]  # None appends (Qt's nullptr)
        self.backprop_button = self._add_backprop_button()
        window.closing.connect(self._on_closing)

    def _add_backprop_button(self) -> QtWidgets.QPushButton | None:
        tab = self._backprop_tab()
        if tab is None:
            return None
        button = QtWidgets.QPushButton("Record…")
        button.setObjectName("backprop_record")
        button.setToolTip(
            "Save the backward pass as an animation: the cells filling in, the chain rule growing"
        )
        button.clicked.connect(lambda: self.open_dialog(BACKPROP))
        tab.add_header_widget(button)  # beside "Freeze current weights"
        return button

    # -- what the window shows -----------------------------------------------------------------
    def shown_iteration(self) -> int:
        """The iteration the dashboard shows (0 before the first record)."""
        latest = self.window.history.latest
        return 0 if latest is None else int(latest.iteration)

    def _backprop_tab(self) -> FrozenNetwork | None:
        """What the backprop feature offers (None without it)."""
        return self.window.offered(FrozenNetwork)  # type: ignore[type-abstract]  # a Protocol, by design

    def backprop_available(self) -> bool:
        """Whether the window has a Backprop tab whose backward pass can be recorded."""
        return self._backprop_tab() is not None

    def _frozen(self) -> FrozenWeights | None:
        tab = self._backprop_tab()
        return None if tab is None else tab.frozen_network()

    def backprop_cells(self) -> int:
        """Cells of the Backprop tab's frozen network (0 if none is frozen)."""
        frozen = self._frozen()
        return 0 if frozen is None else frozen[0].num_layers * frozen[0].seq_len

    def backprop_seq_len(self) -> int:
        """Time steps of the frozen network (0 if none)."""
        frozen = self._frozen()
        return 0 if frozen is None else frozen[0].seq_len

    def presentation(self) -> tuple[float, bool]:
        """``(scale, bottom row shown)`` of presentation mode now (``(1, True)`` outside it)."""
        feature = self.window.offered(PresentationState)  # type: ignore[type-abstract]
        if feature is None:
            return 1.0, True
        return float(feature.scale), bool(feature.bottom_row_shown())

    def frame_height(self, target: str, width: int) -> int:
        """The frame height for ``width`` (the target's proportions on screen)."""
        tab = self._backprop_tab() if target == BACKPROP else None
        if tab is not None:
            frame_width, frame_height = tab.backward_frame_size()
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
        if target is None:
            snapshots = self.window.offered(SnapshotFolder)  # type: ignore[type-abstract]
            target = snapshots.current_plot if snapshots is not None else "gradient"
        shown = str(target)
        dialog = reopen_dialog(
            self.dialog, lambda: RecordDialog(self, shown, parent=self.window), self._on_dialog_finished
        )
        self.dialog = dialog
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
            tab = self._backprop_tab()
            frozen = None if tab is None else tab.frozen_network()
            if tab is not None and frozen is not None:
                config = frozen[0]
                backprop = tab.backward_frames
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
        background.show_progress(self.progress, done, total)

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
