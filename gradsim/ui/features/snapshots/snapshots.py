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
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from gradsim.engine.config import SimConfig
from gradsim.engine.history import RunHistory
from gradsim.engine.records import StepRecord
from gradsim.io.atomic import WriteError, atomic_write_bytes, atomic_write_text, describe_error
from gradsim.io.configfile import config_to_toml
from gradsim.io.filenames import slug
from gradsim.io.runexport import write_json, write_npz
from gradsim.ui.common import background
from gradsim.ui.common.icons import icon
from gradsim.ui.common.naming import (  # noqa: F401 (DASHBOARD: part of this module's API)
    DASHBOARD,
    TARGET_LABELS,
    base_name,
    confirm_replace,
    propose_path,
)
from gradsim.ui.common.workers import JobContext, Worker
from gradsim.ui.feature_api import PinnedRuns, WindowAPI
from gradsim.ui.training import render
from gradsim.ui.training.dashboard import PLOT_KEYS

FORMATS = ("png", "svg")
FOLDER_KEY = "snapshots/folder"
FORMAT_KEY = "snapshots/format"
DEFAULT_PLOT = "gradient"
# Replay progress is reported at most this often (steps), so the signal queue stays short.
_PROGRESS_EVERY = 10


def image_bytes(
    target: QtWidgets.QWidget, fmt: str, width: int | None = None, title: str = "gradsim"
) -> bytes:
    """``target`` encoded as ``fmt`` (``"png"`` at ``width`` pixels, or ``"svg"``)."""
    if fmt == "png":
        return render.png_bytes(target, width)
    if fmt == "svg":
        return render.svg_bytes(target, title=title)
    raise ValueError(f"the format must be PNG or SVG (got {fmt!r})")


def readme_text(
    config: SimConfig, iterations: int, preset: str, plots: tuple[str, ...], pinned: list[str]
) -> str:
    """The README.txt of a bundle: what each file is and how to reproduce the figures."""
    lines = [
        f"gradsim bundle: preset {preset}, {iterations} training iteration{'s' if iterations != 1 else ''}",
        "",
        "Reproduce the run (prints a summary; add --json/--npz/--csv to write the records):",
        f"    gradsim run --config config.toml --iterations {iterations}",
        "Reproduce the figures without a window:",
        f"    gradsim snapshot --config config.toml --iterations {iterations} --out dashboard.png",
        f"    gradsim snapshot --config config.toml --iterations {iterations} --plot gradient \\",
        "        --out gradient.svg",
        "Runs are deterministic: the same config and iteration count give the same numbers, bit for bit.",
        "",
        "Files",
        f"    {'config.toml':<36}the exact configuration of the run",
        f"    {'run.json':<36}every step record of the run (no pre-activation samples)",
        f"    {'run.npz':<36}the same records as numpy arrays, with the pre-activation samples",
        f"    {'dashboard.png':<36}the five plots as shown in the window",
    ]
    for key in plots:
        lines.append(f"    {f'{key}.png, {key}.svg':<36}{TARGET_LABELS[key]}")
    if pinned:
        lines += ["", "Pinned runs (the compare feature's references), one folder each under pinned/:"]
        lines += [f"    {name}" for name in pinned]
        lines.append("    config.toml and run.json (the pinned run's newest records as kept by the window)")
    return "\n".join(lines) + "\n"


# -- the bundle worker ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PinnedPart:
    """A pinned run to write into a bundle: folder name, config, records."""

    folder: str
    label: str
    config: SimConfig
    records: list[StepRecord]


@dataclasses.dataclass(frozen=True)
class BundleJob:
    """Everything a bundle holds, captured on the GUI thread (the worker only computes and writes).

    Attributes
    ----------
    destination : the folder to create (must not exist)
    config, iterations : the run to replay and save
    files : file name -> content (the pictures, the README)
    pinned : pinned runs to add under ``pinned/``
    """

    destination: Path
    config: SimConfig
    iterations: int
    files: dict[str, bytes]
    pinned: tuple[PinnedPart, ...] = ()


