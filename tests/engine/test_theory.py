"""Mean-field theory against closed forms, against the engine's initialisers and tasks, and
against measured gradients of real runs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.polynomial.hermite_e import hermegauss

from gradsim.engine import theory
from gradsim.engine.config import SimConfig
from gradsim.engine.initializers import init_matrix
from gradsim.engine.simulation import Simulation
from gradsim.engine.tasks import make_task
from gradsim.engine.theory_gaussian import _square_of
from gradsim.engine.theory_meanfield import _weights


def _normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _elu_moments(q: float) -> tuple[float, float]:
    """Closed forms for y ~ N(0, q): E[elu(y)^2] and E[elu'(y)^2], from E[e^{a z}; z < 0] =
    e^{a^2 / 2} Phi(-a)."""
    a = math.sqrt(q)
    tail2 = math.exp(2 * q) * _normal_cdf(-2 * a)  # E[e^{2 a z}; z < 0]
    tail1 = math.exp(q / 2) * _normal_cdf(-a)  # E[e^{a z}; z < 0]
    return q / 2 + tail2 - 2 * tail1 + 0.5, 0.5 + tail2


# -- Gaussian expectations ----------------------------------------------------------------------


@pytest.mark.parametrize("q", [1e-4, 0.3, 1.0, 7.0, 30.0, 200.0])
def test_quadrature_matches_elu_closed_forms(q: float) -> None:
    # ELU has a kink at 0 and an exponential tail: a real test of the panels.
    second, derivative = _elu_moments(q)
    square, derivative_square = _square_of("elu", False), _square_of("elu", True)
    assert theory.gaussian_expectation(square, q) == pytest.approx(second, rel=1e-10)
    assert theory.gaussian_expectation(derivative_square, q) == pytest.approx(derivative, rel=1e-10)


@pytest.mark.parametrize("q", [0.01, 1.0, 50.0, 1e6])
def test_quadrature_of_relu_step_is_exact(q: float) -> None:
    assert theory.gaussian_expectation(_square_of("relu", True), q) == pytest.approx(0.5, rel=1e-12)
    assert theory.gaussian_expectation(_square_of("relu", False), q) == pytest.approx(q / 2, rel=1e-12)


def test_quadrature_stays_accurate_where_gauss_hermite_fails() -> None:
    # Reference values of E[sech(y)^4], y ~ N(0, q), computed independently with
    # scipy.integrate.quad at relative tolerance 1e-13.
    sech4 = _square_of("tanh", True)
    references = {1.0: 0.46440290244826826, 100.0: 0.053106787748115857}
    for q, reference in references.items():
        assert theory.gaussian_expectation(sech4, q) == pytest.approx(reference, rel=1e-9)
    # Why the module does not use plain Gauss-Hermite: at q = 100 the derivative is a spike
    # narrower than the node spacing, and 101 nodes miss it badly.
    nodes, weights = hermegauss(101)
    hermite = float(np.dot(weights / weights.sum(), sech4(10.0 * nodes)))
    assert abs(hermite / references[100.0] - 1) > 0.5


def test_tabulated_moments_match_direct_integration() -> None:
    rng = np.random.default_rng(3)
    for name in ("tanh", "sigmoid", "elu"):
        for q in 10.0 ** rng.uniform(-9, 11, 6):
            second, derivative = theory.moments(name, q)
            assert float(second) == pytest.approx(
                theory.gaussian_expectation(_square_of(name, False), q), rel=1e-4
            )
            assert float(derivative) == pytest.approx(
                theory.gaussian_expectation(_square_of(name, True), q), rel=1e-4
            )


def test_piecewise_linear_moments() -> None:
    q = np.array([0.5, 2.0])
    second, derivative = theory.moments("leaky_relu", q, leaky_slope=0.2)
    np.testing.assert_allclose(second, q * (1 + 0.04) / 2)
    np.testing.assert_allclose(derivative, [0.52, 0.52])
    second, derivative = theory.moments("linear", q)
    np.testing.assert_allclose(second, q)
    np.testing.assert_allclose(derivative, [1.0, 1.0])


# -- weights and inputs -------------------------------------------------------------------------


@pytest.mark.parametrize("init", ["gaussian", "xavier", "he", "orthogonal"])
@pytest.mark.parametrize("shape", [(256, 4), (256, 256), (9, 300)])
def test_entry_variance_matches_the_engine_initialiser(init: str, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    float64 = np.dtype("float64")
    draws = np.concatenate([init_matrix(init, shape, 1.7, rng, float64).ravel() for _ in range(20)])
    predicted = theory.entry_variance(init, 1.7, fan_in=shape[1], fan_out=shape[0])
    assert predicted is not None
    assert np.mean(draws**2) == pytest.approx(predicted, rel=0.05)


def test_recurrent_weight_variance_per_scheme() -> None:
    assert theory.recurrent_weight_variance("gaussian", 1.5, 64) == pytest.approx(2.25)
    assert theory.recurrent_weight_variance("he", 1.5, 64) == pytest.approx(4.5)
    assert theory.recurrent_weight_variance("xavier", 1.5, 64) == pytest.approx(2.25)
    assert theory.recurrent_weight_variance("orthogonal", 1.5, 64) == pytest.approx(2.25)
    assert theory.recurrent_weight_variance("identity", 1.5, 64) is None


@pytest.mark.parametrize("task", ["random", "adding", "memory"])
def test_input_power_matches_the_task_sampler(task: str) -> None:
    steps = 12
    x, _ = make_task(task).sample(np.random.default_rng(1), 20000, steps, np.dtype("float64"))
    power = (x**2).sum(axis=2)  # (B, T)
    predicted = theory.input_power(task, steps)
    np.testing.assert_allclose(power.mean(axis=0), predicted.mean, rtol=0.05, atol=1e-12)
    # The whole distribution, not only its mean: the second moment of ||x_t||^2.
    second = (predicted.values**2 * predicted.weights).sum(axis=1)
    np.testing.assert_allclose((power**2).mean(axis=0), second, rtol=0.06, atol=1e-12)
    np.testing.assert_allclose(predicted.weights.sum(axis=1), 1.0)


def test_input_power_rejects_unknown_task_and_length() -> None:
    with pytest.raises(ValueError, match="no input statistics"):
        theory.input_power("copy", 5)
    with pytest.raises(ValueError, match="at least 1"):
        theory.input_power("random", 0)


# -- the fixed point ----------------------------------------------------------------------------


def test_fixed_point_solves_its_equation_and_matches_iteration() -> None:
    values, weights = theory.typical_input_power("random", 40)
    sigma2 = 2.0
    q = theory.solve_recurrent_variance("tanh", sigma2, 0.5 * values, weights, start=0.1)
    second = float(np.dot(weights, theory.moments("tanh", q + 0.5 * values)[0]))
    assert sigma2 * second == pytest.approx(q, rel=1e-10)
    iterate = 0.1
    for _ in range(500):
        iterate = sigma2 * float(np.dot(weights, theory.moments("tanh", iterate + 0.5 * values)[0]))
    assert iterate == pytest.approx(q, rel=1e-8)


def test_fixed_point_without_input() -> None:
    none, one = np.zeros(1), np.ones(1)
    # tanh: below sigma_w^2 = 1 the only fixed point is 0; above it a non-zero one attracts.
    assert theory.solve_recurrent_variance("tanh", 0.8, none, one, start=1.0) == 0.0
    q = theory.solve_recurrent_variance("tanh", 1.5, none, one, start=1e-3)
    assert q > 0.1
    assert 1.5 * float(theory.moments("tanh", q)[0]) == pytest.approx(q, rel=1e-10)
    # linear: explicit, and no fixed point once sigma_w^2 >= 1.
    linear = theory.solve_recurrent_variance("linear", 0.5, np.array([2.0]), one, start=0.0)
    assert linear == pytest.approx(2.0)
    assert theory.solve_recurrent_variance("relu", 2.5, np.array([2.0]), one, start=0.0) == math.inf


def test_mean_field_for_linear_and_relu_is_explicit() -> None:
    field_ = theory.mean_field(SimConfig(activation="linear", weight_scale=0.6, num_layers=1, task="random"))
    assert field_ is not None
    assert field_.top_step_factor == pytest.approx(0.6)
    # q* = s^2 E||x||^2 / I / (1 - s^2) with four N(0, 1) channels.
    assert field_.fixed_point[0] == pytest.approx(0.36 / (1 - 0.36), rel=1e-9)
    field_ = theory.mean_field(SimConfig(activation="relu", init="he", weight_scale=1.2, num_layers=3))
    assert field_ is not None
    np.testing.assert_allclose(field_.step_factor, 1.2)
    np.testing.assert_allclose(field_.vertical_chi[1:], 1.44)
    assert np.isnan(field_.vertical_chi[0])
    assert np.all(np.isinf(field_.fixed_point))  # relu with 2 * 1.44 / 2 > 1: no fixed point
    assert any("without bound" in note for note in field_.notes)


def test_no_prediction_for_identity_or_batch_norm() -> None:
    for config in (SimConfig(init="identity"), SimConfig(normalization="batch")):
        assert theory.mean_field(config) is None
        assert theory.predicted_step_factor(config) is None
        assert theory.predicted_grad_norms(config) is None
        assert theory.predicted_decades(config) is None
        assert theory.critical_weight_scale(config) is None
        assert theory.not_applicable(config)
    assert theory.not_applicable(SimConfig()) is None


# -- predicted against measured -----------------------------------------------------------------


def _measured(config: SimConfig, seeds: int = 3) -> tuple[float, float]:
    """Geometric mean over seeds of the fitted per-step factor, and mean end-to-end decades."""
    factors, decades = [], []
    for seed in range(seeds):
        simulation = Simulation(config.replace(seed=seed))
        x, y = simulation.sample_batch()
        norms = simulation.forward_backward(x, y).grad_norms
        factors.append(theory.measured_step_factor(norms))
        decades.append(float(np.log10(norms[0, 0] / norms[-1, -1])))
    return float(np.exp(np.mean(np.log(factors)))), float(np.mean(decades))


WIDE = SimConfig(num_layers=1, hidden_size=256, seq_len=40, batch_size=16, task="random", dtype="float64")
# Weight scales on both sides of each activation's critical scale (gaussian init, random task:
# 1 for linear, sqrt(2) for ReLU, 2.40 for tanh, which the input drive pushes above 1).
SCALES = {
    "linear": [0.6, 0.85, 1.0, 1.15, 1.4],
    "relu": [0.8, 1.1, 1.414, 1.7, 2.2],
    "tanh": [0.8, 1.5, 2.4, 3.2, 4.5],
}


@pytest.mark.parametrize("activation", list(SCALES))
def test_predicted_factor_matches_measured_in_wide_networks(activation: str) -> None:
    critical = theory.critical_weight_scale(WIDE.replace(activation=activation))
    assert critical is not None
    scales = SCALES[activation]
    assert min(scales) < 0.8 * critical and max(scales) > 1.2 * critical
    for scale in scales:
        config = WIDE.replace(activation=activation, weight_scale=scale)
        predicted = theory.predicted_step_factor(config)
        measured, _ = _measured(config)
        assert predicted is not None
        assert measured == pytest.approx(predicted, rel=0.10), (activation, scale, measured, predicted)


@pytest.mark.parametrize(
    "changes",
    [
        {"activation": "tanh", "init": "orthogonal", "weight_scale": 1.0},
        {"activation": "relu", "init": "xavier", "weight_scale": 1.0},
        {"activation": "sigmoid", "task": "adding", "weight_scale": 2.0},
        {"activation": "elu", "task": "memory", "weight_scale": 0.5},
        {"activation": "tanh", "num_layers": 3, "weight_scale": 1.4},
    ],
)
def test_predicted_map_matches_measured_beyond_the_required_cases(changes: dict) -> None:
    config = WIDE.replace(**changes)
    logs = theory.predicted_log10_grad_norms(config)
    assert logs is not None
    measured_factor, measured_decades = _measured(config)
    assert theory.measured_step_factor(10.0**logs) == pytest.approx(measured_factor, rel=0.05)
    assert logs[0, 0] == pytest.approx(measured_decades, abs=0.6)


def test_memory_task_transient_is_in_the_map_not_in_the_stationary_factor() -> None:
    # tanh at sigma_w^2 = 1 with no input: the variance decays only like 1/t, so over the
    # measured steps the factor is still below the stationary value 1.
    config = WIDE.replace(activation="tanh", task="memory", weight_scale=1.0)
    assert theory.predicted_step_factor(config) == pytest.approx(1.0, abs=1e-6)
    map_factor = theory.measured_step_factor(theory.predicted_grad_norms(config))
    measured, _ = _measured(config)
    assert map_factor < 0.99
    assert measured == pytest.approx(map_factor, rel=0.02)


def test_log_space_map_does_not_underflow() -> None:
    config = SimConfig(activation="sigmoid", num_layers=2, seq_len=2000, weight_scale=0.5)
    decades = theory.predicted_decades(config)
    factor = theory.predicted_step_factor(config)
    assert decades is not None and factor is not None
    assert math.isfinite(decades) and decades < -1000
    # Far from the ends the map falls at the stationary rate.
    logs = theory.predicted_log10_grad_norms(config)
    assert logs is not None
    slope = (logs[-1, 1000] - logs[-1, 1500]) / 500
    assert slope == pytest.approx(math.log10(factor), rel=1e-3)


# -- the critical weight scale ------------------------------------------------------------------


def test_critical_scale_closed_forms() -> None:
    base = SimConfig(num_layers=1, task="random")
    assert theory.critical_weight_scale(base.replace(activation="linear")) == pytest.approx(1.0, rel=1e-9)
    assert theory.critical_weight_scale(base.replace(activation="linear", init="he")) == pytest.approx(
        math.sqrt(0.5), rel=1e-9
    )
    relu = base.replace(activation="relu")
    assert theory.critical_weight_scale(relu) == pytest.approx(math.sqrt(2), rel=1e-9)
    assert theory.critical_weight_scale(relu.replace(init="he")) == pytest.approx(1.0, rel=1e-9)
    slope = 0.3
    leaky = base.replace(activation="leaky_relu", leaky_slope=slope)
    assert theory.critical_weight_scale(leaky) == pytest.approx(math.sqrt(2 / (1 + slope**2)), rel=1e-9)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "elu"])
def test_critical_scale_is_where_the_factor_is_one(activation: str) -> None:
    config = SimConfig(activation=activation, num_layers=2, seq_len=60, task="adding")
    scale = theory.critical_weight_scale(config)
    assert scale is not None
    assert theory.predicted_step_factor(config.replace(weight_scale=scale)) == pytest.approx(1.0, abs=1e-8)
    edge = theory.critical_weight_scale(config, criterion="end_to_end")
    assert edge is not None
    assert theory.predicted_decades(config.replace(weight_scale=edge)) == pytest.approx(0.0, abs=1e-8)
    # With two layers the gradient sums over many paths, so the end-to-end edge lies lower.
    assert edge < scale


def test_critical_scale_rejects_unknown_criterion() -> None:
    with pytest.raises(ValueError, match="criterion"):
        theory.critical_weight_scale(SimConfig(), criterion="steps")


# -- the spectral bound -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("activation", "bound"), [("sigmoid", 0.25), ("tanh", 1.0), ("relu", 1.0), ("elu", 1.0)]
)
def test_spectral_bound_holds_at_every_step_of_a_real_run(activation: str, bound: float) -> None:
    config = SimConfig(activation=activation, num_layers=1, hidden_size=32, seq_len=30, weight_scale=1.3)
    simulation = Simulation(config)
    spectral = simulation.spectral_norms()
    result = theory.vanishing_bound(spectral, activation)
    assert result.derivative_bound == bound
    assert result.products[0] == pytest.approx(spectral[0] * bound)
    assert result.guaranteed_vanishing[0] == (spectral[0] * bound < 1)
    x, y = simulation.sample_batch()
    norms = simulation.forward_backward(x, y).grad_norms[0]
    step_ratios = norms[:-1] / norms[1:]
    assert np.all(step_ratios <= result.products[0] * (1 + 1e-12))


def test_sigmoid_at_unit_orthogonal_scale_is_guaranteed_to_vanish() -> None:
    simulation = Simulation(SimConfig(activation="sigmoid", init="orthogonal", num_layers=2))
    result = theory.vanishing_bound(simulation.spectral_norms(), "sigmoid")
    np.testing.assert_allclose(result.products, 0.25)
    assert result.guaranteed_vanishing.all()


# -- measurement --------------------------------------------------------------------------------


def test_measured_factor_of_a_geometric_sequence() -> None:
    steps = np.arange(30)
    norms = np.vstack([np.ones(30), 0.8 ** (29 - steps)])  # top layer: factor 0.8 backwards
    assert theory.measured_step_factor(norms) == pytest.approx(0.8)
    assert theory.measured_step_factor(norms, layer=0) == pytest.approx(1.0)
    assert theory.measurement_window(30) == (6, 30)
    assert theory.measurement_window(3) == (0, 3)


def test_measured_factor_ignores_non_finite_and_reports_zero() -> None:
    norms = 1.5 ** (9 - np.arange(10.0))
    norms[0] = np.inf
    assert theory.measured_step_factor(norms[None, :], window=(0, 10)) == pytest.approx(1.5)
    dead = np.zeros((1, 10))
    dead[0, -1] = 1.0
    assert theory.measured_step_factor(dead, window=(0, 10)) == 0.0
    assert math.isnan(theory.measured_step_factor(np.full((1, 10), np.nan)))


def test_compare_puts_prediction_next_to_measurement() -> None:
    config = SimConfig(activation="tanh", num_layers=1, hidden_size=128, seq_len=40, task="random")
    record = Simulation(config).train_step()
    assert record is not None
    comparison = theory.compare(config, record.grad_norms, record.spectral_norms)
    assert comparison.predicted == pytest.approx(theory.predicted_step_factor(config))
    assert comparison.measured == pytest.approx(theory.measured_step_factor(record.grad_norms))
    assert comparison.measured == pytest.approx(comparison.predicted, rel=0.1)
    assert comparison.critical_weight_scale == pytest.approx(theory.critical_weight_scale(config))
    np.testing.assert_allclose(comparison.bound.spectral_norms, record.spectral_norms)
    identity = theory.compare(config.replace(init="identity"), record.grad_norms, record.spectral_norms)
    assert identity.predicted is None and identity.fixed_point is None
    assert identity.notes == (theory.IDENTITY_NOTE,)


# -- per layer: spans, the lattice, predicted against measured ------------------------------------


def test_span_decades_of_a_map() -> None:
    logs = np.array([[-3.0, -2.0, -1.5], [-2.0, -1.0, 0.0]])
    spans = theory.span_decades(logs)
    np.testing.assert_allclose(spans.time, [-1.5, -2.0])
    assert spans.depth == pytest.approx(-1.5)
    np.testing.assert_allclose(spans.time_factors, [10**-0.75, 10**-1.0])
    assert spans.depth_factor == pytest.approx(10**-1.5)
    assert spans.extreme() == pytest.approx(-2.0)
    assert spans.balance() == pytest.approx(-1.5 - 2.0)
    # The extreme keeps its sign; the balance has it too.
    mixed = theory.span_decades(np.array([[2.5, 0.0, 0.2], [-1.0, -0.5, 0.0]]))
    assert mixed.extreme() == pytest.approx(2.3) and mixed.balance() > 0
    single = theory.span_decades(np.array([[1.0, 0.5, 0.0]]))
    assert math.isnan(single.depth) and math.isnan(single.depth_factor)
    assert single.extreme() == pytest.approx(1.0)
    zero = theory.span_decades(np.array([[-np.inf, 0.0]]))
    assert math.isnan(zero.time[0]) and math.isnan(zero.extreme())


@pytest.mark.parametrize("layers", [1, 2, 4])
def test_lattice_counts_the_paths_of_a_linear_stack(layers: int) -> None:
    # Linear units: every route multiplies the squared norm by s^2, so S[l, t] is s^(2 n) times
    # the number of monotone paths of n = (T-1-t) + (L-1-l) moves from the entry to (l, t).
    scale, steps = 0.9, 12
    config = SimConfig(
        activation="linear", weight_scale=scale, num_layers=layers, seq_len=steps, hidden_size=64
    )
    logs = theory.predicted_log10_grad_norms(config)
    assert logs is not None
    for layer in range(layers):
        for t in range(steps):
            back, down = steps - 1 - t, layers - 1 - layer
            expected = 0.5 * math.log10(math.comb(back + down, down)) + (back + down) * math.log10(scale)
            assert logs[layer, t] == pytest.approx(expected, abs=1e-12)


def _lattice_by_loops(config: SimConfig) -> np.ndarray:
    """The (layer, time) map step by step and cell by cell, without shortcuts (a reference)."""
    weights = _weights(config)
    assert weights is not None
    layers, steps, hidden = config.num_layers, config.seq_len, config.hidden_size
    power = theory.input_power(config.task, steps)
    kept = np.empty((layers, steps))
    below = np.zeros_like(power.values)
    for layer in range(layers):
        second = np.empty_like(power.values)
        recurrent = 0.0
        for t in range(steps):
            entry = weights.input_entry[layer]
            values = entry * power.values[t] if layer == 0 else entry * hidden * below[t]
            nodes, derivative = theory.moments(config.activation, recurrent + values)
            second[t] = nodes
            kept[layer, t] = float(np.dot(power.weights[t], derivative))
            recurrent = weights.sigma2_hh * float(np.dot(power.weights[t], nodes))
        below = second
    squared = np.zeros((layers, steps))
    for layer in reversed(range(layers)):
        for t in reversed(range(steps)):
            total = 1.0 if (layer == layers - 1 and t == steps - 1) else 0.0
            if t + 1 < steps:
                total += weights.sigma2_hh * kept[layer, t + 1] * squared[layer, t + 1]
            if layer + 1 < layers:
                total += weights.input_entry[layer + 1] * hidden * kept[layer + 1, t] * squared[layer + 1, t]
            squared[layer, t] = total
    return 0.5 * np.log10(squared)


@pytest.mark.parametrize(
    "changes",
    [
        {"activation": "tanh", "task": "random", "num_layers": 3, "weight_scale": 1.3},
        {"activation": "sigmoid", "task": "adding", "num_layers": 2, "weight_scale": 2.0},
        {"activation": "elu", "task": "memory", "num_layers": 3, "weight_scale": 0.8},
    ],
)
def test_lattice_in_log_space_matches_the_plain_recurrence(changes: dict) -> None:
    # The fast map copies converged steps and sums in log space; the reference does neither.
    config = SimConfig(hidden_size=64, seq_len=60, **changes)
    logs = theory.predicted_log10_grad_norms(config)
    assert logs is not None
    np.testing.assert_allclose(logs, _lattice_by_loops(config), atol=1e-9)


STACK = SimConfig(hidden_size=256, seq_len=30, batch_size=16, task="random", dtype="float64")
# Per activation: (init, weight scale). In stacks the lower layers' spans grow with the paths
# from above, so each case has layers on both sides of factor 1.
STACK_CASES = {
    "tanh": [("gaussian", 1.4), ("orthogonal", 1.5)],
    "linear": [("gaussian", 0.95)],
    "relu": [("gaussian", 1.3)],
}


@pytest.mark.parametrize("activation", list(STACK_CASES))
@pytest.mark.parametrize("layers", [1, 2, 3, 4])
def test_per_layer_factors_match_measured_within_three_percent(activation: str, layers: int) -> None:
    for init, scale in STACK_CASES[activation]:
        config = STACK.replace(activation=activation, init=init, weight_scale=scale, num_layers=layers)
        prediction = theory.predict_layers(config)
        assert isinstance(prediction, theory.LayerPrediction)
        measured_time, measured_depth = theory.measured_spans(config, range(3))
        case = (activation, init, scale, layers)
        np.testing.assert_allclose(measured_time, prediction.step_factors, rtol=0.03, err_msg=str(case))
        if layers > 1:
            assert measured_depth == pytest.approx(prediction.depth_factor, rel=0.03), case
        else:
            assert math.isnan(prediction.depth_factor)
        # The top layer carries only its own factor, apart from the first steps' start-up.
        assert prediction.step_factors[-1] == pytest.approx(prediction.own_step_factor[-1], rel=0.03)


def test_lower_layers_follow_the_slowest_route_not_only_their_own_factor() -> None:
    # 4 tanh layers at gaussian scale 2: every layer's own factor is about 0.94, but layer 1's
    # span falls more slowly (it even grows), because at every step it also receives what came
    # down from the layers above; the per-layer theory has both, and the measurement agrees.
    config = STACK.replace(activation="tanh", weight_scale=2.0, num_layers=4)
    prediction = theory.predict_layers(config)
    assert isinstance(prediction, theory.LayerPrediction)
    assert np.all(np.abs(prediction.own_step_factor - 0.94) < 0.03)
    assert prediction.step_factors[0] > 1.05 > prediction.own_step_factor[0]
    measured, _ = theory.measured_spans(config, range(2))
    np.testing.assert_allclose(measured, prediction.step_factors, rtol=0.03)


def test_each_layer_has_its_own_fixed_point() -> None:
    # tanh, orthogonal: layer 1 sees the task's four inputs through a 256 x 4 matrix (weak
    # drive), layer 2 the first layer's outputs through a 256 x 256 one (strong): different q*
    # and a smaller own factor above.
    config = STACK.replace(activation="tanh", init="orthogonal", weight_scale=1.0, num_layers=2)
    prediction = theory.predict_layers(config)
    assert isinstance(prediction, theory.LayerPrediction)
    assert prediction.input_variance[0] == pytest.approx(4 / 256)
    assert prediction.input_variance[1] > 5 * prediction.input_variance[0]
    assert prediction.fixed_point[1] > prediction.fixed_point[0]
    assert prediction.own_step_factor[1] < prediction.own_step_factor[0] < 1
    # The depth factor at the fixed point is the second layer's E[f'^2] times s^2, square-rooted.
    assert prediction.own_depth_factor[1] == pytest.approx(prediction.own_step_factor[1], rel=1e-12)


def test_not_applicable_says_why() -> None:
    cases = ((SimConfig(init="identity"), "identity"), (SimConfig(normalization="batch"), "batch norm"))
    for config, word in cases:
        prediction = theory.predict_layers(config)
        assert isinstance(prediction, theory.NotApplicable)
        assert str(prediction).startswith("not applicable: ") and word in str(prediction)
        assert theory.predicted_spans(config) is None
    config = SimConfig(num_layers=2, seq_len=5)
    prediction = theory.predict_layers(config)
    finite = np.log10(np.array([[1e-3, 1e-2, 0.1, 0.5, 1.0], [1e-2, 0.1, 0.3, 0.6, 1.0]]))
    comparison = theory.compare_layers(prediction, finite)
    assert comparison.reason is None and comparison.predicted is prediction
    np.testing.assert_allclose(comparison.measured.time, [-3.0, -2.0])
    broken = finite.copy()
    broken[0, 0] = np.nan
    assert theory.compare_layers(prediction, broken).reason == f"not applicable: {theory.NON_FINITE_NOTE}"
    broken[0, 0] = np.inf
    assert "non-finite" in str(theory.compare_layers(prediction, broken).reason)
    broken[0, 0] = -np.inf
    assert theory.compare_layers(prediction, broken).reason == f"not applicable: {theory.ZERO_NOTE}"
    batch = theory.compare_layers(theory.predict_layers(config.replace(normalization="batch")), finite)
    assert batch.reason is not None and "batch norm" in batch.reason
    other = theory.compare_layers(prediction, finite[:, :4])
    assert other.reason is not None and "another shape" in other.reason


def test_span_criterion_is_where_the_extreme_predicted_span_changes_sign() -> None:
    config = SimConfig(activation="tanh", init="orthogonal", num_layers=2, seq_len=50, hidden_size=64)
    scale = theory.critical_weight_scale(config, criterion="span")
    assert scale is not None
    below = theory.predicted_spans(config.replace(weight_scale=scale * 0.99))
    above = theory.predicted_spans(config.replace(weight_scale=scale * 1.01))
    assert below is not None and above is not None
    assert below.extreme() < 0 < above.extreme()
    # Issue 12's example: the top layer's own factor is 1 only at 2.17, far above this edge.
    assert theory.critical_weight_scale(config, criterion="step") == pytest.approx(2.17, abs=0.01)
    assert scale < 1.6


def test_the_predictions_the_diagnosis_repeats_are_kept_per_config():
    # The diagnosis asks for the same candidate fixes at every request while a run trains.
    config = SimConfig(num_layers=2, hidden_size=16, seq_len=300, activation="tanh", weight_scale=0.87)
    for function in (theory.predicted_decades, theory.predicted_step_factor):
        before = function.cache_info()
        first = function(config)
        again = function(config.replace(seed=config.seed))  # an equal config, another object
        other = function(config.replace(weight_scale=0.88))
        after = function.cache_info()
        assert again == first and other != first
        assert after.misses - before.misses <= 2 and after.hits - before.hits >= 1
    assert theory.predicted_decades(config) == float(theory.predicted_log10_grad_norms(config)[0, 0])
    assert theory.predicted_step_factor(config) == theory.mean_field(config).top_step_factor
