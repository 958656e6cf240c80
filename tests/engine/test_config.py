"""SimConfig: every bad value is refused with a message naming the field and its range."""

from __future__ import annotations

import dataclasses
import math

import pytest
from helpers import force_tanh_kernel
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gradsim.engine.config import (
    CHOICES,
    FLOAT_RANGES,
    INT_RANGES,
    MEMORY_LIMIT_BYTES,
    ConfigError,
    SimConfig,
    coerce_value,
    describe_config,
    field_names,
    memory_terms,
    parse_value,
)


def refused(**changes) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        SimConfig(**changes)
    return caught.value


def test_defaults_are_valid_and_documented_ranges_cover_every_field():
    config = SimConfig()
    assert config.dtype == "float64"
    covered = set(INT_RANGES) | set(FLOAT_RANGES) | set(CHOICES)
    assert covered == set(field_names())


@pytest.mark.parametrize("name", sorted(INT_RANGES))
def test_integer_bounds_are_inclusive(name):
    low, high = INT_RANGES[name]
    changes = {name: low} if name != "batch_size" else {name: low, "normalization": "none"}
    assert getattr(SimConfig(**changes), name) == low
    if name in ("hidden_size", "seq_len", "batch_size"):
        return  # their maxima together exceed the memory limit; checked on their own below
    assert getattr(SimConfig(**{name: high}), name) == high


@pytest.mark.parametrize("name", ["hidden_size", "seq_len", "batch_size"])
def test_size_maxima_are_accepted_alone(name):
    high = INT_RANGES[name][1]
    config = SimConfig(num_layers=1, hidden_size=8, seq_len=8, batch_size=8).replace(**{name: high})
    assert getattr(config, name) == high


@pytest.mark.parametrize("name", sorted(INT_RANGES))
@pytest.mark.parametrize("where", ["below", "above", "negative"])
def test_integer_out_of_range(name, where):
    low, high = INT_RANGES[name]
    value = {"below": low - 1, "above": high + 1, "negative": -5}[where]
    error = refused(**{name: value})
    assert error.field == name
    assert str(error) == f"{name} must be between {low} and {high} (got {value})"


@pytest.mark.parametrize("name", ["num_layers", "hidden_size", "seq_len", "batch_size"])
def test_zero_size_is_refused(name):
    error = refused(**{name: 0})
    assert error.field == name
    assert name in str(error) and "between 1 and" in str(error) and "(got 0)" in str(error)


@pytest.mark.parametrize("name", sorted(FLOAT_RANGES))
def test_float_out_of_range(name):
    low, high, low_inclusive = FLOAT_RANGES[name]
    for value in (low - 1.0, high * 2 + 1.0) if low_inclusive else (low, low - 1.0, high * 2 + 1.0):
        error = refused(**{name: value})
        assert error.field == name
        assert name in str(error)
        assert f"{low:g}" in str(error) and f"{high:g}" in str(error)
        assert ("at least" if low_inclusive else "greater than") in str(error)


def test_float_bounds():
    assert SimConfig(leaky_slope=0.0).leaky_slope == 0.0  # inclusive low
    assert SimConfig(leaky_slope=1.0).leaky_slope == 1.0
    assert SimConfig(weight_scale=1e-9).weight_scale == 1e-9
    assert SimConfig(weight_scale=100.0).weight_scale == 100.0
    assert SimConfig(learning_rate=2).learning_rate == 2  # an int is a fine float


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("name", ["weight_scale", "learning_rate", "clip_threshold", "leaky_slope"])
def test_nonfinite_float_is_refused(name, value):
    error = refused(**{name: value})
    assert error.field == name
    assert str(error).startswith(f"{name} must be a finite number")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("weight_scale", math.nan),
        ("weight_scale", math.inf),
        ("num_layers", True),
        ("hidden_size", 8.0),
        ("learning_rate", False),
    ],
)
def test_type_and_finiteness_errors_also_name_the_range(name, value):
    error = refused(**{name: value})
    if name in INT_RANGES:
        low, high = INT_RANGES[name]
        assert f"between {low} and {high}" in str(error)
    else:
        low, high, _ = FLOAT_RANGES[name]
        assert f"{low:g}" in str(error) and f"{high:g}" in str(error)


