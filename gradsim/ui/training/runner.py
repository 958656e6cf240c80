"""Training off the GUI thread: a loop that owns the Simulation, and its GUI-side handle.

The :class:`TrainingLoop` is the job of a :class:`~gradsim.ui.common.workers.Worker` thread and
the only object that touches the :class:`~gradsim.engine.simulation.Simulation`. It takes
commands (rebuild, pause, step, speed) between steps and emits plain
:class:`~gradsim.engine.records.StepRecord` objects (whose arrays are copies) in batches. It can
train several simulations in lockstep (the A/B tab's pair).

The :class:`Runner` is what the window talks to. It lives on the GUI thread, sends commands to
the loop, and passes on only the records of the current run: every rebuild or reset starts a
new *generation*, and batches still in flight from an older one are dropped, so the plots never
mix two runs.

A step cannot be cut at an arbitrary point, but its forward pass passes a checkpoint at every
layer and time step (see :func:`add_checkpoint`): a rebuild, a reset or closing the window
abandons a step whose forward pass is in progress. The engine's backward pass has no such
checkpoint, so a step caught there finishes first (for the presets that takes well under a
second; for the largest configs, seconds).

Sharing the interpreter: both threads run Python, and only one holds the GIL at a time. A
worker that trains flat out takes the GIL back every few milliseconds, and the GUI thread, which
gives it up at every call into Qt, then redraws several times slower and answers input late.
So the GUI thread *holds* the worker while it draws a frame (:meth:`Runner.hold_for_frame`
before updating the plots, :meth:`Runner.release_frame` once Qt has painted them): the worker
waits at its next checkpoint (between steps, or at the next time step of a forward pass), at
most :data:`FRAME_HOLD_LIMIT` seconds, so training always progresses.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable

import numpy as np
from PySide6 import QtCore

from gradsim.engine.config import SimConfig
from gradsim.engine.records import NonFiniteEvent, StepRecord
from gradsim.engine.simulation import Simulation
from gradsim.ui.common.workers import FRAME_HOLD_LIMIT, JobContext, Worker

# The worker hands a batch of records to the GUI at most this often (per second) when it runs
# at full speed, and at least once per step otherwise.
BATCHES_PER_SECOND = 40
# At a set speed, steps are grouped into ticks of at most this rate.
TICKS_PER_SECOND = 60
# FRAME_HOLD_LIMIT (imported): longest the loop waits for the GUI thread to finish a frame
# before it trains on regardless; read at each checkpoint, so a test may change it here.
UNLIMITED = math.inf


_blas_limit: int | None = None


def limit_blas_threads() -> int | None:
    """Leave the GUI thread a core: cap the BLAS thread pool at (cores - 1), at least 1.

    OpenBLAS splits even small matrix products over every core and waits for all parts; with
    one core busy drawing the window, each product waits for it. Measured on a 2-core machine
    while the window draws: one step of the default preset took about 10 ms with one BLAS thread
    and over 100 ms with two. Applies once per process (threadpoolctl); returns the limit, or
    None when threadpoolctl is not installed (then nothing changes).
    """
    global _blas_limit
    if _blas_limit is None:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            return None
        limit = max(1, (os.cpu_count() or 1) - 1)
        threadpool_limits(limits=limit, user_api="blas")
        _blas_limit = limit
    return _blas_limit


@dataclasses.dataclass(frozen=True)
class Capture:
    """A copy of the worker's simulation taken between two training steps.

    Attributes
    ----------
    token : the number :meth:`Runner.capture` returned for the request
    config : the simulation's config
    params : copies of ``Simulation.params`` (the worker trains on without touching them)
    iteration : training steps taken when the copy was made
    halted : whether the run had stopped on a non-finite value
    """

    token: int
    config: SimConfig
    params: dict[str, np.ndarray]
    iteration: int
    halted: bool


class _Interrupted(Exception):
    """Raised inside a training step that was asked to stop (never leaves the loop)."""


def add_checkpoint(simulation: Simulation, checkpoint: Callable[[], None]) -> None:
    """Call ``checkpoint()`` at every layer and time step of ``simulation``'s forward pass.

    The forward pass calls the activation once per layer and time step. ``Activation`` is a
    frozen dataclass, so the simulation gets a copy whose ``forward`` calls ``checkpoint`` first
    (which may wait, or raise to abandon the step); the numbers are untouched.
    """
    original = simulation.activation.forward

    def forward(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        checkpoint()
        return original(z, out=out)

    simulation.activation = dataclasses.replace(simulation.activation, forward=forward)


class TrainingLoop:
    """Owns one or more simulations and trains them in lockstep; the job of a training worker.

    Plain Python, run by :meth:`run` on a :class:`~gradsim.ui.common.workers.Worker` thread:
    it takes commands between steps (``("rebuild", generation, configs)``, ``("reset",
    generation)``, ``("play",)``, ``("pause",)``, ``("step",)``, ``("speed", steps_per_second)``,
    ``("capture", token)``) and emits messages ``(kind, generation, payload)``:

    - ``("built", g, configs)`` : fresh simulations are ready (after a rebuild or a reset)
    - ``("records", g, records)`` : one ``list[StepRecord]`` per simulation, equal lengths
    - ``("running", g, running)`` : training started or stopped, by itself or on request
    - ``("halted", g, events)`` : ``{index: NonFiniteEvent | None}`` of the simulations that
      produced a non-finite value; training stays halted until a reset or rebuild
    - ``("failed", g, message)`` : the simulations could not be built
    - ``("captured", g, capture)`` : a :class:`Capture` of the first simulation

    With several simulations each pair of steps takes one step of each, in order, so after every
    round all have taken the same number of steps (the A/B comparison).

    Parameters
    ----------
    count : how many simulations train together
    """

    def __init__(self, count: int = 1) -> None:
        self.count = count
        # Written by the GUI thread before it queues a rebuild or reset: a step of an older run
        # sees it at its next checkpoint and is abandoned.
        self.requested_generation = 0
        self.simulations: tuple[Simulation, ...] | None = None
        self._context: JobContext | None = None
        self._generation = 0
        self._running = False
        self._speed = UNLIMITED
        self._next_tick = 0.0

    # -- the job ------------------------------------------------------------------------------------
    def run(self, context: JobContext) -> None:
        """Take commands and train until the worker stops (on the worker thread)."""
        self._context = context
        try:
            while True:
                command = context.next_command(self._due_in())
                if command is not None:
                    self._handle(command)  # type: ignore[arg-type]
                elif self._running and self.simulations is not None and not self._should_stop():
                    self._tick()
        finally:
            self._running = False
            self.simulations = None
            self._context = None

    def _due_in(self) -> float | None:
        """Seconds until the next tick while running; None (wait for a command) otherwise."""
        if not self._running or self.simulations is None:
            return None
        return max(0.0, self._next_tick - time.perf_counter())

    def _emit(self, kind: str, payload: object) -> None:
        assert self._context is not None
        self._context.emit((kind, self._generation, payload))

    def _handle(self, command: tuple[object, ...]) -> None:
        kind, *arguments = command
        if kind == "rebuild":
            self._rebuild(int(arguments[0]), arguments[1])  # type: ignore[call-overload, arg-type]
        elif kind == "reset":
            self._reset(int(arguments[0]))  # type: ignore[call-overload]
        elif kind == "play":
            self._play()
        elif kind == "pause":
            self._set_running(False)
        elif kind == "step":
            self._step_once()
        elif kind == "speed":
            self._speed = float(arguments[0])  # type: ignore[arg-type]
            self._schedule(0.0)
        elif kind == "capture":
            self._capture(int(arguments[0]))  # type: ignore[call-overload]

    # -- commands -----------------------------------------------------------------------------------
    def _rebuild(self, generation: int, configs: tuple[SimConfig, ...]) -> None:
        """Replace the simulations by new ones for ``configs``; keep playing if playing."""
        self._generation = generation
        self.simulations = None
        try:
            simulations = tuple(Simulation(config) for config in configs)
        except (MemoryError, ValueError) as error:
            self._set_running(False)
            noun = "network" if self.count == 1 else "networks"
            self._emit("failed", f"cannot build the {noun}: {error}")
            return
        for simulation in simulations:
            add_checkpoint(simulation, self._checkpoint)
        self.simulations = simulations
        self._emit("built", configs)
        self._schedule(0.0)

    def _reset(self, generation: int) -> None:
        """Back to the initial weights and data of the same configs."""
        self._generation = generation
        if self.simulations is None:
            return
        for simulation in self.simulations:
            simulation.reset()
        self._emit("built", tuple(simulation.config for simulation in self.simulations))
        self._schedule(0.0)

    def _halted_ones(self) -> dict[int, NonFiniteEvent | None]:
        assert self.simulations is not None
        return {index: sim.nonfinite for index, sim in enumerate(self.simulations) if sim.halted}

    def _play(self) -> None:
        """Train continuously at the set speed (a halted run only repeats its message)."""
        if self.simulations is None:
            return
        halted = self._halted_ones()
        if halted:
            self._set_running(False)
            self._emit("halted", halted)
            return
        self._set_running(True)
        self._schedule(0.0)

    def _step_once(self) -> None:
        """Pause, then take exactly one step of each simulation."""
        self._set_running(False)
        if self.simulations is None:
            return
        self._train(max_steps=1, budget_seconds=math.inf)

    def _capture(self, token: int) -> None:
        """Emit a copy of the first simulation's config and parameters (nothing if none is built)."""
        if self.simulations is None:
            return
        simulation = self.simulations[0]
        params = {name: np.array(value, copy=True) for name, value in simulation.params.items()}
        capture = Capture(token, simulation.config, params, simulation.iteration, simulation.halted)
        self._emit("captured", capture)

    # -- training -----------------------------------------------------------------------------------
    def _should_stop(self) -> bool:
        context = self._context
        return context is None or context.cancelled or self.requested_generation != self._generation

    def _checkpoint(self) -> None:
        """Wait while the GUI thread draws; abandon the step if a newer run or shutdown is asked."""
        if self._context is not None:
            self._context.wait_while_held(FRAME_HOLD_LIMIT)
        if self._should_stop():
            raise _Interrupted

    def _set_running(self, running: bool) -> None:
        if running != self._running:
            self._running = running
            self._emit("running", running)

    def _schedule(self, delay_seconds: float) -> None:
        self._next_tick = time.perf_counter() + max(0.0, delay_seconds)

    def _tick(self) -> None:
        start = time.perf_counter()
        if math.isinf(self._speed):
            self._train(max_steps=None, budget_seconds=1.0 / BATCHES_PER_SECOND)
            self._schedule(0.0)
        else:
            steps = max(1, math.ceil(self._speed / TICKS_PER_SECOND))
            taken = self._train(max_steps=steps, budget_seconds=math.inf)
            self._schedule(taken / self._speed - (time.perf_counter() - start))

    def _train(self, max_steps: int | None, budget_seconds: float) -> int:
        """Take rounds of steps until ``max_steps`` or the time budget; emit them; return how many."""
        simulations = self.simulations
        assert simulations is not None
        records: tuple[list[StepRecord], ...] = tuple([] for _ in simulations)
        halted: dict[int, NonFiniteEvent | None] = {}
        start = time.perf_counter()
        while max_steps is None or len(records[0]) < max_steps:
            try:
                self._checkpoint()
                round_records = [simulation.train_step() for simulation in simulations]
            except _Interrupted:
                return 0  # a newer run or shutdown is queued; these records are stale
            if any(record is None for record in round_records):
                halted = self._halted_ones()
                break
            for kept, record in zip(records, round_records, strict=True):
                kept.append(record)  # type: ignore[arg-type]
            halted = {
                index: record.nonfinite
                for index, record in enumerate(round_records)
                if record is not None and record.nonfinite is not None
            }
            if halted or time.perf_counter() - start >= budget_seconds:
                break
        if records[0]:
            self._emit("records", records)
        if halted:
            self._set_running(False)
            self._emit("halted", halted)
        return len(records[0])


