"""What a sweep sweeps: its two axes and the spec (base config, axes, iterations, seeds).

Part of the phase-diagram sweeps (:mod:`gradsim.engine.sweep` explains them and re-exports
these names). Every grid config is validated when the spec is made.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .config import INT_RANGES, ConfigError, SimConfig

# Fields a sweep axis may vary.
SWEEP_FIELDS = ("weight_scale", "seq_len", "num_layers", "learning_rate", "hidden_size")
INTEGER_FIELDS = frozenset({"seq_len", "num_layers", "hidden_size"})
SPACINGS = ("linear", "log")
MAX_AXIS_POINTS = 200
MAX_ITERATIONS = 100_000
MAX_SEEDS = 64


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
