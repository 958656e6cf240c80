"""Export run data… (Ctrl+E) of the File feature: the memory question, the worker and its progress.

:class:`ExportActions` is the export half of
:class:`~gradsim.ui.features.files.file_actions.FileActions`, which derives from it (one
feature, one object: the File menu's entries share its folder, settings and messages). The job
itself, with no widget, is in :mod:`.export_job`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from gradsim.engine.formatting import format_bytes
from gradsim.io.filenames import slug
from gradsim.io.runexport import EXPORT_SUFFIXES
from gradsim.ui.common import background
from gradsim.ui.feature_api import WindowAPI
from gradsim.ui.features.files.export_job import ExportJob, ExportWorker, estimate_bytes
from gradsim.ui.features.files.file_names import suffix_of_filter, with_suffix

EXPORT_FORMAT_KEY = "files/export_format"
# Above this estimate of the replayed records' memory, the export asks first (and offers the
# iterations the window keeps instead of all of them).
MEMORY_LIMIT = 1 << 30
EXPORT_FILTERS = {
    ".csv": "CSV: gradient norm per iteration, layer and time step (*.csv)",
    ".json": "JSON: every field of every record (*.json)",
    ".npz": "NPZ: numpy arrays of every field, with pre-activation samples (*.npz)",
}


class ExportActions:
    """Export run data of ``window``: the export half of the File feature (a mixin of a ``QObject``).

    Attributes
    ----------
    export_task : the running export (its job, thread and progress dialog, when one runs)
    memory_box : the "too much memory" question while shown
    last_export : the file last exported
    """

    window: WindowAPI
    export_task: background.ProgressTask[ExportWorker]
    memory_box: QtWidgets.QMessageBox | None
    last_export: Path | None

    def _init_export(self) -> None:
        self.export_task = background.ProgressTask(
            "export", "Exporting run data",
            {"writing": self._on_export_writing, "finished": self._on_export_finished,
             "failed": self._on_export_failed, "cancelled": self._on_export_cancelled},
        )  # fmt: skip
        self.memory_box = None
        self.last_export = None

    # What the rest of the feature provides (FileActions).
    def folder(self) -> Path:
        """The folder used last."""
        raise NotImplementedError

    def remember_folder(self, path: str | os.PathLike[str]) -> None:
        """Propose the folder of ``path`` next time."""
        raise NotImplementedError

    def show_error(self, title: str, message: str, note: str) -> QtWidgets.QMessageBox:
        """A warning box with ``message`` and ``note``."""
        raise NotImplementedError

    # -- export ------------------------------------------------------------------------------------
    def export_suffix(self) -> str:
        """The export format chosen last (``.csv`` at first)."""
        suffix = str(self.window.settings.value(EXPORT_FORMAT_KEY, ".csv"))
        return suffix if suffix in EXPORT_SUFFIXES else ".csv"

    def proposed_export_path(self, suffix: str | None = None) -> Path:
        """``gradsim-<preset>-it<N>.<format>`` in the folder used last."""
        latest = self.window.history.latest
        iteration = 0 if latest is None else latest.iteration
        preset = slug(self.window.control_panel.preset_name())
        return self.folder() / f"gradsim-{preset}-it{iteration}{suffix or self.export_suffix()}"

    def export_job(self, path: str | os.PathLike[str], thinned: bool = False) -> ExportJob | None:
        """What exporting the run to ``path`` means now (None if no step was taken yet).

        ``thinned`` writes only the iterations the window's history keeps.
        """
        latest = self.window.history.latest
        if latest is None:
            return None
        keep = frozenset(int(i) for i in self.window.history.iterations()) if thinned else None
        return ExportJob(Path(os.fspath(path)), self.window.current_config(), latest.iteration, keep)

    def export(self, path: str | os.PathLike[str]) -> ExportWorker | None:
        """Export the run to ``path``: at once, or after asking when it needs a lot of memory.

        Returns the worker if the export started.
        """
        if self.export_task.thread is not None:
            self.window.statusBar().showMessage("An export is running: wait for it or cancel it", 5000)
            return None
        job = self.export_job(path)
        if job is None:
            self.window.statusBar().showMessage("Nothing to export yet: take a training step first", 5000)
            return None
        needed = estimate_bytes(job.config, job.iterations, job.path.suffix.lower())
        if needed > MEMORY_LIMIT:
            self.ask_thinned(job, needed)
            return None
        return self.start_export(job)

    def ask_thinned(self, job: ExportJob, needed: int) -> QtWidgets.QMessageBox:
        """Say the export needs ``needed`` bytes; offer the kept iterations instead (non-blocking)."""
        kept = len(self.window.history)
        box = QtWidgets.QMessageBox(self.window)
        box.setObjectName("export_memory")
        box.setIcon(QtWidgets.QMessageBox.Icon.Question)
        box.setWindowTitle("Export run data")
        box.setText(
            f"Exporting all {job.iterations} iterations needs about {format_bytes(needed)} of memory."
        )
        box.setInformativeText(
            f"Export only the {kept} iterations the plots keep (evenly spread over the whole run, "
            "every value exact) instead?"
        )
        thinned = box.addButton(f"Export {kept} iterations", QtWidgets.QMessageBox.ButtonRole.AcceptRole)
        thinned.setObjectName("export_thinned")
        everything = box.addButton("Export all anyway", QtWidgets.QMessageBox.ButtonRole.DestructiveRole)
        everything.setObjectName("export_all")
        box.addButton(QtWidgets.QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(thinned)
        box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose, True)
        # The job keeps the iterations asked for; the history may move on while the box is shown.
        keep = frozenset(int(i) for i in self.window.history.iterations())

        def chosen(button: QtWidgets.QAbstractButton) -> None:
            self.memory_box = None
            if button is thinned:
                self.start_export(dataclasses.replace(job, keep=keep))
            elif button is everything:
                self.start_export(job)
            else:
                self.window.statusBar().showMessage("Export cancelled: nothing was written", 5000)

        box.buttonClicked.connect(chosen)
        self.memory_box = box
        box.open()
        return box

    def start_export(self, job: ExportJob) -> ExportWorker | None:
        """Replay and write ``job`` on a worker thread with a progress dialog (None if one runs)."""
        if self.export_task.thread is not None:
            self.window.statusBar().showMessage("An export is running: wait for it or cancel it", 5000)
            return None
        self.remember_folder(job.path)
        self.window.settings.setValue(EXPORT_FORMAT_KEY, job.path.suffix.lower())
        return self.export_task.start(ExportWorker(job), self.window)

    # -- slots -------------------------------------------------------------------------------------
    @QtCore.Slot()
    def _on_user_export(self) -> None:
        if self.window.history.latest is None:
            self.window.statusBar().showMessage("Nothing to export yet: take a training step first", 5000)
            return
        suffix = self.export_suffix()
        path, selected = QtWidgets.QFileDialog.getSaveFileName(
            self.window, "Export run data", str(self.proposed_export_path(suffix)),
            ";;".join(EXPORT_FILTERS.values()), EXPORT_FILTERS[suffix],
        )  # fmt: skip
        if path:
            chosen = suffix_of_filter(selected, EXPORT_FILTERS, suffix)
            self.export(with_suffix(path, EXPORT_SUFFIXES, chosen))

    @QtCore.Slot()
    def _on_export_writing(self) -> None:
        progress = self.export_task.progress
        if progress is not None:
            progress.setValue(progress.maximum())
            progress.setLabelText("Writing the file…")

    @QtCore.Slot(str, int)
    def _on_export_finished(self, path: str, count: int) -> None:
        self.last_export = Path(path)
        noun = "iteration" if count == 1 else "iterations"
        self.window.statusBar().showMessage(f"Exported {count} {noun} to {path}", 10000)

    @QtCore.Slot(str)
    def _on_export_failed(self, message: str) -> None:
        self.show_error(
            "Export failed", message,
            "No file was written. Choose another folder or name, or free some disk space.",
        )  # fmt: skip

    @QtCore.Slot()
    def _on_export_cancelled(self) -> None:
        self.window.statusBar().showMessage("Export cancelled: nothing was written", 5000)

    def _close_export(self) -> None:
        """The window closes: close the memory question, stop the export."""
        if self.memory_box is not None:
            with contextlib.suppress(RuntimeError):
                self.memory_box.close()
            self.memory_box = None
        self.export_task.close()
