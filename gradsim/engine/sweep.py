"""Phase-diagram sweeps: the gradient's change along its most extreme span over a grid of two settings.

Each grid point is a config (the base config with two fields changed). Its value is the signed
log10 ratio of the regime measure's most extreme span (:func:`gradsim.engine.regime.measure`):
of the time spans (``||dL/dh_1|| / ||dL/dh_T||`` within each layer) and the depth span (layer 1
over the top layer at the last step), the one with the largest ``|log10|``. That is the quantity
the regime verdict uses (beyond +-3 decades a run is called vanishing or exploding), so a cell's
colour and the badge of the config it loads agree. Negative: the gradient shrank on its way
back (vanishing); positive: it grew (exploding); 0: no change. With one layer it is exactly the
first-to-last time step ratio whose per-step rate the mean-field theory predicts, so the
theory's critical line (per-step factor exactly 1) is where the value crosses 0. (Until cache
format 2 the value was the corner ratio, first layer's first step over top layer's last step,
which mixes both ways and hid a deeper layer's vanishing.) The theory's own prediction
of this quantity is :func:`gradsim.engine.theory.predicted_decades`, and :func:`critical_line`
draws :func:`gradsim.engine.theory.critical_weight_scale` (by default where the most extreme
predicted span, through time in any layer or through depth, is 0 decades; the per-layer theory
is in docs/theory.md).

``iterations`` says when the gradient is taken: 0 means at initialisation (one forward and
backward pass on the run's first batch), N means after N training steps (N updates), on the next
batch, i.e. the gradient the (N+1)-th :meth:`Simulation.train_step` computes. Several seeds
are averaged in log10 (a geometric mean of the ratios).

A point whose run produced inf/NaN (in the gradient, the loss or, while training, anywhere) is
"overflow": NaN value plus a flag. A gradient that reached exactly zero at the first step has
vanished completely ("vanished": NaN plus its flag); a zero gradient where it enters gives no
ratio at all ("no gradient").

:func:`run_sweep` computes a grid chunk by chunk, with progress, prompt cancellation and a cache
per point, on one of the executors of :mod:`gradsim.engine.sweep_executors`: this process, a
local pool of worker processes (spawned, never forked: forking a process that runs Qt threads
can deadlock the child) or a Dask cluster. The module is numpy only.
"""

from __future__ import annotations

import functools
import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

import numpy as np

from . import theory
from .config import INT_RANGES, ConfigError, SimConfig
from .regime import measure_log10_norms
from .simulation import Simulation
from .sweep_executors import THREAD_VARIABLES as THREAD_VARIABLES  # re-exported: one place for both
from .sweep_executors import ExecutorError, check_scheduler, describe, make_executor
from .sweep_executors import default_workers as default_workers

# Fields a sweep axis may vary.
SWEEP_FIELDS = ("weight_scale", "seq_len", "num_layers", "learning_rate", "hidden_size")
INTEGER_FIELDS = frozenset({"seq_len", "num_layers", "hidden_size"})
SPACINGS = ("linear", "log")
MAX_AXIS_POINTS = 200
MAX_ITERATIONS = 100_000
MAX_SEEDS = 64

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


class SweepError(ValueError):
    """A sweep cannot be set up or run; the message says why."""


# -- axes and spec ----------------------------------------------------------------------------
@dataclass(frozen=True)
class SweepAxis:
    """One axis of the grid: a config field and its values, strictly increasing.

    Attributes
    ----------
    field : one of :data:`SWEEP_FIELDS`
    values : the field's values (ints for integer fields)
    spacing : ``"linear"`` or ``"log"``: how the values were laid out, for plotting
    """

    field: str
    values: tuple[float, ...]
    spacing: str = "linear"

    def __post_init__(self) -> None:
        if self.field not in SWEEP_FIELDS:
            raise SweepError(f"a sweep axis must be one of {', '.join(SWEEP_FIELDS)} (got {self.field!r})")
        if self.spacing not in SPACINGS:
            raise SweepError(f"axis spacing must be linear or log (got {self.spacing!r})")
        values = tuple(_coerce_axis_value(self.field, v) for v in self.values)
        if not values:
            raise SweepError(f"the {self.field} axis has no values")
        if len(values) > MAX_AXIS_POINTS:
            raise SweepError(f"the {self.field} axis has {len(values)} values; at most {MAX_AXIS_POINTS}")
        if any(b <= a for a, b in zip(values, values[1:], strict=False)):
            raise SweepError(f"the {self.field} axis values must be strictly increasing")
        object.__setattr__(self, "values", values)

    def __len__(self) -> int:
        return len(self.values)

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "values": list(self.values), "spacing": self.spacing}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepAxis:
        try:
            return cls(str(data["field"]), tuple(data["values"]), str(data.get("spacing", "linear")))
        except (KeyError, TypeError) as error:
            raise SweepError(f"a sweep axis needs a field and a list of values ({error})") from None


