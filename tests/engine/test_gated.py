"""LSTM and GRU in the engine, without torch: finite differences (with batch norm), the
step-through against the full backward pass bit for bit, the layout and initialisation of the
parameters, the records' gate statistics, and gradients far below float64 that still read exactly.

(PyTorch autograd is the reference in test_gated_torch.py, skipped where torch is absent.)
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import force_tanh_kernel

from gradsim.engine import bptt, cells, gates
from gradsim.engine.activations import tanh_expm1_
from gradsim.engine.config import ConfigError, SimConfig
from gradsim.engine.simulation import Simulation
from gradsim.engine.tasks import loss_and_gradient

# The finite differences' step: their rounding noise goes as eps / STEP and the stencil's truncation
# error as STEP**4. At 1e-5 the noise took the LSTM's memory task with batch norm (gradients of
# 5e-5 in weight_hh_l0) to 0.6-1.0e-6 of the largest entry whatever tanh the forward used (libm's
# or the engine's); at 1e-4 batch norm's curvature took the GRU's adding task to 1.3e-6. At 3e-5
# the worst of the eight cases is 3e-7.
STEP = 3e-5
GATED = ("lstm", "gru")


def perturbed(config: SimConfig, seed: int = 0, amount: float = 0.3) -> Simulation:
    simulation = Simulation(config)
    rng = np.random.default_rng(1000 + seed)
    for value in simulation.params.values():
        value += amount * rng.standard_normal(value.shape)
    return simulation


def loss_of(simulation: Simulation, x: np.ndarray, y: np.ndarray) -> float:
    config = simulation.config
    cache = cells.forward(
        config.cell, simulation.params, x, config.num_layers, simulation.activation, simulation.batch_norm
    )
    return loss_and_gradient(simulation.task, cache.output, y)[0]


def numeric_gradient(simulation: Simulation, name: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Fourth-order centred differences of the loss (rounding error about 1e-11)."""
    value = simulation.params[name]
    out = np.zeros_like(value)
    for index in np.ndindex(value.shape):
        original = value[index]
        losses = []
        for offset in (2 * STEP, STEP, -STEP, -2 * STEP):
            value[index] = original + offset
            losses.append(loss_of(simulation, x, y))
        value[index] = original
        out[index] = (-losses[0] + 8 * losses[1] - 8 * losses[2] + losses[3]) / (12 * STEP)
    return out


@pytest.mark.parametrize("task", ["adding", "memory"])
@pytest.mark.parametrize("normalization", ["batch", "none"])
@pytest.mark.parametrize("cell", GATED)
@pytest.mark.parametrize("one_exp", [True, False], ids=["expm1-tanh", "numpy-tanh"])
def test_every_gradient_matches_finite_differences(cell, normalization, task, one_exp, monkeypatch):
    force_tanh_kernel(monkeypatch, one_exp)
    config = SimConfig(
        cell=cell, num_layers=2, hidden_size=3, seq_len=4, batch_size=3, task=task,
        normalization=normalization, forget_bias=1.0,
    )  # fmt: skip
    simulation = perturbed(config)
    x, y = simulation.sample_batch()
    result = simulation.forward_backward(x, y)
    assert set(result.grads) == set(simulation.params)
    overall = max(float(np.abs(g).max()) for g in result.grads.values())
    for name, analytic in result.grads.items():
        assert analytic.shape == simulation.params[name].shape, name
        numeric = numeric_gradient(simulation, name, x, y)
        if normalization == "batch" and name.startswith("bias_"):
            # Batch norm removes a constant added before it: these are 0 in exact arithmetic. (The
            # GRU's b_hn is not: it is multiplied by r before the normalisation.)
            if not (cell == "gru" and name.startswith("bias_hh")):
                assert np.abs(analytic).max() <= 1e-12 * overall, name
                assert np.abs(numeric).max() <= 1e-8 * overall, name
                continue
            analytic, numeric = analytic[6:], numeric[6:]  # the n rows
        scale = max(np.abs(analytic).max(), np.abs(numeric).max())
        assert np.abs(analytic - numeric).max() / scale < 1e-6, name
    assert loss_of(simulation, x, y) == result.loss


