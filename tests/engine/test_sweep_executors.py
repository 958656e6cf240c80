"""Sweep executors: a Dask cluster gives the local pool's grid bit for bit, and a cancel leaves
no task of the sweep running on it (neither queued at the scheduler nor executing on a worker).

The cluster tests need the ``cluster`` extra (dask.distributed) and skip cleanly without it.
They share one LocalCluster of 2 worker processes (about 10 s to start on a loaded 2-core
machine), except the one that checks ``local:2`` starts and stops its own.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from helpers import heavy_spec, small_config

from gradsim.engine import sweep_executors, sweep_executors_dask
from gradsim.engine.sweep import SweepError, SweepSpec, make_axis, point_key, run_sweep
from gradsim.engine.sweep_executors import (
    CLUSTER_EXTRA_HINT,
    ChunkedTasks,
    DaskExecutor,
    ExecutorError,
    InProcessExecutor,
    LocalPoolExecutor,
    check_scheduler,
    describe,
    local_cluster_size,
    make_executor,
)

SMALL = small_config(num_layers=1, activation="tanh", task="random")
SWEEP_PREFIX = "gradsim-sweep-"


# -- without Dask --------------------------------------------------------------------------------
def test_scheduler_text_is_checked_before_anything_starts(monkeypatch):
    assert local_cluster_size("local:3") == 3 and local_cluster_size(" LOCAL:1 ") == 1
    assert local_cluster_size("tcp://10.0.0.5:8786") is None
    for bad in ("local:0", "local:x", "local:", "local:257"):
        with pytest.raises(ExecutorError, match="local:N with N from 1 to 256"):
            local_cluster_size(bad)
    with pytest.raises(ExecutorError, match="address is empty"):
        check_scheduler("  ")
    # Without the extra: one line naming what to install, from the engine and from run_sweep.
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "distributed" else real_find_spec(name, *a),
    )
    with pytest.raises(ExecutorError) as missing:
        check_scheduler("tcp://10.0.0.5:8786")
    assert str(missing.value) == f"running a sweep on a Dask cluster needs Dask: {CLUSTER_EXTRA_HINT}"
    assert CLUSTER_EXTRA_HINT == 'pip install "gradsim[cluster]"'
    spec = SweepSpec(SMALL, make_axis("weight_scale", 0.5, 1.5, 2), make_axis("seq_len", 5, 10, 2))
    with pytest.raises(SweepError, match=r'pip install "gradsim\[cluster\]"'):
        run_sweep(spec, scheduler="local:2", cache=None)


def test_descriptions_and_the_executor_chosen():
    assert describe(0, None) == "this process"
    assert describe(1, None) == "a local pool of 1 process"
    assert describe(4, None) == "a local pool of 4 processes"
    assert describe(4, "local:2") == "a Dask LocalCluster of 2 workers"
    assert describe(0, " tcp://h:8786 ") == "the Dask cluster at tcp://h:8786"
    assert isinstance(make_executor(0, None, 10), InProcessExecutor)
    pool = make_executor(4, None, 3)  # never more processes than tasks
    assert isinstance(pool, LocalPoolExecutor) and pool.workers == 3


def test_in_process_executor_hands_over_the_part_of_a_chunk_it_finished():
    chunks_back: list[list[Any]] = []
    calls = []

    def cancelled() -> bool:
        calls.append(1)
        return len(calls) > 3

    stopped = InProcessExecutor().run(
        ChunkedTasks(lambda x: x * x, [[1, 2], [3, 4]]), chunks_back.append, cancelled
    )
    assert stopped and chunks_back == [[1, 4], [9]]


# -- on a Dask cluster ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    pytest.importorskip("distributed")
    local = sweep_executors.start_local_cluster(2)
    yield local
    local.close()


@pytest.fixture(scope="module")
def observer(cluster: Any) -> Iterator[Any]:
    """A client of the test's own, to look at the scheduler and the workers."""
    import distributed

    client = distributed.Client(cluster.scheduler_address, set_as_default=False)
    yield client
    client.close()


def sweep_tasks_anywhere(client: Any) -> tuple[list[str], dict[str, list[str]]]:
    """(keys of sweep tasks the scheduler still knows, {worker: sweep keys it is executing})."""
    scheduled = client.run_on_scheduler(
        lambda dask_scheduler: sorted(str(k) for k in dask_scheduler.tasks if str(k).startswith(SWEEP_PREFIX))
    )
    executing = client.run(sweep_executors_dask._running_keys, SWEEP_PREFIX)
    return scheduled, {worker: keys for worker, keys in executing.items() if keys}


