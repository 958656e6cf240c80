"""The frame pacer: a frame only for new data, drawn at its due time (a single-shot timer), a
worker thread held while it paints, the GUI thread left idle a share of the time (on a fake
clock: no wall-clock bounds)."""

from __future__ import annotations

import math

import pytest
from PySide6 import QtCore

from gradsim.ui.training import frame_pacer
from gradsim.ui.training.frame_pacer import CATCH_UP, PACE_PROCESS, PACE_THREAD, REDRAW_HZ, FramePacer

PERIOD = 1.0 / REDRAW_HZ


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


class Window:
    """What the pacer is told: a fake window whose frames cost ``draw_cost`` seconds to update
    and whose dashboard has ``pending`` views still to paint."""

    def __init__(self, clock: Clock, *, visible: bool = True, thread: bool = False, draw_cost: float = 0.004):
        self.calls: list[str] = []
        self.pending = 0
        self.owner = QtCore.QObject()

        def draw() -> None:
            self.calls.append("draw")
            clock.now += draw_cost

        self.pacer = FramePacer(
            draw, lambda: self.calls.append("hold"), lambda: self.calls.append("release"),
            lambda: visible, lambda: thread, parent=self.owner, settled=lambda: self.pending == 0,
        )  # fmt: skip

    def new_frame(self) -> None:
        """New records came and the pacer's timer fired: a frame if the pace allows."""
        self.pacer.dirty = True
        self.pacer.draw_due()

    def paint(self, clock: Clock, seconds: float) -> None:
        """One window update painting the next waiting view for ``seconds``."""
        with self.pacer.painting():
            clock.now += seconds
            self.pending = max(0, self.pending - 1)


def due_in_ms(pacer: FramePacer) -> int | None:
    """The interval the pacer's timer was started with, or None when it is not running."""
    return pacer._timer.interval() if pacer._timer.isActive() else None


def test_a_frame_only_when_new_data_came_and_at_once_when_it_is_due(qapp, clock) -> None:
    window = Window(clock)
    pacer = window.pacer
    pacer.draw_due()
    assert window.calls == [] and due_in_ms(pacer) is None  # nothing new: no frame, no timer
    pacer.dirty = True
    assert due_in_ms(pacer) == 0  # due since long ago: the timer fires at once
    pacer.draw_due()
    assert window.calls == ["draw"] and pacer.drawing and not pacer.dirty
    pacer.dirty = True
    assert due_in_ms(pacer) is None  # a frame is on: the next is scheduled when it ends
    pacer.draw_due()
    assert window.calls == ["draw"]


def test_a_process_worker_is_not_held_and_the_frame_ends_with_its_last_paint(qapp, clock) -> None:
    window = Window(clock, thread=False)
    pacer = window.pacer
    window.new_frame()
    window.pending = 2  # two staggered views to paint
    assert not pacer.held and "hold" not in window.calls
    window.paint(clock, 0.003)
    assert pacer.drawing and pacer._quiet.isActive()  # one view left: the frame goes on
    window.paint(clock, 0.003)
    assert not pacer.drawing and not pacer._quiet.isActive()  # all painted: over at once
    assert window.calls == ["draw"]


def test_a_cheap_frame_is_followed_one_period_after_it_was_due(qapp, clock) -> None:
    window = Window(clock, draw_cost=0.002)
    pacer = window.pacer
    window.new_frame()
    pacer._frame_over()
    due = clock.now = pacer.next_at  # a frame drawn on time
    window.new_frame()  # 2 ms of update
    window.pending = 1
    window.paint(clock, 0.003)  # 5 ms of work in all, its pace well inside a period
    assert PACE_PROCESS * 0.005 < PERIOD
    assert pacer.next_at == pytest.approx(due + PERIOD)  # not the next tick after the frame
    pacer.dirty = True
    assert due_in_ms(pacer) == math.ceil((PERIOD - 0.005) * 1000)  # the rest of the period
    clock.now = due + PERIOD - 0.002
    pacer.draw_due()  # the timer came early: waits on
    assert window.calls.count("draw") == 2 and due_in_ms(pacer) == 2
    clock.now = due + PERIOD
    pacer.draw_due()
    assert window.calls.count("draw") == 3