# Each numeric field with values of another type, and what its message says it must be.
WRONG_TYPES = [
    *[
        (name, value, "a whole number")
        for name in sorted(INT_RANGES)
        for value in (True, False, 2.0, "2", None)
    ],
    *[(name, value, "a number") for name in sorted(FLOAT_RANGES) for value in (True, "0.5", None)],
]


@pytest.mark.parametrize(("name", "value", "kind"), WRONG_TYPES)
def test_numeric_fields_refuse_other_types(name, value, kind):
    error = refused(**{name: value})
    assert error.field == name
    assert str(error).startswith(f"{name} must be {kind}")
    assert repr(value) in str(error)


@pytest.mark.parametrize("name", sorted(CHOICES))
def test_unknown_choice_lists_the_allowed_values(name):
    error = refused(**{name: "bogus"})
    assert error.field == name
    assert str(error) == f"{name} must be one of {', '.join(CHOICES[name])} (got 'bogus')"


def test_unknown_activation_message():
    error = refused(activation="softmax")
    assert "activation" in str(error) and "sigmoid, tanh, relu, leaky_relu, elu, linear" in str(error)


def test_batch_norm_needs_two_samples():
    error = refused(normalization="batch", batch_size=1)
    assert error.field == "batch_size"
    assert "batch_size" in str(error) and "at least 2" in str(error)
    assert SimConfig(normalization="batch", batch_size=2).batch_size == 2
    assert SimConfig(normalization="none", batch_size=1).batch_size == 1


def test_memory_limit():
    error = refused(num_layers=16, hidden_size=1024, seq_len=2000, batch_size=64)
    # The refusal names the setting to lower, and to what; the field is that setting.
    assert error.field == "batch_size"
    assert "GiB" in str(error) and f"limit ({MEMORY_LIMIT_BYTES / 2**30:.1f} GiB)" in str(error)
    message = str(error)
    allowed = int(message.split("lower batch_size to ")[1].split()[0])
    big = dict(num_layers=16, hidden_size=1024, seq_len=2000)
    assert SimConfig(**big, batch_size=allowed).memory_bytes <= MEMORY_LIMIT_BYTES
    with pytest.raises(ConfigError):
        SimConfig(**big, batch_size=allowed + 1)


def test_memory_estimate_counts_the_engine_arrays(monkeypatch):
    # C = T B H cells per layer; float64: 3 cache arrays per layer, 3 shared backward arrays
    # (float64 tanh on the one-exp kernel writes its derivative with the forward, without the
    # derivative scratch), 1 byte per cell for the saturation mask.
    force_tanh_kernel(monkeypatch, one_exp=True)
    config = SimConfig(num_layers=3, hidden_size=10, seq_len=7, batch_size=5)
    cells = 7 * 5 * 10
    terms = memory_terms(config)
    assert terms["cache"] == 3 * (3 * cells + 5 * 10) * 8 + 7 * 5 * 2 * 8
    assert terms["backward"] == 3 * cells * 8 + cells
    # numpy's tanh (vectorised, or a small step): the derivative is a separate pass, as sigmoid's
    force_tanh_kernel(monkeypatch, one_exp=False)
    assert memory_terms(config)["backward"] == 4 * cells * 8 + cells
    force_tanh_kernel(monkeypatch, one_exp=True)
    # sigmoid's derivative pass goes through the scratch
    assert memory_terms(config.replace(activation="sigmoid"))["backward"] == 4 * cells * 8 + cells
    # float32: half the bytes per number, the derivative scratch (float32 tanh's derivative is a
    # separate pass), plus a float64 copy of dL/dh for its norms.
    terms32 = memory_terms(config.replace(dtype="float32"))
    assert terms32["cache"] == terms["cache"] // 2
    assert terms32["backward"] == 4 * cells * 4 + cells + 8 * cells
    # relu never touches the derivative scratch; elu adds a boolean mask; batch norm one array more.
    assert memory_terms(config.replace(activation="relu"))["backward"] == 3 * cells * 8 + cells
    assert memory_terms(config.replace(activation="elu"))["backward"] == 3 * cells * 8 + 2 * cells
    normed = memory_terms(config.replace(normalization="batch"))["cache"]
    assert normed - terms["cache"] == 3 * (cells + 7 * 10) * 8
    assert config.memory_bytes == sum(terms.values())


