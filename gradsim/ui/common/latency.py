"""How long the GUI thread's event loop takes to answer an event posted to it.

A helper thread posts a timestamped event (a queued signal) to the GUI thread at a fixed
interval, the way input from the window system arrives at arbitrary moments: while a redraw is
in progress, while the worker thread holds the interpreter, or while the loop is idle. The GUI
thread notes when it handles each one. The delays are the latency a user feels when clicking
or pressing a key during a run; the test suite and ``benchmarks/bench_gui_latency.py`` use it.
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass

from PySide6 import QtCore


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


class LatencyProbe(QtCore.QObject):
    """Posts ``count`` events to the GUI thread, ``interval`` seconds apart, and times them.

    Create it on the GUI thread, call :meth:`start`, run the event loop until :attr:`done`, then
    read :meth:`summary`.
    """

    _ping = QtCore.Signal(float)
    finished = QtCore.Signal()

    def __init__(self, count: int = 20, interval: float = 0.05, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        if count < 1 or interval <= 0:
            raise ValueError("count must be at least 1 and interval positive")
        self.count = count
        self.interval = interval
        self.delays_ms: list[float] = []
        # Events posted so far (written by the helper thread; an int read is atomic).
        self.posted = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Queued: the signal is emitted on the helper thread, the slot runs on this object's.
        self._ping.connect(self._on_ping, QtCore.Qt.ConnectionType.QueuedConnection)

    @property
    def done(self) -> bool:
        """Whether every event has been answered."""
        return len(self.delays_ms) >= self.count

    def start(self) -> None:
        """Start posting from a helper thread."""
        self._thread = threading.Thread(target=self._post, name="latency-probe", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop posting (events already posted are still answered) and join the helper."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def summary(self) -> LatencySummary:
        """The delays measured so far."""
        return LatencySummary(tuple(self.delays_ms))

    def _post(self) -> None:
        for _ in range(self.count):
            if self._stop.wait(self.interval):
                return
            self._ping.emit(time.perf_counter())
            self.posted += 1

    @QtCore.Slot(float)
    def _on_ping(self, posted: float) -> None:
        self.delays_ms.append((time.perf_counter() - posted) * 1e3)
        if self.done:
            self.finished.emit()
