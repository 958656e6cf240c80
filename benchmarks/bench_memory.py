"""Memory and time of a training step: :attr:`SimConfig.memory_bytes` against the measured peak.

Each config runs in a fresh child process that imports numpy and gradsim, builds a
:class:`Simulation` and takes two training steps (the first allocates the workspace, the second
reuses it; the peak is reached in either). The child's peak resident set size comes from
``os.wait4`` (the kernel's ``ru_maxrss`` of that one child), minus the memory the same child had
resident once it had imported numpy and gradsim (``/proc/self/statm``, read just before the
run). Subtracting the child's own resident size rather than the peak of an idle interpreter
matters where imports compile modules (no ``.pyc`` files, as under pytest's
``PYTHONDONTWRITEBYTECODE``): compiling peaks higher than the import leaves resident. The
peak of an idle interpreter is printed for comparison. The difference is what the run itself
needed; the estimate must be within 20% of it.

The time columns compare :func:`gradsim.engine.config.step_seconds` (GEMM count over a FLOP
rate calibrated in the child, plus elementwise passes and per-step numpy calls) with the measured
time of the child's first step; they are reported, not asserted (the machine is shared).
Children run with one BLAS thread.

Usage::

    python benchmarks/bench_memory.py            # the 8 configs x 2 dtypes (a few minutes)
    python benchmarks/bench_memory.py --quick    # two small configs, for a smoke test
    python benchmarks/bench_memory.py --gated    # the LSTM and GRU configs only
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

CONFIGS: list[dict[str, object]] = [
    {"num_layers": 1, "hidden_size": 256, "seq_len": 500, "batch_size": 256},
    {"num_layers": 2, "hidden_size": 64, "seq_len": 2000, "batch_size": 128},
    {"num_layers": 4, "hidden_size": 128, "seq_len": 1000, "batch_size": 64, "activation": "sigmoid"},
    {"num_layers": 8, "hidden_size": 32, "seq_len": 500, "batch_size": 512, "activation": "elu"},
    {"num_layers": 2, "hidden_size": 512, "seq_len": 200, "batch_size": 64, "activation": "relu"},
    {
        "num_layers": 3,
        "hidden_size": 128,
        "seq_len": 1000,
        "batch_size": 128,
        "normalization": "batch",
        "optimizer": "adam",
        "clip_mode": "norm",
    },
    {"num_layers": 16, "hidden_size": 16, "seq_len": 2000, "batch_size": 64, "task": "memory"},
    {"num_layers": 6, "hidden_size": 1024, "seq_len": 20, "batch_size": 32, "optimizer": "adam"},
]
# Gated cells (python benchmarks/bench_memory.py --gated): their caches and scratch are counted
# apart in memory_terms.
GATED_CONFIGS: list[dict[str, object]] = [
    {"cell": "lstm", "num_layers": 2, "hidden_size": 128, "seq_len": 500, "batch_size": 64},
    {"cell": "gru", "num_layers": 2, "hidden_size": 128, "seq_len": 500, "batch_size": 64},
    {"cell": "lstm", "num_layers": 3, "hidden_size": 64, "seq_len": 1000, "batch_size": 64,
     "normalization": "batch", "optimizer": "adam"},
    {"cell": "gru", "num_layers": 1, "hidden_size": 512, "seq_len": 200, "batch_size": 64,
     "clip_mode": "norm"},
]  # fmt: skip
QUICK_CONFIGS: list[dict[str, object]] = [
    {"num_layers": 2, "hidden_size": 64, "seq_len": 500, "batch_size": 128},
    {"num_layers": 1, "hidden_size": 128, "seq_len": 400, "batch_size": 256, "activation": "relu"},
]
DTYPES = ("float32", "float64")
TOLERANCE = 0.20

_CHILD = """
import json, os, sys, time
import numpy as np
import gradsim.engine.simulation as simulation
from gradsim.engine.config import SimConfig, step_seconds
np.ones((64, 64)) @ np.ones((64, 64))
with open("/proc/self/statm") as statm:
    resident = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
settings = json.loads(sys.argv[1])
if settings is not None:
    config = SimConfig(**settings)
    estimate = step_seconds(config)
    sim = simulation.Simulation(config)
    start = time.perf_counter()
    sim.train_step()
    first = time.perf_counter() - start
    sim.train_step()
    print(json.dumps({"first_step_seconds": first, "estimated_seconds": estimate, "resident": resident}))
else:
    print(json.dumps({"resident": resident}))
"""


def run_child(settings: dict[str, object] | None) -> tuple[int, dict[str, float]]:
    """Peak RSS in bytes of a child running ``settings`` (None: the baseline), and its report."""
    # One BLAS thread: on a shared machine, threads that wait on each other make step times
    # swing by 20x; memory does not depend on it (the baseline child has the same setting).
    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [sys.executable, "-c", _CHILD, json.dumps(settings)],
        stdout=subprocess.PIPE,
        text=True,
        env=environment,
    )
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"child for {settings} exited with {process.returncode}")
    return usage.ru_maxrss * 1024, json.loads(output)  # ru_maxrss is in KiB on Linux


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two small configs only")
    parser.add_argument("--gated", action="store_true", help="the LSTM and GRU configs only")
    args = parser.parse_args()

    from gradsim.engine.config import SimConfig

    baseline = min(run_child(None)[0] for _ in range(3))
    print(f"idle interpreter (python + numpy + gradsim): peak {baseline / 2**20:.0f} MiB")
    header = (
        f"{'L':>2} {'H':>5} {'T':>5} {'B':>5} {'extra':<28} {'dtype':<8} {'estimate MiB':>12} "
        f"{'measured MiB':>12} {'error':>7} {'est. s':>7} {'step s':>7}"
    )
    print(header)
    print("-" * len(header))
    worst = 0.0
    for settings in QUICK_CONFIGS if args.quick else GATED_CONFIGS if args.gated else CONFIGS + GATED_CONFIGS:
        for dtype in DTYPES:
            config = SimConfig(**{**settings, "dtype": dtype})
            peak, report = run_child({**settings, "dtype": dtype})
            measured = peak - report["resident"]
            estimate = config.memory_bytes
            error = estimate / measured - 1
            worst = max(worst, abs(error))
            extra = ",".join(
                f"{key}={value}"
                for key, value in settings.items()
                if key not in ("num_layers", "hidden_size", "seq_len", "batch_size")
            )
            print(
                f"{config.num_layers:>2} {config.hidden_size:>5} {config.seq_len:>5} {config.batch_size:>5} "
                f"{extra:<28} {dtype:<8} {estimate / 2**20:>12.0f} {measured / 2**20:>12.0f} "
                f"{error:>+7.1%} {report['estimated_seconds']:>7.2f} {report['first_step_seconds']:>7.2f}",
                flush=True,
            )
    verdict = "every row within" if worst <= TOLERANCE else "NOT every row within"
    print(f"worst estimate error {worst:.1%}: {verdict} {TOLERANCE:.0%}")
    return 0 if worst <= TOLERANCE else 1


if __name__ == "__main__":
    start = time.perf_counter()
    code = main()
    print(f"({time.perf_counter() - start:.0f} s)")
    sys.exit(code)