@pytest.mark.parametrize("cell", GATED)
def test_a_training_steps_backward_skips_only_the_path_norms(cell):
    # train_step's record keeps no path norms: its pass leaves them NaN and every other number
    # keeps its bits.
    config = SimConfig(cell=cell, num_layers=2, hidden_size=5, seq_len=6, batch_size=3)
    simulation = perturbed(config)
    x, y = simulation.sample_batch()
    cache = cells.forward(cell, simulation.params, x, 2, simulation.activation, False)
    _, output_grad = loss_and_gradient(simulation.task, cache.output, y)
    full = cells.backward(cell, simulation.params, cache, output_grad, False)
    lean = cells.backward(cell, simulation.params, cache, output_grad, False, path_norms=False)
    assert np.isnan(lean.log10_path_norms).all()
    assert np.isfinite(full.log10_path_norms[:, :-1]).all()  # every step but the last has both paths
    assert lean.log10_grad_norms.tobytes() == full.log10_grad_norms.tobytes()
    assert lean.scale_exponents.tobytes() == full.scale_exponents.tobytes()
    for name, grad in full.grads.items():
        assert lean.grads[name].tobytes() == grad.tobytes(), name
    if cell == "lstm":
        assert lean.log10_cell_grad_norms.tobytes() == full.log10_cell_grad_norms.tobytes()


@pytest.mark.parametrize("cell", GATED)
@pytest.mark.parametrize("normalization", ["none", "batch"])
@pytest.mark.parametrize("one_exp", [True, False], ids=["expm1-tanh", "numpy-tanh"])
def test_step_through_equals_the_full_backward_pass_bit_for_bit(cell, normalization, one_exp, monkeypatch):
    force_tanh_kernel(monkeypatch, one_exp)
    config = SimConfig(
        cell=cell, num_layers=3, hidden_size=6, seq_len=9, batch_size=4, normalization=normalization
    )
    simulation = perturbed(config)
    x, y = simulation.sample_batch()
    full = simulation.forward_backward(x, y)
    session = simulation.backprop(x, y)
    steps = list(session)
    assert [(s.layer, s.time_step) for s in steps] == [
        (layer, t) for layer in reversed(range(3)) for t in reversed(range(9))
    ]
    result = session.result
    assert result is not None
    for name, grad in full.grads.items():
        assert grad.tobytes() == result.grads[name].tobytes(), name
    assert full.log10_grad_norms.tobytes() == result.log10_grad_norms.tobytes()
    assert full.log10_path_norms.tobytes() == result.log10_path_norms.tobytes()
    for step in steps:
        assert step.log10_grad_norm == full.log10_grad_norms[step.layer, step.time_step]
        assert list(step.gates) == list(gates.BLOCKS[cell])
        np.testing.assert_array_equal(step.gates["update" if cell == "gru" else "forget"],
                                      full.cache.gate_values(step.layer, step.time_step)[
                                          "update" if cell == "gru" else "forget"])  # fmt: skip
    if cell == "lstm":
        assert full.log10_cell_grad_norms.tobytes() == result.log10_cell_grad_norms.tobytes()
        assert all(s.log10_cell_grad_norm == full.log10_cell_grad_norms[s.layer, s.time_step] for s in steps)
    else:
        assert result.log10_cell_grad_norms is None and steps[0].cell_grad is None


