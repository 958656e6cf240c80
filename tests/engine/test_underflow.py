"""No gradient is reported as 0 (or with few digits) while its true value is not.

The engine keeps each cell's ``dL/dh`` as a mantissa times a power of two (see ``rnn``'s module
docstring). It is checked here against a reference written independently below: a plain
forward pass, and a backward pass that renormalises every cell by its largest entry and
carries the scale as a natural logarithm (no powers of two, no bands, no shared code).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import step_record

from gradsim.engine import bptt, rnn
from gradsim.engine.config import SimConfig
from gradsim.engine.presets import load_preset
from gradsim.engine.records import StepRecord
from gradsim.engine.simulation import Simulation

DEEP_SIGMOID = SimConfig(activation="sigmoid", seq_len=1000, num_layers=4, weight_scale=1.0)


# -- an independent reference ---------------------------------------------------------------------


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def reference_sigmoid_forward(params: dict[str, np.ndarray], x: np.ndarray, num_layers: int):
    """States ``h[l][t]`` (B, H) and derivatives ``s(1 - s)`` of a sigmoid stack, in float64."""
    batch, steps, _ = x.shape
    sequence = [x[:, t].astype(np.float64) for t in range(steps)]
    states, derivatives = [], []
    for layer in range(num_layers):
        w_ih, w_hh = params[f"weight_ih_l{layer}"], params[f"weight_hh_l{layer}"]
        bias = params[f"bias_ih_l{layer}"] + params[f"bias_hh_l{layer}"]
        h = np.zeros((batch, w_hh.shape[0]))
        layer_states, layer_derivatives = [], []
        for t in range(steps):
            h = _sigmoid(sequence[t] @ w_ih.T + h @ w_hh.T + bias)
            layer_states.append(h)
            layer_derivatives.append(h * (1.0 - h))
        states.append(layer_states)
        derivatives.append(layer_derivatives)
        sequence = layer_states
    return states, derivatives


class Scaled:
    """A (B, H) array held as ``mantissa * exp(log_scale)`` with ``max |mantissa| = 1``."""

    def __init__(self, mantissa: np.ndarray, log_scale: float) -> None:
        largest = float(np.max(np.abs(mantissa)))
        if largest == 0.0:
            self.mantissa, self.log_scale = np.zeros_like(mantissa), -math.inf
        else:
            self.mantissa, self.log_scale = mantissa / largest, log_scale + math.log(largest)

    def __add__(self, other: Scaled) -> Scaled:
        if self.log_scale == -math.inf:
            return other
        if other.log_scale == -math.inf:
            return self
        top = max(self.log_scale, other.log_scale)
        mixed = self.mantissa * math.exp(self.log_scale - top) + other.mantissa * math.exp(
            other.log_scale - top
        )
        return Scaled(mixed, top)

    def times(self, factor: np.ndarray) -> Scaled:
        """Elementwise or matrix factors applied to the mantissa: ``factor(mantissa)``."""
        return Scaled(factor, self.log_scale)

    def log10_norm(self) -> float:
        return math.log10(float(np.linalg.norm(self.mantissa))) + self.log_scale / math.log(10.0)


def reference_backward(params, x, output_grad, num_layers):
    """(L, T) log10 ||dL/dh|| and each layer's dL/dW_hh of a sigmoid stack, in scaled arithmetic."""
    states, derivatives = reference_sigmoid_forward(params, x, num_layers)
    steps = x.shape[1]
    zero = Scaled(np.zeros_like(states[-1][0]), 0.0)
    outside = [zero] * (steps - 1) + [Scaled(output_grad @ params["readout.weight"], 0.0)]
    logs = np.empty((num_layers, steps))
    weight_grads = {}
    for layer in reversed(range(num_layers)):
        w_ih, w_hh = params[f"weight_ih_l{layer}"], params[f"weight_hh_l{layer}"]
        through_time = zero
        pre = [zero] * steps
        for t in reversed(range(steps)):
            grad = outside[t] + through_time
            logs[layer, t] = grad.log10_norm()
            pre[t] = grad.times(grad.mantissa * derivatives[layer][t])
            through_time = pre[t].times(pre[t].mantissa @ w_hh)
        # dL/dW_hh = sum_t dL/da_t^T h_{t-1}, with true values (tiny terms underflow, as they may).
        weight_grads[layer] = sum(
            math.exp(pre[t].log_scale) * (pre[t].mantissa.T @ states[layer][t - 1])
            for t in range(1, steps)
            if pre[t].log_scale > -700
        )
        outside = [p.times(p.mantissa @ w_ih) for p in pre]
    return logs, weight_grads