def _coerce_axis_value(name: str, value: Any) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise SweepError(f"{name} axis values must be numbers (got {value!r})")
    number = float(value)
    if not math.isfinite(number):
        raise SweepError(f"{name} axis values must be finite (got {value!r})")
    if name in INTEGER_FIELDS:
        if not number.is_integer():
            raise SweepError(f"{name} axis values must be whole numbers (got {value!r})")
        return int(number)
    return number


def make_axis(name: str, low: float, high: float, count: int, spacing: str = "linear") -> SweepAxis:
    """An axis of ``count`` values from ``low`` to ``high`` (both included).

    ``spacing="log"`` spaces them evenly in log10 (needs ``low > 0``). Integer fields are
    rounded to whole numbers and repeated values dropped, so such an axis may have fewer than
    ``count`` values (e.g. 1..4 layers in 10 steps gives 4).
    """
    if name not in SWEEP_FIELDS:
        raise SweepError(f"a sweep axis must be one of {', '.join(SWEEP_FIELDS)} (got {name!r})")
    if (
        isinstance(count, bool)
        or not isinstance(count, (int, np.integer))
        or not 1 <= count <= MAX_AXIS_POINTS
    ):
        raise SweepError(
            f"the number of {name} values must be between 1 and {MAX_AXIS_POINTS} (got {count!r})"
        )
    if not (math.isfinite(low) and math.isfinite(high)) or high < low:
        raise SweepError(f"the {name} range must be low <= high (got {low:g} to {high:g})")
    if count == 1 and low != high:
        raise SweepError(f"one {name} value needs low == high (got {low:g} to {high:g})")
    if spacing == "log":
        if low <= 0:
            raise SweepError(f"a log-spaced {name} axis needs a positive low end (got {low:g})")
        raw = np.geomspace(low, high, count) if count > 1 else np.array([low])
    elif spacing == "linear":
        raw = np.linspace(low, high, count)
    else:
        raise SweepError(f"axis spacing must be linear or log (got {spacing!r})")
    if name in INTEGER_FIELDS:
        values: list[float] = []
        for v in np.rint(raw).astype(np.int64).tolist():
            if not values or v != values[-1]:
                values.append(int(v))
    else:
        values = [float(v) for v in raw]
        values[0], values[-1] = float(low), float(high)  # exact ends despite rounding
    return SweepAxis(name, tuple(values), spacing)


def parse_axis(text: str) -> SweepAxis:
    """An axis from text, as the command line takes it.

    ``FIELD=LOW:HIGH:COUNT`` (evenly spaced), ``FIELD=LOW:HIGH:COUNT:log`` (evenly in log10) or
    ``FIELD=V1,V2,...`` (these values), e.g. ``weight_scale=0.5:2.5:30``, ``seq_len=10,20,50``.
    """
    name, sep, spec = text.partition("=")
    name, spec = name.strip(), spec.strip()
    form = "FIELD=LOW:HIGH:COUNT[:log] or FIELD=V1,V2,..."
    if not sep or not name or not spec:
        raise SweepError(f"an axis is written {form} (got {text!r})")
    if name not in SWEEP_FIELDS:
        raise SweepError(f"a sweep axis must be one of {', '.join(SWEEP_FIELDS)} (got {name!r})")
    try:
        if ":" in spec:
            parts = spec.split(":")
            spacing = "linear"
            if len(parts) == 4:
                spacing = parts.pop().strip().lower()
            if len(parts) != 3:
                raise SweepError(f"an axis is written {form} (got {text!r})")
            return make_axis(name, float(parts[0]), float(parts[1]), int(parts[2]), spacing)
        return SweepAxis(name, tuple(float(v) for v in spec.split(",")))
    except ValueError as error:
        if isinstance(error, SweepError):
            raise
        raise SweepError(f"an axis is written {form}, with numbers (got {text!r})") from None


