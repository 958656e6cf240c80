"""Training off the GUI thread: the GUI-side handle on the training loop, in a thread or a process.

The :class:`~gradsim.ui.training.training_loop.TrainingLoop` (no Qt) owns the
:class:`~gradsim.engine.simulation.Simulation`, takes commands (rebuild, pause, step, speed,
capture) between steps and emits plain :class:`~gradsim.engine.records.StepRecord` objects in
batches. It runs in one of two kinds of worker (:data:`RUNNER_KINDS`), chosen by the
environment variable ``GRADSIM_RUNNER`` (default :data:`DEFAULT_RUNNER`):

- ``thread``: a :class:`~gradsim.ui.common.workers.Worker` thread of the window's process;
- ``process``: a spawned child process (:mod:`gradsim.ui.training.training_process`,
  a :class:`~gradsim.ui.common.workers.ProcessWorker`) that streams the records through a pipe
  and exits with the window, even if the window's process is killed.

The :class:`Runner` is what the window talks to, the same for both kinds. It lives on the GUI
thread, sends commands to the loop, and passes on only the records of the current run: every
rebuild or reset starts a new *generation*, and batches still in flight from an older one are
dropped, so the plots never mix two runs.

Sharing the interpreter (the ``thread`` kind): both threads run Python, and only one holds the
GIL at a time. A worker that trains flat out takes the GIL back every few milliseconds, and the
GUI thread, which gives it up at every call into Qt, then redraws several times slower and
answers input late. So the GUI thread *holds* the worker while it draws a frame
(:meth:`Runner.hold_for_frame` before updating the plots, :meth:`Runner.release_frame` once Qt
has painted them): the worker waits at its next checkpoint (between steps, or every few time
steps of a forward pass: ``Simulation.checkpoint``), at most :data:`FRAME_HOLD_LIMIT` seconds,
so training always progresses. The ``process`` kind shares no interpreter with the window: a
hold does nothing.
"""

from __future__ import annotations

import os

from PySide6 import QtCore

from gradsim.engine.config import SimConfig
from gradsim.engine.simulation import Simulation
from gradsim.ui.common.workers import FRAME_HOLD_LIMIT, ProcessWorker, Worker
from gradsim.ui.training import training_process
from gradsim.ui.training.training_loop import (
    BATCHES_PER_SECOND,
    TICKS_PER_SECOND,
    UNLIMITED,
    Capture,
    TrainingLoop,
    limit_blas_threads,
)

__all__ = [
    "BATCHES_PER_SECOND",
    "DEFAULT_RUNNER",
    "FRAME_HOLD_LIMIT",
    "RUNNER_KINDS",
    "TICKS_PER_SECOND",
    "UNLIMITED",
    "Capture",
    "Runner",
    "TrainingHandle",
    "TrainingLoop",
    "limit_blas_threads",
    "runner_kind",
]

# Where the training loop runs: a thread of the window's process, or a child process.
RUNNER_KINDS = ("thread", "process")
# The process: in a thread, training and drawing share one interpreter lock, so training runs at
# most at (1 - the GUI thread's share) of its own speed (the frame holds make that exact), and
# drawing 30 frames/s takes a third of it even at 10 ms a frame. The process trains at its own
# speed beside the window; benchmarks/bench_gui_latency.py --gaps measures both kinds.
DEFAULT_RUNNER = "process"


def runner_kind(kind: str | None = None) -> str:
    """``kind``, else ``GRADSIM_RUNNER`` from the environment, else :data:`DEFAULT_RUNNER`; checked."""
    chosen = kind or os.environ.get("GRADSIM_RUNNER", "").strip().lower() or DEFAULT_RUNNER
    if chosen not in RUNNER_KINDS:
        raise ValueError(f"GRADSIM_RUNNER must be one of {', '.join(RUNNER_KINDS)} (got {chosen!r})")
    return chosen


