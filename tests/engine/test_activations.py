"""Activations: derivatives against finite differences, overflow safety, saturation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import force_tanh_kernel

from gradsim.engine import activations
from gradsim.engine.activations import (
    FOUR,
    MINUS_TWO,
    ONE,
    TANH_EXPM1_SHARE,
    TANH_NEAR_ZERO,
    TANH_UNCLIPPED_BOUND,
    TWO,
    UNIT,
    all_finite,
    make_activation,
    one_exp_tanh,
    step_tanh,
    tanh_,
    tanh_expm1_,
)
from gradsim.engine.config import ACTIVATIONS

# Points on both sides of zero, away from the kinks of the piecewise units.
GRID = np.concatenate([-np.geomspace(8.0, 1e-2, 40), np.geomspace(1e-2, 8.0, 40)])


def reference(name: str, z: float, slope: float = 0.01) -> float:
    """Textbook formula of each activation, written independently of the engine."""
    if name == "sigmoid":
        return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
    if name == "tanh":
        return math.tanh(z)
    if name == "relu":
        return max(z, 0.0)
    if name == "leaky_relu":
        return z if z > 0 else slope * z
    if name == "elu":
        return z if z > 0 else math.expm1(z)
    return z


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_forward_matches_the_textbook_formula(name):
    activation = make_activation(name, leaky_slope=0.2)
    expected = [reference(name, float(z), slope=0.2) for z in GRID]
    np.testing.assert_allclose(activation.forward(GRID), expected, rtol=1e-14, atol=1e-300)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_derivative_matches_centred_finite_difference(name):
    activation = make_activation(name, leaky_slope=0.2)
    step = 1e-6
    numeric = (activation.forward(GRID + step) - activation.forward(GRID - step)) / (2 * step)
    analytic = activation.derivative(GRID, activation.forward(GRID))
    np.testing.assert_allclose(analytic, numeric, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_max_derivative_is_the_supremum(name):
    activation = make_activation(name)
    dense = np.linspace(-10, 10, 20001)
    derivative = activation.derivative(dense, activation.forward(dense))
    assert derivative.max() == pytest.approx(activation.max_derivative, rel=1e-6)
    assert np.all(derivative <= activation.max_derivative)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_forward_writes_into_out(name):
    activation = make_activation(name)
    z = GRID.copy()
    out = np.empty_like(z)
    returned = activation.forward(z, out=out)
    assert returned is out
    assert np.array_equal(out, activation.forward(z))
    assert np.array_equal(z, GRID)  # the input is left alone


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_float32_stays_float32(name):
    activation = make_activation(name)
    z = GRID.astype(np.float32)
    h = activation.forward(z)
    assert h.dtype == np.float32
    assert activation.derivative(z, h).dtype == np.float32


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_extreme_inputs_raise_no_warning(name):
    # The suite turns warnings into errors, so this fails on any overflow warning.
    activation = make_activation(name)
    z = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    h = activation.forward(z)
    derivative = activation.derivative(z, h)
    assert np.all(np.isfinite(h))
    assert np.all(np.isfinite(derivative))


def _ulps(value, reference):
    """|value - reference| in units of the last place of reference."""
    return np.abs(value - reference) / np.spacing(np.abs(reference))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("spread", [1.0, 0.1, 5.0, 40.0])
def test_one_exp_tanh_is_within_64_ulp_of_libm(dtype, spread):
    z = (np.random.default_rng(3).standard_normal((64, 256)) * spread).astype(dtype)
    out, scratch = np.empty_like(z), np.empty_like(z)
    assert tanh_(z, out, scratch) is out
    reference = np.tanh(z)
    assert out.dtype == dtype
    assert np.max(_ulps(out, reference)) <= 64
    if dtype == np.float32:  # numpy's float32 tanh is vectorised: it is used as it is
        assert np.array_equal(out, reference)
    assert np.array_equal(np.signbit(out), np.signbit(reference))


def test_one_exp_tanh_hands_values_near_zero_to_libm():
    # Without the hand-over the one-exp formula loses relative precision near 0 (about 1e-16 / |z|):
    # these must be libm's bits exactly, whatever else the array holds (here 1 in 15 entries: the
    # one-exp path, below the expm1 path's share of 1 in 8).
    rng = np.random.default_rng(4)
    z = rng.standard_normal((32, 128)) * 4.0
    z[::3, ::5] = rng.uniform(-1, 1, z[::3, ::5].shape) * 10.0 ** rng.integers(-300, -2, z[::3, ::5].shape)
    near = np.abs(z) < TANH_NEAR_ZERO
    assert 300 < near.sum() < TANH_EXPM1_SHARE * z.size
    out = tanh_(z, np.empty_like(z), np.empty_like(z))
    assert np.array_equal(out[near], np.tanh(z[near]))
    assert not np.array_equal(out, tanh_expm1_(z, np.empty_like(z), np.empty_like(z)))  # the one-exp path ran
    naive = 2.0 / (1.0 + np.exp(-2.0 * z)) - 1.0  # what the formula alone gives there
    assert np.max(np.abs(naive[near] - np.tanh(z[near])) / np.abs(np.tanh(z[near]))) > 1e-6


def test_one_exp_tanh_takes_the_expm1_formula_when_many_entries_are_near_zero():
    rng = np.random.default_rng(5)
    z = rng.standard_normal((16, 64))
    z[:3] *= 1e-3  # 3 rows of 16 near 0: more than 1 in 8 entries
    assert np.count_nonzero(np.abs(z) < TANH_NEAR_ZERO) > TANH_EXPM1_SHARE * z.size
    out = tanh_(z, np.empty_like(z), np.empty_like(z))
    assert np.array_equal(out, tanh_expm1_(z, np.empty_like(z), np.empty_like(z)))
    z[1:3] *= 1e3  # 1 row of 16: the one-exp formula
    assert not np.array_equal(
        tanh_(z, np.empty_like(z), np.empty_like(z)), tanh_expm1_(z, *[np.empty_like(z)] * 2)
    )
    first, second = (tanh_(z, np.empty_like(z), np.empty_like(z)) for _ in range(2))
    assert np.array_equal(first, second)  # deterministic
    strided = z[:, ::2]  # not contiguous: libm's
    assert np.array_equal(tanh_(strided, np.empty_like(strided), np.empty_like(strided)), np.tanh(strided))


@pytest.mark.parametrize("spread", [1.0, 0.1, 5.0, 40.0])
def test_expm1_tanh_is_within_4_ulp_of_libm(spread):
    z = np.random.default_rng(3).standard_normal((64, 256)) * spread
    out = tanh_expm1_(z, np.empty_like(z), np.empty_like(z))
    reference = np.tanh(z)
    assert np.max(_ulps(out, reference)) <= 4
    assert not np.array_equal(out, reference)  # not libm's own (it differs in some ulp)
    assert np.array_equal(np.signbit(out), np.signbit(reference))
    single = z.astype(np.float32)  # float32: numpy's vectorised tanh as it is
    assert np.array_equal(tanh_expm1_(single, np.empty_like(single), np.empty_like(single)), np.tanh(single))


def test_expm1_tanh_keeps_its_relative_precision_near_zero():
    # The one-exp formula cancels near 0 (relative error about 1e-16 / |z|); expm1 does not: every
    # magnitude from 1e-300 to 1 is within 4 ulp of libm.
    rng = np.random.default_rng(4)
    z = rng.uniform(-1, 1, (64, 128)) * 10.0 ** rng.integers(-300, 1, (64, 128))
    out = tanh_expm1_(z, np.empty_like(z), np.empty_like(z))
    assert np.max(_ulps(out, np.tanh(z))) <= 4
    assert np.count_nonzero(np.abs(z) < 1e-6) > 1000


def test_expm1_tanh_without_its_clip_has_the_same_bits_down_to_minus_354():
    # The clip only keeps expm1(-2z) from overflowing (z < -354.9): above that it changes no value.
    rng = np.random.default_rng(8)
    z = np.concatenate([rng.uniform(-TANH_UNCLIPPED_BOUND, 30.0, 4000), rng.standard_normal(4000),
                        [-TANH_UNCLIPPED_BOUND, -20.0, -19.0, -0.0, 0.0, np.inf, np.nan]])  # fmt: skip
    clipped = tanh_expm1_(z, np.empty_like(z), np.empty_like(z))
    unclipped = tanh_expm1_(z, np.empty_like(z), np.empty_like(z), clip=False)
    assert np.array_equal(clipped, unclipped, equal_nan=True)
    beyond = np.array([-400.0])  # where the clip is needed: expm1 overflows, inf / -inf
    with np.errstate(all="ignore"):
        assert np.isnan(tanh_expm1_(beyond, np.empty_like(beyond), np.empty_like(beyond), clip=False)[0])
    assert tanh_expm1_(beyond, np.empty_like(beyond), np.empty_like(beyond))[0] == -1.0


def test_the_loops_constants_keep_each_dtype_and_the_bits_of_python_floats():
    # A float64 0-d array would make a float32 pass compute in float64: UNIT has one per dtype.
    for dtype in (np.float64, np.float32):
        x = np.random.default_rng(9).standard_normal(1000).astype(dtype)
        assert np.subtract(UNIT[x.dtype], x).dtype == dtype
        assert np.subtract(UNIT[x.dtype], x).tobytes() == np.subtract(1.0, x).tobytes()
    x = np.random.default_rng(10).standard_normal(1000)
    for constant, value in ((ONE, 1.0), (TWO, 2.0), (FOUR, 4.0), (MINUS_TWO, -2.0)):
        assert (x * constant).tobytes() == (x * value).tobytes()
        assert not constant.flags.writeable


@pytest.mark.parametrize("tanh", [tanh_, tanh_expm1_])
def test_both_tanh_formulas_special_values_and_in_place(tanh):
    z = np.array([-np.inf, -1000.0, -20.5, -20.0, -19.5, -0.0, 0.0, 5e-324, -1e-310, 1e-300, 19.5, 20.0,
                  710.0, np.inf, np.nan])  # fmt: skip
    z = np.concatenate([z, np.linspace(0.5, 3.0, 100)])  # few near 0: tanh_ keeps its one-exp path
    reference = np.tanh(z)
    out = tanh(z, np.empty_like(z), np.empty_like(z))
    assert np.array_equal(out[:15], reference[:15], equal_nan=True)
    assert np.max(_ulps(out[15:], reference[15:])) <= 64
    assert np.array_equal(np.signbit(out), np.signbit(reference))
    in_place = z.copy()
    tanh(in_place, in_place, np.empty_like(z))
    assert np.array_equal(in_place, out, equal_nan=True)
    strided = z[::2]  # the expm1 formula takes any layout: the bits of the contiguous copy
    if tanh is tanh_expm1_:
        contiguous = strided.copy()
        from_strided = tanh(strided, np.empty_like(strided), np.empty_like(strided))
        assert np.array_equal(
            from_strided,
            tanh(contiguous, np.empty_like(contiguous), np.empty_like(contiguous)),
            equal_nan=True,
        )


@pytest.fixture(params=["one-exp", "numpy"])
def one_exp(request, monkeypatch):
    """Each of the two choices of ``one_exp_tanh``, whatever this machine's numpy vectorises."""
    force_tanh_kernel(monkeypatch, request.param == "one-exp")
    return request.param == "one-exp"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("spread", [1.0, 0.01, 5.0, 40.0])