class TrainingHandle(QtCore.QObject):
    """The GUI thread's handle on a :class:`TrainingLoop` and its worker; base of :class:`Runner`
    and the A/B tab's pair runner.

    It forwards commands to the loop and passes on only the messages of the current run: every
    rebuild or reset starts a new *generation*, and messages still in flight from an older one
    are dropped (:meth:`_deliver` sees only current ones).

    Signals
    -------
    runningChanged(running) : training started or stopped
    failed(message) : the simulations could not be built
    """

    runningChanged = QtCore.Signal(bool)
    failed = QtCore.Signal(str)

    def __init__(self, count: int, thread_name: str, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        limit_blas_threads()
        self._loop = TrainingLoop(count)
        self._running = False
        self._shut_down = False
        self._worker = Worker(self._loop.run, name=thread_name)
        self._worker.yielded.connect(self._on_message)
        self._worker.start()

    @property
    def is_running(self) -> bool:
        """Whether the worker is training continuously."""
        return self._running

    @property
    def generation(self) -> int:
        """Number of the current run; increases with every rebuild or reset."""
        return self._loop.requested_generation

    @property
    def thread(self) -> QtCore.QThread:  # type: ignore[override]  # the worker's, not QObject.thread()
        """The worker's thread."""
        return self._worker.thread

    def _simulations(self) -> tuple[Simulation, ...] | None:
        return None if self._shut_down else self._loop.simulations

    def _command(self, *command: object) -> None:
        if not self._shut_down:
            self._worker.send(command)

    def _next_generation(self) -> int:
        # Set before the command is queued: a step of the old run in progress sees it and stops.
        self._loop.requested_generation += 1
        return self._loop.requested_generation

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
        interpreter. The worker waits :data:`FRAME_HOLD_LIMIT` seconds at most per hold.
        """
        if not self._shut_down:
            self._worker.hold_for_frame()

    def release_frame(self) -> None:
        """Let the worker train on (the frame is drawn)."""
        self._worker.release_frame()

    def shutdown(self, timeout_ms: int = 2000) -> bool:
        """Stop the worker and end its thread; True if it ended within ``timeout_ms``.

        A step in progress is abandoned at its next time step. If the thread has still not
        ended after ``timeout_ms`` (a backward pass cannot be cut), this waits for it anyway:
        destroying a running QThread aborts the process.
        """
        if self._shut_down:
            return True
        self._shut_down = True
        self._running = False
        return self._worker.stop(timeout_ms)

    @QtCore.Slot(object)
    def _on_message(self, message: tuple[str, int, object]) -> None:
        kind, generation, payload = message
        if self._shut_down:
            return
        if kind == "running":  # playing or paused holds across runs
            if payload != self._running:
                self._running = bool(payload)
                self.runningChanged.emit(self._running)
        elif generation == self._loop.requested_generation:
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

    def __init__(self, config: SimConfig, parent: QtCore.QObject | None = None) -> None:
        super().__init__(1, "gradsim-training", parent)
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
        """The worker's simulation. Read-only inspection (tests); never call it while running."""
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
