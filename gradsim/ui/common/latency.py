"""How long the GUI thread's event loop takes to answer an event posted to it.

A worker thread (:mod:`gradsim.ui.common.workers`) posts a timestamped event (a queued signal)
to the GUI thread at a fixed interval, the way input from the window system arrives at arbitrary
moments: while a redraw is in progress, while the worker thread holds the interpreter, or while
the loop is idle. The GUI thread notes when it handles each one. The delays are the latency a
user feels when clicking or pressing a key during a run; the test suite and
``benchmarks/bench_gui_latency.py`` use it.
"""

from __future__ import annotations

import functools
import statistics
import time
from dataclasses import dataclass

from PySide6 import QtCore

from gradsim.ui.common.workers import JobContext, Worker


@dataclass(frozen=True)
class LatencySummary:
    """Delays in milliseconds between posting an event and the GUI thread handling it."""

    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def maximum(self) -> float:
        return max(self.samples)

    def __str__(self) -> str:
        return f"median {self.median:.1f} ms, max {self.maximum:.1f} ms over {len(self.samples)} events"


class _Posted:
    """Events posted so far (written by the worker thread; an int read is atomic)."""

    count = 0


def _post(context: JobContext, count: int, interval: float, posted: _Posted) -> None:
    for _ in range(count):
        if context.cancel_event.wait(interval):
            return
        context.emit(time.perf_counter())
        posted.count += 1


class LatencyProbe(QtCore.QObject):
    """Posts ``count`` events to the GUI thread, ``interval`` seconds apart, and times them.

    Create it on the GUI thread, call :meth:`start`, run the event loop until :attr:`done`, then
    read :meth:`summary`.
    """

    finished = QtCore.Signal()

    def __init__(self, count: int = 20, interval: float = 0.05, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        if count < 1 or interval <= 0:
            raise ValueError("count must be at least 1 and interval positive")
        self.count = count
        self.interval = interval
        self.delays_ms: list[float] = []
        self._posted = _Posted()
        self._worker: Worker | None = None

    @property
    def posted(self) -> int:
        """Events posted so far."""
        return self._posted.count

    @property
    def done(self) -> bool:
        """Whether every event has been answered."""
        return len(self.delays_ms) >= self.count

    def start(self) -> None:
        """Start posting from a worker thread."""
        job = functools.partial(_post, count=self.count, interval=self.interval, posted=self._posted)
        self._worker = Worker(job, name="latency-probe")
        # Queued: emitted on the worker thread, answered on this object's (the GUI thread).
        self._worker.yielded.connect(self._on_ping, QtCore.Qt.ConnectionType.QueuedConnection)
        self._worker.start()

    def stop(self) -> None:
        """Stop posting (events already posted are still answered) and end the worker."""
        if self._worker is not None:
            self._worker.stop()

    def summary(self) -> LatencySummary:
        """The delays measured so far."""
        return LatencySummary(tuple(self.delays_ms))

    @QtCore.Slot(object)
    def _on_ping(self, posted: float) -> None:
        self.delays_ms.append((time.perf_counter() - posted) * 1e3)
        if self.done:
            self.finished.emit()
