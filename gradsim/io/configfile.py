"""Config files: read and write a :class:`SimConfig` as TOML or JSON.

A file holds either the fields at top level::

    hidden_size = 32
    activation = "relu"

or, as preset files and files written by :func:`save_config` do, under a ``config`` table
(a ``preset`` table of descriptive text may sit beside it and is ignored here)::

    [config]
    hidden_size = 32

Fields a file leaves out keep the value of the ``base`` config (the defaults if none). Every
problem (unreadable or malformed file, unknown key, wrong type, value out of range) raises
:class:`ConfigError` with a message that names the file, the field and what is allowed.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from gradsim.engine.config import (
    CHOICES,
    FLOAT_RANGES,
    INT_RANGES,
    ConfigError,
    SimConfig,
    parse_value,
)
from gradsim.engine.safe_read import CONFIG_LIMIT, FileReadError, read_json, read_toml

from .atomic import atomic_write_text

__all__ = [
    "CONFIG_SUFFIXES",
    "ConfigError",
    "allowed_values",
    "apply_overrides",
    "config_from_mapping",
    "config_to_json",
    "config_values",
    "config_to_toml",
    "load_config",
    "save_config",
]

CONFIG_SUFFIXES = (".toml", ".json")
# Top-level tables a file may hold besides ``config``; their content is not a setting.
_IGNORED_TABLES = ("preset",)


def allowed_values(field: str | None) -> str | None:
    """What field ``field`` accepts, in words (``"a whole number from 1 to 16"``); None if unknown."""
    if field in INT_RANGES:
        first, last = INT_RANGES[field]
        return f"a whole number from {first} to {last}"
    if field in FLOAT_RANGES:
        low, high, low_inclusive = FLOAT_RANGES[field]
        bound = "at least" if low_inclusive else "greater than"
        return f"a number {bound} {low:g} and at most {high:g}"
    if field in CHOICES:
        return f"one of {', '.join(CHOICES[field])}"
    return None


def _explain(error: ConfigError, where: str) -> ConfigError:
    """``error`` prefixed with ``where``, with the allowed values added if it lacks them."""
    message = str(error)
    allowed = allowed_values(error.field)
    if allowed is not None and not _mentions_allowed(message, error.field):
        message = f"{message}; allowed: {allowed}"
    explained = ConfigError(f"{where}: {message}", error.field)
    explained.__cause__ = error
    return explained


def _mentions_allowed(message: str, field: str | None) -> bool:
    # The engine's messages state the range, bound or choices ("between 1 and 16", "greater than
    # 0 and at most 100", "one of ..."); this module's parse messages ("hidden_size must be a
    # number (got 'big')") do not, and get the allowed values added.
    del field
    return any(phrase in message for phrase in (" between ", " at least ", " at most ", " one of "))


def config_from_mapping(data: Mapping[str, Any], where: str, base: SimConfig | None = None) -> SimConfig:
    """Build a config from a parsed file's content (flat, or with a ``config`` table).

    Parameters
    ----------
    data : the parsed TOML/JSON document.
    where : how to name the source in messages (``"config file run.toml"``).
    base : the config whose values fill the fields ``data`` leaves out (defaults if None).
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a table of settings (got {type(data).__name__})")
    if "config" in data:
        settings = data["config"]
        if not isinstance(settings, Mapping):
            raise ConfigError(f"{where}: 'config' must be a table of settings", "config")
        extra = [key for key in data if key not in ("config", *_IGNORED_TABLES)]
        if extra:
            first = min(extra)
            raise ConfigError(
                f"{where}: unknown key {first[:80]!r} beside the [config] table; "
                f"settings belong inside [config]",
                first,
            )
    else:
        settings = {key: value for key, value in data.items() if key not in _IGNORED_TABLES}
    try:
        return SimConfig.from_dict(dict(settings), base=base)
    except ConfigError as error:
        raise _explain(error, where) from error


