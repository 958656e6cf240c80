"""Save what the window shows: snapshots (PNG/SVG), the clipboard, and reproducible bundles.

- **Save snapshot…** (Ctrl+S, File menu, toolbar): a dialog chooses the whole dashboard or one
  plot, PNG (width in pixels, twice the screen size by default) or SVG, and the file; the name is
  proposed from the preset and the iteration (``gradsim-exploding-it120.png``), the folder is
  the one used last.
- A right-click on a plot offers **Save this plot as…** and **Copy this plot**.
- **Copy plot** (Ctrl+Shift+C) puts the current plot (the last one clicked or hovered; the
  gradient plot at first) on the clipboard as an image.
- **Save bundle…** (Ctrl+B) writes a folder ``gradsim-<preset>-it<N>/`` holding the pictures,
  the exact config, the whole run's records and a README saying how to reproduce them.

Every file is written atomically (:mod:`gradsim.io.atomic`); a bundle is built in a hidden
folder next to its destination and renamed at the end, or removed when anything fails. The
records of a bundle come from replaying the run (runs are deterministic) on a worker thread,
with a progress dialog and Cancel, while the window keeps training and drawing.

This module holds the feature (actions, plot menus, the clipboard, starting a bundle); the dialog
is in :mod:`.snapshot_dialog`, what a bundle holds and the job that writes it in :mod:`.bundle`.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from gradsim.engine.config import SimConfig
from gradsim.engine.history import RunHistory
from gradsim.io.atomic import atomic_write_bytes, describe_error
from gradsim.io.filenames import slug
from gradsim.ui.common import background
from gradsim.ui.common.icons import icon
from gradsim.ui.common.naming import DASHBOARD, TARGET_LABELS, base_name, propose_path
from gradsim.ui.common.widgets import make_action, reopen_dialog
from gradsim.ui.feature_api import PinnedRuns, WindowAPI
from gradsim.ui.features.snapshots.bundle import BundleJob, BundleWorker, PinnedPart, readme_text
from gradsim.ui.features.snapshots.snapshot_dialog import FORMATS, SnapshotDialog
from gradsim.ui.training import render
from gradsim.ui.training.dashboard import PLOT_KEYS

FOLDER_KEY = "snapshots/folder"
FORMAT_KEY = "snapshots/format"
DEFAULT_PLOT = "gradient"


def image_bytes(
    target: QtWidgets.QWidget, fmt: str, width: int | None = None, title: str = "gradsim"
) -> bytes:
    """``target`` encoded as ``fmt`` (``"png"`` at ``width`` pixels, or ``"svg"``)."""
    if fmt == "png":
        return render.png_bytes(target, width)
    if fmt == "svg":
        return render.svg_bytes(target, title=title)
    raise ValueError(f"the format must be PNG or SVG (got {fmt!r})")


# -- the feature -------------------------------------------------------------------------------


class SnapshotFeature(QtCore.QObject):
    """Snapshots, clipboard copies and bundles of ``window`` (see the module docstring).

    Attributes
    ----------
    save_action : "Save snapshot…" (Ctrl+S)
    copy_action : "Copy plot" (Ctrl+Shift+C)
    bundle_action : "Save bundle…" (Ctrl+B)
    current_plot : key of the plot Ctrl+Shift+C copies (last clicked or hovered)
    context_menu : the right-click menu last shown (None before the first)
    dialog : the snapshot dialog while open
    bundle_task : the bundle being written (its job, thread and progress dialog, when one runs)
    last_bundle : the last bundle written
    """

    def __init__(self, window: WindowAPI) -> None:
        super().__init__(window)
        self.window = window
        self.current_plot = DEFAULT_PLOT
        self.context_menu: QtWidgets.QMenu | None = None
        self.dialog: SnapshotDialog | None = None
        self.bundle_task: background.ProgressTask[BundleWorker] = background.ProgressTask(
            "bundle", "Saving bundle",
            {"finished": self._on_bundle_finished, "failed": self._on_bundle_failed,
             "cancelled": self._on_bundle_cancelled},
        )  # fmt: skip
        self.last_bundle: Path | None = None
        # What the dashboard shows: its last redraw (pictures, names and bundles agree on it).
        self._shown_iteration = 0
        self._shown_config: SimConfig | None = None
        self._build_actions()
        self._watch_plots()
        window.dashboard.refreshed.connect(self._on_refreshed)
        window.runRestarted.connect(self._on_run_restarted)
        window.closing.connect(self._on_closing)

    # -- construction ------------------------------------------------------------------------------
    def _build_actions(self) -> None:
        window = self.window
        key = QtGui.QKeySequence
        self.save_action = make_action(
            window, "Save snapshot…", self._on_user_save_snapshot,
            "Save the dashboard or one plot as PNG or SVG (Ctrl+S)", [key(key.StandardKey.Save)],
            name="save_snapshot_action", icon=icon("snapshot"),
        )  # fmt: skip
        self.save_action.setIconText("Snapshot")
        self.copy_action = make_action(
            window, "Copy plot", self._on_user_copy_current,
            "Copy the last plot clicked or pointed at to the clipboard as an image",
            keys="Ctrl+Shift+C", name="copy_plot_action",
        )  # fmt: skip
        self.bundle_action = make_action(
            window, "Save bundle…", self._on_user_save_bundle,
            "Save a folder with the pictures, the exact config and the whole run's data, "
            "so anyone can reproduce the figures",
            keys="Ctrl+B", name="save_bundle_action",
        )  # fmt: skip
        menu: QtWidgets.QMenu = window.file_menu
        before = window.quit_action if window.quit_action in menu.actions() else None
        # before=None appends (Qt's nullptr); the PySide6 stubs leave None out.
        menu.insertActions(before, [self.save_action, self.copy_action, self.bundle_action])  # type: ignore[arg-type]
        menu.insertSeparator(before)  # type: ignore[arg-type]
        toolbar: QtWidgets.QToolBar = window.run_toolbar
        toolbar.addSeparator()
        toolbar.addAction(self.save_action)
        button = toolbar.widgetForAction(self.save_action)
        if button is not None:
            button.setObjectName("snapshot_button")

    def _watch_plots(self) -> None:
        self._viewports: dict[QtCore.QObject, str] = {}
        for key, panel in self.window.dashboard.plots.items():
            viewport = panel.graphics.viewport()
            viewport.installEventFilter(self)
            self._viewports[viewport] = key

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:  # noqa: N802 (Qt)
        """Track the current plot (click, hover) and give each plot its right-click menu."""
        key = self._viewports.get(watched)
        if key is None:
            return False
        kind = event.type()
        if kind in (QtCore.QEvent.Type.Enter, QtCore.QEvent.Type.MouseButtonPress):
            self.current_plot = key
        elif kind == QtCore.QEvent.Type.ContextMenu:
            assert isinstance(event, QtGui.QContextMenuEvent)
            self.current_plot = key
            self.show_context_menu(key, event.globalPos())
            return True
        return False

    # -- public ------------------------------------------------------------------------------------
    def widget_for(self, target: str) -> QtWidgets.QWidget:
        """The dashboard or its plot ``target``."""
        dashboard = self.window.dashboard
        return dashboard if target == DASHBOARD else dashboard.plots[target]

    def shown_iteration(self) -> int:
        """The iteration the dashboard shows (0 before the first redraw of a run)."""
        return self._shown_iteration

    def shown_config(self) -> SimConfig:
        """The config of the run the dashboard shows."""
        return self._shown_config if self._shown_config is not None else self.window.current_config()

    def preset_label(self) -> str:
        """The preset the controls match, or ``"custom"``."""
        return str(self.window.control_panel.preset_name())

    def folder(self) -> Path:
        """The folder used last (the home folder at first, or when it is gone)."""
        stored = self.window.settings.value(FOLDER_KEY, "")
        folder = Path(str(stored)) if stored else Path.home()
        return folder if folder.is_dir() else Path.home()

    def remember_folder(self, folder: str | os.PathLike[str]) -> None:
        """Propose ``folder`` next time (stored in the window's settings)."""
        self.window.settings.setValue(FOLDER_KEY, os.fspath(folder))

    def proposed_path(self, target: str = DASHBOARD, fmt: str = "png") -> Path:
        """A free file name in the remembered folder: ``gradsim-<preset>-it<N>[-<plot>].<fmt>``."""
        stem = base_name(self.preset_label(), self.shown_iteration(), target)
        return propose_path(self.folder(), stem, f".{fmt}")

    def open_dialog(self, target: str = DASHBOARD, fmt: str | None = None) -> SnapshotDialog:
        """Show the snapshot dialog (non-blocking) preset to ``target``; returns it."""
        if fmt is None:
            fmt = str(self.window.settings.value(FORMAT_KEY, "png"))
            fmt = fmt if fmt in FORMATS else "png"
        chosen = fmt
        dialog = reopen_dialog(
            self.dialog,
            lambda: SnapshotDialog(self, target, chosen, parent=self.window),
            self._on_dialog_finished,
        )
        self.dialog = dialog
        return dialog

    def save_snapshot(
        self,
        target: str,
        fmt: str,
        path: str | os.PathLike[str],
        width: int | None = None,
        parent: QtWidgets.QWidget | None = None,
    ) -> bool:
        """Write ``target`` as ``fmt`` to ``path`` atomically; on failure show why and return False."""
        path = Path(path)
        try:
            data = image_bytes(self.widget_for(target), fmt, width, title=f"gradsim: {TARGET_LABELS[target]}")
            atomic_write_bytes(path, data)
        except (OSError, ValueError) as error:
            self.show_error(describe_error(path, error), parent=parent)
            return False
        self.remember_folder(path.parent)
        self.window.settings.setValue(FORMAT_KEY, fmt)
        self.window.statusBar().showMessage(f"Saved {path}", 8000)
        return True

    def copy_plot(self, key: str | None = None) -> QtGui.QImage:
        """Put plot ``key`` (the current plot if None) on the clipboard at screen resolution."""
        key = key or self.current_plot
        panel = self.widget_for(key)
        ratio = panel.devicePixelRatioF()
        width = min(
            render.MAX_WIDTH, max(render.MIN_WIDTH, round(render.logical_size(panel).width() * ratio))
        )
        image = render.png_image(panel, width)
        QtWidgets.QApplication.clipboard().setImage(image)
        self.window.statusBar().showMessage(f"Copied the plot “{TARGET_LABELS[key]}” to the clipboard", 5000)
        return image

    def show_context_menu(self, key: str, position: QtCore.QPoint | None = None) -> QtWidgets.QMenu:
        """The right-click menu of plot ``key`` (shown at ``position``, global coordinates)."""
        if self.context_menu is not None:
            self.context_menu.close()
            self.context_menu.deleteLater()
        menu = QtWidgets.QMenu(self.window)
        menu.setObjectName("plot_context_menu")
        menu.setToolTipsVisible(True)
        save = menu.addAction(icon("snapshot"), "Save this plot as…")
        save.setObjectName("save_plot_action")
        save.setToolTip("Save this plot as PNG or SVG")
        save.triggered.connect(lambda: self.open_dialog(key))
        copy = menu.addAction("Copy this plot")
        copy.setObjectName("copy_this_plot_action")
        copy.setToolTip("Copy this plot to the clipboard as an image")
        copy.triggered.connect(lambda: self.copy_plot(key))
        menu.addSeparator()
        whole = menu.addAction("Save snapshot of the dashboard…")
        whole.setToolTip("Save all five plots as one picture")
        whole.triggered.connect(lambda: self.open_dialog(DASHBOARD))
        self.context_menu = menu
        menu.popup(position if position is not None else QtGui.QCursor.pos())
        return menu

    def show_error(self, message: str, parent: QtWidgets.QWidget | None = None) -> QtWidgets.QMessageBox:
        """A warning box (non-blocking, objectName ``snapshot_error``) with ``message``."""
        box = QtWidgets.QMessageBox(parent if parent is not None else self.window)
        box.setObjectName("snapshot_error")
        box.setIcon(QtWidgets.QMessageBox.Icon.Warning)
        box.setWindowTitle("Nothing was saved")
        box.setText(message[:1].upper() + message[1:])
        box.setInformativeText("No file was written. Choose another folder or name, or free some disk space.")
        box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose, True)
        box.open()
        self.window.statusBar().showMessage(message[:1].upper() + message[1:], 10000)
        return box

    # -- bundles -----------------------------------------------------------------------------------
    def bundle_job(self, destination: Path) -> BundleJob:
        """Capture what the window shows now into a :class:`BundleJob` for ``destination``."""
        dashboard = self.window.dashboard
        files = {"dashboard.png": render.png_bytes(dashboard)}
        for key in PLOT_KEYS:
            panel = dashboard.plots[key]
            files[f"{key}.png"] = render.png_bytes(panel)
            files[f"{key}.svg"] = render.svg_bytes(panel, title=f"gradsim: {TARGET_LABELS[key]}")
        pinned = self._pinned_parts()
        config, iterations = self.shown_config(), self.shown_iteration()
        readme = readme_text(config, iterations, self.preset_label(), PLOT_KEYS, [p.folder for p in pinned])
        files["README.txt"] = readme.encode("utf-8")
        return BundleJob(destination, config, iterations, files, tuple(pinned))

    def start_bundle(self, parent_folder: str | os.PathLike[str]) -> BundleWorker | None:
        """Write a bundle into ``parent_folder`` on a worker thread (None if one is running)."""
        if self.bundle_task.thread is not None:
            self.window.statusBar().showMessage("A bundle is being written; wait for it or cancel it", 5000)
            return None
        stem = base_name(self.preset_label(), self.shown_iteration())
        destination = propose_path(parent_folder, stem)
        try:
            job = self.bundle_job(destination)
        except (OSError, ValueError) as error:
            self.show_error(describe_error(destination, error))
            return None
        self.remember_folder(parent_folder)
        return self.bundle_task.start(BundleWorker(job), self.window)

    def _pinned_parts(self) -> list[PinnedPart]:
        """The pinned runs a feature offers (:class:`~gradsim.ui.feature_api.PinnedRuns`), if any."""
        offer = self.window.offered(PinnedRuns)  # type: ignore[type-abstract]  # a Protocol, by design
        if offer is None:
            return []
        parts = []
        for number, pin in enumerate(offer.pinned_runs(), start=1):
            label = pin.label or f"pinned run {number}"
            parts.append(PinnedPart(f"{number}-{slug(label)[:40]}", label, pin.config, pin.history.recent()))
        return parts

    # -- slots -------------------------------------------------------------------------------------
    @QtCore.Slot()
    def _on_user_save_snapshot(self) -> None:
        self.open_dialog(DASHBOARD)

    @QtCore.Slot()
    def _on_user_copy_current(self) -> None:
        self.copy_plot(self.current_plot)

    @QtCore.Slot()
    def _on_user_save_bundle(self) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(
            self.window, "Save bundle in folder", str(self.folder())
        )
        if folder:
            self.start_bundle(folder)

    @QtCore.Slot(int)
    def _on_dialog_finished(self, _result: int) -> None:
        self.dialog = None

    @QtCore.Slot(object, object)
    def _on_refreshed(self, history: RunHistory, config: SimConfig) -> None:
        latest = history.latest
        self._shown_iteration = 0 if latest is None else latest.iteration
        self._shown_config = config

    @QtCore.Slot(object)
    def _on_run_restarted(self, config: SimConfig) -> None:
        self._shown_iteration = 0
        self._shown_config = config

    @QtCore.Slot(str)
    def _on_bundle_finished(self, path: str) -> None:
        self.last_bundle = Path(path)
        self.window.statusBar().showMessage(f"Saved bundle {path}", 10000)

    @QtCore.Slot(str)
    def _on_bundle_failed(self, message: str) -> None:
        self.show_error(message)

    @QtCore.Slot()
    def _on_bundle_cancelled(self) -> None:
        self.window.statusBar().showMessage("Bundle cancelled: nothing was written", 5000)

    @QtCore.Slot()
    def _on_closing(self) -> None:
        self.bundle_task.close()


def install(window: WindowAPI) -> SnapshotFeature:
    """Add Save snapshot (Ctrl+S), Copy plot (Ctrl+Shift+C), Save bundle (Ctrl+B) and plot menus."""
    return SnapshotFeature(window)


__all__ = ["FOLDER_KEY", "FORMAT_KEY", "SnapshotFeature", "image_bytes", "install"]
