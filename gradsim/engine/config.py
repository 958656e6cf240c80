"""The simulation's configuration: one frozen dataclass, validated in one place.

Every knob of the app maps to one field here. A :class:`SimConfig` is immutable; a changed
setting is a new config (``config.replace(hidden_size=64)``), which keeps the one-way flow
controls -> config -> engine.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from .resources import (
    GATE_BLOCKS,
    MEMORY_LIMIT_BYTES,
    SLOW_STEP_SECONDS,
    MachineSpeed,
    ResourceCheck,
    available_memory_bytes,
    check_resources,
    machine_speed,
    memory_advice,
    memory_culprit,
    memory_refusal,
    memory_terms,
    step_seconds,
    task_sizes,
)

# The costs of a run (memory, time, the machine) live in resources.py; importable here as before.
__all__ = [
    "ACTIVATIONS",
    "CELLS",
    "CHOICES",
    "CLIP_MODES",
    "DTYPES",
    "FLOAT_RANGES",
    "GATE_BLOCKS",
    "INITS",
    "INT_RANGES",
    "MEMORY_LIMIT_BYTES",
    "NORMALIZATIONS",
    "OPTIMIZERS",
    "SLOW_STEP_SECONDS",
    "TASKS",
    "ConfigError",
    "MachineSpeed",
    "ResourceCheck",
    "SimConfig",
    "available_memory_bytes",
    "check_resources",
    "coerce_value",
    "describe_config",
    "field_names",
    "machine_speed",
    "memory_advice",
    "memory_culprit",
    "memory_refusal",
    "memory_terms",
    "parse_value",
    "short_repr",
    "step_seconds",
    "validate",
]

# "rnn" is the vanilla (Elman) RNN; "lstm" and "gru" are PyTorch's gated cells (gates.py).
CELLS = ("rnn", "lstm", "gru")
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
    "forget_bias": (-50.0, 50.0, True),
}
CHOICES: dict[str, tuple[str, ...]] = {
    "cell": CELLS,
    "activation": ACTIVATIONS,
    "init": INITS,
    "normalization": NORMALIZATIONS,
    "clip_mode": CLIP_MODES,
    "optimizer": OPTIMIZERS,
    "task": TASKS,
    "dtype": DTYPES,
}


class ConfigError(ValueError):
    """A configuration value is invalid. ``field`` names it (``None`` for a combination)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class SimConfig:
    """Everything that determines a run: model, weights, fixes, training.

    Two configs that compare equal produce bit-identical runs.

    ``cell`` picks the recurrent cell: ``"rnn"`` (``h = f(W_ih x + W_hh h + b)``, with
    ``activation`` as ``f``), ``"lstm"`` or ``"gru"`` (PyTorch's equations; their gates are
    sigmoid and their candidate tanh, so ``activation`` and ``leaky_slope`` play no part).
    ``forget_bias`` is added to the LSTM's forget-gate bias at initialisation (1.0 is the
    classic recommendation, 0 PyTorch's); other cells ignore it.
    """

    # Model
    cell: str = "rnn"
    num_layers: int = 2
    hidden_size: int = 64
    seq_len: int = 50
    activation: str = "tanh"
    leaky_slope: float = 0.01
    # Weights
    init: str = "gaussian"
    weight_scale: float = 1.0
    forget_bias: float = 0.0
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
        if not isinstance(data, Mapping):
            raise ConfigError(f"expected a table of settings (got {short_repr(data)})")
        known = field_names()
        known_set = set(known)
        # One pass, no sort: a file of millions of keys is answered in linear time.
        unknown = [key for key in data if key not in known_set]
        if unknown:
            first = min(unknown, key=str)
            more = f" (and {len(unknown) - 1} more unknown)" if len(unknown) > 1 else ""
            raise ConfigError(
                f"unknown setting {short_repr(first)}{more}; known settings: {', '.join(known)}",
                str(first),
            )
        values = (base or cls()).to_dict()
        for name, value in data.items():
            values[name] = coerce_value(name, value)
        return cls(**values)

    @property
    def memory_bytes(self) -> int:
        """Estimated peak memory of a training step in bytes (see :func:`memory_terms`)."""
        return sum(memory_terms(self).values())

    @property
    def step_flops(self) -> int:
        """Floating-point operations of the matrix products of one training step.

        Per layer with input width ``I``: the input projection ``2 T B H I``, the recurrence
        ``2 T B H^2``, and backward the carry through ``W_hh`` ``2 T B H^2``, ``dW_hh`` ``2 T B H^2``,
        ``dW_ih`` ``2 T B H I`` and (above layer 0) the gradient sent down ``2 T B H I``; a gated
        cell's products have ``G H`` rows instead of ``H`` (``G`` = 4 for LSTM, 3 for GRU).
        """
        inputs, _ = task_sizes(self.task)
        rows = self.seq_len * self.batch_size
        hidden = self.hidden_size
        total = 0
        for layer in range(self.num_layers):
            width = inputs if layer == 0 else hidden
            total += rows * hidden * (6 * hidden + 4 * width + (2 * width if layer > 0 else 0))
        return total * GATE_BLOCKS[self.cell]


def field_names() -> tuple[str, ...]:
    """Names of all config fields, in declaration order."""
    return tuple(f.name for f in fields(SimConfig))


def _field_types() -> dict[str, type]:
    types = {}
    for f in fields(SimConfig):
        types[f.name] = {"int": int, "float": float, "str": str}[str(f.type)]
    return types


def _field_type(name: str) -> type:
    types = _field_types()
    if name not in types:
        raise ConfigError(f"unknown setting {name!r}; known settings: {', '.join(types)}", name)
    return types[name]


