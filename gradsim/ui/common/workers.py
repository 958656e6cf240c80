"""The one way to run work off the GUI thread: start, stream, hold for a frame, cancel, stop.

In the spirit of napari's ``create_worker``: a *job* is a plain function ``job(context)``; a
:class:`Worker` runs it on its own ``QThread`` and hands back what it produces by signal::

    worker = Worker(export_rows, name="gradsim-export")
    worker.yielded.connect(self._on_progress)     # every context.emit(value), in order
    worker.returned.connect(self._on_done)        # the job's return value
    worker.errored.connect(self._on_error)        # one line: what went wrong
    worker.start()
    ...
    worker.stop()                                 # cancel and wait: the window is closing

What the job gets (:class:`JobContext`): ``emit(value)`` to stream results; ``checkpoint()``,
which waits while the GUI thread holds a frame (:meth:`Worker.hold_for_frame`) and raises
:class:`Cancelled` once the job is cancelled; ``next_command(timeout)`` for long-lived jobs
that take commands (:meth:`Worker.send`), such as the training loop; ``is_cancelled`` and
``cancel_event`` for engine functions that take a cancel flag.

Why a ``QThread`` whose ``run`` calls the job, rather than a worker ``QObject`` moved to the
thread with its own event loop and timers: **no Qt object lives on, or is owned by, a worker
thread.** The job, its context and whatever it builds are plain Python; the only Qt object it
touches is its ``QThread``, which lives on the GUI thread, and emitting that object's signals
from the worker thread queues them to the GUI thread. So no Qt object can be destroyed on a
worker thread (a started ``QTimer`` destroyed there crashed the GUI thread, see
docs/architecture.md), and commands are a plain queue the job reads between steps. Why not a
plain ``threading.Thread``: the window's code asks the thread ``isRunning()`` and waits on it
like any ``QThread``, and a ``QThread`` cannot outlive its wait at close.

Lifetime, in one place (:func:`_stop_thread`): a running thread is kept alive by the module's
registry until the GUI thread has seen it finish, so a thread is never destroyed while it runs;
the ``QThread`` object is owned by a GUI-thread parent and deleted by the GUI thread's event loop
once its worker is dropped (:func:`_release_thread`), whichever thread frees the worker.
:meth:`Worker.stop`, a worker that is garbage collected, and the interpreter's exit all stop a
thread the same way: cancel, release a held frame, wake a job waiting for a command, ask the
thread to stop and wait.

Process workers (:class:`ProcessWorker`): the numerics run in a spawned child process
(:class:`~gradsim.ui.common.processes.ChildProcess`), commands go straight into its pipe, and
the worker thread relays its messages; stopping ends the process.
"""

from __future__ import annotations

import atexit
import queue
import threading
import weakref
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6 import QtCore

from gradsim.ui.common.processes import ChildProcess, ProcessEnded

# Longest a job waits at a checkpoint for the GUI thread to finish a frame before it goes on.
FRAME_HOLD_LIMIT = 1.0

Job = Callable[["JobContext"], Any]


class Cancelled(Exception):
    """Raised inside a job that was cancelled (at a checkpoint, or waiting for a command)."""


def describe_failure(error: BaseException) -> str:
    """One line for a user: the error's first line, or its type when it has no message."""
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


_STOP = object()  # wakes a job waiting in next_command when the worker stops