def test_a_6x6_sweep_on_a_local_cluster_equals_the_local_pool_bit_for_bit():
    pytest.importorskip("distributed")
    spec = SweepSpec(
        SMALL,
        make_axis("weight_scale", 0.5, 2.0, 6),
        make_axis("seq_len", 4, 40, 6, "log"),
        iterations=2,
        seeds=2,
    )
    pool = run_sweep(spec, workers=2, cache=None)
    reports = []
    cache: dict[str, Any] = {}

    class Recorder:  # the same cache protocol the store implements
        def get(self, key: str) -> Any:
            return cache.get(key)

        def put_many(self, items: Any) -> None:
            cache.update(items)

    dask = run_sweep(spec, scheduler="local:2", cache=Recorder(), progress=reports.append)
    assert (dask.workers, dask.ran_on) == (2, "a Dask LocalCluster of 2 workers")
    assert pool.ran_on == "a local pool of 2 processes"
    for name in ("values", "seed_values"):
        a, b = getattr(pool, name), getattr(dask, name)
        assert a.shape == b.shape and a.tobytes() == b.tobytes(), name  # every bit, NaN included
    np.testing.assert_array_equal(pool.status, dask.status)
    assert dask.computed.all() and np.isfinite(dask.values).sum() > 20
    # Progress as with the pool: every cell once, ending at the total; every point cached.
    cells = sorted((row, column) for report in reports for row, column, _ in report.points)
    assert cells == sorted(spec.indices()) and reports[-1].done == spec.size
    assert len(cache) == spec.size
    row, column = 4, 3
    key = point_key(spec.config_at(row, column), 2, spec.seeds)  # type: ignore[arg-type]
    assert cache[key].value == pool.values[row, column]


def test_cancel_on_a_cluster_leaves_no_task_queued_or_running(cluster, observer):
    spec = heavy_spec()
    cancel = threading.Event()
    reports = []

    def on_progress(report):
        reports.append(report)
        if report.done > report.cached:  # the first chunk is back; the others queue or run
            cancel.set()

    result = run_sweep(
        spec, scheduler=cluster.scheduler_address, cache=None, progress=on_progress, cancel=cancel
    )
    assert result.cancelled and 0 < result.computed.sum() < spec.size
    assert result.ran_on == f"the Dask cluster at {cluster.scheduler_address}" and result.workers == 2
    # Right after run_sweep returns: nothing of the sweep at the scheduler or on a worker.
    assert sweep_tasks_anywhere(observer) == ([], {})
    assert np.isnan(result.values[~result.computed]).all()
    # The cluster is intact (cancel stopped the tasks between points; no worker was restarted)
    # and serves the next sweep.
    assert len(observer.scheduler_info()["workers"]) == 2
    small = SweepSpec(SMALL, make_axis("weight_scale", 0.5, 1.5, 2), make_axis("seq_len", 5, 10, 2))
    again = run_sweep(small, scheduler=cluster.scheduler_address, cache=None)
    here = run_sweep(small, workers=0, cache=None)
    assert again.values.tobytes() == here.values.tobytes()


def test_a_task_that_ignores_the_stop_is_ended_by_restarting_its_worker(cluster, observer):
    # time.sleep cannot look at the stop event: after the grace period the worker is restarted.
    executor = DaskExecutor(cluster.scheduler_address, cancel_grace=0.5)
    try:
        started = []

        def cancelled() -> bool:
            if not started:
                _, executing = sweep_tasks_anywhere(observer)
                if executing:
                    started.append(time.monotonic())
            return bool(started)

        back: list[Any] = []
        sleeps = ChunkedTasks(time.sleep, [[60.0], [60.0], [60.0]])
        assert executor.run(sleeps, back.append, cancelled) is True
        assert back == [] and sweep_tasks_anywhere(observer) == ([], {})
    finally:
        executor.close()
    observer.wait_for_workers(2, timeout=60)


def test_an_unreachable_scheduler_is_one_line_after_the_timeout():
    pytest.importorskip("distributed")
    spec = SweepSpec(SMALL, make_axis("weight_scale", 0.5, 1.5, 2), make_axis("seq_len", 5, 10, 2))
    with pytest.raises(SweepError) as failure:
        # Port 9 (discard) has no scheduler: the connection is refused until the timeout.
        run_sweep(spec, scheduler="tcp://127.0.0.1:9", cache=None)
    message = str(failure.value)
    assert message.startswith("cannot reach the Dask scheduler at tcp://127.0.0.1:9 within 5 s (")
    assert "\n" not in message


def test_a_task_that_fails_on_the_cluster_is_one_line_and_stops_the_rest(cluster, observer):
    import math

    executor = DaskExecutor(cluster.scheduler_address)
    back: list[Any] = []
    try:
        with pytest.raises(ExecutorError) as failure:
            # sqrt(-1) raises in the worker; the other chunks are cancelled.
            chunks = [[4.0], [-1.0], *[[float(n)] for n in range(40)]]
            executor.run(ChunkedTasks(math.sqrt, chunks), back.append, lambda: False)
    finally:
        executor.close()
    message = str(failure.value)
    assert message.startswith("a sweep task failed on the Dask cluster: ValueError: math domain error")
    assert "is the same gradsim installed on every worker?" in message and "\n" not in message
    assert sweep_tasks_anywhere(observer) == ([], {})
