"""Simulation: parameters, training steps, step records, non-finite runs and the step-through pass.

Many tests use a *twin*: a second Simulation of the same config, which draws the same batch as
the first one's next train_step, so what train_step did can be recomputed independently.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import warnings
from collections.abc import Iterator

import numpy as np
import pytest
from helpers import EXPLODING_LONG, EXPLODING_RELU, small_config

from gradsim.engine import bptt, cells
from gradsim.engine.activations import make_activation
from gradsim.engine.clipping import clip_gradients, global_norm
from gradsim.engine.config import SimConfig
from gradsim.engine.numerics import safe_norm
from gradsim.engine.optim import ADAM_EPS, MOMENTUM
from gradsim.engine.records import NonFiniteEvent, StepRecord
from gradsim.engine.simulation import PREACTIVATION_SAMPLE, BackpropSession, Simulation
from gradsim.engine.tasks import make_task

SMALL = SimConfig(num_layers=2, hidden_size=5, seq_len=6, batch_size=4, task="random", learning_rate=0.05)
EXPLODING = EXPLODING_LONG.replace(hidden_size=16, batch_size=8)
QUANTITIES = {"hidden state", "loss", "gradient dL/dh", "parameter gradient", "parameters"}


def twins(config: SimConfig) -> tuple[Simulation, Simulation]:
    return Simulation(config), Simulation(config)


def run(simulation: Simulation, steps: int) -> list[StepRecord]:
    records = []
    for _ in range(steps):
        record = simulation.train_step()
        if record is None:
            break
        records.append(record)
    return records


def same_value(a, b) -> bool:
    """Bit-identical comparison of record fields (NaN equals NaN)."""
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, float):
        return type(b) is float and (a == b or (math.isnan(a) and math.isnan(b)))
    return a == b


def assert_same_record(a: StepRecord, b: StepRecord) -> None:
    for field in dataclasses.fields(StepRecord):
        assert same_value(getattr(a, field.name), getattr(b, field.name)), field.name


def copy_params(simulation: Simulation) -> dict[str, np.ndarray]:
    return {name: value.copy() for name, value in simulation.params.items()}


@contextlib.contextmanager
def leaves_unchanged(simulation: Simulation) -> Iterator[None]:
    """Asserts that the block changes neither the parameters nor the random generator's state."""
    before = copy_params(simulation)
    rng_state = simulation.rng.bit_generator.state
    yield
    assert all(np.array_equal(simulation.params[n], before[n]) for n in before)
    assert simulation.rng.bit_generator.state == rng_state


# -- parameters --------------------------------------------------------------------------------------


@pytest.mark.parametrize("task", ["adding", "memory", "random"])
@pytest.mark.parametrize("normalization", ["none", "batch"])
@pytest.mark.parametrize("num_layers", [1, 3])
def test_params_are_named_and_shaped_like_torch_rnn(num_layers, normalization, task):
    config = SimConfig(
        num_layers=num_layers, hidden_size=7, seq_len=3, batch_size=2, normalization=normalization, task=task
    )
    simulation = Simulation(config)
    inputs, outputs = make_task(task).input_size, make_task(task).output_size
    expected = {"readout.weight": (outputs, 7), "readout.bias": (outputs,)}
    for layer in range(num_layers):
        expected[f"weight_ih_l{layer}"] = (7, inputs if layer == 0 else 7)
        expected[f"weight_hh_l{layer}"] = (7, 7)
        expected[f"bias_ih_l{layer}"] = (7,)
        expected[f"bias_hh_l{layer}"] = (7,)
        if normalization == "batch":
            expected[f"bn_gain_l{layer}"] = (7,)
            expected[f"bn_shift_l{layer}"] = (7,)
    assert {name: value.shape for name, value in simulation.params.items()} == expected
    for name, value in simulation.params.items():
        assert value.dtype == np.float64
        if "bias" in name or "shift" in name:
            assert not value.any(), name
        elif "gain" in name:
            assert np.array_equal(value, np.ones(7)), name


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_params_follow_the_init_scheme_and_dtype(dtype):
    simulation = Simulation(SMALL.replace(init="identity", weight_scale=0.7, dtype=dtype))
    assert np.array_equal(simulation.params["weight_hh_l1"], (0.7 * np.eye(5)).astype(dtype))
    assert all(value.dtype == np.dtype(dtype) for value in simulation.params.values())
    orthogonal = Simulation(SMALL.replace(init="orthogonal", weight_scale=1.3))
    np.testing.assert_allclose(
        np.linalg.svd(orthogonal.params["weight_hh_l0"], compute_uv=False), 1.3, rtol=1e-12
    )


