"""Open/Save config, recent files and Export run data, driven through the window as a user would.

Only the system file dialogs are replaced (they would block); loading, saving, the replay and the
writing run for real. Exports are read back and compared with a fresh engine run, bit for bit.
"""

from __future__ import annotations

import csv
import dataclasses
import errno
import os
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import POPUP_MENUS_OFFSCREEN, small_config
from PySide6 import QtCore, QtGui, QtWidgets

from gradsim.engine.config import SimConfig
from gradsim.engine.history import RunHistory
from gradsim.engine.presets import get_preset
from gradsim.engine.records import StepRecord
from gradsim.io import atomic
from gradsim.io.configfile import config_to_toml, load_config
from gradsim.io.runexport import read_json, read_npz
from gradsim.ui.features.files import export_actions
from gradsim.ui.features.files.export_actions import EXPORT_FILTERS
from gradsim.ui.features.files.export_job import ExportJob
from gradsim.ui.features.files.file_actions import FileActions
from gradsim.ui.features.files.file_names import MAX_RECENT, recent_files, remember_recent
from gradsim.ui.main_window import MainWindow

pytestmark = [pytest.mark.qt_log_level_fail("WARNING"), POPUP_MENUS_OFFSCREEN]

Key, Modifier = QtCore.Qt.Key, QtCore.Qt.KeyboardModifier
SMALL = small_config(seq_len=10, activation="tanh", seed=5)
pytestmark.append(
    pytest.mark.window(
        config=SMALL,
        size=(1300, 850),
        steps=3,
        activate=True,
        after_close=lambda window: feature(window).export_task.thread is None,
    )
)
OTHER = SimConfig(num_layers=1, hidden_size=8, seq_len=10, batch_size=2, activation="relu", seed=9)


def take_steps(qtbot, window: MainWindow, steps: int) -> None:
    start = latest_iteration(window)
    for done in range(start + 1, start + steps + 1):
        window.runner.step()
        qtbot.waitUntil(lambda done=done: latest_iteration(window) == done, timeout=5000)


def latest_iteration(window: MainWindow) -> int:
    latest = window.history.latest
    return 0 if latest is None else latest.iteration


def feature(window: MainWindow) -> FileActions:
    found = window.features["gradsim.ui.features.files.file_actions"]
    assert isinstance(found, FileActions)
    return found


def error_box(window: MainWindow) -> QtWidgets.QMessageBox:
    boxes = [box for box in window.findChildren(QtWidgets.QMessageBox, "file_error") if box.isVisible()]
    assert len(boxes) == 1
    return boxes[0]


def box_text(box: QtWidgets.QMessageBox) -> str:
    return f"{box.text()}\n{box.informativeText()}"


def listing(folder: Path) -> list[str]:
    """Every entry under ``folder``, hidden ones included."""
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


def wait_export(qtbot, window: MainWindow, timeout: int = 20000) -> None:
    qtbot.waitUntil(lambda: feature(window).export_task.thread is None, timeout=timeout)


def without_samples(record: StepRecord) -> StepRecord:
    return dataclasses.replace(record, preactivation_samples=np.empty((record.grad_norms.shape[0], 0)))


def read_csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def assert_csv_matches(rows: list[dict[str, str]], records: list[StepRecord]) -> None:
    """One row per iteration, layer and time step, values bit-identical to ``records``."""
    layers, steps = records[0].grad_norms.shape
    assert len(rows) == len(records) * layers * steps
    expected = [
        (record.iteration, layer + 1, step + 1, record.grad_norms[layer, step], record.loss)
        for record in records
        for layer in range(layers)
        for step in range(steps)
    ]
    for row, (iteration, layer, step, norm, loss) in zip(rows, expected, strict=True):
        assert (int(row["iteration"]), int(row["layer"]), int(row["time_step"])) == (iteration, layer, step)
        assert float(row["grad_norm"]) == norm
        assert float(row["loss"]) == loss


# -- menu ---------------------------------------------------------------------------------------


