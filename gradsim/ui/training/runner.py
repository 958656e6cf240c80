"""Training off the GUI thread: a worker that owns the Simulation, and its GUI-side handle.

The :class:`TrainingWorker` lives on a ``QThread`` and is the only object that touches the
:class:`~gradsim.engine.simulation.Simulation`. It trains from a timer in its own event loop, so
commands (rebuild, pause, step, speed) are handled between steps, and it emits plain
:class:`~gradsim.engine.records.StepRecord` objects (whose arrays are copies) in batches.

The :class:`Runner` is what the window talks to. It lives on the GUI thread, forwards commands
to the worker through queued signals, and passes on only the records of the current run: every
rebuild or reset starts a new *generation*, and batches still in flight from an older one are
dropped, so the plots never mix two runs.

A step cannot be cut at an arbitrary point, but its forward pass passes a checkpoint at every
layer and time step (see :func:`_add_checkpoint`): a rebuild, a reset or closing the window
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
import threading
import time
import weakref
from collections.abc import Callable

import numpy as np
from PySide6 import QtCore

from gradsim.engine.config import SimConfig
from gradsim.engine.records import NonFiniteEvent, StepRecord
from gradsim.engine.simulation import Simulation

# The worker hands a batch of records to the GUI at most this often (per second) when it runs
# at full speed, and at least once per step otherwise.
BATCHES_PER_SECOND = 40
# At a set speed, steps are grouped into ticks of at most this rate.
TICKS_PER_SECOND = 60
# Longest the worker waits for the GUI thread to finish a frame before it trains on regardless.
FRAME_HOLD_LIMIT = 1.0
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
    """Raised inside a training step that was asked to stop (never leaves the worker)."""


class _Control:
    """Flags the GUI thread writes and the worker reads while it steps.

    Plain attribute reads and writes of ints and bools are atomic in CPython, so no lock is
    needed: the worker only ever compares them.

    Attributes
    ----------
    requested_generation : the run the GUI wants; a step of an older run is abandoned
    stopping : the window is closing; abandon everything
    gui_free : set unless the GUI thread is drawing a frame (the worker waits while clear)
    hold_number : counts the frame holds, so that the worker waits out each one once at most
    """

    def __init__(self) -> None:
        self.requested_generation = 0
        self.stopping = False
        self.gui_free = threading.Event()
        self.gui_free.set()
        self.hold_number = 0


def _add_checkpoint(simulation: Simulation, checkpoint: Callable[[], None]) -> None:
    """Call ``checkpoint()`` at every layer and time step of ``simulation``'s forward pass.

    The forward pass calls the activation once per layer and time step. ``Activation`` is a
    frozen dataclass, so the simulation gets a copy whose ``forward`` calls ``checkpoint`` first
    (which may wait, or raise :class:`_Interrupted`); the numbers are untouched.
    """
    original = simulation.activation.forward

    def forward(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        checkpoint()
        return original(z, out=out)

    simulation.activation = dataclasses.replace(simulation.activation, forward=forward)


class TrainingWorker(QtCore.QObject):
    """Owns the Simulation and trains it on its own thread.

    Every signal carries the generation of the run it belongs to.

    Signals
    -------
    built(generation, config) : a fresh simulation is ready (after a rebuild or a reset)
    recordsReady(generation, records) : ``list[StepRecord]``, oldest first
    runningChanged(generation, running) : the worker started or stopped training by itself
        or on request
    halted(generation, event) : the run produced a non-finite value (``NonFiniteEvent``) and
        paused; training stays halted until a reset or rebuild
    failed(generation, message) : the simulation could not be built
    captured(generation, capture) : a :class:`Capture` asked for with :meth:`capture`
    """

    built = QtCore.Signal(int, object)
    captured = QtCore.Signal(int, object)
    recordsReady = QtCore.Signal(int, object)
    runningChanged = QtCore.Signal(int, bool)
    halted = QtCore.Signal(int, object)
    failed = QtCore.Signal(int, str)

    def __init__(self, control: _Control) -> None:
        super().__init__()
        self._control = control
        self.simulation: Simulation | None = None
        self._generation = 0
        self._running = False
        self._speed = UNLIMITED
        self._lapsed_hold = -1
        # Created as a child so that it moves to the worker thread with its parent.
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)

    # -- commands (queued slots, run on the worker thread) -----------------------------------
    @QtCore.Slot(int, object)
    def rebuild(self, generation: int, config: SimConfig) -> None:
        """Replace the simulation by a new one for ``config``; keep playing if playing."""
        self._generation = generation
        self.simulation = None
        try:
            simulation = Simulation(config)
        except (MemoryError, ValueError) as error:
            self._set_running(False)
            self.failed.emit(generation, f"cannot build the network: {error}")
            return
        _add_checkpoint(simulation, self._checkpoint)
        self.simulation = simulation
        self.built.emit(generation, config)
        self._schedule(0.0)

    @QtCore.Slot(int)
    def reset(self, generation: int) -> None:
        """Back to the initial weights and data of the same config."""
        self._generation = generation
        if self.simulation is None:
            return
        self.simulation.reset()
        self.built.emit(generation, self.simulation.config)
        self._schedule(0.0)

    @QtCore.Slot()
    def play(self) -> None:
        """Train continuously at the set speed."""
        simulation = self.simulation
        if simulation is None:
            return
        if simulation.halted:
            self._set_running(False)
            self.halted.emit(self._generation, simulation.nonfinite)
            return
        self._set_running(True)
        self._schedule(0.0)

    @QtCore.Slot()
    def pause(self) -> None:
        """Stop training after the step in progress."""
        self._set_running(False)

    @QtCore.Slot()
    def step_once(self) -> None:
        """Pause, then take exactly one training step."""
        self._set_running(False)
        if self.simulation is None:
            return
        self._train(max_steps=1, budget_seconds=math.inf)

    @QtCore.Slot(int)
    def capture(self, token: int) -> None:
        """Emit a copy of the simulation's config and parameters (nothing if none is built).

        A queued slot: it runs between two training steps, never inside one.
        """
        simulation = self.simulation
        if simulation is None:
            return
        params = {name: np.array(value, copy=True) for name, value in simulation.params.items()}
        capture = Capture(token, simulation.config, params, simulation.iteration, simulation.halted)
        self.captured.emit(self._generation, capture)

    @QtCore.Slot(float)
    def set_speed(self, iterations_per_second: float) -> None:
        """Steps per second while playing; ``math.inf`` for as fast as the engine goes."""
        self._speed = iterations_per_second
        self._schedule(0.0)

    @QtCore.Slot()
    def stop(self) -> None:
        """Stop for good and end the thread's event loop (the window is closing)."""
        self._running = False
        self._timer.stop()
        self.simulation = None
        thread = QtCore.QThread.currentThread()
        thread.quit()

    # -- training -----------------------------------------------------------------------------
    def _should_stop(self) -> bool:
        control = self._control
        return control.stopping or control.requested_generation != self._generation

    def _checkpoint(self) -> None:
        """Wait while the GUI thread draws; abandon the step if a newer run or shutdown is asked."""
        control = self._control
        if not control.gui_free.is_set() and control.hold_number != self._lapsed_hold:
            hold = control.hold_number
            if not control.gui_free.wait(FRAME_HOLD_LIMIT):
                self._lapsed_hold = hold  # never released: do not wait for this one again
        if self._should_stop():
            raise _Interrupted

    def _set_running(self, running: bool) -> None:
        if not running:
            self._timer.stop()
        if running != self._running:
            self._running = running
            self.runningChanged.emit(self._generation, running)

    def _schedule(self, delay_seconds: float) -> None:
        if self._running and self.simulation is not None and not self._control.stopping:
            self._timer.start(max(0, int(round(delay_seconds * 1000))))

    @QtCore.Slot()
    def _tick(self) -> None:
        if not self._running or self.simulation is None or self._should_stop():
            return
        start = time.perf_counter()
        if math.isinf(self._speed):
            taken = self._train(max_steps=None, budget_seconds=1.0 / BATCHES_PER_SECOND)
            self._schedule(0.0)
        else:
            steps = max(1, math.ceil(self._speed / TICKS_PER_SECOND))
            taken = self._train(max_steps=steps, budget_seconds=math.inf)
            self._schedule(taken / self._speed - (time.perf_counter() - start))

    def _train(self, max_steps: int | None, budget_seconds: float) -> int:
        """Take steps until ``max_steps`` or the time budget; emit them; return how many."""
        simulation = self.simulation
        assert simulation is not None
        generation = self._generation
        records: list[StepRecord] = []
        event: NonFiniteEvent | None = None
        halted = False
        start = time.perf_counter()
        while max_steps is None or len(records) < max_steps:
            try:
                self._checkpoint()
                record = simulation.train_step()
            except _Interrupted:
                return 0  # a newer run or shutdown is queued; these records are stale
            if record is None:
                halted, event = True, simulation.nonfinite
                break
            records.append(record)
            if record.nonfinite is not None:
                halted, event = True, record.nonfinite
                break
            if time.perf_counter() - start >= budget_seconds:
                break
        if records:
            self.recordsReady.emit(generation, records)
        if halted:
            self._set_running(False)
            self.halted.emit(generation, event)
        return len(records)


