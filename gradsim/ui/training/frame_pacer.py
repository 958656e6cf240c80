"""When the window draws a frame of live plots, and how long the worker waits for it.

New records mark the view dirty; a display-rate timer draws a frame only when it is dirty, no
frame is being painted, and the last frame's cost allows (the GUI thread stays idle at least half
the time: the next frame starts no sooner than twice the last frame's measured work after it
started). While a frame is updated and painted the worker is held (:meth:`Runner.hold_for_frame`):
a worker thread shares the interpreter, and training flat out it would make every frame several
times slower. Qt paints in later events (``UpdateRequest``), a few milliseconds apart, one per
plot scene (the dashboard lets a live frame's plots paint one at a time, so that the event loop
runs between them: :meth:`Dashboard.refresh <gradsim.ui.training.dashboard.Dashboard.refresh>`):
the window reports each with :meth:`FramePacer.painting`, and the frame is over when none came
for :data:`FRAME_QUIET_MS`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

from PySide6 import QtCore

# A frame is drawn at most this often (and only when new records arrived).
REDRAW_HZ = 30
# A frame's painting comes in several window updates a few milliseconds apart (each plot's
# scene reports its changes in its own event); the frame is over when none came for this long.
FRAME_QUIET_MS = 10


class FramePacer(QtCore.QObject):
    """Draws frames at most :data:`REDRAW_HZ` a second while new data comes, holding the worker.

    Parameters
    ----------
    draw : updates the plots from the data (the GUI thread's part of a frame before painting)
    hold, release : hold the worker for a frame and let it go again
    visible : whether the window is shown (a hidden one is drawn without holding anyone)
    thread_worker : whether the worker is a thread (held for the whole frame: it gets as long
        again after it, on top of the idle-half rule)
    parent : the window (the timers' owner)

    Attributes
    ----------
    dirty : new data arrived since the last frame
    held : a frame is being painted and the worker waits
    """

    def __init__(
        self,
        draw: Callable[[], None],
        hold: Callable[[], None],
        release: Callable[[], None],
        visible: Callable[[], bool],
        thread_worker: Callable[[], bool],
        parent: QtCore.QObject,
    ) -> None:
        super().__init__(parent)
        self._draw, self._hold, self._release = draw, hold, release
        self._visible, self._thread_worker = visible, thread_worker
        self.dirty = False
        self.held = False
        self._started = 0.0
        self._busy = 0.0
        self._next_at = 0.0
        self._quiet = QtCore.QTimer(self)
        self._quiet.setSingleShot(True)
        self._quiet.setInterval(FRAME_QUIET_MS)
        self._quiet.timeout.connect(self._frame_over)
        self._timer = QtCore.QTimer(self)
        self._timer.setInterval(round(1000 / REDRAW_HZ))
        self._timer.timeout.connect(self.draw_due)
        self._timer.start()

    @contextlib.contextmanager
    def painting(self) -> Iterator[None]:
        """Around one paint of the held frame: it counts towards the frame's cost and extends the
        hold by :data:`FRAME_QUIET_MS`."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self._busy += time.perf_counter() - started
            self._quiet.start()

    @QtCore.Slot()
    def draw_due(self) -> None:
        """Draw a frame if new data came and the pace allows (the display timer calls this)."""
        now = time.perf_counter()
        if not self.dirty or self.held or now < self._next_at:
            return
        self.dirty = False
        if self._visible():
            self.held = True
            self._started = now
            self._hold()
            self._quiet.start()
        self._draw()
        self._busy = time.perf_counter() - now

    @QtCore.Slot()
    def _frame_over(self) -> None:
        self.held = False
        self._release()
        now = time.perf_counter()
        self._next_at = self._started + 2.0 * self._busy
        if self._thread_worker():
            self._next_at = max(self._next_at, now + (now - self._started))

    def stop(self) -> None:
        """Stop drawing (the window closes)."""
        self._timer.stop()
        self._quiet.stop()
