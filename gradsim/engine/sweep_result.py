"""A sweep's result grid and progress, the theory's critical line over it, and the measured edge.

Part of the phase-diagram sweeps (:mod:`gradsim.engine.sweep` explains them and re-exports
these names).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from . import theory
from .config import SimConfig
from .sweep_point import STATUS_NAMES, STATUS_OVERFLOW, STATUS_VANISHED, PointResult, _json_float
from .sweep_spec import SweepError, SweepSpec


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