def test_a_late_frame_lets_the_next_come_sooner_by_half_a_period_at_most(qapp, clock) -> None:
    window = Window(clock, draw_cost=0.001)
    pacer = window.pacer
    window.new_frame()
    pacer._frame_over()
    first_due = pacer.next_at  # 100.0 + PERIOD
    clock.now = first_due + 0.005  # drawn 5 ms late
    window.new_frame()
    pacer._frame_over()
    assert pacer.next_at == pytest.approx(first_due + PERIOD)  # the rate keeps its beat
    clock.now = pacer.next_at + 0.030  # drawn 30 ms late: half a period of catching up
    started = clock.now
    window.new_frame()
    pacer._frame_over()
    assert CATCH_UP == 0.5 and pacer.next_at == pytest.approx(started + 0.5 * PERIOD)


@pytest.mark.parametrize(("thread", "pace"), [(False, PACE_PROCESS), (True, PACE_THREAD)])
def test_an_expensive_frame_spaces_the_next_by_its_work_times_the_pace(qapp, clock, thread, pace) -> None:
    window = Window(clock, thread=thread, draw_cost=0.010)
    pacer = window.pacer
    window.new_frame()  # at 100.0, 10 ms of update
    window.pending = 1
    window.paint(clock, 0.020)  # 30 ms of work, over at 100.030
    if thread:
        # held 30 ms: the thread gets as long again (100.060), less than 2 x 30 ms of work
        assert pacer.next_at == pytest.approx(100.0 + 2.0 * 0.030)
    else:
        assert pacer.next_at == pytest.approx(100.0 + 1.5 * 0.030)  # 45 ms: over a period
    assert pace * 0.030 > PERIOD


def test_a_thread_worker_is_held_for_the_frame_and_gets_as_long_again(qapp, clock) -> None:
    window = Window(clock, thread=True, draw_cost=0.001)
    pacer = window.pacer
    window.new_frame()  # 1 ms of work
    assert window.calls == ["hold", "draw"] and pacer.held
    clock.now += 0.040  # the paints come late: held 41 ms in all (the quiet time ends it)
    pacer._frame_over()
    assert window.calls[-1] == "release" and not pacer.held
    assert pacer.next_at == pytest.approx(100.041 + 0.041)


def test_without_word_the_frame_ends_after_a_quiet_time(qapp, clock) -> None:
    window = Window(clock)
    window.pacer._settled = lambda: False  # the window cannot tell
    window.new_frame()
    window.paint(clock, 0.005)
    assert window.pacer.drawing and window.pacer._quiet.isActive()
    assert window.pacer._quiet.interval() == frame_pacer.FRAME_QUIET_MS


def test_a_hidden_window_draws_without_holding_the_worker(qapp, clock) -> None:
    window = Window(clock, visible=False, thread=True)
    window.new_frame()
    assert window.calls == ["draw"] and not window.pacer.held and not window.pacer.drawing


def test_a_stopped_pacer_draws_no_more(qapp, clock) -> None:
    window = Window(clock)
    window.pacer.stop()
    window.new_frame()
    assert window.calls == [] and due_in_ms(window.pacer) is None


def test_the_pace_follows_the_last_two_frames_work(qapp, clock) -> None:
    # One slow frame among cheap ones spaces the next by half its work (with the one before).
    window = Window(clock, draw_cost=0.010)
    pacer = window.pacer
    window.new_frame()
    pacer._frame_over()  # 10 ms of work
    clock.now = started = pacer.next_at
    pacer._draw = lambda: setattr(clock, "now", clock.now + 0.040)  # a 40 ms frame
    window.new_frame()
    pacer._frame_over()
    assert pacer.next_at == pytest.approx(started + PACE_PROCESS * (0.010 + 0.040) / 2)