def test_file_menu_entries_shortcuts_and_tips(make_window):
    window = make_window(steps=0)
    files = feature(window)
    actions = window.file_menu.actions()
    assert actions[-1] is window.quit_action  # Quit stays last
    assert actions[:3] == [files.open_action, files.recent_menu.menuAction(), files.save_action]
    assert files.export_action in actions
    assert actions.index(files.export_action) < actions.index(window.quit_action)
    expected = {files.open_action: "Ctrl+O", files.save_action: "Ctrl+Shift+S", files.export_action: "Ctrl+E"}
    for action, shortcut in expected.items():
        assert action.shortcut().toString() == shortcut
        assert shortcut in action.toolTip() and action.statusTip() == action.toolTip()
    assert files.recent_menu.menuAction().toolTip()
    assert files.clear_recent_action.toolTip()
    # No other action of the window claims these shortcuts.
    taken = [
        a.shortcut().toString() for a in window.findChildren(QtGui.QAction) if not a.shortcut().isEmpty()
    ]
    for shortcut in expected.values():
        assert taken.count(shortcut) == 1, shortcut


# -- save and open --------------------------------------------------------------------------------


def test_saved_config_opens_to_a_bit_identical_run(
    qtbot, make_window, tmp_path, monkeypatch, assert_same_record
):
    window = make_window(SMALL, steps=4)
    first_run = window.history.recent()
    assert [r.iteration for r in first_run] == [1, 2, 3, 4]
    asked = {}

    def save_dialog(parent, caption, start, filters):
        asked.update(start=start, filters=filters)
        return str(tmp_path / "mine"), "TOML config (*.toml)"  # typed without an extension

    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", save_dialog)
    qtbot.keyClick(window, Key.Key_S, Modifier.ControlModifier | Modifier.ShiftModifier)
    saved = tmp_path / "mine.toml"
    assert asked["start"] == str(Path.home() / "gradsim-custom.toml")
    assert asked["filters"].startswith("TOML config")
    assert load_config(saved) == SMALL
    assert saved.read_text().startswith("# gradsim configuration")
    assert "Saved config" in window.statusBar().currentMessage()

    window.apply_config(OTHER)  # the user moves on to something else
    take_steps(qtbot, window, 2)
    assert window.runner.config == OTHER

    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileName", lambda *args: (str(saved), ""))
    qtbot.keyClick(window, Key.Key_O, Modifier.ControlModifier)
    assert window.runner.config == SMALL and window.control_panel.config() == SMALL
    assert window.history.latest is None  # a new run started
    assert "Opened config" in window.statusBar().currentMessage()
    take_steps(qtbot, window, 4)
    second_run = window.history.recent()
    assert len(second_run) == 4
    for before, after in zip(first_run, second_run, strict=True):
        assert_same_record(before, after)
    # The folder is remembered for the next dialog.
    assert feature(window).folder() == tmp_path


def test_json_config_by_filter_or_extension(qtbot, make_window, tmp_path, monkeypatch):
    window = make_window(OTHER, steps=0)
    answers = iter(
        [(str(tmp_path / "a"), "JSON config (*.json)"), (str(tmp_path / "b.json"), "TOML config (*.toml)")]
    )
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", lambda *args: next(answers))
    qtbot.keyClick(window, Key.Key_S, Modifier.ControlModifier | Modifier.ShiftModifier)
    qtbot.keyClick(window, Key.Key_S, Modifier.ControlModifier | Modifier.ShiftModifier)
    for name in ("a.json", "b.json"):
        assert (tmp_path / name).read_text().startswith('{\n  "config"')
        assert load_config(tmp_path / name) == OTHER
    # The proposed name follows the preset the controls show.
    window.apply_config(get_preset("exploding-large-weights").config)
    assert window.control_panel.preset_name() == "exploding-large-weights"
    assert feature(window).proposed_config_path().name == "gradsim-exploding-large-weights.toml"


BAD_FILES = {
    "broken.toml": ("[config\nhidden_size = 8\n", ["malformed TOML", "line 1"]),
    "unknown.toml": ("[config]\nhidden_size = 8\nlayers = 3\n", ["'layers'", "known settings"]),
    "range.toml": ("[config]\nhidden_size = 0\n", ["hidden_size", "between 1 and 1024", "(got 0)"]),
    "choice.json": ('{"config": {"activation": "softsign"}}', ["activation", "one of sigmoid"]),
    "type.json": ('{"config": {"seq_len": "long"}}', ["seq_len"]),
}