# -- the deep sigmoid stack of the issue ----------------------------------------------------------


@pytest.fixture(scope="module")
def deep_sigmoid():
    simulation = Simulation(DEEP_SIGMOID)
    x, y = simulation.sample_batch()
    return simulation, x, y, simulation.forward_backward(x, y)


def test_the_deep_sigmoid_run_reports_no_zero_and_matches_the_log_space_reference(deep_sigmoid):
    simulation, x, y, result = deep_sigmoid
    logs = result.log10_grad_norms
    assert logs.shape == (4, 1000) and logs.dtype == np.float64
    assert np.all(np.isfinite(logs))
    # Far below float64: the plain norms are 0 in most cells, which is why the logs exist.
    assert logs.min() < -600
    assert np.count_nonzero(result.grad_norms == 0) > 1000
    _, output_grad = rnn.loss_and_output_grad(simulation.task, result.cache, y)
    expected, weight_grads = reference_backward(simulation.params, x, output_grad, 4)
    assert np.max(np.abs(logs - expected)) < 1e-9
    # The parameter gradients are the true sums (their underflowing terms are negligible).
    for layer, expected_grad in weight_grads.items():
        engine_grad = result.grads[f"weight_hh_l{layer}"]
        assert np.linalg.norm(engine_grad - expected_grad) <= 1e-10 * np.linalg.norm(expected_grad), layer


def test_the_plain_norms_are_the_logs_rounded_to_float64(deep_sigmoid):
    _, _, _, result = deep_sigmoid
    with np.errstate(under="ignore"):
        plain = np.power(10.0, result.log10_grad_norms)
    normal = result.grad_norms >= np.finfo(np.float64).tiny
    assert normal.any() and (~normal).any()
    np.testing.assert_allclose(result.grad_norms[normal], plain[normal], rtol=1e-12)
    # Below the normal range they keep the subnormal's digits (absolute steps of 5e-324).
    error = np.abs(result.grad_norms[~normal] - plain[~normal])
    assert np.all(error <= 1e-12 * plain[~normal] + 5e-324)
    assert np.count_nonzero(result.grad_norms[~normal]) > 10


def test_the_step_through_equals_the_full_backward_bit_for_bit_while_rescaling(deep_sigmoid):
    simulation, x, y, result = deep_sigmoid
    session = simulation.backprop(x, y)
    steps = list(session)
    assert session.result is not None
    assert np.array_equal(session.result.log10_grad_norms, result.log10_grad_norms)
    assert np.array_equal(session.state.scale_exponents.min(axis=1) < -1000, [True] * 4)
    assert np.array_equal(session.result.grad_norms, result.grad_norms)
    for name, grad in result.grads.items():
        assert session.result.grads[name].tobytes() == grad.tobytes(), name
    logs = np.array([s.log10_grad_norm for s in steps])
    cells = (np.array([s.layer for s in steps]), np.array([s.time_step for s in steps]))
    np.testing.assert_allclose(logs, result.log10_grad_norms[cells], rtol=0, atol=1e-12)
    assert np.all(np.isfinite(logs)) and logs.min() < -600
    # The local factor is a ratio of neighbouring cells, finite where both norms underflow.
    factors = np.array([s.local_factor for s in steps if s.time_step < 999])
    assert np.all(np.isfinite(factors)) and np.all(factors > 0)
    layer_1 = [s for s in steps if s.layer == 0]
    for later, earlier in zip(layer_1[100:110], layer_1[101:111], strict=True):
        assert math.log10(earlier.local_factor) == pytest.approx(
            earlier.log10_grad_norm - later.log10_grad_norm, abs=1e-12
        )


# -- float32 ----------------------------------------------------------------------------------------


