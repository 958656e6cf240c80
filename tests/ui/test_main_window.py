"""MainWindow: controls drive the running engine, transport, plots = engine, explosions, shutdown.

Numbers shown by the window are compared with a fresh ``Simulation`` of the same config run in
the test, never with themselves.
"""

from __future__ import annotations

import math
import multiprocessing
import re

import numpy as np
import pytest
from helpers import EXPLODING_LONG, LARGEST, small_config
from PySide6 import QtCore, QtWidgets

from gradsim.engine.config import field_names
from gradsim.engine.presets import DEFAULT_PRESET, load_preset
from gradsim.engine.regime import classify, measure
from gradsim.engine.simulation import Simulation
from gradsim.ui.common import settings as stored
from gradsim.ui.common.latency import LatencyProbe
from gradsim.ui.main_window import (
    DEFAULT_SIZE,
    MainWindow,
    format_loss,
    regime_status,
    speed_label,
)
from gradsim.ui.training.control_panel import CUSTOM
from gradsim.ui.training.runner import RUNNER_KINDS

pytestmark = [pytest.mark.qt_log_level_fail("WARNING")]

Key = QtCore.Qt.Key

SMALL = small_config(seed=5)
pytestmark.append(pytest.mark.window(config=SMALL))
# ReLU with three times the stable weights over 200 steps and a large step (the example
# of an exploding config): iteration 2 overflows.
EXPLODING = EXPLODING_LONG

# A new value for every field, valid on top of the start config for that field.
NEW_VALUES: dict[str, object] = {
    "cell": "lstm",
    "forget_bias": 1.0,
    "num_layers": 3,
    "hidden_size": 12,
    "seq_len": 20,
    "activation": "sigmoid",
    "leaky_slope": 0.25,
    "init": "orthogonal",
    "weight_scale": 1.7,
    "normalization": "batch",
    "clip_mode": "norm",
    "clip_threshold": 0.05,
    "task": "memory",
    "optimizer": "adam",
    "learning_rate": 0.2,
    "batch_size": 6,
    "seed": 3_000_000_000,
    "dtype": "float32",
}
START_FOR = {
    "forget_bias": SMALL.replace(cell="lstm"),  # an LSTM's: the other cells have no forget gate
    "leaky_slope": SMALL.replace(activation="leaky_relu"),
    "clip_threshold": SMALL.replace(clip_mode="norm"),
}


def records_shown(window: MainWindow, count: int, qtbot) -> None:
    """Wait until the history holds ``count`` records and the dashboard has drawn the last one."""
    qtbot.waitUntil(lambda: window.history.total_records >= count, timeout=10000)
    title = f"iteration {count} "
    qtbot.waitUntil(lambda: title in window.dashboard.plots["gradient"].plot.titleLabel.text, timeout=5000)


# -- every control reaches the running simulation -----------------------------------------------


@pytest.mark.parametrize("name", [*field_names(), "weight_scale_slider"])
def test_each_control_changes_the_config_the_running_simulation_uses(
    qtbot, make_window, thread_runner, name, engine_records, assert_same_record
):
    field = "weight_scale" if name == "weight_scale_slider" else name
    start = START_FOR.get(field, SMALL)
    window = make_window(start)
    panel = window.control_panel
    if name == "weight_scale_slider":
        expected = start.replace(weight_scale=10.0)
    else:
        expected = start.replace(**{field: NEW_VALUES[field]})
    with qtbot.waitSignal(window.runner.rebuilt, timeout=5000, check_params_cb=lambda c: c == expected):
        if name == "weight_scale_slider":
            panel.weight_scale_slider.setValue(panel.weight_scale_slider.maximum())
        else:
            widget = panel.editors[field]
            if isinstance(widget, QtWidgets.QComboBox):
                widget.setCurrentIndex(widget.findData(NEW_VALUES[field]))
            else:
                widget.setValue(NEW_VALUES[field])  # type: ignore[attr-defined]
    simulation = window.runner.simulation
    assert simulation is not None
    assert simulation.config == expected
    assert getattr(simulation.config, field) != getattr(start, field)
    assert window.current_config() == expected
    # And the simulation really trains with it: its first step is the engine's for `expected`.
    window.step_action.trigger()
    qtbot.waitUntil(lambda: window.history.total_records == 1, timeout=10000)
    assert_same_record(engine_records(expected, 1)[0], window.history.latest)


