"""Sweep grids on disk (CSV and NPZ) and the on-disk point cache of :mod:`gradsim.engine.sweep`.

Both formats are written atomically (see :mod:`gradsim.io.atomic`): a failed write leaves no
partial file.

CSV
    One row per grid point, row by row of the grid: ``<x field>,<y field>,log10_ratio,overflow,
    status`` (for example ``weight_scale,seq_len,log10_ratio,overflow,status``). ``overflow`` is
    1 where the run produced inf/NaN, else 0; ``status`` is ``ok``, ``overflow``, ``vanished``,
    ``no gradient`` or ``not computed`` (a cancelled sweep). A missing value is written ``nan``.
NPZ
    The arrays of :meth:`SweepResult.arrays` (``x`` (nx,), ``y`` (ny,), ``log10_ratio``,
    ``overflow``, ``status``, ``computed`` (ny, nx), ``seed_values`` (ny, nx, S), ``seeds`` (S,))
    plus ``format``, ``version`` and ``metadata`` (the sweep's description as a JSON string),
    so the file loads with ``allow_pickle=False`` and reads back into a full result.
"""

from __future__ import annotations

import csv
import io
import json
import os
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gradsim.engine.safe_read import (
    SWEEP_CSV_LIMIT,
    SWEEP_NPZ_LIMIT,
    FileReadError,
    load_npz,
    parse_json,
    read_text,
)
from gradsim.engine.sweep import (
    CACHE_FORMAT,
    STATUS_NAMES,
    MemoryCache,
    PointResult,
    SweepResult,
)

from .atomic import WriteError, atomic_open

__all__ = [
    "CACHE_FILE_LIMIT",
    "FORMAT",
    "NOT_COMPUTED",
    "SWEEP_SUFFIXES",
    "VERSION",
    "DiskPointCache",
    "SweepFileError",
    "SweepGrid",
    "read_sweep",
    "read_sweep_csv",
    "read_sweep_npz",
    "write_sweep",
    "write_sweep_csv",
    "write_sweep_npz",
]

FORMAT = "gradsim-sweep"
VERSION = 1
SWEEP_SUFFIXES = (".csv", ".npz")
NOT_COMPUTED = "not computed"
CACHE_FORMAT_NAME = "gradsim-sweep-cache"
# When a cache folder holds more files than this, they are merged into one on the next load.
CACHE_FILE_LIMIT = 32

_STATUS_CODES = {name: code for code, name in STATUS_NAMES.items()}


class SweepFileError(ValueError):
    """A file is not a readable gradsim sweep; the message names the file and the problem."""


# -- CSV -------------------------------------------------------------------------------------


def _csv_number(value: float) -> str:
    # repr reads back bit-identical with float() and spells non-finite values inf/-inf/nan.
    return repr(float(value))


def _csv_axis_value(value: float) -> str:
    return str(value) if isinstance(value, int) else _csv_number(value)


