"""Where the sweep store lives, and its values in and out of SQLite rows: points, grids, sweep records.

Part of the sweep store (:mod:`gradsim.io.sweepstore` explains it and re-exports the public
names). Reading validates every value; nothing read is ever executed.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from gradsim.engine.sweep import STATUS_NAMES, PointResult, SweepResult, SweepSpec

STORE_FILE_NAME = "sweeps.sqlite"
DEFAULT_TIMEOUT_SECONDS = 5.0
# Tries of a read or write that finds the store locked past the busy timeout.
ATTEMPTS = 3
# The old JSON-folder cache: its files and their format name.
LEGACY_FILE_PATTERN = "points-*.json"
LEGACY_FORMAT_NAME = "gradsim-sweep-cache"
SWEEP_STATUSES = ("running", "done", "cancelled", "failed")
_INSERT_POINTS = (
    "INSERT OR {conflict} INTO points (key, value, status, seed_values, created) VALUES (?, ?, ?, ?, ?)"
)

T = TypeVar("T")


class StoreError(OSError):
    """The store cannot do what was asked; the message is one line naming the file."""


# -- where the store lives ------------------------------------------------------------------------


def user_cache_folder() -> Path:
    """gradsim's folder in the user's cache: ``$XDG_CACHE_HOME/gradsim`` (``~/.cache/gradsim``) on
    Linux, ``~/Library/Caches/gradsim`` on macOS, ``%LOCALAPPDATA%\\gradsim\\cache`` on Windows."""
    home = Path.home()
    if sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA")
        return (Path(local) if local else home / "AppData" / "Local") / "gradsim" / "cache"
    if sys.platform == "darwin":
        return home / "Library" / "Caches" / "gradsim"
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec says to ignore a relative path.
    return (Path(xdg) if xdg and os.path.isabs(xdg) else home / ".cache") / "gradsim"


def default_store_path() -> Path:
    """Where the store is when none is given: :data:`STORE_FILE_NAME` in :func:`user_cache_folder`."""
    return user_cache_folder() / STORE_FILE_NAME


def legacy_cache_folders() -> list[Path]:
    """The JSON-folder caches earlier versions wrote: the window's (Qt's cache location for the
    organisation and application "gradsim") and the one the documentation suggested for
    ``gradsim sweep --cache-dir``."""
    home = Path.home()
    if sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA")
        window = (Path(local) if local else home / "AppData" / "Local") / "gradsim" / "gradsim" / "cache"
    elif sys.platform == "darwin":
        window = home / "Library" / "Caches" / "gradsim" / "gradsim"
    else:
        window = user_cache_folder() / "gradsim"
    return [window / "sweep-points", user_cache_folder() / "sweep-points"]


# -- values in and out ------------------------------------------------------------------------------


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def _encode_float(value: float) -> float | str | None:
    # Strict JSON has no NaN or infinity. repr-exact floats otherwise: json writes repr(value),
    # which reads back bit for bit (including -0.0).
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def _decode_float(value: Any) -> float:
    if value is None:
        return math.nan
    if value in ("inf", "-inf"):
        return math.inf if value == "inf" else -math.inf
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"not a number: {value!r}")
    return float(value)


def _point_row(key: str, point: PointResult, now: float) -> tuple[bytes, float | None, int, str, float]:
    value = None if math.isnan(point.value) else float(point.value)
    seeds = json.dumps([_encode_float(v) for v in point.seed_values], allow_nan=False)
    return (_digest(key), value, int(point.status), seeds, now)


def _point_from_row(row: tuple[Any, ...]) -> PointResult | None:
    """A point from its row, or None if the row is not a valid point (then it is recomputed).

    Every lookup goes through here: the common case (finite floats) takes the short path.
    """
    value, status, seeds_text = row
    if type(status) is not int or status not in STATUS_NAMES:
        return None
    if value is not None and type(value) not in (float, int):
        return None
    if type(seeds_text) is not str:
        return None
    try:
        seeds = json.loads(seeds_text)
        if type(seeds) is not list or not seeds:
            return None
        decoded = tuple([v if type(v) is float else _decode_float(v) for v in seeds])
    except (ValueError, TypeError, RecursionError):
        return None
    return PointResult(math.nan if value is None else float(value), status, decoded)


def _encode_grid(result: SweepResult) -> str:
    """The result's grids as JSON (flat, row by row): exact floats, NaN as null."""
    return json.dumps(
        {
            "values": [_encode_float(v) for v in result.values.ravel().tolist()],
            "status": result.status.ravel().tolist(),
            "computed": [int(v) for v in result.computed.ravel().tolist()],
            "seed_values": [_encode_float(v) for v in result.seed_values.ravel().tolist()],
        },
        allow_nan=False,
        separators=(",", ":"),
    )