def test_a_preset_rebuilds_the_run_and_an_edit_makes_it_custom(qtbot, make_window):
    window = make_window(load_preset(DEFAULT_PRESET))
    panel = window.control_panel
    sigmoid = load_preset("vanishing-sigmoid")
    for _ in range(2):
        window.step_action.trigger()
    qtbot.waitUntil(lambda: window.history.total_records == 2, timeout=10000)
    with qtbot.waitSignal(window.runner.rebuilt, timeout=5000, check_params_cb=lambda c: c == sigmoid):
        index = panel.preset_combo.findData("vanishing-sigmoid")
        panel.preset_combo.setCurrentIndex(index)
        panel.preset_combo.activated.emit(index)
    assert window.history.total_records == 0  # the plots start again with the new run
    assert window.iteration_label.text() == "Iteration 0"
    assert "vanishing-sigmoid" in window.windowTitle()
    with qtbot.waitSignal(window.runner.rebuilt, timeout=5000):
        panel.editors["seq_len"].setValue(30)  # type: ignore[attr-defined]
    assert panel.preset_name() == CUSTOM
    assert "custom" in window.windowTitle()
    assert window.current_config() == sigmoid.replace(seq_len=30)


# -- transport ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", RUNNER_KINDS)
def test_play_pause_step_reset_by_keyboard(
    qtbot, make_window, monkeypatch, kind, engine_records, assert_same_record
):
    monkeypatch.setenv("GRADSIM_RUNNER", kind)
    window = make_window()
    window.tabs.setFocus()
    runner = window.runner
    assert runner.kind == kind
    with qtbot.waitSignal(runner.runningChanged, check_params_cb=lambda running: running):
        qtbot.keyClick(window.tabs, Key.Key_Space)
    assert window.play_action.text() == "Pause"
    assert window.dashboard.live  # light pens while training
    qtbot.waitUntil(lambda: window.history.total_records >= 5, timeout=10000)
    with qtbot.waitSignal(runner.runningChanged, check_params_cb=lambda running: not running):
        qtbot.keyClick(window.tabs, Key.Key_Space)
    assert window.play_action.text() == "Play"
    assert not window.dashboard.live  # the plots' own pens on a stopped run
    played = window.history.total_records
    # Right arrow and N take one step each, right after the last record of the play.
    qtbot.keyClick(window.tabs, Key.Key_Right)
    qtbot.waitUntil(lambda: window.history.total_records == played + 1, timeout=5000)
    qtbot.keyClick(window.tabs, Key.Key_N)
    qtbot.waitUntil(lambda: window.history.total_records == played + 2, timeout=5000)
    records = engine_records(SMALL, played + 2)
    assert_same_record(records[-1], window.history.latest)
    records_shown(window, played + 2, qtbot)
    assert window.iteration_label.text() == f"Iteration {played + 2}"
    # R starts the run again: counter at 0, and the next step is the engine's first.
    with qtbot.waitSignal(runner.rebuilt, timeout=5000):
        qtbot.keyClick(window.tabs, Key.Key_R)
    assert window.history.total_records == 0
    assert window.iteration_label.text() == "Iteration 0"
    window.step_action.trigger()
    qtbot.waitUntil(lambda: window.history.total_records == 1, timeout=5000)
    assert_same_record(records[0], window.history.latest)


TEXT_FIELDS = (QtWidgets.QLineEdit, QtWidgets.QAbstractSpinBox, QtWidgets.QTextEdit, QtWidgets.QPlainTextEdit)


