"""Regime classification on hand-built records and on real runs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import EXPLODING_LONG, step_record

from gradsim.engine import theory
from gradsim.engine.config import SimConfig
from gradsim.engine.records import NonFiniteEvent, StepRecord
from gradsim.engine.regime import (
    DECADES_THRESHOLD,
    DEPTH,
    TIME,
    Span,
    classify,
    end_to_end_decades,
    measure,
    measure_log10_norms,
)
from gradsim.engine.simulation import Simulation


def record_with(grad_norms, nonfinite: NonFiniteEvent | None = None) -> StepRecord:
    return step_record(grad_norms, nonfinite=nonfinite)


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
    # Layer 1's time span is first/1.0 (step 1 over its last step); the others stay near 1.
    assert DECADES_THRESHOLD == 3.0
    norms = [[first, 0.5, 1.0], [2.0, 1.5, 1.0]]
    assert classify(record_with(norms)) == expected


def test_a_deeper_layer_that_vanishes_decides_though_the_corner_looks_healthy():
    # The old measure (corner: layer 1 step 1 over layer 2 step T) called this healthy: the
    # gradient reaches step 1 mostly through layer 1, while layer 2 falls 6 decades.
    norms = np.array([[0.4, 0.7, 0.8], [1e-6, 1e-3, 1.0]])
    assert end_to_end_decades(norms) == pytest.approx(np.log10(0.4))
    measured = measure(record_with(norms))
    assert measured.regime == "vanishing"
    assert measured.extreme == Span(TIME, 1, pytest.approx(-6.0), 2)
    assert measured.sentence() == "vanishing through time in layer 2: 1.00e-06 over 2 steps, ×0.001 per step"
    assert [span.kind for span in measured.spans] == [TIME, TIME, DEPTH]
    assert measured.spans[0].decades == pytest.approx(np.log10(0.4 / 0.8))
    assert measured.spans[2].decades == pytest.approx(np.log10(0.8))
    assert measured.corner_decades == pytest.approx(np.log10(0.4))


def test_the_depth_span_decides_when_the_layers_shrink_it_most():
    # 16 layers, each shrinking the gradient by 4 at the last step; time spans flat.
    layers = 16
    last = 0.25 ** np.arange(layers - 1, -1, -1.0)
    norms = np.column_stack([last, last])
    measured = measure(record_with(norms))
    assert measured.regime == "vanishing"
    span = measured.extreme
    assert (span.kind, span.layer, span.steps) == (DEPTH, None, 15)
    assert span.decades == pytest.approx(15 * np.log10(0.25))
    assert span.factor == pytest.approx(0.25)
    assert measured.sentence() == (
        "vanishing through depth: layer 1 gets 9.31e-10 of the top layer's gradient over 15 layers, "
        "×0.25 per layer"
    )


@pytest.mark.parametrize("decades", [-12.3, -3.5, -0.2, 0.0, 1.7, 40.1])
@pytest.mark.parametrize("steps", [1, 7, 49, 999])
def test_the_factor_multiplies_out_exactly_and_as_quoted(decades, steps):
    span = Span(TIME, 0, decades, steps)
    assert span.factor**steps == pytest.approx(span.ratio, rel=1e-9)
    quoted_factor, quoted_ratio = float(span.factor_text()), float(span.ratio_text())
    assert quoted_factor**steps == pytest.approx(quoted_ratio, rel=0.05)


def test_spans_are_measured_in_log10_beyond_the_float_range():
    # A ratio of 1e-607 (below the smallest float) is measured and written exactly.
    logs = np.array([[-607.0, -300.0, 0.0]])
    measured = measure_log10_norms(logs)
    assert measured.decades == -607.0
    assert measured.extreme.ratio_text() == "1.00e-607"
    assert measured.extreme.factor_text() == "3.16e-304"
    assert 2 * np.log10(float(measured.extreme.factor_text())) == pytest.approx(-607.0, abs=0.005)


def test_an_exact_zero_in_a_layer_is_vanishing_and_says_where():
    norms = np.array([[1.0, 0.0, 0.5, 1.0], [1.0, 1.0, 1.0, 1.0]])
    measured = measure(record_with(norms))
    assert measured.regime == "vanishing"
    assert measured.extreme.layer == 0 and measured.extreme.zero_at == 1
    assert measured.sentence() == (
        "vanishing through time in layer 1: the gradient is exactly 0 at step 2, over 3 steps: every path "
        "back is cut"
    )


def test_one_step_of_one_layer_has_no_span():
    measured = measure(record_with([[2.0]]))
    assert (measured.regime, measured.spans, measured.extreme) == ("healthy", (), None)
    # one step of two layers: only the depth span
    measured = measure(record_with([[1e-5], [1.0]]))
    assert [span.kind for span in measured.spans] == [DEPTH]
    assert measured.regime == "vanishing"


def test_log10_grad_norms_is_what_the_measure_reads():
    record = record_with([[0.0, 1e-3, 10.0]])
    assert record.log10_grad_norms.tolist() == [[-np.inf, -3.0, 1.0]]


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
    assert all(span.decades < -20 for span in measure(record).spans if span.kind == TIME)


def test_relu_large_scale_explodes():
    config = SimConfig(
        activation="relu", weight_scale=3.0, num_layers=2, seq_len=60, hidden_size=16, batch_size=4
    )
    record = first_record(config)
    assert classify(record) == "exploding"
    assert end_to_end_decades(record.grad_norms) > 10


def test_relu_large_scale_long_run_becomes_nonfinite():
    config = EXPLODING_LONG.replace(hidden_size=16, batch_size=8)
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
    assert measure(first_record(config)).decades == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("layers", [1, 2, 4])
def test_the_theory_reduces_a_map_to_the_regime_measures_spans(layers: int) -> None:
    # One span computation: the theory's spans of a map are the regime measure's, to the bit,
    # and its extreme span is the one the regime decides on.
    logs = np.random.default_rng(layers).normal(0.0, 3.0, size=(layers, 9))
    measured = measure_log10_norms(logs)
    spans = theory.span_decades(logs)
    expected = list(spans.time) + ([spans.depth] if layers > 1 else [])
    assert [span.decades for span in measured.spans] == expected
    assert measured.decades == spans.extreme()
    # A zero norm: the regime says -inf (vanished), the theory has no rate (NaN).
    logs[0, 0] = -np.inf
    assert measure_log10_norms(logs).spans[0].decades == -math.inf
    assert math.isnan(theory.span_decades(logs).time[0])
