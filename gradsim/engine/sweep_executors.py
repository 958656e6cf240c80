"""Where a sweep's points are computed: this process, a local process pool, or a Dask cluster.

An executor takes chunks of independent tasks and a function to apply to each task
(:class:`ChunkedTasks`), runs them somewhere and hands each chunk's results back, in the calling
thread, as the chunk finishes. It polls a cancel signal every 50 ms; when it returns (finished,
cancelled or failed) nothing of the sweep is left running. :func:`gradsim.engine.sweep.run_sweep`
does the rest (cache, progress, the grid), so the three executors give the same progress, cancel,
caching and bit-identical results:

- :class:`InProcessExecutor` (``workers=0``): in the calling thread, for tests and debugging;
  cancel is checked between tasks.
- :class:`LocalPoolExecutor`: spawned worker processes on this machine; cancel terminates them.
- :class:`DaskExecutor` (``scheduler="tcp://host:8786"`` or ``"local:N"``): the tasks of a
  ``dask.distributed`` cluster (the optional extra ``gradsim[cluster]``). Cancel drops the
  queued tasks at the scheduler, and the running ones stop after their current point (they
  check a ``distributed.Event`` between points); a worker still busy with our task after a
  grace period is restarted by its nanny, so no task of the sweep outlives the cancel.

The function given to an executor must be importable by the workers (a module-level function,
or a ``functools.partial`` of one): the pool and Dask send it by reference.

Where the code lives: the protocol, :class:`InProcessExecutor` and :class:`LocalPoolExecutor` in
:mod:`gradsim.engine.sweep_executors_local`; :class:`DaskExecutor` in
:mod:`gradsim.engine.sweep_executors_dask`; :func:`describe` and :func:`make_executor` here. Every
name is importable from this module.
"""

from __future__ import annotations

from .sweep_executors_dask import (
    DaskExecutor,
    check_scheduler,
    start_local_cluster,
)
from .sweep_executors_local import (
    CANCEL_GRACE_SECONDS,
    CLUSTER_EXTRA_HINT,
    CONNECT_TIMEOUT_SECONDS,
    LOCAL_SCHEDULER_PREFIX,
    MAX_LOCAL_CLUSTER_WORKERS,
    POLL_SECONDS,
    THREAD_VARIABLES,
    Chunk,
    ChunkCallback,
    ChunkedTasks,
    ExecutorError,
    InProcessExecutor,
    LocalPoolExecutor,
    SweepExecutor,
    apply_all,
    default_workers,
    describe,
    local_cluster_size,
    single_threaded_children,
    stop_pool,
)

__all__ = [
    "CANCEL_GRACE_SECONDS",
    "CLUSTER_EXTRA_HINT",
    "CONNECT_TIMEOUT_SECONDS",
    "Chunk",
    "ChunkCallback",
    "ChunkedTasks",
    "DaskExecutor",
    "ExecutorError",
    "InProcessExecutor",
    "LOCAL_SCHEDULER_PREFIX",
    "LocalPoolExecutor",
    "MAX_LOCAL_CLUSTER_WORKERS",
    "POLL_SECONDS",
    "SweepExecutor",
    "THREAD_VARIABLES",
    "apply_all",
    "check_scheduler",
    "default_workers",
    "describe",
    "local_cluster_size",
    "make_executor",
    "single_threaded_children",
    "start_local_cluster",
    "stop_pool",
]


def make_executor(workers: int, scheduler: str | None, tasks: int) -> SweepExecutor:
    """The executor for a sweep: Dask if a scheduler is given, else a pool of ``min(workers,
    tasks)`` processes, or this process for ``workers == 0``.

    Raises
    ------
    ExecutorError
        The Dask cluster cannot be used (see :class:`DaskExecutor`).
    """
    if scheduler is not None:
        return DaskExecutor(scheduler)
    used = min(workers, tasks)
    return LocalPoolExecutor(used) if used > 0 else InProcessExecutor()
