"""Weights files: a PyTorch state dict as .safetensors or .npz loads, is checked against the config
with a one-line error, and a pickle is never opened."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy

from gradsim.engine.config import SimConfig
from gradsim.engine.simulation import Simulation
from gradsim.io.weights import WeightsError, load_weights, read_weights, save_weights

CONFIG = SimConfig(cell="lstm", num_layers=2, hidden_size=4, seq_len=5, batch_size=3, task="random")


def torch_layout_state_dict(hidden: int, inputs: int, layers: int, blocks: int, seed: int = 0) -> dict:
    """What ``nn.LSTM(inputs, hidden, layers).state_dict()`` holds, built with numpy (float32,
    PyTorch's default dtype; PyTorch's order of names)."""
    rng = np.random.default_rng(seed)
    bound = 1 / np.sqrt(hidden)
    state = {}
    for layer in range(layers):
        width = inputs if layer == 0 else hidden
        state[f"weight_ih_l{layer}"] = rng.uniform(-bound, bound, (blocks * hidden, width)).astype(np.float32)
        state[f"weight_hh_l{layer}"] = rng.uniform(-bound, bound, (blocks * hidden, hidden)).astype(
            np.float32
        )
        state[f"bias_ih_l{layer}"] = rng.uniform(-bound, bound, blocks * hidden).astype(np.float32)
        state[f"bias_hh_l{layer}"] = rng.uniform(-bound, bound, blocks * hidden).astype(np.float32)
    return state


def test_a_safetensors_state_dict_in_pytorch_layout_loads_and_runs(tmp_path: Path):
    state = torch_layout_state_dict(4, 4, 2, 4)
    path = tmp_path / "lstm.safetensors"
    safetensors.numpy.save_file(state, str(path))
    weights = load_weights(path, CONFIG)
    assert set(weights) == set(state)
    assert all(value.dtype == np.float64 for value in weights.values())
    simulation = Simulation(CONFIG, weights=weights)
    for name, value in state.items():
        np.testing.assert_array_equal(simulation.params[name], value.astype(np.float64))
    # What the file leaves out (the readout) is the config's own initialisation.
    fresh = Simulation(CONFIG)
    np.testing.assert_array_equal(simulation.params["readout.weight"], fresh.params["readout.weight"])
    # The data stream does not depend on the weights: the same batches as a fresh run.
    assert np.array_equal(simulation.sample_batch()[0], fresh.sample_batch()[0])
    record = simulation.train_step()
    assert np.isfinite(record.log10_grad_norms).all()
    simulation.reset()
    np.testing.assert_array_equal(simulation.params["weight_hh_l1"], state["weight_hh_l1"].astype(np.float64))


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_saved_params_read_back_bit_for_bit(tmp_path: Path, suffix: str):
    simulation = Simulation(CONFIG.replace(normalization="batch"))
    path = tmp_path / f"weights{suffix}"
    save_weights(path, simulation.params)
    back = read_weights(path)
    assert list(back) == list(simulation.params) if suffix == ".npz" else set(back) == set(simulation.params)
    for name, value in simulation.params.items():
        np.testing.assert_array_equal(back[name], value, strict=True)
    again = Simulation(simulation.config, weights=load_weights(path, simulation.config))
    assert again.train_step().loss == Simulation(simulation.config).train_step().loss


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.pop("bias_hh_l1"), "parameter 'bias_hh_l1' is missing (2-layer lstm)"),
        (lambda s: s.__setitem__("weight_hh_l0", np.zeros((12, 4), np.float32)),
         "parameter 'weight_hh_l0' has shape (12, 4), the config needs (16, 4)"),
        (lambda s: s.__setitem__("lstm.weight_ih_l0", np.zeros(3, np.float32)),
         "unexpected parameter 'lstm.weight_ih_l0'"),
        (lambda s: s.__setitem__("bias_ih_l0", np.zeros(16, np.int32)),
         "parameter 'bias_ih_l0' holds int32 numbers"),
    ],
)  # fmt: skip
def test_a_mismatch_is_one_line_naming_the_file_and_the_parameter(tmp_path: Path, change, message):
    state = torch_layout_state_dict(4, 4, 2, 4)
    change(state)
    for suffix in (".safetensors", ".npz"):
        path = tmp_path / f"bad{suffix}"
        if suffix == ".npz":
            np.savez(path, **state)
        else:
            safetensors.numpy.save_file(state, str(path))
        with pytest.raises(WeightsError) as caught:
            load_weights(path, CONFIG)
        text = str(caught.value)
        assert text.startswith(f"{path}: ") and message in text and "\n" not in text


def test_a_gru_file_does_not_load_as_an_lstm(tmp_path: Path):
    path = tmp_path / "gru.safetensors"
    safetensors.numpy.save_file(torch_layout_state_dict(4, 4, 2, 3), str(path))
    with pytest.raises(WeightsError, match=r"'weight_ih_l0' has shape \(12, 4\), the config needs \(16, 4\)"):
        load_weights(path, CONFIG)
    assert set(load_weights(path, CONFIG.replace(cell="gru"))) == {n for n in read_weights(path)}


@pytest.mark.parametrize("name", ["model.pt", "model.pth", "MODEL.PT", "pytorch_model.bin"])
def test_pickles_are_refused_without_being_opened(tmp_path: Path, name: str):
    path = tmp_path / name
    path.write_bytes(b"\x80\x04not read at all")
    os.chmod(path, 0)  # even an unreadable file is refused by its name first
    with pytest.raises(WeightsError, match="is a pickle .* can run any code .* safetensors.torch.save_file"):
        load_weights(path, CONFIG)
    with pytest.raises(WeightsError, match="is a pickle"):
        save_weights(path, {})


def test_broken_and_hostile_files_give_one_line_errors(tmp_path: Path):
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"hello")
    header = json.dumps(
        {"weight_ih_l0": {"dtype": "F64", "shape": [10**12], "data_offsets": [0, 8]}}
    ).encode()
    lying = tmp_path / "lying.safetensors"
    lying.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 8)
    for path in (garbage, lying):
        with pytest.raises(WeightsError, match="not a valid safetensors file") as caught:
            read_weights(path)
        assert "\n" not in str(caught.value)
    with pytest.raises(WeightsError, match="unknown weights file type '.txt'"):
        read_weights(tmp_path / "w.txt")
    with pytest.raises(WeightsError, match="no such file"):
        read_weights(tmp_path / "missing.safetensors")


def test_a_named_pipe_is_refused_without_blocking(tmp_path: Path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes on this platform")
    pipe = tmp_path / "pipe.safetensors"
    os.mkfifo(pipe)
    with pytest.raises(WeightsError, match="is a named pipe, not a file"):
        read_weights(pipe)