def _stop_thread(control: _Control, thread: QtCore.QThread, worker: TrainingWorker) -> None:
    """End the worker thread of a Runner that was dropped without :meth:`Runner.shutdown`.

    Destroying a running QThread aborts the process, so a Runner that is garbage collected (its
    window deleted without being closed) or still alive at interpreter exit stops its thread
    here, the same way shutdown does.
    """
    if not thread.isRunning():
        return
    control.stopping = True
    control.gui_free.set()
    queued = QtCore.Qt.ConnectionType.QueuedConnection
    # PySide6 6.10 takes the slot's name as str (bytes fail at run time); its stubs say bytes.
    QtCore.QMetaObject.invokeMethod(worker, "stop", queued)  # type: ignore[call-overload]
    thread.requestInterruption()
    thread.wait()


class Runner(QtCore.QObject):
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
    runningChanged = QtCore.Signal(bool)
    halted = QtCore.Signal(object)
    failed = QtCore.Signal(str)
    captured = QtCore.Signal(object)

    # Commands to the worker; queued because the worker lives on another thread.
    _rebuild_requested = QtCore.Signal(int, object)
    _reset_requested = QtCore.Signal(int)
    _play_requested = QtCore.Signal()
    _pause_requested = QtCore.Signal()
    _step_requested = QtCore.Signal()
    _speed_requested = QtCore.Signal(float)
    _stop_requested = QtCore.Signal()
    _capture_requested = QtCore.Signal(int)

    def __init__(self, config: SimConfig, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        limit_blas_threads()
        self._control = _Control()
        self._config = config
        self._built_config: SimConfig | None = None
        self._running = False
        self._speed = UNLIMITED
        self._shut_down = False

        self._thread = QtCore.QThread()
        self._thread.setObjectName("gradsim-training")
        self._worker = TrainingWorker(self._control)
        self._worker.moveToThread(self._thread)
        self._thread.finished.connect(self._worker.deleteLater)

        self._rebuild_requested.connect(self._worker.rebuild)
        self._reset_requested.connect(self._worker.reset)
        self._play_requested.connect(self._worker.play)
        self._pause_requested.connect(self._worker.pause)
        self._step_requested.connect(self._worker.step_once)
        self._speed_requested.connect(self._worker.set_speed)
        self._stop_requested.connect(self._worker.stop)
        self._capture_requested.connect(self._worker.capture)

        self._worker.built.connect(self._on_built)
        self._worker.recordsReady.connect(self._on_records)
        self._worker.runningChanged.connect(self._on_running_changed)
        self._worker.halted.connect(self._on_halted)
        self._worker.failed.connect(self._on_failed)
        self._worker.captured.connect(self._on_captured)
        self._capture_tokens = 0

        self._thread.start()
        self._finalizer = weakref.finalize(self, _stop_thread, self._control, self._thread, self._worker)
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
        return None if self._shut_down else self._worker.simulation

    @property
    def is_running(self) -> bool:
        """Whether the worker is training continuously."""
        return self._running

    @property
    def speed(self) -> float:
        """Iterations per second while playing (``math.inf``: unlimited)."""
        return self._speed

    @property
    def generation(self) -> int:
        """Number of the current run; increases with every rebuild or reset."""
        return self._control.requested_generation

    @property
    def thread(self) -> QtCore.QThread:  # type: ignore[override]  # the worker's, not QObject.thread()
        """The worker's thread (it shadows ``QObject.thread()``, this object's own: GUI thread)."""
        return self._thread

    # -- commands ------------------------------------------------------------------------------
    def _next_generation(self) -> int:
        # Set before the command is queued: a step of the old run in progress sees it and stops.
        self._control.requested_generation += 1
        return self._control.requested_generation

    def rebuild(self, config: SimConfig) -> None:
        """Start a new run with ``config`` (playing continues if it was playing)."""
        if self._shut_down:
            return
        self._config = config
        self._built_config = None
        self._rebuild_requested.emit(self._next_generation(), config)

    def reset(self) -> None:
        """Restart the current run from its initial weights."""
        if self._shut_down:
            return
        self._built_config = None
        self._reset_requested.emit(self._next_generation())

    def play(self) -> None:
        """Train continuously."""
        if not self._shut_down:
            self._play_requested.emit()

    def pause(self) -> None:
        """Stop training after the step in progress."""
        if not self._shut_down:
            self._pause_requested.emit()

    def toggle(self) -> None:
        """Play if paused, pause if playing."""
        self.pause() if self._running else self.play()

    def step(self) -> None:
        """Pause and take one training step."""
        if not self._shut_down:
            self._step_requested.emit()

    def set_speed(self, iterations_per_second: float | None) -> None:
        """Iterations per second while playing; None or ``math.inf`` for unlimited."""
        speed = UNLIMITED if iterations_per_second is None else float(iterations_per_second)
        if not speed > 0:
            raise ValueError(f"speed must be positive (got {iterations_per_second})")
        self._speed = speed
        if not self._shut_down:
            self._speed_requested.emit(speed)

    def capture(self) -> int:
        """Ask for a copy of the simulation's config and parameters; returns the request's token.

        The worker answers between two training steps with :attr:`captured` (a
        :class:`Capture` carrying the token); training goes on. A capture of a run replaced in
        the meantime is dropped. Returns 0 (and nothing comes) after :meth:`shutdown`.
        """
        if self._shut_down:
            return 0
        self._capture_tokens += 1
        self._capture_requested.emit(self._capture_tokens)
        return self._capture_tokens

    def hold_for_frame(self) -> None:
        """Keep the worker at its next checkpoint until :meth:`release_frame`.

        Call it on the GUI thread before updating the plots and release once they are painted
        (Qt paints in a later event): the frame then does not compete with the worker for the
        interpreter. The worker waits :data:`FRAME_HOLD_LIMIT` seconds at most per hold.
        """
        if not self._shut_down:
            self._control.hold_number += 1
            self._control.gui_free.clear()

    def release_frame(self) -> None:
        """Let the worker train on (the frame is drawn)."""
        self._control.gui_free.set()

    def shutdown(self, timeout_ms: int = 2000) -> bool:
        """Stop the worker and end its thread; True if it ended within ``timeout_ms``.

        A step in progress is abandoned at its next time step. If the thread has still not
        ended after ``timeout_ms`` (a backward pass cannot be cut), this waits for it anyway:
        destroying a running QThread aborts the process.
        """
        if self._shut_down:
            return True
        self._finalizer.detach()
        self._shut_down = True
        self._running = False
        self._control.stopping = True
        self._control.gui_free.set()
        self._stop_requested.emit()
        self._thread.requestInterruption()
        if self._thread.wait(timeout_ms):
            return True
        self._thread.wait()
        return False

    # -- from the worker -------------------------------------------------------------------------
    def _current(self, generation: int) -> bool:
        return generation == self._control.requested_generation and not self._shut_down

    @QtCore.Slot(int, object)
    def _on_built(self, generation: int, config: SimConfig) -> None:
        if self._current(generation):
            self._built_config = config
            self.rebuilt.emit(config)

    @QtCore.Slot(int, object)
    def _on_records(self, generation: int, records: list[StepRecord]) -> None:
        if self._current(generation):
            self.recordsReady.emit(records)

    @QtCore.Slot(int, bool)
    def _on_running_changed(self, generation: int, running: bool) -> None:
        del generation  # playing or paused holds across runs
        if self._shut_down or running == self._running:
            return
        self._running = running
        self.runningChanged.emit(running)

    @QtCore.Slot(int, object)
    def _on_halted(self, generation: int, event: NonFiniteEvent | None) -> None:
        if self._current(generation):
            self.halted.emit(event)

    @QtCore.Slot(int, str)
    def _on_failed(self, generation: int, message: str) -> None:
        if self._current(generation):
            self.failed.emit(message)

    @QtCore.Slot(int, object)
    def _on_captured(self, generation: int, capture: Capture) -> None:
        if self._current(generation):
            self.captured.emit(capture)
