"""Config files and run data from the File menu: open and save configs, recent files, export.

- **Open config…** (Ctrl+O) reads a TOML or JSON config (:func:`gradsim.io.configfile.load_config`),
  sets every control and starts a new run with it. A file that cannot be used (malformed, an
  unknown key, a value out of range) shows a message naming the file, the field and what it
  allows, and changes nothing. A config file dropped on the window opens the same way.
- **Open recent** lists the last :data:`MAX_RECENT` config files opened or saved (newest first,
  kept in the settings under ``files/recent``); a file that is gone is shown disabled.
- **Save config as…** (Ctrl+Shift+S) writes the current run's config, TOML unless the name ends
  in ``.json``; the proposed name is ``gradsim-<preset>.toml`` in the folder used last.
- **Export run data…** (Ctrl+E) writes the run's step records as CSV, JSON or NPZ
  (:mod:`gradsim.io.runexport`). The window keeps only a thinned history, so the records are
  reproduced by replaying the run (runs are deterministic, bit for bit) on a worker thread, with
  a progress dialog and Cancel, while the window keeps training.

Every file is written atomically (:mod:`gradsim.io.atomic`): a failed write (folder not
writable, disk full, invalid name) shows a message naming the path and the reason, and leaves no
file behind.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from gradsim.engine.config import ConfigError, SimConfig
from gradsim.engine.formatting import format_bytes
from gradsim.engine.records import StepRecord
from gradsim.engine.simulation import PREACTIVATION_SAMPLE
from gradsim.io.atomic import describe_error
from gradsim.io.configfile import CONFIG_SUFFIXES, load_config, save_config
from gradsim.io.filenames import slug
from gradsim.io.runexport import EXPORT_SUFFIXES, RunFileError, write_csv, write_json, write_npz
from gradsim.ui.common import background
from gradsim.ui.common.workers import JobContext, Worker
from gradsim.ui.feature_api import WindowAPI

RECENT_KEY = "files/recent"
FOLDER_KEY = "files/folder"
EXPORT_FORMAT_KEY = "files/export_format"
MAX_RECENT = 8
# Above this estimate of the replayed records' memory, the export asks first (and offers the
# iterations the window keeps instead of all of them).
MEMORY_LIMIT = 1 << 30
# Fixed part of a record in memory besides its arrays: the dicts, floats and array headers.
RECORD_OVERHEAD = 2048
# Replay progress reaches the GUI at most this often (seconds), so its event queue stays short.
PROGRESS_INTERVAL = 0.05

CONFIG_FILTERS = {".toml": "TOML config (*.toml)", ".json": "JSON config (*.json)"}
EXPORT_FILTERS = {
    ".csv": "CSV: gradient norm per iteration, layer and time step (*.csv)",
    ".json": "JSON: every field of every record (*.json)",
    ".npz": "NPZ: numpy arrays of every field, with pre-activation samples (*.npz)",
}


# -- helpers without widgets ---------------------------------------------------------------------


def recent_files(settings: QtCore.QSettings) -> list[str]:
    """The recent config files stored in ``settings``, newest first (at most :data:`MAX_RECENT`)."""
    value = settings.value(RECENT_KEY, [])
    # INI settings give a one-element list back as a plain string, and an empty one as None/"".
    if value is None or value == "":
        items: list[Any] = []
    elif isinstance(value, str):
        items = [value]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:  # not a list: a damaged settings file
        items = []
    return [str(item) for item in items if str(item)][:MAX_RECENT]


def _same_file(a: str, b: str) -> bool:
    return os.path.normcase(os.path.abspath(a)) == os.path.normcase(os.path.abspath(b))


def remember_recent(settings: QtCore.QSettings, path: str | os.PathLike[str]) -> list[str]:
    """Put ``path`` first in the recent list (once; the oldest beyond the cap drop off); returns it."""
    path = os.path.abspath(os.fspath(path))
    files = [path, *(item for item in recent_files(settings) if not _same_file(item, path))][:MAX_RECENT]
    settings.setValue(RECENT_KEY, files)
    settings.sync()
    return files


def forget_recent(settings: QtCore.QSettings, path: str | os.PathLike[str] | None = None) -> list[str]:
    """Remove ``path`` from the recent list (every entry if None); returns what remains."""
    files = [] if path is None else [f for f in recent_files(settings) if not _same_file(f, os.fspath(path))]
    settings.setValue(RECENT_KEY, files)
    settings.sync()
    return files


def with_suffix(path: str | os.PathLike[str], suffixes: Collection[str], default: str) -> Path:
    """``path`` if its extension is one of ``suffixes`` (any case), else ``path`` + ``default``.

    A file dialog returns what was typed: ``run`` or ``run.v2`` get the chosen filter's extension
    instead of being refused.
    """
    file = Path(os.fspath(path))
    if file.suffix.lower() in suffixes:
        return file
    return file.with_name(file.name + default)


def suffix_of_filter(selected: str, filters: dict[str, str], default: str) -> str:
    """The extension whose filter text is ``selected`` (``default`` if none is)."""
    for suffix, text in filters.items():
        if text == selected:
            return suffix
    return default


def estimate_bytes(config: SimConfig, iterations: int, suffix: str) -> int:
    """Memory the export of ``iterations`` replayed records of ``config`` takes, in bytes.

    Each record holds ``grad_norms`` and ``mean_derivative`` (L, T) float64; an NPZ export also
    keeps the pre-activation samples (L, S) float64 and stacks every field into arrays of its own
    before writing (twice the memory). CSV and JSON exports drop the samples as they replay.
    """
    layers, steps = config.num_layers, config.seq_len
    per_record = 2 * layers * steps * 8 + RECORD_OVERHEAD
    if suffix == ".npz":
        per_record = 2 * (per_record + layers * PREACTIVATION_SAMPLE * 8)
    return max(0, iterations) * per_record


# -- export ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ExportJob:
    """An export of run data.

    Attributes
    ----------
    path : the file to write; its extension (``.csv``, ``.json``, ``.npz``) picks the format
    config : the run's config (the run is replayed from it)
    iterations : how many training steps to replay
    keep : the iterations to write (None: every one)
    """

    path: Path
    config: SimConfig
    iterations: int
    keep: frozenset[int] | None = None


class ExportCancelled(Exception):
    """The user cancelled the export."""


def _without_samples(record: StepRecord) -> StepRecord:
    # CSV and JSON do not write the samples; dropping them keeps a long replay's memory small.
    return dataclasses.replace(record, preactivation_samples=np.empty((record.grad_norms.shape[0], 0)))


def replay_records(
    job: ExportJob,
    cancelled: Callable[[], bool] = lambda: False,
    progress: Callable[[int, int], None] | None = None,
) -> list[StepRecord]:
    """The records ``job`` exports, replayed from a fresh run of its config.

    Parameters
    ----------
    job : what to replay
    cancelled : polled between training steps; True raises :class:`ExportCancelled`
    progress : called with ``(steps done, steps in all)``, at most every :data:`PROGRESS_INTERVAL` s
    """
    keep_samples = job.path.suffix.lower() == ".npz"
    records: list[StepRecord] = []
    reported = 0.0
    for record in background.replay_beside_the_window(job.config, job.iterations):
        if cancelled():
            raise ExportCancelled()
        if job.keep is None or record.iteration in job.keep:
            records.append(record if keep_samples else _without_samples(record))
        now = time.monotonic()
        if progress is not None and now - reported >= PROGRESS_INTERVAL:
            reported = now
            progress(record.iteration, job.iterations)
    if cancelled():
        raise ExportCancelled()
    return records


def write_records(path: Path, records: list[StepRecord], config: SimConfig) -> None:
    """Write ``records`` to ``path`` in the format its extension names, atomically.

    Raises
    ------
    ValueError
        The extension is not ``.csv``, ``.json`` or ``.npz`` (nothing is written).
    WriteError
        The file cannot be written (nothing is left behind).
    """
    suffix = path.suffix.lower()
    if suffix == ".csv":
        write_csv(path, records)
    elif suffix == ".json":
        write_json(path, records, config)
    elif suffix == ".npz":
        write_npz(path, records, config, include_samples=True)
    else:
        raise ValueError(f"cannot export run data as {path.name}: use .csv, .json or .npz")


class ExportWorker:
    """Replays and writes an :class:`ExportJob`: the job of an export's worker thread.

    Messages (see :func:`gradsim.ui.common.background.start_job`)
    --------
    ("progressed", done, total) : training steps replayed
    ("writing",) : the replay is done, the file is being written
    ("finished", path, count) : ``count`` records were written to ``path``
    ("failed", message) : nothing was written; ``message`` names the path and the reason
    ("cancelled",) : the user cancelled; nothing was written
    """

    def __init__(self, job: ExportJob) -> None:
        self.job = job

    def run(self, context: JobContext) -> None:
        def progress(done: int, total: int) -> None:
            context.emit(("progressed", done, total))

        try:
            records = replay_records(self.job, context.is_cancelled, progress)
            context.emit(("writing",))
            write_records(self.job.path, records, self.job.config)
        except ExportCancelled:
            context.emit(("cancelled",))
        except Exception as error:  # every failure becomes a message, never a traceback
            context.emit(("failed", describe_error(self.job.path, error)))
        else:
            context.emit(("finished", str(self.job.path), len(records)))


# -- the feature -------------------------------------------------------------------------------


class FileActions(QtCore.QObject):
    """Open/Save config, recent files and Export run data of ``window`` (see the module docstring).

    Attributes
    ----------
    open_action : "Open config…" (Ctrl+O)
    recent_menu : the "Open recent" submenu (rebuilt each time it opens)
    clear_recent_action : "Clear list" in it
    save_action : "Save config as…" (Ctrl+Shift+S)
    export_action : "Export run data…" (Ctrl+E)
    export_thread, export_worker, export_progress : the running export's thread, job and dialog,
        if any
    memory_box : the "too much memory" question while shown
    last_export : the file last exported
    """

    def __init__(self, window: WindowAPI) -> None:
        super().__init__(window)
        self.window = window
        self.export_thread: QtCore.QThread | None = None
        self.export_worker: ExportWorker | None = None
        self._export: Worker | None = None
        self.export_progress: QtWidgets.QProgressDialog | None = None
        self.memory_box: QtWidgets.QMessageBox | None = None
        self.last_export: Path | None = None
        self._build_actions()
        self._build_menu()
        # Drops are taken by the central area (controls and tabs); a filter there rather than on
        # the window, whose own events (every repaint) would all pass through Python first.
        self.drop_target: QtWidgets.QWidget = window.centralWidget()
        self.drop_target.setAcceptDrops(True)
        self.drop_target.installEventFilter(self)
        window.closing.connect(self._on_closing)

    # -- construction ------------------------------------------------------------------------------
    def _make_action(
        self, text: str, name: str, tip: str, slot: Callable[[], None], shortcut: str = ""
    ) -> QtGui.QAction:
        action = QtGui.QAction(text, self.window)
        action.setObjectName(name)
        if shortcut:
            action.setShortcut(QtGui.QKeySequence(shortcut))
            tip = f"{tip} ({shortcut})"
        action.setToolTip(tip)
        action.setStatusTip(tip)
        action.triggered.connect(slot)
        self.window.addAction(action)
        return action

    def _build_actions(self) -> None:
        self.open_action = self._make_action(
            "Open config…", "open_config_action",
            "Open a TOML or JSON config: it sets every control and starts a new run",
            self._on_user_open, "Ctrl+O",
        )  # fmt: skip
        self.save_action = self._make_action(
            "Save config as…", "save_config_action",
            "Save the current run's settings as a TOML or JSON config, to open again or use with "
            "'gradsim run --config'",
            self._on_user_save, "Ctrl+Shift+S",
        )  # fmt: skip
        self.export_action = self._make_action(
            "Export run data…", "export_run_action",
            "Write every iteration of this run (gradient norms, loss and more) as CSV, JSON or NPZ",
            self._on_user_export, "Ctrl+E",
        )  # fmt: skip
        self.clear_recent_action = QtGui.QAction("Clear list", self.window)
        self.clear_recent_action.setObjectName("clear_recent_action")
        self.clear_recent_action.setToolTip("Forget the recently used config files")
        self.clear_recent_action.setStatusTip("Forget the recently used config files")
        self.clear_recent_action.triggered.connect(self._on_user_clear_recent)

    def _build_menu(self) -> None:
        menu: QtWidgets.QMenu = self.window.file_menu
        self.recent_menu = QtWidgets.QMenu("Open recent", menu)
        self.recent_menu.setObjectName("recent_menu")
        self.recent_menu.setToolTipsVisible(True)
        self.recent_menu.menuAction().setToolTip("Config files opened or saved recently")
        self.recent_menu.menuAction().setStatusTip("Config files opened or saved recently")
        self.recent_menu.aboutToShow.connect(self.rebuild_recent_menu)
        menu.setToolTipsVisible(True)
        actions = menu.actions()
        # Config entries first, as File menus usually begin with Open; export beside the other
        # "save what I see" entries, just above Quit, which stays last.
        first = actions[0] if actions else None
        # first=None appends (Qt's nullptr); the PySide6 stubs leave None out.
        menu.insertActions(first, [self.open_action, self.recent_menu.menuAction(), self.save_action])  # type: ignore[arg-type]
        if first is not None:
            menu.insertSeparator(first)
        actions = menu.actions()
        quit_action = self.window.quit_action
        if quit_action in actions:
            index = actions.index(quit_action)
            before = actions[index - 1] if index > 0 and actions[index - 1].isSeparator() else quit_action
            menu.insertAction(before, self.export_action)
            if before is quit_action:
                menu.insertSeparator(quit_action)
        else:
            menu.addAction(self.export_action)
        self.rebuild_recent_menu()

    # -- settings ----------------------------------------------------------------------------------
    def folder(self) -> Path:
        """The folder used last (the home folder at first, or when it is gone)."""
        stored = self.window.settings.value(FOLDER_KEY, "")
        folder = Path(str(stored)) if stored else Path.home()
        return folder if folder.is_dir() else Path.home()

    def remember_folder(self, path: str | os.PathLike[str]) -> None:
        """Propose the folder of ``path`` next time."""
        self.window.settings.setValue(FOLDER_KEY, os.fspath(Path(os.fspath(path)).parent))

    def recent_files(self) -> list[str]:
        """The recent config files, newest first."""
        return recent_files(self.window.settings)

    def export_suffix(self) -> str:
        """The export format chosen last (``.csv`` at first)."""
        suffix = str(self.window.settings.value(EXPORT_FORMAT_KEY, ".csv"))
        return suffix if suffix in EXPORT_SUFFIXES else ".csv"

    @QtCore.Slot()
    def rebuild_recent_menu(self) -> None:
        """Fill "Open recent" from the settings (another window may have changed them)."""
        menu = self.recent_menu
        menu.clear()
        files = self.recent_files()
        for number, path in enumerate(files, start=1):
            exists = os.path.isfile(path)
            name = os.path.basename(path)
            # Mnemonics 1-8; '&' in a file name would otherwise turn into one.
            text = f"&{number} {name.replace('&', '&&')}" + ("" if exists else "  (missing)")
            action = menu.addAction(text)
            action.setObjectName(f"recent_file_{number}")
            action.setData(path)
            action.setToolTip(path if exists else f"{path} no longer exists")
            action.setStatusTip(action.toolTip())
            action.setEnabled(exists)
            action.triggered.connect(lambda _checked=False, p=path: self.open_config(p))
        if not files:
            empty = menu.addAction("No recent files")
            empty.setObjectName("recent_empty")
            empty.setEnabled(False)
        menu.addSeparator()
        menu.addAction(self.clear_recent_action)
        self.clear_recent_action.setEnabled(bool(files))

    # -- messages ----------------------------------------------------------------------------------
    def show_error(self, title: str, message: str, note: str) -> QtWidgets.QMessageBox:
        """A warning box (non-blocking, objectName ``file_error``): ``message`` and ``note`` below."""
        text = message[:1].upper() + message[1:]
        box = QtWidgets.QMessageBox(self.window)
        box.setObjectName("file_error")
        box.setIcon(QtWidgets.QMessageBox.Icon.Warning)
        box.setWindowTitle(title)
        box.setTextFormat(QtCore.Qt.TextFormat.PlainText)
        box.setText(text)
        box.setInformativeText(note)
        box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose, True)
        box.open()
        self.window.statusBar().showMessage(text, 10000)
        return box

    # -- configs -----------------------------------------------------------------------------------
    def open_config(self, path: str | os.PathLike[str]) -> bool:
        """Read the config at ``path``, show it in the controls and restart the run with it.

        On any problem a message names the file and the field, and nothing changes. Returns
        whether the config was applied.
        """
        file = Path(os.fspath(path))
        try:
            config = load_config(file)
        except (ConfigError, RunFileError, OSError) as error:
            message = str(error) or f"config file {file}: cannot be read"
            self.show_error(
                "Cannot open config", message,
                "Nothing was changed: the controls and the run are as they were.",
            )  # fmt: skip
            if not file.is_file():
                # Gone since it was listed: drop it rather than offer it again.
                forget_recent(self.window.settings, file)
            return False
        self.window.apply_config(config)
        remember_recent(self.window.settings, file)
        self.remember_folder(file)
        self.window.statusBar().showMessage(f"Opened config {file}: a new run started", 10000)
        return True

    def proposed_config_path(self) -> Path:
        """``gradsim-<preset>.toml`` in the folder used last."""
        return self.folder() / f"gradsim-{slug(self.window.control_panel.preset_name())}.toml"

    def save_config(self, path: str | os.PathLike[str]) -> bool:
        """Write the current run's config to ``path`` (TOML, or JSON for ``.json``); whether it did."""
        file = Path(os.fspath(path))
        # An edit still in its debounce is what the user sees in the controls: apply it first.
        self.window.control_panel.apply_pending_edit()
        config = self.window.current_config()
        try:
            save_config(config, file)
        except (ConfigError, OSError) as error:
            self.show_error(
                "Config not saved", describe_error(file, error),
                "No file was written. Choose another folder or name, or free some disk space.",
            )  # fmt: skip
            return False
        remember_recent(self.window.settings, file)
        self.remember_folder(file)
        self.window.statusBar().showMessage(f"Saved config {file}", 10000)
        return True

    # -- export ------------------------------------------------------------------------------------
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
        if self.export_thread is not None:
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
        if self.export_thread is not None:
            self.window.statusBar().showMessage("An export is running: wait for it or cancel it", 5000)
            return None
        self.remember_folder(job.path)
        self.window.settings.setValue(EXPORT_FORMAT_KEY, job.path.suffix.lower())
        worker = ExportWorker(job)
        progress = background.progress_dialog(
            self.window, f"Replaying {job.iterations} iterations for {job.path.name}…",
            "Exporting run data", job.iterations, "export_progress", self.cancel_export,
        )  # fmt: skip
        handlers: dict[str, Callable[..., None]] = {
            "progressed": self._on_export_progress, "writing": self._on_export_writing,
            "finished": self._on_export_finished, "failed": self._on_export_failed,
            "cancelled": self._on_export_cancelled,
        }  # fmt: skip
        self._export = background.start_job(worker.run, handlers, "export_thread")
        self.export_thread, self.export_worker, self.export_progress = self._export.thread, worker, progress
        return worker

    @QtCore.Slot()
    def cancel_export(self) -> None:
        """Stop the export (its replay stops at the next step; no file is written)."""
        if self._export is not None:
            self._export.cancel()

    def _finish_export(self) -> None:
        export, progress = self._export, self.export_progress
        self._export = self.export_thread = self.export_worker = self.export_progress = None
        background.finish(export, progress)

    # -- drag and drop -----------------------------------------------------------------------------
    @staticmethod
    def dropped_config(mime: QtCore.QMimeData) -> str | None:
        """The config file in a drag's data (the first local ``.toml``/``.json`` file), or None."""
        if not mime.hasUrls():
            return None
        for url in mime.urls():
            path = url.toLocalFile()
            if path and Path(path).suffix.lower() in CONFIG_SUFFIXES:
                return path
        return None

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:  # noqa: N802 (Qt)
        """Accept config files dragged onto the window, and open the one dropped."""
        if watched is not self.drop_target:
            return False
        kind = event.type()
        if kind in (QtCore.QEvent.Type.DragEnter, QtCore.QEvent.Type.DragMove):
            if self.dropped_config(event.mimeData()) is not None:  # type: ignore[attr-defined]
                event.acceptProposedAction()  # type: ignore[attr-defined]
                return True
        elif kind == QtCore.QEvent.Type.Drop:
            path = self.dropped_config(event.mimeData())  # type: ignore[attr-defined]
            if path is not None:
                event.acceptProposedAction()  # type: ignore[attr-defined]
                # After the drop returns: the source application waits for it to finish.
                QtCore.QTimer.singleShot(0, lambda: self.open_config(path))
                return True
        return False

    # -- slots -------------------------------------------------------------------------------------
    @QtCore.Slot()
    def _on_user_open(self) -> None:
        path, _selected = QtWidgets.QFileDialog.getOpenFileName(
            self.window, "Open config", str(self.folder()),
            "Config files (*.toml *.json);;" + ";;".join(CONFIG_FILTERS.values()),
        )  # fmt: skip
        if path:
            self.open_config(path)

    @QtCore.Slot()
    def _on_user_save(self) -> None:
        path, selected = QtWidgets.QFileDialog.getSaveFileName(
            self.window, "Save config as", str(self.proposed_config_path()),
            ";;".join(CONFIG_FILTERS.values()),
        )  # fmt: skip
        if path:
            suffix = suffix_of_filter(selected, CONFIG_FILTERS, ".toml")
            self.save_config(with_suffix(path, CONFIG_SUFFIXES, suffix))

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
    def _on_user_clear_recent(self) -> None:
        forget_recent(self.window.settings)
        self.rebuild_recent_menu()
        self.window.statusBar().showMessage("Recent files list cleared", 5000)

    @QtCore.Slot(int, int)
    def _on_export_progress(self, done: int, total: int) -> None:
        if self.export_progress is not None:
            self.export_progress.setMaximum(max(1, total))
            self.export_progress.setValue(done)

    @QtCore.Slot()
    def _on_export_writing(self) -> None:
        if self.export_progress is not None:
            self.export_progress.setValue(self.export_progress.maximum())
            self.export_progress.setLabelText("Writing the file…")

    @QtCore.Slot(str, int)
    def _on_export_finished(self, path: str, count: int) -> None:
        self._finish_export()
        self.last_export = Path(path)
        noun = "iteration" if count == 1 else "iterations"
        self.window.statusBar().showMessage(f"Exported {count} {noun} to {path}", 10000)

    @QtCore.Slot(str)
    def _on_export_failed(self, message: str) -> None:
        self._finish_export()
        self.show_error(
            "Export failed", message,
            "No file was written. Choose another folder or name, or free some disk space.",
        )  # fmt: skip

    @QtCore.Slot()
    def _on_export_cancelled(self) -> None:
        self._finish_export()
        self.window.statusBar().showMessage("Export cancelled: nothing was written", 5000)

    @QtCore.Slot()
    def _on_closing(self) -> None:
        if self.memory_box is not None:
            with contextlib.suppress(RuntimeError):
                self.memory_box.close()
            self.memory_box = None
        self.cancel_export()
        with contextlib.suppress(RuntimeError):
            self._finish_export()


def install(window: WindowAPI) -> FileActions:
    """Add Open config (Ctrl+O), Open recent, Save config as (Ctrl+Shift+S), Export run data (Ctrl+E)."""
    return FileActions(window)


__all__ = [
    "ExportJob",
    "ExportWorker",
    "FileActions",
    "estimate_bytes",
    "forget_recent",
    "install",
    "recent_files",
    "remember_recent",
    "replay_records",
    "with_suffix",
    "write_records",
]