def test_the_float32_sigmoid_preset_agrees_with_float64_far_below_the_float32_range():
    # The preset over 100 steps (it shows 50): its first steps fall to about 1e-64.
    config32 = load_preset("vanishing-sigmoid").replace(dtype="float32", seq_len=100)
    single, double = Simulation(config32), Simulation(config32.replace(dtype="float64"))
    for name, value in single.params.items():
        double.params[name][...] = value  # the same numbers, held in float64
    x, y = single.sample_batch()
    logs32 = single.forward_backward(x, y).log10_grad_norms
    logs64 = double.forward_backward(x.astype(np.float64), y.astype(np.float64)).log10_grad_norms
    assert np.all(np.isfinite(logs32))
    # Smallest float32 (subnormal) is 1.4e-45: these cells were 0 before.
    assert logs32.min() < -60 and np.count_nonzero(logs32 < -45) > 20
    # Tolerance: a float32 operation rounds at up to 6e-8 relatively (2.6e-8 decades). The
    # furthest cell is reached through ~100 steps back, each rounding a few times (sum,
    # product with f', matrix product) on values whose forward pass rounded as often: a
    # worst-case linear sum of ~400 such errors is 1e-5 decades (0.002%). Measured: 1.2e-7.
    assert np.max(np.abs(logs32 - logs64)) < 1e-5


# -- bit-identity where nothing underflows ------------------------------------------------------


@pytest.fixture
def unscaled(monkeypatch):
    """Run the engine with the renormalisation switched off: the plain arithmetic of before."""

    def run(simulation: Simulation, x, y) -> rnn.BackwardState:
        with monkeypatch.context() as patch:
            patch.setattr(rnn, "_SCALE_BANDS", {})
            cache = rnn.forward(
                simulation.params,
                x,
                simulation.config.num_layers,
                simulation.activation,
                simulation.batch_norm,
            )
            _, output_grad = rnn.loss_and_output_grad(simulation.task, cache, y)
            return rnn.backward(simulation.params, cache, output_grad, simulation.batch_norm)

    return run


@pytest.mark.parametrize(
    "config",
    [
        # Rescaled from 1e-39 on, but never below 1e-300: powers of two change no rounding.
        SimConfig(activation="tanh", weight_scale=0.3, seq_len=300, num_layers=3, hidden_size=16),
        SimConfig(activation="sigmoid", seq_len=400, num_layers=2, hidden_size=32, normalization="batch"),
        SimConfig(activation="sigmoid", seq_len=150, num_layers=2, hidden_size=32),
        SimConfig(activation="relu", init="he", weight_scale=0.4, seq_len=300, num_layers=2),
        SimConfig(activation="tanh", weight_scale=0.3, seq_len=20, num_layers=2, dtype="float32"),
        SimConfig(
            activation="sigmoid",
            seq_len=100,
            num_layers=2,
            hidden_size=32,
            dtype="float32",
            normalization="batch",
        ),
    ],
    ids=["tanh", "sigmoid-batch-norm", "sigmoid", "relu", "tanh-float32", "sigmoid-batch-norm-float32"],
)
def test_rescaling_changes_no_bit_where_the_plain_computation_stays_normal(config, unscaled):
    simulation = Simulation(config)
    x, y = simulation.sample_batch()
    scaled = simulation.forward_backward(x, y)
    plain = unscaled(simulation, x, y)
    tiny = np.finfo(config.dtype).tiny
    assert np.all(plain.grad_norms > 1e3 * tiny), "the plain path must stay clear of subnormals"
    session = simulation.backprop(x, y)
    list(session)
    assert session.state.scale_exponents.min() < 0, "the test must exercise the rescaling"
    assert np.array_equal(plain.scale_exponents, np.zeros_like(plain.scale_exponents))
    for name, grad in plain.grads.items():
        assert scaled.grads[name].tobytes() == grad.tobytes(), name
    np.testing.assert_allclose(scaled.log10_grad_norms, np.log10(plain.grad_norms), rtol=0, atol=1e-12)


def test_a_run_that_needs_no_rescaling_keeps_every_exponent_at_zero():
    simulation = Simulation(SimConfig())
    state = simulation.backprop(*simulation.sample_batch())
    list(state)
    assert not state.state.scale_exponents.any()
    assert np.array_equal(state.result.log10_grad_norms, np.log10(state.result.grad_norms))


# -- zero and non-finite ------------------------------------------------------------------------


