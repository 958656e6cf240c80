"""File ▸ Record animation… and the Backprop tab's Record button, driven through the window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import small_config
from PIL import Image, ImageSequence
from PySide6 import QtCore, QtWidgets

from gradsim.io import animation_writer
from gradsim.ui.common.scaling import scale_of
from gradsim.ui.feature_api import FrozenNetwork
from gradsim.ui.features.recording import record_dialog, recording
from gradsim.ui.features.recording.animation_job import AnimationRequest
from gradsim.ui.features.recording.frame_sources import BACKPROP
from gradsim.ui.features.recording.record_dialog import RecordDialog
from gradsim.ui.features.recording.recording import RecordingFeature
from gradsim.ui.main_window import MainWindow

pytestmark = [pytest.mark.qt_log_level_fail("WARNING")]

SMALL = small_config(activation="sigmoid", seed=2)
pytestmark.append(
    pytest.mark.window(
        config=SMALL, size=(1300, 850), steps=3, after_close=lambda window: feature(window).job is None
    )
)


def feature(window: MainWindow) -> RecordingFeature:
    found = window.features["gradsim.ui.features.recording.recording"]
    assert isinstance(found, RecordingFeature)
    return found


def frames_of(path: Path) -> tuple[list[np.ndarray], list[int]]:
    with Image.open(path) as image:
        pictures = [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(image)]
    with Image.open(path) as image:
        durations = [int(f.info["duration"]) for f in ImageSequence.Iterator(image)]
    return pictures, durations


def test_the_file_menu_opens_the_dialog_with_the_run_proposed(qtbot, make_window, tmp_path):
    window = make_window(steps=3)
    snapshots = window.features["gradsim.ui.features.snapshots.snapshots"]
    snapshots.remember_folder(tmp_path)
    # The plot last clicked or hovered; set here, since a pointer left over a plot by an earlier
    # test may have hovered another one.
    snapshots.current_plot = "loss"
    record = feature(window)
    assert record.action in window.file_menu.actions()
    record.action.trigger()
    dialog = record.dialog
    assert isinstance(dialog, RecordDialog)
    qtbot.addWidget(dialog)
    assert dialog.target() == "loss"  # the snapshot feature's current plot
    # Every caption's Alt+letter has a field to go to, and no two share a letter.
    mnemonics = {
        label.text(): label.buddy() for label in dialog.findChildren(QtWidgets.QLabel) if "&" in label.text()
    }
    assert None not in mnemonics.values() and mnemonics["Fi&le:"] is dialog.path_edit
    letters = [text[text.index("&") + 1].lower() for text in mnemonics]
    assert len(set(letters)) == len(letters) == 6
    assert (dialog.first_spin.value(), dialog.last_spin.value(), dialog.every_spin.value()) == (1, 3, 1)
    assert dialog.path().parent == tmp_path
    assert dialog.path().name.startswith("gradsim-") and dialog.path().name.endswith("-it3-loss.gif")
    assert dialog.summary_label.text().startswith("3 frames, 0.1 s at 20 fps (50 ms a frame)")
    dialog.every_spin.setValue(2)
    assert dialog.summary_label.text().startswith("2 frames")  # iterations 1 and 3
    dialog.format_combo.setCurrentIndex(dialog.format_combo.findData("webp"))
    assert dialog.path().suffix == ".webp"
    dialog.first_spin.setValue(5)  # after the last
    assert not dialog.save_button.isEnabled()
    assert "must not come before" in dialog.message_label.text()


def test_recording_from_the_dialog_writes_the_frames(qtbot, make_window, tmp_path):
    window = make_window(steps=2)
    record = feature(window)
    dialog = record.open_dialog("loss")
    qtbot.addWidget(dialog)
    dialog.last_spin.setValue(6)
    dialog.every_spin.setValue(1)
    dialog.first_spin.setValue(1)
    dialog.width_spin.setValue(360)
    dialog.fps_spin.setValue(10)
    path = tmp_path / "loss.gif"
    dialog.path_edit.setText(str(path))
    dialog._path_edited = True
    height = record.frame_height("loss", 360)
    qtbot.mouseClick(dialog.save_button, QtCore.Qt.MouseButton.LeftButton)
    assert record.job is not None
    # The window keeps training while the animation is made.
    window.runner.step()
    qtbot.waitUntil(lambda: record.job is None, timeout=60000)
    assert record.last_outcome == ("finished", "6 frames")
    assert record.last_path == path
    frames, durations = frames_of(path)
    assert len(frames) == 6 and durations == [100] * 6
    assert all(frame.shape == (height, 360, 3) for frame in frames)
    assert "Saved animation" in window.statusBar().currentMessage()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "settings") == ["loss.gif"]


def test_cancel_leaves_no_file_and_the_window_goes_on(qtbot, make_window, tmp_path):
    window = make_window(steps=1)
    record = feature(window)
    out = tmp_path / "out"
    out.mkdir()
    request = recording.AnimationRequest("gradient", out / "long.gif", "gif", 20.0, 300, 1, 400, 1)
    job = record.record(request)
    assert job is not None and record.progress is not None
    progress = record.progress
    assert record.record(request) is None  # one animation at a time
    cancel = progress.findChild(QtWidgets.QPushButton)
    assert cancel is not None and cancel.text() == "Cancel"
    # Press Cancel as the third frame is counted: a fast machine renders all 400 frames before
    # a polling wait would see the progress at all.
    bar = progress.findChild(QtWidgets.QProgressBar)
    assert bar is not None
    pressed: list[int] = []

    def press_cancel(value: int) -> None:
        if value >= 3 and not pressed:
            pressed.append(value)
            qtbot.mouseClick(cancel, QtCore.Qt.MouseButton.LeftButton)

    bar.valueChanged.connect(press_cancel)
    qtbot.waitUntil(lambda: record.job is None, timeout=60000)
    assert pressed
    assert record.last_outcome == ("cancelled", "")
    assert list(out.iterdir()) == []
    assert "nothing was written" in window.statusBar().currentMessage()
    window.runner.step()
    qtbot.waitUntil(lambda: record.shown_iteration() == 2, timeout=5000)


def test_mp4_without_the_extra_says_how_to_get_it(qtbot, make_window, monkeypatch):
    window = make_window(steps=1)
    monkeypatch.setattr(record_dialog, "video_available", lambda: False)
    monkeypatch.setattr(animation_writer, "video_available", lambda: False)
    dialog = feature(window).open_dialog("gradient")
    qtbot.addWidget(dialog)
    dialog.format_combo.setCurrentIndex(dialog.format_combo.findData("mp4"))
    assert dialog.path().suffix == ".mp4"
    assert not dialog.save_button.isEnabled()
    assert dialog.message_label.text() == 'MP4 needs the video extra: pip install "gradsim[video]"'


def test_backprop_tab_records_its_step_through(qtbot, make_window, tmp_path):
    window = make_window(steps=2)
    record = feature(window)
    tab = window.features["gradsim.ui.features.backprop.backprop_tab"]
    assert record.backprop_button is not None
    assert record.backprop_cells() == 0  # nothing frozen yet
    tab.show_tab()
    qtbot.waitUntil(lambda: tab.frozen is not None and tab.view.session is not None, timeout=10000)
    qtbot.mouseClick(record.backprop_button, QtCore.Qt.MouseButton.LeftButton)
    dialog = record.dialog
    assert dialog is not None and dialog.target() == BACKPROP
    qtbot.addWidget(dialog)
    assert not dialog.first_spin.isVisible() and dialog.by_layer_check.isVisible()
    dialog.by_layer_check.setChecked(True)
    assert dialog.every() == SMALL.seq_len
    assert dialog.summary_label.text().startswith("3 frames")  # start, layer 2 done, layer 1 done
    dialog.by_layer_check.setChecked(False)
    dialog.every_spin.setValue(6)
    path = tmp_path / "backprop.png"
    dialog.format_combo.setCurrentIndex(dialog.format_combo.findData("apng"))
    dialog.path_edit.setText(str(path))
    dialog._path_edited = True
    qtbot.mouseClick(dialog.save_button, QtCore.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: record.job is None, timeout=60000)
    assert record.last_outcome == ("finished", "5 frames")  # 0, 6, 12, 18, 24 cells
    frames, _ = frames_of(path)
    assert len(frames) == 5
    # The tab's own view was not moved by the recording.
    assert tab.view.position == 0


def test_the_backprop_tab_is_reached_through_its_offer_alone(qtbot, make_window):
    """The recording feature finds the Backprop tab through ``FrozenNetwork`` (no import of the
    backprop feature): with the tab, its button sits in the tab's header row; without it there is
    no button and a backward-pass recording is refused in one line."""
    window = make_window(steps=1)
    tab = window.features["gradsim.ui.features.backprop.backprop_tab"]
    assert isinstance(tab, FrozenNetwork)
    assert window.offered(FrozenNetwork) is tab  # type: ignore[type-abstract]
    button = feature(window).backprop_button
    assert button is not None and button.parentWidget() is tab.refreeze_button.parentWidget()
    header = tab._header_row
    assert header.indexOf(button) == header.indexOf(tab.refreeze_button) + 1

    alone = make_window(features=["gradsim.ui.features.recording.recording"], steps=1)
    record = feature(alone)
    assert alone.offered(FrozenNetwork) is None  # type: ignore[type-abstract]
    assert record.backprop_button is None and record.backprop_cells() == 0
    dialog = record.open_dialog()
    qtbot.addWidget(dialog)
    targets = [dialog.target_combo.itemData(i) for i in range(dialog.target_combo.count())]
    assert BACKPROP not in targets and "gradient" in targets  # no backward pass without the tab
    dialog.close()
    request = AnimationRequest(BACKPROP, Path("never.png"), "apng", 5.0, 400, every=1)
    assert record.record(request) is None and record.job is None
    box = alone.findChild(QtWidgets.QMessageBox, "record_error")
    assert box is not None
    assert box.text() == "Open the Backprop tab first: it freezes the weights whose backward pass is shown"
    box.close()
    assert not Path("never.png").exists()


def test_closing_the_window_during_a_recording_stops_it(qtbot, make_window, tmp_path):
    window = make_window(steps=1)
    record = feature(window)
    request = recording.AnimationRequest("gradient", tmp_path / "x.gif", "gif", 20.0, 300, 1, 400, 1)
    record.record(request)
    qtbot.waitUntil(lambda: record.progress is not None and record.progress.value() >= 2, timeout=60000)
    window.close()
    assert record.job is None
    assert not (tmp_path / "x.gif").exists()


def test_recordings_in_presentation_mode_carry_its_scale(qtbot, make_window, tmp_path):
    window = make_window(steps=2)
    record = feature(window)
    normal = tmp_path / "normal.png"
    job = record.record(recording.AnimationRequest("gradient", normal, "apng", 10.0, 500, 1, 2, 1))
    assert job is not None
    qtbot.waitUntil(lambda: record.job is None, timeout=60000)
    window.features["gradsim.ui.features.presentation.presentation"].set_enabled(True)
    large = tmp_path / "large.png"
    record.record(recording.AnimationRequest("gradient", large, "apng", 10.0, 500, 1, 2, 1))
    qtbot.waitUntil(lambda: record.job is None, timeout=60000)
    # A plot of the row the mode hides is still drawn, at the mode's scale.
    health = tmp_path / "health.gif"
    record.record(recording.AnimationRequest("health", health, "gif", 10.0, 400, 1, 2, 1))
    qtbot.waitUntil(lambda: record.job is None, timeout=60000)
    assert record.last_outcome == ("finished", "2 frames")
    dark = []
    for path in (normal, large):
        frames, _ = frames_of(path)
        assert len(frames) == 2 and frames[0].shape[1] == 500
        dark.append(np.count_nonzero(frames[1].astype(int).sum(axis=2) < 300) / frames[1][..., 0].size)
    assert dark[1] > 1.3 * dark[0]  # thicker lines, larger text
    frames, _ = frames_of(health)
    assert len(frames) == 2 and frames[0].shape[1] == 400 and frames[1].std() > 10


def test_the_backward_pass_recorded_in_presentation_mode_carries_its_scale(qtbot, make_window, tmp_path):
    window = make_window(steps=2)
    record = feature(window)
    tab = window.features["gradsim.ui.features.backprop.backprop_tab"]
    tab.show_tab()
    qtbot.waitUntil(lambda: tab.frozen is not None and tab.view.session is not None, timeout=10000)
    window.features["gradsim.ui.features.presentation.presentation"].set_enabled(True)
    path = tmp_path / "backprop.png"
    job = record.record(recording.AnimationRequest(BACKPROP, path, "apng", 10.0, 500, every=SMALL.seq_len))
    assert job is not None
    # Drawn as the tab shows it in the mode: the view's plots at the mode's scale.
    assert job.source.scale == window.presentation_scale > 1
    assert scale_of(job.source.view.graphics) == window.presentation_scale
    qtbot.waitUntil(lambda: record.job is None, timeout=60000)
    assert record.last_outcome == ("finished", f"{SMALL.num_layers + 1} frames")
    frames, _ = frames_of(path)
    assert len(frames) == SMALL.num_layers + 1 and frames[0].shape[1] == 500
