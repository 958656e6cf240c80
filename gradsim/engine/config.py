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

from .formatting import format_bytes

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

# A config whose training step would need more than this (SimConfig.memory_bytes, measured and
# modelled) is refused on any machine; the CLI and the window also hold a run to the memory the
# machine has free (see check_resources).
MEMORY_LIMIT_BYTES = 6 * 2**30
# A first step expected to take longer than this gets a warning before the run starts.
SLOW_STEP_SECONDS = 10.0


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
        inputs, _ = _task_sizes(self.task)
        rows = self.seq_len * self.batch_size
        hidden = self.hidden_size
        total = 0
        for layer in range(self.num_layers):
            width = inputs if layer == 0 else hidden
            total += rows * hidden * (6 * hidden + 4 * width + (2 * width if layer > 0 else 0))
        return total * GATE_BLOCKS[self.cell]


# Row blocks of a cell's stacked weights (PyTorch's layout): its products are this many times wider.
GATE_BLOCKS = {"rnn": 1, "lstm": 4, "gru": 3}
# Per layer and per cell C = T B H, in numbers: what a gated forward pass keeps (the blocks' values
# G C, states, candidate pre-activations and derivatives, and LSTM's cells and tanh(c), GRU's
# hidden projection) and what its backward pass holds in scratch (dL/dh, the blocks' gradients
# G C, the gradient from outside, and LSTM's dL/dc, GRU's dL/dq; a step's own factors are (B, 4H) rows).
_GATED_CACHE = {"lstm": 9, "gru": 7}
_GATED_BACKWARD = {"lstm": 7, "gru": 6}

# Measured with benchmarks/bench_memory.py (peak RSS of a child process minus that of an
# interpreter that imported numpy and gradsim): the terms below are the engine's own arrays, counted
# from rnn.forward / rnn.backward_steps / Simulation.train_step, plus a fixed allowance for what
# BLAS and the allocator keep.
_FIXED_OVERHEAD_BYTES = 24 * 2**20
# Activations whose derivative writes through a (T, B, H) scratch array (rnn.forward's
# "derivative_scratch"); the others never touch it, so it stays unmapped.
_DERIVATIVE_SCRATCH = ("sigmoid", "tanh")
# Activations whose derivative builds a (T, B, H) boolean mask (z > 0) while it runs.
_DERIVATIVE_MASK = ("elu", "leaky_relu")


def _task_sizes(task: str) -> tuple[int, int]:
    from .tasks import make_task  # tasks imports numpy; config stays importable without it

    made = make_task(task)
    return made.input_size, made.output_size


def memory_terms(config: SimConfig) -> dict[str, int]:
    """The estimated peak memory of a training step, by what holds it (bytes).

    With ``C = T B H`` cells per layer and ``s`` bytes per number (8 in float64, 4 in float32),
    a training step keeps in its workspace:

    - ``cache``: per layer the pre-activations, the states (``T + 1`` steps) and the activation
      derivatives, ``3 C s`` (plus, with batch norm, the normalised values ``C s`` and ``1/std``);
    - ``backward``: three ``(T, B, H)`` buffers shared by the layers (``dL/dh``, ``dL/da`` and the
      gradient arriving from outside the layer), plus the derivative scratch for sigmoid/tanh;
      in float32 one float64 ``(T, B, H)`` copy for the norms of ``dL/dh``; a boolean
      ``(T, B, H)`` saturation mask (and for elu/leaky ReLU a second one while the derivative runs);
    - ``parameters``: weights, gradients, the update, the clipped copy, the optimiser's moments
      (momentum one, Adam two), and per parameter Adam's temporaries and float64 copies for norms;
    - ``fixed``: interpreter-side allowance.

    Gated cells (``G`` blocks): the cache is ``9 C s`` per layer for LSTM and ``7 C s`` for GRU
    (plus ``G C s`` normalised values with batch norm), the backward scratch ``7 C s`` / ``6 C s``
    shared by the layers plus three boolean ``(T, B, H)`` masks (saturation, gate statistics),
    and every weight matrix is ``G`` times taller.
    """
    size = 8 if config.dtype == "float64" else 4
    layers, hidden = config.num_layers, config.hidden_size
    steps, batch = config.seq_len, config.batch_size
    cells = steps * batch * hidden
    inputs, outputs = _task_sizes(config.task)
    batch_norm = config.normalization == "batch"

    blocks = GATE_BLOCKS[config.cell]
    if config.cell == "rnn":
        per_layer = (3 * cells + batch * hidden) * size
        shared = 3 + (1 if config.activation in _DERIVATIVE_SCRATCH else 0)
        masks = 1 + (1 if config.activation in _DERIVATIVE_MASK else 0)  # saturation (+ derivative)
    else:
        per_layer = (_GATED_CACHE[config.cell] * cells + 2 * batch * hidden) * size
        shared = _GATED_BACKWARD[config.cell]
        masks = 3  # saturation, and the two masks of the gate statistics
    if batch_norm:
        per_layer += blocks * (cells + steps * hidden) * size
    cache = layers * per_layer + steps * batch * inputs * size

    backward = shared * cells * size + masks * cells
    if size != 8:
        backward += 8 * cells

    weights = blocks * (hidden * inputs + (layers - 1) * hidden * hidden + layers * hidden * (hidden + 2))
    weights += outputs * (hidden + 1) + (2 * blocks * layers * hidden if batch_norm else 0)
    copies = 3 + (1 if config.clip_mode != "none" else 0)  # weights, gradients, update, clipped
    copies += {"sgd": 0, "momentum": 1, "adam": 2}[config.optimizer]  # the moments
    # One parameter at a time: Adam's temporaries, and float64 copies taken for norms.
    largest = blocks * max(hidden * hidden, hidden * inputs)
    transient = (4 if config.optimizer == "adam" else 1) * largest * size + 2 * 8 * largest
    parameters = copies * weights * size + transient
    return {"cache": cache, "backward": backward, "parameters": parameters, "fixed": _FIXED_OVERHEAD_BYTES}


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