def test_memory_limit_boundary():
    # Bisect hidden_size for a config just below and just above the limit.
    low, high = 1, 1024
    base = dict(num_layers=4, seq_len=2000, batch_size=200)
    while low < high:
        middle = (low + high + 1) // 2
        try:
            SimConfig(**base, hidden_size=middle)
            low = middle
        except ConfigError:
            high = middle - 1
    assert low < 1024
    assert SimConfig(**base, hidden_size=low).memory_bytes <= MEMORY_LIMIT_BYTES
    with pytest.raises(ConfigError, match="GiB"):
        SimConfig(**base, hidden_size=low + 1)


def test_config_is_frozen_and_replace_validates():
    config = SimConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.hidden_size = 3  # type: ignore[misc]
    changed = config.replace(hidden_size=3, activation="relu")
    assert (changed.hidden_size, changed.activation) == (3, "relu")
    assert config.hidden_size == 64  # the original is untouched
    with pytest.raises(ConfigError) as caught:
        config.replace(hidden_size=0)
    assert caught.value.field == "hidden_size"
    with pytest.raises(ConfigError):
        config.replace(normalization="batch", batch_size=1)


def test_to_dict_is_in_declaration_order():
    data = SimConfig(seed=7).to_dict()
    assert tuple(data) == field_names()
    assert data["seed"] == 7


def test_from_dict_starts_from_base():
    base = SimConfig(hidden_size=12, activation="relu")
    config = SimConfig.from_dict({"seq_len": 9}, base=base)
    assert (config.hidden_size, config.activation, config.seq_len) == (12, "relu", 9)
    assert SimConfig.from_dict({}) == SimConfig()


def test_from_dict_unknown_key():
    with pytest.raises(ConfigError) as caught:
        SimConfig.from_dict({"hidden_size": 8, "hiden_size": 9})
    assert caught.value.field == "hiden_size"
    assert "unknown setting 'hiden_size'" in str(caught.value)
    assert "hidden_size" in str(caught.value).split("known settings:")[1]


def test_from_dict_coerces_integral_floats_only():
    config = SimConfig.from_dict({"num_layers": 3.0, "weight_scale": 2})
    assert config.num_layers == 3 and type(config.num_layers) is int
    assert config.weight_scale == 2.0 and type(config.weight_scale) is float
    for bad in (2.5, math.nan, math.inf):
        with pytest.raises(ConfigError, match="num_layers must be a whole number"):
            SimConfig.from_dict({"num_layers": bad})


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("num_layers", "3", "num_layers must be a number (got '3')"),
        ("num_layers", True, "num_layers must be a number (got True)"),
        ("weight_scale", [1.0], "weight_scale must be a number (got [1.0])"),
        ("activation", 3, "activation must be text, one of sigmoid"),
    ],
)
def test_from_dict_refuses_wrong_types(name, value, message):
    with pytest.raises(ConfigError) as caught:
        SimConfig.from_dict({name: value})
    assert caught.value.field == name
    assert str(caught.value).startswith(message)


def test_from_dict_validates_ranges():
    with pytest.raises(ConfigError) as caught:
        SimConfig.from_dict({"seq_len": 0})
    assert caught.value.field == "seq_len"


def test_coerce_value_unknown_name():
    with pytest.raises(ConfigError) as caught:
        coerce_value("layers", 3)
    assert caught.value.field == "layers"


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("num_layers", "3", 3),
        ("num_layers", "3.0", 3),
        ("weight_scale", "0.5", 0.5),
        ("learning_rate", "1e-3", 1e-3),
        ("activation", "relu", "relu"),
        ("seed", "42", 42),
    ],
)
def test_parse_value(name, text, expected):
    value = parse_value(name, text)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("num_layers", "three", "num_layers must be a number (got 'three')"),
        ("num_layers", "1.5", "num_layers must be a whole number"),
        ("weight_scale", "", "weight_scale must be a number"),
        ("layers", "3", "unknown setting 'layers'"),
    ],
)
def test_parse_value_errors(name, text, message):
    with pytest.raises(ConfigError) as caught:
        parse_value(name, text)
    assert caught.value.field == name
    assert str(caught.value).startswith(message)