def test_tanh_with_its_derivative_gives_the_bits_of_each_on_its_own(dtype, spread, one_exp):
    # spread 1, 5, 40: few entries near 0 (the shared exp); 0.01: nearly all (expm1, then the
    # derivative on its own); float32: numpy's tanh
    z = (np.random.default_rng(7).standard_normal((32, 128)) * spread).astype(dtype)
    z[0, :4] = [np.inf, -np.inf, np.nan, -0.0]
    out, derivative = np.empty_like(z), np.empty_like(z)
    assert tanh_(z, out, np.empty_like(z), derivative) is out
    tanh = make_activation("tanh")
    assert np.array_equal(out, tanh_(z, np.empty_like(z), np.empty_like(z)), equal_nan=True)
    assert np.array_equal(np.signbit(out), np.signbit(np.tanh(z)))
    alone = tanh.derivative(z, out, out=np.empty_like(z), scratch=np.empty_like(z))
    assert np.array_equal(derivative, alone, equal_nan=True)
    through_activation = tanh.forward(
        z, out=np.empty_like(z), scratch=np.empty_like(z), derivative=derivative
    )
    # the activation's forward: tanh_ where the one-exp kernel is chosen, numpy's tanh otherwise;
    # the derivative the same bits either way
    chosen = out if one_exp else np.tanh(z)
    assert np.array_equal(through_activation, chosen, equal_nan=True)
    assert np.array_equal(derivative, alone, equal_nan=True)
    strided = z[:, ::2]  # any layout: the same bits
    strided_derivative = np.empty_like(strided)
    tanh_(strided, np.empty_like(strided), np.empty_like(strided), strided_derivative)
    assert np.array_equal(strided_derivative, alone[:, ::2], equal_nan=True)


