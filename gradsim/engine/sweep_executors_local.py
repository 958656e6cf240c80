"""The executor protocol, and the executors on this machine: this process and a spawned process pool.

Part of the sweep executors (:mod:`gradsim.engine.sweep_executors` explains them and re-exports
these names).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Protocol

# Variables that make BLAS/OpenMP use one thread. A sweep runs one process per core, and
# small matrix products run slower, not faster, with several threads each.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
POLL_SECONDS = 0.05
CONNECT_TIMEOUT_SECONDS = 5.0
# After a cancel, how long running Dask tasks get to finish their current point before their
# workers are restarted.
CANCEL_GRACE_SECONDS = 5.0
LOCAL_SCHEDULER_PREFIX = "local:"
MAX_LOCAL_CLUSTER_WORKERS = 256
CLUSTER_EXTRA_HINT = 'pip install "gradsim[cluster]"'

Chunk = list[Any]
ChunkCallback = Callable[[list[Any]], None]
# What an executor applies to each task (a sweep point's parameters -> its result); picklable
# for the process pool and Dask.
TaskFunction = Callable[[Any], Any]
# Polled between tasks: True once the caller wants the sweep stopped.
CancelCheck = Callable[[], bool]


@dataclass(frozen=True)
class ChunkedTasks:
    """What an executor runs: ``function`` applied to each task of each chunk.

    Both go to the workers (the pool and Dask send ``function`` by reference, so it must be
    importable there); what the caller does with the results stays in :meth:`SweepExecutor.run`.
    """

    function: TaskFunction
    chunks: Sequence[Chunk]


class ExecutorError(RuntimeError):
    """An executor cannot start or lost its workers; the message says why, in one line."""


class SweepExecutor(Protocol):
    """Runs chunks of tasks somewhere; see the module docstring.

    Attributes
    ----------
    description : where the tasks run, for people ("a local pool of 2 processes", "the Dask
        cluster at tcp://10.0.0.5:8786")
    workers : tasks run at once (0: in the calling thread)
    """

    description: str
    workers: int

    def run(self, tasks: ChunkedTasks, on_chunk: ChunkCallback, cancelled: CancelCheck) -> bool:
        """Apply ``tasks.function`` to every task of every chunk; call ``on_chunk(results)`` in
        this thread for each finished chunk (results in the chunk's order). Returns True if
        ``cancelled()`` became true first (results of unfinished chunks are dropped; the
        in-process executor hands over the part of the chunk it finished). Raises
        :class:`ExecutorError` if the workers are lost, or the task's own exception."""
        ...

    def close(self) -> None:
        """Release the workers (idempotent)."""
        ...


def apply_all(function: TaskFunction, chunk: Chunk) -> list[Any]:
    """A chunk's results: ``function`` of each task, in order (runs in a worker)."""
    return [function(task) for task in chunk]


def default_workers() -> int:
    """Worker processes used when none are given: one per available core."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def local_cluster_size(scheduler: str) -> int | None:
    """N of ``"local:N"`` (a LocalCluster of N worker processes); None for a scheduler address.

    Raises
    ------
    ExecutorError
        ``local:`` followed by something other than a whole number from 1 to 256.
    """
    text = scheduler.strip()
    if not text.lower().startswith(LOCAL_SCHEDULER_PREFIX):
        return None
    count_text = text[len(LOCAL_SCHEDULER_PREFIX) :].strip()
    if not count_text.isdigit() or not 1 <= int(count_text) <= MAX_LOCAL_CLUSTER_WORKERS:
        raise ExecutorError(
            f"a local Dask cluster is written local:N with N from 1 to {MAX_LOCAL_CLUSTER_WORKERS} "
            f"worker processes (got {scheduler!r})"
        )
    return int(count_text)


def describe(workers: int, scheduler: str | None) -> str:
    """Where a sweep with these settings runs, in words (also when nothing needs computing)."""
    if scheduler is not None:
        count = local_cluster_size(scheduler)
        if count is not None:
            return f"a Dask LocalCluster of {count} worker{'s' if count != 1 else ''}"
        return f"the Dask cluster at {scheduler.strip()}"
    if workers == 0:
        return "this process"
    return f"a local pool of {workers} process{'es' if workers != 1 else ''}"


# -- in this process ----------------------------------------------------------------------------
class InProcessExecutor:
    """Runs every task in the calling thread, checking ``cancelled()`` before each one."""

    description = "this process"
    workers = 0

    def run(self, tasks: ChunkedTasks, on_chunk: ChunkCallback, cancelled: CancelCheck) -> bool:
        for chunk in tasks.chunks:
            results: list[Any] = []
            for task in chunk:
                if cancelled():
                    on_chunk(results)
                    return True
                results.append(tasks.function(task))
            on_chunk(results)
        return False

    def close(self) -> None:
        """Nothing to release."""


# -- a process pool on this machine -------------------------------------------------------------
def _worker_setup() -> None:
    # Ctrl-C in a terminal reaches the whole process group; the parent handles it and stops
    # the workers, so they should not each print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in THREAD_VARIABLES:
        os.environ[name] = "1"


_environment_lock = threading.Lock()


@contextlib.contextmanager
def single_threaded_children() -> Iterator[None]:
    """Let processes started inside the block see one-thread BLAS settings.

    They must be in the environment when a worker starts, before it imports numpy; the
    parent's own BLAS was configured when it imported numpy and is not affected.
    """
    with _environment_lock:
        saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
        for name in THREAD_VARIABLES:
            os.environ[name] = "1"
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


class LocalPoolExecutor:
    """Spawned worker processes on this machine (never forked: forking a process that runs Qt
    threads can deadlock the child). Cancel or failure terminates them; none is left behind.

    Parameters
    ----------
    workers : processes (1 or more)
    """

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"a pool needs at least one process (got {workers})")
        self.workers = workers
        self.description = describe(workers, None)

    def run(self, tasks: ChunkedTasks, on_chunk: ChunkCallback, cancelled: CancelCheck) -> bool:
        # 'spawn' starts each worker as a fresh interpreter: safe when the parent runs Qt (or
        # any) threads, and leaves no server process behind the way 'forkserver' would.
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context, initializer=_worker_setup)
        pending: set[Future[list[Any]]] = set()
        finished = False
        try:
            # Workers start during submit(); all of them start inside this block.
            with single_threaded_children():
                order: dict[Future[list[Any]], int] = {}
                for chunk in tasks.chunks:
                    future = pool.submit(apply_all, tasks.function, chunk)
                    order[future] = len(order)
                    pending.add(future)
            while pending:
                if cancelled():
                    return True
                done, pending = wait(pending, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
                # Several may finish in one poll: hand them over in submission order, as the
                # other executors do (the grid does not depend on it; progress reads better).
                for future in sorted(done, key=order.__getitem__):
                    try:
                        results = future.result()
                    except BrokenProcessPool:
                        raise ExecutorError(
                            "a sweep worker process stopped unexpectedly (out of memory?); "
                            "the sweep was abandoned"
                        ) from None
                    on_chunk(results)
            finished = True
            return False
        finally:
            if finished:
                pool.shutdown(wait=True)
            else:
                stop_pool(pool)

    def close(self) -> None:
        """Nothing to release: each run starts and ends its own processes."""


def stop_pool(pool: ProcessPoolExecutor, grace_seconds: float = 2.0) -> None:
    """Stop a process pool now: drop queued work, terminate the workers, reap them.

    Leaves no child process behind (killing any worker that ignores termination).
    """
    # The pool's process table and manager thread are private; read them before shutdown()
    # clears them, since shutdown(wait=False) alone lets running chunks finish.
    processes = list((getattr(pool, "_processes", None) or {}).values())
    manager = getattr(pool, "_executor_manager_thread", None)
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    deadline = time.monotonic() + grace_seconds
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join(grace_seconds)
    if manager is not None and manager.is_alive():
        manager.join(grace_seconds)
