"""The Backprop tab in the main window: it freezes the running network and steps its backward pass.

The frozen weights are compared with an independent engine run of the same config after the same
number of training steps, and the stepped gradients with that run's ``forward_backward`` on the
first batch of the data stream.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import small_config, train
from PySide6 import QtCore, QtWidgets

from gradsim.engine.config import SimConfig
from gradsim.engine.presets import load_preset
from gradsim.engine.simulation import Simulation
from gradsim.ui.features.backprop.backprop_tab import BackpropTab
from gradsim.ui.main_window import MainWindow

pytestmark = [pytest.mark.qt_log_level_fail("WARNING")]

Key = QtCore.Qt.Key
SMALL = small_config(seed=5)
pytestmark.append(pytest.mark.window(config=SMALL, features=("gradsim.ui.features.backprop.backprop_tab",)))


def tab_of(window: MainWindow) -> BackpropTab:
    feature = window.features["gradsim.ui.features.backprop.backprop_tab"]
    assert isinstance(feature, BackpropTab)
    return feature


def open_tab(window: MainWindow, qtbot) -> BackpropTab:
    tab = tab_of(window)
    with qtbot.waitSignal(tab.view.loaded, timeout=10000):
        window.tabs.setCurrentWidget(tab.page)
    return tab


def reference(config: SimConfig, steps: int) -> Simulation:
    simulation = Simulation(config)
    for _ in range(steps):
        simulation.train_step()
    return simulation


def test_the_tab_sits_after_training_with_a_menu_entry(make_window):
    window = make_window()
    tab = tab_of(window)
    assert window.tabs.indexOf(tab.page) == 1
    assert window.tabs.tabText(1) == "Backprop"
    assert tab.open_action in window.run_menu.actions()
    assert tab.open_action.shortcut().toString() == "Ctrl+2"
    assert tab.frozen is None and tab.view.session is None


def test_opening_freezes_the_current_weights_and_steps_to_the_engines_gradients(make_window, qtbot):
    window = make_window()
    train(window, 3, qtbot)
    tab = open_tab(window, qtbot)
    assert not window.runner.is_running
    assert tab.frozen is not None and tab.frozen.iteration == 3
    simulation = reference(SMALL, 3)
    for name, value in simulation.params.items():
        np.testing.assert_array_equal(tab.frozen.params[name], value, err_msg=name)
    # The view's batch is the first batch of the run's data stream.
    x, y = Simulation(SMALL).sample_batch()
    np.testing.assert_array_equal(tab.view.batch[0], x)
    np.testing.assert_array_equal(tab.view.batch[1], y)
    tab.view.go_to_end()
    assert tab.view.position == SMALL.num_layers * SMALL.seq_len
    expected = simulation.forward_backward(x, y)
    np.testing.assert_array_equal(tab.view.session.result.grad_norms, expected.grad_norms)
    assert "iteration 3" in tab.header.text()


def test_the_header_names_the_preset_by_the_title_its_chooser_shows(make_window, qtbot):
    window = make_window(load_preset("vanishing-sigmoid"))
    tab = open_tab(window, qtbot)
    combo = window.control_panel.preset_combo
    assert combo.currentData() == "vanishing-sigmoid" and combo.currentText() != "vanishing-sigmoid"
    assert f"“{combo.currentText()}”" in tab.header.text()
    assert "vanishing-sigmoid" not in tab.header.text()


def test_keys_step_the_view_and_do_not_drive_training(make_window, qtbot):
    window = make_window()
    train(window, 1, qtbot)
    tab = open_tab(window, qtbot)
    tab.view.setFocus()
    window.activateWindow()
    focus = QtWidgets.QApplication.focusWidget
    qtbot.waitUntil(lambda: tab.view.hasFocus() or tab.view.isAncestorOf(focus()))
    qtbot.keyClick(QtWidgets.QApplication.focusWidget(), Key.Key_Left)
    qtbot.keyClick(QtWidgets.QApplication.focusWidget(), Key.Key_Left)
    assert tab.view.position == 2
    assert tab.view.current_cell == (SMALL.num_layers - 1, SMALL.seq_len - 2)
    qtbot.keyClick(QtWidgets.QApplication.focusWidget(), Key.Key_Right)
    assert tab.view.position == 1
    qtbot.keyClick(QtWidgets.QApplication.focusWidget(), Key.Key_End)
    assert tab.view.position == SMALL.num_layers * SMALL.seq_len
    # Space and → belonged to the view: training took no step and did not start.
    qtbot.wait(100)
    assert window.history.total_records == 1 and not window.runner.is_running


def test_a_glance_at_training_keeps_the_stepped_position(make_window, qtbot):
    window = make_window()
    train(window, 2, qtbot)
    tab = open_tab(window, qtbot)
    tab.view.go_to(5)
    window.tabs.setCurrentIndex(0)
    window.tabs.setCurrentWidget(tab.page)
    qtbot.wait(50)
    assert tab.view.position == 5 and tab.frozen.iteration == 2


def test_training_on_then_coming_back_freezes_the_new_weights(make_window, qtbot):
    window = make_window()
    train(window, 1, qtbot)
    tab = open_tab(window, qtbot)
    window.tabs.setCurrentIndex(0)
    train(window, 2, qtbot)
    assert tab.is_stale()
    with qtbot.waitSignal(tab.view.loaded, timeout=10000):
        window.tabs.setCurrentWidget(tab.page)
    assert tab.frozen.iteration == 3
    simulation = reference(SMALL, 3)
    np.testing.assert_array_equal(tab.frozen.params["weight_hh_l1"], simulation.params["weight_hh_l1"])


def test_a_new_config_while_on_the_tab_loads_the_new_network(make_window, qtbot):
    window = make_window()
    tab = open_tab(window, qtbot)
    changed = SMALL.replace(num_layers=3, activation="relu")
    with qtbot.waitSignal(tab.view.loaded, timeout=10000):
        window.apply_config(changed)
    assert tab.view.config == changed
    assert tab.frozen.iteration == 0
    assert tab.view.total_cells == 3 * SMALL.seq_len


def test_refreeze_button_takes_the_latest_weights(make_window, qtbot):
    window = make_window()
    tab = open_tab(window, qtbot)
    assert tab.frozen.iteration == 0
    window.tabs.setCurrentIndex(0)
    train(window, 2, qtbot)
    window.tabs.blockSignals(True)  # stay on Training: only the button freezes
    window.tabs.setCurrentWidget(tab.page)
    window.tabs.blockSignals(False)
    with qtbot.waitSignal(tab.view.loaded, timeout=10000):
        qtbot.mouseClick(tab.refreeze_button, QtCore.Qt.MouseButton.LeftButton)
    assert tab.frozen.iteration == 2


def test_ctrl_shortcuts_switch_tabs(make_window, qtbot):
    window = make_window()
    tab = tab_of(window)
    with qtbot.waitSignal(tab.view.loaded, timeout=10000):
        tab.open_action.trigger()
    assert window.tabs.currentWidget() is tab.page
    tab.training_action.trigger()
    assert window.tabs.currentWidget() is window.training_tab()
    # Both shortcuts can be found in a menu, Ctrl+1 too (as Ctrl+3 and Ctrl+4 are).
    in_menus = {
        action.shortcut().toString()
        for menu in (window.run_menu, window.view_menu)
        for action in menu.actions()
    }
    assert {"Ctrl+1", "Ctrl+2"} <= in_menus


def test_closing_with_the_tab_open_exits_cleanly(make_window, qtbot):
    window = make_window()
    tab = open_tab(window, qtbot)
    tab.view.play()
    window.close()
    assert not window.runner.thread.isRunning()
    assert not tab.view.is_playing
