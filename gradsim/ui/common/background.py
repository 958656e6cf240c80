"""Background jobs with a progress dialog: the plumbing the run export, the bundle and the
animation share.

A job is a plain object whose ``run(context)`` runs on a :class:`~gradsim.ui.common.workers.Worker`
thread and reports by messages ``(kind, *arguments)`` (``context.emit``); :func:`start_job` calls
the owner's handler for each kind on the GUI thread. Its progress dialog is not modal (the window
keeps training and answering while the job replays a run), and Cancel or Esc cancel the worker
from the GUI thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from PySide6 import QtCore, QtWidgets

from gradsim.engine.config import SimConfig
from gradsim.engine.records import StepRecord
from gradsim.engine.simulation import replay
from gradsim.ui.common.workers import Job, JobContext, Worker


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
