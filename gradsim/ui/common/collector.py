"""Python's cyclic garbage collection on the GUI thread only, while a window is open.

The cyclic collector runs in whichever thread happens to allocate when its counters fill up. The
training, export and diagnosis threads allocate all the time, so with automatic collection a
cycle holding Qt objects (a closed dialog, a dropped plot item) can be destroyed from a worker
thread, or in the middle of the GUI thread's work, which crashes Qt: the test suite saw
segfaults in the collector while a run trained. As pyqtgraph's ``GarbageCollector`` does,
automatic collection is turned off while a window is open and a GUI-thread timer collects
instead, generation by generation, at the thresholds Python would have used.

``GRADSIM_GC=automatic`` in the environment leaves Python's automatic collection on (the
collector then does nothing): the switch the crash hunt runs the UI suite with
(docs/architecture.md, "Garbage collection").
"""

from __future__ import annotations

import gc
import os

from PySide6 import QtCore

# How often the GUI thread looks at the collector's counters.
INTERVAL_MS = 1000
# Environment variable: "automatic" leaves Python's own collection on.
GC_ENV = "GRADSIM_GC"


def automatic_collection_requested() -> bool:
    """Whether ``GRADSIM_GC=automatic`` asks to leave Python's automatic collection on."""
    return os.environ.get(GC_ENV, "").strip().lower() == "automatic"


class GuiGarbageCollector(QtCore.QObject):
    """Collects garbage from a GUI-thread timer; automatic collection is off while any is active.

    Parameters
    ----------
    parent : the window whose lifetime this follows (call :meth:`stop` when it closes)
    """

    _active = 0
    _was_enabled = True

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._thresholds = gc.get_threshold()
        self._running = False
        self._timer = QtCore.QTimer(self)
        self._timer.setInterval(INTERVAL_MS)
        self._timer.timeout.connect(self.collect_due)
        self.start()

    def start(self) -> None:
        """Turn automatic collection off (if this is the first active collector) and start the timer."""
        if self._running or automatic_collection_requested():
            return
        if GuiGarbageCollector._active == 0:
            GuiGarbageCollector._was_enabled = gc.isenabled()
            gc.disable()
        GuiGarbageCollector._active += 1
        self._running = True
        self._timer.start()

    def stop(self) -> None:
        """Stop the timer; automatic collection comes back once no collector is active."""
        if not self._running:
            return
        self._timer.stop()
        self._running = False
        GuiGarbageCollector._active -= 1
        if GuiGarbageCollector._active == 0 and GuiGarbageCollector._was_enabled:
            gc.enable()

    @QtCore.Slot()
    def collect_due(self) -> None:
        """Collect each generation whose counter passed Python's own threshold for it."""
        young, middle, old = gc.get_count()
        first, second, third = self._thresholds
        if young > first:
            gc.collect(0)
            if middle > second:
                gc.collect(1)
                if old > third:
                    gc.collect(2)