def press_space_and_expect(qtbot, window: MainWindow, running: bool, where: str) -> None:
    """Space on the widget that has the focus now (the window if none) toggles Play."""
    target = QtWidgets.QApplication.focusWidget() or window
    with qtbot.waitSignal(
        window.runner.runningChanged, timeout=5000, check_params_cb=lambda now: now == running,
        raising=False,
    ) as blocker:  # fmt: skip
        qtbot.keyClick(target, Key.Key_Space)
    assert blocker.signal_triggered, f"Space with the focus on {target!r} ({where}) did not toggle Play"
    assert window.runner.is_running == running


@pytest.mark.parametrize(
    ("feature", "key"),
    [
        ("gradsim.ui.features.diagnosis.diagnosis_panel", Key.Key_D),
        ("gradsim.ui.features.lessons.lessons_panel", Key.Key_L),
    ],
    ids=["Ctrl+D", "Ctrl+L"],
)
def test_space_toggles_play_after_a_dock_opens_wherever_the_focus_is(qtbot, make_window, feature, key):
    """Issue 16: after Ctrl+D or Ctrl+L, Space stopped toggling Play until a plot was clicked.
    The dock is opened with its shortcut (twice for the diagnosis, shown at start: close, open),
    then Space goes to whatever has the focus: where it landed, then each widget of the dock that
    takes the focus (text fields excepted: they type the space)."""
    window = make_window()
    window.activateWindow()
    qtbot.waitActive(window)
    dock = window.features[feature].dock
    presses = 2 if dock.isVisible() else 1
    for _ in range(presses):
        qtbot.keyClick(
            QtWidgets.QApplication.focusWidget() or window, key, QtCore.Qt.KeyboardModifier.ControlModifier
        )
        qtbot.wait(50)
    assert dock.isVisible()
    press_space_and_expect(qtbot, window, True, "where Ctrl+" + chr(key))
    press_space_and_expect(qtbot, window, False, "where Ctrl+" + chr(key))
    lessons = window.features["gradsim.ui.features.lessons.lessons_panel"]
    if dock is lessons.dock:
        lessons.panel.go_next()  # the Predict step: its answers are radio buttons
        qtbot.wait(50)
    focusable = [
        widget for widget in dock.findChildren(QtWidgets.QWidget)
        if widget.isVisible() and widget.isEnabled() and not isinstance(widget, TEXT_FIELDS)
        and widget.focusPolicy() & QtCore.Qt.FocusPolicy.ClickFocus
    ]  # fmt: skip
    tried = 0
    for widget in focusable:
        if not (widget.isVisible() and widget.isEnabled()):
            continue  # a diagnosis that arrived meanwhile replaced it (e.g. "no fix" by fix buttons)
        widget.setFocus(QtCore.Qt.FocusReason.MouseFocusReason)
        assert QtWidgets.QApplication.focusWidget() is widget
        press_space_and_expect(qtbot, window, True, f"{type(widget).__name__} {widget.objectName()}")
        press_space_and_expect(qtbot, window, False, f"{type(widget).__name__} {widget.objectName()}")
        tried += 1
    assert tried >= 2


def test_status_bar_shows_the_latest_record(qtbot, make_window, engine_records):
    window = make_window(load_preset("vanishing-sigmoid"))
    for _ in range(3):
        window.step_action.trigger()
    records_shown(window, 3, qtbot)
    record = engine_records(load_preset("vanishing-sigmoid"), 3)[-1]
    assert window.status_iteration.text() == "iteration 3"
    assert window.status_loss.text() == f"loss {format_loss(record.loss)}"
    # The ratio shown is the regime measure's most extreme span, named; the tooltips say which.
    measured = measure(record)
    span = measured.extreme
    assert span is not None and span.kind == "time"
    assert window.status_ratio.text() == f"gradient, time, layer {span.layer + 1}: {span.ratio_text()}"
    assert re.search(r"\d\.\d\de-\d\d$", window.status_ratio.text())  # e.g. 3.16e-32
    assert span.describe() in window.status_ratio.toolTip()
    assert all(line in window.status_ratio.toolTip() for line in measured.span_lines())
    assert window.regime_badge.text() == classify(record) == "vanishing"
    assert window.regime_badge.toolTip().endswith(measured.sentence())
    assert regime_status(measured)[:2] == (f"time, layer {span.layer + 1}: {span.ratio_text()}", "vanishing")


