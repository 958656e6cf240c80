"""Background jobs with a progress dialog: the plumbing the run export and the bundle share.

A job is a worker ``QObject`` with a ``run`` slot, moved to its own ``QThread``. Its progress
dialog is not modal (the window keeps training and answering while the job replays a run), and
Cancel or Esc call a slot of the GUI-thread owner: a queued call to the busy worker would only
run once its job is over.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from PySide6 import QtCore, QtWidgets

from gradsim.engine.config import SimConfig
from gradsim.engine.records import StepRecord
from gradsim.engine.simulation import replay


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


def start_in_thread(owner: QtCore.QObject, worker: QtCore.QObject, thread_name: str) -> QtCore.QThread:
    """Move ``worker`` to a new thread (a child of ``owner``) that calls ``worker.run`` once started.

    The caller connects the worker's signals, then calls ``thread.start()``.
    """
    thread = QtCore.QThread(owner)
    thread.setObjectName(thread_name)
    worker.moveToThread(thread)
    thread.started.connect(worker.run)  # type: ignore[attr-defined]
    # Deleted by its own thread as that thread ends (Qt's pattern), never from the GUI thread
    # while it may still be in use there.
    thread.finished.connect(worker.deleteLater)
    return thread


def finish(
    thread: QtCore.QThread | None,
    worker: QtCore.QObject | None,
    progress: QtWidgets.QProgressDialog | None,
) -> None:
    """Hide the dialog, end the thread (waiting for it) and schedule them for deletion.

    The worker is deleted by its thread as it finishes (see :func:`start_in_thread`); it is
    accepted here so that callers hand over everything they held.
    """
    if progress is not None:
        progress.reset()
        progress.hide()
        progress.deleteLater()
    if thread is not None:
        thread.quit()
        thread.wait()
        thread.deleteLater()
    del worker