def test_editing_a_param_in_place_changes_the_next_forward_pass():
    simulation = Simulation(SMALL)
    x, y = simulation.sample_batch()
    first = simulation.forward_backward(x, y)
    weight = simulation.params["weight_hh_l0"]
    original = weight[1, 2]
    weight[1, 2] += 0.5
    changed = simulation.forward_backward(x, y)
    assert changed.loss != first.loss
    assert not np.array_equal(changed.grads["weight_hh_l0"], first.grads["weight_hh_l0"])
    weight[1, 2] = original
    again = simulation.forward_backward(x, y)
    assert again.loss == first.loss
    assert all(np.array_equal(again.grads[n], first.grads[n]) for n in first.grads)


def test_forward_backward_changes_nothing():
    simulation = Simulation(SMALL)
    x, y = simulation.sample_batch()
    with leaves_unchanged(simulation):
        result = simulation.forward_backward(x, y)
    assert simulation.iteration == 0
    assert result.grad_norms.shape == (2, 6)
    assert set(result.grads) == set(simulation.params)


def test_configs_that_differ_only_in_weights_see_the_same_batches():
    base = Simulation(SMALL)
    for changes in ({"init": "he"}, {"weight_scale": 2.5}, {"activation": "relu"}, {"optimizer": "adam"}):
        other = Simulation(SMALL.replace(**changes))
        for _ in range(3):
            x1, y1 = base.sample_batch()
            x2, y2 = other.sample_batch()
            assert np.array_equal(x1, x2) and np.array_equal(y1, y2), changes
        base.reset()
    assert not np.array_equal(
        Simulation(SMALL.replace(seed=1)).sample_batch()[0], Simulation(SMALL).sample_batch()[0]
    )


# -- training steps ----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sgd_step_is_param_minus_learning_rate_times_gradient(dtype):
    trained, twin = twins(SMALL.replace(dtype=dtype))
    for _ in range(3):
        x, y = twin.sample_batch()
        grads = twin.forward_backward(x, y).grads
        before = copy_params(trained)
        record = trained.train_step()
        for name, value in trained.params.items():
            assert value.dtype == np.dtype(dtype)
            assert np.array_equal(value, before[name] - SMALL.learning_rate * grads[name]), name
            twin.params[name][...] = value
        assert record.global_norm_after == record.global_norm_before
        assert not record.clipped


def test_norm_clipping_is_applied_before_the_update():
    config = SMALL.replace(clip_mode="norm", clip_threshold=1e-3)
    trained, twin = twins(config)
    x, y = twin.sample_batch()
    grads = twin.forward_backward(x, y).grads
    before = copy_params(trained)
    record = trained.train_step()
    assert record.clipped
    assert record.global_norm_before == global_norm(grads)
    assert record.global_norm_after == pytest.approx(1e-3, rel=1e-13)
    clipped = clip_gradients(grads, "norm", 1e-3).grads
    for name, value in trained.params.items():
        assert np.array_equal(value, before[name] - config.learning_rate * clipped[name]), name
    # The direction of the applied step is the gradient's.
    step = np.concatenate([(before[n] - trained.params[n]).ravel() for n in grads])
    full = np.concatenate([grads[n].ravel() for n in grads])
    assert step @ full / (np.linalg.norm(step) * np.linalg.norm(full)) == pytest.approx(1.0, abs=1e-12)
    # param_grad_norms are measured before clipping.
    assert record.param_grad_norms == {name: safe_norm(g) for name, g in grads.items()}


def test_value_clipping_bounds_the_applied_gradient():
    config = SMALL.replace(clip_mode="value", clip_threshold=1e-3, learning_rate=1.0)
    trained = Simulation(config)
    before = copy_params(trained)
    record = trained.train_step()
    assert record.clipped
    for name, value in trained.params.items():
        assert np.all(np.abs(value - before[name]) <= 1e-3 * (1 + 1e-12)), name


