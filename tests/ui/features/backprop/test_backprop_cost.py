"""The Backprop tab's cost model: what decides whether a job runs inline or on a worker thread."""

from __future__ import annotations

import pytest

from gradsim.ui.features.backprop.backprop_cost import (
    FLOPS_PER_SECOND,
    SECONDS_PER_FORWARD_STEP,
    forward_seconds,
    steps_seconds,
)


def test_cost_estimate_counts_layer_ends():
    one_cell = steps_seconds(4, 500, 16, 64, 5, 1)
    crossing = steps_seconds(4, 500, 16, 64, 500, 1)  # first cell of layer 3 finishes layer 4
    last = steps_seconds(4, 500, 16, 64, 1999, 1)
    assert crossing > one_cell and last == crossing
    assert steps_seconds(4, 500, 16, 64, 0, 2000) == pytest.approx(
        2000 * one_cell + 4 * (crossing - one_cell), rel=1e-9
    )
    assert steps_seconds(4, 500, 16, 64, 1999, 10) == last


def test_no_cells_cost_nothing():
    assert steps_seconds(2, 10, 4, 8, 3, 0) == 0.0
    assert steps_seconds(2, 10, 4, 8, 3, -1) == 0.0


def test_forward_cost_is_four_products_and_the_overhead_per_cell():
    cells = 3 * 100
    expected = 4.0 * cells * 32 * 128 * 128 / FLOPS_PER_SECOND + cells * SECONDS_PER_FORWARD_STEP
    assert forward_seconds(3, 100, 32, 128) == pytest.approx(expected, rel=1e-12)
    # The matrix products grow with the square of the hidden size.
    bigger = forward_seconds(3, 100, 32, 256) - cells * SECONDS_PER_FORWARD_STEP
    assert bigger == pytest.approx(4 * (expected - cells * SECONDS_PER_FORWARD_STEP), rel=1e-12)