def test_an_invalid_config_names_the_field_and_changes_nothing(qtbot, make_window, tmp_path):
    window = make_window(SMALL, steps=2)
    before = window.history.recent()
    for name, (text, phrases) in BAD_FILES.items():
        path = tmp_path / name
        path.write_text(text)
        assert feature(window).open_config(path) is False
        box = error_box(window)
        message = box_text(box)
        assert str(path) in message
        for phrase in phrases:
            assert phrase in message, (name, phrase)
        assert "Nothing was changed" in message
        box.close()
        assert window.control_panel.config() == SMALL and window.runner.config == SMALL
        assert window.history.recent() == before and latest_iteration(window) == 2
    take_steps(qtbot, window, 1)  # the same run goes on
    assert [r.iteration for r in window.history.recent()] == [1, 2, 3]
    assert recent_files(window.settings) == []  # a file that failed is not remembered


def test_a_missing_file_says_so(make_window, tmp_path):
    window = make_window(SMALL, steps=1)
    assert feature(window).open_config(tmp_path / "gone.toml") is False
    box = error_box(window)
    assert "no such file" in box.text() and str(tmp_path / "gone.toml") in box.text()
    box.close()
    assert window.runner.config == SMALL and latest_iteration(window) == 1


# -- recent files ---------------------------------------------------------------------------------


def write_configs(folder: Path, count: int) -> list[Path]:
    paths = []
    for number in range(count):
        path = folder / f"c{number}.toml"
        path.write_text(config_to_toml(dataclasses.replace(SMALL, seed=number)))
        paths.append(path)
    return paths


def recent_entries(window: MainWindow) -> list[QtGui.QAction]:
    menu = feature(window).recent_menu
    menu.aboutToShow.emit()  # as opening the submenu does
    return [action for action in menu.actions() if action.objectName().startswith("recent_file_")]


def test_recent_files_order_cap_and_persistence(qtbot, make_window, tmp_path):
    window = make_window(SMALL, steps=0)
    files = feature(window)
    paths = write_configs(tmp_path, MAX_RECENT + 2)
    for path in paths:
        assert files.open_config(path)
    newest_first = [str(path) for path in reversed(paths)][:MAX_RECENT]
    assert files.recent_files() == newest_first
    entries = recent_entries(window)
    assert [action.data() for action in entries] == newest_first
    assert entries[0].text() == f"&1 {paths[-1].name}" and entries[0].toolTip() == str(paths[-1])
    # Opening one again moves it to the top, once.
    assert files.open_config(paths[4])
    assert files.recent_files()[:2] == [str(paths[4]), str(paths[-1])]
    assert len(files.recent_files()) == MAX_RECENT
    # Choosing an entry opens it.
    recent_entries(window)[1].trigger()
    assert window.runner.config.seed == MAX_RECENT + 1
    assert files.recent_files()[0] == str(paths[-1])

    # Another window (the next session) offers the same list.
    window.close()
    later = make_window(OTHER, steps=0)
    assert [action.data() for action in recent_entries(later)] == feature(later).recent_files()
    assert feature(later).recent_files()[0] == str(paths[-1])


def test_missing_recent_files_are_disabled_and_the_list_can_be_cleared(qtbot, make_window, tmp_path):
    window = make_window(SMALL, steps=0)
    files = feature(window)
    kept, gone = write_configs(tmp_path, 2)
    remember_recent(window.settings, kept)
    remember_recent(window.settings, gone)
    gone.unlink()
    entries = recent_entries(window)
    assert [(a.data(), a.isEnabled()) for a in entries] == [(str(gone), False), (str(kept), True)]
    assert entries[0].text().endswith("(missing)") and "no longer exists" in entries[0].toolTip()
    # A file that vanishes after the menu was built is dropped, with a message.
    kept.unlink()
    entries[1].trigger()
    box = error_box(window)
    assert "no such file" in box.text()
    box.close()
    assert files.recent_files() == [str(gone)]
    assert window.runner.config == SMALL
    files.clear_recent_action.trigger()
    assert files.recent_files() == [] and recent_entries(window) == []
    assert not files.clear_recent_action.isEnabled()
    assert "cleared" in window.statusBar().currentMessage()


