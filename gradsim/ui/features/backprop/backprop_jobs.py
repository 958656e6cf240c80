"""The Backprop tab's jobs: the forward pass of frozen weights and a run of backward cells, and
the small runner that does them inline or on a worker thread.

:func:`build_session` and :func:`advance_cells` are plain functions of a job context (None
inline); :class:`Jobs` runs one inline or on a :class:`~gradsim.ui.common.workers.Worker` and
delivers a :class:`JobResult` on the GUI thread, so a small job stays instant and a large one
never blocks the window. A cancelled job stops at its next checkpoint (every few time steps of
the forward pass) or cell.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6 import QtCore

from gradsim.engine.clipping import ClipResult, clip_gradients
from gradsim.engine.config import SimConfig
from gradsim.engine.simulation import BackpropSession, BackpropStep, Simulation
from gradsim.ui.common.workers import Cancelled, JobContext, Worker


@dataclass
class Built:
    """What the build job hands back to the GUI thread."""

    simulation: Simulation
    session: BackpropSession
    x: np.ndarray
    y: np.ndarray
    derivative_maps: list[np.ndarray]


def copy_params(simulation: Simulation, params: dict[str, np.ndarray]) -> None:
    """Overwrite ``simulation.params`` with ``params``; ValueError naming what does not fit."""
    expected = simulation.params
    missing = sorted(set(expected) - set(params))
    unexpected = sorted(set(params) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append("missing " + ", ".join(missing))
        if unexpected:
            parts.append("unexpected " + ", ".join(unexpected))
        raise ValueError("the parameters do not match the config: " + "; ".join(parts))
    for name, target in expected.items():
        value = np.asarray(params[name])
        if value.shape != target.shape:
            raise ValueError(f"parameter {name} has shape {value.shape}, the config needs {target.shape}")
        np.copyto(target, value, casting="same_kind")


def build_session(
    config: SimConfig,
    params: dict[str, np.ndarray],
    batch: tuple[np.ndarray, np.ndarray] | None,
    context: JobContext | None = None,
) -> Built:
    """A fresh Simulation with ``params`` copied in, the batch, and the forward pass done.

    On a worker thread (``context`` given) the forward pass stops at its next checkpoint (every
    few time steps: ``Simulation.checkpoint``) once the job is cancelled (the view is closing).
    """
    simulation = Simulation(config)
    copy_params(simulation, params)
    x, y = batch if batch is not None else simulation.sample_batch()
    if context is not None:
        simulation.checkpoint = context.checkpoint
    try:
        session = simulation.backprop(x, y)
    finally:
        simulation.checkpoint = None  # the checkpoint belongs to this job only
    maps = [
        np.ascontiguousarray(session.derivative_map(layer), dtype=np.float32)
        for layer in range(session.num_layers)
    ]
    return Built(simulation, session, x, y, maps)


def advance_cells(
    session: BackpropSession, count: int, config: SimConfig, context: JobContext | None = None
) -> tuple[list[BackpropStep], ClipResult | None]:
    """Up to ``count`` new cells from ``session`` (fewer at the end of the backward pass).

    Once the pass is complete, also the config's clipping of the finished gradients (None
    before, or without clipping), so that it is computed off the GUI thread with the rest. On a
    worker thread (``context`` given) it stops between two cells once the job is cancelled.
    """
    steps = []
    for _ in range(count):
        if context is not None:
            context.checkpoint()
        step = session.advance()
        if step is None:
            break
        steps.append(step)
    clip = None
    if session.result is not None and config.clip_mode != "none":
        with np.errstate(all="ignore"):
            clip = clip_gradients(session.result.grads, config.clip_mode, config.clip_threshold)
    return steps, clip


@dataclass
class JobResult:
    """A finished job: its load generation (a newer load makes it stale), its kind ("build" or
    "advance"), its value, or the error it raised instead."""

    generation: int
    kind: str
    value: Any
    error: BaseException | None


class Jobs(QtCore.QObject):
    """Runs a job inline or on a :class:`~gradsim.ui.common.workers.Worker` and delivers its
    result on the GUI thread. A job is ``job(context)``; ``context`` is None inline."""

    finished = QtCore.Signal(object)  # JobResult

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._workers: list[Worker] = []

    def run(self, generation: int, kind: str, job: Callable[[JobContext | None], Any], inline: bool) -> None:
        """Run ``job`` (inline: now, emitting :attr:`finished` before returning; else on a worker)."""
        if inline:
            self.finished.emit(_call(generation, kind, job, None))
            return
        self._workers = [worker for worker in self._workers if worker.is_running]
        worker = Worker(functools.partial(_call, generation, kind, job), name=f"gradsim-backprop-{kind}")
        worker.returned.connect(self.finished.emit)
        self._workers.append(worker)
        worker.start()

    def stop(self) -> None:
        """Cancel every job still running and wait for it (at most one cell or time step)."""
        workers, self._workers = self._workers, []
        for worker in workers:
            worker.stop()


def _call(
    generation: int, kind: str, job: Callable[[JobContext | None], Any], context: JobContext | None
) -> JobResult:
    try:
        return JobResult(generation, kind, job(context), None)
    except Cancelled:
        raise  # the view is closing: nobody waits for the result
    except Exception as error:  # delivered to the GUI thread and shown as a message
        return JobResult(generation, kind, None, error)