def load_config(path: str | os.PathLike[str], base: SimConfig | None = None) -> SimConfig:
    """Read a config from a ``.toml`` or ``.json`` file.

    Parameters
    ----------
    path : the file; its extension picks the format.
    base : values for the fields the file leaves out (defaults if None).

    Raises
    ------
    ConfigError
        The file cannot be read or parsed, or holds an unknown key or an invalid value. The
        message names the file and the field.
    """
    file = Path(os.fspath(path))
    where = f"config file {file}"
    suffix = file.suffix.lower()
    if suffix not in CONFIG_SUFFIXES:
        raise ConfigError(f"{where}: unknown file type {file.suffix or '(none)'!r}; use .toml or .json")
    try:
        if suffix == ".toml":
            data: Any = read_toml(file, CONFIG_LIMIT, "a config")
        else:
            data = read_json(file, CONFIG_LIMIT, "a config")
    except FileReadError as error:
        raise ConfigError(f"{where}: {error.reason}") from None
    return config_from_mapping(data, where, base)


def apply_overrides(config: SimConfig, assignments: Iterable[str]) -> SimConfig:
    """Apply ``KEY=VALUE`` settings (as given to ``--set``) to ``config``, all at once.

    Applying them together lets one override depend on another (``normalization=batch`` with
    ``batch_size=8`` when the current batch size is 1). A later assignment to the same key wins.

    Raises
    ------
    ConfigError
        Naming the assignment, the field and what it allows.
    """
    changes: dict[str, Any] = {}
    texts: dict[str, str] = {}
    for assignment in assignments:
        key, sep, text = assignment.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set expects KEY=VALUE (got {assignment!r})")
        try:
            changes[key] = parse_value(key, text.strip())
        except ConfigError as error:
            raise _explain(error, f"--set {assignment}") from error
        texts[key] = assignment
    if not changes:
        return config
    try:
        return SimConfig.from_dict(changes, base=config)
    except ConfigError as error:
        where = f"--set {texts[error.field]}" if error.field in texts else "--set"
        raise _explain(error, where) from error


_TOML_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _toml_string(text: str) -> str:
    """A TOML basic string; control characters (which TOML forbids raw, DEL included) escaped."""
    parts = []
    for char in text:
        if char in _TOML_ESCAPES:
            parts.append(_TOML_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            parts.append(f"\\u{ord(char):04x}")
        else:
            parts.append(char)
    return '"' + "".join(parts) + '"'


def _toml_value(value: Any) -> str:
    """A scalar as a TOML literal that reads back to exactly the same value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        # repr is the shortest text that reads back bit-identical; it always contains '.', 'e'
        # (or is inf/nan, handled above), so TOML reads it as a float, never an integer.
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    raise TypeError(f"cannot write {type(value).__name__} as a TOML scalar")


def config_values(config: SimConfig) -> dict[str, Any]:
    """``config.to_dict()`` with float fields as floats (a config built with ``weight_scale=2``
    holds the int 2; writing ``2.0`` keeps the file's types the same whatever the caller passed)."""
    kinds = {f.name: str(f.type) for f in fields(SimConfig)}
    values = config.to_dict()
    return {name: float(value) if kinds[name] == "float" else value for name, value in values.items()}


def config_to_toml(config: SimConfig, header: str | None = None) -> str:
    """The config as a TOML document with a ``[config]`` table, every field written.

    ``header`` becomes comment lines at the top. Floats are written so they read back
    bit-identical.
    """
    lines: list[str] = []
    if header:
        lines += [f"# {line}".rstrip() for line in header.splitlines()]
        lines.append("")
    lines.append("[config]")
    for name, value in config_values(config).items():
        lines.append(f"{name} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def config_to_json(config: SimConfig) -> str:
    """The config as a JSON document ``{"config": {...}}``, every field written."""
    return json.dumps({"config": config_values(config)}, indent=2, allow_nan=False) + "\n"


_DEFAULT_HEADER = "gradsim configuration. Use it with: gradsim run --config FILE"


def save_config(config: SimConfig, path: str | os.PathLike[str]) -> None:
    """Write ``config`` to ``path`` as TOML or JSON (by extension), atomically.

    Raises
    ------
    ConfigError
        The extension is neither ``.toml`` nor ``.json`` (nothing is written).
    gradsim.io.atomic.WriteError
        The file cannot be written; no file or partial file is left behind.
    """
    file = Path(os.fspath(path))
    suffix = file.suffix.lower()
    if suffix == ".toml":
        text = config_to_toml(config, header=_DEFAULT_HEADER)
    elif suffix == ".json":
        text = config_to_json(config)
    else:
        raise ConfigError(f"cannot save a config as {file.name}: the name must end in .toml or .json")
    atomic_write_text(file, text)
