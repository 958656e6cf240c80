"""Reused buffers of the engine: same numbers bit for bit, and nothing handed out is overwritten.

``rnn.Workspace`` lets ``Simulation.train_step`` reuse its ``(T, B, H)`` arrays from step to
step. These tests check that buffers change where results are stored, never their bits (with or
without a workspace, with stale contents from another batch), that what ``forward_backward``
and the step-through pass hand out survives later calls, and the exact shortcuts that came with
it: the contiguous recurrent operand, ``out=``/``scratch`` derivatives, the saturated fraction,
``safe_norm``'s conversion buffer, clipping with known norms and the cheap finiteness checks.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from gradsim.engine import rnn
from gradsim.engine.activations import make_activation
from gradsim.engine.clipping import clip_gradients
from gradsim.engine.config import ACTIVATIONS, SimConfig
from gradsim.engine.numerics import safe_norm
from gradsim.engine.simulation import Simulation
from gradsim.engine.workspace import recurrent_blocks

SMALL = SimConfig(num_layers=3, hidden_size=6, seq_len=7, batch_size=5, task="random", learning_rate=0.05)
CACHE_FIELDS = ("inputs", "states", "preactivations", "derivatives", "normalized", "inverse_std")


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Identical dtype, shape and bytes (so -0.0 differs from 0.0 and NaN payloads count)."""
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def snapshot(cache: rnn.ForwardCache, state: rnn.BackwardState) -> dict[str, object]:
    """Copies of everything a forward/backward pass produced."""
    out: dict[str, object] = {name: [a.copy() for a in getattr(cache, name)] for name in CACHE_FIELDS}
    out["output"] = cache.output.copy()
    out["grads"] = {name: g.copy() for name, g in state.grads.items()}
    out["grad_norms"] = state.grad_norms.copy()
    return out


def assert_same_snapshot(a: dict[str, object], b: dict[str, object]) -> None:
    for name in CACHE_FIELDS:
        assert len(a[name]) == len(b[name]), name
        assert all(same_bits(u, v) for u, v in zip(a[name], b[name], strict=True)), name
    assert same_bits(a["output"], b["output"])
    assert list(a["grads"]) == list(b["grads"])
    for name in a["grads"]:
        assert same_bits(a["grads"][name], b["grads"][name]), name
    assert same_bits(a["grad_norms"], b["grad_norms"])