@pytest.mark.parametrize("cell", GATED)
def test_the_two_paths_of_a_step_add_up_and_the_cell_path_is_the_gate(cell):
    # Without the layer above (one layer) and before the readout's step, what reaches a cell is
    # exactly the hidden path plus the cell path: for the GRU both land in dL/dh_t, for the LSTM
    # the cell path lands in dL/dc_t = dh_t o (1 - tanh^2 c_t) + f_{t+1} dc_{t+1}.
    config = SimConfig(cell=cell, num_layers=1, hidden_size=5, seq_len=6, batch_size=3)
    simulation = perturbed(config)
    x, y = simulation.sample_batch()
    steps = {s.time_step: s for s in simulation.backprop(x, y)}
    cache = simulation.backprop(x, y).cache
    for t in range(5):
        step, later = steps[t], steps[t + 1]
        path_gate = cache.gate_values(0, t + 1)["forget" if cell == "lstm" else "update"]
        if cell == "lstm":
            cell_path = path_gate * later.cell_grad
            expected = np.linalg.norm(cell_path) / np.linalg.norm(later.cell_grad)
            hidden_path = step.grad  # nothing else reaches h_t below the last step
        else:
            cell_path = path_gate * later.grad
            expected = np.linalg.norm(cell_path) / np.linalg.norm(later.grad)
            hidden_path = step.grad - cell_path
        assert step.cell_path_factor == pytest.approx(expected, rel=1e-12)
        assert step.hidden_path_factor == pytest.approx(
            np.linalg.norm(hidden_path) / np.linalg.norm(later.grad), rel=1e-9
        )
        assert step.path_gate_mean == pytest.approx(float(path_gate.mean()), rel=1e-15)
    assert math.isnan(steps[5].cell_path_factor) and math.isnan(steps[5].hidden_path_factor)


@pytest.mark.parametrize("cell", GATED)
def test_parameters_are_pytorch_shaped_and_initialised_per_gate_block(cell):
    config = SimConfig(cell=cell, num_layers=2, hidden_size=4, init="orthogonal", weight_scale=0.5,
                       forget_bias=1.5, task="memory", normalization="batch", batch_size=2)  # fmt: skip
    simulation = Simulation(config)
    shapes = {name: value.shape for name, value in simulation.params.items()}
    assert shapes == cells.parameter_shapes(config)
    blocks = gates.gate_count(cell)
    assert shapes["weight_ih_l0"] == (blocks * 4, 9) and shapes["weight_hh_l1"] == (blocks * 4, 4)
    assert shapes["bn_gain_l0"] == (blocks * 4,)
    for k in range(blocks):  # each (H, H) block is orthogonal at scale 0.5
        block = simulation.params["weight_hh_l0"][4 * k : 4 * (k + 1)]
        np.testing.assert_allclose(block @ block.T, 0.25 * np.eye(4), atol=1e-12)
    bias = simulation.params["bias_ih_l1"]
    if cell == "lstm":
        assert np.array_equal(bias, np.r_[np.zeros(4), np.full(4, 1.5), np.zeros(8)])
    else:
        assert not bias.any()  # forget_bias is the LSTM's alone
    assert not simulation.params["bias_hh_l1"].any()


def test_config_validates_the_cell_and_keeps_older_configs_rnn():
    assert SimConfig().cell == "rnn" and SimConfig.from_dict({"hidden_size": 8}).cell == "rnn"
    with pytest.raises(ConfigError, match=r"^cell must be one of rnn, lstm, gru \(got 'transformer'\)$"):
        SimConfig(cell="transformer")
    with pytest.raises(ConfigError, match=r"forget_bias must be at least -50 and at most 50 \(got 80\)"):
        SimConfig(cell="lstm", forget_bias=80.0)
    # A gated cell's products are G times wider.
    rnn_config = SimConfig(hidden_size=16)
    assert SimConfig(cell="lstm", hidden_size=16).step_flops == 4 * rnn_config.step_flops
    assert SimConfig(cell="gru", hidden_size=16).step_flops == 3 * rnn_config.step_flops


