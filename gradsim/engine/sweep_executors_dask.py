"""The Dask executor: a sweep's chunks as tasks of a ``dask.distributed`` cluster (``gradsim[cluster]``).

Part of the sweep executors (:mod:`gradsim.engine.sweep_executors` explains them and re-exports
these names). ``distributed`` is imported only when a cluster is used.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import queue
import re
import time
import uuid
from typing import Any

from .sweep_executors_local import (
    CANCEL_GRACE_SECONDS,
    CLUSTER_EXTRA_HINT,
    CONNECT_TIMEOUT_SECONDS,
    POLL_SECONDS,
    CancelCheck,
    Chunk,
    ChunkCallback,
    ChunkedTasks,
    ExecutorError,
    TaskFunction,
    describe,
    local_cluster_size,
)

# -- a Dask cluster -----------------------------------------------------------------------------
# A scheduler's address as dask.distributed reads one: an optional scheme (tcp when left out), a
# host name, an IPv4 address or an [IPv6] address in brackets, and a port.
_ADDRESS = re.compile(
    r"(?:(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://)?(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(?P<port>[0-9]{1,5})"
)
# The schemes of a scheduler another process can reach (inproc:// is within one process only).
_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")


def _address_scheme(scheduler: str) -> str:
    """The scheme of a scheduler address (``tcp`` when none is written), or an ExecutorError
    saying how one is written; checked here because a Client given a malformed address fails
    only after its timeout and then stalls the interpreter's exit on its way out."""
    match = _ADDRESS.fullmatch(scheduler)
    scheme = (match.group("scheme") or "tcp").lower() if match else ""
    if match is None or scheme not in _SCHEMES or not 1 <= int(match.group("port")) <= 65535:
        raise ExecutorError(
            f"not a Dask scheduler address: {scheduler!r} (expected tcp://HOST:PORT, or local:N)"
        )
    return scheme


def check_scheduler(scheduler: str) -> None:
    """Refuse a scheduler that cannot work before any time is spent: an empty or malformed
    address, or Dask not installed (the message names the extra to install)."""
    text = scheduler.strip()
    if not text:
        raise ExecutorError("the Dask scheduler address is empty (e.g. tcp://host:8786, or local:2)")
    if local_cluster_size(text) is None:
        _address_scheme(text)
    if importlib.util.find_spec("distributed") is None:
        raise ExecutorError(f"running a sweep on a Dask cluster needs Dask: {CLUSTER_EXTRA_HINT}")


def _apply_until_stopped(function: TaskFunction, chunk: Chunk, stop_name: str) -> list[Any]:
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


def _check_transport(distributed: Any, scheme: str) -> None:
    """Refuse a scheme this Dask has no working transport for (``ucx`` needs a further package)."""
    try:
        distributed.comm.registry.get_backend(scheme).get_connector()
    except Exception as error:  # ValueError: unknown scheme; ImportError, TypeError: a stub of one
        reason = " ".join(str(error).split()) or type(error).__name__
        raise ExecutorError(f"Dask cannot connect to a {scheme}:// address here ({reason})") from None


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
        else:
            _check_transport(distributed, _address_scheme(address))
        # Made in two steps so that a Client whose start fails can be closed here: left to its
        # __del__, it stalls the interpreter's exit for twice the timeout and prints a traceback.
        client = distributed.Client.__new__(distributed.Client)
        try:
            client.__init__(address, timeout=connect_timeout, set_as_default=False)
        except Exception as error:  # OSError, TimeoutError, TypeError for TLS without a context...
            with contextlib.suppress(Exception):
                client.close()
            self._close_cluster()
            reason = " ".join(str(error).split()) or type(error).__name__
            # Dask reports an unreachable scheduler as an OSError once the timeout has passed.
            waited = f" within {connect_timeout:g} s" if isinstance(error, OSError) else ""
            raise ExecutorError(f"cannot reach the Dask scheduler at {address}{waited} ({reason})") from None
        self.client = client
        self.workers = sum(self.client.nthreads().values())

    def run(self, tasks: ChunkedTasks, on_chunk: ChunkCallback, cancelled: CancelCheck) -> bool:
        import distributed

        prefix = f"gradsim-sweep-{uuid.uuid4().hex}"
        stop = distributed.Event(f"{prefix}-stop", client=self.client)
        finished: queue.SimpleQueue[Any] = queue.SimpleQueue()
        futures = []
        for number, chunk in enumerate(tasks.chunks):
            future = self.client.submit(
                _apply_until_stopped, tasks.function, chunk, stop.name, key=f"{prefix}-{number}"
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
