"""An animation made beside the live window: replay and encoding on a worker, painting here.

:func:`start_job` builds the offscreen frames source (:mod:`.animation`) and starts an
:class:`AnimationJob`. Its :class:`FrameWorker` runs on its own worker thread
(:mod:`gradsim.ui.common.workers`): it replays the run
(numerics) and encodes finished frames. Painting stays on the GUI thread, one frame per event (a
few tens of milliseconds), so the window keeps answering while an animation is made. The worker
asks for a frame with a message carrying what the frame needs (the records since the previous
frame, or a cell position of the backward pass) and waits for the pixels, keeping at most
:data:`LOOKAHEAD` frames asked for and not yet encoded.
"""

from __future__ import annotations

import dataclasses
import queue
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
from PySide6 import QtCore

from gradsim.engine.config import SimConfig
from gradsim.engine.records import StepRecord
from gradsim.io.animation_writer import AnimationWriter, VideoSupportMissing
from gradsim.io.atomic import WriteError
from gradsim.ui.common import background
from gradsim.ui.common.theme import Theme
from gradsim.ui.common.workers import JobContext, Worker
from gradsim.ui.feature_api import NOTHING_FROZEN, BackwardFrames
from gradsim.ui.features.recording.animation import AnimationCancelled
from gradsim.ui.features.recording.frame_sources import (
    BACKPROP,
    DEFAULT_DASHBOARD_SIZE,
    DashboardFrames,
)
from gradsim.ui.features.recording.frames import backprop_positions, frame_batches, frame_iterations

__all__ = ["LOOKAHEAD", "AnimationJob", "AnimationRequest", "FrameWorker", "start_job"]

# Frames asked of the GUI thread and not yet encoded, at most: enough to keep both threads busy,
# few enough that a cancel is immediate and memory stays small.
LOOKAHEAD = 2


class FrameWorker:
    """Asks the GUI thread for frames and encodes them: the job of an animation's worker thread.

    Parameters
    ----------
    requests : called on the worker thread; yields what each frame needs (for the dashboard:
        the records since the previous frame, replayed here; for the backward pass: the cell
        position)
    total : frames asked for (for the progress)
    open_writer : called on the worker thread; the :class:`AnimationWriter` to fill
    path : the file (for messages)

    Messages (see :func:`gradsim.ui.common.background.start_job`)
    --------
    ("frameWanted", index, request) : paint frame ``index`` for ``request`` and hand the pixels
        to :meth:`deliver`
    ("progressed", done, total) : frames encoded
    ("finished", frames) : the file is complete
    ("failed", message) : nothing was written; the message names the file and the reason
    ("cancelled",) : the user cancelled; nothing was written
    """

    def __init__(
        self,
        requests: Callable[[], Iterable[object]],
        total: int,
        open_writer: Callable[[], AnimationWriter],
        path: Path,
    ) -> None:
        self._requests = requests
        self.total = total
        self._open_writer = open_writer
        self.path = path
        self._frames: queue.Queue[np.ndarray | BaseException] = queue.Queue()

    def deliver(self, frame: np.ndarray | BaseException) -> None:
        """The pixels of the frame asked for last-but-``pending``, or the error painting it (any thread)."""
        self._frames.put(frame)

    def _take(self, context: JobContext) -> np.ndarray:
        while True:
            if context.cancelled:
                raise AnimationCancelled()
            try:
                frame = self._frames.get(timeout=0.05)
            except queue.Empty:
                continue
            if isinstance(frame, BaseException):
                raise frame
            return frame

    def run(self, context: JobContext) -> None:
        writer: AnimationWriter | None = None
        try:
            writer = self._open_writer()
            asked = encoded = 0
            for request in self._requests():
                if context.cancelled:
                    raise AnimationCancelled()
                while asked - encoded >= LOOKAHEAD:
                    writer.add(self._take(context))
                    encoded += 1
                    context.emit(("progressed", encoded, self.total))
                context.emit(("frameWanted", asked, request))
                asked += 1
                time.sleep(0)  # let the GUI thread have the interpreter for the frame
            while encoded < asked:
                writer.add(self._take(context))
                encoded += 1
                context.emit(("progressed", encoded, self.total))
            if context.cancelled:
                raise AnimationCancelled()
            if encoded == 0:
                raise ValueError("the run produced no record to show")
            context.emit(("finished", writer.close()))
        except AnimationCancelled:
            if writer is not None:
                writer.abort()
            context.emit(("cancelled",))
        except Exception as error:  # every failure becomes a message, never a traceback
            if writer is not None:
                writer.abort()
            context.emit(("failed", _describe(self.path, error)))


def _describe(path: Path, error: BaseException) -> str:
    if isinstance(error, WriteError | VideoSupportMissing):
        return str(error)
    if isinstance(error, OSError):
        return f"cannot write {path}: {error.strerror or error}"
    return f"cannot write {path}: {error}"


@dataclasses.dataclass(frozen=True)
class AnimationRequest:
    """What the Record dialog asks for.

    Attributes
    ----------
    target : ``"dashboard"``, a plot key, or ``"backprop"``
    path : the file
    fmt : ``"gif"``, ``"webp"``, ``"apng"`` or ``"mp4"``
    fps : frames a second
    width : frame width in pixels
    first, last, every : iterations shown (dashboard and plots); ``every`` is cells a frame for
        the backward pass
    """

    target: str
    path: Path
    fmt: str
    fps: float
    width: int
    first: int = 1
    last: int = 1
    every: int = 1