def coerce_value(name: str, value: Any) -> Any:
    """Convert ``value`` to the type of field ``name``, or raise :class:`ConfigError`."""
    kind = _field_type(name)
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(
                f"{name} must be text, one of {', '.join(CHOICES[name])} (got {short_repr(value)})", name
            )
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a number (got {short_repr(value)})", name)
    if kind is int:
        if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
            raise ConfigError(f"{name} must be a whole number (got {value!r})", name)
        return int(value)
    try:
        return float(value)
    except OverflowError:
        # An integer past float range (weight_scale = 10**400): say the range, not the exception.
        raise ConfigError(
            f"{name} must be {_float_allowed(name)} (got an integer of {_digits(int(value))} digits)", name
        ) from None


def _float_allowed(name: str) -> str:
    low, high, low_inclusive = FLOAT_RANGES[name]
    return f"{'at least' if low_inclusive else 'greater than'} {low:g} and at most {high:g}"


def _digits(value: int) -> int:
    # len(str(value)) would itself fail past the int conversion digit limit.
    return max(1, math.floor(abs(value).bit_length() * math.log10(2)) + 1)


def _is_small_scalar(value: Any) -> bool:
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return True
    if isinstance(value, int):
        return abs(value) < 10**30
    return isinstance(value, str) and len(value) <= 80


def short_repr(value: Any) -> str:
    """``repr(value)`` for a one-line message, bounded: files may hold huge or deeply nested values.

    Tables and lists are described by their length, integers past 30 digits by their number of
    digits (``repr`` itself fails past Python's digit limit), anything else cut at 80 characters.
    """
    if isinstance(value, (dict, list)):
        items = list(value.items()) if isinstance(value, dict) else value
        flat = [part for item in items for part in (item if isinstance(value, dict) else (item,))]
        if len(items) > 8 or not all(_is_small_scalar(part) for part in flat):
            if isinstance(value, dict):
                return f"a table of {len(value)} entr{'y' if len(value) == 1 else 'ies'}"
            return f"a list of {len(value)} item{'' if len(value) == 1 else 's'}"
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**30:
        return f"an integer of {_digits(value)} digits"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def parse_value(name: str, text: str) -> Any:
    """Parse a ``--set KEY=VALUE`` style string for field ``name``."""
    kind = _field_type(name)
    if kind is str:
        return text
    try:
        number = float(text)
    except ValueError:
        raise ConfigError(f"{name} must be a number (got {text!r})", name) from None
    return coerce_value(name, number)


def describe_config(config: SimConfig, *, base: bool = False) -> str:
    """The config in one line, as a run's summary names it or (``base``) as a sweep's base.

    A run: ``"2 layers x 64 units, 50 time steps, tanh, orthogonal init x 1, sgd lr 0.01"``. A
    sweep's base names every setting the sweep does not vary, activation first: ``"tanh,
    orthogonal init × 1, 2 layers × 64 units, T = 50, batch 16, adding task, sgd lr 0.01, seed 0"``.
    Both add ``", batch norm"`` and ``", clip by norm at 1"`` before the optimiser where they apply.
    """
    layers = f"{config.num_layers} layer{'s' if config.num_layers > 1 else ''}"
    if base:
        text = (
            f"{config.activation}, {config.init} init × {config.weight_scale:g}, {layers} × "
            f"{config.hidden_size} units, T = {config.seq_len}, batch {config.batch_size}, {config.task} task"
        )
    else:
        text = (
            f"{layers} x {config.hidden_size} units, {config.seq_len} time steps, {config.activation}, "
            f"{config.init} init x {config.weight_scale:g}"
        )
    if config.normalization == "batch":
        text += ", batch norm"
    if config.clip_mode != "none":
        text += f", clip by {config.clip_mode} at {config.clip_threshold:g}"
    text += f", {config.optimizer} lr {config.learning_rate:g}"
    return text + (f", seed {config.seed}" if base else "")


def validate(config: SimConfig) -> None:
    """Raise :class:`ConfigError` with a readable message if any value is out of range."""
    low: float  # the integer ranges' bounds, then the float ranges'
    high: float
    for name, (low, high) in INT_RANGES.items():
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(
                f"{name} must be a whole number between {low} and {high} (got {short_repr(value)})", name
            )
        if not low <= value <= high:
            raise ConfigError(f"{name} must be between {low} and {high} (got {short_repr(value)})", name)
    for name, (low, high, low_inclusive) in FLOAT_RANGES.items():
        value = getattr(config, name)
        bound = "at least" if low_inclusive else "greater than"
        allowed = f"{bound} {low:g} and at most {high:g}"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name} must be a number {allowed} (got {short_repr(value)})", name)
        if isinstance(value, int) and abs(value) > 2**1023:
            raise ConfigError(f"{name} must be {allowed} (got {short_repr(value)})", name)
        if not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number {allowed} (got {value})", name)
        above_low = value >= low if low_inclusive else value > low
        if not (above_low and value <= high):
            raise ConfigError(f"{name} must be {allowed} (got {value:g})", name)
    for name, choices in CHOICES.items():
        value = getattr(config, name)
        if value not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)} (got {short_repr(value)})", name)
    if config.normalization == "batch" and config.batch_size < 2:
        raise ConfigError(
            "batch norm needs batch_size of at least 2 (its statistics are taken over the batch)",
            "batch_size",
        )
    if config.memory_bytes > MEMORY_LIMIT_BYTES:
        raise ConfigError(memory_refusal(config, MEMORY_LIMIT_BYTES, "the limit"), memory_culprit(config))
