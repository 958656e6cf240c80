"""Theory, regime and diagnosis for gated cells: no mean-field number (said in place), the cell
path's spans and gate product as evidence, and the gated fixes where they apply."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gradsim.engine import theory
from gradsim.engine.config import SimConfig
from gradsim.engine.diagnosis import diagnose
from gradsim.engine.gated_theory import NO_MEAN_FIELD, gate_product_decades, mean_path_gate
from gradsim.engine.presets import load_preset
from gradsim.engine.regime import measure, measure_cell_path
from gradsim.engine.simulation import Simulation


def records_of(config: SimConfig, count: int) -> list:
    simulation = Simulation(config)
    return [simulation.train_step() for _ in range(count)]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_theory_gives_no_mean_field_number_for_a_gated_cell_and_says_why(cell):
    config = SimConfig(cell=cell, seq_len=20, hidden_size=16)
    assert theory.not_applicable(config) == NO_MEAN_FIELD
    prediction = theory.predict_layers(config)
    assert isinstance(prediction, theory.NotApplicable)
    assert prediction.label == "not applicable: gated cell"
    assert theory.mean_field(config) is None and theory.critical_weight_scale(config) is None
    assert theory.not_applicable(config.replace(cell="rnn")) is None


def test_the_cell_path_is_measured_like_the_hidden_path_and_its_gate_product_multiplies_out():
    config = SimConfig(cell="lstm", num_layers=2, seq_len=30, hidden_size=16, forget_bias=2.0)
    record = records_of(config, 1)[0]
    cell_path = measure_cell_path(record)
    assert cell_path is not None and [s.kind for s in cell_path.spans] == ["time", "time", "depth"]
    logs = record.log10_cell_grad_norms
    assert cell_path.spans[1].decades == logs[1, 0] - logs[1, -1]
    assert measure(record).spans[1].decades == record.log10_grad_norms[1, 0] - record.log10_grad_norms[1, -1]
    predicted = gate_product_decades(record, config)
    forget = record.gate_means[:, 1:, 1]  # steps 2..T
    np.testing.assert_allclose(predicted, np.log10(forget).sum(axis=1), rtol=1e-13)
    assert mean_path_gate(record, config) == pytest.approx(record.gate_means[:, :, 1].mean(), rel=1e-14)
    assert measure_cell_path(records_of(config.replace(cell="gru"), 1)[0]) is None
    assert (
        gate_product_decades(records_of(config.replace(cell="rnn"), 1)[0], config.replace(cell="rnn")) is None
    )


def test_a_vanishing_vanilla_run_is_offered_an_lstm_with_forget_bias_one():
    config = load_preset("vanishing-tanh-small")
    diagnosis = diagnose(records_of(config, 3), config)
    assert diagnosis.regime == "vanishing"
    fixes = {fix.key: fix for fix in diagnosis.fixes}
    assert fixes["lstm"].changes == {"cell": "lstm", "forget_bias": 1.0}
    assert "gru" not in fixes  # a fresh GRU's update gates are half open: no better (preset gru-half-open)
    assert fixes["lstm"].apply(config).cell == "lstm"
    # sigmoid(1) = 0.73 per step over 19 steps: the explanation's number multiplies out.
    assert (1 / (1 + math.exp(-1))) ** 19 == pytest.approx(2.60e-3, rel=5e-3)
    assert "keeps 2.60e-03 over 19 steps along the cell path" in fixes["lstm"].explanation


def test_an_lstm_with_half_open_forget_gates_is_offered_forget_bias_one():
    config = load_preset("lstm-forget-bias-0")
    records = records_of(config, 2)
    diagnosis = diagnose(records, config)
    assert diagnosis.regime == "vanishing"
    keys = [fix.key for fix in diagnosis.fixes]
    assert "forget_bias" in keys and "lstm" not in keys and "relu" not in keys
    fix = diagnosis.fixes[keys.index("forget_bias")]
    assert fix.changes == {"forget_bias": 1.0}
    assert f"mean {mean_path_gate(records[-1], config):.2f}" in fix.explanation
    evidence = "\n".join(diagnosis.evidence)
    assert "mean forget gate 0.49" in evidence and "forget gates' product predicts" in evidence
    assert "spectral bound" not in evidence  # the vanilla RNN's bound says nothing of gates
    # With the bias already at 1 the fix is not offered again.
    assert "forget_bias" not in [f.key for f in diagnose(records, config.replace(forget_bias=1.0)).fixes]


def test_a_healthy_gated_run_gets_no_fix():
    config = load_preset("lstm-long-memory").replace(seq_len=60)
    diagnosis = diagnose(records_of(config, 1), config)
    assert diagnosis.regime == "healthy" and diagnosis.fixes == ()
