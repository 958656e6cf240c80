"""Gated cells' speed: LSTM and GRU forward+backward against the bare matrix products they need,
and against PyTorch's CPU ``nn.LSTM`` / ``nn.GRU``.

Run by hand::

    python3 benchmarks/bench_gated.py [--repeats 11] [--warmup 2] [--sizes 32x128x100x2 ...]
        [--dtype float64] [--threads N] [--clock wall|cpu] [--no-torch]

For each size (batch x hidden x seq_len x layers; adding task, gaussian init, no batch norm) and
cell, interleaved round by round so that all see the same machine:

- ``fwd+bwd``: the engine's forward, loss and backward (``cells.forward`` / ``cells.backward``) on
  one fixed batch, in a workspace reused from call to call, as ``Simulation.train_step`` runs them;
- the *floor*: only the matrix products such a pass needs, on preallocated arrays with the
  engine's shapes (``G`` = 4 blocks for LSTM, 3 for GRU). Forward, per layer: the input projection
  ``(T B, I) x (I, G H)`` and ``T`` products ``(B, H) x (H, G H)``; backward: ``T`` products
  ``(B, G H) x (G H, H)``, then ``dW_hh``, ``dW_ih`` and (above layer 0) the gradient sent down
  (the engine runs the projections as one product per gate block into its block-major gates, the
  same multiplications; the floor keeps the single products, which are no slower);
- ``libm``: only the transcendental functions the cell's equations need, as the engine calls them:
  numpy's ``exp`` for each sigmoid gate value (3 blocks for LSTM, 2 for GRU) and the gated cells'
  ``tanh`` (:func:`gradsim.engine.activations.step_tanh`: numpy's ``tanh`` where it is vectorised
  (AVX-512) or the step small, else one ``expm1`` and four cheap passes) for each tanh value (LSTM:
  ``g`` and ``tanh(c)``; GRU: ``n``), once per layer and step, on preallocated ``(B, H)`` arrays of
  normal draws. ``(floor+libm)/floor`` is then about the least ``fwd+bwd / floor`` the engine's
  functions allow, with no other elementwise work at all: where numpy's float64 ``exp`` is scalar
  libm code (no AVX-512), it costs about 5 ns a value, ``np.tanh`` 14 and ``expm1`` 4 near 0 to 11
  (so the cells' real values, many of them near 0, cost less than these normal draws);
- ``torch`` (if it imports): ``nn.LSTM`` / ``nn.GRU`` (CPU, float64 like the engine), forward and
  backward of the same MSE loss at the last step through a linear readout.

``--threads N`` gives numpy's BLAS (threadpoolctl) and torch the same number of threads (default
2); on a machine shared with other work, 1 keeps threads from waiting on each other.
``--clock cpu`` times with the process's CPU time instead of wall time (a loaded machine's wall
time includes waiting for a core); it counts every thread, so use it with ``--threads 1``.
``--processes N`` measures each cell and size in N fresh processes, one after another, and gives
the median of their figures, then the range of their ``fwd+bwd / floor``: the ratio of one
process scatters by several percent from one process to the next on this machine (LSTM 1.50-1.58
and GRU 1.53-1.69 at H=128, though engine and floor are timed round by round in each), more
than a small change moves it.

Each figure is the median of ``--repeats`` timed runs after ``--warmup`` untimed ones; the table
gives ``fwd+bwd / floor`` (the issue's goal: at most 1.5) and ``fwd+bwd / torch`` (goal: below 1,
the numpy engine faster).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from gradsim.engine import cells
from gradsim.engine.activations import step_tanh
from gradsim.engine.bptt import Workspace
from gradsim.engine.config import SimConfig
from gradsim.engine.gates import gate_count
from gradsim.engine.simulation import Simulation
from gradsim.engine.tasks import loss_and_gradient

# One B x H x T x L size and its parser for the engine benchmarks (this folder is not a package).
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_engine import Size  # noqa: E402

DEFAULT_THREADS = 2

# The clock of every timing: wall time, or the process's CPU time with ``--clock cpu``.
clock = time.perf_counter


DEFAULT_SIZES = (Size(32, 128, 100, 2), Size(32, 256, 100, 2))


def make_config(cell: str, size: Size, dtype: str) -> SimConfig:
    return SimConfig(
        cell=cell, batch_size=size.batch, hidden_size=size.hidden, seq_len=size.seq_len,
        num_layers=size.layers, task="adding", dtype=dtype,
    )  # fmt: skip


class GatedFloor:
    """The matrix products of one gated forward/backward pass, on preallocated arrays."""

    def __init__(self, cell: str, size: Size, input_size: int, dtype: str, rng: np.random.Generator) -> None:
        rows, hidden, steps, batch = gate_count(cell) * size.hidden, size.hidden, size.seq_len, size.batch
        self.steps, self.flat, self.rows = steps, steps * batch, rows
        self.layers = []
        for layer in range(size.layers):
            width = input_size if layer == 0 else hidden

            def uniform(*shape: int) -> np.ndarray:
                return rng.uniform(-1.0, 1.0, size=shape).astype(dtype)

            self.layers.append({
                "inputs": uniform(steps * batch, width), "weight_ih_t": uniform(width, rows),
                "weight_ih": uniform(rows, width), "weight_hh_t": uniform(hidden, rows),
                "weight_hh": uniform(rows, hidden), "states": uniform(steps + 1, batch, hidden),
                "projected": np.empty((steps * batch, rows), dtype),
                "recurrent": np.empty((batch, rows), dtype),
                "gate_grad": uniform(steps, batch, rows), "carry": np.empty((batch, hidden), dtype),
                "grad_hh": np.empty((rows, hidden), dtype), "grad_ih": np.empty((rows, width), dtype),
                "below": np.empty((steps * batch, width), dtype),
            })  # fmt: skip

    def run(self) -> None:
        """Every product once: forward over all layers, then backward top-down."""
        for a in self.layers:
            np.matmul(a["inputs"], a["weight_ih_t"], out=a["projected"])
            for t in range(self.steps):
                np.matmul(a["states"][t], a["weight_hh_t"], out=a["recurrent"])
        for index in reversed(range(len(self.layers))):
            a = self.layers[index]
            for t in reversed(range(self.steps)):
                np.matmul(a["gate_grad"][t], a["weight_hh"], out=a["carry"])
            flat = a["gate_grad"].reshape(self.flat, self.rows)
            np.matmul(flat.T, a["states"][:-1].reshape(self.flat, -1), out=a["grad_hh"])
            np.matmul(flat.T, a["inputs"], out=a["grad_ih"])
            if index > 0:
                np.matmul(flat, a["weight_ih"], out=a["below"])


class Transcendentals:
    """The ``exp`` and ``tanh`` calls of one gated forward pass, on preallocated ``(B, H)`` arrays."""

    def __init__(self, cell: str, size: Size, dtype: str, rng: np.random.Generator) -> None:
        self.calls = size.layers * size.seq_len
        sigmoid_blocks, tanh_blocks = (3, 2) if cell == "lstm" else (2, 1)
        self.gates = rng.standard_normal((size.batch, sigmoid_blocks * size.hidden)).astype(dtype)
        self.tanh_inputs = [
            rng.standard_normal((size.batch, size.hidden)).astype(dtype) for _ in range(tanh_blocks)
        ]
        self.out_gates = np.empty_like(self.gates)
        self.out = np.empty_like(self.tanh_inputs[0])
        self.scratch = np.empty_like(self.tanh_inputs[0])

    def run(self) -> None:
        for _ in range(self.calls):
            np.exp(self.gates, out=self.out_gates)
            for values in self.tanh_inputs:
                step_tanh(values, self.out, self.scratch)


def engine_pass(config: SimConfig) -> Callable[[], float]:
    """Forward + backward of one fixed batch in a reused workspace (what a training step runs)."""
    simulation = Simulation(config)
    x, y = simulation.sample_batch()
    workspace = Workspace(reuse_outputs=True)

    def run() -> float:
        with np.errstate(all="ignore"):
            cache = cells.forward(config.cell, simulation.params, x, config.num_layers, simulation.activation,
                                  False, workspace)  # fmt: skip
            loss, output_grad = loss_and_gradient(simulation.task, cache.output, y)
            cells.backward(
                config.cell, simulation.params, cache, output_grad, False, workspace, path_norms=False
            )
        return loss

    return run


def torch_pass(config: SimConfig) -> Callable[[], float] | None:
    """The same pass with ``nn.LSTM`` / ``nn.GRU`` (None if torch does not import)."""
    try:
        import torch
    except ImportError:
        return None
    simulation = Simulation(config)
    x, y = simulation.sample_batch()
    module_type = torch.nn.LSTM if config.cell == "lstm" else torch.nn.GRU
    module = module_type(x.shape[2], config.hidden_size, config.num_layers, batch_first=True).double()
    readout = torch.nn.Linear(config.hidden_size, y.shape[1]).double()
    xt, yt = torch.tensor(x), torch.tensor(y)

    def run() -> float:
        module.zero_grad(set_to_none=True)
        readout.zero_grad(set_to_none=True)
        outputs, _ = module(xt)
        loss = 0.5 * torch.mean((readout(outputs[:, -1]) - yt) ** 2)
        loss.backward()
        return loss.item()

    return run


def median_seconds(
    work: dict[str, Callable[[], object]], repeats: int, warmup: int
) -> dict[str, list[float]]:
    """Interleaved timings: each round runs every piece of ``work`` once."""
    for _ in range(warmup):
        for run in work.values():
            run()
    times: dict[str, list[float]] = {name: [] for name in work}
    for _ in range(repeats):
        for name, run in work.items():
            start = clock()
            run()
            times[name].append(clock() - start)
    return times


def measure(
    cell: str, size: Size, dtype: str, repeats: int, warmup: int, use_torch: bool
) -> dict[str, float]:
    """Median seconds of ``fwd+bwd``, ``floor``, ``libm`` and (if available) ``torch`` of a cell and size."""
    config = make_config(cell, size, dtype)
    work: dict[str, Callable[[], object]] = {
        "fwd+bwd": engine_pass(config),
        "floor": GatedFloor(cell, size, 2, dtype, np.random.default_rng(0)).run,
        "libm": Transcendentals(cell, size, dtype, np.random.default_rng(1)).run,
    }
    reference = torch_pass(config) if use_torch and dtype == "float64" else None
    if reference is not None:
        work["torch"] = reference
    times = median_seconds(work, repeats, warmup)
    return {name: statistics.median(values) for name, values in times.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--sizes", type=Size.parse, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, help="BLAS and torch threads")
    parser.add_argument(
        "--clock", choices=("wall", "cpu"), default="wall",
        help="wall time, or the process's CPU time (all threads; with --threads 1 on a loaded machine)",
    )  # fmt: skip
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch reference")
    parser.add_argument(
        "--processes", type=int, default=1,
        help="measure each cell and size in this many fresh processes, one after another, and "
             "give the median of their figures and the range of their fb/floor",
    )  # fmt: skip
    parser.add_argument("--child", nargs=2, metavar=("CELL", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    global clock
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.threads)
    if not args.no_torch:
        try:
            import torch

            torch.set_num_threads(args.threads)
        except ImportError:
            pass
    if args.child:  # one cell and size in this process, for a parent's --processes
        cell, size = args.child[0], Size.parse(args.child[1])
        result = measure(cell, size, args.dtype, args.repeats, args.warmup, not args.no_torch)
        print(json.dumps(result))
        return
    header = (
        f"{'cell':<5} {'size':<24} {'fwd+bwd ms':>10} {'floor ms':>9} {'libm ms':>8} {'torch ms':>9} "
        f"{'fb/floor':>8} {'(floor+libm)/floor':>18} {'fb/torch':>8}"
    )
    runs = f"median of {args.repeats} runs"
    if args.processes > 1:
        runs += f" in each of {args.processes} processes (their medians' median; fb/floor's range after)"
    print(f"dtype {args.dtype}, {args.threads} thread(s), {runs}, {args.clock} clock")
    print(header)
    print("-" * len(header))
    for size in args.sizes:
        for cell in ("lstm", "gru"):
            if args.processes > 1:
                results = [in_a_process(cell, size, args) for _ in range(args.processes)]
                result = {name: statistics.median(r[name] for r in results) for name in results[0]}
                ratios = [r["fwd+bwd"] / r["floor"] for r in results]
                spread = f"  ({min(ratios):.2f}-{max(ratios):.2f})"
            else:
                result = measure(cell, size, args.dtype, args.repeats, args.warmup, not args.no_torch)
                ratios, spread = [result["fwd+bwd"] / result["floor"]], ""
            engine, floor, libm = result["fwd+bwd"], result["floor"], result["libm"]
            reference = result.get("torch")
            torch_text = f"{1e3 * reference:>9.1f}" if reference else f"{'-':>9}"
            ratio_text = f"{engine / reference:>8.2f}" if reference else f"{'-':>8}"
            print(
                f"{cell:<5} {size.label:<24} {1e3 * engine:>10.1f} {1e3 * floor:>9.1f} {1e3 * libm:>8.1f} "
                f"{torch_text} {statistics.median(ratios):>8.2f} {(floor + libm) / floor:>18.2f} "
                f"{ratio_text}{spread}",
                flush=True,
            )


def in_a_process(cell: str, size: Size, args: argparse.Namespace) -> dict[str, float]:
    """:func:`measure` of ``cell`` and ``size`` in a fresh Python process, with this run's options."""
    shape = f"{size.batch}x{size.hidden}x{size.seq_len}x{size.layers}"
    options = [
        "--repeats", str(args.repeats), "--warmup", str(args.warmup), "--dtype", args.dtype,
        "--threads", str(args.threads), "--clock", args.clock, "--child", cell, shape,
    ] + (["--no-torch"] if args.no_torch else [])  # fmt: skip
    output = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *options],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return json.loads(output.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
