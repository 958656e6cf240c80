"""Gated cells in files: exports and configs round-trip their fields, an older config is an RNN."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gradsim.engine.config import SimConfig
from gradsim.engine.simulation import Simulation
from gradsim.io.configfile import load_config, save_config
from gradsim.io.runexport import read_json, read_npz, records_to_arrays, write_json, write_npz

LSTM = SimConfig(cell="lstm", forget_bias=1.0, num_layers=2, hidden_size=5, seq_len=6, batch_size=3, seed=2)
GRU = SimConfig(cell="gru", num_layers=2, hidden_size=5, seq_len=6, batch_size=3, normalization="batch")


def run(config: SimConfig, iterations: int) -> list:
    simulation = Simulation(config)
    return [simulation.train_step() for _ in range(iterations)]


@pytest.mark.parametrize("writer", ["json", "npz"])
@pytest.mark.parametrize("config", [LSTM, GRU], ids=["lstm", "gru"])
def test_gated_runs_round_trip_with_their_gate_fields(tmp_path: Path, config, writer, assert_records_equal):
    records = run(config, 3)
    assert records[0].gate_means is not None
    path = tmp_path / f"run.{writer}"
    if writer == "json":
        write_json(path, records, config, include_samples=True)
        data = read_json(path)
    else:
        write_npz(path, records, config)
        data = read_npz(path)
    assert data.config == config and data.config.cell == config.cell
    assert_records_equal(records, data.records)
    for record, back in zip(records, data.records, strict=True):
        for name in ("gate_means", "gate_saturation", "log10_cell_grad_norms"):
            value = getattr(record, name)
            if value is None:
                assert getattr(back, name) is None, name
            else:
                np.testing.assert_array_equal(getattr(back, name), value, strict=True)
    if config.cell == "lstm":
        arrays = records_to_arrays(records, config)
        assert arrays["log10_cell_grad_norms"].shape == (3, 2, 6)
        assert arrays["gate_means"].shape == (3, 2, 6, 3)


def test_an_rnn_export_has_no_gate_fields(tmp_path: Path, healthy_run):
    config, records = healthy_run
    assert "gate_means" not in records_to_arrays(records, config)
    write_json(tmp_path / "run.json", records, config)
    assert "gate_means" not in json.loads((tmp_path / "run.json").read_text())["records"][0]
    assert read_json(tmp_path / "run.json").records[0].gate_means is None


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_gated_config_round_trips_and_an_older_config_is_an_rnn(tmp_path: Path, suffix):
    path = tmp_path / f"lstm{suffix}"
    save_config(LSTM, path)
    assert load_config(path) == LSTM
    old = tmp_path / f"old{suffix}"
    if suffix == ".toml":
        old.write_text('[config]\nhidden_size = 12\nactivation = "relu"\n')
    else:
        old.write_text(json.dumps({"config": {"hidden_size": 12, "activation": "relu"}}))
    loaded = load_config(old)
    assert (loaded.cell, loaded.forget_bias, loaded.hidden_size) == ("rnn", 0.0, 12)
