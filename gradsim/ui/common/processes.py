"""A spawned child process and a pipe to it: the process half of :mod:`gradsim.ui.common.workers`.

No Qt here, on purpose: a spawned child imports the module of its target function (and that
module's imports) before it runs; a target in a Qt-free module starts in about half a second
with numpy and the engine only. A worker thread drives the child (see
:class:`gradsim.ui.common.workers.ProcessWorker`): it waits for its messages in short polls so
that a cancel is seen within :data:`POLL_SECONDS`, and the child is ended when the worker stops
or the window closes.

The child's half is :class:`ParentPipe`: a long-lived child reads its commands through it and
exits (:class:`ParentGone`) when the window's process is gone, even if that process was killed
and could not end it: no orphan keeps computing.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

# How often a wait for the child looks at the cancel flag (seconds).
POLL_SECONDS = 0.05
# How often a child waiting for its parent's next message checks that the parent lives (seconds).
PARENT_CHECK_SECONDS = 0.5
# Scheduling priority of background processes (Unix nice value; higher is lower priority).
NICENESS = 10


class ProcessEnded(RuntimeError):
    """The child process ended (or its pipe broke) while an answer was awaited."""


class ParentGone(Exception):
    """In a child: the process that started it ended or closed the pipe; the child should exit."""


def lower_priority(niceness: int = NICENESS) -> None:
    """Make the calling process background work: the window and the training thread come first."""
    try:
        os.nice(niceness)
    except (AttributeError, OSError):  # no os.nice on Windows; a refusal changes nothing
        pass


class ChildProcess:
    """One spawned process running ``target(connection, *args)``, and the parent's end of its pipe.

    Spawned, never forked: forking a process that runs Qt threads copies locks held by other
    threads. The process is a daemon (it never outlives the application).

    Parameters
    ----------
    target : a module-level function ``target(connection, *args)``; it ends when the pipe closes
    args : picklable arguments
    name : the process's name
    """

    def __init__(
        self, target: Callable[..., None], args: tuple[Any, ...] = (), name: str = "gradsim"
    ) -> None:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        self._process: BaseProcess | None = context.Process(
            target=target, args=(child, *args), name=name, daemon=True
        )
        self._process.start()
        child.close()
        self.connection: Connection | None = parent

    @property
    def pid(self) -> int | None:
        """The process id while the process runs (None once it ended or was stopped)."""
        process = self._process
        return process.pid if process is not None and process.is_alive() else None

    def exit_code(self, wait_seconds: float = 0.0) -> int | None:
        """The process's exit code once it ended (negative: the signal that ended it), else None.

        Waits up to ``wait_seconds`` for it to end (a child that closed its pipe is exiting).
        """
        process = self._process
        if process is None:
            return None
        process.join(wait_seconds)
        return process.exitcode

    def send(self, message: object) -> None:
        """Send ``message`` to the child (raises :class:`ProcessEnded` if it is gone)."""
        if self.connection is None:
            raise ProcessEnded("the process was stopped")
        try:
            self.connection.send(message)
        except (OSError, ValueError) as error:
            raise ProcessEnded("the process ended unexpectedly") from error

    def receive(self, cancelled: Callable[[], bool], timeout: float | None = None) -> tuple[bool, object]:
        """Wait for the child's next message, checking ``cancelled()`` every :data:`POLL_SECONDS`.

        Returns ``(True, message)``, or ``(False, None)`` when ``cancelled()`` turned true or
        ``timeout`` seconds passed first. Raises :class:`ProcessEnded` if the child is gone.
        """
        connection = self.connection
        if connection is None:
            raise ProcessEnded("the process was stopped")
        waited = 0.0
        while not connection.poll(POLL_SECONDS):
            waited += POLL_SECONDS
            if cancelled() or (timeout is not None and waited >= timeout):
                return False, None
            if self.pid is None:
                raise ProcessEnded("the process ended unexpectedly")
        try:
            return True, connection.recv()
        except (EOFError, OSError) as error:
            raise ProcessEnded("the process ended unexpectedly") from error

    def stop(self) -> None:
        """Close the pipe and end the process (work in progress is abandoned)."""
        process, connection = self._process, self.connection
        self._process = self.connection = None
        if connection is not None:
            connection.close()
        if process is not None:
            process.terminate()
            process.join(5)


class ParentPipe:
    """A child's end of its :class:`ChildProcess` pipe, watching that the parent still lives.

    A spawned child is not ended by the system when its parent dies (killed, crashed): it would
    go on computing as an orphan. Two signs tell it: its pipe reads end-of-file once the parent's
    end is closed, which the system does when the parent's process ends; and its parent process
    id changes (an orphan is adopted). :meth:`receive` looks at both at least every
    :data:`PARENT_CHECK_SECONDS`, and every method raises :class:`ParentGone` once either shows.

    Parameters
    ----------
    connection : the child's end of the pipe (the target's first argument)
    parent_pid : the parent's process id as the parent saw it (``os.getpid()`` there), passed
        as an argument so that a parent which died before the child started is noticed too
    """

    def __init__(self, connection: Connection, parent_pid: int) -> None:
        self.connection = connection
        self.parent_pid = parent_pid

    def check_parent(self) -> None:
        """Raise :class:`ParentGone` if the parent process is no longer this process's parent."""
        if os.getppid() != self.parent_pid:
            raise ParentGone

    def receive(self, timeout: float | None = None) -> tuple[bool, object]:
        """The parent's next message: ``(True, message)``, or ``(False, None)`` after ``timeout`` s.

        ``timeout`` None waits until a message comes; 0 only looks. Raises :class:`ParentGone`.
        """
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        while True:
            self.check_parent()
            wait = PARENT_CHECK_SECONDS
            if deadline is not None:
                wait = min(wait, max(0.0, deadline - time.monotonic()))
            try:
                if self.connection.poll(wait):
                    return True, self.connection.recv()
            except (EOFError, OSError) as error:
                raise ParentGone from error
            if deadline is not None and time.monotonic() >= deadline:
                return False, None

    def send(self, message: object) -> None:
        """Send ``message`` to the parent (raises :class:`ParentGone` if it is gone)."""
        try:
            self.connection.send(message)
        except (OSError, ValueError) as error:
            raise ParentGone from error