def passes(simulation: Simulation, x: np.ndarray, y: np.ndarray, workspace: rnn.Workspace | None):
    config = simulation.config
    with np.errstate(all="ignore"):
        cache = rnn.forward(
            simulation.params, x, config.num_layers, simulation.activation, simulation.batch_norm, workspace
        )
        _, output_grad = rnn.loss_and_output_grad(simulation.task, cache, y)
        state = rnn.backward(simulation.params, cache, output_grad, simulation.batch_norm, workspace)
    return cache, state


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("normalization", ["none", "batch"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_a_reused_workspace_gives_the_same_bits_as_fresh_arrays(activation, normalization, dtype):
    config = SMALL.replace(activation=activation, normalization=normalization, dtype=dtype, weight_scale=1.5)
    simulation = Simulation(config)
    first, second = simulation.sample_batch(), simulation.sample_batch()
    workspace = rnn.Workspace(reuse_outputs=True)
    expected = snapshot(*passes(simulation, *first, None))
    # The second batch leaves its values in every buffer before the first batch runs again.
    reused_second = snapshot(*passes(simulation, *second, workspace))
    cache, state = passes(simulation, *first, workspace)
    assert_same_snapshot(snapshot(cache, state), expected)
    assert_same_snapshot(reused_second, snapshot(*passes(simulation, *second, None)))
    # The arrays really are the workspace's: a third call hands back the same objects.
    again, again_state = passes(simulation, *second, workspace)
    assert all(a is b for a, b in zip(again.states, cache.states, strict=True))
    assert all(again_state.grads[n] is state.grads[n] for n in ("weight_hh_l0", "weight_ih_l2"))


def test_workspace_reuses_by_key_shape_and_dtype_and_outputs_only_when_asked():
    workspace = rnn.Workspace(reuse_outputs=False)
    a = workspace.scratch(("a",), (3, 4), np.dtype(np.float64))
    assert workspace.scratch(("a",), (3, 4), np.dtype(np.float64)) is a
    assert workspace.scratch(("a",), (3, 5), np.dtype(np.float64)) is not a
    assert workspace.scratch(("a",), (3, 5), np.dtype(np.float32)).dtype == np.float32
    assert workspace.nbytes == 3 * 5 * 4
    first = workspace.output(("out",), (2,), np.dtype(np.float64))
    assert workspace.output(("out",), (2,), np.dtype(np.float64)) is not first
    keeping = rnn.Workspace(reuse_outputs=True)
    kept = keeping.output(("out",), (2,), np.dtype(np.float64))
    assert keeping.output(("out",), (2,), np.dtype(np.float64)) is kept


@pytest.mark.parametrize("normalization", ["none", "batch"])
def test_forward_backward_and_step_through_results_survive_later_calls(normalization):
    simulation = Simulation(SMALL.replace(normalization=normalization, activation="sigmoid"))
    x, y = simulation.sample_batch()
    result = simulation.forward_backward(x, y)
    kept = copy.deepcopy(result)
    # The session reads the live parameters as it goes: finish it before training changes them.
    session = simulation.backprop(x, y)
    steps = list(session)
    kept_steps = copy.deepcopy(steps)
    records = [simulation.train_step(), simulation.train_step()]
    kept_records = copy.deepcopy(records)
    other = simulation.forward_backward(*simulation.sample_batch())
    simulation.train_step()
    for name in CACHE_FIELDS:
        for a, b in zip(getattr(result.cache, name), getattr(kept.cache, name), strict=True):
            assert same_bits(a, b), name
    assert all(same_bits(result.grads[n], kept.grads[n]) for n in kept.grads)
    assert same_bits(result.grad_norms, kept.grad_norms)
    assert all(same_bits(a.grad, b.grad) for a, b in zip(steps, kept_steps, strict=True))
    for record, kept_record in zip(records, kept_records, strict=True):
        assert same_bits(record.grad_norms, kept_record.grad_norms)
        assert same_bits(record.preactivation_samples, kept_record.preactivation_samples)
        assert same_bits(record.mean_derivative, kept_record.mean_derivative)
    # forward_backward hands out new arrays on every call, never the previous call's.
    assert not any(a is b for a, b in zip(other.cache.states, result.cache.states, strict=True))
    assert other.grads["weight_hh_l0"] is not result.grads["weight_hh_l0"]
    # The session's result still equals forward_backward of its batch, bit for bit.
    for name in kept.grads:
        assert same_bits(session.result.grads[name], kept.grads[name]), name


def test_train_step_after_a_batch_of_another_shape_is_unchanged():
    config = SMALL.replace(activation="tanh")
    simulation, reference = Simulation(config), Simulation(config)
    first = simulation.train_step()
    x, y = simulation.sample_batch()
    simulation.forward_backward(x[:2], y[:2])  # a smaller batch through the shared scratch
    reference.train_step()
    reference.sample_batch()
    assert same_bits(simulation.train_step().grad_norms, reference.train_step().grad_norms)
    assert first.iteration == 1


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("batch", "hidden"), [(1, 64), (2, 33), (16, 64), (32, 128), (5, 100)])
def test_the_recurrent_operand_gives_the_bits_of_the_transposed_view(batch, hidden, dtype):
    rng = np.random.default_rng(batch * 1000 + hidden)
    weight = rng.standard_normal((hidden, hidden)).astype(dtype)
    operand = rnn._recurrent_operand(weight, batch, np.dtype(dtype))
    assert np.array_equal(operand, weight.T)
    for _ in range(3):
        h = rng.standard_normal((batch, hidden)).astype(dtype)
        assert same_bits(h @ operand, h @ weight.T)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("batch", "hidden", "blocks"), [(1, 64, 4), (2, 33, 3), (16, 24, 4), (32, 128, 3)])
def test_the_recurrent_blocks_give_each_block_the_bits_of_its_transposed_view(batch, hidden, blocks, dtype):
    rng = np.random.default_rng(batch * 1000 + hidden)
    weight = rng.standard_normal((blocks * hidden, hidden)).astype(dtype)
    stacked = recurrent_blocks(weight, blocks, batch, np.dtype(dtype))
    assert stacked.shape == (blocks, hidden, hidden)
    h = rng.standard_normal((batch, hidden)).astype(dtype)
    products = np.matmul(h, stacked)  # (G, B, H), as the gated cells run it
    for k in range(blocks):
        assert same_bits(products[k], h @ weight[k * hidden : (k + 1) * hidden].T)


