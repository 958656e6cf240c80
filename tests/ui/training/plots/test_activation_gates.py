"""The activation plot of a gated cell: the tanh candidate above, each sigmoid gate's mean and
saturated share below, the numbers drawn equal to the record's."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import shown

from gradsim.engine.activations import make_activation
from gradsim.engine.config import SimConfig
from gradsim.engine.formatting import format_number, format_percent
from gradsim.engine.history import RunHistory
from gradsim.ui.training.plots.activation import GRID_POINTS, ActivationPlot

GATED = SimConfig(num_layers=2, hidden_size=8, seq_len=20, batch_size=4, activation="relu", forget_bias=3.0)


def make(qtbot, theme) -> ActivationPlot:
    plot = shown(qtbot, ActivationPlot(theme), (450, 500))
    qtbot.waitExposed(plot)
    return plot


def bars(item) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(item.opts["width"], dtype=np.float64), np.asarray(item.opts["y"], dtype=np.float64)


@pytest.mark.parametrize(
    ("cell", "names", "candidate"),
    [("lstm", ("input i", "forget f", "output o"), "g"), ("gru", ("reset r", "update z"), "n")],
)
def test_gate_bars_are_the_records_means_and_saturation(qtbot, theme, make_run, cell, names, candidate):
    run = make_run(GATED.replace(cell=cell), 3)
    record = run.history.latest
    plot = make(qtbot, theme)
    plot.refresh(run.history, run.config)
    gates = plot.gates
    assert gates.plot in plot.graphics.ci.items and gates.plot.isVisible()
    # Over both layers and every time step: the mean of the record's per-step values.
    means = record.gate_means.mean(axis=(0, 1))
    saturated = record.gate_saturation.mean(axis=(0, 1))
    assert means.shape == (len(names),)
    np.testing.assert_array_equal(gates.means, means)
    np.testing.assert_array_equal(bars(gates.mean_bars)[0], means)
    np.testing.assert_array_equal(bars(gates.saturated_bars)[0], saturated)
    ticks = gates.plot.getAxis("left")._tickLevels[0]
    # The first gate on the top row, each row's mean bar above its saturated bar.
    rows = {label: value for value, label in ticks}
    assert sorted(rows, key=rows.get, reverse=True) == list(names)
    for k, name in enumerate(names):
        label = gates.labels[k]
        assert (
            label.toPlainText() == f"{format_number(float(means[k]))} {format_percent(float(saturated[k]))}"
        )
        assert label.pos().x() == max(means[k], saturated[k])  # right of the longer bar
        assert bars(gates.mean_bars)[1][k] > rows[name] > bars(gates.saturated_bars)[1][k]
    assert f"{cell.upper()} gates" in gates.plot.titleLabel.full_text
    assert "mean" in gates.plot.titleLabel.full_text and "saturated" in gates.plot.titleLabel.full_text
    # Above: the candidate's tanh, not config.activation (relu), with its saturation.
    assert (
        plot.plot.titleLabel.full_text
        == f"candidate {candidate} (tanh): {np.mean(record.saturation):.0%} saturated"
    )
    tanh = make_activation("tanh")
    x, f = plot.function_curve.getOriginalDataset()
    assert len(x) == GRID_POINTS
    np.testing.assert_array_equal(f, tanh.forward(x))


def test_forget_bias_3_shows_forget_gates_near_sigmoid_3_and_the_layer_choice_applies(qtbot, theme, make_run):
    run = make_run(GATED.replace(cell="lstm"), 1)
    record = run.history.latest
    plot = make(qtbot, theme)
    plot.refresh(run.history, run.config)
    forget = plot.gates.means[1]
    assert forget == pytest.approx(1 / (1 + np.exp(-3.0)), abs=0.05)  # the bias dominates at init
    plot.set_layer(1)  # layer 2
    np.testing.assert_array_equal(plot.gates.means, record.gate_means[1].mean(axis=0))
    np.testing.assert_array_equal(bars(plot.gates.saturated_bars)[0], record.gate_saturation[1].mean(axis=0))


def test_rnn_has_no_gate_plot_and_a_reset_takes_it_away(qtbot, theme, make_run):
    plot = make(qtbot, theme)
    lstm = make_run(GATED.replace(cell="lstm"), 1)
    plot.refresh(lstm.history, lstm.config)
    assert plot.gates.plot in plot.graphics.ci.items
    plot.reset()
    assert plot.gates.plot not in plot.graphics.ci.items
    rnn = make_run(GATED.replace(activation="tanh"), 1)
    assert rnn.history.latest.gate_means is None
    plot.refresh(rnn.history, rnn.config)
    assert plot.gates.plot not in plot.graphics.ci.items
    assert plot.plot.titleLabel.full_text.startswith("tanh: ")
    plot.refresh(RunHistory(), GATED.replace(cell="gru"))
    assert plot.plot.titleLabel.full_text == "Activation: candidate n (tanh)"


def test_an_rnns_frames_leave_the_emptied_gate_bars_alone_and_a_gated_run_fills_them(qtbot, theme, make_run):
    plot = make(qtbot, theme)
    calls: list[dict] = []
    original = plot.gates.mean_bars.setOpts
    plot.gates.mean_bars.setOpts = lambda **opts: (calls.append(opts), original(**opts))[1]
    rnn = make_run(GATED.replace(activation="tanh"), 4)
    history = RunHistory()
    for record in rnn.history.recent():
        history.append(record)
        plot.refresh(history, rnn.config)
    assert len(history) == 4 and calls == []  # empty from the start: not emptied at every frame
    assert len(plot.gates.mean_bars.opts["width"]) == 0
    lstm = make_run(GATED.replace(cell="lstm"), 1)
    plot.refresh(lstm.history, lstm.config)
    assert len(calls) == 1
    np.testing.assert_array_equal(plot.gates.means, plot.gates.mean_bars.opts["width"])
    plot.reset()  # emptied after a gated run, once
    plot.refresh(history, rnn.config)
    assert len(calls) == 2 and len(plot.gates.mean_bars.opts["width"]) == 0


def test_a_short_plot_takes_the_y_axes_short_labels_and_a_tall_one_the_long(qtbot, theme, make_run):
    run = make_run(GATED.replace(cell="lstm"), 1)
    plot = make(qtbot, theme)
    plot.refresh(run.history, run.config)
    for height, form in ((320, 1), (800, 0)):
        plot.resize(450, height)
        qtbot.wait(50)
        for side in ("left", "right"):
            axis = plot.plot.getAxis(side)
            assert axis.labelText == plot.axis_labels[side][form], (height, side)
            assert axis.label.boundingRect().width() <= plot.plot.getViewBox().height()


def test_a_share_under_one_percent_is_written_as_such(qtbot, theme, make_run):
    import dataclasses

    run = make_run(GATED.replace(cell="gru"), 1)
    record = run.history.latest
    saturation = np.zeros_like(record.gate_saturation)
    saturation[..., 1] = 4e-5  # update gates: a few values of many
    history = RunHistory()
    history.append(dataclasses.replace(record, gate_saturation=saturation))
    plot = make(qtbot, theme)
    plot.refresh(history, run.config)
    assert plot.gates.labels[0].toPlainText().endswith(" 0%")
    assert (
        plot.gates.labels[1].toPlainText() == f"{format_number(float(record.gate_means[..., 1].mean()))} <1%"
    )