def _valid_configs():
    ints = {
        name: st.integers(low, min(high, 64) if name != "seed" else high)
        for name, (low, high) in INT_RANGES.items()
    }
    floats = {
        name: st.floats(low, high, exclude_min=not inclusive, allow_nan=False, allow_infinity=False)
        for name, (low, high, inclusive) in FLOAT_RANGES.items()
    }
    choices = {name: st.sampled_from(allowed) for name, allowed in CHOICES.items()}
    return st.fixed_dictionaries({**ints, **floats, **choices})


@settings(max_examples=150, deadline=None)
@given(_valid_configs())
def test_round_trip_through_dict(values):
    assume(not (values["normalization"] == "batch" and values["batch_size"] < 2))
    config = SimConfig(**values)
    assert SimConfig.from_dict(config.to_dict()) == config
    assert SimConfig.from_dict(config.to_dict(), base=SimConfig(seed=99)) == config
    assert config.replace() == config


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(sorted(INT_RANGES)), st.integers(-(2**40), 2**40))
def test_any_integer_is_either_accepted_or_refused_with_its_field(name, value):
    low, high = INT_RANGES[name]
    base = SimConfig(num_layers=1, hidden_size=4, seq_len=4, batch_size=4)
    if low <= value <= high:
        assert getattr(base.replace(**{name: value}), name) == value
    else:
        with pytest.raises(ConfigError) as caught:
            base.replace(**{name: value})
        assert caught.value.field == name


# -- hostile values, resources --------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FLOAT_RANGES))
def test_integer_past_float_range_in_a_float_setting_names_the_setting_and_range(name):
    with pytest.raises(ConfigError) as caught:
        coerce_value(name, 10**400)
    low, high, _ = FLOAT_RANGES[name]
    assert caught.value.field == name
    assert str(caught.value).startswith(f"{name} must be ")
    assert f"{low:g} and at most {high:g} (got an integer of 401 digits)" in str(caught.value)
    with pytest.raises(ConfigError, match=f"{name} must be .* digits"):
        SimConfig.from_dict({name: -(10**5000)})  # past the int-to-text digit limit too


def test_a_mapping_is_required_and_huge_values_stay_short_in_messages():
    with pytest.raises(ConfigError, match="expected a table of settings"):
        SimConfig.from_dict([("seed", 1)])  # type: ignore[arg-type]
    error = refused(activation="x" * 10_000)
    assert len(str(error)) < 300
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(ConfigError, match=r"seed must be a number \(got a list of 1 item\)"):
        SimConfig.from_dict({"seed": deep})


def test_step_flops_count_the_products():
    # Layer 0: 2TBH(I + H) forward, 2TBH(2H + I) backward; layer 1 also sends 2TBH^2 down.
    config = SimConfig(num_layers=2, hidden_size=8, seq_len=5, batch_size=3, task="adding")
    rows, hidden, inputs = 15, 8, 2
    layer0 = rows * hidden * (6 * hidden + 4 * inputs)
    layer1 = rows * hidden * (6 * hidden + 4 * hidden + 2 * hidden)
    assert config.step_flops == layer0 + layer1


def test_describe_config_in_one_line_for_a_run_and_for_a_sweep_base():
    config = SimConfig(
        num_layers=3, hidden_size=32, seq_len=40, activation="relu", init="he", weight_scale=1.5,
        batch_size=8, task="memory", optimizer="adam", learning_rate=0.002, seed=9,
    )  # fmt: skip
    assert describe_config(config) == "3 layers x 32 units, 40 time steps, relu, he init x 1.5, adam lr 0.002"
    assert describe_config(config, base=True) == (
        "relu, he init × 1.5, 3 layers × 32 units, T = 40, batch 8, memory task, adam lr 0.002, seed 9"
    )
    fixed = config.replace(num_layers=1, normalization="batch", clip_mode="value", clip_threshold=0.5)
    assert describe_config(fixed) == (
        "1 layer x 32 units, 40 time steps, relu, he init x 1.5, batch norm, clip by value at 0.5, "
        "adam lr 0.002"
    )
    assert ", batch norm, clip by value at 0.5, adam lr 0.002, seed 9" in describe_config(fixed, base=True)