def test_status_bar_names_the_depth_span_and_the_idle_state():
    from gradsim.engine.regime import measure_log10_norms

    depth = measure_log10_norms(np.array([[-9.0, -9.0], [0.0, 0.0]]))
    ratio, badge, badge_tip, ratio_tip = regime_status(depth)
    assert (ratio, badge) == ("depth: 1.00e-09", "vanishing")
    assert "layer 1 gets 1.00e-09 of the top layer's gradient over 1 layer" in ratio_tip
    assert badge_tip.endswith(depth.sentence())
    assert regime_status(None)[:2] == ("–", "idle")


def test_number_formats():
    assert format_loss(float("inf")) == "inf"
    assert format_loss(float("nan")) == "NaN"
    assert format_loss(0.0123456) == "0.01235"
    assert speed_label(math.inf) == "max" and speed_label(20) == "20 it/s"


def test_speed_control_sets_the_runner_speed(qtbot, make_window):
    window = make_window()
    index = window.speed_combo.findData(10.0)
    window.speed_combo.setCurrentIndex(index)
    window.speed_combo.activated.emit(index)
    assert window.runner.speed == 10.0
    checked = [action.data() for action in window.speed_menu.actions() if action.isChecked()]
    assert checked == [10.0]
    max_action = next(action for action in window.speed_menu.actions() if action.text() == "max")
    max_action.trigger()
    assert math.isinf(window.runner.speed)
    assert window.speed_combo.currentText() == "max"


def test_transport_shortcuts_belong_to_the_training_tab(qtbot, make_window):
    window = make_window()
    other = QtWidgets.QWidget()
    window.tabs.addTab(other, "Other")
    window.tabs.setCurrentWidget(other)
    assert window.play_action.shortcuts() == [] and window.step_action.shortcuts() == []
    window.tabs.setCurrentIndex(0)
    assert [key.toString() for key in window.step_action.shortcuts()] == ["Right", "N"]
    assert [key.toString() for key in window.play_action.shortcuts()] == ["Space"]
    assert [key.toString() for key in window.reset_action.shortcuts()] == ["R"]


# -- the plots show the engine's numbers ---------------------------------------------------------------


def test_plots_show_the_engines_records_for_the_same_seed(qtbot, make_window, engine_records):
    config = SMALL.replace(num_layers=3, clip_mode="norm", clip_threshold=0.05)
    window = make_window(config)
    steps = 6
    for _ in range(steps):
        window.step_action.trigger()
    records_shown(window, steps, qtbot)
    expected = engine_records(config, steps)
    plots = window.dashboard.plots
    time_steps = np.arange(1, config.seq_len + 1)
    gradient = plots["gradient"]
    for layer in range(config.num_layers):
        x, y = gradient.curves[layer].getOriginalDataset()
        np.testing.assert_array_equal(x, time_steps)
        np.testing.assert_array_equal(y, expected[-1].log10_grad_norms[layer])  # log10 data
        # The faint trail: the iterations before, each followed by a NaN separator.
        _, trail = gradient.trails[layer].getOriginalDataset()
        rows = trail.reshape(steps - 1, config.seq_len + 1)
        np.testing.assert_array_equal(rows[:, :-1], [r.log10_grad_norms[layer] for r in expected[:-1]])
        assert np.isnan(rows[:, -1]).all()
    x, y = plots["loss"].loss_curve.getOriginalDataset()
    np.testing.assert_array_equal(x, np.arange(1, steps + 1))
    np.testing.assert_array_equal(y, [r.loss for r in expected])
    _, before = plots["loss"].norm_before_curve.getOriginalDataset()
    np.testing.assert_array_equal(before, [r.global_norm_before for r in expected])
    heatmap = plots["heatmap"]
    rows = np.array([r.grad_norms[0] for r in expected])
    np.testing.assert_allclose(heatmap.image.image, np.log10(rows).astype(np.float32), rtol=1e-6)
    health = plots["health"]
    np.testing.assert_array_equal(health.values["saturation"], expected[-1].saturation)