def test_momentum_and_adam_updates():
    sgd, momentum, adam = (Simulation(SMALL.replace(optimizer=kind)) for kind in ("sgd", "momentum", "adam"))
    twin = Simulation(SMALL.replace(optimizer="momentum"))
    start = copy_params(sgd)
    sgd.train_step()
    adam.train_step()
    # Adam's first step is lr * sign(g) (up to eps): not the SGD step.
    assert not np.allclose(sgd.params["weight_hh_l0"], adam.params["weight_hh_l0"])
    grads1 = twin.forward_backward(*twin.sample_batch()).grads
    momentum.train_step()
    for name in start:
        assert np.array_equal(momentum.params[name], sgd.params[name]), name  # step 1: velocity = g
        twin.params[name][...] = momentum.params[name]
        g = grads1[name]
        adam_step = -SMALL.learning_rate * g / (np.sqrt(g * g) + ADAM_EPS)
        np.testing.assert_allclose(adam.params[name] - start[name], adam_step, rtol=1e-9, atol=1e-15)
    grads2 = twin.forward_backward(*twin.sample_batch()).grads
    before = copy_params(momentum)
    momentum.train_step()
    sgd.train_step()
    for name in start:
        velocity = MOMENTUM * grads1[name] + grads2[name]
        np.testing.assert_allclose(
            momentum.params[name], before[name] - SMALL.learning_rate * velocity, rtol=1e-14, atol=1e-16
        )
    assert not np.allclose(momentum.params["weight_hh_l0"], sgd.params["weight_hh_l0"])


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_update_ratios_are_update_norm_over_weight_norm(optimizer):
    simulation = Simulation(SMALL.replace(optimizer=optimizer))
    for _ in range(2):
        before = copy_params(simulation)
        record = simulation.train_step()
        weights = {name for name in before if "weight" in name}
        assert (
            set(record.update_ratios)
            == weights
            == {
                "weight_ih_l0",
                "weight_hh_l0",
                "weight_ih_l1",
                "weight_hh_l1",
                "readout.weight",
            }
        )
        for name in weights:
            delta = simulation.params[name] - before[name]
            expected = np.linalg.norm(delta) / np.linalg.norm(before[name])
            assert record.update_ratios[name] == pytest.approx(expected, rel=1e-9), name


def test_record_fields_agree_with_the_twin():
    config = SMALL.replace(activation="sigmoid", num_layers=3)
    trained, twin = twins(config)
    spectral = twin.spectral_norms()
    result = twin.forward_backward(*twin.sample_batch())
    record = trained.train_step()
    assert record.iteration == 1 and trained.iteration == 1
    assert record.loss == result.loss
    assert np.array_equal(record.grad_norms, result.grad_norms)
    assert record.grad_norms is not result.grad_norms
    assert record.param_grad_norms == {name: safe_norm(g) for name, g in result.grads.items()}
    assert record.global_norm_before == global_norm(result.grads)
    assert np.array_equal(record.spectral_norms, spectral)
    assert record.nonfinite is None
    assert trained.train_step().iteration == 2


def reference_derivative(name: str, z: np.ndarray) -> np.ndarray:
    if name == "sigmoid":
        s = 1.0 / (1.0 + np.exp(-z))
        return s * (1.0 - s)
    if name == "tanh":
        return 1.0 - np.tanh(z) ** 2
    if name == "relu":
        return (z > 0).astype(float)
    if name == "leaky_relu":
        return np.where(z > 0, 1.0, 0.01)
    if name == "elu":
        return np.where(z > 0, 1.0, np.exp(np.minimum(z, 0.0)))
    return np.ones_like(z)


@pytest.mark.parametrize(
    ("activation", "weight_scale"),
    [("sigmoid", 4.0), ("tanh", 3.0), ("relu", 1.0), ("leaky_relu", 1.0), ("elu", 2.0), ("linear", 0.5)],
)
def test_saturation_and_mean_derivative_agree_with_a_direct_computation(activation, weight_scale):
    config = SMALL.replace(activation=activation, weight_scale=weight_scale, hidden_size=16, seq_len=10)
    trained, twin = twins(config)
    cache = twin.forward_backward(*twin.sample_batch()).cache
    record = trained.train_step()
    limit = {"sigmoid": 0.0125, "tanh": 0.05, "elu": 0.05}
    saturation, mean_derivative = [], []
    for z in cache.preactivations:  # (T, B, H)
        derivative = reference_derivative(activation, z)
        mean_derivative.append(derivative.mean(axis=(1, 2)))
        saturated = derivative < limit[activation] if activation in limit else derivative == 0
        saturation.append(saturated.mean())
    assert record.saturation.shape == (2,) and record.mean_derivative.shape == (2, 10)
    assert record.saturation.dtype == record.mean_derivative.dtype == np.float64
    np.testing.assert_allclose(record.mean_derivative, mean_derivative, rtol=1e-12)
    np.testing.assert_array_equal(record.saturation, saturation)
    if activation in ("sigmoid", "tanh", "relu"):
        assert 0 < record.saturation.max() < 1  # the check saw both kinds of units
    if activation in ("leaky_relu", "linear"):
        assert not record.saturation.any()


