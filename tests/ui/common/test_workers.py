"""Worker: a job on its own thread; values, result and errors by signal; holds, commands, stop."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from multiprocessing.connection import Connection

import pytest
from PySide6 import QtCore

from gradsim.ui.common import workers
from gradsim.ui.common.workers import Cancelled, JobContext, ProcessWorker, Worker, describe_failure


class Seen:
    """What a worker's signals delivered, and on which thread."""

    def __init__(self, worker: Worker) -> None:
        self.values: list[object] = []
        self.returned: list[object] = []
        self.errors: list[str] = []
        self.threads: set[int] = set()
        self.finished = False
        worker.yielded.connect(self._on_value)
        worker.returned.connect(self.returned.append)
        worker.errored.connect(self.errors.append)
        worker.finished.connect(self._on_finished)

    def _on_value(self, value: object) -> None:
        self.threads.add(threading.get_ident())
        self.values.append(value)

    def _on_finished(self) -> None:
        self.finished = True


def test_values_stream_in_order_on_the_gui_thread_and_the_result_follows(qtbot):
    ran_on: list[QtCore.QThread] = []

    def job(context: JobContext) -> str:
        ran_on.append(QtCore.QThread.currentThread())
        for number in range(50):
            context.emit(number)
        return "done"

    worker = Worker(job, name="test-stream")
    seen = Seen(worker)
    worker.start()
    qtbot.waitUntil(lambda: seen.finished, timeout=10000)
    assert seen.values == list(range(50))
    assert seen.returned == ["done"] and seen.errors == []
    assert seen.threads == {threading.main_thread().ident}
    assert ran_on == [worker.thread] and worker.thread is not QtCore.QThread.currentThread()
    assert worker.thread.objectName() == "test-stream"
    assert not worker.is_running and worker.stop(1000)


def test_an_exception_becomes_one_line(qtbot):
    def job(context: JobContext) -> None:
        raise ValueError("first line\nsecond line")

    worker = Worker(job, name="test-error")
    seen = Seen(worker)
    worker.start()
    qtbot.waitUntil(lambda: seen.finished, timeout=10000)
    assert seen.errors == ["first line"] and seen.returned == []
    assert describe_failure(KeyError()) == "KeyError"


def test_commands_arrive_in_order_and_stop_ends_a_waiting_job(qtbot):
    def job(context: JobContext) -> None:
        while True:
            command = context.next_command()
            context.emit(command)

    worker = Worker(job, name="test-commands").start()
    seen = Seen(worker)
    for command in ("a", "b", "c"):
        worker.send(command)
    qtbot.waitUntil(lambda: seen.values == ["a", "b", "c"], timeout=10000)
    assert worker.is_running
    assert worker.stop(timeout_ms=5000)  # the job waits for a command: woken, it is cancelled
    assert not worker.is_running and worker.cancelled
    qtbot.waitUntil(lambda: seen.finished, timeout=10000)
    assert seen.returned == [] and seen.errors == []


def test_next_command_times_out_with_none():
    context = JobContext()
    start = time.perf_counter()
    assert context.next_command(0) is None
    assert context.next_command(0.05) is None
    assert time.perf_counter() - start >= 0.04
    context._send(7)
    assert context.next_command(0) == 7
    context._cancel()
    with pytest.raises(Cancelled):
        context.next_command(0)


def test_a_hold_keeps_the_job_at_its_checkpoint_until_released(qtbot):
    counter = {"passed": 0}
    started = threading.Event()

    def job(context: JobContext) -> None:
        started.set()
        while True:
            context.checkpoint(limit=30.0)
            counter["passed"] += 1
            time.sleep(0.001)

    worker = Worker(job, name="test-hold").start()
    qtbot.waitUntil(started.is_set, timeout=10000)
    worker.hold_for_frame()
    readings = [counter["passed"]]

    def settled() -> bool:
        readings.append(counter["passed"])
        return len(readings) >= 6 and len(set(readings[-6:])) == 1

    qtbot.waitUntil(settled, timeout=10000)
    held_at = counter["passed"]
    qtbot.wait(200)
    assert counter["passed"] == held_at
    worker.release_frame()
    qtbot.waitUntil(lambda: counter["passed"] > held_at + 10, timeout=10000)
    assert worker.stop(5000)  # a cancelled job leaves at its next checkpoint