# -- exploding runs --------------------------------------------------------------------------------------


def test_an_exploding_run_pauses_and_says_where(qtbot, make_window, engine_records, assert_same_record):
    window = make_window(EXPLODING)
    simulation = Simulation(EXPLODING)
    while (record := simulation.train_step()) is not None and record.nonfinite is None:
        pass
    assert record is not None and record.nonfinite is not None
    message = record.nonfinite.describe()
    window.play_action.trigger()
    qtbot.waitUntil(window.banner.isVisible, timeout=20000)
    assert message in window.banner_label.text()
    assert message in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: not window.runner.is_running, timeout=5000)
    assert window.play_action.text() == "Play"
    records_shown(window, record.iteration, qtbot)
    assert window.regime_badge.text() == "non-finite"
    assert window.history.nonfinite_record is not None
    assert window.history.nonfinite_record.nonfinite == record.nonfinite
    assert window.dashboard.plots["gradient"].nonfinite_line.isVisible()
    # Reset recovers: the message goes and the run starts from iteration 1 again.
    with qtbot.waitSignal(window.runner.rebuilt, timeout=5000):
        qtbot.mouseClick(window.banner_button, QtCore.Qt.MouseButton.LeftButton)
    assert not window.banner.isVisible()
    assert window.statusBar().currentMessage() == ""
    window.step_action.trigger()
    qtbot.waitUntil(lambda: window.history.total_records == 1, timeout=5000)
    assert_same_record(engine_records(EXPLODING, 1)[0], window.history.latest)


def test_the_exploding_preset_runs_into_nonfinite_values(qtbot, make_window):
    window = make_window(load_preset("exploding-large-weights"))
    window.play_action.trigger()
    qtbot.waitUntil(window.banner.isVisible, timeout=30000)
    assert "exploded at iteration" in window.banner_label.text()
    assert "Reset" in window.banner_label.text()
    assert not window.runner.is_running


# -- shutdown and settings -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", RUNNER_KINDS)
def test_closing_while_running_ends_the_worker(qtbot, make_window, monkeypatch, kind):
    monkeypatch.setenv("GRADSIM_RUNNER", kind)
    window = make_window(load_preset(DEFAULT_PRESET))
    pid = window.runner.process_id
    assert (pid is None) == (kind == "thread")
    window.play_action.trigger()
    qtbot.waitUntil(lambda: window.history.total_records >= 3, timeout=10000)
    window.close()
    assert not window.runner.thread.isRunning()
    assert not window.isVisible()
    assert window.runner.process_id is None
    assert pid not in [child.pid for child in multiprocessing.active_children()]


def test_closing_during_a_long_forward_pass_abandons_the_step(
    qtbot, make_window, thread_runner, forward_probe
):
    window = make_window(LARGEST)
    assert window.runner.simulation is not None
    probe = forward_probe(window.runner.simulation)
    window.play_action.trigger()
    qtbot.waitUntil(probe.started.is_set, timeout=10000)
    window.close()
    assert not window.runner.thread.isRunning()
    assert probe.calls < LARGEST.num_layers * LARGEST.seq_len  # the step was abandoned


