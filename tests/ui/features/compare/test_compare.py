"""Pinned runs (ghosts on the dashboard, the dock) and the A/B tab, against the engine's own runs.

Every number a ghost or an A/B plot shows is compared with a fresh ``Simulation`` of the same
config run here (``engine_records``), never with the window's own copy.
"""

from __future__ import annotations

import multiprocessing

import numpy as np
import pytest
from helpers import assert_same_data_stream, small_config
from helpers import train as take_steps
from PySide6 import QtCore, QtWidgets

from gradsim.engine.config import SimConfig
from gradsim.engine.regime import measure
from gradsim.engine.simulation import Simulation
from gradsim.ui.common import config_diff
from gradsim.ui.features.compare.ab_view import ABView, halt_message
from gradsim.ui.features.compare.compare import CompareFeature
from gradsim.ui.features.compare.pins import MAX_PINS, PinnedRun
from gradsim.ui.main_window import MainWindow

pytestmark = [pytest.mark.qt_log_level_fail("WARNING")]

Key = QtCore.Qt.Key
SMALL = small_config(seq_len=10, seed=3)
pytestmark.append(pytest.mark.window(config=SMALL, features=("gradsim.ui.features.compare.compare",)))
# Sigmoid against ReLU with the same weights' seed: only the activation differs.
SIGMOID = SMALL.replace(activation="sigmoid")
RELU = SMALL.replace(activation="relu", init="he")
# ReLU at three times the stable weight scale overflows its hidden state within a few steps;
# tanh with the same weights stays bounded.
EXPLODING = SimConfig(
    num_layers=1, hidden_size=32, seq_len=200, batch_size=4, activation="relu", weight_scale=3.0,
    learning_rate=0.1, seed=1,
)  # fmt: skip
BOUNDED = EXPLODING.replace(activation="tanh")


def feature(window: MainWindow) -> CompareFeature:
    found = window.features["gradsim.ui.features.compare.compare"]
    assert isinstance(found, CompareFeature)
    return found


def train(window: MainWindow, steps: int, qtbot) -> None:
    """Take ``steps`` single steps of the live run and wait until they are drawn."""
    take_steps(window, steps, qtbot)
    qtbot.waitUntil(lambda: not window.pacer.dirty, timeout=5000)


def press(window: MainWindow, qtbot, key: Key, modifiers=QtCore.Qt.KeyboardModifier.NoModifier) -> None:
    """A key press as a user makes it: to the active window's focused tab widget."""
    window.activateWindow()
    qtbot.waitUntil(lambda: QtWidgets.QApplication.activeWindow() is window, timeout=5000)
    window.tabs.setFocus()
    qtbot.keyClick(window.tabs, key, modifiers)


def shown(item) -> bool:
    """Whether the item itself is shown (some health charts are hidden in a small window)."""
    return item.isVisibleTo(item.parentItem())


def original_y(item) -> np.ndarray:
    _x, y = item.getOriginalDataset()
    return np.asarray(y, dtype=np.float64)


