"""Phase-diagram sweeps: the gradient's change along its most extreme span over a grid of two settings.

Each grid point is a config (the base config with two fields changed). Its value is the signed
log10 ratio of the regime measure's most extreme span (:func:`gradsim.engine.regime.measure`):
of the time spans (``||dL/dh_1|| / ||dL/dh_T||`` within each layer) and the depth span (layer 1
over the top layer at the last step), the one with the largest ``|log10|``. That is the quantity
the regime verdict uses (beyond +-3 decades a run is called vanishing or exploding), so a cell's
colour and the badge of the config it loads agree. Negative: the gradient shrank on its way
back (vanishing); positive: it grew (exploding); 0: no change. With one layer it is exactly the
first-to-last time step ratio whose per-step rate the mean-field theory predicts, so the
theory's critical line (per-step factor exactly 1) is where the value crosses 0. (Until cache
format 2 the value was the corner ratio, first layer's first step over top layer's last step,
which mixes both ways and hid a deeper layer's vanishing.) The theory's own prediction
of this quantity is :func:`gradsim.engine.theory.predicted_decades`, and :func:`critical_line`
draws :func:`gradsim.engine.theory.critical_weight_scale` (by default where the most extreme
predicted span, through time in any layer or through depth, is 0 decades; the per-layer theory
is in docs/theory.md).

``iterations`` says when the gradient is taken: 0 means at initialisation (one forward and
backward pass on the run's first batch), N means after N training steps (N updates), on the next
batch, i.e. the gradient the (N+1)-th :meth:`Simulation.train_step` computes. Several seeds
are averaged in log10 (a geometric mean of the ratios).

A point whose run produced inf/NaN (in the gradient, the loss or, while training, anywhere) is
"overflow": NaN value plus a flag. A gradient that reached exactly zero at the first step has
vanished completely ("vanished": NaN plus its flag); a zero gradient where it enters gives no
ratio at all ("no gradient").

:func:`run_sweep` computes a grid chunk by chunk, with progress, prompt cancellation and a cache
per point, on one of the executors of :mod:`gradsim.engine.sweep_executors`: this process, a
local pool of worker processes (spawned, never forked: forking a process that runs Qt threads
can deadlock the child) or a Dask cluster. The module is numpy only.

Where the code lives: the axes and the spec in :mod:`gradsim.engine.sweep_spec`, one point and
the point cache in :mod:`gradsim.engine.sweep_point`, the result grid, the critical line and the
measured edge in :mod:`gradsim.engine.sweep_result`; the runner here. Every name is importable
from this module.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Protocol

import numpy as np

from .config import SimConfig
from .sweep_executors import THREAD_VARIABLES as THREAD_VARIABLES  # re-exported: one place for both
from .sweep_executors import ChunkedTasks, ExecutorError, check_scheduler, describe, make_executor
from .sweep_executors import default_workers as default_workers
from .sweep_point import (
    CACHE_FORMAT,
    SHARED_CACHE,
    STATUS_NAMES,
    STATUS_NO_GRADIENT,
    STATUS_OK,
    STATUS_OVERFLOW,
    STATUS_VANISHED,
    MemoryCache,
    PointCache,
    PointResult,
    compute_point,
    evaluate_point,
    gradient_decades,
    measure_run,
    point_key,
)
from .sweep_result import (
    CRITERION_TEXT,
    CriticalLine,
    SweepProgress,
    SweepResult,
    critical_line,
    measured_edge,
)
from .sweep_spec import (
    INTEGER_FIELDS,
    MAX_AXIS_POINTS,
    MAX_ITERATIONS,
    MAX_SEEDS,
    SPACINGS,
    SWEEP_FIELDS,
    SweepAxis,
    SweepError,
    SweepSpec,
    make_axis,
    parse_axis,
    resolve_seeds,
)

__all__ = [
    "CACHE_FORMAT",
    "CRITERION_TEXT",
    "CancelSignal",
    "CriticalLine",
    "INTEGER_FIELDS",
    "MAX_AXIS_POINTS",
    "MAX_ITERATIONS",
    "MAX_SEEDS",
    "MemoryCache",
    "PointCache",
    "PointResult",
    "ProgressCallback",
    "SHARED_CACHE",
    "SPACINGS",
    "STATUS_NAMES",
    "STATUS_NO_GRADIENT",
    "STATUS_OK",
    "STATUS_OVERFLOW",
    "STATUS_VANISHED",
    "SWEEP_FIELDS",
    "SweepAxis",
    "SweepError",
    "SweepJournal",
    "SweepProgress",
    "SweepResult",
    "SweepSpec",
    "Task",
    "compute_point",
    "critical_line",
    "evaluate_point",
    "gradient_decades",
    "make_axis",
    "measure_run",
    "measured_edge",
    "parse_axis",
    "point_cost",
    "point_key",
    "resolve_seeds",
    "run_sweep",
]


# -- runner -----------------------------------------------------------------------------------
ProgressCallback = Callable[[SweepProgress], None]
CancelSignal = threading.Event | Callable[[], bool]


def _is_cancelled(cancel: CancelSignal | None) -> bool:
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    return bool(cancel())


Task = tuple[int, SimConfig]


def _evaluate_task(task: Task, iterations: int, seeds: tuple[int, ...]) -> tuple[int, PointResult]:
    """Worker entry: one ``(flat index, config)`` evaluated (runs in whichever executor)."""
    index, config = task
    return index, evaluate_point(config, iterations, seeds)


def point_cost(config: SimConfig, iterations: int, seeds: int) -> float:
    """Relative cost of evaluating a point: multiply-adds of its forward/backward passes."""
    hidden = config.hidden_size
    per_pass = config.num_layers * config.seq_len * config.batch_size * hidden * (2 * hidden + 8)
    return float(per_pass * (iterations + 1) * seeds)


def _chunk(tasks: list[Task], workers: int, iterations: int, seeds: int) -> list[list[Task]]:
    """Split ``tasks`` (in grid order) into chunks of about equal cost.

    About 24 chunks per worker balance the load (points along a seq_len or hidden_size axis
    differ in cost a lot) and keep progress fine-grained; a chunk holds at most 16 points so
    cheap grids do not pay one round trip per point.
    """
    costs = [point_cost(config, iterations, seeds) for _, config in tasks]
    budget = sum(costs) / (max(workers, 1) * 24)
    chunks: list[list[Task]] = []
    current: list[Task] = []
    spent = 0.0
    for task, cost in zip(tasks, costs, strict=True):
        current.append(task)
        spent += cost
        if spent >= budget or len(current) >= 16:
            chunks.append(current)
            current, spent = [], 0.0
    if current:
        chunks.append(current)
    return chunks


class SweepJournal(Protocol):
    """Where :func:`run_sweep` records the sweeps themselves (the sweep store does)."""

    def begin_sweep(self, spec: SweepSpec, ran_on: str, started: float) -> int:
        """Record a sweep that starts now (``started``: Unix time); returns its id."""
        ...

    def end_sweep(self, sweep_id: int, result: SweepResult, failure: str | None = None) -> None:
        """Record how it ended: its (possibly partial) result, and why it failed if it did."""
        ...


class _Collector:
    """Fills the result arrays, feeds the cache and reports progress."""

    def __init__(
        self, spec: SweepSpec, progress: ProgressCallback | None, cache: PointCache | None, started: float
    ) -> None:
        ny, nx = spec.shape
        self.spec = spec
        self.values = np.full((ny, nx), np.nan)
        self.status = np.zeros((ny, nx), dtype=np.int8)
        self.seed_values = np.full((ny, nx, len(spec.seeds)), np.nan)  # type: ignore[arg-type]
        self.computed = np.zeros((ny, nx), dtype=bool)
        self.progress = progress
        self.cache = cache
        self.cache_error: str | None = None
        self.keys: dict[int, str] = {}
        self.started = started
        self.done = 0
        self.cached = 0
        self.fresh = 0
        self.to_compute = 0
        self.compute_started = started

    def fill(self, index: int, result: PointResult) -> tuple[int, int, PointResult]:
        row, column = divmod(index, self.spec.shape[1])
        self.values[row, column] = result.value
        self.status[row, column] = result.status
        self.seed_values[row, column] = result.seed_values
        self.computed[row, column] = True
        self.done += 1
        return row, column, result

    def lookup(self, key: str) -> PointResult | None:
        if self.cache is None:
            return None
        try:
            return self.cache.get(key)
        except OSError as error:
            self._lose_cache(error)
            return None

    def finish_chunk(self, results: list[tuple[int, PointResult]]) -> None:
        """Take a chunk's results: into the grid, into the cache at once (a crash keeps them)."""
        self.fresh += len(results)
        points = [self.fill(index, result) for index, result in results]
        if self.cache is not None and results:
            try:
                self.cache.put_many([(self.keys[index], result) for index, result in results])
            except OSError as error:
                self._lose_cache(error)
        self.report(points)

    def _lose_cache(self, error: OSError) -> None:
        # A cache that fails costs the next sweep time, never this sweep its result.
        self.cache_error = str(error) or type(error).__name__
        self.cache = None

    def report(self, points: list[tuple[int, int, PointResult]]) -> None:
        if self.progress is None:
            return
        now = time.perf_counter()
        remaining: float | None = None
        if self.fresh > 0:
            rate = (now - self.compute_started) / self.fresh
            remaining = rate * (self.to_compute - self.fresh)
        elif self.to_compute == 0:
            remaining = 0.0
        self.progress(
            SweepProgress(
                self.done, self.spec.size, self.cached, now - self.started, remaining, tuple(points)
            )
        )