def resolve_seeds(base_seed: int, seeds: int | Sequence[int]) -> tuple[int, ...]:
    """The seeds a point averages over.

    An int ``n`` means ``n`` consecutive seeds from ``base_seed``; a sequence is used as given.
    """
    low, high = INT_RANGES["seed"]
    if isinstance(seeds, bool):
        raise SweepError(f"seeds must be a count or a list of seeds (got {seeds!r})")
    if isinstance(seeds, (int, np.integer)):
        if not 1 <= seeds <= MAX_SEEDS:
            raise SweepError(f"the number of seeds must be between 1 and {MAX_SEEDS} (got {seeds})")
        chosen = tuple(int(base_seed) + k for k in range(int(seeds)))
    else:
        chosen = tuple(seeds)
        if not 1 <= len(chosen) <= MAX_SEEDS:
            raise SweepError(f"give between 1 and {MAX_SEEDS} seeds (got {len(chosen)})")
        for seed in chosen:
            if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
                raise SweepError(f"seeds must be whole numbers (got {seed!r})")
        chosen = tuple(int(s) for s in chosen)
        if len(set(chosen)) != len(chosen):
            raise SweepError("seeds must be different from each other")
    for seed in chosen:
        if not low <= seed <= high:
            raise SweepError(f"seeds must be between {low} and {high} (got {seed})")
    return chosen


def _check_iterations(iterations: Any) -> int:
    if isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)):
        raise SweepError(f"iterations must be a whole number (got {iterations!r})")
    if not 0 <= iterations <= MAX_ITERATIONS:
        raise SweepError(f"iterations must be between 0 and {MAX_ITERATIONS} (got {iterations})")
    return int(iterations)


