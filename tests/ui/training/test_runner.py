"""Runner: the worker thread or process trains the engine and hands back exactly its records.

Every record that crosses the thread (or the pipe of the training process) is compared with a
fresh ``Simulation`` of the same config run in the test (same seed, same numbers, bit for bit).
Tests that take ``each_kind`` run for both kinds of runner; the others inspect the worker's
simulation, which only the ``thread`` kind has in this process.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import signal
import time

import numpy as np
import pytest
from helpers import EXPLODING_LONG, LARGEST, small_config

from gradsim.engine.config import SimConfig
from gradsim.engine.records import StepRecord
from gradsim.engine.simulation import Simulation
from gradsim.ui.common import workers
from gradsim.ui.training import runner as runner_module
from gradsim.ui.training.runner import FRAME_HOLD_LIMIT, RUNNER_KINDS, Runner, limit_blas_threads, runner_kind

pytestmark = [pytest.mark.qt_log_level_fail("WARNING")]

SMALL = small_config(seed=5)
OTHER = SimConfig(num_layers=3, hidden_size=6, seq_len=9, batch_size=3, seed=1, activation="relu")
# ReLU with three times the stable weights over 200 steps and a large step: the first update
# throws the weights so far that iteration 2 overflows.
EXPLODING = EXPLODING_LONG
# One step takes seconds (16 layers x 2000 time steps, each a handful of numpy calls) while its
# memory stays small: long enough to be caught mid-step.
SLOW = LARGEST


class Collector:
    """Records every batch the runner passes on."""

    def __init__(self, runner: Runner) -> None:
        self.records: list[StepRecord] = []
        self.arrivals: list[float] = []
        runner.recordsReady.connect(self._on_records)

    def _on_records(self, records: list[StepRecord]) -> None:
        self.records.extend(records)
        self.arrivals.extend([time.perf_counter()] * len(records))


@pytest.fixture(params=RUNNER_KINDS)
def each_kind(request: pytest.FixtureRequest) -> str:
    """Each kind of runner in turn: ``"thread"``, ``"process"``."""
    return request.param


@pytest.fixture
def make_runner(qtbot):
    runners: list[Runner] = []

    def make(config: SimConfig, kind: str = "thread") -> tuple[Runner, Collector]:
        runner = Runner(config, kind=kind)
        assert runner.kind == kind
        runners.append(runner)
        collector = Collector(runner)
        if runner.built_config is None:
            with qtbot.waitSignal(runner.rebuilt, timeout=10000):
                pass
        return runner, collector

    yield make
    for runner in runners:
        pid = runner.process_id
        runner.shutdown()
        assert not runner.thread.isRunning()
        assert runner.process_id is None
        if pid is not None:
            assert pid not in [child.pid for child in multiprocessing.active_children()]


def test_steps_equal_the_engine(qtbot, make_runner, each_kind, engine_records, assert_same_record):
    runner, collected = make_runner(SMALL, each_kind)
    for _ in range(4):
        runner.step()
    qtbot.waitUntil(lambda: len(collected.records) == 4, timeout=5000)
    for want, got in zip(engine_records(SMALL, 4), collected.records, strict=True):
        assert_same_record(want, got)
    if each_kind == "thread":
        assert runner.simulation is not None and runner.simulation.iteration == 4
    else:
        assert runner.simulation is None and runner.process_id is not None
    assert not runner.is_running


def test_play_runs_and_pause_stops_between_steps(
    qtbot, make_runner, each_kind, engine_records, assert_same_record
):
    runner, collected = make_runner(SMALL, each_kind)
    with qtbot.waitSignal(runner.runningChanged, check_params_cb=lambda running: running):
        runner.play()
    qtbot.waitUntil(lambda: len(collected.records) >= 20, timeout=10000)
    with qtbot.waitSignal(runner.runningChanged, check_params_cb=lambda running: not running):
        runner.pause()
    seen = len(collected.records)
    # Commands are handled in order: if training had gone on after the pause, this step's
    # record would not directly follow the last one received before it.
    runner.step()
    qtbot.waitUntil(lambda: len(collected.records) > seen, timeout=5000)
    assert len(collected.records) == seen + 1
    iterations = [record.iteration for record in collected.records]
    assert iterations == list(range(1, seen + 2))
    for want, got in zip(engine_records(SMALL, seen + 1), collected.records, strict=True):
        assert_same_record(want, got)


def test_records_are_copies(qtbot, make_runner, each_kind):
    runner, collected = make_runner(SMALL, each_kind)
    runner.step()
    runner.step()
    qtbot.waitUntil(lambda: len(collected.records) == 2, timeout=5000)
    first, second = collected.records
    assert not np.shares_memory(first.grad_norms, second.grad_norms)
    if each_kind == "process":
        return  # unpickled from the pipe: nothing it could share memory with
    simulation = runner.simulation
    assert simulation is not None
    for record in collected.records:
        for array in (record.grad_norms, record.preactivation_samples, record.saturation):
            assert not any(np.shares_memory(array, value) for value in simulation.params.values())


def test_rebuild_restarts_with_the_new_config_and_drops_old_records(
    qtbot, make_runner, each_kind, engine_records, assert_same_record
):
    runner, collected = make_runner(SMALL, each_kind)
    runner.play()
    qtbot.waitUntil(lambda: len(collected.records) >= 5, timeout=10000)
    before = len(collected.records)
    with qtbot.waitSignal(runner.rebuilt, check_params_cb=lambda config: config == OTHER, timeout=5000):
        runner.rebuild(OTHER)
    assert runner.built_config == OTHER and runner.config == OTHER
    if each_kind == "thread":
        assert runner.simulation is not None and runner.simulation.config == OTHER
    qtbot.waitUntil(lambda: len(collected.records) >= before + 5, timeout=10000)
    runner.pause()
    after = collected.records[before:]
    # Batches of the old run still in flight when the rebuild was asked for never arrive.
    assert [record.iteration for record in after] == list(range(1, len(after) + 1))
    assert all(record.grad_norms.shape == (3, 9) for record in after)
    for want, got in zip(engine_records(OTHER, 3), after, strict=False):
        assert_same_record(want, got)


def test_reset_starts_the_same_run_again(qtbot, make_runner, each_kind, engine_records, assert_same_record):
    runner, collected = make_runner(SMALL, each_kind)
    for _ in range(3):
        runner.step()
    qtbot.waitUntil(lambda: len(collected.records) == 3, timeout=5000)
    with qtbot.waitSignal(runner.rebuilt, timeout=5000):
        runner.reset()
    runner.step()
    qtbot.waitUntil(lambda: len(collected.records) == 4, timeout=5000)
    assert_same_record(engine_records(SMALL, 1)[0], collected.records[3])


def test_speed_limit_spaces_the_steps(qtbot, make_runner, each_kind):
    runner, collected = make_runner(SMALL, each_kind)
    runner.set_speed(5.0)
    assert runner.speed == 5.0
    runner.play()
    qtbot.waitUntil(lambda: len(collected.records) >= 3, timeout=10000)
    runner.pause()
    # At 5 iterations per second the third step cannot come sooner than 0.4 s after the first
    # (a lower bound: a slow machine only makes it later).
    assert collected.arrivals[2] - collected.arrivals[0] >= 0.35
    with pytest.raises(ValueError, match="positive"):
        runner.set_speed(0)
    runner.set_speed(None)
    assert math.isinf(runner.speed)


def test_nonfinite_run_pauses_itself_without_exception(qtbot, make_runner, each_kind):
    runner, collected = make_runner(EXPLODING, each_kind)
    runner.play()
    with qtbot.waitSignal(runner.halted, timeout=20000) as halted:
        pass
    event = halted.args[0]
    assert event is not None and event.iteration == collected.records[-1].iteration
    assert collected.records[-1].nonfinite == event
    qtbot.waitUntil(lambda: not runner.is_running, timeout=5000)
    # The engine's own run halts at the same iteration at the same place.
    simulation = Simulation(EXPLODING)
    while (record := simulation.train_step()) is not None and record.nonfinite is None:
        pass
    assert record is not None and record.nonfinite == event
    # Playing or stepping a halted run only repeats the message.
    count = len(collected.records)
    with qtbot.waitSignal(runner.halted, timeout=5000):
        runner.step()
    assert len(collected.records) == count


def playing_with_a_probe(make_runner, forward_probe, config: SimConfig):
    """A playing runner of ``config`` whose forward pass ``probe`` counts: (runner, collected, probe)."""
    runner, collected = make_runner(config)
    assert runner.simulation is not None
    probe = forward_probe(runner.simulation)
    runner.play()
    return runner, collected, probe


def test_shutdown_abandons_a_step_in_its_forward_pass(qtbot, make_runner, forward_probe):
    runner, collected, probe = playing_with_a_probe(make_runner, forward_probe, SLOW)
    qtbot.waitUntil(probe.started.is_set, timeout=10000)
    assert runner.shutdown(timeout_ms=1000)
    assert not runner.thread.isRunning()
    # The forward pass stopped at its next time step instead of running to the end.
    assert probe.calls < SLOW.num_layers * SLOW.seq_len
    assert collected.records == []
    assert runner.simulation is None


def test_rebuild_abandons_a_step_in_its_forward_pass(qtbot, make_runner, forward_probe):
    runner, collected, probe = playing_with_a_probe(make_runner, forward_probe, SLOW)
    qtbot.waitUntil(probe.started.is_set, timeout=10000)
    with qtbot.waitSignal(runner.rebuilt, check_params_cb=lambda config: config == SMALL, timeout=10000):
        runner.rebuild(SMALL)
    assert probe.calls < SLOW.num_layers * SLOW.seq_len
    qtbot.waitUntil(lambda: len(collected.records) >= 2, timeout=10000)
    runner.pause()
    assert all(record.grad_norms.shape == (2, 12) for record in collected.records)
    assert collected.records[0].iteration == 1


def test_a_frame_hold_stops_the_worker_until_released(qtbot, make_runner, forward_probe, monkeypatch):
    # A long limit, so that a slow machine cannot mistake the limit lapsing for a failed hold.
    monkeypatch.setattr(workers, "FRAME_HOLD_LIMIT", 30.0)
    runner, collected, probe = playing_with_a_probe(make_runner, forward_probe, SMALL)
    qtbot.waitUntil(lambda: len(collected.records) >= 3, timeout=10000)
    runner.hold_for_frame()
    readings = [probe.calls]

    def settled() -> bool:
        readings.append(probe.calls)
        return len(set(readings[-6:])) == 1 and len(readings) >= 6

    qtbot.waitUntil(settled, timeout=10000)  # the worker reached a checkpoint and waits there
    held_at = probe.calls
    qtbot.wait(300)
    assert probe.calls == held_at
    runner.release_frame()
    qtbot.waitUntil(lambda: probe.calls > held_at + 10, timeout=5000)
    runner.pause()


def test_a_hold_never_released_lapses_after_the_limit(qtbot, make_runner, forward_probe):
    runner, collected, probe = playing_with_a_probe(make_runner, forward_probe, SMALL)
    qtbot.waitUntil(lambda: len(collected.records) >= 3, timeout=10000)
    runner.hold_for_frame()
    held_at, held = probe.calls, time.perf_counter()
    # Training goes on although nobody releases the hold: the worker waits it out once, for
    # FRAME_HOLD_LIMIT, then trains at full speed (hundreds of time steps in a moment).
    qtbot.waitUntil(lambda: probe.calls > held_at + 200, timeout=10000)
    assert time.perf_counter() - held >= FRAME_HOLD_LIMIT * 0.9
    runner.release_frame()
    runner.pause()


def test_blas_threads_leave_a_core_to_the_gui(qtbot, make_runner):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    make_runner(SMALL)
    limit = limit_blas_threads()
    assert limit == max(1, (os.cpu_count() or 1) - 1)
    blas = [pool for pool in threadpoolctl.threadpool_info() if pool["user_api"] == "blas"]
    assert blas and all(pool["num_threads"] <= limit for pool in blas)


def test_capture_copies_the_parameters_between_steps(qtbot, make_runner, each_kind):
    runner, collector = make_runner(SMALL, each_kind)
    for _ in range(3):
        runner.step()
    qtbot.waitUntil(lambda: len(collector.records) == 3, timeout=5000)
    with qtbot.waitSignal(runner.captured, timeout=5000) as blocker:
        token = runner.capture()
    capture = blocker.args[0]
    assert capture.token == token and capture.config == SMALL
    assert capture.iteration == 3 and not capture.halted
    # The same parameters as a simulation of the same config after the same three steps.
    reference = Simulation(SMALL)
    for _ in range(3):
        reference.train_step()
    assert capture.params.keys() == reference.params.keys()
    for name, value in reference.params.items():
        np.testing.assert_array_equal(capture.params[name], value, err_msg=name)
    # Copies: training on does not change what was captured.
    before = {name: value.copy() for name, value in capture.params.items()}
    runner.step()
    qtbot.waitUntil(lambda: len(collector.records) == 4, timeout=5000)
    for name, value in before.items():
        np.testing.assert_array_equal(capture.params[name], value)
    # A capture asked for before a rebuild is dropped: it belongs to the old run.
    seen = []
    runner.captured.connect(seen.append)
    runner.capture()
    with qtbot.waitSignal(runner.rebuilt, timeout=5000):
        runner.rebuild(OTHER)
    qtbot.wait(50)
    assert seen == []


# -- the kinds of runner ----------------------------------------------------------------------------


def test_the_runner_kind_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("GRADSIM_RUNNER", raising=False)
    assert runner_kind() == runner_module.DEFAULT_RUNNER
    monkeypatch.setenv("GRADSIM_RUNNER", " Process ")
    assert runner_kind() == "process"
    assert runner_kind("thread") == "thread"  # an explicit kind wins
    monkeypatch.setenv("GRADSIM_RUNNER", "fiber")
    with pytest.raises(ValueError, match=r"GRADSIM_RUNNER must be one of thread, process \(got 'fiber'\)"):
        runner_kind()


def test_closing_ends_the_training_process(qtbot, make_runner):
    runner, collected = make_runner(SMALL, "process")
    pid = runner.process_id
    assert pid is not None and pid != os.getpid()
    assert pid in [child.pid for child in multiprocessing.active_children()]
    runner.play()
    qtbot.waitUntil(lambda: len(collected.records) >= 3, timeout=10000)
    assert runner.shutdown(timeout_ms=5000)
    assert runner.process_id is None
    assert pid not in [child.pid for child in multiprocessing.active_children()]
    assert not runner.thread.isRunning()


def test_a_dead_training_process_is_reported(qtbot, make_runner):
    runner, collected = make_runner(SMALL, "process")
    with qtbot.waitSignal(runner.runningChanged, check_params_cb=lambda running: running):
        runner.play()
    pid = runner.process_id
    assert pid is not None
    with qtbot.waitSignal(runner.failed, timeout=20000) as failed:
        os.kill(pid, signal.SIGKILL)
    assert failed.args[0] == f"training stopped: the process ended unexpectedly (exit code {-signal.SIGKILL})"
    assert not runner.is_running
    qtbot.waitUntil(lambda: not runner.thread.isRunning(), timeout=10000)