class JobContext:
    """What a job running on a worker thread gets: emit, checkpoint, commands, cancel flag.

    Every method is for the worker thread unless it says otherwise; the :class:`Worker` sets
    the flags from the GUI thread. Plain attribute reads and writes of ints are atomic in
    CPython, and the events and the queue are thread-safe, so there is no lock.
    """

    def __init__(self, cancel_event: threading.Event | None = None) -> None:
        self.cancel_event = cancel_event if cancel_event is not None else threading.Event()
        self._gui_free = threading.Event()
        self._gui_free.set()
        self._hold_number = 0
        self._lapsed_hold = -1
        self._commands: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._emit: Callable[[object], None] | None = None

    # -- for the job -------------------------------------------------------------------------
    @property
    def cancelled(self) -> bool:
        """Whether the job was cancelled (or its worker stopped)."""
        return self.cancel_event.is_set()

    def is_cancelled(self) -> bool:
        """:attr:`cancelled` as a function, for engine calls that take ``cancelled()``."""
        return self.cancel_event.is_set()

    def emit(self, value: object) -> None:
        """Hand ``value`` to the GUI thread (:attr:`Worker.yielded`, in order, queued)."""
        emit = self._emit
        if emit is None:
            raise Cancelled  # the job is over: nobody listens
        emit(value)

    def wait_while_held(self, limit: float | None = None) -> None:
        """Wait while the GUI thread draws a frame; each hold is waited out once, ``limit`` s at most.

        ``limit`` None: :data:`FRAME_HOLD_LIMIT`, read at the call (a test may change it).
        """
        if not self._gui_free.is_set() and self._hold_number != self._lapsed_hold:
            hold = self._hold_number
            if not self._gui_free.wait(FRAME_HOLD_LIMIT if limit is None else limit):
                self._lapsed_hold = hold  # never released: do not wait for this one again

    def checkpoint(self, limit: float | None = None) -> None:
        """:meth:`wait_while_held`, then raise :class:`Cancelled` if the job was cancelled."""
        self.wait_while_held(limit)
        if self.cancel_event.is_set():
            raise Cancelled

    def next_command(self, timeout: float | None = None) -> object | None:
        """The next command sent with :meth:`Worker.send` (oldest first).

        Waits up to ``timeout`` seconds (None: until one comes; 0: does not wait) and returns
        None if none came. Raises :class:`Cancelled` once the worker is cancelled.
        """
        if self.cancel_event.is_set():
            raise Cancelled
        try:
            if timeout is not None and timeout <= 0:
                command = self._commands.get_nowait()
            else:
                command = self._commands.get(timeout=timeout)
        except queue.Empty:
            return None
        if command is _STOP or self.cancel_event.is_set():
            raise Cancelled
        return command

    # -- for the Worker (GUI thread) ---------------------------------------------------------------
    def _hold(self) -> None:
        self._hold_number += 1
        self._gui_free.clear()

    def _release(self) -> None:
        self._gui_free.set()

    def _send(self, command: object) -> None:
        self._commands.put(command)

    def _cancel(self) -> None:
        self.cancel_event.set()
        self._gui_free.set()
        self._commands.put(_STOP)


class _JobThread(QtCore.QThread):
    """Calls one job in :meth:`run`; its signals are emitted there and queued to the GUI thread."""

    yielded = QtCore.Signal(object)
    returned = QtCore.Signal(object)
    errored = QtCore.Signal(str)

    def __init__(self, job: Job, context: JobContext, name: str, parent: QtCore.QObject) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self._job: Job | None = job
        self._context = context

    def run(self) -> None:  # the worker thread
        job, context = self._job, self._context
        self._job = None
        assert job is not None
        context._emit = self.yielded.emit
        try:
            value = job(context)
        except Cancelled:
            pass
        except Exception as error:  # a job's failure is a message for the GUI thread, not a traceback
            self.errored.emit(describe_failure(error))
        else:
            self.returned.emit(value)
            del value
        finally:
            # The job's objects may sit in reference cycles; once it is over nothing reachable
            # from them refers to a Qt object (see the module docstring).
            context._emit = None
            del job


class _Reaper(QtCore.QObject):
    """Lives on the GUI thread; drops the registry's reference to each thread that finished."""

    @QtCore.Slot()
    def reap(self) -> None:
        thread = self.sender()
        if isinstance(thread, _JobThread):
            thread.wait()  # finished is emitted just before the thread ends
            _RUNNING.discard(thread)


_RUNNING: set[_JobThread] = set()
_reaper: _Reaper | None = None


def _the_reaper() -> _Reaper:
    """The module's reaper, made on first use (on the GUI thread: workers are made there)."""
    global _reaper
    if _reaper is None:
        _reaper = _Reaper()
    return _reaper


def _release_thread(thread: _JobThread, context: JobContext) -> None:
    """A worker was dropped: stop its thread, then have the GUI thread's event loop delete it.

    The thread object is owned by the reaper (a parent), not by the worker's Python wrapper, so
    a worker freed by the cyclic collector on another thread never deletes a ``QObject`` there;
    ``deleteLater`` may be called from any thread and deletes on the GUI thread.
    """
    _stop_thread(thread, context)
    # The thread has ended: forget it here, as the reaper's queued call may come after the
    # deletion (and then finds no sender).
    _RUNNING.discard(thread)
    if shiboken6.isValid(thread):
        thread.deleteLater()


def _stop_thread(thread: _JobThread, context: JobContext, timeout_ms: int | None = None) -> bool:
    """End a worker's thread: cancel the job, release a held frame, wake it, ask it to stop, wait.

    The one place a worker thread is stopped (:meth:`Worker.stop`, a worker garbage collected,
    the interpreter's exit). Waits ``timeout_ms`` first and returns whether the thread ended
    within it; if not, waits on regardless (a step that cannot be cut finishes first) and
    returns False: a running ``QThread`` must never be destroyed.
    """
    context._cancel()
    if not thread.isRunning():
        return True
    thread.requestInterruption()
    if timeout_ms is not None and thread.wait(timeout_ms):
        return True
    thread.wait()
    return timeout_ms is None


