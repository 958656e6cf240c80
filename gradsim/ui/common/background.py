"""Background jobs with a progress dialog: the plumbing the run export, the bundle and the
animation share.

A job is a plain object whose ``run(context)`` runs on a :class:`~gradsim.ui.common.workers.Worker`
thread and reports by messages ``(kind, *arguments)`` (``context.emit``); :func:`start_job` calls
the owner's handler for each kind on the GUI thread. Its progress dialog is not modal (the window
keeps training and answering while the job replays a run), and Cancel or Esc cancel the worker
from the GUI thread.

:class:`WritingJob` is such a job that writes files and ends with one of three messages;
:class:`ProgressTask` is a feature's one job of a kind at a time, with its dialog.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from PySide6 import QtCore, QtWidgets

from gradsim.engine.config import SimConfig
from gradsim.engine.records import StepRecord
from gradsim.engine.simulation import replay
from gradsim.io.atomic import describe_error
from gradsim.ui.common.workers import Job, JobContext, Worker

# The messages that end a :class:`WritingJob`, one of them exactly once.
ENDINGS = ("finished", "failed", "cancelled")


def replay_beside_the_window(config: SimConfig, iterations: int) -> Iterator[StepRecord]:
    """:func:`~gradsim.engine.simulation.replay` for a worker thread beside a live window.

    Between steps it hands the interpreter on: a replay of small steps would otherwise hold it
    for most of each switch interval and starve the window's event loop (a 10 ms timer fired 8
    times in a second during an export without this).
    """
    for record in replay(config, iterations):
        time.sleep(0)
        yield record


def progress_dialog(
    parent: QtWidgets.QWidget,
    text: str,
    title: str,
    maximum: int,
    object_name: str,
    on_cancel: Callable[[], None],
) -> QtWidgets.QProgressDialog:
    """A non-modal progress dialog from 0 to ``maximum`` that shows after 0.4 s.

    ``on_cancel`` is called for the Cancel button and for Esc; the dialog stays until the owner
    hides it (it neither closes nor resets itself at the maximum).
    """
    progress = QtWidgets.QProgressDialog(text, "Cancel", 0, max(1, maximum), parent)
    progress.setObjectName(object_name)
    progress.setWindowTitle(title)
    progress.setWindowModality(QtCore.Qt.WindowModality.NonModal)
    progress.setMinimumDuration(400)
    progress.setAutoClose(False)
    progress.setAutoReset(False)
    progress.setValue(0)
    progress.canceled.connect(on_cancel)
    progress.rejected.connect(on_cancel)  # Esc
    return progress


def show_progress(progress: QtWidgets.QProgressDialog | None, done: int, total: int) -> None:
    """Show ``done`` of ``total`` on a dialog of :func:`progress_dialog`; nothing once the owner
    has let the dialog go (a message can arrive after the job finished)."""
    if progress is not None:
        progress.setMaximum(max(1, total))
        progress.setValue(done)


def report_progress(context: JobContext) -> Callable[[int, int], None]:
    """A ``progress(done, total)`` callback for a job's replay: each call emits the message
    ``("progressed", done, total)`` (shown with :func:`show_progress` on the GUI thread)."""

    def progress(done: int, total: int) -> None:
        context.emit(("progressed", done, total))

    return progress


def start_job(run: Job, handlers: Mapping[str, Callable[..., None]], thread_name: str) -> Worker:
    """Start ``run(context)`` on a worker thread; each message ``(kind, *arguments)`` it emits
    calls ``handlers[kind](*arguments)`` on the GUI thread, in order.

    A job that raises instead of reporting its failure calls ``handlers["failed"](message)``.
    """

    def deliver(message: tuple[Any, ...]) -> None:
        handlers[message[0]](*message[1:])

    worker = Worker(run, name=thread_name)
    worker.yielded.connect(deliver)
    worker.errored.connect(handlers["failed"])
    return worker.start()


def finish(worker: Worker | None, progress: QtWidgets.QProgressDialog | None) -> None:
    """Hide the dialog and schedule it for deletion; cancel the job and wait for its thread."""
    if progress is not None:
        progress.reset()
        progress.hide()
        progress.deleteLater()
    if worker is not None:
        worker.stop()


class ReplayOrder(Protocol):
    """What a :class:`WritingJob` writes from (an export, a bundle): a run replayed this far."""

    @property
    def iterations(self) -> int:
        """The training steps replayed."""
        ...


Order = TypeVar("Order", bound=ReplayOrder)


class WritingJob(Generic[Order]):
    """The job of a worker thread that replays a run and writes what ``job`` orders.

    A subclass says what to write (:meth:`write`), which exception means the user cancelled
    (:attr:`cancelled_error`) and which path a failure names (:meth:`target`).

    Messages (see :func:`start_job`)
    --------
    ("progressed", done, total) : training steps replayed (:func:`report_progress`)
    any others :meth:`write` emits on the way
    ("finished", *what :meth:`write` returned) : everything was written
    ("failed", message) : nothing was written; ``message`` names the path and the reason
    ("cancelled",) : the user cancelled; nothing was written
    """

    cancelled_error: ClassVar[type[Exception]]

    def __init__(self, job: Order) -> None:
        self.job = job

    def target(self) -> Path:
        """The file or folder being written (failure messages name it)."""
        raise NotImplementedError

    def write(self, context: JobContext) -> tuple[object, ...]:
        """Write everything (on the worker thread); the ``"finished"`` message's arguments."""
        raise NotImplementedError

    def run(self, context: JobContext) -> None:
        """The job: :meth:`write`, then one of :data:`ENDINGS`."""
        try:
            finished = self.write(context)
        except self.cancelled_error:
            context.emit(("cancelled",))
        except Exception as error:  # every failure becomes a message, never a traceback
            context.emit(("failed", describe_error(self.target(), error)))
        else:
            context.emit(("finished", *finished))