# The sizes a user may lower, in the order advice names them: the batch first (it changes what
# is shown least), the hidden size last (it changes the regime).
_SIZE_FIELDS = ("batch_size", "seq_len", "num_layers", "hidden_size")


def _fits(config: SimConfig, budget: int, **changes: int) -> bool:
    values = {**config.to_dict(), **changes}
    trial = object.__new__(SimConfig)  # skip validation: it is what is being probed
    for name, value in values.items():
        object.__setattr__(trial, name, value)
    return trial.memory_bytes <= budget


def memory_culprit(config: SimConfig, budget: int = MEMORY_LIMIT_BYTES) -> str:
    """The size setting to lower first so that ``config`` fits in ``budget`` bytes."""
    for name in _SIZE_FIELDS:
        if _fits(config, budget, **{name: 1}):
            return name
    return _SIZE_FIELDS[0]


def memory_advice(config: SimConfig, budget: int) -> str:
    """Which setting to lower, and to what, for a training step to fit in ``budget`` bytes.

    ``"lower batch_size to 24 or less"``: the first of batch_size, seq_len, num_layers,
    hidden_size that alone can bring the estimate under ``budget`` (a bisection on the model).
    """
    for name in _SIZE_FIELDS:
        low, high = 1, getattr(config, name)
        if not _fits(config, budget, **{name: low}):
            continue
        while low < high:  # largest value that fits
            middle = (low + high + 1) // 2
            if _fits(config, budget, **{name: middle}):
                low = middle
            else:
                high = middle - 1
        return f"lower {name} to {low} or less"
    return "lower batch_size, seq_len, num_layers and hidden_size"


def memory_refusal(config: SimConfig, budget: int, what: str) -> str:
    """One line refusing ``config``: its estimate, ``what`` the budget is, and the setting to lower."""
    return (
        f"this run would need about {format_bytes(int(config.memory_bytes))} for a training step, "
        "more than "
        f"{what} ({format_bytes(int(budget))}); {memory_advice(config, budget)}"
    )


# -- time ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MachineSpeed:
    """How fast this machine runs the three kinds of work in a training step (measured once).

    Attributes
    ----------
    flops : matrix-product rate, FLOP/s
    numbers : elementwise rate, numbers/s (an ``exp`` and a product over an array larger than
        the caches)
    call : seconds per numpy call on a small array (the per-time-step loops' overhead)
    """

    flops: float
    numbers: float
    call: float


_machine_speed: MachineSpeed | None = None
# numpy calls per (layer, time step) in forward + backward, and elementwise passes over each
# (T, B, H) array of a layer (activation and derivative, the backward products, norms, masks).
_CALLS_PER_LAYER_STEP = 12
_CALLS_PER_LAYER_STEP_BATCH_NORM = 40
_ELEMENTWISE_PASSES = 30


