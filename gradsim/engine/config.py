"""The simulation's configuration: one frozen dataclass, validated in one place.

Every knob of the app maps to one field here. A :class:`SimConfig` is immutable; a changed
setting is a new config (``config.replace(hidden_size=64)``), which keeps the one-way flow
controls -> config -> engine.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields
from typing import Any

ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "linear")
INITS = ("gaussian", "xavier", "he", "orthogonal", "identity")
NORMALIZATIONS = ("none", "batch")
CLIP_MODES = ("none", "norm", "value")
OPTIMIZERS = ("sgd", "momentum", "adam")
TASKS = ("adding", "memory", "random")
DTYPES = ("float64", "float32")

# Inclusive ranges of the numeric fields: (low, high). Integers are checked as integers.
INT_RANGES: dict[str, tuple[int, int]] = {
    "num_layers": (1, 16),
    "hidden_size": (1, 1024),
    "seq_len": (1, 2000),
    "batch_size": (1, 1024),
    "seed": (0, 2**32 - 1),
}
# Float ranges: (low, high, low_inclusive).
FLOAT_RANGES: dict[str, tuple[float, float, bool]] = {
    "weight_scale": (0.0, 100.0, False),
    "leaky_slope": (0.0, 1.0, True),
    "clip_threshold": (0.0, 1e12, False),
    "learning_rate": (0.0, 100.0, False),
}
CHOICES: dict[str, tuple[str, ...]] = {
    "activation": ACTIVATIONS,
    "init": INITS,
    "normalization": NORMALIZATIONS,
    "clip_mode": CLIP_MODES,
    "optimizer": OPTIMIZERS,
    "task": TASKS,
    "dtype": DTYPES,
}

# The forward/backward cache holds about this many arrays of (T, B, H) per layer; a config
# whose cache would exceed MEMORY_LIMIT_BYTES is refused with a message instead of thrashing.
_CACHE_ARRAYS_PER_LAYER = 4
MEMORY_LIMIT_BYTES = 6 * 2**30


class ConfigError(ValueError):
    """A configuration value is invalid. ``field`` names it (``None`` for a combination)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class SimConfig:
    """Everything that determines a run: model, weights, fixes, training.

    Two configs that compare equal produce bit-identical runs.
    """

    # Model
    num_layers: int = 2
    hidden_size: int = 64
    seq_len: int = 50
    activation: str = "tanh"
    leaky_slope: float = 0.01
    # Weights
    init: str = "gaussian"
    weight_scale: float = 1.0
    # Fixes
    normalization: str = "none"
    clip_mode: str = "none"
    clip_threshold: float = 1.0
    # Training
    task: str = "adding"
    optimizer: str = "sgd"
    learning_rate: float = 0.01
    batch_size: int = 16
    seed: int = 0
    dtype: str = "float64"

    def __post_init__(self) -> None:
        validate(self)

    def replace(self, **changes: Any) -> SimConfig:
        """A copy with some fields changed, validated again."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain ``{field: value}`` in declaration order."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any], base: SimConfig | None = None) -> SimConfig:
        """Build a config from ``data``, starting from ``base`` (default values if None).

        Unknown keys are errors. Integer fields accept integral floats (``2.0``); numbers given
        as strings are not accepted, so a typo never silently becomes a default.
        """
        known = field_names()
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ConfigError(
                f"unknown setting {unknown[0]!r}; known settings: {', '.join(known)}",
                unknown[0],
            )
        values = (base or cls()).to_dict()
        for name, value in data.items():
            values[name] = coerce_value(name, value)
        return cls(**values)

    @property
    def memory_bytes(self) -> int:
        """Estimated size of the forward/backward cache in bytes."""
        item = 8 if self.dtype == "float64" else 4
        cells = self.num_layers * self.seq_len * self.batch_size * self.hidden_size
        return _CACHE_ARRAYS_PER_LAYER * cells * item


def field_names() -> tuple[str, ...]:
    """Names of all config fields, in declaration order."""
    return tuple(f.name for f in fields(SimConfig))


def _field_types() -> dict[str, type]:
    types = {}
    for f in fields(SimConfig):
        types[f.name] = {"int": int, "float": float, "str": str}[str(f.type)]
    return types


def coerce_value(name: str, value: Any) -> Any:
    """Convert ``value`` to the type of field ``name``, or raise :class:`ConfigError`."""
    types = _field_types()
    if name not in types:
        raise ConfigError(f"unknown setting {name!r}; known settings: {', '.join(types)}", name)
    kind = types[name]
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"{name} must be text, one of {', '.join(CHOICES[name])} (got {value!r})", name)
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a number (got {value!r})", name)
    if kind is int:
        if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
            raise ConfigError(f"{name} must be a whole number (got {value!r})", name)
        return int(value)
    return float(value)


def parse_value(name: str, text: str) -> Any:
    """Parse a ``--set KEY=VALUE`` style string for field ``name``."""
    types = _field_types()
    if name not in types:
        raise ConfigError(f"unknown setting {name!r}; known settings: {', '.join(types)}", name)
    kind = types[name]
    if kind is str:
        return text
    try:
        number = float(text)
    except ValueError:
        raise ConfigError(f"{name} must be a number (got {text!r})", name) from None
    return coerce_value(name, number)


def validate(config: SimConfig) -> None:
    """Raise :class:`ConfigError` with a readable message if any value is out of range."""
    for name, (low, high) in INT_RANGES.items():
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name} must be a whole number between {low} and {high} (got {value!r})", name)
        if not low <= value <= high:
            raise ConfigError(f"{name} must be between {low} and {high} (got {value})", name)
    for name, (low, high, low_inclusive) in FLOAT_RANGES.items():
        value = getattr(config, name)
        bound = "at least" if low_inclusive else "greater than"
        allowed = f"{bound} {low:g} and at most {high:g}"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name} must be a number {allowed} (got {value!r})", name)
        if not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number {allowed} (got {value})", name)
        above_low = value >= low if low_inclusive else value > low
        if not (above_low and value <= high):
            raise ConfigError(f"{name} must be {allowed} (got {value:g})", name)
    for name, allowed in CHOICES.items():
        value = getattr(config, name)
        if value not in allowed:
            raise ConfigError(f"{name} must be one of {', '.join(allowed)} (got {value!r})", name)
    if config.normalization == "batch" and config.batch_size < 2:
        raise ConfigError(
            "batch norm needs batch_size of at least 2 (its statistics are taken over the batch)",
            "batch_size",
        )
    if config.memory_bytes > MEMORY_LIMIT_BYTES:
        raise ConfigError(
            f"this run would need about {config.memory_bytes / 2**30:.1f} GiB for backpropagation "
            f"through time (limit {MEMORY_LIMIT_BYTES / 2**30:.0f} GiB); reduce the layers, hidden "
            "size, sequence length or batch size",
            None,
        )
