"""Where a sweep's points are computed: this process, a local process pool, or a Dask cluster.

An executor takes chunks of independent tasks and a function to apply to each task, runs them
somewhere and hands each chunk's results back, in the calling thread, as the chunk finishes. It
polls a cancel signal every 50 ms; when it returns (finished, cancelled or failed) nothing of the
sweep is left running. :func:`gradsim.engine.sweep.run_sweep` does the rest (cache, progress,
the grid), so the three executors give the same progress, cancel, caching and bit-identical
results:

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
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import multiprocessing
import os
import queue
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
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

    def run(
        self,
        function: Callable[[Any], Any],
        chunks: Sequence[Chunk],
        on_chunk: ChunkCallback,
        cancelled: Callable[[], bool],
    ) -> bool:
        """Apply ``function`` to every task of every chunk; call ``on_chunk(results)`` in this
        thread for each finished chunk (results in the chunk's order). Returns True if
        ``cancelled()`` became true first (results of unfinished chunks are dropped; the
        in-process executor hands over the part of the chunk it finished). Raises
        :class:`ExecutorError` if the workers are lost, or the task's own exception."""
        ...

    def close(self) -> None:
        """Release the workers (idempotent)."""
        ...


def apply_all(function: Callable[[Any], Any], chunk: Chunk) -> list[Any]:
    """A chunk's results: ``function`` of each task, in order (runs in a worker)."""
    return [function(task) for task in chunk]


def default_workers() -> int:
    """Worker processes used when none are given: one per available core."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


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

    def run(
        self,
        function: Callable[[Any], Any],
        chunks: Sequence[Chunk],
        on_chunk: ChunkCallback,
        cancelled: Callable[[], bool],
    ) -> bool:
        for chunk in chunks:
            results: list[Any] = []
            for task in chunk:
                if cancelled():
                    on_chunk(results)
                    return True
                results.append(function(task))
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

    def run(
        self,
        function: Callable[[Any], Any],
        chunks: Sequence[Chunk],
        on_chunk: ChunkCallback,
        cancelled: Callable[[], bool],
    ) -> bool:
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
                for chunk in chunks:
                    future = pool.submit(apply_all, function, chunk)
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


# -- a Dask cluster -----------------------------------------------------------------------------
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


def check_scheduler(scheduler: str) -> None:
    """Refuse a scheduler that cannot work before any time is spent: an empty or malformed
    address, or Dask not installed (the message names the extra to install)."""
    if not scheduler.strip():
        raise ExecutorError("the Dask scheduler address is empty (e.g. tcp://host:8786, or local:2)")
    local_cluster_size(scheduler)
    if importlib.util.find_spec("distributed") is None:
        raise ExecutorError(f"running a sweep on a Dask cluster needs Dask: {CLUSTER_EXTRA_HINT}")


def _apply_until_stopped(function: Callable[[Any], Any], chunk: Chunk, stop_name: str) -> list[Any]:
    """A chunk's results on a Dask worker, stopping between tasks once the sweep's stop event
    is set (a running Python thread cannot be interrupted, so the task stops itself)."""
    from distributed import Event

    stop = Event(stop_name)
    results = []
    for task in chunk:
        if stop.is_set():
            break
        results.append(function(task))
    return results


def _running_keys(prefix: str, dask_worker: Any = None) -> list[str]:
    """Keys starting with ``prefix`` that a worker is still executing (run on each worker by
    ``Client.run``; includes tasks the scheduler cancelled whose thread has not returned)."""
    state = getattr(dask_worker, "state", None)
    running = getattr(state, "all_running_tasks", ())
    return sorted(str(task.key) for task in running if str(task.key).startswith(prefix))


def _import_distributed() -> Any:
    """``dask.distributed``, or a one-line ExecutorError naming the extra to install."""
    if importlib.util.find_spec("distributed") is None:
        raise ExecutorError(f"running a sweep on a Dask cluster needs Dask: {CLUSTER_EXTRA_HINT}")
    try:
        import distributed
    except Exception as error:  # installed but broken (e.g. mismatched dask and distributed)
        raise ExecutorError(
            f"Dask cannot be imported ({error}); reinstall it: {CLUSTER_EXTRA_HINT}"
        ) from None
    return distributed


def start_local_cluster(workers: int) -> Any:
    """A ``distributed.LocalCluster`` of ``workers`` processes on this machine (``local:N``).

    One thread per process (a point is a numpy loop holding the GIL most of the time); no
    dashboard, and the scheduler's HTTP server on any free port, since the default 8787 may be
    taken by another cluster. Close it with ``.close()``.

    Raises
    ------
    ExecutorError
        Dask is not installed, or the cluster does not start.
    """
    distributed = _import_distributed()
    try:
        return distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            silence_logs=logging.ERROR,
        )
    except Exception as error:  # any failure to start is one line for the user
        raise ExecutorError(f"cannot start a local Dask cluster of {workers} workers ({error})") from None


class DaskExecutor:
    """The workers of a ``dask.distributed`` cluster.

    Parameters
    ----------
    scheduler : the scheduler's address (``tcp://host:8786``, ``host:8786``) or ``local:N`` for
        a LocalCluster of N worker processes started here (and closed by :meth:`close`)
    connect_timeout : seconds to wait for the scheduler
    cancel_grace : seconds running tasks get, after a cancel, to finish their current point

    Raises
    ------
    ExecutorError
        Dask is not installed, the address is malformed, or the scheduler cannot be reached
        within ``connect_timeout``.
    """

    def __init__(
        self,
        scheduler: str,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
        cancel_grace: float = CANCEL_GRACE_SECONDS,
    ) -> None:
        check_scheduler(scheduler)
        distributed = _import_distributed()
        self.scheduler = scheduler.strip()
        self.cancel_grace = cancel_grace
        self.description = describe(0, self.scheduler)
        self.cluster: Any = None
        count = local_cluster_size(self.scheduler)
        address = self.scheduler
        if count is not None:
            self.cluster = start_local_cluster(count)
            address = self.cluster.scheduler_address
        try:
            self.client = distributed.Client(address, timeout=connect_timeout, set_as_default=False)
        except Exception as error:  # OSError, TimeoutError, ValueError for a bad address...
            self._close_cluster()
            reason = " ".join(str(error).split()) or type(error).__name__
            raise ExecutorError(
                f"cannot reach the Dask scheduler at {address} within {connect_timeout:g} s ({reason})"
            ) from None
        self.workers = sum(self.client.nthreads().values())

    def run(
        self,
        function: Callable[[Any], Any],
        chunks: Sequence[Chunk],
        on_chunk: ChunkCallback,
        cancelled: Callable[[], bool],
    ) -> bool:
        import distributed

        prefix = f"gradsim-sweep-{uuid.uuid4().hex}"
        stop = distributed.Event(f"{prefix}-stop", client=self.client)
        finished: queue.SimpleQueue[Any] = queue.SimpleQueue()
        futures = []
        for number, chunk in enumerate(chunks):
            future = self.client.submit(
                _apply_until_stopped, function, chunk, stop.name, key=f"{prefix}-{number}"
            )
            # Called on the client's event loop thread; the queue hands the future over.
            future.add_done_callback(finished.put)
            futures.append(future)
        remaining = len(futures)
        try:
            while remaining:
                if cancelled():
                    self._stop(stop, futures, prefix)
                    return True
                try:
                    future = finished.get(timeout=POLL_SECONDS)
                except queue.Empty:
                    continue
                remaining -= 1
                if future.status == "error":
                    error = future.exception()
                    raise ExecutorError(
                        f"a sweep task failed on the Dask cluster: {type(error).__name__}: {error} "
                        "(is the same gradsim installed on every worker?)"
                    )
                if future.status != "finished":
                    raise ExecutorError(f"the Dask cluster lost a sweep task ({future.status})")
                results = future.result()
                future.release()
                on_chunk(results)
            return False
        except BaseException:
            # Stop the rest, but report what went wrong first, not a problem while stopping.
            with contextlib.suppress(Exception):
                self._stop(stop, futures, prefix)
            raise

    def _stop(self, stop: Any, futures: list[Any], prefix: str) -> None:
        """Drop the queued tasks, stop the running ones; return when none is left running."""
        try:
            stop.set()
            self.client.cancel(futures, force=True)
            deadline = time.monotonic() + self.cancel_grace
            restarted = False
            while True:
                busy = [worker for worker, keys in self.client.run(_running_keys, prefix).items() if keys]
                if not busy:
                    break
                if time.monotonic() > deadline:
                    if restarted:
                        raise ExecutorError(
                            f"{len(busy)} Dask worker(s) still run a task of the cancelled sweep"
                        )
                    # Threads cannot be interrupted: the nanny restarts the worker process.
                    self.client.restart_workers(busy)
                    restarted = True
                    deadline = time.monotonic() + self.cancel_grace
                time.sleep(POLL_SECONDS)
            stop.clear()  # deletes the event on the scheduler
        except ExecutorError:
            raise
        except Exception as error:  # the scheduler went away meanwhile: nothing of ours runs there
            if self.client.status == "running":
                raise ExecutorError(
                    f"could not stop the sweep's tasks on the Dask cluster ({error})"
                ) from None

    def close(self) -> None:
        """Disconnect, and stop the LocalCluster if this executor started one."""
        client = getattr(self, "client", None)
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
            self.client = None
        self._close_cluster()

    def _close_cluster(self) -> None:
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.close()
            self.cluster = None


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
