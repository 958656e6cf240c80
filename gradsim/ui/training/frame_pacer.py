"""When the window draws a frame of live plots, and how long a worker thread waits for it.

New records mark the view dirty, and a frame is drawn at its due time: no sooner than a
:data:`REDRAW_HZ` period after the previous frame was due, and no sooner than the frames'
measured work (data update and paints; the last two frames' mean, :data:`WORK_MEMORY`) times a
pace factor after the last one started, so that the GUI thread stays idle a share of the time
(:data:`PACE_THREAD`, :data:`PACE_PROCESS`). A single-shot timer fires at that time (not the
next tick of a display-rate timer: a frame that ended just after a tick would wait a whole
period more and halve the rate).

A frame lasts from its data update until Qt has painted what it changed. Qt paints in later
events (``UpdateRequest``), a few milliseconds apart, one per plot scene (the dashboard lets a
live frame's plots paint one at a time, so that the event loop runs between them:
:meth:`Dashboard.refresh <gradsim.ui.training.dashboard.Dashboard.refresh>`): the window
reports each with :meth:`FramePacer.painting`, and the frame is over at the first paint after
which ``settled()`` says nothing is left to paint, or when no paint came for
:data:`FRAME_QUIET_MS`.

A worker *thread* shares the interpreter: training flat out it would make every frame several
times slower, so it is held for the frame (:meth:`Runner.hold_for_frame`) and gets as long
again after it, on top of the idle-half rule. A worker *process* (the default runner) has its
own interpreter and core: nothing is held, and the GUI thread may work two thirds of the time.

Measured on a 2-core machine (benchmarks/README.md, "Frame pacing and a cheaper frame"): the
old rule (a 30 Hz tick, skipped while the previous frame was held until 10 ms after its last
paint, and the next frame no sooner than twice its work after it started) drew the default
preset at 14.5-17.9 frames/s, a frame's work being 16-20 ms: a frame spanned just over one
tick, so every other tick was skipped. With this one, alternating runs at load 2-4: 27.1-29.1
frames/s (the GUI thread busy 52-57% instead of 33-35%), the worst gap of a 5 ms timer 31.6-57.9
ms in five of seven runs, training as fast as before (with the cap at 30 Hz). On a quiet
machine (load 1.5-1.9): 28.1-29.3 frames/s in five runs at 30 Hz; at 60 Hz, where the pace rule
decides, 32.3-35.5 in seven, the GUI thread busy 56-61%, the worst gap 29.3-43.2 ms.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator

from PySide6 import QtCore

# A frame is drawn at most this often (and only when new records arrived): a display's refresh
# rate. What spaces frames in practice is the pace rule below (the frames' work times a pace):
# with a 30 Hz cap the default preset drew 28-29 frames/s, late frames never made up.
REDRAW_HZ = 60
# A frame's painting comes in several window updates a few milliseconds apart (each plot's
# scene reports its changes in its own event); without word that all is painted, the frame is
# over when none came for this long.
FRAME_QUIET_MS = 10
# The next frame starts no sooner than this many times the frames' work after the last one
# started: a GUI thread sharing the interpreter with a worker thread stays idle half the time;
# beside a worker process (its own core) a third.
PACE_THREAD = 2.0
PACE_PROCESS = 1.5
# The work the pace multiplies: the mean of the last frame's and the one before's, so that a
# single slow frame (the history thins, a collection) does not halve the rate by itself.
WORK_MEMORY = 0.5
# A frame drawn late lets the next come sooner, by at most this share of a period (the rate
# stays REDRAW_HZ on average despite the timer's and the event loop's delays; the pace rule
# still spaces frames by their work).
CATCH_UP = 0.5


def _nothing_left() -> bool:
    return False


class FramePacer(QtCore.QObject):
    """Draws frames at most :data:`REDRAW_HZ` a second while new data comes.

    Parameters
    ----------
    draw : updates the plots from the data (the GUI thread's part of a frame before painting)
    hold, release : hold a worker thread for a frame and let it go again
    visible : whether the window is shown (a hidden one is drawn without holding anyone)
    thread_worker : whether the worker is a thread (held for the whole frame: it gets as long
        again after it, on top of the idle-half rule); otherwise a process (not held)
    parent : the window (the timers' owner)
    settled : whether everything the frame changed has been painted (the dashboard's staggered
        views); asked after each paint of the frame. By default never: the frame ends
        :data:`FRAME_QUIET_MS` after its last paint

    Attributes
    ----------
    dirty : new data arrived since the last frame (setting it schedules the next frame)
    drawing : a frame is being updated or painted
    held : a worker thread waits for the frame
    next_at : ``time.perf_counter()`` time before which no frame starts
    """

    def __init__(
        self,
        draw: Callable[[], None],
        hold: Callable[[], None],
        release: Callable[[], None],
        visible: Callable[[], bool],
        thread_worker: Callable[[], bool],
        parent: QtCore.QObject,
        settled: Callable[[], bool] = _nothing_left,
    ) -> None:
        super().__init__(parent)
        self._draw, self._hold, self._release = draw, hold, release
        self._visible, self._thread_worker, self._settled = visible, thread_worker, settled
        self._dirty = False
        self.drawing = False
        self.held = False
        self.next_at = 0.0
        self._stopped = False
        self._started = 0.0
        self._due = 0.0
        self._busy = 0.0
        self._work: float | None = None
        self._quiet = QtCore.QTimer(self)
        self._quiet.setSingleShot(True)
        self._quiet.setInterval(FRAME_QUIET_MS)
        self._quiet.timeout.connect(self._frame_over)
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self.draw_due)

    @property
    def dirty(self) -> bool:
        """Whether new data arrived since the last frame."""
        return self._dirty

    @dirty.setter
    def dirty(self, value: bool) -> None:
        self._dirty = value
        if value:
            self._schedule()

    def _schedule(self) -> None:
        """Start the timer for the next frame's due time (unless a frame is on, or one is due)."""
        if self._stopped or self.drawing or not self._dirty or self._timer.isActive():
            return
        wait_ms = (self.next_at - time.perf_counter()) * 1e3
        self._timer.start(max(0, math.ceil(wait_ms)))

    @contextlib.contextmanager
    def painting(self) -> Iterator[None]:
        """Around one paint of the frame being drawn: it counts towards the frame's work, and
        ends the frame if ``settled()`` (otherwise extends it by :data:`FRAME_QUIET_MS`)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self._busy += time.perf_counter() - started
            if self.drawing:
                if self._settled():
                    self._frame_over()
                else:
                    self._quiet.start()

    @QtCore.Slot()
    def draw_due(self) -> None:
        """Draw a frame if new data came and its time has come (the pacer's timer calls this)."""
        now = time.perf_counter()
        if self._stopped or not self._dirty or self.drawing:
            return
        self._timer.stop()  # (called directly rather than by the timer)
        if now < self.next_at - 5e-4:  # the timer's millisecond came a little early
            self._schedule()
            return
        self._dirty = False
        self.drawing = True
        self._started = now
        self._due = max(self.next_at, now - CATCH_UP / REDRAW_HZ)
        if self._visible():
            if self._thread_worker():
                self.held = True
                self._hold()
            self._quiet.start()
            self._draw()
            self._busy = time.perf_counter() - now
        else:
            try:
                self._draw()
            finally:
                self._busy = time.perf_counter() - now
                self._frame_over()  # nothing is painted

    @QtCore.Slot()
    def _frame_over(self) -> None:
        self._quiet.stop()
        now = time.perf_counter()
        held, self.held, self.drawing = self.held, False, False
        pace = PACE_THREAD if self._thread_worker() else PACE_PROCESS
        work = self._busy if self._work is None else WORK_MEMORY * self._work + (1 - WORK_MEMORY) * self._busy
        self._work = work
        next_at = max(self._due + 1.0 / REDRAW_HZ, self._started + pace * work)
        if held:
            self._release()
            next_at = max(next_at, now + (now - self._started))
        self.next_at = next_at
        self._schedule()

    def stop(self) -> None:
        """Stop drawing (the window closes)."""
        self._stopped = True
        self._timer.stop()
        self._quiet.stop()
