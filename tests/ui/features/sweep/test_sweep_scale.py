"""How a sweep's axes map onto the phase diagram: value <-> index, round ticks, colour levels."""

from __future__ import annotations

import numpy as np

from gradsim.engine import sweep
from gradsim.ui.features.sweep.sweep_scale import AxisScale, nice_step, round_ticks, symmetric_levels


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


def test_levels_are_symmetric_whole_decades():
    assert symmetric_levels(np.array([[-0.2, 0.1], [np.nan, 0.3]])) == (-1.0, 1.0)
    values = np.concatenate([np.linspace(-4.5, 2.0, 99), [-60.0]])
    assert symmetric_levels(values) == (-4.0, 4.0)  # the 90 % quantile of |value|, not the one outlier
    assert symmetric_levels(np.array([np.nan, np.inf])) == (-1.0, 1.0)


def test_nice_steps_are_1_2_5_times_a_power_of_ten():
    assert [nice_step(raw) for raw in (0.7, 1.0, 1.3, 3.0, 7.0, 0.013)] == [1.0, 1.0, 2.0, 5.0, 10.0, 0.02]


def test_round_ticks_per_decade_on_log_axes_and_each_cell_when_few():
    scale = AxisScale(sweep.make_axis("seq_len", 5, 200, 12, "log").values, "log", integer=True)
    ticks = round_ticks(scale, -0.5, 11.5, 6)
    np.testing.assert_allclose(scale.to_value(ticks), [5, 10, 20, 50, 100, 200])
    # Fewer ticks wanted (one more is allowed): 1-3 per decade, then 1 per decade.
    np.testing.assert_allclose(scale.to_value(round_ticks(scale, -0.5, 11.5, 2)), [10, 30, 100])
    np.testing.assert_allclose(scale.to_value(round_ticks(scale, -0.5, 11.5, 1)), [10, 100])
    few = AxisScale([5.0, 400.0], "log", integer=True)
    assert round_ticks(few, -0.5, 1.5, 4) == [0.0, 1.0]  # each cell at its own value
    assert round_ticks(scale, 3.0, 3.0, 6) == [] and round_ticks(scale, np.nan, 2.0, 6) == []