def test_a_dropped_config_file_opens(qtbot, make_window, tmp_path):
    window = make_window(SMALL, steps=1)
    path = tmp_path / "dropped.json"
    path.write_text('{"config": {"hidden_size": 8, "seq_len": 10, "seed": 4}}')
    # Sent to a control, as Qt does when the file is dropped on it: it reaches the central area.
    target = window.control_panel
    point = QtCore.QPointF(target.width() / 2, target.height() / 2)
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(path))])
    copy = QtCore.Qt.DropAction.CopyAction
    buttons, modifiers = QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier
    enter = QtGui.QDragEnterEvent(point.toPoint(), copy, mime, buttons, modifiers)
    QtWidgets.QApplication.sendEvent(target, enter)
    assert enter.isAccepted()
    drop = QtGui.QDropEvent(point, copy, mime, buttons, modifiers)
    QtWidgets.QApplication.sendEvent(target, drop)
    assert drop.isAccepted()
    qtbot.waitUntil(lambda: window.runner.config.seed == 4)
    assert window.runner.config == SimConfig(hidden_size=8, seq_len=10, seed=4)
    assert feature(window).recent_files() == [str(path)]
    # Other files are not taken.
    other = QtCore.QMimeData()
    other.setUrls([QtCore.QUrl.fromLocalFile(str(tmp_path / "run.csv"))])
    enter = QtGui.QDragEnterEvent(point.toPoint(), copy, other, buttons, modifiers)
    enter.ignore()
    QtWidgets.QApplication.sendEvent(target, enter)
    assert not enter.isAccepted()


# -- export -----------------------------------------------------------------------------------------


def export_via_menu(qtbot, window: MainWindow, path: Path, selected: str, monkeypatch) -> dict:
    asked: dict = {}

    def save_dialog(parent, caption, start, filters, chosen):
        asked.update(start=start, filters=filters, chosen=chosen)
        return str(path), selected

    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", save_dialog)
    # A slow export shows a progress dialog; once it closes, the window may not be the active one
    # again, and a shortcut reaches the active window only.
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.keyClick(window, Key.Key_E, Modifier.ControlModifier)
    wait_export(qtbot, window)
    return asked


def test_exports_read_back_equal_to_the_engine(
    qtbot, make_window, tmp_path, monkeypatch, engine_records, assert_same_record
):
    window = make_window(SMALL, steps=5)
    expected = engine_records(SMALL, 5)
    # The replay reproduces the window's own records, too.
    for own, engine in zip(window.history.recent(), expected, strict=True):
        assert_same_record(engine, own)

    asked = export_via_menu(qtbot, window, tmp_path / "run", EXPORT_FILTERS[".csv"], monkeypatch)
    assert asked["start"] == str(Path.home() / "gradsim-custom-it5.csv")
    assert asked["chosen"] == EXPORT_FILTERS[".csv"]
    assert_csv_matches(read_csv_rows(tmp_path / "run.csv"), expected)
    assert "Exported 5 iterations" in window.statusBar().currentMessage()

    asked = export_via_menu(qtbot, window, tmp_path / "run.json", EXPORT_FILTERS[".csv"], monkeypatch)
    assert asked["start"] == str(tmp_path / "gradsim-custom-it5.csv")  # the folder is remembered
    data = read_json(tmp_path / "run.json")
    assert data.config == SMALL
    for want, got in zip(expected, data.records, strict=True):
        assert_same_record(without_samples(want), got)

    asked = export_via_menu(qtbot, window, tmp_path / "run", EXPORT_FILTERS[".npz"], monkeypatch)
    data = read_npz(tmp_path / "run.npz")
    assert data.config == SMALL
    for want, own, got in zip(expected, window.history.recent(), data.records, strict=True):
        assert_same_record(want, got)
        assert_same_record(own, got)
    assert feature(window).export_suffix() == ".npz"  # proposed next time
    assert feature(window).last_export == tmp_path / "run.npz"
    # No temporary file is left beside them.
    assert sorted(path.name for path in tmp_path.iterdir()) == ["run.csv", "run.json", "run.npz", "settings"]