def test_tanh_with_derivative_needs_its_buffers():
    z = np.linspace(-3, 3, 12)
    with pytest.raises(ValueError, match="needs out= and scratch="):
        make_activation("tanh").forward(z, derivative=np.empty_like(z))
    assert make_activation("tanh").fuses_derivative
    assert not any(
        make_activation(name).fuses_derivative for name in ("sigmoid", "relu", "leaky_relu", "elu", "linear")
    )


def test_tanh_activation_with_scratch_is_the_chosen_kernel(one_exp):
    z = np.random.default_rng(6).standard_normal((8, 32))
    tanh = make_activation("tanh")
    got = tanh.forward(z, out=np.empty_like(z), scratch=np.empty_like(z))
    assert np.array_equal(got, tanh_(z, np.empty_like(z), np.empty_like(z)) if one_exp else np.tanh(z))
    assert np.array_equal(tanh.forward(z), np.tanh(z))
    assert tanh.derivative_in_forward(np.float64, z.size) == one_exp
    assert not tanh.derivative_in_forward(np.float32, z.size)


@pytest.mark.parametrize("clip", [True, False])
def test_a_gated_cells_step_tanh_is_the_chosen_kernel(one_exp, clip):
    z = np.random.default_rng(8).standard_normal((8, 32)) * 3.0
    got = step_tanh(z, np.empty_like(z), np.empty_like(z), clip=clip)
    want = tanh_expm1_(z, np.empty_like(z), np.empty_like(z), clip=clip) if one_exp else np.tanh(z)
    assert np.array_equal(got, want)
    assert not np.array_equal(tanh_expm1_(z, np.empty_like(z), np.empty_like(z)), np.tanh(z))  # they differ
    single = z.astype(np.float32)
    assert np.array_equal(step_tanh(single, np.empty_like(single), np.empty_like(single)), np.tanh(single))