@pytest.mark.parametrize("cell", GATED)
def test_records_hold_the_gate_statistics_of_the_cache(cell):
    config = SimConfig(cell=cell, num_layers=2, hidden_size=8, seq_len=5, batch_size=4, forget_bias=3.0)
    simulation = Simulation(config)
    state = simulation.rng.bit_generator.state
    x, y = simulation.sample_batch()
    cache = simulation.forward_backward(x, y).cache
    simulation.rng.bit_generator.state = state
    record = simulation.train_step()
    names = gates.GATE_NAMES[cell]
    assert record.gate_means.shape == record.gate_saturation.shape == (2, 5, len(names))
    for layer in range(2):
        for t in range(5):
            values = cache.gate_values(layer, t)
            for k, name in enumerate(names):
                gate = values[name]
                assert record.gate_means[layer, t, k] == pytest.approx(gate.mean(), rel=1e-14)
                saturated = np.mean((gate < 0.05) | (gate > 0.95))
                assert record.gate_saturation[layer, t, k] == saturated
    if cell == "lstm":
        # forget bias 3: sigmoid(3) = 0.95 at a zero pre-activation, so the forget gate sits near it
        assert 0.9 < record.gate_means[:, :, 1].mean() < 0.97
        assert record.log10_cell_grad_norms.shape == (2, 5)
    else:
        assert record.log10_cell_grad_norms is None
    # The activation statistics are the candidate's tanh derivative.
    derivative = 1 - cache.gates[0][2] ** 2  # block-major: block 2 is the candidate
    np.testing.assert_allclose(record.mean_derivative[0], derivative.mean(axis=(1, 2)), rtol=1e-13)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("cell", GATED)
def test_a_gradient_far_below_float64_reads_exactly_and_never_as_zero(cell, dtype, monkeypatch):
    steps = 400 if cell == "lstm" else 700  # the GRU falls about 0.6 decades per step here
    config = SimConfig(cell=cell, num_layers=2, hidden_size=8, seq_len=steps, batch_size=3,
                       weight_scale=0.5, forget_bias=-4.0, dtype=dtype)  # fmt: skip
    simulation = Simulation(config)
    if cell == "gru":
        for layer in range(2):  # update gates near 0: every step forgets the state
            simulation.params[f"bias_ih_l{layer}"][8:16] = -4.0
    x, y = simulation.sample_batch()
    result = simulation.forward_backward(x, y)
    logs = result.log10_grad_norms
    assert np.isfinite(logs).all()
    assert logs.min() < -330  # far below float64's smallest number (about 1e-324)
    assert (result.grad_norms == 0).any()  # where the plain norm underflowed
    tables = [logs] + ([result.log10_cell_grad_norms] if cell == "lstm" else [])
    # The same pass without the scaling: identical wherever its values stayed in the normal range.
    monkeypatch.setattr(bptt, "SCALE_BANDS", {})
    plain = simulation.forward_backward(x, y)
    plain_tables = [plain.log10_grad_norms] + ([plain.log10_cell_grad_norms] if cell == "lstm" else [])
    limit = -290 if dtype == "float64" else -30
    for table, plain_table in zip(tables, plain_tables, strict=True):
        assert np.isfinite(table).all()
        normal = plain_table > limit
        assert normal.sum() > 20
        np.testing.assert_allclose(table[normal], plain_table[normal], rtol=0, atol=1e-12)
        # Below, the step-to-step fall goes on smoothly where the plain pass hit 0 or subnormals.
        assert (np.abs(np.diff(table, axis=1)) < 5).all()


@pytest.mark.parametrize("cell", GATED)
def test_float32_follows_float64(cell):
    config = SimConfig(cell=cell, num_layers=2, hidden_size=8, seq_len=30, batch_size=4)
    logs = {}
    for dtype in ("float64", "float32"):
        simulation = Simulation(config.replace(dtype=dtype))
        record = simulation.train_step()
        assert simulation.params["weight_hh_l0"].dtype == np.dtype(dtype)
        logs[dtype] = record.log10_grad_norms
    assert np.abs(logs["float64"] - logs["float32"]).max() < 1e-4


def passes(simulation: Simulation, x, y, workspace):
    config = simulation.config
    with np.errstate(all="ignore"):
        cache = cells.forward(config.cell, simulation.params, x, config.num_layers, simulation.activation,
                              simulation.batch_norm, workspace)  # fmt: skip
        _, output_grad = loss_and_gradient(simulation.task, cache.output, y)
        state = cells.backward(
            config.cell, simulation.params, cache, output_grad, simulation.batch_norm, workspace
        )
    return cache, state