EXTREMES = np.array(
    [-np.inf, -800.0, -40.0, -19.5, -1.0, -1e-300, -0.0, 0.0, 1e-8, 0.5, 25.0, 900.0, np.inf, np.nan]
)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", ACTIVATIONS)
def test_derivative_into_out_and_scratch_has_the_same_bits(name, dtype):
    activation = make_activation(name, leaky_slope=0.2)
    rng = np.random.default_rng(7)
    z = np.concatenate([EXTREMES, 10 * rng.standard_normal(50)]).astype(dtype).reshape(4, 2, 8)
    with np.errstate(all="ignore"):
        h = activation.forward(z)
        expected = activation.derivative(z, h)
        out, scratch = np.full_like(z, 7.0), np.full_like(z, -3.0)
        assert activation.derivative(z, h, out=out, scratch=scratch) is out
        assert same_bits(out, expected)
        assert same_bits(activation.derivative(z, h, out=np.empty_like(z)), expected)
    mask = np.ones(z.shape, dtype=bool)
    assert activation.saturated_fraction(expected, mask) == activation.saturated(expected).mean()
    assert activation.saturated_fraction(expected) == activation.saturated(expected).mean()


def test_safe_norm_with_a_conversion_buffer_has_the_same_bits():
    rng = np.random.default_rng(3)
    values = rng.standard_normal((6, 3, 4)).astype(np.float32)
    values[1] *= np.float32(1e-30)  # squares underflow: the careful path
    values[2, 0, 0] = np.inf
    values[3, 1, 1] = np.nan
    values[4] = 0.0
    buffer = np.full(values.shape, 5.0)
    assert same_bits(safe_norm(values, axis=(1, 2), buffer=buffer), safe_norm(values, axis=(1, 2)))
    assert safe_norm(values[5], buffer=np.empty((3, 4))) == safe_norm(values[5])
    as_float64 = values.astype(np.float64)
    assert same_bits(safe_norm(as_float64, axis=(1, 2), buffer=buffer), safe_norm(values, axis=(1, 2)))


@pytest.mark.parametrize(("mode", "threshold"), [("none", 1.0), ("norm", 0.5), ("norm", 1e9), ("value", 0.1)])
def test_clipping_with_known_norms_equals_clipping_without(mode, threshold):
    rng = np.random.default_rng(11)
    grads = {name: rng.standard_normal(shape) for name, shape in (("a", (3, 4)), ("b", (4,)), ("c", (2, 2)))}
    norms = {name: safe_norm(g) for name, g in grads.items()}
    plain, known = clip_gradients(grads, mode, threshold), clip_gradients(grads, mode, threshold, norms)
    assert (plain.norm_before, plain.norm_after, plain.clipped) == (
        known.norm_before,
        known.norm_after,
        known.clipped,
    )
    assert all(same_bits(plain.grads[n], known.grads[n]) for n in grads)


def finished_result(simulation: Simulation):
    x, y = simulation.sample_batch()
    result = simulation.forward_backward(x, y)
    norms = {name: float(safe_norm(g)) for name, g in result.grads.items()}
    return result, norms


def test_huge_but_finite_states_and_gradients_are_not_reported_as_nonfinite():
    simulation = Simulation(SMALL)
    result, norms = finished_result(simulation)
    # Their sum overflows (the quick check fails), every entry is finite (the scan decides).
    result.cache.states[1][1:] = 1e308
    result.grads["weight_hh_l0"][...] = 1e308
    norms["weight_hh_l0"] = float(safe_norm(result.grads["weight_hh_l0"]))
    assert norms["weight_hh_l0"] == np.inf
    with np.errstate(all="ignore"):
        assert simulation._find_nonfinite(1, result, norms) is None


def test_nonfinite_values_are_still_located_behind_the_quick_checks():
    simulation = Simulation(SMALL)
    result, norms = finished_result(simulation)
    result.grads["bias_ih_l1"][2] = np.nan
    norms["bias_ih_l1"] = float(safe_norm(result.grads["bias_ih_l1"]))
    event = simulation._find_nonfinite(4, result, norms)
    assert (event.quantity, event.parameter, event.iteration) == ("parameter gradient", "bias_ih_l1", 4)
    result.cache.states[2][5, 1, 3] = -np.inf
    result.cache.states[2][6, 0, 0] = np.nan
    event = simulation._find_nonfinite(4, result, norms)
    assert (event.quantity, event.layer, event.time_step) == ("hidden state", 2, 4)
