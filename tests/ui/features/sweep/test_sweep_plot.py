"""The phase-diagram plot: its axes label round values, its colours, its key, and the PNG it renders."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtGui

from gradsim.engine import sweep
from gradsim.engine.config import SimConfig
from gradsim.ui.features.sweep.sweep_plot import GridAxis, SweepPlot, diverging_colormap, sweep_png
from gradsim.ui.features.sweep.sweep_scale import AxisScale
from gradsim.ui.features.sweep.sweep_text import theory_explanation

pytestmark = [pytest.mark.qt_log_level_fail("WARNING")]


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


def test_diverging_colormap_is_blue_white_red():
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
