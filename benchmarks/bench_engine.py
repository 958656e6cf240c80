"""Engine speed: one training step against the bare matrix products it needs.

Run by hand::

    python3 benchmarks/bench_engine.py [--repeats 15] [--warmup 3] [--dtypes float64 float32]
        [--sizes 32x128x100x2 ...] [--threads N] [--clock wall|cpu] [--no-torch] [--no-breakdown]
        [--reuse-freed-memory]

For each size (batch x hidden x seq_len x layers; tanh, adding task, SGD, no clipping, no
normalisation) and dtype, in the same run and interleaved round by round so that both see the
same machine:

- ``fwd+bwd``: forward, loss and backward on one fixed batch as ``Simulation.train_step`` runs
  them, in an ``rnn.Workspace`` whose arrays are reused from call to call;
- ``fresh``: ``Simulation.forward_backward`` on the same batch, which hands its cache and
  gradients to the caller and so allocates them anew on every call (only its intermediates are
  reused);
- ``train``: ``Simulation.train_step`` (draws a batch, spectral norms, forward/backward,
  gradient norms and clipping check, update and the whole ``StepRecord``); ``train/floor`` is
  the record's cost the issue bounds (aim: at most 1.3 at B=32, H=128/256/512, T=100, L=2);
- the *floor*: only the matrix products such a step needs, on preallocated arrays. Forward, per
  layer: one ``(T*B, I) x (I, H)`` input projection and ``T`` products ``(B, H) x (H, H)``;
  backward, per layer: ``T`` products ``(B, H) x (H, H)``, then ``dW_hh``, ``dW_ih`` and (above
  layer 0) the gradient sent to the layer below, one product each. The readout is left out
  (``(B, H) x (H, O)`` with ``O <= 8``, negligible).

``--clock cpu`` times with the process's CPU time instead of wall time: on a machine shared with
other work the wall time of a run includes waiting for a core. It counts every thread, so use it
with ``--threads 1`` (else BLAS threads add up).

Each figure is the median of ``--repeats`` timed runs after ``--warmup`` untimed ones; the
ratio engine / floor is the engine's overhead over the products it cannot avoid (issue 2 aims
for under 1.5 at H >= 128); "(best)" is ``fwd+bwd / floor`` from the fastest run of each, a
check when another process shares the machine. The breakdown splits a step into the engine's
own functions and counts the minor page faults of one ``fwd+bwd`` and one ``fresh`` call:
memory touched fresh from the system, which costs about 1-2 us per 4 KiB page here. ``--reuse-freed-memory``
(glibc only) makes malloc keep freed blocks, so the difference it makes is the cost of those
fresh allocations.

If PyTorch imports (the optional ``bench`` extra: ``pip install torch==2.13.0``), the same
sizes are timed with ``torch.nn.RNN`` (tanh, CPU, ``torch.set_num_threads(2)``), forward and
backward of a last-step MSE loss through a linear readout, after all numpy timings, and the
table shows ``fwd+bwd / torch`` (below 1: the numpy engine is faster).

BLAS: the run starts by printing numpy's BLAS library, its threads and the kernel it chose.
Where ``OPENBLAS_CORETYPE`` / ``OPENBLAS_L2_SIZE`` are set (some machines here set them to dodge
bugs of older OpenBLAS builds), they force a slower kernel on a current numpy; to see the
figures with the kernel numpy picks by itself, unset both in that one command::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 benchmarks/bench_engine.py

Never change them in tests or CI.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from gradsim.engine import rnn
from gradsim.engine.config import SimConfig
from gradsim.engine.simulation import Simulation

OPENBLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
TORCH_THREADS = 2


@dataclass(frozen=True)
class Size:
    """One benchmark configuration: batch, hidden size, sequence length, layers."""

    batch: int
    hidden: int
    seq_len: int
    layers: int

    @classmethod
    def parse(cls, text: str) -> Size:
        """``"32x128x100x2"`` -> ``Size(32, 128, 100, 2)`` (B x H x T x L)."""
        parts = text.lower().split("x")
        if len(parts) != 4 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
            raise argparse.ArgumentTypeError(f"size must be BxHxTxL with positive integers (got {text!r})")
        return cls(*(int(p) for p in parts))

    @property
    def label(self) -> str:
        return f"B={self.batch} H={self.hidden} T={self.seq_len} L={self.layers}"


DEFAULT_SIZES = (
    Size(32, 128, 100, 2),
    Size(32, 256, 100, 2),
    Size(32, 512, 100, 2),
    Size(16, 64, 200, 4),
    Size(64, 512, 50, 1),
)


def make_config(size: Size, dtype: str) -> SimConfig:
    """The benchmarked config at ``size``: tanh, gaussian init, adding task, SGD, no extras."""
    return SimConfig(
        batch_size=size.batch,
        hidden_size=size.hidden,
        seq_len=size.seq_len,
        num_layers=size.layers,
        activation="tanh",
        init="gaussian",
        weight_scale=1.0,
        normalization="none",
        clip_mode="none",
        task="adding",
        optimizer="sgd",
        learning_rate=0.01,
        dtype=dtype,
    )


class MatmulFloor:
    """The matrix products of one forward/backward pass, on preallocated arrays.

    Operands have the engine's shapes and time-major ``(T, B, H)`` layout. The forward
    products take ``W.T`` as a contiguous copy (made once, outside the timing): that is the
    fastest layout for them (OpenBLAS runs ``x @ W.T`` with the transposed view 10-30% slower
    at these shapes), so the floor is what the products cost at the least, not a copy of how
    the engine happens to call them.

    Parameters
    ----------
    size : the configuration
    input_size : I of layer 0 (the task's input width)
    dtype : float64 or float32
    rng : fills the operands (values in [-1, 1), as hidden states are for tanh)
    """

    def __init__(self, size: Size, input_size: int, dtype: np.dtype | str, rng: np.random.Generator) -> None:
        steps, batch, hidden = size.seq_len, size.batch, size.hidden
        self.layers: list[dict[str, np.ndarray]] = []

        def uniform(*shape: int, scale: float = 1.0) -> np.ndarray:
            # Scaled before the cast: a float64 scalar would promote float32 operands, and a
            # mixed-dtype product leaves BLAS.
            return (scale * rng.uniform(-1.0, 1.0, size=shape)).astype(dtype)

        for layer in range(size.layers):
            width = input_size if layer == 0 else hidden
            arrays = {
                # forward operands and outputs
                "inputs": uniform(steps * batch, width),
                "weight_ih": uniform(hidden, width, scale=width**-0.5),
                "weight_hh": uniform(hidden, hidden, scale=hidden**-0.5),
                "weight_ih_t": np.empty((width, hidden), dtype=dtype),
                "weight_hh_t": np.empty((hidden, hidden), dtype=dtype),
                "states": uniform(steps + 1, batch, hidden),
                "projected": np.empty((steps * batch, hidden), dtype=dtype),
                "recurrent": np.empty((steps, batch, hidden), dtype=dtype),
                # backward operands and outputs
                "pre_grad": uniform(steps, batch, hidden),
                "carry": np.empty((batch, hidden), dtype=dtype),
                "grad_hh": np.empty((hidden, hidden), dtype=dtype),
                "grad_ih": np.empty((hidden, width), dtype=dtype),
                "below": np.empty((steps * batch, width), dtype=dtype),
            }
            arrays["weight_ih_t"][...] = arrays["weight_ih"].T
            arrays["weight_hh_t"][...] = arrays["weight_hh"].T
            if any(array.dtype != np.dtype(dtype) for array in arrays.values()):
                raise TypeError(f"floor operands must all be {dtype}")
            self.layers.append(arrays)
        self.steps = steps
        self.batch = batch
        self.hidden = hidden

    def run(self) -> None:
        """Do every product once (forward over all layers, then backward top-down)."""
        steps, flat = self.steps, self.steps * self.batch
        matmul = np.matmul
        for a in self.layers:
            matmul(a["inputs"], a["weight_ih_t"], out=a["projected"])
            states, recurrent, w_hh_t = a["states"], a["recurrent"], a["weight_hh_t"]
            for t in range(steps):
                matmul(states[t], w_hh_t, out=recurrent[t])
        for layer in reversed(range(len(self.layers))):
            a = self.layers[layer]
            pre_grad, carry, w_hh = a["pre_grad"], a["carry"], a["weight_hh"]
            for t in reversed(range(steps)):
                matmul(pre_grad[t], w_hh, out=carry)
            flat_pre = pre_grad.reshape(flat, self.hidden)
            matmul(flat_pre.T, a["states"][:-1].reshape(flat, self.hidden), out=a["grad_hh"])
            matmul(flat_pre.T, a["inputs"], out=a["grad_ih"])
            if layer > 0:
                matmul(flat_pre, a["weight_ih"], out=a["below"])

    def flops(self) -> float:
        """Floating-point operations of :meth:`run` (2 per multiply-add)."""
        total = 0.0
        flat = self.steps * self.batch
        for layer, a in enumerate(self.layers):
            width = a["inputs"].shape[1]
            forward = flat * width * self.hidden + flat * self.hidden * self.hidden
            backward = 2 * flat * self.hidden * self.hidden + flat * self.hidden * width
            if layer > 0:
                backward += flat * self.hidden * width
            total += 2.0 * (forward + backward)
        return total


def minor_faults() -> int:
    """Minor page faults of this process so far (0 where ``resource`` is missing)."""
    try:
        import resource
    except ImportError:  # not on Windows
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def faults_per_call(function: Callable[[], object], calls: int = 3) -> float:
    """Mean minor page faults of one call: fresh memory the call touched, 4 KiB a fault."""
    function()
    before = minor_faults()
    for _ in range(calls):
        function()
    return (minor_faults() - before) / calls


# The clock of every timing: wall time, or the process's CPU time with ``--clock cpu``.
clock = time.perf_counter


def time_call(function: Callable[[], object]) -> float:
    """Seconds of one call of ``function``."""
    started = clock()
    function()
    return clock() - started


def interleaved_times(
    functions: dict[str, Callable[[], object]], repeats: int, warmup: int
) -> dict[str, list[float]]:
    """Seconds of ``repeats`` calls of each function, round by round (one call of each a round).

    Interleaving puts every function under the same machine conditions, so their ratios hold
    even when another process takes a core for a while.
    """
    for _ in range(warmup):
        for function in functions.values():
            function()
    samples: dict[str, list[float]] = {name: [] for name in functions}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            for name, function in functions.items():
                samples[name].append(time_call(function))
    finally:
        if gc_was_enabled:
            gc.enable()
    return samples


@dataclass
class EngineTiming:
    """Median seconds of one size and dtype; ``breakdown`` splits a train step.

    ``forward_backward`` is ``Simulation.forward_backward`` (fresh cache and gradients on every
    call), ``reused`` the same work in a reused workspace, as ``train_step`` runs it.
    ``best_ratio`` is reused / floor from the fastest run of each: a check on the median ratio
    when another process shares the machine. ``faults_per_step``: minor page faults of one
    ``forward_backward``, ``reused_faults`` of one reused call.
    """

    size: Size
    dtype: str
    forward_backward: float
    train_step: float
    floor: float
    floor_gflops: float
    breakdown: dict[str, float]
    faults_per_step: float = 0.0
    best_ratio: float = float("nan")
    torch: float = float("nan")
    reused: float = float("nan")
    reused_faults: float = float("nan")
    spectral_counts: str = ""


def engine_callables(
    size: Size, dtype: str, seed: int = 0
) -> tuple[dict[str, Callable[[], object]], MatmulFloor]:
    """The timed functions of one size: forward_backward, reused, train_step and the floor.

    ``reused`` runs ``rnn.forward``, the loss and ``rnn.backward`` in one ``rnn.Workspace`` kept
    from call to call, as ``train_step`` does. Also the pieces of a step for the breakdown:
    ``rnn.forward`` and ``rnn.backward`` (each in its own reused workspace), the spectral norm
    tracker; all on the same fixed batch as ``forward_backward``.
    """
    simulation = Simulation(make_config(size, dtype).replace(seed=seed))
    trainer = Simulation(make_config(size, dtype).replace(seed=seed))
    x, y = simulation.sample_batch()
    floor = MatmulFloor(size, simulation.task.input_size, simulation.dtype, np.random.default_rng(seed))
    params, layers, activation = simulation.params, size.layers, simulation.activation
    workspace, forward_workspace, backward_workspace = (rnn.Workspace(reuse_outputs=True) for _ in range(3))
    cache = rnn.forward(params, x, layers, activation, False)
    _, output_grad = rnn.loss_and_output_grad(simulation.task, cache, y)

    def reused() -> rnn.BackwardState:
        step_cache = rnn.forward(params, x, layers, activation, False, workspace)
        _, step_output_grad = rnn.loss_and_output_grad(simulation.task, step_cache, y)
        return rnn.backward(params, step_cache, step_output_grad, False, workspace)

    # Time the tracker inside train_step (warm-started from the previous step, as in a run).
    tracker = trainer.spectral_tracker
    untimed_update = tracker.update
    tracker_times: list[float] = []

    def timed_update(matrices: list[np.ndarray]) -> np.ndarray:
        started = clock()
        norms = untimed_update(matrices)
        tracker_times.append(clock() - started)
        return norms

    tracker.update = timed_update  # type: ignore[method-assign]

    def train_step() -> None:
        if trainer.train_step() is None:
            raise RuntimeError(f"{size.label} {dtype}: training halted on a non-finite value")

    functions: dict[str, Callable[[], object]] = {
        "forward_backward": lambda: simulation.forward_backward(x, y),
        "reused": reused,
        "train_step": train_step,
        "floor": floor.run,
        "forward": lambda: rnn.forward(params, x, layers, activation, False, forward_workspace),
        "backward": lambda: rnn.backward(params, cache, output_grad, False, backward_workspace),
        "exact_spectral_norms": simulation.spectral_norms,
    }
    # measure_engine reads the tracker's times and counts from here.
    train_step.trainer = trainer  # type: ignore[attr-defined]
    train_step.tracker_times = tracker_times  # type: ignore[attr-defined]
    return functions, floor


MAIN_FIGURES = ("forward_backward", "reused", "train_step", "floor")


def measure_engine(size: Size, dtype: str, repeats: int, warmup: int, breakdown: bool = True) -> EngineTiming:
    """Time the engine and the floor for one size and dtype (see :func:`engine_callables`)."""
    functions, floor = engine_callables(size, dtype)
    if not breakdown:
        functions = {k: functions[k] for k in MAIN_FIGURES}
    trainer = functions["train_step"].trainer  # type: ignore[attr-defined]
    tracker_times = functions["train_step"].tracker_times  # type: ignore[attr-defined]
    samples = interleaved_times(functions, repeats, warmup)
    medians = {name: statistics.median(times) for name, times in samples.items()}
    parts = {k: v for k, v in medians.items() if k not in MAIN_FIGURES}
    if breakdown:
        parts["spectral_norms"] = statistics.median(tracker_times[-repeats:])
    counts = trainer.spectral_tracker.counts
    return EngineTiming(
        size,
        dtype,
        medians["forward_backward"],
        medians["train_step"],
        medians["floor"],
        floor.flops() / medians["floor"] / 1e9,
        parts,
        faults_per_call(functions["forward_backward"]),
        min(samples["reused"]) / min(samples["floor"]),
        reused=medians["reused"],
        reused_faults=faults_per_call(functions["reused"]),
        spectral_counts=(
            f"{counts.lanczos} certified Lanczos / {counts.cholesky} Cholesky / {counts.exact} exact"
        ),
    )


def torch_step(
    size: Size, dtype: str, input_size: int, output_size: int, seed: int = 0
) -> Callable[[], float]:
    """A PyTorch forward + backward of the same shapes; returns a function doing one step.

    ``torch.nn.RNN`` (tanh, batch-first) with a linear readout of the last step and an MSE loss,
    on the CPU. Imports torch, so call it only after the numpy timings.
    """
    import torch

    torch.manual_seed(seed)
    torch_dtype = {"float64": torch.float64, "float32": torch.float32}[dtype]
    network = torch.nn.RNN(
        input_size,
        size.hidden,
        num_layers=size.layers,
        nonlinearity="tanh",
        batch_first=True,
        dtype=torch_dtype,
    )
    readout = torch.nn.Linear(size.hidden, output_size, dtype=torch_dtype)
    x = torch.rand(size.batch, size.seq_len, input_size, dtype=torch_dtype)
    y = torch.rand(size.batch, output_size, dtype=torch_dtype)
    parameters = list(network.parameters()) + list(readout.parameters())

    def step() -> float:
        for p in parameters:
            p.grad = None
        outputs, _ = network(x)
        loss = torch.nn.functional.mse_loss(readout(outputs[:, -1]), y)
        loss.backward()
        return float(loss.detach())

    return step


def measure_torch(size: Size, dtype: str, repeats: int, warmup: int) -> float:
    """Median seconds of :func:`torch_step` with ``torch.set_num_threads(2)``."""
    import torch

    torch.set_num_threads(TORCH_THREADS)
    simulation = Simulation(make_config(size, dtype))
    step = torch_step(size, dtype, simulation.task.input_size, simulation.task.output_size)
    return statistics.median(interleaved_times({"torch": step}, repeats, warmup)["torch"])


def torch_available() -> bool:
    """True if ``import torch`` works. Called after the numpy timings: torch brings its own
    OpenMP thread pool, which should not be spinning beside OpenBLAS while numpy is timed."""
    try:
        import torch  # noqa: F401
    except Exception:  # any failure to import means: no comparison
        return False
    return True


def blas_report() -> list[str]:
    """Lines describing numpy's BLAS: library, version, threads, kernel; and OpenBLAS variables."""
    lines = [f"numpy {np.__version__}, python {sys.version.split()[0]}, {os.cpu_count()} cpus"]
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        threadpool_info = None
    if threadpool_info is not None:
        for pool in threadpool_info():
            if pool.get("user_api") != "blas":
                continue
            lines.append(
                f"BLAS (threadpoolctl): {pool.get('internal_api')} {pool.get('version')}, "
                f"{pool.get('num_threads')} threads, kernel {pool.get('architecture', '?')}, "
                f"threading {pool.get('threading_layer', '?')}"
            )
    else:
        lines.append("BLAS (numpy.show_config; pip install threadpoolctl for threads and kernel):")
        try:
            config = np.show_config(mode="dicts")
            blas = config.get("Build Dependencies", {}).get("blas", {})
            detail = blas.get("openblas configuration", "")
            lines.append(f"  {blas.get('name', '?')} {blas.get('version', '?')} ({detail})")
        except (TypeError, AttributeError):  # numpy without mode="dicts"
            lines.append("  (numpy too old to report its BLAS as data)")
    for name in OPENBLAS_VARIABLES:
        lines.append(f"{name}={os.environ.get(name, '(unset)')}")
    if os.environ.get("OPENBLAS_CORETYPE") or os.environ.get("OPENBLAS_L2_SIZE"):
        lines.append(
            "note: OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE force a kernel; for numpy's own choice run "
            "`env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 benchmarks/bench_engine.py`"
        )
    try:
        lines.append(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    except OSError:
        pass
    return lines


def reuse_freed_memory() -> bool:
    """Make glibc's malloc keep freed blocks up to 32 MiB for reuse (a diagnostic, glibc only).

    By default glibc returns large freed blocks to the system, so every large array a step
    allocates afresh costs a page fault per 4 KiB on first touch. Raising the mmap and trim
    thresholds with ``mallopt`` keeps them in the process: the difference in the engine's
    time is what its fresh allocations cost. Returns False where this is not glibc.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name is None or not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(name)
    if not hasattr(libc, "mallopt"):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # from malloc.h
    return bool(libc.mallopt(m_mmap_threshold, 32 * 1024 * 1024)) and bool(
        libc.mallopt(m_trim_threshold, 1 << 30)
    )


@contextlib.contextmanager
def blas_threads(count: int | None) -> Iterator[None]:
    """Limit numpy's BLAS to ``count`` threads inside the block (None: leave as is)."""
    if count is None:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError as error:
        raise SystemExit(
            "--threads needs threadpoolctl (pip install threadpoolctl); or set OPENBLAS_NUM_THREADS"
        ) from error
    with threadpool_limits(limits=count, user_api="blas"):
        yield


def format_table(timings: list[EngineTiming], with_torch: bool) -> list[str]:
    """The result table as text lines (milliseconds and ratios)."""
    header = (
        f"{'size':<28} {'dtype':<8} {'fwd+bwd ms':>10} {'fresh ms':>9} {'train ms':>9} {'floor ms':>9} "
        f"{'floor GF/s':>10} {'fb/floor':>8} {'(best)':>6} {'fresh/floor':>11} {'train/floor':>11}"
    )
    if with_torch:
        header += f" {'torch ms':>9} {'fb/torch':>8}"
    lines = [header, "-" * len(header)]
    for t in timings:
        line = (
            f"{t.size.label:<28} {t.dtype:<8} {t.reused * 1e3:10.2f} {t.forward_backward * 1e3:9.2f} "
            f"{t.train_step * 1e3:9.2f} {t.floor * 1e3:9.2f} {t.floor_gflops:10.1f} "
            f"{t.reused / t.floor:8.2f} {t.best_ratio:6.2f} {t.forward_backward / t.floor:11.2f} "
            f"{t.train_step / t.floor:11.2f}"
        )
        if with_torch:
            line += f" {t.torch * 1e3:9.2f} {t.reused / t.torch:8.2f}"
        lines.append(line)
    return lines


def format_breakdown(timings: list[EngineTiming]) -> list[str]:
    """Where a train step goes: forward, backward, spectral norms, the rest, vs the floor."""
    header = (
        f"{'size':<28} {'dtype':<8} {'forward':>8} {'backward':>9} {'fb other':>9} "
        f"{'spectral':>9} {'exact σ':>8} {'train other':>11} {'faults/fb':>10} {'faults/fresh':>12}"
        "   (ms; faults = minor page faults; spectral = the tracker in train_step, exact σ = "
        "the exact method on the same weights; how the tracker answered, per size)"
    )
    lines = [header, "-" * len(header)]
    for t in timings:
        parts = t.breakdown
        forward, backward, spectral = parts["forward"], parts["backward"], parts["spectral_norms"]
        lines.append(
            f"{t.size.label:<28} {t.dtype:<8} {forward * 1e3:8.2f} {backward * 1e3:9.2f} "
            f"{(t.reused - forward - backward) * 1e3:9.2f} {spectral * 1e3:9.2f} "
            f"{parts['exact_spectral_norms'] * 1e3:8.2f} "
            f"{(t.train_step - t.reused - spectral) * 1e3:11.2f} {t.reused_faults:10.0f} "
            f"{t.faults_per_step:12.0f}  {t.spectral_counts}"
        )
    return lines


def add_timing_options(parser: argparse.ArgumentParser, sizes: tuple[Size, ...] = DEFAULT_SIZES) -> None:
    """``--repeats``, ``--warmup``, ``--dtypes`` and ``--sizes`` (default ``sizes``), as the engine's
    benchmarks take them."""
    parser.add_argument("--repeats", type=int, default=15, help="timed runs per figure (median)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs first")
    parser.add_argument("--dtypes", nargs="+", default=["float64", "float32"], choices=["float64", "float32"])
    parser.add_argument("--sizes", nargs="+", type=Size.parse, default=list(sizes), help="BxHxTxL")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_timing_options(parser)
    parser.add_argument(
        "--threads", type=int, default=None, help="limit numpy's BLAS threads (threadpoolctl)"
    )
    parser.add_argument(
        "--clock", choices=("wall", "cpu"), default="wall",
        help="wall time, or the process's CPU time (all threads; with --threads 1 on a loaded machine)",
    )  # fmt: skip
    for switch, meaning in (
        ("--no-torch", "skip the PyTorch comparison"),
        ("--no-breakdown", "time only the three main figures"),
        ("--reuse-freed-memory", "diagnostic: keep freed memory in the process (glibc mallopt) to show the "
         "page-fault cost"),
    ):  # fmt: skip
        parser.add_argument(switch, action="store_true", help=meaning)
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.warmup < 0:
        parser.error("--repeats must be >= 1 and --warmup >= 0")
    global clock
    clock = time.process_time if args.clock == "cpu" else time.perf_counter

    for line in blas_report():
        print(line)
    if args.threads is not None:
        print(f"numpy BLAS limited to {args.threads} thread(s) for the engine and the floor")
    if args.reuse_freed_memory:
        applied = reuse_freed_memory()
        print(f"--reuse-freed-memory: {'malloc keeps freed blocks' if applied else 'not glibc, not applied'}")
    print(f"median of {args.repeats} runs after {args.warmup} warm-up runs; engine and floor interleaved; "
          f"{args.clock} clock\n")  # fmt: skip

    timings: list[EngineTiming] = []
    with blas_threads(args.threads):
        for size in args.sizes:
            for dtype in args.dtypes:
                timing = measure_engine(size, dtype, args.repeats, args.warmup, not args.no_breakdown)
                timings.append(timing)
                print(f"  measured {size.label} {dtype}", file=sys.stderr, flush=True)

    with_torch = not args.no_torch and torch_available()
    if with_torch:
        import torch

        print(
            f"torch {torch.__version__}, {TORCH_THREADS} threads, "
            "nn.RNN tanh + Linear readout, MSE at the last step"
        )
        for timing in timings:
            timing.torch = measure_torch(timing.size, timing.dtype, args.repeats, args.warmup)
    elif not args.no_torch:
        print("torch not importable: no PyTorch comparison (pip install torch==2.13.0)")

    print()
    for line in format_table(timings, with_torch):
        print(line)
    if not args.no_breakdown:
        print("\nbreakdown of a step (medians; 'fb other' = loss and glue of fwd+bwd;")
        print("'train other' = train_step - fwd+bwd - spectral: batch, clip, update, record)")
        for line in format_breakdown(timings):
            print(line)
    try:
        print(f"\nload average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
