"""Snapshots, the plot menu, the clipboard and bundles, driven through the window as a user would.

Only the system file dialogs are replaced (they would block); the dialog of this feature, the
writing and the replay run for real. Bundle data is compared with a fresh engine run.
"""

from __future__ import annotations

import errno
import os
import re
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from helpers import POPUP_MENUS_OFFSCREEN, small_config
from PySide6 import QtCore, QtGui, QtWidgets

from gradsim.io import atomic
from gradsim.io.configfile import load_config
from gradsim.io.filenames import slug
from gradsim.io.runexport import read_json, read_npz
from gradsim.ui.common.naming import DASHBOARD, base_name, propose_path
from gradsim.ui.features.snapshots import snapshots
from gradsim.ui.features.snapshots.snapshots import SnapshotFeature
from gradsim.ui.main_window import MainWindow
from gradsim.ui.training.dashboard import PLOT_KEYS

pytestmark = [pytest.mark.qt_log_level_fail("WARNING"), POPUP_MENUS_OFFSCREEN]

Key, Modifier = QtCore.Qt.Key, QtCore.Qt.KeyboardModifier
SMALL = small_config(activation="sigmoid", seed=2)
pytestmark.append(
    pytest.mark.window(
        config=SMALL,
        size=(1300, 850),
        steps=3,
        after_close=lambda window: feature(window).bundle_task.thread is None,
    )
)
SAVE = QtWidgets.QDialogButtonBox.StandardButton.Save
SVG = "{http://www.w3.org/2000/svg}"


def feature(window: MainWindow) -> SnapshotFeature:
    found = window.features["gradsim.ui.features.snapshots.snapshots"]
    assert isinstance(found, SnapshotFeature)
    return found


def image_size(path: Path) -> tuple[int, int]:
    image = QtGui.QImage(str(path))
    assert not image.isNull(), path
    return image.width(), image.height()


def error_box(window: MainWindow) -> QtWidgets.QMessageBox:
    boxes = [box for box in window.findChildren(QtWidgets.QMessageBox, "snapshot_error") if box.isVisible()]
    assert len(boxes) == 1
    return boxes[0]


def listing(folder: Path) -> list[str]:
    """Every entry under ``folder``, hidden ones included."""
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


# -- names ------------------------------------------------------------------------------------


def test_names_come_from_preset_iteration_and_time(tmp_path):
    assert slug("Exploding: large weights!") == "exploding-large-weights"
    assert slug("") == "run"
    assert base_name("exploding", 120) == "gradsim-exploding-it120"
    assert base_name("custom", 3, "heatmap") == "gradsim-custom-it3-heatmap"
    now = datetime(2026, 11, 29, 14, 5, 9)
    assert propose_path(tmp_path, "gradsim-x-it1", ".png", now) == tmp_path / "gradsim-x-it1.png"
    (tmp_path / "gradsim-x-it1.png").touch()
    assert propose_path(tmp_path, "gradsim-x-it1", ".png", now) == tmp_path / "gradsim-x-it1-140509.png"
    (tmp_path / "gradsim-x-it1-140509.png").touch()
    assert propose_path(tmp_path, "gradsim-x-it1", ".png", now) == tmp_path / "gradsim-x-it1-140509-2.png"
    assert propose_path(tmp_path, "gradsim-x-it1", "", now) == tmp_path / "gradsim-x-it1"


# -- actions ----------------------------------------------------------------------------------


def test_actions_have_their_shortcuts_menu_entries_and_toolbar_button(make_window):
    window = make_window(steps=0)
    snap = feature(window)
    expected = {snap.save_action: "Ctrl+S", snap.copy_action: "Ctrl+Shift+C", snap.bundle_action: "Ctrl+B"}
    menu_actions = window.file_menu.actions()
    for action, shortcut in expected.items():
        assert action.shortcut().toString() == shortcut
        assert action in menu_actions
        assert action.toolTip() and shortcut in action.toolTip()
    # Before Quit, which stays last.
    assert menu_actions[-1] is window.quit_action
    button = window.run_toolbar.findChild(QtWidgets.QToolButton, "snapshot_button")
    assert button is not None and button.defaultAction() is snap.save_action
    assert not snap.save_action.icon().isNull()