def write_sweep_csv(path: str | os.PathLike[str], result: SweepResult) -> None:
    """Write one row per grid point (see the module docstring), atomically.

    Raises
    ------
    gradsim.io.atomic.WriteError
        The file cannot be written; nothing is left behind.
    """
    spec = result.spec
    overflow = result.overflow
    with atomic_open(path, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow((spec.x.field, spec.y.field, "log10_ratio", "overflow", "status"))
        for row, y_value in enumerate(spec.y.values):
            for column, x_value in enumerate(spec.x.values):
                computed = bool(result.computed[row, column])
                status = STATUS_NAMES[int(result.status[row, column])] if computed else NOT_COMPUTED
                writer.writerow(
                    (
                        _csv_axis_value(x_value),
                        _csv_axis_value(y_value),
                        _csv_number(result.values[row, column]),
                        int(overflow[row, column]),
                        status,
                    )
                )


@dataclass
class SweepGrid:
    """A grid read back from CSV (which holds the grid, not the base config).

    Attributes
    ----------
    x_field, y_field : the swept settings
    x : (nx,) float64, y : (ny,) float64 axis values
    values : (ny, nx) float64 log10 ratios
    overflow : (ny, nx) bool
    status : (ny, nx) int8, STATUS_* codes (-1 where not computed)
    """

    x_field: str
    y_field: str
    x: np.ndarray
    y: np.ndarray
    values: np.ndarray
    overflow: np.ndarray
    status: np.ndarray


def _brief(error: object) -> str:
    """An error's text on one line, cut at 120 characters (a cell of a damaged file may be huge)."""
    text = " ".join(str(error).split())
    return text if len(text) <= 120 else text[:117] + "..."


def read_sweep_csv(path: str | os.PathLike[str]) -> SweepGrid:
    """Read a grid written by :func:`write_sweep_csv`.

    Raises
    ------
    SweepFileError
        Naming the file and what is wrong with it.
    """
    file = Path(os.fspath(path))
    try:
        text = read_text(file, SWEEP_CSV_LIMIT, "a sweep CSV")
    except FileReadError as error:
        raise SweepFileError(f"{file}: {error.reason}") from None
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as error:
        raise SweepFileError(f"{file}: not a gradsim sweep CSV ({_brief(error)})") from None
    if not rows or len(rows[0]) != 5 or rows[0][2:] != ["log10_ratio", "overflow", "status"]:
        raise SweepFileError(
            f"{file}: not a gradsim sweep CSV (expected the columns x, y, log10_ratio, overflow, status)"
        )
    x_field, y_field = rows[0][0], rows[0][1]
    try:
        table = [(float(r[0]), float(r[1]), float(r[2]), int(r[3]), r[4]) for r in rows[1:] if r]
    except (ValueError, IndexError) as error:
        raise SweepFileError(f"{file}: a row is not x, y, number, 0/1, status ({_brief(error)})") from None
    x = np.array(sorted({r[0] for r in table}))
    y = np.array(sorted({r[1] for r in table}))
    if len(table) != len(x) * len(y):
        raise SweepFileError(f"{file}: {len(table)} rows do not fill a {len(y)} x {len(x)} grid")
    values = np.full((len(y), len(x)), np.nan)
    overflow = np.zeros((len(y), len(x)), dtype=bool)
    status = np.full((len(y), len(x)), -1, dtype=np.int8)
    for x_value, y_value, value, flag, name in table:
        row, column = int(np.searchsorted(y, y_value)), int(np.searchsorted(x, x_value))
        if name != NOT_COMPUTED and name not in _STATUS_CODES:
            raise SweepFileError(f"{file}: unknown status {_brief(repr(name))}")
        values[row, column] = value
        overflow[row, column] = bool(flag)
        status[row, column] = _STATUS_CODES.get(name, -1)
    return SweepGrid(x_field, y_field, x, y, values, overflow, status)


# -- NPZ -------------------------------------------------------------------------------------


def write_sweep_npz(path: str | os.PathLike[str], result: SweepResult) -> None:
    """Write the result's arrays and description as an NPZ archive, atomically.

    Raises
    ------
    gradsim.io.atomic.WriteError
        The file cannot be written; nothing is left behind.
    """
    arrays = result.arrays()
    arrays["format"] = np.array(FORMAT)
    arrays["version"] = np.array(VERSION)
    arrays["metadata"] = np.array(json.dumps(result.metadata(), allow_nan=False))
    with atomic_open(path, "wb") as handle:
        np.savez(handle, **arrays)


def read_sweep_npz(path: str | os.PathLike[str]) -> SweepResult:
    """Read a result written by :func:`write_sweep_npz` (pickles stay disabled).

    Raises
    ------
    SweepFileError
        Naming the file and what is wrong with it.
    """
    file = Path(os.fspath(path))
    try:
        archive = load_npz(file, SWEEP_NPZ_LIMIT, "a sweep")
    except FileReadError as error:
        raise SweepFileError(f"{file}: {error.reason}") from None
    try:
        name = str(archive["format"][()]) if "format" in archive else None
        version = int(archive["version"][()]) if "version" in archive else None
        if name != FORMAT:
            raise SweepFileError(f"{file}: not a gradsim sweep (no format {FORMAT!r} marker)")
        if version is None or version > VERSION:
            raise SweepFileError(
                f"{file}: written by a newer gradsim (sweep format {version}; this one reads up to {VERSION})"
            )
        metadata = parse_json(str(archive["metadata"][()]), "metadata")
        return SweepResult.from_arrays(metadata, archive)
    except SweepFileError:
        raise
    except FileReadError as error:
        raise SweepFileError(f"{file}: not a gradsim sweep (its {error})") from None
    except (KeyError, ValueError, TypeError, IndexError, AttributeError, OverflowError) as error:
        what = (
            f"missing {error.args[0]!r}"
            if isinstance(error, KeyError)
            else " ".join(str(error).split())[:200]
        )
        raise SweepFileError(f"{file}: not a gradsim sweep ({what})") from None


# -- by extension ----------------------------------------------------------------------------


def write_sweep(path: str | os.PathLike[str], result: SweepResult) -> None:
    """Write the grid as CSV or NPZ, by the extension of ``path``.

    Raises
    ------
    ValueError
        The extension is neither (nothing is written).
    gradsim.io.atomic.WriteError
        The file cannot be written; nothing is left behind.
    """
    suffix = Path(os.fspath(path)).suffix.lower()
    if suffix == ".csv":
        write_sweep_csv(path, result)
    elif suffix == ".npz":
        write_sweep_npz(path, result)
    else:
        raise ValueError(f"cannot save a sweep as {Path(path).name}: use .csv or .npz")


def read_sweep(path: str | os.PathLike[str]) -> SweepResult | SweepGrid:
    """Read ``.npz`` (a full :class:`SweepResult`) or ``.csv`` (a :class:`SweepGrid`)."""
    suffix = Path(os.fspath(path)).suffix.lower()
    if suffix == ".npz":
        return read_sweep_npz(path)
    if suffix == ".csv":
        return read_sweep_csv(path)
    raise SweepFileError(f"{path}: cannot read a sweep from a {suffix or 'nameless'} file; use .npz or .csv")


# -- on-disk point cache ---------------------------------------------------------------------


class DiskPointCache:
    """A point cache kept in a folder, so a repeated sweep is instant across sessions.

    Points are held in memory and written, at the end of each sweep (:meth:`flush`), as one JSON
    file ``points-<random>.json`` of ``{key: point}``; several app instances can share a folder
    without overwriting each other's files. On first use all files of the folder are read;
    unreadable ones and ones of another cache format are skipped. More than
    :data:`CACHE_FILE_LIMIT` files are merged into one.

    Parameters
    ----------
    folder : where the files live (created on the first write)
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(os.fspath(folder))
        self.memory = MemoryCache(max_entries=10**7)
        self.skipped_files: list[Path] = []
        self._pending: dict[str, PointResult] = {}
        self._loaded = False
        self._lock = threading.Lock()

    def __len__(self) -> int:
        self._load()
        return len(self.memory)

    def get(self, key: str) -> PointResult | None:
        self._load()
        return self.memory.get(key)

    def put_many(self, items: Sequence[tuple[str, PointResult]]) -> None:
        self._load()
        self.memory.put_many(items)
        with self._lock:
            self._pending.update(items)

    def flush(self) -> None:
        """Write the points added since the last flush to a new file in the folder.

        Raises
        ------
        gradsim.io.atomic.WriteError
            The folder cannot be written (the points stay in memory and pending).
        """
        with self._lock:
            if not self._pending:
                return
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise WriteError(self.folder, error.strerror or str(error), error.errno) from error
            self._write(self.folder / f"points-{uuid.uuid4().hex}.json", self._pending)
            self._pending = {}

    def _write(self, path: Path, points: dict[str, PointResult]) -> None:
        data = {
            "format": CACHE_FORMAT_NAME,
            "version": CACHE_FORMAT,
            "points": {key: point.to_json() for key, point in points.items()},
        }
        with atomic_open(path, "w") as handle:
            json.dump(data, handle, allow_nan=False, separators=(",", ":"))

    def _read(self, path: Path) -> dict[str, PointResult] | None:
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
            if data.get("format") != CACHE_FORMAT_NAME or data.get("version") != CACHE_FORMAT:
                return None
            return {key: PointResult.from_json(value) for key, value in data["points"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def _load(self) -> None:
        with self._lock:
            if self._loaded:
                return
            self._loaded = True
            files = sorted(self.folder.glob("points-*.json")) if self.folder.is_dir() else []
            merged: dict[str, PointResult] = {}
            read_files = []
            for path in files:
                points = self._read(path)
                if points is None:
                    self.skipped_files.append(path)
                    continue
                merged.update(points)
                read_files.append(path)
            self.memory.put_many(list(merged.items()))
            if len(read_files) > CACHE_FILE_LIMIT:
                self._compact(merged, read_files)

    def _compact(self, merged: dict[str, PointResult], read_files: list[Path]) -> None:
        try:
            self._write(self.folder / f"points-{uuid.uuid4().hex}.json", merged)
        except OSError:
            return  # a read-only cache still serves its points
        for path in read_files:
            try:
                path.unlink()
            except OSError:
                pass
