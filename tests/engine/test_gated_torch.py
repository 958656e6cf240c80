"""LSTM and GRU against PyTorch autograd (float64): every parameter's gradient and the tables of
``||dL/dh||`` and ``||dL/dc||``, for 1-3 layers, every task, with and without clipping.

The parameters are loaded into ``nn.LSTM`` / ``nn.GRU`` unchanged (same names, shapes and gate
order), whose gradients are compared with the engine's. The tables need the gradient at every
hidden and cell state, which ``nn.LSTM`` does not expose: they come from the same network
unrolled step by step in torch (``retain_grad`` on every ``h_t`` and ``c_t``), written from
PyTorch's documented equations, whose output is first checked against ``nn.LSTM``'s.

Skipped when torch is not installed (CI has no torch).
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import force_tanh_kernel

from gradsim.engine.clipping import clip_gradients
from gradsim.engine.config import SimConfig
from gradsim.engine.simulation import Simulation

torch = pytest.importorskip("torch")

TOLERANCE = 1e-9


def perturbed(config: SimConfig, seed: int = 0) -> Simulation:
    simulation = Simulation(config)
    rng = np.random.default_rng(100 + seed)
    for value in simulation.params.values():
        value += 0.3 * rng.standard_normal(value.shape)
    return simulation


def unrolled(cell: str, module, x, num_layers: int):
    """The top layer's last state, and every layer's h_t (and c_t) with their grads retained."""
    hiddens, cells_ = [], []
    sequence = [x[:, t] for t in range(x.shape[1])]
    for layer in range(num_layers):
        w_ih, w_hh = getattr(module, f"weight_ih_l{layer}"), getattr(module, f"weight_hh_l{layer}")
        b_ih, b_hh = getattr(module, f"bias_ih_l{layer}"), getattr(module, f"bias_hh_l{layer}")
        size = w_hh.shape[1]
        h = torch.zeros(x.shape[0], size, dtype=torch.float64)
        c = torch.zeros_like(h)
        layer_h, layer_c = [], []
        for x_t in sequence:
            if cell == "lstm":
                i, f, g, o = (x_t @ w_ih.T + b_ih + h @ w_hh.T + b_hh).chunk(4, dim=1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
                c.retain_grad()
                layer_c.append(c)
            else:
                x_r, x_z, x_n = (x_t @ w_ih.T + b_ih).chunk(3, dim=1)
                h_r, h_z, h_n = (h @ w_hh.T + b_hh).chunk(3, dim=1)
                r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
                n = torch.tanh(x_n + r * h_n)
                h = (1 - z) * n + z * h
            h.retain_grad()
            layer_h.append(h)
        hiddens.append(layer_h)
        cells_.append(layer_c)
        sequence = layer_h
    return sequence[-1], hiddens, cells_


def torch_loss(task: str, out, y):
    if task == "memory":
        return torch.nn.functional.cross_entropy(out, torch.as_tensor(y))
    return 0.5 * torch.mean((out - torch.as_tensor(y)) ** 2)


def norms_table(states) -> np.ndarray:
    return np.log10([[torch.linalg.norm(s.grad).item() for s in layer] for layer in states])


def relative(a: np.ndarray, b: np.ndarray) -> float:
    scale = max(float(np.abs(b).max()), 1e-300)
    return float(np.abs(a - b).max() / scale)


@pytest.mark.parametrize("clip", [("none", 1.0), ("norm", 0.05), ("value", 0.01)])
@pytest.mark.parametrize("task", ["adding", "memory", "random"])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("one_exp", [True, False], ids=["expm1-tanh", "numpy-tanh"])
def test_gradients_and_norm_tables_equal_pytorch_autograd(cell, num_layers, task, clip, one_exp, monkeypatch):
    # both tanh kernels of a step (activations.one_exp_tanh): which one runs depends on the CPU
    force_tanh_kernel(monkeypatch, one_exp)
    config = SimConfig(
        cell=cell, num_layers=num_layers, hidden_size=5, seq_len=7, batch_size=3, task=task,
        clip_mode=clip[0], clip_threshold=clip[1], forget_bias=1.0, seed=num_layers,
    )  # fmt: skip
    simulation = perturbed(config, num_layers)
    x, y = simulation.sample_batch()
    result = simulation.forward_backward(x, y)
    norms = {name: float(np.linalg.norm(g)) for name, g in result.grads.items()}
    clipped = clip_gradients(result.grads, config.clip_mode, config.clip_threshold, norms)

    module_type = torch.nn.LSTM if cell == "lstm" else torch.nn.GRU
    module = module_type(x.shape[2], 5, num_layers, batch_first=True).double()
    state_dict = {k: torch.tensor(v) for k, v in simulation.params.items() if not k.startswith("readout")}
    module.load_state_dict(state_dict)  # strict: the same names and shapes
    weight = torch.tensor(simulation.params["readout.weight"], requires_grad=True)
    bias = torch.tensor(simulation.params["readout.bias"], requires_grad=True)
    xt = torch.tensor(x)
    outputs, _ = module(xt)
    loss = torch_loss(task, outputs[:, -1] @ weight.T + bias, y)
    loss.backward()
    assert loss.item() == pytest.approx(result.loss, rel=1e-12)
    expected = {name: p.grad.numpy() for name, p in module.named_parameters()}
    expected["readout.weight"], expected["readout.bias"] = weight.grad.numpy(), bias.grad.numpy()
    assert set(expected) == set(result.grads)
    for name, grad in expected.items():
        assert relative(result.grads[name], grad) < TOLERANCE, name
    # Clipping as gradsim documents it (threshold / ||g||, without PyTorch's + 1e-6).
    total = float(torch.sqrt(sum(torch.sum(torch.as_tensor(g) ** 2) for g in expected.values())))
    for name, grad in expected.items():
        if config.clip_mode == "norm":
            grad = grad * min(1.0, config.clip_threshold / total)
        elif config.clip_mode == "value":
            grad = np.clip(grad, -config.clip_threshold, config.clip_threshold)
        assert relative(clipped.grads[name], grad) < TOLERANCE, name
    assert clipped.clipped == (config.clip_mode != "none")

    # The tables, from the unrolled network (its output first checked against nn's).
    for parameter in module.parameters():
        parameter.grad = None
    last, hiddens, cells_ = unrolled(cell, module, xt, num_layers)
    assert torch.allclose(last, outputs[:, -1], rtol=1e-13, atol=1e-15)
    torch_loss(task, last @ weight.T + bias, y).backward()
    logs = norms_table(hiddens)
    assert np.abs(result.log10_grad_norms - logs).max() < TOLERANCE / np.log(10)
    if cell == "lstm":
        assert np.abs(result.log10_cell_grad_norms - norms_table(cells_)).max() < TOLERANCE / np.log(10)
    else:
        assert result.log10_cell_grad_norms is None


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_a_trained_pytorch_state_dict_runs_unchanged_in_gradsim(cell, tmp_path):
    # The use: train in PyTorch, save the state dict with safetensors, watch it here.
    safetensors_torch = pytest.importorskip("safetensors.torch")
    from gradsim.io.weights import load_weights

    torch.manual_seed(0)
    config = SimConfig(cell=cell, num_layers=2, hidden_size=6, seq_len=9, batch_size=4, task="random")
    model = torch.nn.ModuleDict(
        {"rnn": (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(4, 6, 2, batch_first=True),
         "readout": torch.nn.Linear(6, 4)}
    ).double()  # fmt: skip
    state = {k.removeprefix("rnn."): v for k, v in model.state_dict().items()}
    path = tmp_path / "model.safetensors"
    safetensors_torch.save_file(state, str(path))
    simulation = Simulation(config, weights=load_weights(path, config))
    x, y = simulation.sample_batch()
    outputs, _ = model["rnn"](torch.tensor(x))
    loss = 0.5 * torch.mean((model["readout"](outputs[:, -1]) - torch.tensor(y)) ** 2)
    loss.backward()
    result = simulation.forward_backward(x, y)
    assert result.loss == pytest.approx(loss.item(), rel=1e-12)
    grads = {k.removeprefix("rnn."): p.grad.numpy() for k, p in model.named_parameters()}
    for name, grad in grads.items():
        assert relative(result.grads[name], grad) < TOLERANCE, name