class AnimationJob(QtCore.QObject):
    """One animation being made beside the live window: a :class:`FrameWorker` and the painter.

    The painter (this object, GUI thread) owns the offscreen frames source and answers each
    ``frameWanted`` with the frame's pixels; the worker replays and encodes. :attr:`progressed`
    passes on ``(frames encoded, total)``; :attr:`done` is emitted once, with ``("finished" |
    "failed" | "cancelled", message)``.
    """

    progressed = QtCore.Signal(int, int)
    done = QtCore.Signal(str, str)

    def __init__(
        self,
        parent: QtCore.QObject,
        source: DashboardFrames | BackwardFrames,
        requests: Callable[[], Iterable[object]],
        total: int,
        open_writer: Callable[[], AnimationWriter],
        path: Path,
    ) -> None:
        super().__init__(parent)
        self.source = source
        self.path = path
        self.worker = FrameWorker(requests, total, open_writer, path)
        self._thread_worker: Worker | None = None
        self._ended = False
        self._finished = False

    @property
    def thread(self) -> QtCore.QThread | None:  # type: ignore[override]  # the worker's thread
        """The worker's thread (None before :meth:`start`)."""
        return None if self._thread_worker is None else self._thread_worker.thread

    def start(self) -> None:
        """Start the worker."""
        handlers: dict[str, Callable[..., None]] = {
            "frameWanted": self._on_frame_wanted, "progressed": self.progressed.emit,
            "finished": self._on_finished, "failed": self._on_failed, "cancelled": self._on_cancelled,
        }  # fmt: skip
        self._thread_worker = background.start_job(self.worker.run, handlers, "animation_thread")

    def cancel(self) -> None:
        """Stop; nothing is written."""
        if self._thread_worker is not None:
            self._thread_worker.cancel()

    @QtCore.Slot(int, object)
    def _on_frame_wanted(self, index: int, request: object) -> None:
        del index
        if self._ended:
            return
        try:
            if isinstance(self.source, DashboardFrames):
                assert isinstance(request, list)
                self.source.add(request)
                frame = self.source.frame()
            else:
                frame = self.source.frame(int(request))  # type: ignore[call-overload]
        except Exception as error:  # handed to the worker, which aborts and reports it
            self.worker.deliver(error)
            return
        self.worker.deliver(frame)

    @QtCore.Slot(int)
    def _on_finished(self, frames: int) -> None:
        self._end("finished", f"{frames} frames")

    @QtCore.Slot(str)
    def _on_failed(self, message: str) -> None:
        self._end("failed", message)

    @QtCore.Slot()
    def _on_cancelled(self) -> None:
        self._end("cancelled", "")

    def _end(self, outcome: str, message: str) -> None:
        if self._ended:
            return
        self._ended = True
        self.finish()
        self.done.emit(outcome, message)

    def finish(self) -> None:
        """Stop the worker thread (waiting for it) and delete the offscreen widgets (once)."""
        self._ended = True
        if self._finished:
            return
        self._finished = True
        background.finish(self._thread_worker, None)
        self.source.close()


def start_job(
    parent: QtCore.QObject,
    request: AnimationRequest,
    config: SimConfig,
    *,
    theme: Theme,
    scale: float = 1.0,
    size: tuple[int, int] = DEFAULT_DASHBOARD_SIZE,
    dashboard_state: QtCore.QByteArray | None = None,
    bottom_row: bool = True,
    backprop: Callable[..., BackwardFrames] | None = None,
) -> AnimationJob:
    """Build the offscreen source for ``request`` and start its job (GUI thread).

    For the backward pass, ``backprop(width, theme, scale=scale)`` builds the frames (what
    :class:`~gradsim.ui.feature_api.FrozenNetwork` offers); None: nothing is frozen.

    Raises
    ------
    ValueError
        Bad frame choices (the message says which), or no frozen network for the backward pass.
    """
    path = request.path

    def open_writer() -> AnimationWriter:
        return AnimationWriter(path, request.fmt, request.fps)

    if request.target == BACKPROP:
        if backprop is None:
            raise ValueError(NOTHING_FROZEN)
        frames = backprop(request.width, theme, scale=scale)
        try:
            positions = backprop_positions(frames.total_cells, request.every)
        except ValueError:
            frames.close()
            raise
        source: DashboardFrames | BackwardFrames = frames
        job = AnimationJob(parent, source, lambda: iter(positions), len(positions), open_writer, path)
    else:
        iterations = frame_iterations(request.first, request.last, request.every)
        source = DashboardFrames(
            config, request.target, request.width, theme, size, scale, dashboard_state, bottom_row
        )

        def requests() -> Iterator[list[StepRecord]]:
            records = background.replay_beside_the_window(config, iterations[-1])
            for _, batch in frame_batches(records, iterations):
                yield batch

        job = AnimationJob(parent, source, requests, len(iterations), open_writer, path)
    job.start()
    return job
