"""Fuzzing every reader: random bytes, random JSON/TOML values and mutations of valid files.

Each reader must either return a valid result or raise its one-line error type (ConfigError,
RunFileError, SweepFileError, LessonError) -- never another exception, never a hang. Hypothesis'
``deadline`` bounds each example's time; ``max_examples`` keeps each test at a few seconds.
"""

from __future__ import annotations

import io
import json
import string
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradsim.engine.config import ConfigError, SimConfig
from gradsim.engine.lessons import LessonError, read_lesson
from gradsim.engine.presets import Preset
from gradsim.engine.presets import _read as read_preset_file
from gradsim.engine.simulation import Simulation
from gradsim.engine.sweep import SweepAxis, SweepSpec, run_sweep
from gradsim.io.configfile import _toml_value as toml_scalar
from gradsim.io.configfile import config_to_json, config_to_toml, load_config
from gradsim.io.runexport import RunData, RunFileError, read_run, run_to_json, write_npz
from gradsim.io.sweepfile import SweepFileError, SweepGrid, read_sweep, write_sweep_csv, write_sweep_npz

# Generous per-example bound: the machine is shared, and a hang or a quadratic blow-up is what
# this catches (those take seconds to minutes), not a slow millisecond.
FUZZ = settings(
    max_examples=40,
    deadline=3000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)

HEALTHY = SimConfig(
    num_layers=2, hidden_size=5, seq_len=6, batch_size=3, clip_mode="norm", clip_threshold=5.0
)
_SIMULATION = Simulation(HEALTHY)
RECORDS = [record for record in (_SIMULATION.train_step(), _SIMULATION.train_step()) if record is not None]
SWEEP = run_sweep(
    SweepSpec(
        SimConfig(num_layers=1, hidden_size=4, seq_len=6, batch_size=2, activation="linear", task="random"),
        SweepAxis("weight_scale", (0.5, 1.5)),
        SweepAxis("seq_len", (3, 6)),
        0,
        1,
    )
)


def _bytes_of(write: Callable[[Path], None], suffix: str) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"file{suffix}"
        write(path)
        return path.read_bytes()


VALID = {
    "config.toml": config_to_toml(HEALTHY).encode(),
    "config.json": config_to_json(HEALTHY).encode(),
    "run.json": run_to_json(RECORDS, HEALTHY).encode(),
    "run.npz": _bytes_of(lambda p: write_npz(p, RECORDS, HEALTHY), ".npz"),
    "sweep.csv": _bytes_of(lambda p: write_sweep_csv(p, SWEEP), ".csv"),
    "sweep.npz": _bytes_of(lambda p: write_sweep_npz(p, SWEEP), ".npz"),
}