def test_ctrl_s_proposes_a_name_and_saves_a_png_of_the_chosen_width(qtbot, make_window, tmp_path):
    window = make_window(steps=3)
    tmp_path = tmp_path / "out"  # tmp_path itself holds the test's settings
    tmp_path.mkdir()
    window.settings.setValue(snapshots.FOLDER_KEY, str(tmp_path))
    qtbot.keyClick(window, Key.Key_S, Modifier.ControlModifier)
    dialog = feature(window).dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.target() == DASHBOARD and dialog.format() == "png"
    assert dialog.path() == tmp_path / "gradsim-custom-it3.png"
    dashboard = window.dashboard
    assert dialog.png_width() == 2 * dashboard.width()
    assert (
        dialog.size_label.text()
        == f"× {round(2 * dashboard.width() * dashboard.height() / dashboard.width())} px"
    )
    for widget in (
        dialog.target_combo,
        dialog.format_combo,
        dialog.width_spin,
        dialog.path_edit,
        dialog.browse_button,
    ):
        assert widget.toolTip()
    dialog.width_spin.setValue(900)
    dialog.buttons.button(SAVE).click()
    assert not dialog.isVisible()
    saved = tmp_path / "gradsim-custom-it3.png"
    assert listing(tmp_path) == [saved.name]
    assert image_size(saved) == (900, round(900 * dashboard.height() / dashboard.width()))
    assert "Saved" in window.statusBar().currentMessage()
    # The next proposal: same folder, and a new name since this one is taken.
    dialog = feature(window).open_dialog()
    assert dialog.path().parent == tmp_path
    assert re.fullmatch(r"gradsim-custom-it3-\d{6}\.png", dialog.path().name)
    dialog.reject()


def test_one_plot_as_svg_through_browse_remembers_the_folder(qtbot, make_window, tmp_path, monkeypatch):
    window = make_window(steps=2)
    other = tmp_path / "figures"
    other.mkdir()
    dialog = feature(window).open_dialog()
    dialog.target_combo.setCurrentIndex(dialog.target_combo.findData("gradient"))
    assert dialog.png_width() == 2 * window.dashboard.plots["gradient"].width()
    assert dialog.path().name == "gradsim-custom-it2-gradient.png"
    asked = {}

    def save_dialog(parent, caption, start, filters):
        asked.update(start=start, filters=filters)
        return str(other / "fig"), "SVG vector graphics (*.svg)"

    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", save_dialog)
    qtbot.mouseClick(dialog.browse_button, QtCore.Qt.MouseButton.LeftButton)
    assert asked["filters"].startswith("PNG image")
    assert dialog.format() == "svg" and not dialog.width_spin.isEnabled()
    assert dialog.path() == other / "fig.svg"
    dialog.buttons.button(SAVE).click()
    root = ET.parse(other / "fig.svg").getroot()
    paths = list(root.iter(f"{SVG}path"))
    assert len(paths) >= SMALL.num_layers
    assert "time step t" in " ".join(text.text or "" for text in root.iter(f"{SVG}text"))
    assert window.settings.value(snapshots.FOLDER_KEY) == str(other)
    again = feature(window).open_dialog("loss")
    assert again.format() == "svg"  # the last format is remembered too
    assert again.path() == other / "gradsim-custom-it2-loss.svg"
    again.reject()


def test_an_existing_file_is_replaced_only_when_confirmed(qtbot, make_window, tmp_path, monkeypatch):
    window = make_window(steps=1)
    target = tmp_path / "slide.png"
    target.write_bytes(b"old")
    dialog = feature(window).open_dialog()
    dialog.path_edit.setText(str(target))
    answers = [QtWidgets.QMessageBox.StandardButton.No, QtWidgets.QMessageBox.StandardButton.Yes]
    monkeypatch.setattr(QtWidgets.QMessageBox, "question", lambda *args: answers.pop(0))
    dialog.buttons.button(SAVE).click()
    assert target.read_bytes() == b"old" and dialog.isVisible()
    dialog.buttons.button(SAVE).click()
    assert image_size(target)[0] == dialog.png_width() and not dialog.isVisible()


