"""The training loop that owns the Simulation, without Qt: it runs on a worker thread or in a child.

The :class:`TrainingLoop` is the only object that touches the
:class:`~gradsim.engine.simulation.Simulation`. It takes commands (rebuild, pause, step, speed,
capture) between steps and emits plain :class:`~gradsim.engine.records.StepRecord` objects
(whose arrays are copies) in batches. It can train several simulations in lockstep (the A/B
tab's pair).

It runs on what :class:`LoopContext` describes: a worker thread's
:class:`~gradsim.ui.common.workers.JobContext` in the window's process (the ``thread`` runner),
or the pipe of :mod:`gradsim.ui.training.training_process` in a spawned child (the ``process``
runner). No Qt here, so the child starts with numpy and the engine only.

A step cannot be cut at an arbitrary point, but its forward pass passes a checkpoint every few
time steps of every layer (``Simulation.checkpoint``; every step of a large layer, at most 16
apart): a rebuild, a reset or closing the window abandons a step whose forward pass is in
progress. The engine's backward pass has no such checkpoint, so a step caught there finishes
first (for the presets that takes well under a second; for the largest configs, seconds).
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from typing import Protocol

import numpy as np

from gradsim.engine.config import SimConfig
from gradsim.engine.records import NonFiniteEvent, StepRecord
from gradsim.engine.simulation import Simulation

# The loop hands a batch of records to the GUI at most this often (per second) when it runs at
# full speed, and at least once per step otherwise.
BATCHES_PER_SECOND = 40
# At a set speed, steps are grouped into ticks of at most this rate.
TICKS_PER_SECOND = 60
UNLIMITED = math.inf


class LoopContext(Protocol):
    """What the loop needs from whatever runs it (a worker thread's job context, or a pipe)."""

    @property
    def cancelled(self) -> bool:
        """Whether the loop should end."""
        ...

    def emit(self, value: object) -> None:
        """Hand ``value`` to the window, in order."""
        ...

    def next_command(self, timeout: float | None = None) -> object | None:
        """The next command; waits up to ``timeout`` s (None: until one comes), None if none."""
        ...

    def wait_while_held(self) -> None:
        """Called at every checkpoint: wait while the window draws a frame (if it asks to)."""
        ...


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


class TrainingLoop:
    """Owns one or more simulations and trains them in lockstep; the job of a training worker.

    Plain Python, run by :meth:`run` on a worker thread or in the training process: it takes
    commands between steps (``("rebuild", generation, configs)``, ``("reset",
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
        # Written before a rebuild or reset is queued (by the GUI thread, or in the child by the
        # context when it reads the command): a step of an older run sees it at its next
        # checkpoint and is abandoned.
        self.requested_generation = 0
        self.simulations: tuple[Simulation, ...] | None = None
        self._context: LoopContext | None = None
        self._generation = 0
        self._running = False
        self._speed = UNLIMITED
        self._next_tick = 0.0

    # -- the job ------------------------------------------------------------------------------------
    def run(self, context: LoopContext) -> None:
        """Take commands and train until the context is cancelled (on the worker thread or in the child)."""
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
            simulation.checkpoint = self._checkpoint
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
            self._context.wait_while_held()
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
