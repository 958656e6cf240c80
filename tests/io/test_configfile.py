"""Config files: exact round trips, and errors that name the file, the field and what is allowed."""

from __future__ import annotations

import errno
import json
import math
import os
import struct
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradsim.engine.config import CHOICES, ConfigError, SimConfig
from gradsim.engine.presets import list_presets, presets_dir
from gradsim.io.atomic import WriteError
from gradsim.io.configfile import (
    _toml_value,
    allowed_values,
    apply_overrides,
    config_to_json,
    config_to_toml,
    load_config,
    save_config,
)

SMALL = SimConfig(num_layers=2, hidden_size=5, seq_len=6, batch_size=3)


def _bits(value: float) -> bytes:
    return struct.pack("<d", value)


# Configs with awkward floats: their shortest repr has 17 digits, so a lossy writer shows up.
AWKWARD = SMALL.replace(
    weight_scale=0.1 + 0.2, learning_rate=1 / 3, leaky_slope=0.07000000000000001, clip_threshold=2.0 / 3
)


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_save_and_load_round_trip_is_exact(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"run{suffix}"
    save_config(AWKWARD, path)
    loaded = load_config(path)
    assert loaded == AWKWARD
    for name, value in AWKWARD.to_dict().items():
        got = getattr(loaded, name)
        assert type(got) is type(value)
        if isinstance(value, float):
            assert _bits(got) == _bits(value), name
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_saved_and_opened_config_gives_a_bit_identical_run(
    tmp_path: Path, suffix: str, assert_records_equal, train
) -> None:
    config = AWKWARD.replace(activation="elu", optimizer="adam", clip_mode="value", clip_threshold=0.3)
    path = tmp_path / f"config{suffix}"
    save_config(config, path)
    assert_records_equal(train(config, 3), train(load_config(path), 3))


@settings(max_examples=60, deadline=None)
@given(
    config=st.builds(
        SimConfig,
        activation=st.sampled_from(CHOICES["activation"]),
        init=st.sampled_from(CHOICES["init"]),
        optimizer=st.sampled_from(CHOICES["optimizer"]),
        weight_scale=st.floats(min_value=1e-300, max_value=100.0),
        learning_rate=st.floats(min_value=5e-324, max_value=100.0),
        leaky_slope=st.floats(min_value=0.0, max_value=1.0),
        seed=st.integers(min_value=0, max_value=2**32 - 1),
    )
)
def test_toml_text_reads_back_to_the_same_config(config: SimConfig) -> None:
    data = tomllib.loads(config_to_toml(config))
    assert SimConfig.from_dict(data["config"]) == config
    assert _bits(data["config"]["learning_rate"]) == _bits(config.learning_rate)
    assert SimConfig.from_dict(json.loads(config_to_json(config))["config"]) == config


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_every_float_survives_the_toml_writer(value: float) -> None:
    read = tomllib.loads(f"x = {_toml_value(value)}")["x"]
    assert isinstance(read, float)
    assert _bits(read) == _bits(value) or (math.isnan(read) and math.isnan(value))


@given(st.text())
def test_every_string_survives_the_toml_writer(value: str) -> None:
    assert tomllib.loads(f"x = {_toml_value(value)}")["x"] == value


def test_toml_writes_every_field_in_a_config_table_with_a_header() -> None:
    text = config_to_toml(SimConfig(weight_scale=2), header="made by a test\nsecond line")
    assert text.startswith("# made by a test\n# second line\n\n[config]\n")
    data = tomllib.loads(text)
    assert list(data) == ["config"]
    assert list(data["config"]) == list(SimConfig().to_dict())
    # A float field given as an int is still written as a float.
    assert "weight_scale = 2.0\n" in text and isinstance(data["config"]["weight_scale"], float)


def test_flat_file_and_partial_file_take_the_rest_from_base(tmp_path: Path) -> None:
    path = tmp_path / "partial.toml"
    path.write_text('activation = "relu"\nhidden_size = 12\n')
    assert load_config(path) == SimConfig(activation="relu", hidden_size=12)
    base = SMALL.replace(seed=9)
    assert load_config(path, base=base) == base.replace(activation="relu", hidden_size=12)
    flat_json = tmp_path / "flat.json"
    flat_json.write_text('{"seq_len": 30, "init": "he"}')
    assert load_config(flat_json) == SimConfig(seq_len=30, init="he")


def test_every_preset_file_loads_as_a_config_file() -> None:
    # Preset files have a [preset] table beside [config]; a config file may look the same.
    for preset in list_presets():
        assert load_config(presets_dir() / f"{preset.name}.toml") == preset.config


def _error(path: Path, text: str) -> ConfigError:
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"config file {path}: "), message
    assert path.read_text() == text  # reading never changes the file
    return caught.value


