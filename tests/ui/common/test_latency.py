"""LatencyProbe: it measures how long the GUI thread takes to answer, including when it is busy."""

from __future__ import annotations

import time

import pytest

from gradsim.ui.common.latency import LatencyProbe, LatencySummary


def test_an_idle_loop_answers_at_once(qtbot):
    probe = LatencyProbe(count=10, interval=0.02)
    with qtbot.waitSignal(probe.finished, timeout=5000):
        probe.start()
    probe.stop()
    summary = probe.summary()
    assert len(summary.samples) == 10
    assert all(delay >= 0.0 for delay in summary.samples)


def test_a_busy_gui_thread_shows_up_as_latency(qtbot):
    probe = LatencyProbe(count=6, interval=0.02)
    probe.start()
    # The GUI thread is stuck, as in a slow redraw: from the moment an event is waiting for it,
    # for another 150 ms. (Waiting for the post keeps this true on a loaded machine too.)
    deadline = time.perf_counter() + 30.0
    while probe.posted < 1 and time.perf_counter() < deadline:
        time.sleep(0.001)
    assert probe.posted >= 1
    stuck_from = time.perf_counter()
    while time.perf_counter() - stuck_from < 0.15:
        pass
    qtbot.waitUntil(lambda: probe.done, timeout=30000)
    probe.stop()
    # The event posted before the thread got stuck waited for it: at least 150 ms.
    assert probe.summary().maximum >= 150.0


def test_summary_and_arguments():
    summary = LatencySummary((1.0, 3.0, 2.0, 50.0))
    assert summary.median == 2.5 and summary.maximum == 50.0
    assert str(summary) == "median 2.5 ms, max 50.0 ms over 4 events"
    with pytest.raises(ValueError):
        LatencyProbe(count=0)