# -- the plot menu and the clipboard ------------------------------------------------------------


def right_click(panel: QtWidgets.QWidget) -> None:
    viewport = panel.graphics.viewport()
    position = QtCore.QPoint(viewport.width() // 2, viewport.height() // 2)
    event = QtGui.QContextMenuEvent(
        QtGui.QContextMenuEvent.Reason.Mouse, position, viewport.mapToGlobal(position)
    )
    QtWidgets.QApplication.sendEvent(viewport, event)


def test_right_click_on_a_plot_offers_save_and_copy(qtbot, make_window):
    window = make_window(steps=2)
    snap = feature(window)
    panel = window.dashboard.plots["heatmap"]
    right_click(panel)
    menu = snap.context_menu
    assert menu is not None and menu.isVisible()
    actions = {action.objectName(): action for action in menu.actions()}
    assert actions["save_plot_action"].text() == "Save this plot as…"
    assert actions["copy_this_plot_action"].text() == "Copy this plot"
    assert snap.current_plot == "heatmap"
    QtWidgets.QApplication.clipboard().clear()
    actions["copy_this_plot_action"].trigger()
    copied = QtWidgets.QApplication.clipboard().image()
    graphics = panel.graphics  # the plot without its "Heatmap layer" selector
    assert (copied.width(), copied.height()) == (graphics.width(), graphics.height())
    menu.close()
    actions["save_plot_action"].trigger()
    assert snap.dialog is not None and snap.dialog.target() == "heatmap"
    snap.dialog.reject()


def test_ctrl_shift_c_copies_the_current_plot(qtbot, make_window):
    window = make_window(steps=2)
    snap = feature(window)
    # The plot last clicked or hovered; set here, since a pointer left over a plot by an earlier
    # test may have hovered another one.
    snap.current_plot = "gradient"
    gradient = window.dashboard.plots["gradient"]
    QtWidgets.QApplication.clipboard().clear()
    qtbot.keyClick(window, Key.Key_C, Modifier.ControlModifier | Modifier.ShiftModifier)
    copied = QtWidgets.QApplication.clipboard().image()
    assert (copied.width(), copied.height()) == (gradient.width(), gradient.height())
    # The copy is the plot: its layer colours are in it.
    color = QtGui.QColor(gradient.theme.layer_colors[0])
    sample = copied.convertToFormat(QtGui.QImage.Format.Format_RGB888)
    array = np.frombuffer(sample.constBits(), np.uint8).reshape(sample.height(), sample.bytesPerLine())
    array = array[:, : 3 * sample.width()].reshape(sample.height(), sample.width(), 3).astype(int)
    near = np.all(np.abs(array - [color.red(), color.green(), color.blue()]) <= 12, axis=2)
    assert near.sum() > 50
    # Pointing at another plot makes it the current one.
    loss = window.dashboard.plots["loss"]
    QtWidgets.QApplication.sendEvent(loss.graphics.viewport(), QtCore.QEvent(QtCore.QEvent.Type.Enter))
    assert snap.current_plot == "loss"
    qtbot.keyClick(window, Key.Key_C, Modifier.ControlModifier | Modifier.ShiftModifier)
    copied = QtWidgets.QApplication.clipboard().image()
    assert (copied.width(), copied.height()) == (loss.width(), loss.height())
    assert "clipboard" in window.statusBar().currentMessage()


# -- failures ---------------------------------------------------------------------------------


def test_disk_full_leaves_no_file_and_says_why(qtbot, make_window, tmp_path, monkeypatch):
    window = make_window(steps=1)
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    window.settings.setValue(snapshots.FOLDER_KEY, str(tmp_path))

    def full(path: str) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic, "_fsync_file", full)
    dialog = feature(window).open_dialog()
    path = dialog.path()
    dialog.buttons.button(SAVE).click()
    box = error_box(window)
    assert str(path) in box.text() and "the disk is full" in box.text()
    assert listing(tmp_path) == []  # not the file, not its temporary
    assert dialog.isVisible()  # the user can pick another place
    box.close()
    dialog.reject()