def read_any(name: str, data: bytes) -> object:
    """Write ``data`` as ``name`` in a fresh folder and read it with gradsim's reader for it."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        if name.startswith("config"):
            return load_config(path)
        if name.startswith("run"):
            return read_run(path)
        if name.startswith("sweep"):
            return read_sweep(path)
        if name.startswith("preset"):
            return read_preset_file(path)
        if name[:2].isdigit():
            return read_lesson(path, preset_names=["default"])
        raise AssertionError(name)


EXPECTED = {
    "config": (ConfigError, SimConfig),
    "run": (RunFileError, RunData),
    "sweep": (SweepFileError, (SweepGrid, type(SWEEP))),
    "preset": (ConfigError, Preset),
    "01": (LessonError, object),
}


def check(name: str, data: bytes) -> None:
    """The reader gives a valid result or its one-line error; anything else fails the test."""
    error_type, result_type = next(value for key, value in EXPECTED.items() if name.startswith(key))
    try:
        result = read_any(name, data)
    except error_type as error:
        message = str(error)
        assert message and "\n" not in message.strip(), message
        assert len(message) < 2000, message[:200]
        return
    assert isinstance(result, result_type)


READER_FILES = [*VALID, "preset-x.toml", "01-lesson.toml"]


# -- random bytes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", READER_FILES)
@FUZZ
@given(data=st.binary(max_size=2048))
def test_random_bytes(name: str, data: bytes) -> None:
    check(name, data)


@pytest.mark.parametrize("name", ["run.npz", "sweep.npz"])
@FUZZ
@given(data=st.binary(max_size=512))
def test_random_bytes_inside_a_zip_member(name: str, data: bytes) -> None:
    # Past the zip layer: a well-formed archive whose members are garbage or half .npy headers.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("format.npy", data)
        archive.writestr("version.npy", b"\x93NUMPY\x01\x00" + data)
    check(name, buffer.getvalue())


# -- random JSON and TOML values ------------------------------------------------------------------

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.sampled_from([10**400, -(10**400), 2**63, 2**64 + 1])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["inf", "-inf", "nan", "tanh", "gradsim-run", "gradsim-sweep"])
)
KEYS = st.sampled_from(
    [*SimConfig().to_dict(), "config", "preset", "format", "version", "records"]
) | st.text(max_size=8)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(KEYS, inner, max_size=6),
    max_leaves=30,
)


def _json_text(value: Any) -> str:
    # json.dumps writes NaN/Infinity (Python's JSON accepts them back); huge ints as digits.
    return json.dumps(value)


@pytest.mark.parametrize("name", ["config.json", "run.json"])
@FUZZ
@given(value=JSON_VALUES)
def test_random_json_values(name: str, value: Any) -> None:
    check(name, _json_text(value).encode())


@pytest.mark.parametrize("name", ["config.json", "run.json"])
@FUZZ
@given(settings_=st.dictionaries(KEYS, JSON_VALUES, max_size=8))
def test_random_json_tables_under_the_expected_keys(name: str, settings_: dict) -> None:
    wrapped = (
        {"config": settings_}
        if name == "config.json"
        else {"format": "gradsim-run", "version": 1, **settings_}
    )
    check(name, _json_text(wrapped).encode())


def _toml_key(key: str) -> str:
    return (
        key if key and all(c in string.ascii_letters + string.digits + "_-" for c in key) else json.dumps(key)
    )


class Digits:
    """An integer literal of ``count`` digits (an int object that long could not even be shown)."""

    def __init__(self, count: int) -> None:
        self.count = count

    def __repr__(self) -> str:
        return f"Digits({self.count})"


def _toml_value(value: Any) -> str:
    """A TOML literal for ``value``: a scalar as the config writer writes it, arrays and inline
    tables of them, ``Digits``, and None (which has none: written as an empty array)."""
    if isinstance(value, Digits):
        return "7" * value.count
    if value is None:
        return "[]"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    return toml_scalar(value)


TOML_TEXT = st.text(alphabet=string.printable, max_size=20)
TOML_SCALARS = (
    st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.sampled_from([10**400, Digits(4301), Digits(6000)])
    | st.floats(allow_nan=True, allow_infinity=True)
    | TOML_TEXT
)
TOML_VALUES = st.recursive(
    TOML_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=20,
)


@pytest.mark.parametrize("name", ["config.toml", "preset-x.toml", "01-lesson.toml"])
@FUZZ
@given(
    table=st.dictionaries(KEYS, TOML_VALUES, max_size=8),
    section=st.sampled_from(["", "[config]\n", "[preset]\n"]),
)
def test_random_toml_values(name: str, table: dict, section: str) -> None:
    lines = [f"{_toml_key(key)} = {_toml_value(value)}" for key, value in table.items()]
    check(name, (section + "\n".join(lines) + "\n").encode())


# -- structured mutations of valid files ---------------------------------------------------------


@st.composite
def text_mutation(draw: st.DrawFn, original: bytes) -> bytes:
    """A valid file with one edit: a line replaced, deleted or repeated, a cut, an insertion."""
    lines = original.split(b"\n")
    kind = draw(st.sampled_from(["replace", "delete", "repeat", "truncate", "insert", "nest"]))
    index = draw(st.integers(0, len(lines) - 1))
    if kind == "replace":
        key = lines[index].split(b"=")[0].split(b":")[0]
        value = _toml_value(draw(TOML_VALUES)).encode()
        lines[index] = key + (b"= " if b"=" in lines[index] else b": ") + value
    elif kind == "delete":
        del lines[index]
    elif kind == "repeat":
        lines.insert(index, lines[index])
    elif kind == "truncate":
        return original[: draw(st.integers(0, len(original)))]
    elif kind == "insert":
        position = draw(st.integers(0, len(original)))
        return original[:position] + draw(st.binary(min_size=1, max_size=8)) + original[position:]
    else:  # a value wrapped in brackets, deep
        depth = draw(st.integers(1, 5000))
        lines[index] = lines[index].replace(b"= ", b"= " + b"[" * depth, 1) + b"]" * depth
    return b"\n".join(lines)


@pytest.mark.parametrize("name", ["config.toml", "config.json", "sweep.csv"])
@FUZZ
@given(data=st.data())
def test_mutated_text_files(name: str, data: st.DataObject) -> None:
    check(name, data.draw(text_mutation(VALID[name])))


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:3]):
            found += _paths(item, (*prefix, index))
    return found


RUN_DOCUMENT = json.loads(VALID["run.json"])
RUN_PATHS = _paths(RUN_DOCUMENT)


@FUZZ
@given(path=st.sampled_from(RUN_PATHS), value=JSON_VALUES, delete=st.booleans())
def test_mutated_json_export(path: tuple, value: Any, delete: bool) -> None:
    document = json.loads(VALID["run.json"])
    if not path:
        document = value
    else:
        parent = document
        for key in path[:-1]:
            parent = parent[key]
        if delete and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = value
    check("run.json", _json_text(document).encode())


def _npz(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


ARRAYS = st.one_of(
    st.builds(np.array, SCALARS.filter(lambda v: not (isinstance(v, int) and abs(v) > 2**62))),
    st.builds(
        lambda n, d: np.zeros(n, dtype=d),
        st.integers(0, 5),
        st.sampled_from(["f8", "f4", "i8", "u1", "U3", "?"]),
    ),
    st.builds(lambda shape: np.ones(shape), st.lists(st.integers(0, 3), max_size=4).map(tuple)),
)


@pytest.mark.parametrize("name", ["run.npz", "sweep.npz"])
@FUZZ
@given(data=st.data())
def test_mutated_npz(name: str, data: st.DataObject) -> None:
    with np.load(io.BytesIO(VALID[name]), allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    kind = data.draw(st.sampled_from(["drop", "replace", "add", "bytes"]))
    key = data.draw(st.sampled_from(sorted(arrays)))
    if kind == "drop":
        del arrays[key]
    elif kind in ("replace", "add"):
        arrays[
            key if kind == "replace" else data.draw(st.text(string.ascii_lowercase, min_size=1, max_size=6))
        ] = data.draw(ARRAYS)
    else:
        raw = bytearray(VALID[name])
        for _ in range(data.draw(st.integers(1, 8))):
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
        check(name, bytes(raw))
        return
    check(name, _npz(arrays))


def test_the_valid_files_read_back() -> None:
    # The mutations start from files every reader accepts (else the fuzzing proves little).
    for name in VALID:
        result = read_any(name, VALID[name])
        assert result is not None
    assert read_any("config.toml", VALID["config.toml"]) == HEALTHY
    assert len(read_any("run.json", VALID["run.json"]).records) == 2