def test_the_one_exp_kernels_serve_float64_steps_from_a_size_on_where_numpy_is_scalar(monkeypatch):
    monkeypatch.setattr(activations, "VECTORISED_FLOAT64_TANH", False)
    threshold = activations.ONE_EXP_FROM
    assert not one_exp_tanh(np.float64, threshold - 1)
    assert one_exp_tanh(np.float64, threshold) and one_exp_tanh("float64", 10 * threshold)
    assert not one_exp_tanh(np.float32, 10 * threshold)
    monkeypatch.setattr(activations, "VECTORISED_FLOAT64_TANH", True)
    assert not one_exp_tanh(np.float64, 10 * threshold)


@pytest.mark.parametrize(
    ("report", "vectorised"),
    [("X86_V4", True), ("AVX512_SKX", True), ("X86_V3", False), ("baseline(X86_V2)", False), (None, False)],
)
def test_numpys_float64_tanh_counts_as_vectorised_on_its_avx512_loops(monkeypatch, report, vectorised):
    import numpy.lib.introspect as introspect

    def opt_func_info(func_name=None, signature=None):
        assert (func_name, signature) == ("^tanh$", "float64")
        if report is None:
            raise RuntimeError("no dispatch information")  # an older numpy, say
        return {"tanh": {"dd": {"current": report, "available": report}}}

    monkeypatch.setattr(introspect, "opt_func_info", opt_func_info)
    assert activations._vectorised_float64_tanh() is vectorised


