"""BPTT against finite differences and closed forms.

The finite-difference checks use a fourth-order centred stencil
``(-L(p+2h) + 8 L(p+h) - 8 L(p-h) + L(p-2h)) / 12h`` with ``h = 1e-5``: its truncation error is
negligible and its rounding error about 1e-11, so a relative error above 1e-6 is a real bug.
The ``dL/dh`` table is checked against an independent forward pass written below (a plain time
loop with no caching), differentiated with respect to an offset added to one hidden state.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from helpers import force_tanh_kernel

from gradsim.engine import rnn
from gradsim.engine.activations import tanh_
from gradsim.engine.config import ACTIVATIONS, INITS, SimConfig
from gradsim.engine.numerics import safe_norm
from gradsim.engine.simulation import Simulation

STEP = 1e-5
KINKED = ("relu", "leaky_relu", "elu")


def make_simulation(
    activation="tanh",
    init="gaussian",
    normalization="none",
    num_layers=1,
    task="random",
    hidden=3,
    steps=4,
    batch=3,
    seed=0,
    dtype="float64",
    perturbation=0.3,
    **settings,
) -> Simulation:
    """A tiny simulation whose parameters are moved off their initial values.

    Identity and orthogonal weights, zero biases, unit gains and zero shifts are special
    points; a random nudge makes the check cover the general case (``perturbation=0``: none,
    for a closed form that needs the initial weights). ``settings``: other SimConfig fields.
    """
    config = SimConfig(
        num_layers=num_layers,
        hidden_size=hidden,
        seq_len=steps,
        batch_size=batch,
        activation=activation,
        leaky_slope=0.1,
        init=init,
        normalization=normalization,
        task=task,
        seed=seed,
        dtype=dtype,
        **settings,
    )
    simulation = Simulation(config)
    if perturbation:
        rng = np.random.default_rng(1000 + seed)
        for value in simulation.params.values():
            value += (perturbation * rng.standard_normal(value.shape)).astype(value.dtype)
    return simulation


def engine_loss(simulation: Simulation, x: np.ndarray, y: np.ndarray) -> float:
    cache = rnn.forward(
        simulation.params, x, simulation.config.num_layers, simulation.activation, simulation.batch_norm
    )
    return rnn.loss_and_output_grad(simulation.task, cache, y)[0]


def stencil(loss_at) -> float:
    """Fourth-order centred difference of ``loss_at(offset)`` at 0."""
    return (-loss_at(2 * STEP) + 8 * loss_at(STEP) - 8 * loss_at(-STEP) + loss_at(-2 * STEP)) / (12 * STEP)


def numeric_gradient(simulation: Simulation, name: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    value = simulation.params[name]
    out = np.zeros_like(value)
    for index in np.ndindex(value.shape):
        original = value[index]

        def loss_at(offset: float, index=index, original=original) -> float:
            value[index] = original + offset
            return engine_loss(simulation, x, y)

        out[index] = stencil(loss_at)
        value[index] = original
    return out


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    scale = max(np.abs(analytic).max(), np.abs(numeric).max())
    return float(np.abs(analytic - numeric).max() / scale)


def analytically_zero(name: str, simulation: Simulation) -> bool:
    """Gradients that are exactly zero in exact arithmetic.

    With batch norm, a bias added before the normalisation is removed again by its mean. With a
    linear activation as well, a layer's shift is a per-unit constant over the batch wherever it
    goes next (the layer above, this layer's next step), and batch norm removes that too, except
    in the top layer where it reaches the readout.
    """
    if not simulation.batch_norm:
        return False
    if name.startswith("bias_"):
        return True
    top = simulation.config.num_layers - 1
    return (
        simulation.config.activation == "linear"
        and name.startswith("bn_shift")
        and name != f"bn_shift_l{top}"
    )


def kink_margin(simulation: Simulation, x: np.ndarray) -> float:
    """Smallest distance of a pre-activation from the kink at 0."""
    cache = rnn.forward(
        simulation.params, x, simulation.config.num_layers, simulation.activation, simulation.batch_norm
    )
    return min(float(np.abs(z).min()) for z in cache.preactivations)


def clear_of_kinks(**settings) -> Simulation:
    """``make_simulation(**settings)`` with the first seed whose batch keeps clear of the kink.

    For ReLU-like units a nudge must not move a pre-activation across 0, where the loss is
    not differentiable; a margin of 1e-3 is far more than the stencil's nudges (2e-5 on a
    parameter) can move it.
    """
    for seed in range(50):
        simulation = make_simulation(seed=seed, **settings)
        state = simulation.rng.bit_generator.state
        x, _ = simulation.sample_batch()
        simulation.rng.bit_generator.state = state
        if settings.get("activation") not in KINKED or kink_margin(simulation, x) > 1e-3:
            return simulation
    raise AssertionError("no seed keeps the pre-activations clear of the kink")


def check_against_finite_differences(simulation: Simulation) -> None:
    x, y = simulation.sample_batch()
    cache = rnn.forward(
        simulation.params, x, simulation.config.num_layers, simulation.activation, simulation.batch_norm
    )
    loss, output_grad = rnn.loss_and_output_grad(simulation.task, cache, y)
    grads = rnn.backward(simulation.params, cache, output_grad, simulation.batch_norm).grads
    assert set(grads) == set(simulation.params)
    overall = max(float(np.abs(g).max()) for g in grads.values())
    for name, analytic in grads.items():
        assert analytic.shape == simulation.params[name].shape, name
        assert analytic.dtype == simulation.params[name].dtype, name
        numeric = numeric_gradient(simulation, name, x, y)
        if analytically_zero(name, simulation):
            assert np.abs(analytic).max() <= 1e-12 * overall, name
            assert np.abs(numeric).max() <= 1e-8 * overall, name
        else:
            assert relative_error(analytic, numeric) < 1e-6, name
    assert engine_loss(simulation, x, y) == loss  # the parameters were restored exactly


@pytest.mark.parametrize("num_layers", [1, 3])
@pytest.mark.parametrize("normalization", ["none", "batch"])
@pytest.mark.parametrize("init", INITS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_gradient_matches_finite_differences(activation, init, normalization, num_layers):
    check_against_finite_differences(
        clear_of_kinks(
            activation=activation,
            init=init,
            normalization=normalization,
            num_layers=num_layers,
            hidden=3 if num_layers == 3 else 4,
        )
    )


@pytest.mark.parametrize(
    ("task", "normalization"), list(itertools.product(["adding", "memory"], ["none", "batch"]))
)
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_gradients_of_each_task_loss(task, normalization, activation):
    # Five samples: with batch norm, a memory batch showing only two distinct classes would make
    # the first step's normalised input independent of weight_ih_l0 (a degenerate check).
    check_against_finite_differences(
        clear_of_kinks(
            activation=activation,
            init="xavier",
            normalization=normalization,
            num_layers=2,
            task=task,
            steps=5,
            batch=5,
        )
    )


# -- an independent forward pass, to check the dL/dh table ---------------------------------------------


def reference_activation(name: str, z: np.ndarray, slope: float) -> np.ndarray:
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.where(z > 0, z, 0.0)
    if name == "leaky_relu":
        return np.where(z > 0, z, slope * z)
    if name == "elu":
        return np.where(z > 0, z, np.exp(np.minimum(z, 0.0)) - 1.0)
    return z


def reference_loss(
    simulation: Simulation, x: np.ndarray, y: np.ndarray, offsets: dict[tuple[int, int], np.ndarray]
) -> float:
    """The network's loss, written as plainly as possible; ``offsets[(l, t)]`` is added to h^l_t."""
    config, params = simulation.config, simulation.params
    batch, steps, _ = x.shape
    sequence = [x[:, t, :] for t in range(steps)]
    for layer in range(config.num_layers):
        w_ih, w_hh = params[f"weight_ih_l{layer}"], params[f"weight_hh_l{layer}"]
        b_ih, b_hh = params[f"bias_ih_l{layer}"], params[f"bias_hh_l{layer}"]
        h = np.zeros((batch, config.hidden_size))
        outputs = []
        for t in range(steps):
            a = sequence[t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh
            if config.normalization == "batch":
                gain, shift = params[f"bn_gain_l{layer}"], params[f"bn_shift_l{layer}"]
                a = gain * (a - a.mean(axis=0)) / np.sqrt(a.var(axis=0) + 1e-5) + shift
            h = reference_activation(config.activation, a, config.leaky_slope)
            if (layer, t) in offsets:
                h = h + offsets[(layer, t)]
            outputs.append(h)
        sequence = outputs
    output = sequence[-1] @ params["readout.weight"].T + params["readout.bias"]
    if simulation.task.loss == "mse":
        return float(0.5 * np.mean((output - y) ** 2))
    log_prob = output - np.log(np.sum(np.exp(output), axis=1, keepdims=True))
    return float(-np.mean(log_prob[np.arange(batch), y]))


def reference_state_gradient(simulation: Simulation, x, y, layer: int, t: int) -> np.ndarray:
    """(B, H) dL/dh^layer_t by finite differences of the reference forward pass."""
    shape = (x.shape[0], simulation.config.hidden_size)
    out = np.zeros(shape)
    for index in np.ndindex(shape):

        def loss_at(offset: float, index=index) -> float:
            delta = np.zeros(shape)
            delta[index] = offset
            return reference_loss(simulation, x, y, {(layer, t): delta})

        out[index] = stencil(loss_at)
    return out


@pytest.mark.parametrize("normalization", ["none", "batch"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_reference_forward_agrees_with_the_engine(activation, normalization):
    simulation = make_simulation(activation, "he", normalization, num_layers=3, steps=5, seed=4)
    x, y = simulation.sample_batch()
    assert reference_loss(simulation, x, y, {}) == pytest.approx(engine_loss(simulation, x, y), rel=1e-12)


@pytest.mark.parametrize("task", ["random", "memory"])
@pytest.mark.parametrize("normalization", ["none", "batch"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_state_gradients_match_finite_differences_of_a_reference_forward(activation, normalization, task):
    # Five samples, so that batch norm of a memory batch does not see just two distinct inputs.
    simulation = clear_of_kinks(
        activation=activation,
        init="gaussian",
        normalization=normalization,
        num_layers=3,
        steps=5,
        task=task,
        batch=5,
    )
    x, y = simulation.sample_batch()
    cache = rnn.forward(simulation.params, x, 3, simulation.activation, simulation.batch_norm)
    _, output_grad = rnn.loss_and_output_grad(simulation.task, cache, y)
    cells = {(2, 4), (2, 0), (1, 2), (0, 4), (0, 0)}
    expected = {cell: reference_state_gradient(simulation, x, y, *cell) for cell in cells}
    seen = set()
    steps = rnn.backward_steps(simulation.params, cache, output_grad, simulation.batch_norm)
    for state in steps:
        cell = (state.layer, state.time_step)
        if cell in cells:
            # The (B, H) matrix dL/dh of this cell, final as soon as the cell is yielded.
            assert relative_error(state.layer_grad[cell[1]], expected[cell]) < 1e-6, cell
            seen.add(cell)
    assert seen == cells
    # The (L, T) table holds the norms of those matrices.
    norms = rnn.backward(simulation.params, cache, output_grad, simulation.batch_norm).grad_norms
    for cell in cells:
        assert norms[cell] == pytest.approx(np.linalg.norm(expected[cell]), rel=1e-6)


# -- float32 ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("normalization", ["none", "batch"])
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "elu"])
def test_float32_gradients_agree_with_float64(activation, normalization):
    single = make_simulation(
        activation, "xavier", normalization, num_layers=2, hidden=8, steps=10, batch=4, dtype="float32"
    )
    double = make_simulation(activation, "xavier", normalization, num_layers=2, hidden=8, steps=10, batch=4)
    for name, value in single.params.items():
        assert value.dtype == np.float32
        double.params[name][...] = value  # the same numbers, held in float64
    x, y = single.sample_batch()
    assert x.dtype == np.float32
    result32 = single.forward_backward(x, y)
    result64 = double.forward_backward(x.astype(np.float64), y.astype(np.float64))
    assert result32.loss == pytest.approx(result64.loss, rel=1e-5)
    overall = max(float(np.abs(g).max()) for g in result64.grads.values())
    for name, g64 in result64.grads.items():
        g32 = result32.grads[name]
        assert g32.dtype == np.float32, name
        if analytically_zero(name, double):
            assert np.abs(g32).max() <= 1e-5 * overall, name
        else:
            assert safe_norm(g32 - g64) <= 1e-4 * safe_norm(g64), name
    np.testing.assert_allclose(result32.grad_norms, result64.grad_norms, rtol=1e-4)
    assert result32.grad_norms.dtype == np.float64


# -- closed forms ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("num_layers", [1, 3])
@pytest.mark.parametrize("scale", [0.5, 0.9, 1.0, 1.3])
def test_linear_orthogonal_scales_the_gradient_by_exactly_s_per_step(scale, num_layers):
    # h_t = W h_{t-1} + ... with W = s Q: in the top layer dL/dh_{t-1} = dL/dh_t W, and a
    # right product with s Q multiplies a Frobenius norm by s exactly.
    simulation = make_simulation(
        "linear",
        "orthogonal",
        weight_scale=scale,
        num_layers=num_layers,
        hidden=6,
        steps=30,
        batch=5,
        perturbation=0,
    )
    result = simulation.forward_backward(*simulation.sample_batch())
    top = result.grad_norms[-1]
    assert np.all(top > 0)
    np.testing.assert_allclose(top[:-1] / top[1:], scale, rtol=1e-12)
    assert top[0] / top[-1] == pytest.approx(scale**29, rel=1e-11)


def test_batch_gradient_is_the_mean_of_single_sample_gradients():
    # Without batch norm the samples do not interact; the loss is a mean over the batch.
    simulation = make_simulation("tanh", "gaussian", "none", num_layers=2, steps=6, batch=4, seed=3)
    x, y = simulation.sample_batch()
    together = simulation.forward_backward(x, y).grads
    alone = [simulation.forward_backward(x[b : b + 1], y[b : b + 1]).grads for b in range(4)]
    for name, grad in together.items():
        np.testing.assert_allclose(grad, np.mean([g[name] for g in alone], axis=0), rtol=1e-12, atol=1e-16)


# -- structure of the forward cache and the backward order ------------------------------------------------


@pytest.mark.parametrize("normalization", ["none", "batch"])
def test_forward_cache_shapes(normalization):
    simulation = make_simulation("tanh", "gaussian", normalization, num_layers=3, hidden=5, steps=7, batch=4)
    x, _ = simulation.sample_batch()
    cache = rnn.forward(simulation.params, x, 3, simulation.activation, simulation.batch_norm)
    assert [a.shape for a in cache.inputs] == [(7, 4, 4), (7, 4, 5), (7, 4, 5)]
    assert np.array_equal(cache.inputs[0], x.transpose(1, 0, 2))
    for layer in range(3):
        assert cache.states[layer].shape == (8, 4, 5)
        assert not cache.states[layer][0].any()  # h_{-1} = 0
        # the forward's tanh is activations.tanh_ (from expm1, within 4 ulp of libm's)
        np.testing.assert_allclose(
            cache.states[layer][1:], np.tanh(cache.preactivations[layer]), rtol=1e-14, atol=0
        )
        assert np.array_equal(
            cache.inputs[layer + 1] if layer < 2 else cache.states[2][1:], cache.states[layer][1:]
        )
        np.testing.assert_allclose(cache.derivatives[layer], 1 - np.tanh(cache.preactivations[layer]) ** 2)
    assert len(cache.normalized) == len(cache.inverse_std) == (3 if normalization == "batch" else 0)
    if normalization == "batch":
        for u in cache.normalized:
            np.testing.assert_allclose(u.mean(axis=1), 0, atol=1e-12)  # zero mean over the batch
    readout = simulation.params["readout.weight"]
    assert np.array_equal(cache.output, cache.states[2][-1] @ readout.T + simulation.params["readout.bias"])


def test_backward_steps_order_and_progress():
    simulation = make_simulation("tanh", "gaussian", "none", num_layers=3, steps=4)
    x, y = simulation.sample_batch()
    cache = rnn.forward(simulation.params, x, 3, simulation.activation, False)
    _, output_grad = rnn.loss_and_output_grad(simulation.task, cache, y)
    order = []
    steps = rnn.backward_steps(simulation.params, cache, output_grad, False)
    for state in steps:
        order.append((state.layer, state.time_step))
        # Layers above the current one are done; the current one and those below are not.
        assert np.all(np.isfinite(state.grad_norms[state.layer + 1 :]))
        assert np.all(np.isnan(state.grad_norms[: state.layer + 1]))
        # The gradient of the current cell is already final.
        assert "readout.weight" in state.grads
    assert order == [(layer, t) for layer in (2, 1, 0) for t in (3, 2, 1, 0)]
    final = rnn.backward(simulation.params, cache, output_grad, False)
    assert np.all(np.isfinite(final.grad_norms))
    assert (final.layer, final.time_step) == (0, 0)


def test_each_layers_gradient_is_what_arrives_plus_the_recurrence_bit_for_bit():
    # The top layer gets nothing from outside before its last step, and its product W_hh^T
    # dL/da_{t+1} goes straight into dL/dh_t; a layer below adds what the layer above sends.
    simulation = make_simulation("tanh", "gaussian", "none", num_layers=2, steps=6)
    x, y = simulation.sample_batch()
    params = simulation.params
    cache = rnn.forward(params, x, 2, simulation.activation, False)
    _, output_grad = rnn.loss_and_output_grad(simulation.task, cache, y)
    finished = {}
    for state in rnn.backward_steps(params, cache, output_grad, False):
        if state.time_step == 0:
            finished[state.layer] = state.layer_grad.copy()
    assert not finished_exponents_used(state)
    for layer, grad in finished.items():
        pre_grad = grad * cache.derivatives[layer]
        recurrence = np.zeros_like(grad)
        recurrence[:-1] = pre_grad[1:] @ params[f"weight_hh_l{layer}"]
        if layer == 1:
            arriving = np.zeros_like(grad)
            arriving[-1] = output_grad @ params["readout.weight"]
        else:
            above = finished[1] * cache.derivatives[1]
            arriving = above @ params["weight_ih_l1"]
        np.testing.assert_array_equal(grad, arriving + recurrence)


def finished_exponents_used(state: rnn.BackwardState) -> bool:
    """Whether any cell of a finished backward pass was rescaled (then mantissas differ in scale)."""
    return bool(state.scale_exponents.any())


@pytest.mark.parametrize("one_exp", [True, False])
def test_tanh_forward_takes_the_chosen_kernel(one_exp, monkeypatch):
    # Small steps (and CPUs whose numpy vectorises float64 tanh) take numpy's tanh, the
    # derivative in a separate pass; larger steps elsewhere take tanh_ with the derivative fused.
    force_tanh_kernel(monkeypatch, one_exp)
    simulation = make_simulation("tanh", "gaussian", "none", num_layers=2, hidden=24, steps=9, batch=5)
    x, _ = simulation.sample_batch()
    cache = rnn.forward(simulation.params, x, 2, simulation.activation, False)
    for states, preactivation, derivative in zip(
        cache.states, cache.preactivations, cache.derivatives, strict=True
    ):
        scratch = np.empty_like(preactivation)
        for t in range(9):
            want = (
                tanh_(preactivation[t], np.empty_like(scratch[t]), scratch[t])
                if one_exp
                else np.tanh(preactivation[t])
            )
            assert np.array_equal(states[t + 1], want)
        alone = simulation.activation.derivative(
            preactivation, states[1:], out=np.empty_like(scratch), scratch=scratch
        )
        assert np.array_equal(derivative, alone)


def test_layer_names():
    assert rnn.layer_names(2) == ("weight_ih_l2", "weight_hh_l2", "bias_ih_l2", "bias_hh_l2")


@pytest.mark.parametrize("normalization", ["none", "batch"])
@pytest.mark.parametrize("scale", [1.0, 0.02])  # 0.02: most pre-activations near 0 (tanh's expm1 path)
def test_tanh_forward_with_its_derivative_fused_keeps_every_bit(normalization, scale, monkeypatch):
    # float64 tanh on the one-exp kernel writes its derivative step by step from the forward's
    # exp; the cache must be the one of the separate pass over all steps, bit for bit.
    force_tanh_kernel(monkeypatch, one_exp=True)
    simulation = make_simulation("tanh", "gaussian", normalization, num_layers=2, hidden=24, steps=9, batch=5)
    simulation.params = {name: value * scale for name, value in simulation.params.items()}
    assert simulation.activation.derivative_in_forward(np.float64, 5 * 24)
    x, _ = simulation.sample_batch()
    fused = rnn.forward(simulation.params, x, 2, simulation.activation, simulation.batch_norm)
    apart = dataclasses.replace(simulation.activation, fuses_derivative=False)
    separate = rnn.forward(simulation.params, x, 2, apart, simulation.batch_norm)
    for field in ("states", "preactivations", "derivatives"):
        for got, want in zip(getattr(fused, field), getattr(separate, field), strict=True):
            assert np.array_equal(got, want), field
    assert np.array_equal(fused.output, separate.output)
