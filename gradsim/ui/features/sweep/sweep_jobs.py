"""The Sweep tab's jobs, run on worker threads: the sweep itself and the theory's critical line.

:class:`SweepWorker` calls :func:`gradsim.engine.sweep.run_sweep` (which blocks while worker
processes compute) and reports each finished chunk; :class:`LineJob` computes the critical line
meanwhile (about 1 s the first time for saturating units). Both are plain Python: they reach the
GUI only through their worker's signals.
"""

from __future__ import annotations

import threading

from gradsim.engine import sweep
from gradsim.engine.sweep import CriticalLine, SweepProgress, SweepSpec
from gradsim.io.sweepstore import SweepStore
from gradsim.ui.common.workers import JobContext


def critical_line_or_reason(spec: SweepSpec) -> CriticalLine:
    """The theory's critical line of ``spec`` (about 1 s the first time for saturating units), or
    a line that says why there is none."""
    try:
        return sweep.critical_line(spec)
    except Exception as error:  # the heatmap is worth showing without the line
        return CriticalLine(None, None, "step", f"the theory could not be evaluated ({error})")


class LineJob:
    """Computes the critical line of ``spec`` on a worker thread; ``done`` is set once it is sent.

    Returns ``(spec, line)`` (:attr:`Worker.returned`).
    """

    def __init__(self, spec: SweepSpec) -> None:
        self.spec = spec
        self.done = threading.Event()

    def run(self, context: JobContext) -> tuple[SweepSpec, CriticalLine]:
        del context
        try:
            return self.spec, critical_line_or_reason(self.spec)
        finally:
            self.done.set()


class SweepWorker:
    """Runs one sweep (its processes do the numerics): the job of the sweep's worker thread.

    Messages (see :func:`gradsim.ui.common.background.start_job`)
    --------
    ("progressed", SweepProgress) : a chunk of points finished (carries them)
    ("finished", SweepResult) : the sweep ended, complete or cancelled
    ("failed", str) : the sweep could not run; nothing to show

    The theory's critical line is computed meanwhile by a :class:`LineJob` on a second worker
    (it overlaps the start of the worker processes, about 1 s); the sweep's last message waits
    for it, so the line is shown before the sweep's outcome.
    """

    def __init__(
        self, spec: SweepSpec, workers: int | None, store: SweepStore | None, scheduler: str | None = None
    ) -> None:
        self.spec = spec
        self.workers = workers
        self.store = store
        self.scheduler = scheduler
        self.cancel_event = threading.Event()
        self.line_done: threading.Event | None = None

    def cancel(self) -> None:
        """Stop the sweep within about 50 ms (callable from any thread)."""
        self.cancel_event.set()

    def run(self, context: JobContext) -> None:
        def progress(report: SweepProgress) -> None:
            context.emit(("progressed", report))

        try:
            result = sweep.run_sweep(
                self.spec, workers=self.workers, progress=progress,
                cancel=self.cancel_event, cache=self.store, scheduler=self.scheduler, journal=self.store,
            )  # fmt: skip
        except Exception as error:  # every failure becomes a message, never a traceback
            self._wait_for_line()
            context.emit(("failed", str(error) or type(error).__name__))
            return
        self._wait_for_line()
        context.emit(("finished", result))

    def _wait_for_line(self) -> None:
        if self.line_done is not None:
            self.line_done.wait()