@pytest.mark.parametrize(("hidden", "seq_len", "batch"), [(3, 5, 4), (16, 40, 8)])
def test_preactivation_samples_are_a_fixed_stride_sample(hidden, seq_len, batch):
    config = SMALL.replace(hidden_size=hidden, seq_len=seq_len, batch_size=batch)
    trained, twin = twins(config)
    cache = twin.forward_backward(*twin.sample_batch()).cache
    record = trained.train_step()
    assert record.preactivation_samples.shape == (2, PREACTIVATION_SAMPLE)
    for layer, z in enumerate(cache.preactivations):
        flat = z.reshape(-1)
        sample = record.preactivation_samples[layer]
        if flat.size <= PREACTIVATION_SAMPLE:
            assert np.array_equal(sample[: flat.size], flat)
            assert np.isnan(sample[flat.size :]).all()
        else:
            assert np.isin(sample, flat).all()
            assert np.array_equal(
                sample,
                flat[(np.arange(PREACTIVATION_SAMPLE) * (flat.size / PREACTIVATION_SAMPLE)).astype(int)],
            )
            assert sample.std() > 0


def test_spectral_norms_small_matrices_are_exact():
    simulation = Simulation(SMALL.replace(hidden_size=64, seq_len=3))
    for _ in range(3):
        before = [simulation.params[f"weight_hh_l{k}"].copy() for k in range(2)]
        record = simulation.train_step()
        assert np.array_equal(record.spectral_norms, [np.linalg.norm(w, 2) for w in before])


@functools.cache
def spectral_errors(config: SimConfig, steps: int) -> tuple[float, ...]:
    """Relative error of each record's spectral norm against an exact SVD (computed once per config)."""
    simulation = Simulation(config)
    errors = []
    for _ in range(steps):
        before = simulation.params["weight_hh_l0"].copy()
        record = simulation.train_step()
        exact = np.linalg.norm(before, 2)
        assert record.spectral_norms[0] <= exact * (1 + 1e-12)
        errors.append(abs(record.spectral_norms[0] - exact) / exact)
    return tuple(errors)


def test_spectral_norms_of_large_matrices_by_power_iteration():
    errors = spectral_errors(SimConfig(num_layers=1, hidden_size=96, seq_len=4, batch_size=4), 10)
    assert max(errors[5:]) < 1e-6, errors


DEFAULT_SIZE = SimConfig(num_layers=1, hidden_size=128, seq_len=4, batch_size=4)


def test_spectral_norms_of_large_matrices_stay_close():
    errors = spectral_errors(DEFAULT_SIZE, 10)
    assert max(errors) < 0.05, errors


def test_spectral_norms_at_the_default_size_converge_within_a_few_steps():
    errors = spectral_errors(DEFAULT_SIZE, 10)
    assert max(errors[5:]) < 1e-6, errors


# -- determinism, reset ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [
        SMALL,
        SMALL.replace(optimizer="adam", clip_mode="norm", clip_threshold=0.01, normalization="batch"),
        SMALL.replace(optimizer="momentum", clip_mode="value", clip_threshold=0.001, dtype="float32"),
        SMALL.replace(task="memory", activation="relu", init="he", hidden_size=80),
    ],
)
def test_same_seed_same_records_bit_for_bit(config):
    first, second = twins(config)
    records_a, records_b = run(first, 5), run(second, 5)
    assert len(records_a) == len(records_b) == 5
    for a, b in zip(records_a, records_b, strict=True):
        assert_same_record(a, b)
    assert all(np.array_equal(first.params[n], second.params[n]) for n in first.params)
    other = run(Simulation(config.replace(seed=config.seed + 1)), 5)
    for a, b in zip(records_a, other, strict=True):
        assert not np.array_equal(a.grad_norms, b.grad_norms)
        assert a.loss != b.loss


