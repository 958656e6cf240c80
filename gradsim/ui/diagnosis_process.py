"""The process that runs :func:`gradsim.engine.diagnosis.diagnose` for the Diagnosis panel.

No Qt here: the spawned process imports this module (not the panel's) to find :func:`_serve`, so
it starts in about half a second with numpy and the engine only.
"""

from __future__ import annotations

import atexit
import multiprocessing
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from gradsim.engine.config import SimConfig
from gradsim.engine.diagnosis import Diagnosis, diagnose
from gradsim.engine.records import StepRecord


class DiagnosisCancelled(Exception):
    """The panel closed while its diagnosis was running; the result is not wanted."""


def _serve(connection: Connection) -> None:
    """The diagnosis process: answer ``(config, records)`` with ``("ok", Diagnosis, seconds)``
    or ``("error", message, seconds)`` until the pipe closes."""
    while True:
        try:
            config, records = connection.recv()
        except (EOFError, OSError):
            return
        start = time.perf_counter()
        try:
            answer: tuple[str, object, float] = ("ok", diagnose(records, config), 0.0)
        except Exception as error:  # the process must answer whatever went wrong
            answer = ("error", str(error), 0.0)
        connection.send((answer[0], answer[1], time.perf_counter() - start))


class DiagnosisServer:
    """One spawned process that runs :func:`diagnose` for every panel of the application.

    A process rather than a thread: ``diagnose`` is mostly many small numpy operations, which
    hold the interpreter lock, and takes from 0.3 s (the presets) to over a minute (16 layers of
    2000 steps, where the theory's (layer, time) lattice is large); in a thread it would slow the
    window's drawing, and it could not be stopped when the window closes. The process is started
    at the first request (about 0.5 s) and shared, so its theory tables are built once. Requests
    are served one at a time; a cancelled request ends the process (the next one starts a new).
    """

    POLL_SECONDS = 0.05

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: BaseProcess | None = None
        self._connection: Connection | None = None

    @property
    def pid(self) -> int | None:
        """The process id of the running diagnosis process (None if none runs)."""
        process = self._process
        return process.pid if process is not None and process.is_alive() else None

    def _start(self) -> Connection:
        context = multiprocessing.get_context("spawn")  # never fork a process that runs Qt
        parent, child = context.Pipe()
        process = context.Process(target=_serve, args=(child,), name="gradsim-diagnosis", daemon=True)
        process.start()
        child.close()
        self._process, self._connection = process, parent
        return parent

    def stop(self) -> None:
        """End the process (a diagnosis in progress is abandoned)."""
        process, connection = self._process, self._connection
        self._process = self._connection = None
        if connection is not None:
            connection.close()
        if process is not None:
            process.terminate()
            process.join(5)

    def diagnose(
        self, config: SimConfig, records: Sequence[StepRecord], cancelled: Callable[[], bool]
    ) -> tuple[Diagnosis, float]:
        """``diagnose(records, config)`` in the process, and the seconds it took there.

        Raises
        ------
        DiagnosisCancelled : ``cancelled()`` turned true while waiting (checked every 50 ms)
        RuntimeError : the process failed or diagnose raised (the message says why)
        """
        while not self._lock.acquire(timeout=self.POLL_SECONDS):
            if cancelled():
                raise DiagnosisCancelled
        try:
            connection = self._connection if self.pid is not None else None
            if connection is None:
                self.stop()
                connection = self._start()
            connection.send((config, list(records)))
            while not connection.poll(self.POLL_SECONDS):
                if cancelled():
                    self.stop()
                    raise DiagnosisCancelled
                if self.pid is None:
                    self.stop()
                    raise RuntimeError("the diagnosis process ended unexpectedly")
            try:
                status, payload, seconds = connection.recv()
            except (EOFError, OSError) as error:
                self.stop()
                raise RuntimeError("the diagnosis process ended unexpectedly") from error
        finally:
            self._lock.release()
        if status != "ok":
            raise RuntimeError(str(payload))
        assert isinstance(payload, Diagnosis)
        return payload, float(seconds)


SERVER = DiagnosisServer()
atexit.register(SERVER.stop)