# -- labels ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (SMALL, SMALL.replace(clip_mode="norm", clip_threshold=1.0), "clip: none → norm 1.0"),
        (SIGMOID, SMALL.replace(activation="relu"), "activation: sigmoid → relu"),
        (SMALL.replace(clip_mode="value", clip_threshold=0.5), SMALL, "clip: value 0.5 → none"),
        (
            SMALL.replace(activation="leaky_relu"),
            SMALL.replace(activation="leaky_relu", leaky_slope=0.2),
            "activation: leaky_relu 0.01 → leaky_relu 0.2",
        ),  # fmt: skip
        (
            SMALL,
            SMALL.replace(weight_scale=2.5, learning_rate=0.05),
            "weight scale: 1.0 → 2.5, learning rate: 0.01 → 0.05",
        ),  # fmt: skip
        (
            SMALL,
            SMALL.replace(num_layers=3, hidden_size=16, seq_len=20, seed=9),
            "layers: 2 → 3, hidden: 8 → 16, seq len: 10 → 20 (+1 more)",
        ),  # fmt: skip
        # The threshold has no effect while clipping is off, nor the slope without leaky ReLU.
        (SMALL, SMALL.replace(clip_threshold=3.0, leaky_slope=0.3), "same settings"),
    ],
)
def test_labels_name_each_difference(before: SimConfig, after: SimConfig, expected: str) -> None:
    assert config_diff.describe_difference(before, after) == expected


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (SMALL, SMALL.replace(cell="lstm", forget_bias=1.0), "cell: rnn → lstm (forget bias 1.0)"),
        (SMALL.replace(cell="lstm"), SMALL.replace(cell="lstm", forget_bias=1.0),
         "cell: lstm (forget bias 0.0) → lstm (forget bias 1.0)"),
        (RELU, SMALL.replace(cell="gru", init="he"), "cell: rnn → gru, activation: relu → tanh"),
        # Settings a cell ignores: the forget bias outside an LSTM, the activation of a gated cell.
        (SMALL, SMALL.replace(forget_bias=2.0), "same settings"),
        (SMALL.replace(cell="gru"), SMALL.replace(cell="gru", activation="relu"), "same settings"),
    ],
)  # fmt: skip
def test_labels_name_the_cell_with_its_forget_bias(
    before: SimConfig, after: SimConfig, expected: str
) -> None:
    assert config_diff.describe_difference(before, after) == expected


def test_rnn_vs_lstm_is_the_same_network_size_and_data() -> None:
    rnn, lstm = config_diff.rnn_vs_lstm(SIGMOID)
    assert rnn == SIGMOID and lstm == SIGMOID.replace(cell="lstm", forget_bias=1.0)
    assert config_diff.data_differences(rnn, lstm) == []
    rnn, lstm = config_diff.rnn_vs_lstm(SMALL.replace(cell="gru", activation="relu"))
    assert rnn == SMALL and lstm == SMALL.replace(cell="lstm", forget_bias=1.0, activation="relu")


def test_label_of_same_settings_names_the_iteration_and_helpers() -> None:
    assert config_diff.describe_difference(SMALL, SMALL, 120) == "same settings, iteration 120"
    assert [config_diff.number(v) for v in (1.0, 0.05, 1e-5, 100.0)] == ["1.0", "0.05", "1e-05", "100.0"]
    assert config_diff.suggest_change(SMALL) == SMALL.replace(clip_mode="norm", clip_threshold=1.0)
    assert config_diff.suggest_change(SMALL.replace(clip_mode="value")) == SMALL
    assert config_diff.data_differences(SIGMOID, RELU) == []
    assert config_diff.data_differences(SMALL, SMALL.replace(seq_len=20, seed=4)) == ["seq_len", "seed"]