def test_reset_restores_the_initial_state():
    simulation = Simulation(SMALL.replace(optimizer="adam"))
    initial = copy_params(simulation)
    first = run(simulation, 3)
    assert simulation.iteration == 3
    simulation.reset()
    assert simulation.iteration == 0 and not simulation.halted
    assert all(np.array_equal(simulation.params[n], initial[n]) for n in initial)
    again = run(simulation, 3)
    for a, b in zip(first, again, strict=True):
        assert_same_record(a, b)


def test_record_arrays_are_owned_by_the_record():
    simulation = Simulation(SMALL)
    record = simulation.train_step()
    kept = record.grad_norms.copy(), record.spectral_norms.copy()
    simulation.train_step()
    assert np.array_equal(record.grad_norms, kept[0])
    assert np.array_equal(record.spectral_norms, kept[1])


# -- non-finite runs ---------------------------------------------------------------------------------


def test_exploding_run_records_where_it_blew_up_then_halts():
    simulation = Simulation(EXPLODING)
    twin = Simulation(EXPLODING)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        records = run(simulation, 10)
        last = records[-1]
        event = last.nonfinite
        assert isinstance(event, NonFiniteEvent)
        assert all(record.nonfinite is None for record in records[:-1])
        assert event.iteration == last.iteration == simulation.iteration
        assert event.quantity in QUANTITIES
        params_at_halt = copy_params(simulation)
        assert simulation.halted
        assert simulation.nonfinite == event
        assert simulation.train_step() is None
        assert simulation.train_step() is None
        assert simulation.iteration == last.iteration
        assert all(
            np.array_equal(simulation.params[n], params_at_halt[n], equal_nan=True) for n in params_at_halt
        )
        # Recompute the blown-up batch with the twin and check the reported location.
        run(twin, last.iteration - 1)
        result = twin.forward_backward(*twin.sample_batch())
        assert event.quantity == "hidden state"
        states = result.cache.states
        for layer in range(event.layer):
            assert np.isfinite(states[layer]).all()
        layer_states = states[event.layer][1:]  # h_0 .. h_{T-1}
        assert np.isfinite(layer_states[: event.time_step]).all()
        assert not np.isfinite(layer_states[event.time_step]).all()
    assert np.array_equal(last.grad_norms, result.grad_norms, equal_nan=True)
    assert f"iteration {event.iteration}" in event.describe()
    assert (
        f"layer {event.layer + 1}" in event.describe()
        and f"time step {event.time_step + 1}" in event.describe()
    )


def test_reset_after_halting_reproduces_the_first_record():
    simulation = Simulation(EXPLODING)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        records = run(simulation, 10)
        assert simulation.halted
        simulation.reset()
        assert not simulation.halted and simulation.nonfinite is None and simulation.iteration == 0
        again = run(simulation, len(records))
    assert len(again) == len(records)
    for a, b in zip(records, again, strict=True):
        assert_same_record(a, b)


def edited_simulation(
    weight_scale: float, seq_len: int, input_weight: float, readout_weight: float
) -> Simulation:
    """A linear RNN with identity recurrence whose magnitudes are set by hand."""
    config = SimConfig(
        num_layers=1,
        hidden_size=4,
        seq_len=seq_len,
        batch_size=4,
        activation="linear",
        init="identity",
        weight_scale=weight_scale,
        task="random",
    )
    simulation = Simulation(config)
    simulation.params["weight_ih_l0"][...] = input_weight
    simulation.params["readout.weight"][...] = readout_weight
    return simulation