# The job a :class:`ProgressTask` runs.
Writer = TypeVar("Writer", bound=WritingJob[Any])


class ProgressTask(Generic[Writer]):
    """A feature's one :class:`WritingJob` of a kind at a time, with its progress dialog.

    Parameters
    ----------
    name : names the worker thread ``<name>_thread`` and the dialog ``<name>_progress``
    title : the progress dialog's title
    handlers : what the feature does for each of the job's messages but ``"progressed"`` (the
        dialog shows those); the job is let go (:meth:`finish`) before an ending's handler runs

    Attributes
    ----------
    job : the job running (what :meth:`start` was given), None when none runs
    thread : its worker thread, None when none runs
    progress : its progress dialog, None when none runs
    """

    def __init__(self, name: str, title: str, handlers: Mapping[str, Callable[..., None]]) -> None:
        self.name = name
        self.title = title
        self.handlers = dict(handlers)
        self.job: Writer | None = None
        self.thread: QtCore.QThread | None = None
        self.progress: QtWidgets.QProgressDialog | None = None
        self._worker: Worker | None = None

    def start(self, job: Writer, parent: QtWidgets.QWidget) -> Writer:
        """Run ``job`` on a worker thread (:func:`start_job`) with a progress dialog over
        ``parent`` (:func:`progress_dialog`) whose Cancel cancels it; returns ``job``."""
        iterations = job.job.iterations
        self.progress = progress_dialog(
            parent, f"Replaying {iterations} iterations for {job.target().name}…", self.title,
            iterations, f"{self.name}_progress", self.cancel,
        )  # fmt: skip
        handlers = {"progressed": self.show_progress, **self.handlers}
        for kind in ENDINGS:
            handlers[kind] = self._ending(handlers[kind])
        self._worker = start_job(job.run, handlers, f"{self.name}_thread")
        self.thread, self.job = self._worker.thread, job
        return job

    def _ending(self, handler: Callable[..., None]) -> Callable[..., None]:
        def end(*arguments: Any) -> None:
            self.finish()
            handler(*arguments)

        return end

    def show_progress(self, done: int, total: int) -> None:
        """Show ``done`` of ``total`` on the dialog (:func:`show_progress`)."""
        show_progress(self.progress, done, total)

    def cancel(self) -> None:
        """Cancel the job (it stops at its next check; its ``"cancelled"`` message follows)."""
        if self._worker is not None:
            self._worker.cancel()

    def finish(self) -> None:
        """Let the job and its dialog go (:func:`finish`); the job's ending does it."""
        worker, progress = self._worker, self.progress
        self._worker = self.thread = self.job = self.progress = None
        finish(worker, progress)

    def close(self) -> None:
        """The window closes: cancel the job and wait for it; a dialog Qt deleted already is let go."""
        self.cancel()
        with contextlib.suppress(RuntimeError):
            self.finish()