# -- pinning ---------------------------------------------------------------------------------------
def test_ghosts_draw_the_pinned_records_and_stay_after_a_restart(
    make_window, qtbot, engine_records, assert_same_record
) -> None:
    window = make_window()
    compare = feature(window)
    train(window, 5, qtbot)
    pin = compare.pin_current()
    assert isinstance(pin, PinnedRun)
    assert compare.pinned_runs() == [pin]
    assert pin.config == SMALL and pin.label == "same settings, iteration 5" and pin.color
    assert pin.history is not window.history
    expected = engine_records(SMALL, 5)
    assert_same_record(expected[-1], pin.history.latest)
    np.testing.assert_array_equal(pin.history.losses(), [r.loss for r in expected])

    # The live run goes on with clipping: the ghost keeps the pinned run, relabelled.
    clipped = SMALL.replace(clip_mode="norm", clip_threshold=1.0)
    window.apply_config(clipped)
    train(window, 3, qtbot)
    assert window.history.latest.iteration == 3
    assert pin.label == "clip: none → norm 1.0"
    assert pin.history.total_records == 5
    ghosts = compare.ghosts(pin)
    plots = window.dashboard.plots
    latest = expected[-1]
    assert len(ghosts.gradient_curves) == 2
    for k, curve in enumerate(ghosts.gradient_curves):
        assert curve in plots["gradient"].plot.items and curve.isVisible()
        # log10 data, as the gradient plot's own curves (exact below float64).
        np.testing.assert_array_equal(original_y(curve), latest.log10_grad_norms[k])
        np.testing.assert_allclose(10.0 ** curve.getData()[1], latest.grad_norms[k], rtol=1e-12)
    np.testing.assert_array_equal(original_y(ghosts.loss_curve), [r.loss for r in expected])
    np.testing.assert_array_equal(original_y(ghosts.norm_curve), [r.global_norm_before for r in expected])
    np.testing.assert_array_equal(original_y(ghosts.saturation_markers), latest.saturation)
    for kind, offset in (("weight_ih", -0.19), ("weight_hh", 0.19)):
        grads = [latest.param_grad_norms[f"{kind}_l{k}"] for k in range(2)]
        ratios = [latest.update_ratios[f"{kind}_l{k}"] for k in range(2)]
        np.testing.assert_array_equal(original_y(ghosts.gradient_markers[kind]), grads)
        np.testing.assert_array_equal(original_y(ghosts.ratio_markers[kind]), ratios)
        x, _ = ghosts.gradient_markers[kind].getOriginalDataset()
        np.testing.assert_allclose(x, [1 + offset, 2 + offset])
    # The histogram outline uses the live plot's bins over all layers' samples.
    activation = plots["activation"]
    edges, share = ghosts.histogram_outline.getData()
    samples = latest.preactivation_samples[np.isfinite(latest.preactivation_samples)]
    counts, _ = np.histogram(samples, bins=np.linspace(-activation.extent, activation.extent, 81))
    np.testing.assert_allclose(share, 100.0 * counts / samples.size)
    z, _ = ghosts.derivative_curve.getData()
    assert z is None or len(z) == 0  # same activation: no second f'
    # The legend of the gradient plot names the difference.
    labels = [label.text for _, label in compare.gradient_legend.items]
    assert labels == ["pinned: clip: none → norm 1.0"]
    assert compare.heatmap_note.isVisible()
    span = measure(latest).extreme
    assert f"layer {span.layer + 1}: {span.ratio_text()}" in compare.heatmap_note.textItem.toHtml()


def test_pinned_activation_draws_its_derivative_when_it_differs(make_window, qtbot) -> None:
    window = make_window(SIGMOID)
    compare = feature(window)
    train(window, 2, qtbot)
    pin = compare.pin_current()
    window.apply_config(RELU)
    train(window, 1, qtbot)
    assert pin.label == "activation: sigmoid → relu, init: gaussian → he"
    z, slope = compare.ghosts(pin).derivative_curve.getData()
    sigmoid = 1.0 / (1.0 + np.exp(-z))
    np.testing.assert_allclose(slope, sigmoid * (1.0 - sigmoid), atol=1e-12)


def test_dock_toggles_removes_loads_and_clears(make_window, qtbot) -> None:
    window = make_window()
    compare = feature(window)
    dock = window.findChild(QtWidgets.QDockWidget, "pinned_dock")
    assert dock is compare.dock
    train(window, 2, qtbot)
    first = compare.pin_current()
    window.apply_config(SIGMOID)
    train(window, 2, qtbot)
    second = compare.pin_current()
    assert dock.isVisible() and [p.label for p in compare.pinned_runs()] == [
        "activation: tanh → sigmoid",
        "same settings, iteration 2",
    ]
    assert first.color != second.color
    rows = dock.row_widgets
    assert [row.label.text() for row in rows] == [first.label, second.label]

    rows[0].visible_box.click()
    assert first.visible is False
    assert not any(shown(item) for item in compare.ghosts(first).items())
    assert all(shown(item) for item in compare.ghosts(second).items())
    assert [label.text for _, label in compare.gradient_legend.items] == [
        "pinned: same settings, iteration 2"
    ]
    dock.row_widgets[0].visible_box.click()
    assert first.visible and compare.ghosts(first).gradient_curves[0].isVisible()

    dock.row_widgets[0].load_button.click()
    assert window.current_config() == SMALL and window.control_panel.config() == SMALL
    assert second.label == "activation: sigmoid → tanh"

    gradient_plot = window.dashboard.plots["gradient"].plot
    removed = compare.ghosts(first)
    dock.row_widgets[0].remove_button.click()
    assert compare.pinned_runs() == [second]
    assert not any(curve in gradient_plot.items for curve in removed.gradient_curves)
    assert removed.loss_curve not in window.dashboard.plots["loss"].loss_plot.items
    dock.clear_button.click()
    assert compare.pinned_runs() == [] and dock.row_widgets == []
    assert not compare.gradient_legend.isVisible() and not dock.clear_button.isEnabled()