@dataclass(frozen=True)
class SweepSpec:
    """What to sweep: a base config, two axes, when to measure and over which seeds.

    Attributes
    ----------
    base : the config every grid point starts from
    x, y : the two axes (different fields); the grid is ``(len(y), len(x))``, row ``i`` at
        ``y.values[i]``, column ``j`` at ``x.values[j]``
    iterations : 0 = at initialisation; N = after N training steps (see the module docstring)
    seeds : a count (consecutive seeds from ``base.seed``) or explicit seeds; stored as the
        tuple of seeds

    Every grid config is validated on construction, so a range that leaves the allowed values
    or the memory limit is refused here with the config's own message.
    """

    base: SimConfig
    x: SweepAxis
    y: SweepAxis
    iterations: int = 0
    seeds: tuple[int, ...] | int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.base, SimConfig):
            raise SweepError("the sweep's base must be a SimConfig")
        if self.x.field == self.y.field:
            raise SweepError(f"the two sweep axes must be different settings (both are {self.x.field})")
        object.__setattr__(self, "iterations", _check_iterations(self.iterations))
        object.__setattr__(self, "seeds", resolve_seeds(self.base.seed, self.seeds))
        for i, j in self.indices():
            self.config_at(i, j)

    @property
    def shape(self) -> tuple[int, int]:
        """``(ny, nx)``."""
        return (len(self.y), len(self.x))

    @property
    def size(self) -> int:
        return len(self.y) * len(self.x)

    def indices(self) -> Iterator[tuple[int, int]]:
        """``(row, column)`` of every grid point, row by row."""
        for i in range(len(self.y)):
            for j in range(len(self.x)):
                yield i, j

    def config_at(self, row: int, column: int) -> SimConfig:
        """The config of grid point ``(row, column)`` (``y.values[row]``, ``x.values[column]``)."""
        changes = {self.x.field: self.x.values[column], self.y.field: self.y.values[row]}
        try:
            return self.base.replace(**changes)
        except ConfigError as error:
            where = f"{self.x.field}={self.x.values[column]:g}, {self.y.field}={self.y.values[row]:g}"
            raise SweepError(f"the grid point {where} is not a valid config: {error}") from None

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready)."""
        return {
            "base": self.base.to_dict(),
            "x": self.x.to_dict(),
            "y": self.y.to_dict(),
            "iterations": self.iterations,
            "seeds": list(self.seeds),  # type: ignore[arg-type]
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepSpec:
        """Inverse of :meth:`to_dict`; bad data raises :class:`SweepError` or ``ConfigError``."""
        try:
            base = SimConfig.from_dict(data["base"])
            return cls(
                base,
                SweepAxis.from_dict(data["x"]),
                SweepAxis.from_dict(data["y"]),
                data.get("iterations", 0),
                tuple(data.get("seeds", (base.seed,))),
            )
        except KeyError as error:
            raise SweepError(f"a sweep description needs {error.args[0]!r}") from None


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


# -- result -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SweepProgress:
    """Progress of a running sweep, as given to the ``progress`` callback.

    Attributes
    ----------
    done, total : grid points finished (computed or from the cache) and in the grid
    cached : of ``done``, how many came from the cache
    elapsed_seconds : since the sweep started
    remaining_seconds : estimated time left; None until the first computed chunk is back
    points : ``(row, column, PointResult)`` finished since the previous report, so a view can
        fill the heatmap as it goes
    """

    done: int
    total: int
    cached: int
    elapsed_seconds: float
    remaining_seconds: float | None
    points: tuple[tuple[int, int, PointResult], ...] = ()

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


@dataclass
class SweepResult:
    """A computed (or partly computed, if cancelled) grid.

    Attributes
    ----------
    spec : what was swept
    values : (ny, nx) float64, mean log10 end-to-end gradient ratio; NaN where status is not
        ok or the point was not computed
    status : (ny, nx) int8, STATUS_* per point (STATUS_OK where not computed; see ``computed``)
    seed_values : (ny, nx, S) float64, each seed's value
    computed : (ny, nx) bool, False for points skipped because the sweep was cancelled
    cancelled : the sweep stopped before the end
    elapsed_seconds : wall time of the sweep
    computed_points, cached_points : points run in this sweep and points taken from the cache
    workers : workers used (processes of the local pool, or Dask worker threads; 0: computed
        in the calling process, or nothing to compute)
    cache_error : why the cache could not keep this sweep's points (None if it could)
    ran_on : where the points were computed (:func:`gradsim.engine.sweep_executors.describe`;
        ``"cache"`` when there was nothing to compute)
    sweep_id : the sweep's id in the journal that recorded it (None if none did)
    """

    spec: SweepSpec
    values: np.ndarray
    status: np.ndarray
    seed_values: np.ndarray
    computed: np.ndarray
    cancelled: bool = False
    elapsed_seconds: float = 0.0
    computed_points: int = 0
    cached_points: int = 0
    workers: int = 0
    cache_error: str | None = None
    ran_on: str = ""
    sweep_id: int | None = None

    @property
    def x_values(self) -> np.ndarray:
        """(nx,) values of the x axis."""
        return np.asarray(self.spec.x.values, dtype=np.float64)

    @property
    def y_values(self) -> np.ndarray:
        """(ny,) values of the y axis."""
        return np.asarray(self.spec.y.values, dtype=np.float64)

    @property
    def overflow(self) -> np.ndarray:
        """(ny, nx) bool, True where a run produced inf/NaN."""
        return self.computed & (self.status == STATUS_OVERFLOW)

    @property
    def vanished(self) -> np.ndarray:
        """(ny, nx) bool, True where the gradient reached exactly zero at the first step."""
        return self.computed & (self.status == STATUS_VANISHED)

    def config_at(self, row: int, column: int) -> SimConfig:
        """The config of a cell (for loading it into the main view)."""
        return self.spec.config_at(row, column)

    def metadata(self) -> dict[str, Any]:
        """Plain data describing the sweep and its run (JSON-ready)."""
        return {
            "spec": self.spec.to_dict(),
            "quantity": "log10 end-to-end gradient ratio (first layer, first step / top layer, last step)",
            "cancelled": self.cancelled,
            "elapsed_seconds": self.elapsed_seconds,
            "computed_points": self.computed_points,
            "cached_points": self.cached_points,
            "workers": self.workers,
            "ran_on": self.ran_on,
            "status_names": {str(k): v for k, v in STATUS_NAMES.items()},
        }

    def arrays(self) -> dict[str, np.ndarray]:
        """Named arrays for export (no objects: loadable with ``allow_pickle=False``)."""
        return {
            "x": self.x_values,
            "y": self.y_values,
            "log10_ratio": self.values.copy(),
            "overflow": self.overflow,
            "status": self.status.copy(),
            "seed_values": self.seed_values.copy(),
            "computed": self.computed.copy(),
            "seeds": np.asarray(self.spec.seeds, dtype=np.int64),
        }

    @classmethod
    def from_arrays(cls, metadata: dict[str, Any], arrays: dict[str, np.ndarray]) -> SweepResult:
        """Rebuild a result from :meth:`metadata` and :meth:`arrays` (e.g. read from a file)."""
        spec = SweepSpec.from_dict(metadata["spec"])
        values = np.asarray(arrays["log10_ratio"], dtype=np.float64)
        if values.shape != spec.shape:
            raise SweepError(f"the grid is {values.shape}, its description says {spec.shape}")
        return cls(
            spec,
            values,
            np.asarray(arrays["status"], dtype=np.int8),
            np.asarray(arrays["seed_values"], dtype=np.float64),
            np.asarray(arrays["computed"], dtype=bool),
            bool(metadata.get("cancelled", False)),
            float(metadata.get("elapsed_seconds", 0.0)),
            int(metadata.get("computed_points", 0)),
            int(metadata.get("cached_points", 0)),
            int(metadata.get("workers", 0)),
            ran_on=str(metadata.get("ran_on", "")),
        )

    def to_dict(self) -> dict[str, Any]:
        """Metadata plus the grids as nested lists (NaN as None): JSON-ready."""
        data = self.metadata()
        data["x"] = self.x_values.tolist()
        data["y"] = self.y_values.tolist()
        data["log10_ratio"] = [[_json_float(v) for v in row] for row in self.values.tolist()]
        data["status"] = self.status.tolist()
        data["computed"] = self.computed.tolist()
        return data


# -- the theory's critical line ----------------------------------------------------------------
@dataclass(frozen=True)
class CriticalLine:
    """The mean-field edge between vanishing and exploding, in the sweep's plot coordinates.

    Attributes
    ----------
    x, y : (n,) float64 coordinates of the line (NaN where the theory finds no critical weight
        scale for that value of the other axis), or None when there is no line
    criterion : ``"span"`` (the most extreme predicted span, through time in any layer or
        through depth, is 0 decades: the quantity the sweep measures), ``"step"`` (the top
        layer's own per-step factor is 1) or ``"end_to_end"`` (predicted corner ratio 1), as in
        :func:`gradsim.engine.theory.critical_weight_scale`
    reason : why there is no line (None when there is one)
    notes : caveats to show next to the line
    """

    x: np.ndarray | None
    y: np.ndarray | None
    criterion: str
    reason: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def available(self) -> bool:
        return self.x is not None


# What each criterion's line marks, in words (the sweep plot's legend and tooltip use it).
CRITERION_TEXT = {
    "span": "predicted to keep its size along its most extreme span (0 decades)",
    "step": "top layer's predicted per-step factor 1",
    "end_to_end": "predicted end-to-end ratio 1",
}


@lru_cache(maxsize=4096)
def _critical_scale(config: SimConfig, criterion: str) -> float | None:
    return theory.critical_weight_scale(config, criterion)


def critical_line(spec: SweepSpec, criterion: str = "span") -> CriticalLine:
    """Where mean-field theory puts the edge (gradient neither vanishing nor exploding).

    With the default criterion ``"span"`` the line is where the theory predicts the quantity
    the sweep measures to be 0: the signed decades of the most extreme span, each layer's time
    span or the depth span (:meth:`gradsim.engine.theory.Spans.extreme` of the predicted
    (layer, time) map; every layer has its own fixed point and factors, see docs/theory.md).
    The critical weight scale is computed for the base config at every value of the other axis
    (the learning rate plays no part before training). With weight scale on x the line is
    ``x = w_c(y)``; on y it is ``y = w_c(x)``.

    No line when the theory does not apply (identity initialisation, batch norm) or when the
    weight scale is not an axis of the sweep (then the reason gives the critical scale and the
    predicted extreme span of the base config). Takes from milliseconds to about a second per
    axis value (plus a one-time table of about 1 s per saturating activation): call it off the
    GUI thread.
    """
    if criterion not in theory.CRITERIA:
        raise SweepError(f"criterion must be one of {', '.join(theory.CRITERIA)} (got {criterion!r})")
    base = spec.base
    reason = theory.not_applicable(base)
    if reason is not None:
        return CriticalLine(None, None, criterion, reason)
    if "weight_scale" not in (spec.x.field, spec.y.field):
        scale = _critical_scale(base, criterion)
        spans = theory.predicted_spans(base)
        where = "no critical weight scale" if scale is None else f"its critical weight scale is {scale:.3g}"
        regime = ""
        if spans is not None and math.isfinite(spans.extreme()):
            extreme = spans.extreme()
            verdict = "vanishing" if extreme < 0 else "exploding" if extreme > 0 else "balanced"
            regime = (
                f"; at {base.weight_scale:g} its most extreme span is predicted at {extreme:+.1f} "
                f"decades ({verdict})"
            )
        return CriticalLine(
            None, None, criterion, f"the weight scale is not swept: for the base config {where}{regime}"
        )
    other = spec.y if spec.x.field == "weight_scale" else spec.x
    scales = []
    missing = []
    for value in other.values:
        # Before training the learning rate plays no part: one computation serves the axis.
        changes = {} if other.field == "learning_rate" else {other.field: value}
        scale = _critical_scale(base.replace(**changes, weight_scale=1.0), criterion)
        scales.append(np.nan if scale is None else scale)
        if scale is None:
            missing.append(f"{value:g}")
    scales_array = np.asarray(scales, dtype=np.float64)
    if np.isnan(scales_array).all():
        return CriticalLine(
            None, None, criterion, "the theory finds no weight scale in range where the gradient is balanced"
        )
    notes = []
    if missing:
        notes.append(f"no critical weight scale at {other.field} = {', '.join(missing)}")
    if spec.iterations > 0:
        notes.append(
            f"the theory describes the untrained network; after {spec.iterations} training steps "
            "the measured edge can move"
        )
    layers = other.values if other.field == "num_layers" else (base.num_layers,)
    if criterion != "span" and max(layers) > 1:
        notes.append(
            "with several layers the measured value is the most extreme span, which this criterion "
            "does not predict (criterion span does)"
        )
    fixed = np.asarray(other.values, dtype=np.float64)
    if other is spec.y:
        return CriticalLine(scales_array, fixed, criterion, None, tuple(notes))
    return CriticalLine(fixed, scales_array, criterion, None, tuple(notes))


# -- the measured edge ------------------------------------------------------------------------
def measured_edge(result: SweepResult, along: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Where the measured value crosses 0 (no change), one point per grid line.

    Along ``along`` (a swept field; default: the weight scale if it is swept, else the x axis),
    each line of the grid is searched from its low end for the first neighbours with the value
    below 0 on the low side and at or above 0 on the high side; the crossing is interpolated
    linearly between them (in log10 of the axis value for a log-spaced axis). An overflowing
    point counts as above 0 and a vanished one as below; there the crossing is put halfway.
    Points without a value (no gradient, not computed) end the search of their line.

    Returns
    -------
    (x, y) : two (n,) float64 arrays of plot coordinates, n the number of lines; NaN where a
        line does not cross 0
    """
    spec = result.spec
    if along is None:
        along = "weight_scale" if spec.y.field == "weight_scale" else spec.x.field
    if along not in (spec.x.field, spec.y.field):
        raise SweepError(f"{along} is not an axis of this sweep ({spec.x.field}, {spec.y.field})")
    signed = np.where(result.computed, result.values, np.nan)
    signed = np.where(result.overflow, np.inf, signed)
    signed = np.where(result.vanished, -np.inf, signed)
    axis = spec.x if along == spec.x.field else spec.y
    other = spec.y if axis is spec.x else spec.x
    lines = signed if axis is spec.x else signed.T
    positions = np.log10(axis.values) if axis.spacing == "log" else np.asarray(axis.values, dtype=np.float64)
    crossing = np.full(len(other), np.nan)
    for k, line in enumerate(lines):
        for a in range(len(line) - 1):
            low, high = line[a], line[a + 1]
            if np.isnan(low) or np.isnan(high):
                break
            if low < 0 <= high:
                if np.isfinite(low) and np.isfinite(high):
                    t = -low / (high - low)
                else:
                    t = 0.5
                crossing[k] = positions[a] + t * (positions[a + 1] - positions[a])
                break
    if axis.spacing == "log":
        crossing = 10.0**crossing
    fixed = np.asarray(other.values, dtype=np.float64)
    return (crossing, fixed) if axis is spec.x else (fixed, crossing)


# -- runner -----------------------------------------------------------------------------------
ProgressCallback = Callable[[SweepProgress], None]
CancelSignal = threading.Event | Callable[[], bool]


def _is_cancelled(cancel: CancelSignal | None) -> bool:
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    return bool(cancel())


Task = tuple[int, SimConfig]


def _evaluate_task(task: Task, iterations: int, seeds: tuple[int, ...]) -> tuple[int, PointResult]:
    """Worker entry: one ``(flat index, config)`` evaluated (runs in whichever executor)."""
    index, config = task
    return index, evaluate_point(config, iterations, seeds)


def point_cost(config: SimConfig, iterations: int, seeds: int) -> float:
    """Relative cost of evaluating a point: multiply-adds of its forward/backward passes."""
    hidden = config.hidden_size
    per_pass = config.num_layers * config.seq_len * config.batch_size * hidden * (2 * hidden + 8)
    return float(per_pass * (iterations + 1) * seeds)


def _chunk(tasks: list[Task], workers: int, iterations: int, seeds: int) -> list[list[Task]]:
    """Split ``tasks`` (in grid order) into chunks of about equal cost.

    About 24 chunks per worker balance the load (points along a seq_len or hidden_size axis
    differ in cost a lot) and keep progress fine-grained; a chunk holds at most 16 points so
    cheap grids do not pay one round trip per point.
    """
    costs = [point_cost(config, iterations, seeds) for _, config in tasks]
    budget = sum(costs) / (max(workers, 1) * 24)
    chunks: list[list[Task]] = []
    current: list[Task] = []
    spent = 0.0
    for task, cost in zip(tasks, costs, strict=True):
        current.append(task)
        spent += cost
        if spent >= budget or len(current) >= 16:
            chunks.append(current)
            current, spent = [], 0.0
    if current:
        chunks.append(current)
    return chunks


class SweepJournal(Protocol):
    """Where :func:`run_sweep` records the sweeps themselves (the sweep store does)."""

    def begin_sweep(self, spec: SweepSpec, ran_on: str, started: float) -> int:
        """Record a sweep that starts now (``started``: Unix time); returns its id."""
        ...

    def end_sweep(self, sweep_id: int, result: SweepResult, failure: str | None = None) -> None:
        """Record how it ended: its (possibly partial) result, and why it failed if it did."""
        ...


class _Collector:
    """Fills the result arrays, feeds the cache and reports progress."""

    def __init__(
        self, spec: SweepSpec, progress: ProgressCallback | None, cache: PointCache | None, started: float
    ) -> None:
        ny, nx = spec.shape
        self.spec = spec
        self.values = np.full((ny, nx), np.nan)
        self.status = np.zeros((ny, nx), dtype=np.int8)
        self.seed_values = np.full((ny, nx, len(spec.seeds)), np.nan)  # type: ignore[arg-type]
        self.computed = np.zeros((ny, nx), dtype=bool)
        self.progress = progress
        self.cache = cache
        self.cache_error: str | None = None
        self.keys: dict[int, str] = {}
        self.started = started
        self.done = 0
        self.cached = 0
        self.fresh = 0
        self.to_compute = 0
        self.compute_started = started

    def fill(self, index: int, result: PointResult) -> tuple[int, int, PointResult]:
        row, column = divmod(index, self.spec.shape[1])
        self.values[row, column] = result.value
        self.status[row, column] = result.status
        self.seed_values[row, column] = result.seed_values
        self.computed[row, column] = True
        self.done += 1
        return row, column, result

    def lookup(self, key: str) -> PointResult | None:
        if self.cache is None:
            return None
        try:
            return self.cache.get(key)
        except OSError as error:
            self._lose_cache(error)
            return None

    def finish_chunk(self, results: list[tuple[int, PointResult]]) -> None:
        """Take a chunk's results: into the grid, into the cache at once (a crash keeps them)."""
        self.fresh += len(results)
        points = [self.fill(index, result) for index, result in results]
        if self.cache is not None and results:
            try:
                self.cache.put_many([(self.keys[index], result) for index, result in results])
            except OSError as error:
                self._lose_cache(error)
        self.report(points)

    def _lose_cache(self, error: OSError) -> None:
        # A cache that fails costs the next sweep time, never this sweep its result.
        self.cache_error = str(error) or type(error).__name__
        self.cache = None

    def report(self, points: list[tuple[int, int, PointResult]]) -> None:
        if self.progress is None:
            return
        now = time.perf_counter()
        remaining: float | None = None
        if self.fresh > 0:
            rate = (now - self.compute_started) / self.fresh
            remaining = rate * (self.to_compute - self.fresh)
        elif self.to_compute == 0:
            remaining = 0.0
        self.progress(
            SweepProgress(
                self.done, self.spec.size, self.cached, now - self.started, remaining, tuple(points)
            )
        )


def run_sweep(
    spec: SweepSpec,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelSignal | None = None,
    cache: PointCache | None = SHARED_CACHE,
    scheduler: str | None = None,
    journal: SweepJournal | None = None,
) -> SweepResult:
    """Compute every grid point of ``spec``.

    Parameters
    ----------
    spec : the sweep
    workers : worker processes on this machine; None = one per core; 0 = compute in the
        calling process (no processes, for tests and debugging; slower if the caller's BLAS
        uses threads). Ignored with ``scheduler``
    progress : called in the calling thread after each finished chunk (and once at the
        start with the cached points) with a :class:`SweepProgress`
    cancel : a ``threading.Event`` or a callable returning True to stop. Checked every
        50 ms; on cancel nothing of the sweep is left running (local workers are terminated;
        see :mod:`gradsim.engine.sweep_executors` for a cluster) and the partial result is
        returned with ``cancelled=True``
    cache : looked up before computing and given every chunk of computed points as it
        arrives; None = no cache. The default is a shared in-memory cache, so a repeated sweep
        is instant. A cache raising ``OSError`` is dropped for the rest of the sweep
        (``cache_error`` says why); the sweep goes on
    scheduler : run the points on a Dask cluster: its scheduler's address, or ``"local:N"``
        for a LocalCluster of N processes (needs the ``gradsim[cluster]`` extra)
    journal : records the sweep (when, where, how it ended), e.g. the sweep store

    Returns
    -------
    SweepResult

    Raises
    ------
    SweepError
        Bad arguments, a cluster that cannot be used, or workers lost (a worker process
        killed for lack of memory, for example).
    """
    started = time.perf_counter()
    started_wall = time.time()
    if workers is None:
        workers = default_workers()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise SweepError(f"workers must be 0 or more (got {workers!r})")
    if scheduler is not None:
        try:
            check_scheduler(scheduler)
        except ExecutorError as error:
            raise SweepError(str(error)) from None
    seeds: tuple[int, ...] = spec.seeds  # type: ignore[assignment]
    collector = _Collector(spec, progress, cache, started)
    tasks: list[Task] = []
    hits: list[tuple[int, int, PointResult]] = []
    for row, column in spec.indices():
        index = row * spec.shape[1] + column
        config = spec.config_at(row, column)
        key = point_key(config, spec.iterations, seeds)
        found = collector.lookup(key)
        if found is not None and len(found.seed_values) == len(seeds):
            hits.append(collector.fill(index, found))
        else:
            collector.keys[index] = key
            tasks.append((index, config))
    collector.cached = len(hits)
    collector.to_compute = len(tasks)
    collector.compute_started = time.perf_counter()

    # Where the points are computed; refined by the executor (a cluster's size is known once
    # connected). Nothing to compute: nothing ran anywhere.
    ran_on = describe(min(workers, len(tasks)) if scheduler is None else 0, scheduler) if tasks else "cache"
    sweep_id = None
    if journal is not None:
        try:
            sweep_id = journal.begin_sweep(spec, ran_on, started_wall)
        except OSError as error:
            collector.cache_error = str(error)
            journal = None
    used_workers = 0
    cancelled = False
    failure: str | None = None
    try:
        collector.report(hits)
        if tasks:
            executor = make_executor(workers, scheduler, len(tasks))
            try:
                ran_on, used_workers = executor.description, executor.workers
                chunks = _chunk(tasks, max(used_workers, 1), spec.iterations, len(seeds))
                cancelled = executor.run(
                    functools.partial(_evaluate_task, iterations=spec.iterations, seeds=seeds),
                    chunks,
                    collector.finish_chunk,
                    lambda: _is_cancelled(cancel),
                )
            finally:
                executor.close()
    except ExecutorError as error:
        failure = str(error)
    except KeyboardInterrupt:
        cancelled = True  # Ctrl-C: the executor stopped its workers; recorded as cancelled
        raise
    except BaseException as error:
        failure = f"{type(error).__name__}: {error}"
        raise
    finally:
        result = SweepResult(
            spec,
            collector.values,
            collector.status,
            collector.seed_values,
            collector.computed,
            cancelled=cancelled,
            elapsed_seconds=time.perf_counter() - started,
            computed_points=collector.fresh,
            cached_points=collector.cached,
            workers=used_workers,
            cache_error=collector.cache_error,
            ran_on=ran_on,
            sweep_id=sweep_id,
        )
        if journal is not None and sweep_id is not None:
            try:
                journal.end_sweep(sweep_id, result, failure)
            except OSError as error:
                result.cache_error = result.cache_error or str(error)
    if failure is not None:
        raise SweepError(failure)
    return result