def test_nothing_to_export_before_the_first_step(qtbot, make_window, monkeypatch):
    window = make_window(SMALL, steps=0)

    def never(*args):
        raise AssertionError("no dialog expected")

    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", never)
    qtbot.keyClick(window, Key.Key_E, Modifier.ControlModifier)
    assert "Nothing to export yet" in window.statusBar().currentMessage()
    assert feature(window).export_task.thread is None


def test_export_while_playing_keeps_the_window_answering_and_the_data_exact(
    qtbot, make_window, tmp_path, engine_records
):
    window = make_window(SMALL, steps=0)
    window.runner.play()
    qtbot.waitUntil(lambda: latest_iteration(window) >= 500, timeout=20000)
    files = feature(window)
    path = tmp_path / "live.csv"
    ticks: list[float] = []
    timer = QtCore.QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    started = time.perf_counter()
    worker = files.export(path)
    assert worker is not None
    iterations = worker.job.iterations
    assert iterations >= 500
    assert files.export(tmp_path / "second.csv") is None  # one export at a time
    wait_export(qtbot, window, timeout=30000)
    duration = time.perf_counter() - started
    timer.stop()
    window.runner.pause()
    # The window kept training and its event loop kept answering throughout.
    assert latest_iteration(window) > iterations
    # A 10 ms timer kept firing while the export ran: the event loop was never blocked for the
    # whole export. How late it fires under load is measured by benchmarks/bench_gui_latency.py,
    # not asserted here (a loaded machine would make a time bound flaky).
    during = [tick for tick in ticks if started <= tick <= started + duration]
    assert len(during) >= 3, (len(ticks), duration)
    assert_csv_matches(read_csv_rows(path), engine_records(SMALL, iterations))
    assert not (tmp_path / "second.csv").exists()


def test_cancel_writes_nothing(qtbot, make_window, tmp_path):
    window = make_window(SMALL, steps=1)
    files = feature(window)
    out = tmp_path / "out"
    out.mkdir()
    worker = files.start_export(ExportJob(out / "long.npz", SMALL, 100_000))
    assert worker is not None and files.export_task.progress is not None
    progress = files.export_task.progress
    qtbot.waitUntil(lambda: progress.value() >= 20, timeout=10000)
    take_steps(qtbot, window, 1)  # meanwhile the window trains
    cancel = progress.findChild(QtWidgets.QPushButton)
    assert cancel is not None and cancel.text() == "Cancel"
    qtbot.mouseClick(cancel, QtCore.Qt.MouseButton.LeftButton)
    wait_export(qtbot, window, timeout=10000)
    assert listing(out) == []
    assert files.last_export is None
    assert "cancelled" in window.statusBar().currentMessage()


def test_closing_the_window_during_an_export_stops_it(qtbot, make_window, tmp_path):
    window = make_window(SMALL, steps=1)
    files = feature(window)
    out = tmp_path / "out"
    out.mkdir()
    files.start_export(ExportJob(out / "long.csv", SMALL, 100_000))
    qtbot.waitUntil(
        lambda: files.export_task.progress is not None and files.export_task.progress.value() >= 10
    )
    window.close()
    assert files.export_task.thread is None
    assert listing(out) == []