@pytest.mark.parametrize(
    ("settings", "quantity"),
    [
        # h_t ~ 100^t stays finite (1e200) but the readout squared overflows.
        ((100.0, 100, 1.0, 100.0), "loss"),
        # Tiny states, finite loss, a huge readout: dL/dh ~ 1e300 grows 100x per step back.
        ((100.0, 6, 1e-30, 1e160), "gradient dL/dh"),
        # dL/dh ~ 5e307 at every step stays finite; summing it over batch and time does not.
        ((1.0, 30, 1e-10, 1e158), "parameter gradient"),
    ],
)
def test_each_kind_of_nonfinite_value_is_located(settings, quantity):
    simulation, twin = edited_simulation(*settings), edited_simulation(*settings)
    result = twin.forward_backward(*twin.sample_batch())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        record = simulation.train_step()
    event = record.nonfinite
    assert event == simulation.nonfinite and event.iteration == 1
    assert event.quantity == quantity
    assert np.isfinite(result.cache.states[0]).all()
    if quantity == "loss":
        assert not np.isfinite(result.loss) and event.layer is None and event.time_step is None
        return
    assert np.isfinite(result.loss)
    if quantity == "gradient dL/dh":
        # Backpropagation runs from the last step: the first non-finite norm it met.
        norms = result.grad_norms[0]
        assert event.layer == 0
        assert not np.isfinite(norms[event.time_step])
        assert np.isfinite(norms[event.time_step + 1 :]).all()
        return
    assert np.isfinite(result.grad_norms).all()
    assert not np.isfinite(result.grads[event.parameter]).all()
    assert not math.isfinite(record.param_grad_norms[event.parameter])
    assert simulation.train_step() is None


def test_an_update_that_overflows_is_located_in_the_parameters():
    config = small_config(
        num_layers=1, seq_len=10, activation="tanh", weight_scale=3.0, task="random", learning_rate=100.0
    )
    simulation = Simulation(config)
    simulation.params["readout.weight"][...] = 1e153
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        record = simulation.train_step()
    assert np.isfinite(record.loss) and np.isfinite(record.grad_norms).all()
    assert record.nonfinite.quantity == "parameters"
    assert not np.isfinite(simulation.params[record.nonfinite.parameter]).all()
    assert "parameters" in record.nonfinite.describe()
    assert simulation.halted


# -- the step-through backward pass -------------------------------------------------------------------


@pytest.mark.parametrize("normalization", ["none", "batch"])
@pytest.mark.parametrize("num_layers", [1, 3])
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "elu"])
def test_stepping_to_the_end_equals_forward_backward_bit_for_bit(activation, num_layers, normalization):
    config = SMALL.replace(activation=activation, num_layers=num_layers, normalization=normalization)
    simulation = Simulation(config)
    simulation.train_step()  # move off the initial weights
    x, y = simulation.sample_batch()
    reference = simulation.forward_backward(x, y)
    session = simulation.backprop(x, y)
    assert isinstance(session, BackpropSession)
    assert session.total_steps == num_layers * 6
    steps = list(session)
    assert len(steps) == session.total_steps
    result = session.result
    assert result.loss == reference.loss
    assert result.grads.keys() == reference.grads.keys()
    for name, grad in reference.grads.items():
        assert np.array_equal(result.grads[name], grad), name
    assert np.array_equal(result.grad_norms, reference.grad_norms)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_step_throughs_norms_equal_the_table_bit_for_bit_on_wide_steps(dtype):
    # A step of B H = 16 x 600 = 9600 numbers: einsum summed such rows in pieces that depended on
    # how many rows it reduced at once, so one step's norm and the whole table's could differ in
    # the last bit. Each row's sum is one dot product now, whatever the rows around it.
    config = SMALL.replace(num_layers=2, hidden_size=600, batch_size=16, seq_len=3, dtype=dtype)
    simulation = Simulation(config)
    x, y = simulation.sample_batch()
    reference = simulation.forward_backward(x, y)
    steps = list(simulation.backprop(x, y))
    for step in steps:
        assert step.grad_norm == reference.grad_norms[step.layer, step.time_step]
        assert step.log10_grad_norm == reference.log10_grad_norms[step.layer, step.time_step]