def test_pin_refuses_an_empty_run_and_more_than_the_cap(make_window, qtbot) -> None:
    window = make_window()
    compare = feature(window)
    assert compare.pin_current() is None
    assert "Nothing to pin" in window.statusBar().currentMessage()
    train(window, 1, qtbot)
    for _ in range(MAX_PINS):
        assert compare.pin_current() is not None
    assert len({pin.color for pin in compare.pinned_runs()}) == MAX_PINS
    assert compare.pin_current() is None
    assert f"At most {MAX_PINS}" in window.statusBar().currentMessage()
    assert len(compare.pinned_runs()) == MAX_PINS and not compare.dock.pin_button.isEnabled()


def test_pin_action_by_keyboard_menu_and_toolbar(make_window, qtbot) -> None:
    window = make_window()
    compare = feature(window)
    action = compare.pin_action
    assert action in window.run_menu.actions() and action in window.run_toolbar.actions()
    assert not action.icon().isNull() and "Ctrl+P" in action.toolTip()
    train(window, 3, qtbot)
    press(window, qtbot, Key.Key_P, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert len(compare.pinned_runs()) == 1 and compare.pinned_runs()[0].iteration == 3
    compare.dock.pin_button.click()
    assert len(compare.pinned_runs()) == 2


# -- A/B -------------------------------------------------------------------------------------------
def ab_steps(view: ABView, steps: int, qtbot) -> None:
    start = view.histories["A"].total_records
    for _ in range(steps):
        view.step()
    qtbot.waitUntil(lambda: view.histories["B"].total_records == start + steps, timeout=10000)


def test_ab_sides_equal_the_engine_in_lockstep_on_the_same_batches(
    make_window, qtbot, thread_runner, engine_records, assert_same_record
) -> None:
    window = make_window()
    view = feature(window).ab_view
    view.set_configs(SIGMOID, RELU)
    assert view.configs() == (SIGMOID, RELU)
    ab_steps(view, 4, qtbot)
    for side, config in (("A", SIGMOID), ("B", RELU)):
        expected = engine_records(config, 4)
        history = view.histories[side]
        assert_same_record(expected[-1], history.latest)
        np.testing.assert_array_equal(history.losses(), [r.loss for r in expected])
    sim_a, sim_b = view.runner.simulations
    assert sim_a.iteration == sim_b.iteration == 4
    # Both data streams are at the same point, and two fresh simulations draw identical batches.
    assert_same_data_stream((sim_a, sim_b), SIGMOID, RELU)
    # What is drawn: gradient curves and the ratio B / A of the latest step.
    view.redraw()
    last_a, last_b = engine_records(SIGMOID, 4)[-1], engine_records(RELU, 4)[-1]
    for k in range(2):
        # log10 data on axes labelled in powers of ten; the ratio as a difference of logs.
        np.testing.assert_array_equal(original_y(view.gradient_curves["A"][k]), last_a.log10_grad_norms[k])
        np.testing.assert_array_equal(original_y(view.gradient_curves["B"][k]), last_b.log10_grad_norms[k])
        np.testing.assert_array_equal(
            original_y(view.ratio_curves[k]), last_b.log10_grad_norms[k] - last_a.log10_grad_norms[k]
        )
        np.testing.assert_allclose(
            10.0 ** original_y(view.ratio_curves[k]), last_b.grad_norms[k] / last_a.grad_norms[k], rtol=1e-12
        )
    np.testing.assert_array_equal(
        original_y(view.loss_curves["B"]), [r.loss for r in engine_records(RELU, 4)]
    )
    assert view.iteration_label.text() == "Iteration 4"
    assert view.difference_label.text().startswith("B differs from A in: activation: sigmoid → relu")


def test_ab_playing_keeps_lockstep_and_b_follows_a_seed(make_window, qtbot, thread_runner) -> None:
    window = make_window()
    view = feature(window).ab_view
    window.tabs.setCurrentWidget(view)
    view.panel_a.editors["seed"].setValue(7)
    view.panel_a.apply_pending_edit()
    assert view.panel_b.config().seed == 7 and view.runner.configs[1].seed == 7
    assert not view.panel_b.editors["seed"].isEnabled()
    view.play_button.click()
    qtbot.waitUntil(lambda: view.histories["A"].total_records >= 20, timeout=10000)
    view.play_button.click()
    qtbot.waitUntil(lambda: not view.runner.is_running, timeout=5000)
    qtbot.wait(50)
    sim_a, sim_b = view.runner.simulations
    assert sim_a.iteration == sim_b.iteration == view.histories["B"].latest.iteration
    assert view.histories["A"].total_records == view.histories["B"].total_records
    view.reset_button.click()
    qtbot.waitUntil(lambda: view.runner.simulations is not None and view.runner.simulations[0].iteration == 0)
    assert view.histories["A"].latest is None and view.iteration_label.text() == "Iteration 0"


def test_ab_halting_side_stops_the_pair_with_its_name(
    make_window, qtbot, thread_runner, engine_records
) -> None:
    window = make_window()
    view = feature(window).ab_view
    window.tabs.setCurrentWidget(view)
    view.set_configs(EXPLODING, BOUNDED)
    with qtbot.waitSignal(view.runner.halted, timeout=20000) as halted:
        view.play_button.click()
    events = halted.args[0]
    assert list(events) == ["A"]
    # The engine's own run of A stops at the same iteration, on the same value.
    simulation = Simulation(EXPLODING)
    while (record := simulation.train_step()) is not None and record.nonfinite is None:
        pass
    assert events["A"] == simulation.nonfinite
    qtbot.waitUntil(lambda: view.message.isVisible() and not view.runner.is_running, timeout=5000)
    assert view.message.text() == halt_message(events)
    assert view.message.text().startswith(f"A exploded at iteration {simulation.nonfinite.iteration}")
    sim_a, sim_b = view.runner.simulations
    assert sim_a.iteration == sim_b.iteration == simulation.nonfinite.iteration and not sim_b.halted
    # Playing again does not move either side; the message comes back.
    with qtbot.waitSignal(view.runner.halted, timeout=5000):
        view.play_button.click()
    assert sim_a.iteration == sim_b.iteration == simulation.nonfinite.iteration


def test_ab_layout_toggle_overlays_b_on_a(make_window, qtbot) -> None:
    window = make_window()
    view = feature(window).ab_view
    view.set_configs(SIGMOID, RELU)
    ab_steps(view, 2, qtbot)
    view.redraw()
    plot_b = view.gradient_plots["B"]
    assert plot_b.isVisible() and not view.overlay_curves[0].isVisible()
    view.layout_combo.setCurrentIndex(view.layout_combo.findData("overlay"))
    assert view.layout_mode == "overlay" and not plot_b.isVisible()
    assert all(curve.isVisible() for curve in view.overlay_curves)
    assert all(curve in view.gradient_plots["A"].items for curve in view.overlay_curves)
    for k in range(2):
        np.testing.assert_array_equal(
            original_y(view.overlay_curves[k]), original_y(view.gradient_curves["B"][k])
        )
    assert "A solid, B dashed" in view.gradient_plots["A"].titleLabel.text
    # The ratio plot below still shows every step: A, spanning both columns, must not line its
    # time axis up with the ratio plot's half of the screen (it showed steps 28-53 of 1-50).
    ab_steps(view, 1, qtbot)
    view.redraw()
    qtbot.wait(100)
    seq_len = SIGMOID.seq_len
    low, high = view.ratio_plot.getViewBox().viewRange()[0]
    assert low <= 1 and high >= seq_len, (low, high)
    assert (low, high) == tuple(view.gradient_plots["A"].getViewBox().viewRange()[0])
    view.layout_combo.setCurrentIndex(view.layout_combo.findData("side"))
    assert plot_b.isVisible() and not view.overlay_curves[0].isVisible()
    qtbot.wait(100)
    low, high = view.ratio_plot.getViewBox().viewRange()[0]
    assert low <= 1 and high >= seq_len, (low, high)


def test_ab_buttons_and_keyboard(make_window, qtbot, thread_runner) -> None:
    window = make_window()
    compare = feature(window)
    view = compare.ab_view
    window.apply_config(SIGMOID)
    assert compare.ab_compare_action in window.run_menu.actions()
    press(
        window,
        qtbot,
        Key.Key_P,
        QtCore.Qt.KeyboardModifier.ControlModifier | QtCore.Qt.KeyboardModifier.ShiftModifier,
    )
    assert window.tabs.currentWidget() is view
    assert view.configs() == (SIGMOID, SIGMOID.replace(clip_mode="norm", clip_threshold=1.0))
    # Right steps the pair (not the Training run) while A/B is shown.
    press(window, qtbot, Key.Key_Right)
    qtbot.waitUntil(lambda: view.histories["A"].total_records == 1, timeout=10000)
    assert window.history.total_records == 0
    press(window, qtbot, Key.Key_Space)
    qtbot.waitUntil(lambda: view.histories["A"].total_records >= 5, timeout=10000)
    press(window, qtbot, Key.Key_Space)
    qtbot.waitUntil(lambda: not view.runner.is_running, timeout=5000)
    press(window, qtbot, Key.Key_R)
    qtbot.waitUntil(lambda: view.runner.simulations[0].iteration == 0, timeout=5000)
    view.copy_button.click()
    assert view.configs() == (SIGMOID, SIGMOID)
    assert view.difference_label.text() == "B differs from A in: same settings"
    window.apply_config(SMALL)
    view.from_training_button.click()
    assert view.configs() == (SMALL, config_diff.suggest_change(SMALL))
    window.tabs.setCurrentIndex(0)
    press(window, qtbot, Key.Key_4, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.currentWidget() is view
    for widget in (view.play_button, view.step_button, view.reset_button, view.layout_combo,
                   view.copy_button, view.from_training_button):  # fmt: skip
        assert widget.toolTip()


def test_ab_play_pauses_the_training_run_and_closes_cleanly(make_window, qtbot) -> None:
    window = make_window()
    view = feature(window).ab_view
    window.runner.play()
    qtbot.waitUntil(lambda: window.runner.is_running, timeout=5000)
    view.play_button.click()
    qtbot.waitUntil(lambda: view.runner.is_running and not window.runner.is_running, timeout=5000)
    assert "paused while A/B" in window.statusBar().currentMessage()
    thread = view.runner.thread
    window.close()
    assert not thread.isRunning()


def test_ab_pair_in_a_training_process_equals_the_engine_and_ends_with_the_window(
    make_window, qtbot, monkeypatch, engine_records, assert_same_record
) -> None:
    monkeypatch.setenv("GRADSIM_RUNNER", "process")
    window = make_window()
    view = feature(window).ab_view
    window.tabs.setCurrentWidget(view)
    view.set_configs(SIGMOID, RELU)
    assert view.runner is not None and view.runner.kind == "process" and window.runner.kind == "process"
    assert view.runner.simulations is None  # they live in the child
    ab_steps(view, 2, qtbot)
    view.play_button.click()
    qtbot.waitUntil(lambda: view.histories["A"].total_records >= 12, timeout=20000)
    view.play_button.click()
    qtbot.waitUntil(lambda: not view.runner.is_running, timeout=5000)
    # Lockstep across the pipe: both sides have every step, each the engine's.
    count = view.histories["A"].total_records
    assert view.histories["B"].total_records == count
    for side, config in (("A", SIGMOID), ("B", RELU)):
        expected = engine_records(config, count)
        np.testing.assert_array_equal(view.histories[side].losses(), [r.loss for r in expected])
        assert_same_record(expected[-1], view.histories[side].latest)
    pids = [view.runner.process_id, window.runner.process_id]
    assert None not in pids and len(set(pids)) == 2
    window.close()
    alive = [child.pid for child in multiprocessing.active_children()]
    assert not any(pid in alive for pid in pids)
