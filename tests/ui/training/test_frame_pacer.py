"""The frame pacer: a frame only for new data, the worker held while it paints, the GUI thread
left idle at least half the time (on a fake clock: no wall-clock bounds)."""

from __future__ import annotations

import pytest
from PySide6 import QtCore

from gradsim.ui.training import frame_pacer
from gradsim.ui.training.frame_pacer import FramePacer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(frame_pacer.time, "perf_counter", fake)
    return fake


def make_pacer(clock: Clock, *, visible: bool = True, thread: bool = False, draw_cost: float = 0.004):
    calls: list[str] = []

    def draw() -> None:
        calls.append("draw")
        clock.now += draw_cost

    owner = QtCore.QObject()
    pacer = FramePacer(
        draw, lambda: calls.append("hold"), lambda: calls.append("release"),
        lambda: visible, lambda: thread, parent=owner,
    )  # fmt: skip
    pacer._timer.stop()  # the test calls draw_due itself
    return pacer, calls, owner


def test_a_frame_only_when_new_data_came_and_the_worker_waits_while_it_paints(qapp, clock) -> None:
    pacer, calls, _owner = make_pacer(clock)
    pacer.draw_due()
    assert calls == []  # nothing new: no frame
    pacer.dirty = True
    pacer.draw_due()
    assert calls == ["hold", "draw"] and pacer.held and not pacer.dirty
    pacer.dirty = True
    pacer.draw_due()
    assert calls == ["hold", "draw"]  # the frame still paints: no second one
    with pacer.painting():
        clock.now += 0.006
    assert pacer._quiet.isActive()  # a paint extends the hold
    pacer._quiet.stop()
    pacer._frame_over()
    assert calls[-1] == "release" and not pacer.held


def test_the_next_frame_waits_twice_the_measured_work(qapp, clock) -> None:
    pacer, calls, _owner = make_pacer(clock, draw_cost=0.004)
    pacer.dirty = True
    pacer.draw_due()  # starts at 100.0; the update costs 4 ms
    with pacer.painting():
        clock.now += 0.016  # the paint 16 ms: 20 ms of work
    clock.now += 0.010  # the quiet time
    pacer._frame_over()
    pacer.dirty = True
    clock.now = 100.0 + 0.039
    pacer.draw_due()
    assert calls.count("draw") == 1  # 39 ms after the start: under 2 x 20 ms
    clock.now = 100.0 + 0.0401
    pacer.draw_due()
    assert calls.count("draw") == 2


def test_a_held_thread_gets_as_long_again_as_the_frame_took(qapp, clock) -> None:
    pacer, calls, _owner = make_pacer(clock, thread=True, draw_cost=0.001)
    pacer.dirty = True
    pacer.draw_due()  # 1 ms of work
    clock.now += 0.030  # held 31 ms in all (paint events and the quiet time)
    pacer._frame_over()  # at 100.031: the thread gets until 100.062
    pacer.dirty = True
    clock.now = 100.061
    pacer.draw_due()
    assert calls.count("draw") == 1
    clock.now = 100.0621
    pacer.draw_due()
    assert calls.count("draw") == 2


def test_a_hidden_window_draws_without_holding_the_worker(qapp, clock) -> None:
    pacer, calls, _owner = make_pacer(clock, visible=False)
    pacer.dirty = True
    pacer.draw_due()
    assert calls == ["draw"] and not pacer.held
