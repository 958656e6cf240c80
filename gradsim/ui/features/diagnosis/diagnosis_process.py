"""The process that runs :func:`gradsim.engine.diagnosis.diagnose` for the Diagnosis panel.

No Qt here: the spawned process imports this module (not the panel's) to find :func:`_serve`, so
it starts in about half a second with numpy and the engine only. The process itself is a
:class:`~gradsim.ui.common.processes.ChildProcess`, the process half of the worker abstraction.
"""

from __future__ import annotations

import atexit
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection

from gradsim.engine import theory
from gradsim.engine.config import SimConfig
from gradsim.engine.diagnosis import Diagnosis, diagnose
from gradsim.engine.records import StepRecord
from gradsim.ui.common.processes import ChildProcess, lower_priority


class DiagnosisCancelled(Exception):
    """The panel closed while its diagnosis was running; the result is not wanted."""


def _prediction(config: SimConfig) -> theory.LayerPrediction | theory.NotApplicable:
    """The theory for every layer of ``config`` or, without one, the reason."""
    return theory.predict_layers(config)


def _serve(connection: Connection) -> None:
    """The diagnosis process: answer ``("diagnose", config, records)`` with
    ``("ok", Diagnosis, seconds)`` and ``("predict", config, None)`` with
    ``("ok", LayerPrediction or NotApplicable, seconds)`` (``("error", message, seconds)`` if one
    raised), until the pipe closes."""
    lower_priority()  # background work: the window and the training thread come first
    while True:
        try:
            kind, config, records = connection.recv()
        except (EOFError, OSError):
            return
        start = time.perf_counter()
        try:
            result = diagnose(records, config) if kind == "diagnose" else _prediction(config)
            answer: tuple[str, object] = ("ok", result)
        except Exception as error:  # the process must answer whatever went wrong
            answer = ("error", str(error))
        connection.send((*answer, time.perf_counter() - start))


class DiagnosisServer:
    """One spawned process that runs :func:`diagnose` for every panel of the application.

    A process rather than a thread: ``diagnose`` is mostly many small numpy operations, which
    hold the interpreter lock. A config's first diagnosis asks the theory about its candidate
    fixes: about 0.5 s for the presets and 3.5 s for 16 layers of 2000 steps, where the theory's
    (layer, time) lattice is large. The theory keeps those answers per config, so the diagnoses
    that follow while the run trains take 6-40 ms (measured 2026-12-06). In a thread it would
    slow the window's drawing, and it could not be stopped when the window closes. The process is started
    at the first request (about 0.5 s) and shared, so its theory tables are built once. Requests
    are served one at a time. A cancelled request returns at once; its answer is dropped by the
    next request, which ends the process instead if that answer takes more than
    :data:`ABANDONED_WAIT_SECONDS` (a new process starts).
    """

    POLL_SECONDS = 0.05
    # How long a new request waits for the answer of an abandoned one before ending the process.
    ABANDONED_WAIT_SECONDS = 2.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._child: ChildProcess | None = None
        self._unread = False  # an abandoned request's answer is still to come

    @property
    def pid(self) -> int | None:
        """The process id of the running diagnosis process (None if none runs)."""
        child = self._child
        return None if child is None else child.pid

    def _start(self) -> Connection:
        self._child = ChildProcess(_serve, (), "gradsim-diagnosis")
        assert self._child.connection is not None
        return self._child.connection

    def stop(self) -> None:
        """End the process (a diagnosis in progress is abandoned)."""
        child, self._child = self._child, None
        self._unread = False
        if child is not None:
            child.stop()

    def _ask(
        self, request: tuple[str, SimConfig, object], cancelled: Callable[[], bool]
    ) -> tuple[object, float]:
        while not self._lock.acquire(timeout=self.POLL_SECONDS):
            if cancelled():
                raise DiagnosisCancelled
        try:
            connection = self._ready(cancelled)
            connection.send(request)
            while not connection.poll(self.POLL_SECONDS):
                if cancelled():
                    # Its answer is read and dropped by the next request (most take milliseconds
                    # to a second: cheaper than a new process that builds its tables again).
                    self._unread = True
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
        return payload, float(seconds)

    def _ready(self, cancelled: Callable[[], bool]) -> Connection:
        """A connection with no answer pending: the running process's, or a new one's."""
        connection = self._child.connection if self._child is not None and self.pid is not None else None
        if connection is not None and self._unread:
            # An abandoned request still computing: wait a little for it, else end the process.
            deadline = time.perf_counter() + self.ABANDONED_WAIT_SECONDS
            while not connection.poll(self.POLL_SECONDS):
                if cancelled():
                    raise DiagnosisCancelled
                if time.perf_counter() > deadline or self.pid is None:
                    connection = None
                    break
            if connection is not None:
                try:
                    connection.recv()
                except (EOFError, OSError):
                    connection = None
        self._unread = False
        if connection is None:
            self.stop()
            connection = self._start()
        return connection

    def diagnose(
        self, config: SimConfig, records: Sequence[StepRecord], cancelled: Callable[[], bool]
    ) -> tuple[Diagnosis, float]:
        """``diagnose(records, config)`` in the process, and the seconds it took there.

        Raises
        ------
        DiagnosisCancelled : ``cancelled()`` turned true while waiting (checked every 50 ms)
        RuntimeError : the process failed or diagnose raised (the message says why)
        """
        payload, seconds = self._ask(("diagnose", config, list(records)), cancelled)
        assert isinstance(payload, Diagnosis)
        return payload, seconds

    def predict(
        self, config: SimConfig, cancelled: Callable[[], bool]
    ) -> tuple[theory.LayerPrediction | theory.NotApplicable, float]:
        """:func:`gradsim.engine.theory.predict_layers` for ``config``, computed in the process
        (milliseconds, plus about a second for an activation's first table), and the seconds it
        took.

        Raises as :meth:`diagnose`.
        """
        payload, seconds = self._ask(("predict", config, None), cancelled)
        assert isinstance(payload, theory.LayerPrediction | theory.NotApplicable)
        return payload, seconds


SERVER = DiagnosisServer()
atexit.register(SERVER.stop)