def test_a_hold_never_released_is_waited_out_once():
    context = JobContext()
    context._hold()
    start = time.perf_counter()
    context.wait_while_held(limit=0.1)
    first = time.perf_counter() - start
    context.wait_while_held(limit=0.1)  # the same hold: not again
    assert first >= 0.09 and time.perf_counter() - start < first + 0.09


def test_stop_waits_for_a_job_that_cannot_be_cut(qtbot):
    release = threading.Event()

    def job(context: JobContext) -> None:
        release.wait(30)  # neither a checkpoint nor a command wait

    worker = Worker(job, name="test-uncut").start()
    threading.Timer(0.3, release.set).start()
    assert worker.stop(timeout_ms=10) is False  # not within 10 ms, but waited for regardless
    assert not worker.is_running and release.is_set()


def test_a_dropped_worker_stops_its_thread_and_the_registry_forgets_finished_ones(qtbot):
    def job(context: JobContext) -> None:
        while True:
            context.checkpoint()
            time.sleep(0.005)

    worker = Worker(job, name="test-dropped").start()
    thread = worker.thread
    assert thread in workers._RUNNING
    del worker  # the finalizer stops it
    assert not thread.isRunning()
    qtbot.waitUntil(lambda: thread not in workers._RUNNING, timeout=10000)


def _echo_twice(connection: Connection) -> None:
    """Child process: answer each message with two, until told 'bye'."""
    while True:
        message = connection.recv()
        if message == "bye":
            return
        connection.send(("echo", message))
        connection.send(("again", message))


def _flood(connection: Connection) -> None:
    """Child process: send numbers without pause until the pipe closes."""
    number = 0
    while True:
        connection.send(number)
        number += 1


def _exit_badly(connection: Connection) -> None:
    """Child process: answer once, then die with exit code 3."""
    connection.send("last words")
    os._exit(3)


def test_a_process_worker_relays_the_child_and_ends_with_it(qtbot):
    worker = ProcessWorker(_echo_twice, name="gradsim-test-echo")
    seen = Seen(worker)
    worker.start()
    worker.send(1)
    worker.send(2)
    qtbot.waitUntil(lambda: len(seen.values) == 4, timeout=60000)
    assert seen.values == [("echo", 1), ("again", 1), ("echo", 2), ("again", 2)]
    pid = worker.pid
    assert pid is not None and pid in [child.pid for child in multiprocessing.active_children()]
    worker.send("bye")
    qtbot.waitUntil(lambda: seen.finished, timeout=30000)
    assert seen.returned == [None] and seen.errors == []
    assert worker.pid is None
    worker.send("nobody listens")  # a command after the end changes nothing
    assert worker.stop(1000)


def test_a_process_that_dies_is_an_error(qtbot):
    worker = ProcessWorker(_exit_badly, name="gradsim-test-exit")
    seen = Seen(worker)
    worker.start()
    qtbot.waitUntil(lambda: seen.finished, timeout=60000)
    assert seen.values == ["last words"]
    assert seen.errors == ["the process ended unexpectedly (exit code 3)"] and seen.returned == []


def test_stopping_a_process_worker_ends_the_process(qtbot):
    worker = ProcessWorker(_echo_twice, name="gradsim-test-echo")
    seen = Seen(worker)
    worker.start()
    worker.send("ping")
    qtbot.waitUntil(lambda: len(seen.values) == 2, timeout=60000)
    pid = worker.pid
    assert pid is not None
    assert worker.stop(timeout_ms=10000)
    assert not worker.is_running
    assert worker.pid is None and pid not in [child.pid for child in multiprocessing.active_children()]
    qtbot.waitUntil(lambda: seen.finished, timeout=10000)
    assert seen.errors == []


def test_stopping_a_process_worker_whose_child_never_pauses(qtbot):
    # Each wait for the next message finds one at once; the relay still sees the cancel.
    worker = ProcessWorker(_flood, name="gradsim-test-flood")
    seen = Seen(worker)
    worker.start()
    qtbot.waitUntil(lambda: len(seen.values) >= 100, timeout=60000)
    assert worker.stop()
    assert not worker.is_running and worker.pid is None
    # finished comes after every value still queued: none is delivered once `seen` is gone.
    qtbot.waitUntil(lambda: seen.finished, timeout=10000)
    assert seen.values == list(range(len(seen.values))) and seen.errors == []