def _median_seconds(work: Any, repeats: int = 5) -> float:
    import time

    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        samples.append(time.perf_counter() - start)
    return sorted(samples)[len(samples) // 2]


def machine_speed() -> MachineSpeed:
    """:class:`MachineSpeed` of this process, measured on first use (about 30 ms), then kept.

    The median of five short timings counts: on a shared machine the best one is the speed of a
    moment, not of a run.
    """
    global _machine_speed
    if _machine_speed is None:
        import numpy as np

        size, products = 128, 4
        a, b, out = np.ones((size, size)), np.ones((size, size)), np.empty((size, size))

        def matmuls() -> None:
            for _ in range(products):
                np.matmul(a, b, out=out)

        flops = 2 * size**3 * products / max(_median_seconds(matmuls), 1e-9)
        values = np.linspace(-1.0, 1.0, 1 << 18)
        scratch = np.empty_like(values)

        def elementwise() -> None:
            np.exp(values, out=scratch)
            np.multiply(scratch, values, out=scratch)

        numbers = 2 * values.size / max(_median_seconds(elementwise), 1e-9)
        small, small_out, calls = np.ones((16, 16)), np.empty((16, 16)), 200

        def tiny_calls() -> None:
            for _ in range(calls):
                np.add(small, small, out=small_out)

        call = _median_seconds(tiny_calls) / calls
        _machine_speed = MachineSpeed(max(flops, 1e8), max(numbers, 1e7), max(call, 1e-7))
    return _machine_speed


def step_seconds(config: SimConfig, speed: MachineSpeed | None = None) -> float:
    """Estimated wall time of one training step of ``config`` in seconds.

    ``step_flops`` over the matrix-product rate, plus the elementwise passes over every layer's
    ``(T, B, H)`` arrays, plus the numpy calls of the per-time-step loops; ``speed`` defaults to
    :func:`machine_speed`. The small per-step products run below the calibrated rate, and a loaded
    machine is slower still: read it as "about", not as a promise.
    """
    speed = machine_speed() if speed is None else speed
    cells = config.num_layers * config.seq_len * config.batch_size * config.hidden_size
    calls = _CALLS_PER_LAYER_STEP_BATCH_NORM if config.normalization == "batch" else _CALLS_PER_LAYER_STEP
    return (
        config.step_flops / speed.flops
        + _ELEMENTWISE_PASSES * cells / speed.numbers
        + calls * config.num_layers * config.seq_len * speed.call
    )


# -- the machine ----------------------------------------------------------------------------------


def available_memory_bytes() -> int | None:
    """Memory the machine can give a new run now (Linux ``MemAvailable``); None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


@dataclass(frozen=True)
class ResourceCheck:
    """What :func:`check_resources` found: a refusal (the run cannot fit) or warnings, one line each."""

    refusal: str | None
    warnings: tuple[str, ...]
    field: str | None = None  # the setting the refusal asks to lower


def check_resources(
    config: SimConfig, available: int | None = -1, seconds: float | None = None
) -> ResourceCheck:
    """Whether a run of ``config`` fits this machine, before it starts.

    Parameters
    ----------
    config : the run.
    available : free memory in bytes; -1 reads it (:func:`available_memory_bytes`), None means
        unknown (then only the fixed limit and the time are checked).
    seconds : the expected time of one step; None estimates it (:func:`step_seconds`).

    Returns
    -------
    ResourceCheck
        ``refusal`` if the estimate exceeds the free memory; warnings if it exceeds half of it,
        or if the first step should take more than :data:`SLOW_STEP_SECONDS`.
    """
    if available == -1:
        available = available_memory_bytes()
    needed = config.memory_bytes
    warnings: list[str] = []
    if available is not None:
        if needed > available:
            refusal = memory_refusal(config, available, "the memory free now")
            return ResourceCheck(refusal, (), memory_culprit(config, available))
        if needed > available / 2:
            warnings.append(
                f"this run needs about {format_bytes(int(needed))}, more than half the memory free now "
                f"({format_bytes(int(available))}); {memory_advice(config, available // 2)} "
                "to stay below half"
            )
    seconds = step_seconds(config) if seconds is None else seconds
    if seconds > SLOW_STEP_SECONDS:
        warnings.append(
            f"one training step of this run should take about {seconds:.0f} s; lower hidden_size, "
            "seq_len, batch_size or num_layers for a faster run"
        )
    return ResourceCheck(None, tuple(warnings))
