"""The A/B tab's plots say what they draw without covering it: the loss key is the title, the
ratio at step 1 is in the ratio plot's title (the engine's numbers, multiplied out), and A's and
B's gradient plots share a range that holds both sides' curves."""

from __future__ import annotations

import colorsys

import numpy as np
import pytest
from helpers import assert_same_data_stream, small_config

from gradsim.engine.formatting import format_ratio
from gradsim.engine.simulation import Simulation
from gradsim.ui.common.theme import DARK, LIGHT
from gradsim.ui.features.compare.ab_view import SIDE_COLORS, ABView
from gradsim.ui.main_window import MainWindow

pytestmark = [pytest.mark.qt_log_level_fail("WARNING")]

SMALL = small_config(seq_len=10, seed=3)
# Sigmoid against tanh with twice the weights: B's largest norm is a decade above A's.
SIGMOID = SMALL.replace(activation="sigmoid")
LARGE_TANH = SMALL.replace(weight_scale=2.0)


@pytest.fixture
def view(qtbot):
    window = MainWindow(SMALL)
    qtbot.addWidget(window)
    window.resize(1920, 1080)
    window.show()
    qtbot.waitExposed(window)
    view = window.findChild(ABView)
    window.tabs.setCurrentWidget(view)
    yield view
    window.close()
    assert view.runner is None or not view.runner.thread.isRunning()


def test_keys_and_numbers_sit_in_the_titles_and_both_sides_curves_are_in_range(qtbot, view):
    view.set_configs(SIGMOID, LARGE_TANH)
    for _ in range(3):
        view.step()
    qtbot.waitUntil(lambda: view.histories["B"].total_records == 3, timeout=10000)
    view.redraw()
    qtbot.wait(50)

    # The loss plot: no legend box on the curves; its title is the key, in the sides' colours.
    assert view.loss_plot.legend is None
    title = view.loss_plot.titleLabel
    for side in ("A", "B"):
        assert f"color:{view.side_colors[side]}" in title.full_text and f" {side}</span>" in title.full_text

    # The ratio plot: B / A at step 1 of layer 1, from the engine's own norms, in its title.
    records = {}
    for side, config in (("A", SIGMOID), ("B", LARGE_TANH)):
        simulation = Simulation(config)
        records[side] = [simulation.train_step() for _ in range(3)][-1]
    decades = records["B"].log10_grad_norms[0, 0] - records["A"].log10_grad_norms[0, 0]
    times = format_ratio(float(decades), digits=2)
    color = view.theme.layer_color(0).name()
    assert view.ratio_plot.titleLabel.full_text == (
        f"B / A per time step (step 1, layer 1: <span style='color:{color}'>{times} ×</span>)"
    )
    assert not view.ratio_note.isVisible()
    ratio_x, ratio_y = view.ratio_curves[0].getData()
    assert ratio_y[0] == pytest.approx(decades)

    # A's and B's plots: one y range holding every finite log10 norm of both sides.
    norms = np.concatenate([records[s].log10_grad_norms.ravel() for s in ("A", "B")])
    low, high = view.gradient_plots["A"].viewRange()[1]
    assert low <= norms.min() and norms.max() <= high
    assert view.gradient_plots["B"].viewRange()[1] == pytest.approx([low, high])
    a_only = records["A"].log10_grad_norms
    assert norms.max() - a_only.max() > 0.5  # B reaches outside A's own range

    # A reset empties the plots: the ratio plot shows B = A across its middle, 1/10 to 10.
    view.reset()
    qtbot.wait(50)
    assert view.ratio_plot.viewRange()[1] == pytest.approx([-1.0, 1.0])
    assert view.ratio_plot.titleLabel.full_text == "B / A per time step"


def test_rnn_vs_lstm_trains_a_vanilla_rnn_against_an_lstm_on_the_same_batches(qtbot, view):
    tanh = SMALL.replace(weight_scale=1.0)
    view.set_configs(tanh, tanh.replace(clip_mode="norm"))
    view.rnn_lstm_button.click()
    config_a, config_b = view.configs()
    assert config_a == tanh
    assert config_b == tanh.replace(cell="lstm", forget_bias=1.0)  # the same size, task and seed
    assert view.difference_label.text() == "B differs from A in: cell: rnn → lstm (forget bias 1.0)"
    assert "do not see the same batches" not in view.difference_label.text()
    for _ in range(3):
        view.step()
    qtbot.waitUntil(lambda: view.histories["B"].total_records == 3, timeout=10000)
    view.redraw()
    sim_a, sim_b = view.runner.simulations
    assert (sim_a.config.cell, sim_b.config.cell) == ("rnn", "lstm")
    assert "weight_ih_l0" in sim_b.params and sim_b.params["weight_ih_l0"].shape[0] == 4 * SMALL.hidden_size
    assert sim_a.params["weight_ih_l0"].shape[0] == SMALL.hidden_size
    # The same data stream, at the same point; fresh simulations of both draw identical batches.
    assert_same_data_stream((sim_a, sim_b), config_a, config_b)
    # Each side's gradient plot shows its own run: the engine's records of its config.
    for side, config in (("A", config_a), ("B", config_b)):
        simulation = Simulation(config)
        expected = [simulation.train_step() for _ in range(3)][-1]
        latest = view.histories[side].latest
        np.testing.assert_array_equal(latest.log10_grad_norms, expected.log10_grad_norms)
        for k in range(SMALL.num_layers):
            _, y = view.gradient_curves[side][k].getData()
            np.testing.assert_array_equal(y, expected.log10_grad_norms[k])
    assert view.histories["A"].latest.log10_cell_grad_norms is None
    assert view.histories["B"].latest.log10_cell_grad_norms is not None
    a_curve, b_curve = view.gradient_curves["A"][0].getData()[1], view.gradient_curves["B"][0].getData()[1]
    assert not np.array_equal(a_curve, b_curve)


def test_rnn_vs_lstm_from_a_gated_config_keeps_its_forget_bias_and_uses_a_tanh_rnn(view):
    lstm = SMALL.replace(cell="lstm", forget_bias=3.0, activation="relu")
    view.set_configs(lstm, lstm)
    view.compare_rnn_lstm()
    assert view.configs() == (lstm.replace(cell="rnn", activation="tanh"), lstm)  # the bias: ignored


@pytest.mark.parametrize("theme", [LIGHT, DARK], ids=["light", "dark"])
def test_the_sides_colours_are_no_layers_colours(theme) -> None:
    # The gradient and ratio plots colour curves by layer; an A or B in a layer's hue (a blue A,
    # an orange B) reads as that layer. The sides are ink and grey, with no hue at all.
    def saturation(color: str) -> float:
        red, green, blue = (int(color[i : i + 2], 16) / 255 for i in (1, 3, 5))
        return colorsys.rgb_to_hsv(red, green, blue)[1]

    assert all(saturation(color) < 0.05 for color in SIDE_COLORS[theme.name])
    assert all(saturation(color) > 0.3 for color in theme.layer_colors[:4])