class BundleCancelled(Exception):
    """The user cancelled the bundle."""


def write_bundle(
    job: BundleJob,
    cancelled: Callable[[], bool] = lambda: False,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Replay the run and write the bundle folder, all or nothing.

    The folder is built under a hidden temporary name in the destination's parent folder and
    renamed to ``job.destination`` at the end; on any failure or cancel it is removed.

    Parameters
    ----------
    job : what to write
    cancelled : polled between training steps; True stops and removes everything
    progress : called with ``(steps done, steps in all)`` while replaying

    Raises
    ------
    BundleCancelled
        ``cancelled()`` became true.
    WriteError
        A file or the folder could not be written (nothing is left behind).
    """
    target = job.destination
    parent = target.parent
    if target.exists():
        raise WriteError(target, "a file or folder of that name exists")
    try:
        temp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent))
    except OSError as error:
        reason = (
            "folder is not writable" if error.errno in (errno.EACCES, errno.EPERM) else str(error.strerror)
        )
        if not parent.is_dir():
            reason = f"folder {parent} does not exist"
        raise WriteError(target, reason, error.errno) from error
    try:
        records: list[StepRecord] = []
        for record in background.replay_beside_the_window(job.config, job.iterations):
            if cancelled():
                raise BundleCancelled()
            records.append(record)
            if progress is not None and (record.iteration % _PROGRESS_EVERY == 0):
                progress(record.iteration, job.iterations)
        if cancelled():
            raise BundleCancelled()
        atomic_write_text(temp / "config.toml", config_to_toml(job.config, header=_config_header(job)))
        write_json(temp / "run.json", records, job.config)
        write_npz(temp / "run.npz", records, job.config)
        for name, data in job.files.items():
            atomic_write_bytes(temp / name, data)
        for part in job.pinned:
            folder = temp / "pinned" / part.folder
            folder.mkdir(parents=True)
            header = f"gradsim pinned run: {part.label}"
            atomic_write_text(folder / "config.toml", config_to_toml(part.config, header=header))
            write_json(folder / "run.json", part.records, part.config)
        if cancelled():
            raise BundleCancelled()
        if target.exists():
            raise WriteError(target, "a file or folder of that name appeared meanwhile")
        os.rename(temp, target)
    except BaseException as error:
        shutil.rmtree(temp, ignore_errors=True)
        if isinstance(error, WriteError):
            # Name the file as the user will look for it, not inside the hidden temporary folder.
            with contextlib.suppress(ValueError):
                inside = Path(error.path).relative_to(temp)
                raise WriteError(target / inside, error.reason, error.errno) from error
        elif isinstance(error, OSError):
            raise WriteError(target, error.strerror or str(error), error.errno) from error
        raise
    return target


def _config_header(job: BundleJob) -> str:
    return (
        f"gradsim config of this bundle ({job.iterations} iterations).\n"
        f"Reproduce it with: gradsim run --config config.toml --iterations {job.iterations}"
    )


class BundleWorker:
    """Runs :func:`write_bundle`: the job of a bundle's worker thread.

    Messages (see :func:`gradsim.ui.common.background.start_job`)
    --------
    ("progressed", done, total) : training steps replayed
    ("finished", path) : the bundle is complete at ``path``
    ("failed", message) : nothing was written; ``message`` names the path and the reason
    ("cancelled",) : the user cancelled; nothing was written
    """

    def __init__(self, job: BundleJob) -> None:
        self.job = job

    def run(self, context: JobContext) -> None:
        def progress(done: int, total: int) -> None:
            context.emit(("progressed", done, total))

        try:
            path = write_bundle(self.job, context.is_cancelled, progress)
        except BundleCancelled:
            context.emit(("cancelled",))
        except Exception as error:  # every failure becomes a message, never a traceback
            context.emit(("failed", describe_error(self.job.destination, error)))
        else:
            context.emit(("finished", str(path)))


# -- the dialog ----------------------------------------------------------------------------------


class SnapshotDialog(QtWidgets.QDialog):
    """Choose what to save (dashboard or one plot), the format, the PNG width and the file.

    The dialog only chooses; :class:`SnapshotFeature` writes the file when it is accepted.

    Attributes
    ----------
    target_combo, format_combo, width_spin, size_label, path_edit, browse_button, buttons
    """

    def __init__(
        self,
        feature: SnapshotFeature,
        target: str = DASHBOARD,
        fmt: str = "png",
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.feature = feature
        self.setObjectName("snapshot_dialog")
        self.setWindowTitle("Save snapshot")
        self._path_edited = False

        self.target_combo = QtWidgets.QComboBox()
        self.target_combo.setObjectName("snapshot_target")
        self.target_combo.setToolTip("Save all five plots as laid out in the window, or one plot")
        for key in (DASHBOARD, *PLOT_KEYS):
            self.target_combo.addItem(TARGET_LABELS[key], key)
        self.format_combo = QtWidgets.QComboBox()
        self.format_combo.setObjectName("snapshot_format")
        self.format_combo.setToolTip("PNG: a picture for slides and notes. SVG: vector graphics for papers")
        self.format_combo.addItem("PNG image", "png")
        self.format_combo.addItem("SVG vector graphics", "svg")
        self.width_spin = QtWidgets.QSpinBox()
        self.width_spin.setObjectName("snapshot_width")
        self.width_spin.setRange(render.MIN_WIDTH, render.MAX_WIDTH)
        self.width_spin.setSingleStep(100)
        self.width_spin.setSuffix(" px")
        self.width_spin.setToolTip(
            "Width of the PNG in pixels; the height follows the plot's proportions. "
            "The default, twice the size on screen, stays sharp on slides"
        )
        self.size_label = QtWidgets.QLabel()
        self.size_label.setObjectName("snapshot_size")
        self.default_width_button = QtWidgets.QPushButton("2× screen")
        self.default_width_button.setObjectName("snapshot_default_width")
        self.default_width_button.setToolTip("Set the width to twice the size on screen")
        self.path_edit = QtWidgets.QLineEdit()
        self.path_edit.setObjectName("snapshot_path")
        self.path_edit.setToolTip("The file to write (its folder is remembered for next time)")
        self.path_edit.setMinimumWidth(self.path_edit.fontMetrics().horizontalAdvance("x" * 56))
        self.browse_button = QtWidgets.QPushButton("Browse…")
        self.browse_button.setObjectName("snapshot_browse")
        self.browse_button.setToolTip("Choose the folder and the file name")

        width_row = QtWidgets.QHBoxLayout()
        width_row.addWidget(self.width_spin)
        width_row.addWidget(self.size_label, 1)
        width_row.addWidget(self.default_width_button)
        path_row = QtWidgets.QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(self.browse_button)
        form = QtWidgets.QFormLayout()
        form.addRow("&Save:", self.target_combo)
        form.addRow("&Format:", self.format_combo)
        self._width_caption = QtWidgets.QLabel("&Width:")
        self._width_caption.setBuddy(self.width_spin)
        form.addRow(self._width_caption, width_row)
        # A row whose field is a layout gets no buddy: the label needs one for its "&" mnemonic
        # (without it the text reads literally "F&ile:").
        file_label = QtWidgets.QLabel("F&ile:")
        file_label.setBuddy(self.path_edit)
        form.addRow(file_label, path_row)
        self.buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Save | QtWidgets.QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.setObjectName("snapshot_buttons")
        self.buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Save).setToolTip("Write the file")
        self.buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Cancel).setToolTip(
            "Close without saving"
        )
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.buttons)

        self.target_combo.setCurrentIndex(max(0, self.target_combo.findData(target)))
        self.format_combo.setCurrentIndex(max(0, self.format_combo.findData(fmt)))
        self._on_user_target()
        self.target_combo.currentIndexChanged.connect(self._on_user_target)
        self.format_combo.currentIndexChanged.connect(self._on_user_format)
        self.width_spin.valueChanged.connect(self._show_height)
        self.default_width_button.clicked.connect(self._on_user_default_width)
        self.path_edit.textEdited.connect(self._on_user_path_edited)
        self.browse_button.clicked.connect(self._on_user_browse)
        self.buttons.accepted.connect(self._on_user_save)
        self.buttons.rejected.connect(self.reject)

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
        if not self._path_edited:
            self.path_edit.setText(str(self.feature.proposed_path(self.target(), self.format())))
        else:
            self.path_edit.setText(str(self.path()))

    @QtCore.Slot()
    def _on_user_format(self) -> None:
        png = self.format() == "png"
        for widget in (self.width_spin, self.size_label, self.default_width_button, self._width_caption):
            widget.setEnabled(png)
        if not self._path_edited:
            self.path_edit.setText(str(self.feature.proposed_path(self.target(), self.format())))
        else:
            self.path_edit.setText(str(self.path()))

    @QtCore.Slot()
    def _on_user_default_width(self) -> None:
        self.width_spin.setValue(render.default_width(self.feature.widget_for(self.target())))

    @QtCore.Slot(str)
    def _on_user_path_edited(self, _text: str) -> None:
        self._path_edited = True

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

    @QtCore.Slot()
    def _on_user_save(self) -> None:
        text = self.path_edit.text().strip()
        if not text:
            self.feature.show_error("Choose a file name for the snapshot.", parent=self)
            return
        path = self.path()
        if path.exists() and not self._confirm_replace(path):
            return
        if self.feature.save_snapshot(self.target(), self.format(), path, self.png_width(), parent=self):
            self.accept()

    def _confirm_replace(self, path: Path) -> bool:
        return confirm_replace(self, path)

    def _with_suffix(self, path: Path) -> Path:
        suffix = f".{self.format()}"
        if path.suffix.lower() == suffix:
            return path
        if path.suffix.lower() in (".png", ".svg"):
            return path.with_suffix(suffix)
        return path.with_name(path.name + suffix) if path.name else path


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
    bundle_thread, bundle_worker, bundle_progress : the running bundle, if any
    last_bundle : the last bundle written
    """

    def __init__(self, window: WindowAPI) -> None:
        super().__init__(window)
        self.window = window
        self.current_plot = DEFAULT_PLOT
        self.context_menu: QtWidgets.QMenu | None = None
        self.dialog: SnapshotDialog | None = None
        self.bundle_thread: QtCore.QThread | None = None
        self.bundle_worker: BundleWorker | None = None
        self._bundle: Worker | None = None
        self.bundle_progress: QtWidgets.QProgressDialog | None = None
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
        self.save_action = QtGui.QAction(icon("snapshot"), "Save snapshot…", window)
        self.save_action.setObjectName("save_snapshot_action")
        self.save_action.setShortcut(key(key.StandardKey.Save))
        self.save_action.setIconText("Snapshot")
        tip = "Save the dashboard or one plot as PNG or SVG (Ctrl+S)"
        self.save_action.setToolTip(tip)
        self.save_action.setStatusTip(tip)
        self.save_action.triggered.connect(self._on_user_save_snapshot)

        self.copy_action = QtGui.QAction("Copy plot", window)
        self.copy_action.setObjectName("copy_plot_action")
        self.copy_action.setShortcut(key("Ctrl+Shift+C"))
        tip = "Copy the last plot clicked or pointed at to the clipboard as an image (Ctrl+Shift+C)"
        self.copy_action.setToolTip(tip)
        self.copy_action.setStatusTip(tip)
        self.copy_action.triggered.connect(self._on_user_copy_current)

        self.bundle_action = QtGui.QAction("Save bundle…", window)
        self.bundle_action.setObjectName("save_bundle_action")
        self.bundle_action.setShortcut(key("Ctrl+B"))
        tip = (
            "Save a folder with the pictures, the exact config and the whole run's data, "
            "so anyone can reproduce the figures (Ctrl+B)"
        )
        self.bundle_action.setToolTip(tip)
        self.bundle_action.setStatusTip(tip)
        self.bundle_action.triggered.connect(self._on_user_save_bundle)

        for action in (self.save_action, self.copy_action, self.bundle_action):
            window.addAction(action)
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
        if self.dialog is not None:
            self.dialog.close()
        if fmt is None:
            fmt = str(self.window.settings.value(FORMAT_KEY, "png"))
            fmt = fmt if fmt in FORMATS else "png"
        dialog = SnapshotDialog(self, target, fmt, parent=self.window)
        dialog.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose, True)
        dialog.finished.connect(self._on_dialog_finished)
        self.dialog = dialog
        dialog.open()
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
        if self.bundle_thread is not None:
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
        worker = BundleWorker(job)
        progress = background.progress_dialog(
            self.window, f"Replaying {job.iterations} iterations for {destination.name}…",
            "Saving bundle", job.iterations, "bundle_progress", self.cancel_bundle,
        )  # fmt: skip
        handlers: dict[str, Callable[..., None]] = {
            "progressed": self._on_bundle_progress, "finished": self._on_bundle_finished,
            "failed": self._on_bundle_failed, "cancelled": self._on_bundle_cancelled,
        }  # fmt: skip
        self._bundle = background.start_job(worker.run, handlers, "bundle_thread")
        self.bundle_thread, self.bundle_worker, self.bundle_progress = self._bundle.thread, worker, progress
        return worker

    @QtCore.Slot()
    def cancel_bundle(self) -> None:
        """Stop the bundle being written (its replay stops at the next step; nothing is left)."""
        if self._bundle is not None:
            self._bundle.cancel()

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

    def _finish_bundle(self) -> None:
        bundle, progress = self._bundle, self.bundle_progress
        self._bundle = self.bundle_thread = self.bundle_worker = self.bundle_progress = None
        background.finish(bundle, progress)

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

    @QtCore.Slot(int, int)
    def _on_bundle_progress(self, done: int, total: int) -> None:
        if self.bundle_progress is not None:
            self.bundle_progress.setMaximum(max(1, total))
            self.bundle_progress.setValue(done)

    @QtCore.Slot(str)
    def _on_bundle_finished(self, path: str) -> None:
        self._finish_bundle()
        self.last_bundle = Path(path)
        self.window.statusBar().showMessage(f"Saved bundle {path}", 10000)

    @QtCore.Slot(str)
    def _on_bundle_failed(self, message: str) -> None:
        self._finish_bundle()
        self.show_error(message)

    @QtCore.Slot()
    def _on_bundle_cancelled(self) -> None:
        self._finish_bundle()
        self.window.statusBar().showMessage("Bundle cancelled: nothing was written", 5000)

    @QtCore.Slot()
    def _on_closing(self) -> None:
        self.cancel_bundle()
        with contextlib.suppress(RuntimeError):
            self._finish_bundle()


def install(window: WindowAPI) -> SnapshotFeature:
    """Add Save snapshot (Ctrl+S), Copy plot (Ctrl+Shift+C), Save bundle (Ctrl+B) and plot menus."""
    return SnapshotFeature(window)


__all__ = [
    "DASHBOARD",
    "BundleJob",
    "BundleWorker",
    "SnapshotDialog",
    "SnapshotFeature",
    "base_name",
    "confirm_replace",
    "describe_error",
    "image_bytes",
    "install",
    "propose_path",
    "readme_text",
    "slug",
    "write_bundle",
]
