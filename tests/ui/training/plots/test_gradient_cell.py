"""The gradient plot draws an LSTM's ||dL/dc_t|| dashed beside ||dL/dh_t||, behind a check box
that only an LSTM run shows."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import shown
from PySide6 import QtCore

from gradsim.engine.config import SimConfig
from gradsim.ui.training.plots.gradient import LEFT_LABEL, LEFT_LABEL_CELL, GradientPlot
from gradsim.ui.training.plots.gradient_cell import CELL_KEY

LSTM = SimConfig(cell="lstm", num_layers=2, hidden_size=8, seq_len=30, batch_size=4, forget_bias=1.0)


def make(qtbot, theme) -> GradientPlot:
    plot = shown(qtbot, GradientPlot(theme), (700, 450))
    qtbot.waitExposed(plot)
    return plot


def legend_names(plot: GradientPlot) -> list[str]:
    return [label.text for _, label in plot.legend.items]


def y_label(plot: GradientPlot) -> str:
    return plot.plot.getAxis("left").labelText


def test_lstm_cell_curves_are_the_records_table_dashed_in_the_layer_colours(qtbot, theme, make_run):
    run = make_run(LSTM, 3)
    plot = make(qtbot, theme)
    plot.refresh(run.history, run.config)
    record = run.history.latest
    table = record.log10_cell_grad_norms
    assert table is not None and table.shape == (2, 30)
    assert np.isfinite(table).all() and not np.array_equal(table, record.log10_grad_norms)
    assert plot.cell.toggle_row.isVisible() and plot.cell.toggle.isChecked() and plot.cell.shown
    for k in range(2):
        x, y = plot.cell.curves[k].getOriginalDataset()
        np.testing.assert_array_equal(x, np.arange(1, 31))
        np.testing.assert_array_equal(y, table[k])
        assert plot.cell.curves[k].isVisible()
        pen = plot.cell.curves[k].opts["pen"]
        assert pen.style() != QtCore.Qt.PenStyle.SolidLine  # dashed
        assert pen.color().name() == plot.curves[k].opts["pen"].color().name()
    assert legend_names(plot) == ["layer 1", "layer 2", CELL_KEY]
    assert "||dL/dc_t|| (dashed)" in plot.plot.titleLabel.full_text
    assert y_label(plot) == LEFT_LABEL_CELL  # the axis names both curves
    # The y range holds both tables.
    low, high = plot.bounds.ranges[1]
    both = np.concatenate([table.ravel(), record.log10_grad_norms.ravel()])
    assert low <= both.min() and both.max() <= high


def test_unticking_the_box_hides_the_cell_curves_and_their_key(qtbot, theme, make_run):
    run = make_run(LSTM, 2)
    plot = make(qtbot, theme)
    plot.refresh(run.history, run.config)
    plot.cell.toggle.setChecked(False)
    assert not plot.cell.shown
    for curve in plot.cell.curves:
        assert not curve.isVisible()
        x, _ = curve.getOriginalDataset()
        assert x is None or len(x) == 0
    assert CELL_KEY not in legend_names(plot)
    assert "||dL/dc_t||" not in plot.plot.titleLabel.full_text
    assert y_label(plot) == LEFT_LABEL
    assert plot.cell.toggle_row.isVisible()  # the box stays, to tick it again
    # The ||dL/dh|| curves are untouched.
    np.testing.assert_array_equal(
        plot.curves[0].getOriginalDataset()[1], run.history.latest.log10_grad_norms[0]
    )
    plot.cell.toggle.setChecked(True)
    np.testing.assert_array_equal(
        plot.cell.curves[1].getOriginalDataset()[1], run.history.latest.log10_cell_grad_norms[1]
    )
    assert legend_names(plot) == ["layer 1", "layer 2", CELL_KEY]
    assert y_label(plot) == LEFT_LABEL_CELL


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_rnn_and_gru_runs_show_no_toggle_and_no_cell_curve(qtbot, theme, make_run, cell):
    run = make_run(LSTM.replace(cell=cell), 2)
    assert run.history.latest.log10_cell_grad_norms is None
    plot = make(qtbot, theme)
    plot.refresh(run.history, run.config)
    assert not plot.cell.toggle_row.isVisible() and not plot.cell.shown
    assert plot.cell.curves == []
    assert legend_names(plot) == ["layer 1", "layer 2"]
    assert y_label(plot) == LEFT_LABEL


def test_a_switch_from_lstm_to_rnn_takes_the_cell_curves_away(qtbot, theme, make_run):
    plot = make(qtbot, theme)
    lstm = make_run(LSTM, 1)
    plot.refresh(lstm.history, lstm.config)
    assert plot.cell.shown
    plot.reset()
    rnn = make_run(LSTM.replace(cell="rnn"), 1)
    plot.refresh(rnn.history, rnn.config)
    assert not plot.cell.toggle_row.isVisible()
    assert not any(curve.isVisible() for curve in plot.cell.curves)
    assert CELL_KEY not in legend_names(plot)
    assert y_label(plot) == LEFT_LABEL