class TrainingHandle(QtCore.QObject):
    """The GUI thread's handle on a :class:`TrainingLoop` and its worker; base of :class:`Runner`
    and the A/B tab's pair runner.

    It forwards commands to the loop and passes on only the messages of the current run: every
    rebuild or reset starts a new *generation*, and messages still in flight from an older one
    are dropped (:meth:`_deliver` sees only current ones).

    Parameters
    ----------
    count : how many simulations the loop trains in lockstep
    thread_name : the worker thread's (and the child process's) name
    parent : optional QObject parent
    kind : ``"thread"`` or ``"process"`` (None: :func:`runner_kind`)

    Signals
    -------
    runningChanged(running) : training started or stopped
    failed(message) : the simulations could not be built, or the training process died
    """

    runningChanged = QtCore.Signal(bool)
    failed = QtCore.Signal(str)

    def __init__(
        self, count: int, thread_name: str, parent: QtCore.QObject | None = None, kind: str | None = None
    ) -> None:
        super().__init__(parent)
        self.kind = runner_kind(kind)
        limit_blas_threads()
        self._generation = 0
        self._running = False
        self._shut_down = False
        self._loop: TrainingLoop | None = None
        self._worker: Worker
        if self.kind == "thread":
            self._loop = TrainingLoop(count)
            self._worker = Worker(self._loop.run, name=thread_name)
        else:
            args = (count, os.getpid())
            self._worker = ProcessWorker(training_process.serve, args, name=thread_name)
        self._worker.yielded.connect(self._on_message)
        self._worker.errored.connect(self._on_error)
        self._worker.start()

    @property
    def is_running(self) -> bool:
        """Whether the worker is training continuously."""
        return self._running

    @property
    def generation(self) -> int:
        """Number of the current run; increases with every rebuild or reset."""
        return self._generation

    @property
    def thread(self) -> QtCore.QThread:  # type: ignore[override]  # the worker's, not QObject.thread()
        """The worker's thread (for the ``process`` kind, the thread that relays the child)."""
        return self._worker.thread

    @property
    def process_id(self) -> int | None:
        """The training process's id while it runs (None for the ``thread`` kind)."""
        worker = self._worker
        return worker.pid if isinstance(worker, ProcessWorker) else None

    def _simulations(self) -> tuple[Simulation, ...] | None:
        # The process kind's simulations live in the child: nothing to inspect here.
        if self._shut_down or self._loop is None:
            return None
        return self._loop.simulations

    def _command(self, *command: object) -> None:
        if not self._shut_down:
            self._worker.send(command)

    def _next_generation(self) -> int:
        # Set before the command is queued: a step of the old run in progress sees it and stops
        # (in the child, when its next checkpoint reads the command).
        self._generation += 1
        if self._loop is not None:
            self._loop.requested_generation = self._generation
        return self._generation

    def _rebuild_all(self, configs: tuple[SimConfig, ...]) -> None:
        if not self._shut_down:
            self._command("rebuild", self._next_generation(), configs)

    def reset(self) -> None:
        """Restart the current run from its initial weights."""
        if not self._shut_down:
            self._command("reset", self._next_generation())

    def play(self) -> None:
        """Train continuously."""
        self._command("play")

    def pause(self) -> None:
        """Stop training after the step in progress."""
        self._command("pause")

    def step(self) -> None:
        """Pause and take one training step (of each simulation)."""
        self._command("step")

    def hold_for_frame(self) -> None:
        """Keep the worker at its next checkpoint until :meth:`release_frame`.

        Call it on the GUI thread before updating the plots and release once they are painted
        (Qt paints in a later event): the frame then does not compete with the worker for the
        interpreter. The worker waits :data:`FRAME_HOLD_LIMIT` seconds at most per hold. The
        ``process`` kind competes for no interpreter: nothing is held.
        """
        if not self._shut_down and self._loop is not None:
            self._worker.hold_for_frame()

    def release_frame(self) -> None:
        """Let the worker train on (the frame is drawn)."""
        self._worker.release_frame()

    def shutdown(self, timeout_ms: int = 2000) -> bool:
        """Stop the worker and end its thread (and process); True if it ended within ``timeout_ms``.

        A step in progress is abandoned at its forward pass's next checkpoint, a few time steps
        on (the process kind ends the process at once). If the thread has still not ended after
        ``timeout_ms`` (a backward pass cannot be cut), this waits for it anyway: destroying a
        running QThread aborts the process.
        """
        if self._shut_down:
            return True
        self._shut_down = True
        self._running = False
        return self._worker.stop(timeout_ms)

    @QtCore.Slot(str)
    def _on_error(self, message: str) -> None:
        if not self._shut_down:
            if self._running:
                self._running = False
                self.runningChanged.emit(False)
            self.failed.emit(f"training stopped: {message}")

    @QtCore.Slot(object)
    def _on_message(self, message: tuple[str, int, object]) -> None:
        kind, generation, payload = message
        if self._shut_down:
            return
        if kind == "running":  # playing or paused holds across runs
            if payload != self._running:
                self._running = bool(payload)
                self.runningChanged.emit(self._running)
        elif generation == self._generation:
            if kind == "failed":
                self.failed.emit(str(payload))
            else:
                self._deliver(kind, payload)

    def _deliver(self, kind: str, payload: object) -> None:
        """Pass on a message of the current run (``built``, ``records``, ``halted``, ``captured``)."""
        raise NotImplementedError


