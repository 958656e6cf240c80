"""Sweep speed: a 30 x 30 grid with one worker process and with one per core.

Run by hand::

    python3 benchmarks/bench_sweep.py [--repeats 3] [--size 30]

The grid is weight scale (0.25 .. 2.5) by sequence length (2 .. 60) of a small config (hidden
size 32, one layer, tanh, batch 16), measured at initialisation with one seed. Each timing is
the best of ``--repeats`` runs without cache and includes starting the worker processes, since
that is what a user waits for. Also printed: the same grid in the calling process (no workers),
a repeat from a filled cache, and the cost of starting a worker (a one-point sweep), which
is paid once per sweep and is most of what keeps a grid this cheap from a full speed-up.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from gradsim.engine.config import SimConfig
from gradsim.engine.sweep import MemoryCache, SweepAxis, SweepSpec, default_workers, make_axis, run_sweep


def make_spec(size: int) -> SweepSpec:
    base = SimConfig(
        num_layers=1, hidden_size=32, seq_len=30, batch_size=16, activation="tanh", task="adding"
    )
    seq_lens = tuple(int(v) for v in np.linspace(2, 60, size).round())
    return SweepSpec(base, make_axis("weight_scale", 0.25, 2.5, size), SweepAxis("seq_len", seq_lens))


def best_time(spec: SweepSpec, workers: int, repeats: int) -> tuple[float, np.ndarray]:
    times, values = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = run_sweep(spec, workers=workers, cache=None)
        times.append(time.perf_counter() - started)
        if values is not None:
            np.testing.assert_array_equal(values, result.values)
        values = result.values
    assert values is not None
    return min(times), values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", type=int, default=30)
    args = parser.parse_args()

    spec = make_spec(args.size)
    cores = default_workers()
    blas = os.environ.get("OPENBLAS_NUM_THREADS", "unset")
    print(
        f"grid {spec.shape[0]} x {spec.shape[1]} = {spec.size} points; {cores} cores; best of {args.repeats}"
    )

    in_process, reference = best_time(spec, 0, args.repeats)
    one, values_one = best_time(spec, 1, args.repeats)
    every, values_all = best_time(spec, cores, args.repeats)
    # Same numbers whichever way they were computed.
    np.testing.assert_array_equal(reference, values_one)
    np.testing.assert_array_equal(reference, values_all)

    # What starting a worker costs (a fresh interpreter importing numpy and the engine): the
    # best of a few one-point sweeps. It is paid once per sweep, in parallel across workers.
    single = SweepSpec(spec.base, SweepAxis("weight_scale", (1.0,)), SweepAxis("seq_len", (30,)))
    startup, _ = best_time(single, 1, args.repeats)

    cache = MemoryCache()
    run_sweep(spec, workers=cores, cache=cache)
    started = time.perf_counter()
    cached = run_sweep(spec, workers=cores, cache=cache)
    from_cache = time.perf_counter() - started
    assert cached.computed_points == 0

    print(f"in the calling process (BLAS threads: {blas}): {in_process:7.3f} s")
    print(f"1 worker process:                {one:7.3f} s  ({one / spec.size * 1e3:.2f} ms per point)")
    per_point = every / spec.size * 1e3
    print(f"{cores} worker processes:               {every:7.3f} s  ({per_point:.2f} ms per point)")
    print(f"speed-up, {cores} processes over 1:      {one / every:7.2f} x")
    print(f"one-point sweep (worker start-up): {startup:7.3f} s")
    print(f"speed-up without start-up:       {(one - startup) / (every - startup):7.2f} x")
    print(f"repeat from the cache:           {from_cache:7.3f} s  ({one / from_cache:.0f} x faster)")


if __name__ == "__main__":
    main()
