"""Regime classification on hand-built records and on real runs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gradsim.engine.config import SimConfig
from gradsim.engine.records import NonFiniteEvent, StepRecord
from gradsim.engine.regime import DECADES_THRESHOLD, classify, end_to_end_decades
from gradsim.engine.simulation import Simulation


def record_with(grad_norms, nonfinite: NonFiniteEvent | None = None) -> StepRecord:
    grad_norms = np.asarray(grad_norms, dtype=np.float64)
    layers, steps = grad_norms.shape
    return StepRecord(
        iteration=1,
        loss=0.5,
        grad_norms=grad_norms,
        param_grad_norms={},
        global_norm_before=1.0,
        global_norm_after=1.0,
        clipped=False,
        update_ratios={},
        saturation=np.zeros(layers),
        mean_derivative=np.ones((layers, steps)),
        preactivation_samples=np.zeros((layers, 4)),
        spectral_norms=np.ones(layers),
        nonfinite=nonfinite,
    )


def test_decades_run_from_the_top_last_cell_to_the_first_first_cell():
    # Rows are layers (first layer first), columns time steps; entry at (-1, -1) is where the
    # gradient enters, (0, 0) where it ends.
    norms = np.array([[1e-7, 5.0, 1e3], [1e9, 7.0, 1e-2]])
    assert end_to_end_decades(norms) == pytest.approx(-5.0, abs=1e-12)
    assert end_to_end_decades(np.array([[1e250, 1.0], [1.0, 1e-50]])) == pytest.approx(300.0, abs=1e-9)
    assert end_to_end_decades(np.array([[3e-300, 1.0, 2e-300]])) == pytest.approx(np.log10(1.5), abs=1e-12)


@pytest.mark.parametrize(
    "norms",
    [[[0.0, 1.0]], [[1.0, 0.0]], [[np.inf, 1.0]], [[1.0, np.nan]], [[-1.0, 1.0]]],
)
def test_decades_are_nan_without_two_positive_finite_ends(norms):
    assert math.isnan(end_to_end_decades(np.array(norms)))


@pytest.mark.parametrize(
    ("first", "expected"),
    [
        (1e-10, "vanishing"),
        (10 ** (-DECADES_THRESHOLD - 0.01), "vanishing"),
        (10 ** (-DECADES_THRESHOLD + 0.01), "healthy"),
        (1.0, "healthy"),
        (10 ** (DECADES_THRESHOLD - 0.01), "healthy"),
        (10 ** (DECADES_THRESHOLD + 0.01), "exploding"),
        (1e30, "exploding"),
        (0.0, "vanishing"),  # underflowed all the way to zero
    ],
)
def test_classify_hand_built_records(first, expected):
    assert DECADES_THRESHOLD == 3.0
    norms = [[first, 0.5, 0.3], [2.0, 1.5, 1.0]]
    assert classify(record_with(norms)) == expected


@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_any_nonfinite_norm_is_nonfinite(bad):
    # Even in the middle of the table, where the end-to-end ratio looks healthy.
    assert classify(record_with([[1.0, bad, 1.0], [1.0, 1.0, 1.0]])) == "non-finite"


def test_a_nonfinite_event_wins():
    event = NonFiniteEvent(iteration=1, quantity="parameters", parameter="weight_hh_l0")
    assert classify(record_with([[1.0, 1.0]], nonfinite=event)) == "non-finite"


def first_record(config: SimConfig) -> StepRecord:
    return Simulation(config).train_step()


def test_sigmoid_deep_and_long_vanishes():
    config = SimConfig(activation="sigmoid", num_layers=4, seq_len=60, hidden_size=16, batch_size=4)
    record = first_record(config)
    assert classify(record) == "vanishing"
    assert end_to_end_decades(record.grad_norms) < -20


def test_relu_large_scale_explodes():
    config = SimConfig(
        activation="relu", weight_scale=3.0, num_layers=2, seq_len=60, hidden_size=16, batch_size=4
    )
    record = first_record(config)
    assert classify(record) == "exploding"
    assert end_to_end_decades(record.grad_norms) > 10


def test_relu_large_scale_long_run_becomes_nonfinite():
    config = SimConfig(
        activation="relu",
        weight_scale=3.0,
        num_layers=2,
        seq_len=200,
        hidden_size=16,
        batch_size=8,
        learning_rate=0.1,
    )
    simulation = Simulation(config)
    regimes = []
    while (record := simulation.train_step()) is not None:
        regimes.append(classify(record))
    assert regimes[0] == "exploding"
    assert regimes[-1] == "non-finite"


@pytest.mark.parametrize("activation", ["linear", "tanh"])
def test_orthogonal_short_run_is_healthy(activation):
    config = SimConfig(
        activation=activation, init="orthogonal", num_layers=1, seq_len=20, hidden_size=16, batch_size=4
    )
    assert classify(first_record(config)) == "healthy"


def test_linear_orthogonal_keeps_the_norm_exactly():
    config = SimConfig(
        activation="linear", init="orthogonal", num_layers=1, seq_len=60, hidden_size=16, batch_size=4
    )
    assert end_to_end_decades(first_record(config).grad_norms) == pytest.approx(0.0, abs=1e-12)