def test_an_exact_zero_is_minus_infinity_and_not_a_nonfinite_event():
    config = SimConfig(activation="relu", seq_len=8, num_layers=2, hidden_size=8)
    simulation = Simulation(config)
    for layer in range(2):
        simulation.params[f"bias_ih_l{layer}"][...] = -100.0  # every unit off: f'(z) = 0
    record = simulation.train_step()
    logs = record.log10_grad_norms
    # The top layer's last step receives the readout's gradient; nothing passes any unit.
    assert np.isfinite(logs[1, -1])
    assert np.all(logs[1, :-1] == -np.inf) and np.all(logs[0] == -np.inf)
    assert record.nonfinite is None
    assert record.gradient_ratio == 0.0 or math.isnan(record.gradient_ratio)


def test_growth_is_never_rescaled_so_an_explosion_still_overflows():
    # Zero inputs keep a linear network's states at 0 while W_hh = 40 I multiplies the gradient
    # by 40 per step back: it overflows 190 steps before the end, the states never do.
    config = SimConfig(activation="linear", init="identity", weight_scale=40.0, seq_len=300, num_layers=1)
    simulation = Simulation(config)
    x, y = simulation.sample_batch()
    x[...] = 0
    result = simulation.forward_backward(x, y)
    assert np.all(result.cache.states[0] == 0) and np.isfinite(result.loss)
    session = simulation.backprop(x, y)
    list(session)
    assert not session.state.scale_exponents.any()
    norms, logs = result.grad_norms, result.log10_grad_norms
    assert not np.isfinite(norms[0, 0]) and np.isfinite(norms[0, -1])
    assert np.array_equal(np.isnan(logs), np.isnan(norms))
    assert np.array_equal(logs == np.inf, norms == np.inf)
    finite = np.isfinite(norms)
    np.testing.assert_allclose(logs[finite], np.log10(norms[finite]), rtol=0, atol=1e-12)


# -- records --------------------------------------------------------------------------------------


def test_records_carry_the_logs():
    record = Simulation(DEEP_SIGMOID.replace(seq_len=700, num_layers=1)).train_step()
    logs = record.log10_grad_norms
    assert np.all(np.isfinite(logs)) and logs[0, 0] < -320
    assert record.grad_norms[0, 0] == 0.0  # the compatible plain value underflows
    # The ratio itself is below float64 here (about 1e-325): 0 is its true rounding.
    assert logs[0, 0] - logs[0, -1] < -324 and record.gradient_ratio == 0.0


def plain_record(norms: np.ndarray, logs: np.ndarray | None = None) -> StepRecord:
    """A one-layer record of ``norms`` ``(1, T)``, zero derivatives, with ``logs`` or its own."""
    return step_record(norms, loss=1.0, mean_derivative=np.zeros(norms.shape), log10_grad_norms=logs)


def test_a_record_built_from_plain_norms_computes_its_logs():
    record = plain_record(np.array([[1e-3, 0.0, 2.0]]))
    np.testing.assert_array_equal(record.log10_grad_norms, [[-3.0, -np.inf, math.log10(2.0)]])
    assert record.gradient_ratio == pytest.approx(5e-4)