def test_unwritable_or_missing_folder_leaves_no_file_and_says_why(qtbot, make_window, tmp_path):
    window = make_window(steps=1)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        dialog = feature(window).open_dialog()
        if not os.access(locked, os.W_OK):  # root writes anyway: then only the missing folder is tried
            dialog.path_edit.setText(str(locked / "a.png"))
            dialog.buttons.button(SAVE).click()
            box = error_box(window)
            assert str(locked / "a.png") in box.text() and "not writable" in box.text()
            box.close()
        assert listing(locked) == []
        dialog.path_edit.setText(str(tmp_path / "missing" / "a.png"))
        dialog.buttons.button(SAVE).click()
        box = error_box(window)
        assert "does not exist" in box.text() and str(tmp_path / "missing" / "a.png") in box.text()
        box.close()
        assert not (tmp_path / "missing").exists()
        dialog.reject()
    finally:
        locked.chmod(0o700)


# -- bundles ----------------------------------------------------------------------------------


def save_bundle(qtbot, window: MainWindow, folder: Path, monkeypatch) -> None:
    monkeypatch.setattr(QtWidgets.QFileDialog, "getExistingDirectory", lambda *args: str(folder))
    qtbot.keyClick(window, Key.Key_B, Modifier.ControlModifier)
    qtbot.waitUntil(lambda: feature(window).bundle_task.thread is None, timeout=20000)


def test_bundle_holds_pictures_exact_config_and_the_whole_run(
    qtbot, make_window, tmp_path, monkeypatch, engine_records, assert_same_record
):
    window = make_window(steps=4)
    out = tmp_path / "out"
    out.mkdir()
    save_bundle(qtbot, window, out, monkeypatch)
    bundle = out / "gradsim-custom-it4"
    assert feature(window).last_bundle == bundle
    assert listing(out) == [bundle.name] + [
        f"{bundle.name}/{name}"
        for name in sorted(
            ["README.txt", "config.toml", "run.json", "run.npz", "dashboard.png"]
            + [f"{key}.{ext}" for key in PLOT_KEYS for ext in ("png", "svg")]
        )
    ]
    assert load_config(bundle / "config.toml") == SMALL
    expected = engine_records(SMALL, 4)
    from_npz = read_npz(bundle / "run.npz")
    assert from_npz.config == SMALL and len(from_npz.records) == 4
    for want, got in zip(expected, from_npz.records, strict=True):
        assert_same_record(want, got)
    from_json = read_json(bundle / "run.json")
    for want, got in zip(expected, from_json.records, strict=True):
        np.testing.assert_array_equal(got.grad_norms, want.grad_norms)
        assert got.loss == want.loss and got.iteration == want.iteration
    readme = (bundle / "README.txt").read_text()
    assert "gradsim run --config config.toml --iterations 4" in readme
    dashboard = window.dashboard
    assert image_size(bundle / "dashboard.png") == (2 * dashboard.width(), 2 * dashboard.height())
    for key in PLOT_KEYS:
        assert image_size(bundle / f"{key}.png")[0] == 2 * dashboard.plots[key].width()
        assert ET.parse(bundle / f"{key}.svg").getroot().tag == f"{SVG}svg"
    assert window.settings.value(snapshots.FOLDER_KEY) == str(out)
    assert "Saved bundle" in window.statusBar().currentMessage()
    # A second bundle of the same iteration gets the time added, not a clash.
    save_bundle(qtbot, window, out, monkeypatch)
    assert re.fullmatch(r"gradsim-custom-it4-\d{6}", feature(window).last_bundle.name)