class Runner(TrainingHandle):
    """The GUI thread's handle on the training worker and its thread.

    Parameters
    ----------
    config : the first simulation's config
    parent : optional QObject parent (the thread itself has none; :meth:`shutdown` ends it)
    kind : ``"thread"`` or ``"process"`` (None: ``GRADSIM_RUNNER``, see :func:`runner_kind`)

    Signals
    -------
    rebuilt(config) : a fresh simulation for ``config`` is ready; records restart at 1
    recordsReady(records) : ``list[StepRecord]`` of the current run, oldest first
    runningChanged(running) : training started or stopped
    halted(event) : the run produced a non-finite value (``NonFiniteEvent``) and paused
    failed(message) : the simulation could not be built
    captured(capture) : the :class:`Capture` of the current run asked for with :meth:`capture`
    """

    rebuilt = QtCore.Signal(object)
    recordsReady = QtCore.Signal(object)
    halted = QtCore.Signal(object)
    captured = QtCore.Signal(object)

    def __init__(
        self, config: SimConfig, parent: QtCore.QObject | None = None, kind: str | None = None
    ) -> None:
        super().__init__(1, "gradsim-training", parent, kind)
        self._config = config
        self._built_config: SimConfig | None = None
        self._speed = UNLIMITED
        self._capture_tokens = 0
        self.rebuild(config)

    # -- state ---------------------------------------------------------------------------------
    @property
    def config(self) -> SimConfig:
        """The config of the current run (requested; see :attr:`built_config`)."""
        return self._config

    @property
    def built_config(self) -> SimConfig | None:
        """The config of the simulation the worker last built for the current run."""
        return self._built_config

    @property
    def simulation(self) -> Simulation | None:
        """The worker's simulation. Read-only inspection (tests); never call it while running.

        None for the ``process`` kind: the simulation lives in the child.
        """
        simulations = self._simulations()
        return None if simulations is None else simulations[0]

    @property
    def speed(self) -> float:
        """Iterations per second while playing (``math.inf``: unlimited)."""
        return self._speed

    # -- commands ------------------------------------------------------------------------------
    def rebuild(self, config: SimConfig) -> None:
        """Start a new run with ``config`` (playing continues if it was playing)."""
        if self._shut_down:
            return
        self._config = config
        self._built_config = None
        self._rebuild_all((config,))

    def reset(self) -> None:
        """Restart the current run from its initial weights."""
        if self._shut_down:
            return
        self._built_config = None
        super().reset()

    def toggle(self) -> None:
        """Play if paused, pause if playing."""
        self.pause() if self._running else self.play()

    def set_speed(self, iterations_per_second: float | None) -> None:
        """Iterations per second while playing; None or ``math.inf`` for unlimited."""
        speed = UNLIMITED if iterations_per_second is None else float(iterations_per_second)
        if not speed > 0:
            raise ValueError(f"speed must be positive (got {iterations_per_second})")
        self._speed = speed
        self._command("speed", speed)

    def capture(self) -> int:
        """Ask for a copy of the simulation's config and parameters; returns the request's token.

        The worker answers between two training steps with :attr:`captured` (a
        :class:`Capture` carrying the token); training goes on. A capture of a run replaced in
        the meantime is dropped. Returns 0 (and nothing comes) after :meth:`shutdown`.
        """
        if self._shut_down:
            return 0
        self._capture_tokens += 1
        self._command("capture", self._capture_tokens)
        return self._capture_tokens

    # -- from the worker -------------------------------------------------------------------------
    def _deliver(self, kind: str, payload: object) -> None:
        if kind == "built":
            self._built_config = payload[0]  # type: ignore[index]
            self.rebuilt.emit(self._built_config)
        elif kind == "records":
            self.recordsReady.emit(payload[0])  # type: ignore[index]
        elif kind == "halted":
            self.halted.emit(payload.get(0))  # type: ignore[attr-defined]
        elif kind == "captured":
            self.captured.emit(payload)
