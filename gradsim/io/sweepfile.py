"""Sweep grids on disk: CSV and NPZ. (Computed points and past sweeps live in the sweep store,
:mod:`gradsim.io.sweepstore`.)

Both formats are written atomically (see :mod:`gradsim.io.atomic`): a writer that cannot write
its file raises :class:`~gradsim.io.atomic.WriteError` and leaves no partial file. A file the
readers refuse raises :class:`SweepFileError`, its message naming the file and what is wrong with
it.

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
from collections.abc import Callable
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
from gradsim.engine.sweep import STATUS_NAMES, SweepResult

from .atomic import atomic_open, atomic_savez
from .reading import check_marker, describe_reason, npz_marker, one_line, read_by_suffix, read_or_raise

__all__ = [
    "FORMAT",
    "NOT_COMPUTED",
    "SWEEP_SUFFIXES",
    "VERSION",
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
    """Write one row per grid point (see the module docstring), atomically."""
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


def read_sweep_csv(path: str | os.PathLike[str]) -> SweepGrid:
    """Read a grid written by :func:`write_sweep_csv` (or raise :class:`SweepFileError`)."""
    file, text = read_or_raise(path, read_text, SWEEP_CSV_LIMIT, "a sweep CSV", SweepFileError)
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as error:
        raise SweepFileError(f"{file}: not a gradsim sweep CSV ({describe_reason(error, 120)})") from None
    if not rows or len(rows[0]) != 5 or rows[0][2:] != ["log10_ratio", "overflow", "status"]:
        raise SweepFileError(
            f"{file}: not a gradsim sweep CSV (expected the columns x, y, log10_ratio, overflow, status)"
        )
    x_field, y_field = rows[0][0], rows[0][1]
    try:
        table = [(float(r[0]), float(r[1]), float(r[2]), int(r[3]), r[4]) for r in rows[1:] if r]
    except (ValueError, IndexError) as error:
        reason = describe_reason(error, 120)
        raise SweepFileError(f"{file}: a row is not x, y, number, 0/1, status ({reason})") from None
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
            raise SweepFileError(f"{file}: unknown status {one_line(repr(name), 120)}")
        values[row, column] = value
        overflow[row, column] = bool(flag)
        status[row, column] = _STATUS_CODES.get(name, -1)
    return SweepGrid(x_field, y_field, x, y, values, overflow, status)


# -- NPZ -------------------------------------------------------------------------------------


def write_sweep_npz(path: str | os.PathLike[str], result: SweepResult) -> None:
    """Write the result's arrays and description as an NPZ archive, atomically."""
    arrays = result.arrays()
    arrays["format"] = np.array(FORMAT)
    arrays["version"] = np.array(VERSION)
    arrays["metadata"] = np.array(json.dumps(result.metadata(), allow_nan=False))
    atomic_savez(path, arrays)


def read_sweep_npz(path: str | os.PathLike[str]) -> SweepResult:
    """Read a result written by :func:`write_sweep_npz` (or raise :class:`SweepFileError`); pickles
    stay disabled."""
    file, archive = read_or_raise(path, load_npz, SWEEP_NPZ_LIMIT, "a sweep", SweepFileError)
    try:
        marker = npz_marker(archive)
        check_marker(file, marker, (FORMAT, VERSION), ("sweep", "sweep format"), SweepFileError)
        metadata = parse_json(str(archive["metadata"][()]), "metadata")
        return SweepResult.from_arrays(metadata, archive)
    except SweepFileError:
        raise
    except FileReadError as error:
        raise SweepFileError(f"{file}: not a gradsim sweep (its {error})") from None
    except (KeyError, ValueError, TypeError, IndexError, AttributeError, OverflowError) as error:
        raise SweepFileError(f"{file}: not a gradsim sweep ({describe_reason(error)})") from None


# -- by extension ----------------------------------------------------------------------------


def write_sweep(path: str | os.PathLike[str], result: SweepResult) -> None:
    """Write the grid as CSV or NPZ, by the extension of ``path``; another extension raises
    ValueError before anything is written."""
    suffix = Path(os.fspath(path)).suffix.lower()
    if suffix == ".csv":
        write_sweep_csv(path, result)
    elif suffix == ".npz":
        write_sweep_npz(path, result)
    else:
        raise ValueError(f"cannot save a sweep as {Path(path).name}: use .csv or .npz")


def read_sweep(path: str | os.PathLike[str]) -> SweepResult | SweepGrid:
    """Read ``.npz`` (a full :class:`SweepResult`) or ``.csv`` (a :class:`SweepGrid`)."""
    readers: dict[str, Callable[[str | os.PathLike[str]], SweepResult | SweepGrid]] = {
        ".npz": read_sweep_npz,
        ".csv": read_sweep_csv,
    }
    return read_by_suffix(path, readers, "a sweep", SweepFileError)