def test_bundle_writes_the_pinned_runs(qtbot, make_window, tmp_path, monkeypatch, engine_records):
    window = make_window(steps=2)
    compare = window.features["gradsim.ui.features.compare.compare"]
    pin = compare.pin_current()
    assert pin is not None
    window.apply_config(SMALL.replace(activation="tanh"))
    window.runner.step()
    qtbot.waitUntil(lambda: feature(window).shown_iteration() == 1, timeout=5000)
    save_bundle(qtbot, window, tmp_path, monkeypatch)
    bundle = feature(window).last_bundle
    assert bundle is not None and bundle.name == "gradsim-custom-it1"
    assert load_config(bundle / "config.toml") == SMALL.replace(activation="tanh")
    (pinned,) = sorted((bundle / "pinned").iterdir())
    assert pinned.name.startswith("1-")
    assert load_config(pinned / "config.toml") == SMALL
    records = read_json(pinned / "run.json").records
    expected = engine_records(SMALL, 2)
    assert [r.iteration for r in records] == [1, 2]
    for want, got in zip(expected, records, strict=True):
        np.testing.assert_array_equal(got.grad_norms, want.grad_norms)
    assert pinned.name in (bundle / "README.txt").read_text()


def test_bundle_without_the_compare_feature(qtbot, make_window, tmp_path, monkeypatch):
    window = make_window(steps=1)
    monkeypatch.setitem(window.features, "gradsim.ui.features.compare.compare", None)
    save_bundle(qtbot, window, tmp_path, monkeypatch)
    bundle = feature(window).last_bundle
    assert bundle is not None and not (bundle / "pinned").exists()


def test_bundle_replays_off_the_gui_thread_and_cancel_leaves_nothing(
    qtbot, make_window, tmp_path, monkeypatch
):
    window = make_window(steps=1)
    snap = feature(window)
    monkeypatch.setattr(snap, "shown_iteration", lambda: 100_000)  # a long run to replay
    out = tmp_path / "out"
    out.mkdir()
    worker = snap.start_bundle(out)
    assert worker is not None and snap.bundle_task.progress is not None
    progress = snap.bundle_task.progress
    qtbot.waitUntil(lambda: progress.value() >= 20, timeout=10000)
    # Meanwhile the window trains and draws.
    window.runner.step()
    qtbot.waitUntil(lambda: window.history.latest is not None and window.history.latest.iteration == 2)
    assert snap.start_bundle(out) is None  # one bundle at a time
    cancel = progress.findChild(QtWidgets.QPushButton)
    assert cancel is not None and cancel.text() == "Cancel"
    qtbot.mouseClick(cancel, QtCore.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: snap.bundle_task.thread is None, timeout=10000)
    assert listing(out) == []
    assert snap.last_bundle is None
    assert "cancelled" in window.statusBar().currentMessage()


def test_closing_the_window_during_a_bundle_stops_it(qtbot, make_window, tmp_path, monkeypatch):
    window = make_window(steps=1)
    snap = feature(window)
    monkeypatch.setattr(snap, "shown_iteration", lambda: 100_000)
    snap.start_bundle(tmp_path)
    qtbot.waitUntil(lambda: snap.bundle_task.progress is not None and snap.bundle_task.progress.value() >= 10)
    window.close()
    assert snap.bundle_task.thread is None
    assert [name for name in os.listdir(tmp_path) if name.startswith((".gradsim", "gradsim"))] == []


def test_bundle_failure_removes_the_folder_and_says_why(qtbot, make_window, tmp_path, monkeypatch):
    window = make_window(steps=2)
    out = tmp_path / "out"
    out.mkdir()

    def full(path: str) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic, "_fsync_file", full)
    save_bundle(qtbot, window, out, monkeypatch)
    box = error_box(window)
    assert str(out / "gradsim-custom-it2") in box.text() and "the disk is full" in box.text()
    box.close()
    assert listing(out) == []
    assert feature(window).last_bundle is None


def test_bundle_into_an_unwritable_folder(qtbot, make_window, tmp_path, monkeypatch):
    window = make_window(steps=1)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as root: a read-only folder is still writable")
        save_bundle(qtbot, window, locked, monkeypatch)
        box = error_box(window)
        assert str(locked / "gradsim-custom-it1") in box.text() and "not writable" in box.text()
        box.close()
        assert listing(locked) == []
    finally:
        locked.chmod(0o700)