# Bad files: the text, the field the error names (None: the file as a whole) and what it says.
BAD_FILES: dict[str, tuple[str, str | None, tuple[str, ...]]] = {
    "bad.toml": ("hidden_size = = 3\n", None, ("malformed TOML", "line 1")),
    "bad.json": ('{"hidden_size": 3,,}', None, ("malformed JSON", "line 1, column 19")),
    # An unknown key is an error, not ignored: the message suggests the known one.
    "typo.toml": (
        "[config]\nhiden_size = 32\n",
        "hiden_size",
        ("unknown setting 'hiden_size'", "hidden_size"),
    ),
    "beside.toml": ("seed = 1\n[config]\nhidden_size = 32\n", "seed", ("beside the [config] table",)),
    "frac.json": ('{"num_layers": 2.5}', "num_layers", ("from 1 to 16",)),
    "nan.toml": ("weight_scale = nan\n", "weight_scale", ("finite", "greater than 0 and at most 100")),
    "nan.json": ('{"config": {"weight_scale": NaN}}', "weight_scale", ()),
    "zero.toml": ("hidden_size = 0\n", "hidden_size", ("between 1 and 1024 (got 0)",)),
    "act.toml": ('activation = "swish"\n', "activation", ("sigmoid, tanh, relu, leaky_relu, elu, linear",)),
    "list.json": ("[1, 2]", None, ("expected a table",)),
    "c.toml": ("config = 3\n", "config", ("'config' must be a table",)),
}


@pytest.mark.parametrize("name", BAD_FILES)
def test_a_bad_file_names_its_field_and_what_is_wrong(tmp_path: Path, name: str) -> None:
    text, field, said = BAD_FILES[name]
    error = _error(tmp_path / name, text)
    assert error.field == field
    for words in said:
        assert words in str(error)


def test_wrong_type_names_field_and_range(tmp_path: Path) -> None:
    error = _error(tmp_path / "type.toml", 'hidden_size = "big"\n')
    assert error.field == "hidden_size"
    assert str(error).endswith(
        "hidden_size must be a number (got 'big'); allowed: a whole number from 1 to 1024"
    )


def test_file_problems(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="unknown file type '.yaml'; use .toml or .json"):
        load_config(tmp_path / "config.yaml")
    (tmp_path / "folder.toml").mkdir()
    with pytest.raises(ConfigError, match="is a folder"):
        load_config(tmp_path / "folder.toml")
    (tmp_path / "latin1.toml").write_bytes('activation = "tänh"'.encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(tmp_path / "latin1.toml")


def test_save_with_unknown_extension_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"must end in \.toml or \.json"):
        save_config(SMALL, tmp_path / "config.yaml")
    assert list(tmp_path.iterdir()) == []


