"""The phase-diagram plot: value <-> position maps, round ticks, levels, and the PNG it renders."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PySide6 import QtGui

from gradsim.engine import sweep
from gradsim.engine.config import SimConfig
from gradsim.ui.features.sweep.sweep_plot import (
    AxisScale,
    GridAxis,
    diverging_colormap,
    sweep_png,
    symmetric_levels,
)

pytestmark = [
    pytest.mark.qt_log_level_fail("WARNING"),
    pytest.mark.qt_log_ignore(re.escape("This plugin does not support propagateSizeHints()")),
]


def test_axis_scale_maps_grid_values_to_indices_and_back_in_log10():
    scale = AxisScale([10, 12, 15, 30, 100], "log", integer=True)
    np.testing.assert_allclose(scale.to_plot([10, 12, 15, 30, 100]), [0, 1, 2, 3, 4])
    # Between grid values the position is linear in log10: sqrt(30 * 100) is halfway.
    np.testing.assert_allclose(scale.to_plot(np.sqrt(3000)), 3.5)
    # Past the ends the end interval's slope continues; NaN stays NaN.
    np.testing.assert_allclose(scale.to_plot([100 * (100 / 30), np.nan]), [5, np.nan])
    positions = np.linspace(-0.5, 4.5, 11)
    np.testing.assert_allclose(scale.to_plot(scale.to_value(positions)), positions)
    linear = AxisScale([0.5, 1.0, 2.0], "linear")
    np.testing.assert_allclose(linear.to_plot([0.75, 1.5, 3.0]), [0.5, 1.5, 3.0])


def test_grid_axis_ticks_are_round_values_labelled_with_real_values(qapp):
    axis = GridAxis("left")
    scale = AxisScale(sweep.make_axis("seq_len", 5, 200, 12, "log").values, "log", integer=True)
    axis.set_scale(scale)
    ticks = axis.tick_values(-0.5, 11.5, 600)
    labels = axis.tickStrings(ticks, 1.0, 1.0)
    assert labels == ["5", "10", "20", "50", "100", "200"]
    np.testing.assert_allclose(scale.to_value(ticks), [5, 10, 20, 50, 100, 200])
    linear = GridAxis("bottom")
    linear.set_scale(AxisScale(sweep.make_axis("weight_scale", 0.5, 2.5, 17).values, "linear"))
    assert linear.tickStrings(linear.tick_values(-0.5, 16.5, 700), 1.0, 1.0) == [
        "0.5",
        "1",
        "1.5",
        "2",
        "2.5",
    ]


def test_levels_are_symmetric_whole_decades():
    assert symmetric_levels(np.array([[-0.2, 0.1], [np.nan, 0.3]])) == (-1.0, 1.0)
    values = np.concatenate([np.linspace(-4.5, 2.0, 99), [-60.0]])
    assert symmetric_levels(values) == (-4.0, 4.0)  # the 90 % quantile of |value|, not the one outlier
    colors = diverging_colormap().map(np.array([0.0, 0.5, 1.0]), mode="qcolor")
    assert [c.name() for c in colors] == ["#2166ac", "#f7f7f7", "#b2182b"]


def pixels(data: bytes) -> np.ndarray:
    image = QtGui.QImage.fromData(data, "PNG").convertToFormat(QtGui.QImage.Format.Format_RGB888)
    array = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    # A copy: the array views the QImage's memory, which goes when the image does.
    return array[:, : 3 * image.width()].reshape(image.height(), image.width(), 3).copy()


def test_png_has_the_width_asked_for_and_shows_blue_red_and_overflow(qapp):
    base = SimConfig(
        num_layers=1, hidden_size=8, seq_len=10, batch_size=3, activation="linear", task="random"
    )
    spec = sweep.SweepSpec(
        base, sweep.SweepAxis("weight_scale", (0.5, 1.0, 6.5)), sweep.SweepAxis("seq_len", (5, 400))
    )
    result = sweep.run_sweep(spec, workers=0, cache=None)
    assert result.overflow[1, 2] and result.values[1, 0] < -10 and result.values[0, 2] > 1
    data = sweep_png(result, sweep.critical_line(spec), width=600)
    image = pixels(data)
    assert image.shape == (480, 600, 3)  # 900 x 720 in proportion
    red, green, blue = (image[..., k].astype(int) for k in range(3))
    assert ((blue - red > 80) & (green < 160)).mean() > 0.05  # the vanishing cells
    assert ((red - blue > 80) & (green < 80)).mean() > 0.05  # the exploding cell
    assert (image.max(axis=2) < 20).mean() > 0.05  # the overflow cell, in black


def test_theory_line_key_explains_theory_against_measured(qtbot) -> None:
    from gradsim.ui.features.sweep.sweep_plot import SweepPlot, theory_explanation

    spec = sweep.SweepSpec(
        SimConfig(num_layers=2, hidden_size=8, seq_len=10, batch_size=3, activation="linear", task="random"),
        sweep.make_axis("weight_scale", 0.5, 1.5, 3),
        sweep.make_axis("seq_len", 5, 10, 2),
        5,
    )
    result = sweep.run_sweep(spec, workers=0, cache=None)
    line = sweep.critical_line(spec)
    plot = SweepPlot()
    qtbot.addWidget(plot)
    plot.show_result(result, line)
    labels = [label.text for _, label in plot.legend.items]
    assert "theory: most extreme span at 0 decades (mean field)" in labels
    # The explanation is on the key itself (tooltip), not only in a status line, with the notes.
    assert plot.legend.toolTip() == plot.theory_text == theory_explanation(line)
    assert "most extreme" in plot.theory_text and "Dots (measured)" in plot.theory_text
    assert "after 5 training steps the measured edge can move." in plot.theory_text
    missing = sweep.critical_line(sweep.SweepSpec(spec.base.replace(normalization="batch"), spec.x, spec.y))
    assert theory_explanation(missing).startswith("No theory line: batch norm")