def test_settings_persist_across_two_windows(qtbot, make_window):
    custom = SMALL.replace(activation="sigmoid", seq_len=33, learning_rate=0.02)
    first = make_window(SMALL)
    with qtbot.waitSignal(first.runner.rebuilt, timeout=5000):
        first.control_panel.set_config(custom)
        first.control_panel.configChanged.emit(custom)  # as a user's edit does
    # The offscreen screen is 800 x 800 and restoring clamps a window to its screen, then to the
    # window's minimum size: the minimum width survives that unchanged.
    first.resize(first.minimumSizeHint().width(), 700)
    first.splitter.setSizes([380, 620])
    qtbot.waitUntil(lambda: first.height() == 700)
    size, sizes = first.size(), first.splitter.sizes()
    assert size != QtCore.QSize(*DEFAULT_SIZE)
    index = first.speed_combo.findData(20.0)
    first.speed_combo.setCurrentIndex(index)
    first.speed_combo.activated.emit(index)
    first.close()

    second = make_window(None)
    assert second.current_config() == custom
    assert second.control_panel.config() == custom
    assert second.size() == size
    assert second.splitter.sizes() == sizes
    assert second.runner.speed == 20.0 and second.speed_combo.currentText() == "20 it/s"


def test_an_edit_still_in_its_debounce_is_saved_on_close(qtbot, make_window):
    first = make_window(SMALL)
    first.control_panel.editors["seq_len"].setValue(77)  # type: ignore[attr-defined]
    assert first.control_panel.has_pending_edit()
    first.close()
    second = make_window(None)
    assert second.current_config() == SMALL.replace(seq_len=77)


@pytest.mark.parametrize(
    "stored_text",
    ['{"hidden_size": 0}', '{"colour": "red"}', "not json at all", "[1, 2]"],
)
def test_an_unusable_stored_config_falls_back_to_the_default(qtbot, make_window, stored_text):
    settings = QtCore.QSettings()
    settings.setValue(stored.CONFIG_KEY, stored_text)
    settings.sync()
    window = make_window(None)
    assert window.current_config() == load_preset(DEFAULT_PRESET)
    assert "could not be used" in window.statusBar().currentMessage()


def test_help_and_about_open_without_blocking(qtbot, make_window):
    window = make_window()
    window.help_action.trigger()
    help_box = window.findChild(QtWidgets.QDialog, "help_box")
    assert help_box is not None and help_box.isVisible()
    text = help_box.findChild(QtWidgets.QTextBrowser, "help_text").toPlainText()
    assert "vanish" in text and "update:data ratio" in text
    assert help_box.height() <= window.height()
    help_box.close()
    window.about_action.trigger()
    about_box = window.findChild(QtWidgets.QMessageBox, "about_box")
    assert about_box is not None and about_box.isVisible() and "gradsim" in about_box.text()
    about_box.close()


# -- responsiveness --------------------------------------------------------------------------------------


def test_event_loop_answers_while_the_largest_config_trains(qtbot, make_window):
    window = make_window(LARGEST)
    window.resize(1440, 900)
    window.runner.set_speed(None)
    window.play_action.trigger()
    qtbot.waitUntil(lambda: window.history.total_records >= 1, timeout=60000)
    # Post events every 50 ms for as long as it takes the window to receive and draw two more
    # records (16 layers x 2000 steps each), so that some events land during those frames.
    probe = LatencyProbe(count=2000, interval=0.05)
    records_before = window.history.total_records
    probe.start()
    qtbot.waitUntil(
        lambda: len(probe.delays_ms) >= 20 and window.history.total_records >= records_before + 2,
        timeout=120000,
    )
    records_shown(window, records_before + 2, qtbot)
    probe.stop()
    summary = probe.summary()
    print(f"event-loop latency while {LARGEST} trains: {summary}")
    assert window.runner.is_running
    # Every event posted while two frames of these plots were drawn was answered, training on.
    # How long each waited depends on the machine's load, so benchmarks/bench_gui_latency.py
    # measures it instead of a bound here.
    assert len(summary.samples) >= 20