def test_failed_save_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "config.toml"
    save_config(SMALL, path)
    before = path.read_bytes()

    def fail(*args: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(WriteError, match="folder is not writable"):
        save_config(SMALL.replace(seed=5), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["config.toml"]


def test_save_into_a_path_below_a_regular_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(WriteError, match="is a file, not a folder"):
        save_config(SMALL, tmp_path / "file" / "config.toml")
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_overrides_apply_together_and_later_ones_win() -> None:
    base = SMALL.replace(batch_size=1)
    # batch norm needs batch_size >= 2: valid only because both overrides apply at once.
    changed = apply_overrides(base, ["normalization=batch", "batch_size=4", "seed=1", "seed=2"])
    assert changed == base.replace(normalization="batch", batch_size=4, seed=2)
    assert apply_overrides(base, []) is base
    assert apply_overrides(base, [" learning_rate = 0.5 "]).learning_rate == 0.5


@pytest.mark.parametrize(
    ("assignment", "field", "message"),
    [
        (
            "hidden_size=abc",
            "hidden_size",
            "--set hidden_size=abc: hidden_size must be a number (got 'abc'); "
            "allowed: a whole number from 1 to 1024",
        ),
        (
            "hidden_size=0",
            "hidden_size",
            "--set hidden_size=0: hidden_size must be between 1 and 1024 (got 0)",
        ),
        (
            "weight_scale=nan",
            "weight_scale",
            "--set weight_scale=nan: weight_scale must be a finite number "
            "greater than 0 and at most 100 (got nan)",
        ),
        ("colour=red", "colour", "--set colour=red: unknown setting 'colour'"),
        ("activation=swish", "activation", "--set activation=swish: activation must be one of"),
        ("noequals", None, "--set expects KEY=VALUE (got 'noequals')"),
        ("=3", None, "--set expects KEY=VALUE (got '=3')"),
    ],
)
def test_override_errors_name_the_assignment_and_field(
    assignment: str, field: str | None, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        apply_overrides(SMALL, [assignment])
    assert caught.value.field == field
    assert str(caught.value).startswith(message)


def test_combination_error_names_the_override_that_caused_it() -> None:
    with pytest.raises(ConfigError) as caught:
        apply_overrides(SMALL.replace(batch_size=1), ["normalization=batch"])
    assert str(caught.value).startswith("--set: batch norm needs batch_size of at least 2")
    with pytest.raises(ConfigError) as caught:
        apply_overrides(SMALL.replace(normalization="batch"), ["batch_size=1"])
    assert str(caught.value).startswith("--set batch_size=1: batch norm needs batch_size of at least 2")
    assert "allowed" not in str(caught.value)


def test_allowed_values_in_words() -> None:
    assert allowed_values("num_layers") == "a whole number from 1 to 16"
    assert allowed_values("leaky_slope") == "a number at least 0 and at most 1"
    assert allowed_values("dtype") == "one of float64, float32"
    assert allowed_values("nonsense") is None


# -- hostile files (issue: a one-line answer, never a traceback, a hang or a surprise) -----------

DEEP = 50_000
HOSTILE_CONFIGS = {
    "nested-arrays.toml": (
        "[config]\nseed = " + "[" * DEEP + "]" * DEEP + "\n",
        "nested more than 64 levels",
    ),
    "nested-tables.toml": (
        "[config]\nseed = " + "{a = " * DEEP + "1" + "}" * DEEP + "\n",
        "nested more than",
    ),
    "nested-headers.toml": ("[" + "a." * DEEP + "b]\n", "nested more than 64 levels"),
    "nested-arrays.json": ('{"config": {"seed": ' + "[" * DEEP + "]" * DEEP + "}}", "nested more than 64"),
    "nested-objects.json": ('{"config": ' + '{"a": ' * DEEP + "1" + "}" * DEEP + "}", "nested more than 64"),
    "digits.toml": ("[config]\nseed = " + "7" * 5000 + "\n", "holds a number of more than 4300 digits"),
    "digits.json": ('{"config": {"seed": ' + "7" * 5000 + "}}", "holds a number of more than 4300 digits"),
    "huge-scale.toml": (
        "[config]\nweight_scale = 1" + "0" * 400 + "\n",
        "weight_scale must be greater than 0 and at most 100 (got an integer of 401 digits)",
    ),
    "huge-scale.json": (
        '{"weight_scale": 1' + "0" * 400 + "}",
        "weight_scale must be greater than 0 and at most 100 (got an integer of 401 digits)",
    ),
    "huge-seed.toml": (
        "seed = 1" + "0" * 400 + "\n",
        "seed must be between 0 and 4294967295 (got an integer of 401",
    ),
    "list-scale.toml": ("weight_scale = [[1.0]]\n", "weight_scale must be a number (got a list of 1 item)"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_CONFIGS))
def test_hostile_config_files_give_one_line(tmp_path: Path, name: str) -> None:
    text, message = HOSTILE_CONFIGS[name]
    error = _error(tmp_path / name, text)
    assert str(error).startswith(f"config file {tmp_path / name}: ")
    assert message in str(error)
    assert "\n" not in str(error) and len(str(error)) < 400


def test_huge_int_in_a_float_setting_names_the_field(tmp_path: Path) -> None:
    error = _error(tmp_path / "c.toml", "[config]\nlearning_rate = " + "9" * 320 + "\n")
    assert error.field == "learning_rate"


def test_millions_of_unknown_keys_are_answered_by_size(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    path.write_text("".join(f"k{i} = 1\n" for i in range(2_000_000)))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    size_mib = path.stat().st_size / 2**20
    assert str(caught.value) == (
        f"config file {path}: is {size_mib:.1f} MiB, too large for a config (the limit is 1.0 MiB)"
    )


def test_many_unknown_keys_under_the_limit_name_the_first_and_count_the_rest(tmp_path: Path) -> None:
    keys = [f"k{i:06d}" for i in range(50_000)]
    error = _error(tmp_path / "c.json", json.dumps(dict.fromkeys(reversed(keys), 1)))
    assert "unknown setting 'k000000' (and 49999 more unknown)" in str(error)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_named_pipe_as_config_is_refused_without_blocking(tmp_path: Path) -> None:
    pipe = tmp_path / "config.toml"
    os.mkfifo(pipe)
    with pytest.raises(ConfigError) as caught:
        load_config(pipe)  # opened with O_NONBLOCK after a stat: returns at once
    assert str(caught.value) == f"config file {pipe}: is a named pipe, not a file"


def test_device_as_config(tmp_path: Path) -> None:
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero here")
    link = tmp_path / "zero.toml"
    link.symlink_to("/dev/zero")
    with pytest.raises(ConfigError, match="is a device, not a file"):
        load_config(link)