def test_a_long_run_offers_the_kept_iterations(qtbot, make_window, tmp_path, monkeypatch, engine_records):
    window = make_window(SMALL, steps=0)
    window.history = RunHistory(capacity=8)  # thins after 8 records, as a long run does after 1000
    take_steps(qtbot, window, 20)
    kept = [int(i) for i in window.history.iterations()]
    assert len(kept) < 20 and kept[0] == 1 and kept[-1] == 20
    monkeypatch.setattr(export_actions, "MEMORY_LIMIT", 1000)
    files = feature(window)
    assert files.export(tmp_path / "run.csv") is None
    box = files.memory_box
    assert box is not None and box.isVisible()
    assert "all 20 iterations" in box.text() and "KiB" in box.text()
    assert f"only the {len(kept)} iterations" in box.informativeText()
    take_steps(qtbot, window, 1)  # the run moves on while the question is shown
    box.findChild(QtWidgets.QPushButton, "export_thinned").click()
    wait_export(qtbot, window)
    expected = engine_records(SMALL, 20)
    assert_csv_matches(read_csv_rows(tmp_path / "run.csv"), [expected[i - 1] for i in kept])
    assert "Exported" in window.statusBar().currentMessage()

    # "Export all anyway" writes every iteration; Cancel writes nothing.
    files.export(tmp_path / "all.csv")
    files.memory_box.findChild(QtWidgets.QPushButton, "export_all").click()
    wait_export(qtbot, window)
    assert_csv_matches(read_csv_rows(tmp_path / "all.csv"), engine_records(SMALL, 21))
    files.export(tmp_path / "none.csv")
    box = files.memory_box
    box.button(QtWidgets.QMessageBox.StandardButton.Cancel).click()
    assert files.export_task.thread is None and not (tmp_path / "none.csv").exists()
    assert "cancelled" in window.statusBar().currentMessage()


# -- failures -----------------------------------------------------------------------------------------


def disk_full(monkeypatch) -> None:
    def full(path: str) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic, "_fsync_file", full)


def unwritable(monkeypatch, folder: Path) -> None:
    """Make ``folder`` refuse new files (chmod does not stop root, who runs the tests here)."""
    folder.chmod(0o500)
    if os.access(folder, os.W_OK):
        real = atomic.tempfile.mkstemp

        def refuse(*args, dir=None, **kwargs):  # noqa: A002 (tempfile's name)
            if dir is not None and Path(dir) == folder:
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(folder))
            return real(*args, dir=dir, **kwargs)

        monkeypatch.setattr(atomic.tempfile, "mkstemp", refuse)


def test_export_to_a_full_disk_leaves_no_file_and_says_why(qtbot, make_window, tmp_path, monkeypatch):
    window = make_window(SMALL, steps=2)
    out = tmp_path / "out"
    out.mkdir()
    disk_full(monkeypatch)
    for suffix in (".csv", ".json", ".npz"):
        feature(window).export(out / f"run{suffix}")
        wait_export(qtbot, window)
        box = error_box(window)
        assert str(out / f"run{suffix}") in box.text() and "the disk is full" in box.text()
        assert "No file was written" in box.informativeText()
        box.close()
        assert listing(out) == []
    assert feature(window).last_export is None


def test_export_and_save_into_an_unwritable_folder(qtbot, make_window, tmp_path, monkeypatch):
    window = make_window(SMALL, steps=1)
    locked = tmp_path / "locked"
    locked.mkdir()
    unwritable(monkeypatch, locked)
    try:
        files = feature(window)
        files.export(locked / "run.json")
        wait_export(qtbot, window)
        box = error_box(window)
        assert str(locked / "run.json") in box.text() and "not writable" in box.text()
        box.close()
        assert files.save_config(locked / "c.toml") is False
        box = error_box(window)
        assert str(locked / "c.toml") in box.text() and "not writable" in box.text()
        box.close()
        assert listing(locked) == []
        assert files.recent_files() == []
    finally:
        locked.chmod(0o700)


def test_save_config_to_a_full_disk_or_missing_folder(qtbot, make_window, tmp_path, monkeypatch):
    window = make_window(SMALL, steps=1)
    files = feature(window)
    assert files.save_config(tmp_path / "missing" / "c.toml") is False
    box = error_box(window)
    assert "does not exist" in box.text() and str(tmp_path / "missing" / "c.toml") in box.text()
    box.close()
    out = tmp_path / "out"
    out.mkdir()
    (out / "c.toml").write_text("old")
    disk_full(monkeypatch)
    assert files.save_config(out / "c.toml") is False
    box = error_box(window)
    assert "the disk is full" in box.text()
    box.close()
    assert listing(out) == ["c.toml"] and (out / "c.toml").read_text() == "old"  # untouched
    assert window.runner.config == SMALL and latest_iteration(window) == 1
