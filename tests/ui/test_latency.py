"""LatencyProbe: it measures how long the GUI thread takes to answer, including when it is busy."""

from __future__ import annotations

import time

import pytest
from PySide6 import QtCore

from gradsim.ui.latency import LatencyProbe, LatencySummary


def test_an_idle_loop_answers_at_once(qtbot):
    probe = LatencyProbe(count=10, interval=0.02)
    with qtbot.waitSignal(probe.finished, timeout=5000):
        probe.start()
    probe.stop()
    summary = probe.summary()
    assert len(summary.samples) == 10
    assert summary.median < 50.0


def test_a_busy_gui_thread_shows_up_as_latency(qtbot):
    probe = LatencyProbe(count=6, interval=0.02)

    def busy() -> None:
        started = time.perf_counter()
        while time.perf_counter() - started < 0.15:
            pass  # the GUI thread is stuck, as in a slow redraw

    probe.start()
    QtCore.QTimer.singleShot(30, busy)
    qtbot.waitUntil(lambda: probe.done, timeout=5000)
    probe.stop()
    # An event posted while the thread was stuck waited for it: most of 150 ms.
    assert probe.summary().maximum >= 90.0


def test_summary_and_arguments():
    summary = LatencySummary((1.0, 3.0, 2.0, 50.0))
    assert summary.median == 2.5 and summary.maximum == 50.0
    assert str(summary) == "median 2.5 ms, max 50.0 ms over 4 events"
    with pytest.raises(ValueError):
        LatencyProbe(count=0)