def test_step_order_norms_and_local_factors():
    config = SMALL.replace(num_layers=3, activation="tanh", weight_scale=1.5)
    simulation = Simulation(config)
    x, y = simulation.sample_batch()
    reference = simulation.forward_backward(x, y)
    session = simulation.backprop(x, y)
    steps = []
    while (step := session.advance()) is not None:
        steps.append(step)
        if len(steps) < session.total_steps:
            assert session.result is None
    assert session.result is not None  # ready as soon as the last cell is computed
    assert session.advance() is None
    assert [(s.layer, s.time_step) for s in steps] == [
        (layer, t) for layer in (2, 1, 0) for t in range(5, -1, -1)
    ]
    assert [s.order for s in steps] == list(range(18))
    derivatives = reference.cache.derivatives
    for index, step in enumerate(steps):
        layer, t = step.layer, step.time_step
        assert step.grad_norm == reference.grad_norms[layer, t]
        assert step.grad.shape == (4, 5)
        assert safe_norm(step.grad) == pytest.approx(step.grad_norm, rel=1e-15)
        assert step.spectral_norm == np.linalg.norm(simulation.params[f"weight_hh_l{layer}"], 2)
        if t == 5:
            assert math.isnan(step.local_factor)
            assert math.isnan(step.mean_derivative) and math.isnan(step.saturation)
        else:
            previous = steps[index - 1]
            assert previous.layer == layer and previous.time_step == t + 1
            assert step.local_factor == step.grad_norm / previous.grad_norm
            assert step.local_factor == pytest.approx(
                reference.grad_norms[layer, t] / reference.grad_norms[layer, t + 1], rel=1e-15
            )
            assert step.mean_derivative == pytest.approx(derivatives[layer][t + 1].mean(), rel=1e-15)
            tanh = make_activation("tanh")
            assert step.saturation == tanh.saturated(derivatives[layer][t + 1]).mean()


def test_step_grads_are_copies_and_the_session_changes_nothing():
    simulation = Simulation(SMALL)
    x, y = simulation.sample_batch()
    with leaves_unchanged(simulation):
        session = simulation.backprop(x, y)
        first = session.advance()
        kept = first.grad.copy()
        first.grad[...] = 1e9
        rest = list(session)
        assert not np.array_equal(rest[0].grad, first.grad)
        reference = simulation.forward_backward(x, y)
        assert np.array_equal(session.result.grad_norms, reference.grad_norms)
        assert safe_norm(kept) == reference.grad_norms[1, 5]
    assert simulation.iteration == 0


def test_derivative_map():
    simulation = Simulation(SMALL.replace(activation="sigmoid"))
    x, y = simulation.sample_batch()
    session = simulation.backprop(x, y)
    cache = simulation.forward_backward(x, y).cache
    for layer in range(2):
        heat = session.derivative_map(layer)
        assert heat.shape == (5, 6)  # (H, T)
        np.testing.assert_allclose(heat, cache.derivatives[layer].mean(axis=1).T, rtol=1e-15)


def test_step_through_an_exploding_batch_raises_nothing():
    simulation = Simulation(EXPLODING)
    run(simulation, 1)
    x, y = simulation.sample_batch()  # the batch of iteration 2, which overflows
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        steps = list(simulation.backprop(x, y))
        reference = simulation.forward_backward(x, y)
    assert len(steps) == 2 * 200
    assert any(not math.isfinite(step.grad_norm) for step in steps)
    assert np.array_equal(
        np.array([s.grad_norm for s in steps]),
        np.concatenate([reference.grad_norms[1, ::-1], reference.grad_norms[0, ::-1]]),
        equal_nan=True,
    )


def test_replay_reproduces_a_run_and_stops_where_it_halts():
    from gradsim.engine.simulation import replay

    config = SimConfig(num_layers=2, hidden_size=6, seq_len=8, batch_size=3, seed=11)
    simulation = Simulation(config)
    expected = [simulation.train_step() for _ in range(5)]
    replayed = list(replay(config, 5))
    assert [r.iteration for r in replayed] == [1, 2, 3, 4, 5]
    for want, got in zip(expected, replayed, strict=True):
        assert got.loss == want.loss
        np.testing.assert_array_equal(got.grad_norms, want.grad_norms)
    assert list(replay(config, 0)) == []
    with pytest.raises(ValueError, match="iterations"):
        list(replay(config, -1))
    halted = list(replay(EXPLODING_LONG, 50))
    assert len(halted) < 50 and halted[-1].nonfinite is not None
    assert all(record.nonfinite is None for record in halted[:-1])


