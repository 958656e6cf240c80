"""A spawned child process and a pipe to it: the process half of :mod:`gradsim.ui.common.workers`.

No Qt here, on purpose: a spawned child imports the module of its target function (and that
module's imports) before it runs; a target in a Qt-free module starts in about half a second
with numpy and the engine only. A job on a worker thread drives the child (see
:func:`gradsim.ui.common.workers.process_job`): it sends requests, waits for answers in short
polls so that a cancel is seen within :data:`POLL_SECONDS`, and ends the process when the job is
cancelled or the window closes.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

# How often a wait for the child looks at the cancel flag (seconds).
POLL_SECONDS = 0.05
# Scheduling priority of background processes (Unix nice value; higher is lower priority).
NICENESS = 10


class ProcessEnded(RuntimeError):
    """The child process ended (or its pipe broke) while an answer was awaited."""


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