def test_sigmoid_at_plus_minus_1000():
    sigmoid = make_activation("sigmoid")
    z = np.array([-1000.0, 1000.0])
    assert np.array_equal(sigmoid.forward(z), [0.0, 1.0])
    assert np.array_equal(sigmoid.derivative(z, sigmoid.forward(z)), [0.0, 0.0])


def test_sigmoid_keeps_precision_in_its_tails():
    sigmoid = make_activation("sigmoid")
    z = np.array([-40.0, -700.0, 30.0, 700.0])
    h = sigmoid.forward(z)
    assert h[0] == pytest.approx(math.exp(-40.0) / (1 + math.exp(-40.0)), rel=1e-14)
    assert h[1] == pytest.approx(math.exp(-700.0), rel=1e-13)
    # The derivative deep in saturation stays measurable instead of rounding to 0.
    derivative = sigmoid.derivative(z, h)
    expected = [math.exp(-40.0), math.exp(-700.0), math.exp(-30.0), math.exp(-700.0)]
    np.testing.assert_allclose(derivative, expected, rtol=1e-11)


def test_tanh_derivative_keeps_precision_in_its_tails():
    tanh = make_activation("tanh")
    z = np.array([-25.0, 25.0, 300.0])
    assert np.array_equal(tanh.forward(z)[:2], [-1.0, 1.0])  # tanh itself has rounded to +-1
    np.testing.assert_allclose(tanh.derivative(z, tanh.forward(z)), 4 * np.exp(-2 * np.abs(z)), rtol=1e-12)


def test_leaky_slope_is_honoured():
    leaky = make_activation("leaky_relu", leaky_slope=0.3)
    z = np.array([-2.0, 3.0])
    assert np.array_equal(leaky.forward(z), [-0.6, 3.0])
    assert np.array_equal(leaky.derivative(z, leaky.forward(z)), [0.3, 1.0])


@pytest.mark.parametrize(
    ("name", "saturating"),
    [
        ("sigmoid", True),
        ("tanh", True),
        ("relu", False),
        ("leaky_relu", False),
        ("elu", False),
        ("linear", False),
    ],
)
def test_saturating_flag(name, saturating):
    assert make_activation(name).saturating is saturating


@pytest.mark.parametrize(
    ("name", "saturated_values", "active_values"),
    [
        # 5% of the maximum derivative: 0.0125 for sigmoid, 0.05 for tanh and ELU.
        ("sigmoid", [0.0, 1e-20, 0.0124], [0.0126, 0.25]),
        ("tanh", [0.0, 1e-30, 0.0499], [0.0501, 1.0]),
        ("elu", [0.0, 0.0499], [0.0501, 1.0]),
        # Piecewise-linear units: saturated means exactly zero, however small otherwise.
        ("relu", [0.0], [1.0, 1e-300]),
        ("leaky_relu", [0.0], [0.01, 1.0]),
        ("linear", [0.0], [1.0]),
    ],
)
def test_saturation_threshold(name, saturated_values, active_values):
    activation = make_activation(name)
    assert activation.saturated(np.array(saturated_values)).all()
    assert not activation.saturated(np.array(active_values)).any()