def snapshot(cache, state) -> list[bytes]:
    arrays = [*cache.states, *cache.gates, *cache.cells, *cache.derivatives, *cache.preactivations]
    arrays += [state.log10_grad_norms, state.log10_path_norms, *(state.grads[n] for n in sorted(state.grads))]
    return [array.tobytes() for array in arrays]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("normalization", ["none", "batch"])
@pytest.mark.parametrize("cell", GATED)
def test_a_reused_workspace_gives_the_same_bits_as_fresh_arrays(cell, normalization, dtype):
    config = SimConfig(cell=cell, num_layers=3, hidden_size=6, seq_len=7, batch_size=4,
                       normalization=normalization, dtype=dtype)  # fmt: skip
    simulation = perturbed(config)
    first, second = simulation.sample_batch(), simulation.sample_batch()
    workspace = bptt.Workspace(reuse_outputs=True)
    expected = snapshot(*passes(simulation, *first, None))
    reused_second = snapshot(*passes(simulation, *second, workspace))  # leaves its values everywhere
    cache, state = passes(simulation, *first, workspace)
    assert snapshot(cache, state) == expected
    assert reused_second == snapshot(*passes(simulation, *second, None))
    held = workspace.nbytes
    again, again_state = passes(simulation, *second, workspace)
    assert workspace.nbytes == held  # a warm workspace takes no new array
    assert all(a is b for a, b in zip(again.gates, cache.gates, strict=True))
    assert again_state.grads["weight_hh_l0"] is state.grads["weight_hh_l0"]


def test_sigmoid_blocks_gives_each_gate_the_bits_of_the_plain_sigmoid_whatever_the_scratch_block_holds():
    hidden = 5
    row = 30 * np.random.default_rng(3).standard_normal((4, 4 * hidden))  # saturated gates and not
    row[0, 2 * hidden] = 1.0  # the scratch block's reciprocal divides by zero here, unreported
    expected = 1.0 / (1.0 + np.exp(-row))
    values = row.copy()
    gates.sigmoid_blocks_(values, (values[:, : 2 * hidden], values[:, 3 * hidden :]))
    sigmoid_columns = np.r_[0 : 2 * hidden, 3 * hidden : 4 * hidden]
    assert values[:, sigmoid_columns].tobytes() == expected[:, sigmoid_columns].tobytes()
    assert np.all((values[:, sigmoid_columns] >= 0) & (values[:, sigmoid_columns] <= 1))
    assert np.isinf(values[0, 2 * hidden])  # the scratch block: 1 / (1 - 1)


def test_the_sigmoid_of_negated_pre_activations_has_the_bits_of_the_plain_sigmoid():
    hidden = 6
    weight = np.random.default_rng(4).standard_normal((4 * hidden, 3))
    x = 30 * np.random.default_rng(5).standard_normal((7, 3))
    flipped = gates.negate_gate_rows("lstm", weight)
    assert np.array_equal(flipped[2 * hidden : 3 * hidden], weight[2 * hidden : 3 * hidden])  # g kept
    assert np.array_equal(flipped[hidden : 2 * hidden], -weight[hidden : 2 * hidden])
    a = x @ weight[:hidden].T  # the input gate's pre-activation, saturated and not
    negated = x @ flipped[:hidden].T
    assert negated.tobytes() == (-a).tobytes()  # a product of negated rows: the exact negation
    extremes = np.array([[-800.0, -40.0, -1e-300, -0.0, 0.0, 1e-8, 25.0, 900.0, np.inf, -np.inf]])
    for values in (a, extremes):
        with np.errstate(over="ignore"):  # exp(800) is inf, the gate exactly 0, as the engine runs it
            expected = 1.0 / (1.0 + np.exp(-values))
            flipped_values = -values
            gates.sigmoid_negated_(flipped_values)
        assert flipped_values.tobytes() == expected.tobytes()