@atexit.register
def _stop_all() -> None:
    """At the interpreter's exit, end every worker thread still running."""
    for thread in list(_RUNNING):
        if shiboken6.isValid(thread):
            _stop_thread(thread, thread._context)
    _RUNNING.clear()


class Worker:
    """A job on its own thread, and the GUI thread's handle on it.

    Parameters
    ----------
    job : ``job(context)``, run once on the thread; what it returns comes as :attr:`returned`
    name : the thread's name (shown by debuggers and ``faulthandler``)
    cancel_event : the job's cancel flag, when the job made its own (``context.cancel_event``)

    Signals (attributes; connect them before :meth:`start`, to slots of GUI-thread objects)
    -------
    yielded(object) : each ``context.emit(value)``, in order
    returned(object) : the job's return value (not sent when it was cancelled by an exception)
    errored(str) : the job raised; one line saying what went wrong
    finished() : the thread ended, whichever way
    """

    def __init__(self, job: Job, *, name: str, cancel_event: threading.Event | None = None) -> None:
        self.context = JobContext(cancel_event)
        self.thread = _JobThread(job, self.context, name, _the_reaper())
        self.yielded = self.thread.yielded
        self.returned = self.thread.returned
        self.errored = self.thread.errored
        self.finished = self.thread.finished
        self._finalizer = weakref.finalize(self, _release_thread, self.thread, self.context)

    def start(self) -> Worker:
        """Start the job (GUI thread); returns the worker."""
        _RUNNING.add(self.thread)
        self.thread.finished.connect(_the_reaper().reap)
        self.thread.start()
        return self

    @property
    def is_running(self) -> bool:
        """Whether the job's thread runs."""
        return self.thread.isRunning()

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` or :meth:`stop` was called."""
        return self.context.cancelled

    def send(self, command: object) -> None:
        """Queue ``command`` for the job's :meth:`JobContext.next_command`."""
        self.context._send(command)

    def cancel(self) -> None:
        """Ask the job to stop at its next checkpoint or command wait; does not wait."""
        self.context._cancel()

    def hold_for_frame(self) -> None:
        """Keep the job at its next checkpoint until :meth:`release_frame` (GUI thread).

        Both threads run Python and share the interpreter lock: a job that computes flat out
        makes every frame the GUI thread draws several times slower. Held, it waits
        :data:`FRAME_HOLD_LIMIT` seconds at most per hold.
        """
        self.context._hold()

    def release_frame(self) -> None:
        """Let the job go on (the frame is drawn)."""
        self.context._release()

    def stop(self, timeout_ms: int | None = None) -> bool:
        """Cancel the job and wait for its thread to end (see :func:`_stop_thread`)."""
        return _stop_thread(self.thread, self.context, timeout_ms)


class ProcessWorker(Worker):
    """A spawned child process, and a worker thread that relays its messages: a worker whose job
    runs in another process.

    ``target(connection, *args)`` runs in the child (a module-level function of a module
    without Qt: the child imports it). Every message the child sends comes as :attr:`yielded`,
    in order; :meth:`send` puts a command straight into the child's pipe (from the GUI thread:
    the relay thread only reads, and the pipe's two directions are independent). When the
    child closes its end the job returns (:attr:`returned` with None) if it exited normally,
    and fails (:attr:`errored`) if it died. The process starts when the worker is made (what it
    sends waits in the pipe), the relay with :meth:`start`. :meth:`stop` ends the relay thread,
    then the process; a dropped worker and the interpreter's exit end both as well (the process
    is a daemon).
    """

    def __init__(self, target: Callable[..., None], args: tuple[Any, ...] = (), *, name: str) -> None:
        self.child = ChildProcess(target, args, name)
        super().__init__(_relay(self.child), name=name)
        self._child_finalizer = weakref.finalize(self, self.child.stop)

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return self.child.pid

    def send(self, command: object) -> None:
        """Send ``command`` to the child (GUI thread); nothing happens once it is gone."""
        try:
            self.child.send(command)
        except ProcessEnded:
            pass  # the relay reports how the child ended

    def stop(self, timeout_ms: int | None = None) -> bool:
        """Stop the relay thread, then end the process (work in progress is abandoned)."""
        stopped = super().stop(timeout_ms)
        self._child_finalizer()
        return stopped


def _relay(child: ChildProcess) -> Job:
    def relay(context: JobContext) -> None:
        # Looks at the cancel flag before every message: a child that streams without pause
        # never lets a wait for its next message time out.
        while not context.cancelled:
            try:
                arrived, message = child.receive(context.is_cancelled)
            except ProcessEnded:
                code = child.exit_code(wait_seconds=1.0)
                if code == 0 or context.cancelled:
                    return
                raise ProcessEnded(f"the process ended unexpectedly (exit code {code})") from None
            if not arrived:
                return  # cancelled
            context.emit(message)

    return relay
