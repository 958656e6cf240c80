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

This module holds the feature with its config entries, the recent files and drag and drop; the
export half is :class:`~gradsim.ui.features.files.export_actions.ExportActions` (its job, with no
widget, in :mod:`.export_job`), the recent list and dialog names in :mod:`.file_names`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from gradsim.engine.config import ConfigError
from gradsim.io.atomic import describe_error
from gradsim.io.configfile import CONFIG_SUFFIXES, load_config, save_config
from gradsim.io.filenames import slug
from gradsim.io.runexport import RunFileError
from gradsim.ui.common.widgets import make_action
from gradsim.ui.feature_api import WindowAPI
from gradsim.ui.features.files.export_actions import ExportActions
from gradsim.ui.features.files.file_names import (
    forget_recent,
    recent_files,
    remember_recent,
    suffix_of_filter,
    with_suffix,
)

FOLDER_KEY = "files/folder"
CONFIG_FILTERS = {".toml": "TOML config (*.toml)", ".json": "JSON config (*.json)"}


class FileActions(ExportActions, QtCore.QObject):
    """Open/Save config, recent files and Export run data of ``window`` (see the module docstring).

    Attributes
    ----------
    open_action : "Open config…" (Ctrl+O)
    recent_menu : the "Open recent" submenu (rebuilt each time it opens)
    clear_recent_action : "Clear list" in it
    save_action : "Save config as…" (Ctrl+Shift+S)
    export_action : "Export run data…" (Ctrl+E)
    export_task : the running export (its job, thread and progress dialog, when one runs)
    memory_box : the "too much memory" question while shown
    last_export : the file last exported
    """

    def __init__(self, window: WindowAPI) -> None:
        super().__init__(window)
        self.window = window
        self._init_export()
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
        self, text: str, name: str, tip: str, slot: Callable[[], None], shortcut: str
    ) -> QtGui.QAction:
        return make_action(self.window, text, slot, tip, keys=shortcut, name=name)

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
    def _on_user_clear_recent(self) -> None:
        forget_recent(self.window.settings)
        self.rebuild_recent_menu()
        self.window.statusBar().showMessage("Recent files list cleared", 5000)

    @QtCore.Slot()
    def _on_closing(self) -> None:
        self._close_export()


def install(window: WindowAPI) -> FileActions:
    """Add Open config (Ctrl+O), Open recent, Save config as (Ctrl+Shift+S), Export run data (Ctrl+E)."""
    return FileActions(window)


__all__ = ["CONFIG_FILTERS", "FOLDER_KEY", "FileActions", "install"]
