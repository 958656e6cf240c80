"""One grid point of a sweep: its measured value (the regime measure's extreme span), and the cache of points.

Part of the phase-diagram sweeps (:mod:`gradsim.engine.sweep` explains them and re-exports
these names).
"""

from __future__ import annotations

import json
import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .config import SimConfig
from .regime import measure_log10_norms
from .simulation import Simulation
from .sweep_spec import _check_iterations, resolve_seeds

# Status of a grid point.
STATUS_OK = 0
STATUS_OVERFLOW = 1  # inf/NaN somewhere in the run
STATUS_VANISHED = 2  # the gradient at the first step is exactly zero (not merely below float64)
STATUS_NO_GRADIENT = 3  # the gradient where it enters is zero: no ratio
STATUS_NAMES = {
    STATUS_OK: "ok",
    STATUS_OVERFLOW: "overflow",
    STATUS_VANISHED: "vanished",
    STATUS_NO_GRADIENT: "no gradient",
}

# Bump when the meaning or the numerics of a point change, so old on-disk caches are ignored.
# 2: values from log10 norms, exact below float64 (1 stored such points as "vanished").
# 3: the value is the regime measure's extreme span (it was the corner ratio).
CACHE_FORMAT = 3


# -- one point --------------------------------------------------------------------------------
@dataclass(frozen=True)
class PointResult:
    """The measured value of one grid point.

    Attributes
    ----------
    value : mean over seeds of the extreme span's log10 gradient ratio; NaN unless status is ok
    status : STATUS_OK, STATUS_OVERFLOW, STATUS_VANISHED or STATUS_NO_GRADIENT (the worst over
        the seeds, in that order of precedence: overflow, vanished, no gradient)
    seed_values : each seed's log10 ratio (NaN where that seed gave none)
    """

    value: float
    status: int
    seed_values: tuple[float, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "value": _json_float(self.value),
            "status": self.status,
            "seed_values": [_json_float(v) for v in self.seed_values],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PointResult:
        return cls(
            _from_json_float(data["value"]),
            int(data["status"]),
            tuple(_from_json_float(v) for v in data["seed_values"]),
        )


def _json_float(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _from_json_float(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def gradient_decades(log10_grad_norms: np.ndarray, loss: float) -> tuple[float, int]:
    """The point value of one run's gradient and its status.

    Parameters
    ----------
    log10_grad_norms : (L, T) float64, ``log10 ||dL/dh||`` per layer and time step, exact at
        any magnitude (``StepRecord.log10_grad_norms``); -inf where the gradient is exactly 0
    loss : the batch loss (a non-finite loss means the run overflowed)

    Returns
    -------
    (log10 ratio, status): the regime measure's extreme span's decades
    (:attr:`gradsim.engine.regime.RegimeMeasure.decades`) and STATUS_OK, or NaN and the reason:
    overflow (inf/NaN), no gradient where it enters, or vanished (a span reached exactly 0).
    """
    logs = np.asarray(log10_grad_norms, dtype=np.float64)
    measured = measure_log10_norms(logs)
    if not math.isfinite(loss) or measured.regime == "non-finite":
        return float("nan"), STATUS_OVERFLOW
    if logs[-1, -1] == -math.inf:
        return float("nan"), STATUS_NO_GRADIENT
    if measured.decades == -math.inf:
        return float("nan"), STATUS_VANISHED
    return measured.decades, STATUS_OK


def measure_run(config: SimConfig, iterations: int) -> tuple[float, int]:
    """One run's extreme-span log10 ratio and status, exactly as the Simulation gives it.

    ``iterations`` training steps (the run's own batches, clipping and optimiser), then one
    forward and backward pass on the next batch of the run's data stream.
    """
    simulation = Simulation(config)
    for _ in range(iterations):
        simulation.train_step()
        if simulation.halted:
            return float("nan"), STATUS_OVERFLOW
    x, y = simulation.sample_batch()
    result = simulation.forward_backward(x, y)
    return gradient_decades(result.log10_grad_norms, result.loss)


def evaluate_point(config: SimConfig, iterations: int, seeds: int | Sequence[int] = 1) -> PointResult:
    """Measure one grid point: :func:`measure_run` for each seed, averaged in log10.

    ``seeds`` as in :func:`resolve_seeds` (a count counts from ``config.seed``); each seed
    replaces ``config.seed``.
    """
    iterations = _check_iterations(iterations)
    chosen = resolve_seeds(config.seed, seeds)
    values, statuses = [], []
    for seed in chosen:
        value, status = measure_run(config.replace(seed=seed), iterations)
        values.append(value)
        statuses.append(status)
    for status in (STATUS_OVERFLOW, STATUS_VANISHED, STATUS_NO_GRADIENT):
        if status in statuses:
            return PointResult(float("nan"), status, tuple(values))
    return PointResult(float(np.mean(values)), STATUS_OK, tuple(values))


def compute_point(config: SimConfig, iterations: int = 0, seeds: int | Sequence[int] = 1) -> float:
    """The value a sweep shows for ``config``: mean extreme-span log10 ratio, NaN if none.

    Equal, bit for bit, to what :func:`run_sweep` stores for the same config, iterations and
    seeds, with or without worker processes.
    """
    return evaluate_point(config, iterations, seeds).value


# -- cache ------------------------------------------------------------------------------------
def point_key(config: SimConfig, iterations: int, seeds: Sequence[int]) -> str:
    """Cache key of a point: the config (its seed replaced by the seed list), when, format.

    Two points with equal keys give identical results.
    """
    settings = config.to_dict()
    settings.pop("seed")
    return json.dumps(
        {"format": CACHE_FORMAT, "config": settings, "iterations": int(iterations), "seeds": list(seeds)},
        sort_keys=True,
        separators=(",", ":"),
    )


class PointCache(Protocol):
    """Where :func:`run_sweep` looks up and stores point results.

    ``put_many`` is called with each chunk of computed points as it arrives, so a persistent
    cache keeps everything finished even if the sweep is killed. Either method may raise
    ``OSError``: the sweep then goes on without the cache and says why.
    """

    def get(self, key: str) -> PointResult | None: ...

    def put_many(self, items: Sequence[tuple[str, PointResult]]) -> None: ...


class MemoryCache:
    """A bounded in-memory point cache (least recently used entries leave first). Thread-safe."""

    def __init__(self, max_entries: int = 200_000) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, PointResult] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> PointResult | None:
        with self._lock:
            result = self._entries.get(key)
            if result is not None:
                self._entries.move_to_end(key)
            return result

    def put_many(self, items: Sequence[tuple[str, PointResult]]) -> None:
        with self._lock:
            for key, result in items:
                self._entries[key] = result
                self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


# The cache run_sweep uses unless told otherwise: a repeated sweep in the same session is instant.
SHARED_CACHE = MemoryCache()
