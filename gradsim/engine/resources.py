"""What a run of a config costs, and whether this machine has it: memory, time, refusals.

:func:`memory_terms` models a training step's peak memory (``SimConfig.memory_bytes``, which
:func:`~gradsim.engine.config.validate` holds to :data:`MEMORY_LIMIT_BYTES`), :func:`step_seconds`
its time on this machine, and :func:`check_resources` holds a run to the memory free now, with a
message that names the setting to lower. Split from ``config.py``, which re-exports every name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .formatting import format_bytes

if TYPE_CHECKING:
    from .config import SimConfig

# A config whose training step would need more than this (SimConfig.memory_bytes, measured and
# modelled) is refused on any machine; the CLI and the window also hold a run to the memory the
# machine has free (see check_resources).
MEMORY_LIMIT_BYTES = 6 * 2**30
# A first step expected to take longer than this gets a warning before the run starts.
SLOW_STEP_SECONDS = 10.0

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
# "derivative_scratch"); the others never touch it, so it stays unmapped. tanh on the one-exp kernel
# (float64 where numpy's tanh is scalar, steps of 1024 values or more) writes its derivative step by
# step with the forward (Activation.derivative_in_forward) and needs none.
_DERIVATIVE_SCRATCH = ("sigmoid", "tanh")
# Activations whose derivative builds a (T, B, H) boolean mask (z > 0) while it runs.
_DERIVATIVE_MASK = ("elu", "leaky_relu")


def task_sizes(task: str) -> tuple[int, int]:
    """(input width, output width) of ``task``'s examples."""
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
      gradient arriving from outside the layer), plus the derivative scratch for sigmoid and
      float32 tanh;
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
    inputs, outputs = task_sizes(config.task)
    batch_norm = config.normalization == "batch"

    blocks = GATE_BLOCKS[config.cell]
    if config.cell == "rnn":
        per_layer = (3 * cells + batch * hidden) * size
        from .activations import make_activation  # numpy; config stays importable without it

        fused = make_activation(config.activation).derivative_in_forward(config.dtype, batch * hidden)
        shared = 3 + (1 if config.activation in _DERIVATIVE_SCRATCH and not fused else 0)
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


# The sizes a user may lower, in the order advice names them: the batch first (it changes what
# is shown least), the hidden size last (it changes the regime).
_SIZE_FIELDS = ("batch_size", "seq_len", "num_layers", "hidden_size")


def _fits(config: SimConfig, budget: int, **changes: int) -> bool:
    values = {**config.to_dict(), **changes}
    trial = object.__new__(type(config))  # skip validation: it is what is being probed
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