def test_the_gradient_ratio_comes_from_the_logs():
    underflowed = plain_record(np.zeros((1, 3)), np.array([[-400.0, -395.0, -390.0]]))
    assert underflowed.gradient_ratio == pytest.approx(1e-10, rel=1e-12)  # 0 / 0 before
    assert plain_record(np.array([[0.0, 1.0]])).gradient_ratio == 0.0
    assert math.isnan(plain_record(np.array([[1.0, 0.0]])).gradient_ratio)
    assert math.isnan(plain_record(np.array([[np.nan, 1.0]])).gradient_ratio)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_true_values_by_a_multiply_have_the_bits_of_ldexp(dtype):
    # finish_layer turns mantissas into true values with a product by 2**k where the dtype holds
    # 2**k (down to its smallest subnormal), else ldexp: the same bits either way, subnormal
    # results included (a product with a power of two is exact or rounded once, as ldexp rounds).
    info = np.finfo(dtype)
    smallest = info.minexp - info.nmant  # -149 / -1074
    rng = np.random.default_rng(7)
    for deepest in (smallest, smallest - 40):  # the multiply, then the ldexp fallback
        values = rng.standard_normal((8, 3, 5)) * np.exp2(rng.integers(-60, 60, (8, 1, 1)))
        values = values.astype(dtype)
        exponents = np.array([0, -1, -3, -40, smallest + 30, smallest + 2, smallest, deepest])
        scaled = values.copy()
        bptt.times_powers_of_two(scaled, exponents)
        expected = np.ldexp(values, exponents[:, None, None])
        assert scaled.tobytes() == expected.tobytes()
        assert (np.abs(expected[6]) < info.tiny).any()  # some results are subnormal


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_steps_below_the_smallest_power_have_the_bits_of_ldexp(dtype):
    # Steps whose power of two the dtype cannot hold: those that round to zero in every entry
    # are multiplied by 0.0 (signs of zero kept), the rest (non-finite entries, or entries large
    # enough to stay subnormal) go through ldexp; the bits are ldexp's either way.
    info = np.finfo(dtype)
    smallest = info.minexp - info.nmant
    rng = np.random.default_rng(11)
    seen_zero_path = seen_ldexp_path = False
    for trial in range(120):
        steps = int(rng.integers(1, 12))
        values = rng.standard_normal((steps, 3, 4)) * np.exp2(rng.integers(-40, 40, (steps, 1, 1)))
        values = values.astype(dtype)
        if trial % 4 == 0:
            values[int(rng.integers(steps)), 1, 2] = rng.choice([np.inf, -np.inf, np.nan])
        if trial % 5 == 0:
            values[int(rng.integers(steps))] = -0.0
        exponents = rng.integers(smallest - 80, smallest + 5, steps)
        scaled = values.copy()
        bptt.times_powers_of_two(scaled, exponents)
        with np.errstate(all="ignore"):
            expected = np.ldexp(values, exponents[:, None, None])
        assert scaled.tobytes() == expected.tobytes()
        top = np.frexp(np.abs(values).reshape(steps, -1).max(axis=1))[1]
        deep = exponents < smallest
        seen_zero_path |= bool((deep & (top + exponents <= smallest - 1)).any())
        seen_ldexp_path |= bool((deep & (top + exponents > smallest - 1)).any())
    assert seen_zero_path and seen_ldexp_path


def test_a_join_reads_the_rows_squares_sent_down_and_aligns_as_from_the_row_itself():
    # The first join that needs them computes the sums of squares of the rows sent down (one pass
    # over all steps); a join with them takes the same side and the same bits as align computing
    # the row's norm itself.
    rng = np.random.default_rng(12)
    steps, batch, above, below = 6, 3, 4, 5
    params = {"readout.weight": rng.standard_normal((2, above))}
    outside = bptt.OutsideGradient(
        params,
        rng.standard_normal((batch, 2)),
        rng.standard_normal((batch, above)),
        steps,
        {},
        bptt.Workspace(),
    )
    assert outside.squares is None  # the readout's rows: one step holds anything
    flat = (
        rng.standard_normal((steps * batch, above))
        * np.repeat(10.0 ** rng.integers(-150, 150, steps), batch)[:, None]
    )
    exponents = np.array([-900, -40, -40, 0, -3000, -7])
    outside.send_down(flat, rng.standard_normal((above, below)), exponents)
    sent = outside.values.reshape(steps, -1).copy()
    carry = rng.standard_normal((batch, below))
    assert outside.join(steps - 1, [carry], -7) == -7  # the same exponent: nothing to align
    assert outside.squares is None
    outside.join(steps - 1, [carry], -50)  # another: the rows' squares, as sent
    np.testing.assert_allclose(outside.squares, [np.dot(row, row) for row in sent], rtol=1e-14)
    for t in range(steps):
        for carry_exponent, scale in [(-40, 1.0), (-60, 1e30), (-3000, 1e-200), (5, 1e-3)]:
            carry = rng.standard_normal((batch, below)) * scale
            first = (outside.values[t].copy(), carry.copy())
            second = (outside.values[t].copy(), carry.copy())
            joined = bptt.align(first[0], int(exponents[t]), [first[1]], carry_exponent, outside.squares[t])
            alone = bptt.align(second[0], int(exponents[t]), [second[1]], carry_exponent)
            assert joined == alone
            assert all(a.tobytes() == b.tobytes() for a, b in zip(first, second, strict=True))