def run_sweep(
    spec: SweepSpec,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelSignal | None = None,
    cache: PointCache | None = SHARED_CACHE,
    scheduler: str | None = None,
    journal: SweepJournal | None = None,
) -> SweepResult:
    """Compute every grid point of ``spec``.

    Parameters
    ----------
    spec : the sweep
    workers : worker processes on this machine; None = one per core; 0 = compute in the
        calling process (no processes, for tests and debugging; slower if the caller's BLAS
        uses threads). Ignored with ``scheduler``
    progress : called in the calling thread after each finished chunk (and once at the
        start with the cached points) with a :class:`SweepProgress`
    cancel : a ``threading.Event`` or a callable returning True to stop. Checked every
        50 ms; on cancel nothing of the sweep is left running (local workers are terminated;
        see :mod:`gradsim.engine.sweep_executors` for a cluster) and the partial result is
        returned with ``cancelled=True``
    cache : looked up before computing and given every chunk of computed points as it
        arrives; None = no cache. The default is a shared in-memory cache, so a repeated sweep
        is instant. A cache raising ``OSError`` is dropped for the rest of the sweep
        (``cache_error`` says why); the sweep goes on
    scheduler : run the points on a Dask cluster: its scheduler's address, or ``"local:N"``
        for a LocalCluster of N processes (needs the ``gradsim[cluster]`` extra)
    journal : records the sweep (when, where, how it ended), e.g. the sweep store

    Returns
    -------
    SweepResult

    Raises
    ------
    SweepError
        Bad arguments, a cluster that cannot be used, or workers lost (a worker process
        killed for lack of memory, for example).
    """
    started = time.perf_counter()
    started_wall = time.time()
    if workers is None:
        workers = default_workers()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise SweepError(f"workers must be 0 or more (got {workers!r})")
    if scheduler is not None:
        try:
            check_scheduler(scheduler)
        except ExecutorError as error:
            raise SweepError(str(error)) from None
    seeds: tuple[int, ...] = spec.seeds  # type: ignore[assignment]
    collector = _Collector(spec, progress, cache, started)
    tasks: list[Task] = []
    hits: list[tuple[int, int, PointResult]] = []
    for row, column in spec.indices():
        index = row * spec.shape[1] + column
        config = spec.config_at(row, column)
        key = point_key(config, spec.iterations, seeds)
        found = collector.lookup(key)
        if found is not None and len(found.seed_values) == len(seeds):
            hits.append(collector.fill(index, found))
        else:
            collector.keys[index] = key
            tasks.append((index, config))
    collector.cached = len(hits)
    collector.to_compute = len(tasks)
    collector.compute_started = time.perf_counter()

    # Where the points are computed; refined by the executor (a cluster's size is known once
    # connected). Nothing to compute: nothing ran anywhere.
    ran_on = describe(min(workers, len(tasks)) if scheduler is None else 0, scheduler) if tasks else "cache"
    sweep_id = None
    if journal is not None:
        try:
            sweep_id = journal.begin_sweep(spec, ran_on, started_wall)
        except OSError as error:
            collector.cache_error = str(error)
            journal = None
    used_workers = 0
    cancelled = False
    failure: str | None = None
    try:
        collector.report(hits)
        if tasks:
            executor = make_executor(workers, scheduler, len(tasks))
            try:
                ran_on, used_workers = executor.description, executor.workers
                chunks = _chunk(tasks, max(used_workers, 1), spec.iterations, len(seeds))
                evaluate = functools.partial(_evaluate_task, iterations=spec.iterations, seeds=seeds)
                cancelled = executor.run(
                    ChunkedTasks(evaluate, chunks),
                    collector.finish_chunk,
                    lambda: _is_cancelled(cancel),
                )
            finally:
                executor.close()
    except ExecutorError as error:
        failure = str(error)
    except KeyboardInterrupt:
        cancelled = True  # Ctrl-C: the executor stopped its workers; recorded as cancelled
        raise
    except BaseException as error:
        failure = f"{type(error).__name__}: {error}"
        raise
    finally:
        result = SweepResult(
            spec,
            collector.values,
            collector.status,
            collector.seed_values,
            collector.computed,
            cancelled=cancelled,
            elapsed_seconds=time.perf_counter() - started,
            computed_points=collector.fresh,
            cached_points=collector.cached,
            workers=used_workers,
            cache_error=collector.cache_error,
            ran_on=ran_on,
            sweep_id=sweep_id,
        )
        if journal is not None and sweep_id is not None:
            try:
                journal.end_sweep(sweep_id, result, failure)
            except OSError as error:
                result.cache_error = result.cache_error or str(error)
    if failure is not None:
        raise SweepError(failure)
    return result