def _decode_grid(text: str, spec: SweepSpec) -> dict[str, np.ndarray]:
    """Inverse of :func:`_encode_grid`, checked against the spec's shape (ValueError if not)."""
    data = json.loads(text)
    ny, nx = spec.shape
    seeds = len(spec.seeds)  # type: ignore[arg-type]
    if not isinstance(data, dict):
        raise ValueError("the grid is not a JSON object")
    lengths = {"values": ny * nx, "status": ny * nx, "computed": ny * nx, "seed_values": ny * nx * seeds}
    for name, length in lengths.items():
        if not isinstance(data.get(name), list) or len(data[name]) != length:
            raise ValueError(f"the grid's {name} do not fill {ny} x {nx} cells")
    status = data["status"]
    if any(isinstance(v, bool) or not isinstance(v, int) or v not in STATUS_NAMES for v in status):
        raise ValueError("the grid has an unknown point status")
    if any(v not in (0, 1) or isinstance(v, bool) for v in data["computed"]):
        raise ValueError("the grid's computed flags are not 0 or 1")
    return {
        "values": np.array([_decode_float(v) for v in data["values"]], dtype=np.float64).reshape(ny, nx),
        "status": np.array(status, dtype=np.int8).reshape(ny, nx),
        "computed": np.array(data["computed"], dtype=bool).reshape(ny, nx),
        "seed_values": np.array([_decode_float(v) for v in data["seed_values"]], dtype=np.float64).reshape(
            ny, nx, seeds
        ),
    }


# -- records ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepRecord:
    """One recorded sweep, as listed (its grid is read by :meth:`SweepStore.open_sweep`).

    Attributes
    ----------
    id : its number in the store
    started : Unix time it started
    elapsed_seconds : how long it took (None while running or if interrupted)
    ran_on : where its points were computed ("a local pool of 2 processes", "the Dask cluster at ...")
    status : running, done, cancelled, failed, or interrupted (its process is gone)
    x_field, y_field : the swept settings
    shape : (ny, nx)
    seeds, iterations : seeds per point; training steps before measuring
    computed_points, cached_points : computed by this sweep, taken from the store
    failure : why it failed (None otherwise)
    """

    id: int
    started: float
    elapsed_seconds: float | None
    ran_on: str
    status: str
    x_field: str
    y_field: str
    shape: tuple[int, int]
    seeds: int
    iterations: int
    computed_points: int
    cached_points: int
    failure: str | None = None

    def describe(self) -> str:
        """One line: ``#3  2026-12-05 07:40  weight_scale × seq_len  17 × 12, 2 seeds, at init  done
        in 12.3 s on a local pool of 2 processes`` (or ``... all from the cache``)."""
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.started))
        ny, nx = self.shape
        measured = "at init" if self.iterations == 0 else f"after {self.iterations} steps"
        seeds = f"{self.seeds} seed{'s' if self.seeds != 1 else ''}"
        how = self.status
        if self.elapsed_seconds is not None and self.status != "running":
            how += f" in {self.elapsed_seconds:.1f} s"
        where = (
            f"on {self.ran_on}" if self.computed_points or self.status == "running" else "all from the cache"
        )
        grid = f"{self.x_field} × {self.y_field}  {nx} × {ny}, {seeds}, {measured}"
        return f"#{self.id}  {when}  {grid}  {how} {where}"


@dataclass(frozen=True)
class StoreInfo:
    """What :meth:`SweepStore.info` reports.

    Attributes
    ----------
    path : the database file
    size_bytes : the database with its WAL and shared-memory files
    points, sweeps : rows of each table
    schema_version : the store's schema
    """

    path: Path
    size_bytes: int
    points: int
    sweeps: int
    schema_version: int


def _process_alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would send CTRL_C_EVENT there; assume it runs
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process: it exists
        return True
    return True


def format_size(size_bytes: int) -> str:
    """``"512 B"``, ``"12.3 kB"``, ``"3.4 MB"``, ``"1.2 GB"`` (powers of 1000, as file managers show)."""
    value = float(size_bytes)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            break
        value /= 1000
    return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