def test_saturation_of_real_preactivations():
    sigmoid = make_activation("sigmoid")
    z = np.array([-10.0, -3.0, 0.0, 3.0, 10.0])
    # s'(3) = 0.045 > 0.0125; s'(10) = 4.5e-5 < 0.0125.
    mask = sigmoid.saturated(sigmoid.derivative(z, sigmoid.forward(z)))
    assert mask.tolist() == [True, False, False, False, True]
    relu = make_activation("relu")
    mask = relu.saturated(relu.derivative(z, relu.forward(z)))
    assert mask.tolist() == [True, True, True, False, False]  # relu'(0) = 0


def test_unknown_activation():
    with pytest.raises(ValueError, match="unknown activation 'softplus'"):
        make_activation("softplus")


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_nonfinite_units_are_their_own_category(name):
    activation = make_activation(name)
    z = np.array([[0.0, 50.0, -50.0, np.nan], [np.inf, -np.inf, 0.5, 2.0]])
    with np.errstate(all="ignore"):
        derivative = activation.derivative(z, activation.forward(z))
    bad = ~np.isfinite(z)
    finite_saturated = activation.saturated(derivative) & ~bad
    assert activation.nonfinite_fraction(derivative, z) == 3 / 8
    saturated = activation.saturated_fraction(derivative, preactivation=z)
    assert saturated == np.count_nonzero(finite_saturated) / 8
    # Without the pre-activation the old count (NaN ReLU units read "switched off") is kept.
    assert activation.saturated_fraction(derivative) == activation.saturated(derivative).mean()
    healthy = 1 - saturated - activation.nonfinite_fraction(derivative, z)
    assert healthy == np.count_nonzero(~activation.saturated(derivative) & ~bad) / 8
    # The caller's own all_finite answer gives the same counts (train_step checks once for both).
    assert not all_finite(z, derivative)
    assert activation.nonfinite_fraction(derivative, z, finite=False) == 3 / 8
    assert activation.saturated_fraction(derivative, preactivation=z, finite=False) == saturated
    rows = z[1:, 2:], derivative[1:, 2:]  # finite: nothing to take out
    assert all_finite(*rows)
    assert activation.nonfinite_fraction(rows[1], rows[0], finite=True) == 0.0
    assert activation.saturated_fraction(rows[1], preactivation=rows[0], finite=True) == (
        activation.saturated(rows[1]).mean()
    )


def test_nan_relu_units_are_not_switched_off():
    relu = make_activation("relu")
    z = np.full((3, 4), np.nan)
    z[0, 0] = -1.0  # one unit really switched off
    with np.errstate(all="ignore"):
        derivative = relu.derivative(z, relu.forward(z))
    assert relu.saturated(derivative).mean() == 1.0  # what the count used to be
    assert relu.saturated_fraction(derivative, preactivation=z) == 1 / 12
    assert relu.nonfinite_fraction(derivative, z) == 11 / 12


def test_finite_units_give_zero_nonfinite_even_when_their_sum_overflows():
    tanh = make_activation("tanh")
    z = np.full(4, 1e308)
    with np.errstate(over="ignore"):  # -2|z| overflows to -inf inside; the derivative is 0
        derivative = tanh.derivative(z, tanh.forward(z))
    assert tanh.nonfinite_fraction(derivative, z) == 0.0
    assert tanh.saturated_fraction(derivative, preactivation=z) == 1.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "linear"])
def test_every_activation_maps_finite_inputs_to_finite_states(name, dtype):
    # train_step skips the scan of an RNN's hidden states for inf/NaN when every pre-activation
    # is finite: that holds only while f(z) is finite for every finite z, the largest included.
    info = np.finfo(dtype)
    z = np.array([-info.max, -1e30, -1.0, -info.tiny, 0.0, info.tiny, 1.0, 1e30, info.max], dtype=dtype)
    z = z.reshape(1, -1).repeat(2, axis=0)
    for slope in (0.0, 0.01, 1.0):
        activation = make_activation(name, slope)
        with np.errstate(all="ignore"):
            values = activation.forward(z.copy(), out=np.empty_like(z), scratch=np.empty_like(z))
        assert np.isfinite(values).all(), (name, slope, values)
