"""ComputedCells: the backward pass's cells in BPTT order, the grid and the layer curves, against
the engine's own backward pass."""

from __future__ import annotations

import numpy as np
import pytest

from gradsim.engine.config import SimConfig
from gradsim.engine.simulation import Simulation
from gradsim.ui.features.backprop.backprop_cells import (
    FINITE,
    NOT_REACHED,
    ComputedCells,
    decade_levels,
)

CONFIG = SimConfig(num_layers=2, hidden_size=5, seq_len=6, batch_size=3, seed=4, weight_scale=1.3)


def computed(config: SimConfig = CONFIG) -> tuple[ComputedCells, np.ndarray]:
    """Every cell of ``config``'s first batch, and the engine's ``log10_grad_norms`` ``(L, T)``."""
    simulation = Simulation(config)
    x, y = simulation.sample_batch()
    expected = simulation.forward_backward(x, y).log10_grad_norms
    session = simulation.backprop(x, y)
    cells = ComputedCells(config.num_layers, config.seq_len)
    steps = []
    while (step := session.advance()) is not None:
        steps.append(step)
    cells.append(steps)
    return cells, expected


def test_cells_of_runs_top_layer_last_step_first():
    cells = ComputedCells(3, 4)
    layers, times = cells.cells_of(np.arange(12))
    assert layers.tolist() == [2] * 4 + [1] * 4 + [0] * 4
    assert times.tolist() == [3, 2, 1, 0] * 3


def test_grid_fills_and_empties_with_the_position():
    cells, expected = computed()
    cells.show(0, 8)  # the top layer (6 steps) and the last two steps of layer 1
    assert np.all(cells.cell_kinds[1] == FINITE)
    assert cells.cell_kinds[0].tolist() == [NOT_REACHED] * 4 + [FINITE] * 2
    np.testing.assert_allclose(cells.cell_log[1], expected[1], rtol=1e-12)
    np.testing.assert_allclose(cells.cell_log[0, 4:], expected[0, 4:], rtol=1e-12)
    cells.show(8, 3)  # back (undo): the cells after the third are blank again
    assert cells.cell_kinds[1].tolist() == [NOT_REACHED] * 3 + [FINITE] * 3
    assert np.all(cells.cell_kinds[0] == NOT_REACHED) and np.isnan(cells.cell_log[0]).all()


def test_curve_ends_equal_the_engines_norms_and_the_factor_product_lies_on_them():
    cells, expected = computed()
    for layer in (1, 0):
        curve = cells.curve(layer, cells.num_layers * cells.seq_len)
        np.testing.assert_allclose(curve.norms, expected[layer], rtol=1e-12)
        assert curve.reached.all()
        # The chain rule: the entry value times the running product of the local factors.
        np.testing.assert_allclose(curve.factor_product, expected[layer], rtol=1e-9, atol=1e-12)
        # The parts estimate starts at the entry and multiplies mean f' x sigma_max per step.
        step = cells.steps[(cells.num_layers - 1 - layer) * cells.seq_len + 1]
        parts = np.log10(step.mean_derivative * step.spectral_norm)
        assert curve.parts_product[-2] == pytest.approx(expected[layer, -1] + parts, rel=1e-12)


def test_curve_of_a_layer_not_reached_is_empty():
    cells, _ = computed()
    curve = cells.curve(0, 4)
    assert not curve.reached.any() and np.isnan(curve.norms).all()
    partial = cells.curve(1, 2)
    assert partial.reached.tolist() == [False] * 4 + [True] * 2


def test_levels_span_whole_decades_of_the_norms_computed():
    cells, expected = computed()
    assert cells.levels() == (np.floor(expected.min()), np.ceil(expected.max()))
    assert ComputedCells(1, 3).levels() == (-1.0, 0.0)
    assert decade_levels(-2.5, 0.3) == (-3.0, 1.0)
    assert decade_levels(2.0, 2.0) == (2.0, 3.0)
    assert decade_levels(np.nan, 1.0) == (-1.0, 0.0)