def test_a_nan_iteration_counts_nonfinite_units_apart_from_saturated_ones():
    # This config (the exploding preset's) goes NaN at iteration 2; the old count called ~96%
    # of its ReLU units "switched off" there (NaN > 0 is False: a NaN unit's derivative is 0).
    config = EXPLODING_RELU
    simulation = Simulation(config)
    records = [simulation.train_step(), simulation.train_step()]
    first, last = records
    assert first.nonfinite is None and last.nonfinite is not None
    np.testing.assert_array_equal(first.nonfinite_fraction, np.zeros(2))
    assert first.nonfinite_fraction.dtype == np.float64
    # The NaN iteration: recompute its forward pass to count each category directly.
    replayed = Simulation(config)
    replayed.train_step()
    x, y = replayed.sample_batch()
    cache = replayed.forward_backward(x, y).cache
    for layer in range(2):
        z = cache.preactivations[layer]
        bad = ~np.isfinite(z)
        switched_off = (cache.derivatives[layer] == 0) & ~bad
        assert last.nonfinite_fraction[layer] == bad.mean()
        assert last.saturation[layer] == switched_off.mean()
        assert last.nonfinite_fraction[layer] > 0.5
        assert last.saturation[layer] < 0.2
        assert last.saturation[layer] + last.nonfinite_fraction[layer] <= 1.0


# -- the forward pass's checkpoint -------------------------------------------------------------------
def test_the_checkpoint_stride_keeps_about_a_million_multiply_adds_between_checkpoints():
    assert bptt.checkpoint_stride(4, 16) == bptt.CHECKPOINT_MAX_STRIDE  # a tiny layer: the cap
    assert bptt.checkpoint_stride(32, 128) == 2  # 524 288 multiply-adds a step
    assert bptt.checkpoint_stride(32, 128, blocks=4) == 1  # an LSTM of that size
    assert bptt.checkpoint_stride(32, 1024) == 1
    assert bptt.checkpoint_stride(0, 0) == bptt.CHECKPOINT_MAX_STRIDE


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_a_forward_pass_calls_its_checkpoint_at_every_stride_th_step_of_every_layer(cell):
    simulation = Simulation(small_config(cell=cell, seq_len=37, num_layers=3))
    x, _ = simulation.sample_batch()
    steps_done: list[int] = []  # at each checkpoint: the RNN's activation calls so far
    activation_calls: list[int] = []
    activation = simulation.activation
    if cell == "rnn":  # its activation runs once per layer and time step
        inner = activation.forward

        def counted(z: np.ndarray, **buffers: np.ndarray | None) -> np.ndarray:
            activation_calls.append(1)
            return inner(z, **buffers)

        activation = dataclasses.replace(activation, forward=counted)

    def checkpoint() -> None:
        steps_done.append(len(activation_calls))

    cells.forward(cell, simulation.params, x, 3, activation, False, checkpoint=checkpoint, checkpoint_every=5)
    per_layer = [0, 5, 10, 15, 20, 25, 30, 35]
    assert len(steps_done) == 3 * len(per_layer)
    if cell == "rnn":  # each call came just before step t of its layer
        assert steps_done == [layer * 37 + t for layer in range(3) for t in per_layer]


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_a_checkpoint_that_raises_abandons_the_step_and_changes_nothing(cell):
    config = small_config(cell=cell, seq_len=40)
    simulation, reference = Simulation(config), Simulation(config)
    before = {name: value.copy() for name, value in simulation.params.items()}
    calls = []

    def abandon() -> None:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt

    simulation.checkpoint = abandon
    with pytest.raises(KeyboardInterrupt):
        simulation.train_step()
    assert simulation.iteration == 0
    for name, value in simulation.params.items():
        np.testing.assert_array_equal(value, before[name])
    # The same simulation trains on as if nothing happened once the checkpoint lets it.
    simulation.checkpoint = lambda: None
    simulation.rng = np.random.default_rng(config.seed)  # the abandoned step drew a batch
    reference.rng = np.random.default_rng(config.seed)
    assert simulation.train_step().loss == reference.train_step().loss


def test_the_step_through_and_forward_backward_pass_the_checkpoint_too():
    config = small_config(seq_len=40)
    simulation = Simulation(config)
    x, y = simulation.sample_batch()
    calls = []
    simulation.checkpoint = lambda: calls.append(1)
    expected = Simulation(config).forward_backward(x, y)
    got = simulation.forward_backward(x, y)
    assert len(calls) == config.num_layers * -(-40 // simulation.checkpoint_every)
    assert got.loss == expected.loss
    session = simulation.backprop(x, y)
    assert len(calls) == 2 * config.num_layers * -(-40 // simulation.checkpoint_every)
    assert session.loss == expected.loss