def test_the_negated_sigmoid_keeps_float32_in_float32():
    values = np.random.default_rng(6).standard_normal((3, 5, 7)).astype(np.float32) * 20
    expected = (np.float32(1.0) / (np.float32(1.0) + np.exp(values))).astype(np.float32)
    gates.sigmoid_negated_(values)
    assert values.dtype == np.float32
    assert values.tobytes() == expected.tobytes()


@pytest.mark.parametrize("batch_norm", [False, True])
def test_lstm_cell_states_stay_within_their_step_count_so_their_tanh_needs_no_clip(batch_norm, monkeypatch):
    # |c_t| <= t (gates in [0, 1], candidates in [-1, 1]): the forward's tanh(c_t) on the expm1
    # kernel skips the clip below 354 steps and must give the clipped formula's bits. Biases of 50
    # hold i and f at 1 and g at -1, so c_t = -t: at the last step -2c is 600, near where expm1
    # would overflow (709.8).
    force_tanh_kernel(monkeypatch, one_exp=True)
    config = SimConfig(cell="lstm", hidden_size=5, batch_size=4, seq_len=300, num_layers=1, task="adding",
                       normalization="batch" if batch_norm else "none")  # fmt: skip
    simulation = Simulation(config)
    bias, hidden = simulation.params["bias_ih_l0"], config.hidden_size
    bias[: 2 * hidden], bias[2 * hidden : 3 * hidden] = 50.0, -50.0
    if batch_norm:  # the normalised pre-activations: held by the shifts instead
        shift = simulation.params["bn_shift_l0"]
        shift[: 2 * hidden], shift[2 * hidden : 3 * hidden] = 50.0, -50.0
    x, _ = simulation.sample_batch()
    with np.errstate(all="ignore"):
        cache = cells.forward("lstm", simulation.params, x, 1, simulation.activation, batch_norm)
    states = cache.cells[0]
    steps = np.arange(config.seq_len + 1).reshape(-1, 1, 1)
    assert np.all(np.abs(states) <= steps)
    assert np.max(np.abs(states)) > 290  # the bound was approached
    clipped = tanh_expm1_(states[1:], np.empty_like(states[1:]), np.empty_like(states[1:]))
    assert cache.cell_tanh[0].tobytes() == clipped.tobytes()


@pytest.mark.parametrize("cell", GATED)
def test_the_cache_keeps_each_gate_block_major_in_pytorchs_order(cell):
    # At the first step h_{-1} = 0, so each block's value follows from the input alone.
    config = SimConfig(cell=cell, hidden_size=6, batch_size=3, seq_len=4, num_layers=1, task="adding")
    simulation = perturbed(config, seed=2)
    x, _ = simulation.sample_batch()
    params = simulation.params
    cache = cells.forward(cell, params, x, 1, simulation.activation, False)
    blocks = gates.gate_count(cell)
    assert cache.gates[0].shape == (blocks, 4, 3, 6)
    a = x[:, 0] @ params["weight_ih_l0"].T + params["bias_ih_l0"]  # (B, G H), PyTorch's row order
    b_hh = params["bias_hh_l0"]
    sigmoid = 1.0 / (1.0 + np.exp(-(a + b_hh)))
    if cell == "lstm":
        expected = [sigmoid[:, :6], sigmoid[:, 6:12], np.tanh(a[:, 12:18] + b_hh[12:18]), sigmoid[:, 18:]]
    else:  # n = tanh(W_in x + b_in + r * b_hn)
        expected = [sigmoid[:, :6], sigmoid[:, 6:12], np.tanh(a[:, 12:] + sigmoid[:, :6] * b_hh[12:])]
    for k, name in enumerate(gates.BLOCKS[cell]):
        np.testing.assert_allclose(cache.gates[0][k, 0], expected[k], rtol=1e-13, atol=1e-15)
        np.testing.assert_array_equal(cache.gate_values(0, 2)[name], cache.gates[0][k, 2])
