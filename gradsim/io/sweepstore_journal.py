"""The sweeps a store records: begun, ended, listed and reopened as phase diagrams.

Part of the sweep store (:mod:`gradsim.io.sweepstore`): :class:`SweepJournalMixin` holds the
methods of :class:`gradsim.io.sweepstore.SweepStore` that implement
:class:`gradsim.engine.sweep.SweepJournal` and read the recorded sweeps back; the store gives it
its locked reads and writes and its points.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from gradsim.engine.config import ConfigError
from gradsim.engine.sweep import PointResult, SweepError, SweepResult, SweepSpec, point_key

from .sweepstore_rows import (
    SWEEP_STATUSES,
    StoreError,
    SweepRecord,
    T,
    _decode_grid,
    _encode_grid,
    _process_alive,
)


class SweepJournalMixin:
    """The recorded sweeps of a :class:`gradsim.io.sweepstore.SweepStore` (see the module docstring).

    The store provides what these methods stand on: its ``path``, its locked, retrying reads and
    write transactions (``_read``, ``_write``) and its points (``get``).
    """

    path: Path

    def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    def _write(self, work: Callable[[sqlite3.Connection], T], db: sqlite3.Connection | None = None) -> T:
        raise NotImplementedError

    def get(self, key: str) -> PointResult | None:
        raise NotImplementedError

    # -- sweeps (gradsim.engine.sweep.SweepJournal) ------------------------------------------
    def begin_sweep(self, spec: SweepSpec, ran_on: str, started: float) -> int:
        """Record a sweep that starts (``started``: Unix time); returns its id."""
        ny, nx = spec.shape
        row = (
            started, ran_on, "running", json.dumps(spec.to_dict(), allow_nan=False), spec.x.field,
            spec.y.field, nx, ny, len(spec.seeds), spec.iterations,  # type: ignore[arg-type]
            socket.gethostname(), os.getpid(),
        )  # fmt: skip
        return int(
            self._write(  # type: ignore[arg-type]  # an INSERT always sets lastrowid
                lambda db: (
                    db.execute(
                        "INSERT INTO sweeps (started, ran_on, status, spec, x_field, y_field, nx, ny, seeds, "
                        "iterations, host, pid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        row,
                    ).lastrowid
                )
            )
        )

    def end_sweep(self, sweep_id: int, result: SweepResult, failure: str | None = None) -> None:
        """Record how a sweep ended: its grid, time, counts, and why it failed if it did."""
        status = "failed" if failure else "cancelled" if result.cancelled else "done"
        row = (
            status, result.elapsed_seconds, result.ran_on, result.computed_points, result.cached_points,
            result.workers, failure, _encode_grid(result), sweep_id,
        )  # fmt: skip
        self._write(
            lambda db: db.execute(
                "UPDATE sweeps SET status = ?, elapsed = ?, ran_on = ?, computed_points = ?, "
                "cached_points = ?, workers = ?, failure = ?, grid = ? WHERE id = ?",
                row,
            )
        )

    def sweeps(self, limit: int | None = 100) -> list[SweepRecord]:
        """Recorded sweeps, newest first (rows that do not read back are left out)."""
        rows = self._read(
            lambda db: db.execute(
                "SELECT id, started, elapsed, ran_on, status, x_field, y_field, ny, nx, seeds, iterations, "
                "computed_points, cached_points, failure, host, pid FROM sweeps ORDER BY id DESC LIMIT ?",
                (-1 if limit is None else int(limit),),
            ).fetchall()
        )
        records = []
        host = socket.gethostname()
        for row in rows:
            record = self._record(row, host)
            if record is not None:
                records.append(record)
        return records

    @staticmethod
    def _record(row: tuple[Any, ...], host: str) -> SweepRecord | None:
        (sweep_id, started, elapsed, ran_on, status, x_field, y_field, ny, nx, seeds, iterations,
         computed, cached, failure, row_host, pid) = row  # fmt: skip
        numbers = (sweep_id, ny, nx, seeds, iterations, computed, cached, pid)
        if any(isinstance(v, bool) or not isinstance(v, int) for v in numbers):
            return None
        if not isinstance(started, (int, float)) or not (
            elapsed is None or isinstance(elapsed, (int, float))
        ):
            return None
        texts = (ran_on, status, x_field, y_field, row_host)
        if any(not isinstance(v, str) for v in texts) or status not in SWEEP_STATUSES:
            return None
        if status == "running" and row_host == host and not _process_alive(pid):
            status = "interrupted"
        return SweepRecord(
            sweep_id, float(started), None if elapsed is None else float(elapsed), ran_on, status,
            x_field, y_field, (ny, nx), seeds, iterations, computed, cached,
            failure if isinstance(failure, str) else None,
        )  # fmt: skip

    def sweep(self, sweep_id: int) -> SweepRecord:
        """The record of one sweep.

        Raises
        ------
        StoreError
            No such sweep, or its row is damaged.
        """
        row = self._read(
            lambda db: db.execute(
                "SELECT id, started, elapsed, ran_on, status, x_field, y_field, ny, nx, seeds, iterations, "
                "computed_points, cached_points, failure, host, pid FROM sweeps WHERE id = ?",
                (int(sweep_id),),
            ).fetchone()
        )
        if row is None:
            raise StoreError(f"sweep store {self.path}: no sweep #{sweep_id} (see gradsim sweep --list)")
        record = self._record(row, socket.gethostname())
        if record is None:
            raise StoreError(f"sweep store {self.path}: the record of sweep #{sweep_id} is damaged")
        return record

    def open_sweep(self, sweep_id: int) -> SweepResult:
        """A recorded sweep's result, equal bit for bit to the one it returned.

        A sweep that never ended (killed, or still running elsewhere) is rebuilt from its points
        in the store: the cells computed so far.

        Raises
        ------
        StoreError
            No such sweep, or its record does not read back.
        """
        record = self.sweep(sweep_id)
        row = self._read(
            lambda db: db.execute(
                "SELECT spec, grid, workers FROM sweeps WHERE id = ?", (int(sweep_id),)
            ).fetchone()
        )
        spec_text, grid_text, workers = row
        try:
            spec = SweepSpec.from_dict(json.loads(spec_text))
            if grid_text is not None:
                arrays = _decode_grid(grid_text, spec)
            else:
                arrays = self._grid_from_points(spec)
        except (ValueError, TypeError, KeyError, SweepError, ConfigError, RecursionError) as error:
            raise StoreError(
                f"sweep store {self.path}: sweep #{sweep_id} does not read back ({error})"
            ) from None
        return SweepResult(
            spec,
            arrays["values"],
            arrays["status"],
            arrays["seed_values"],
            arrays["computed"],
            cancelled=record.status in ("cancelled", "interrupted", "failed"),
            elapsed_seconds=record.elapsed_seconds or 0.0,
            computed_points=record.computed_points,
            cached_points=record.cached_points,
            workers=int(workers) if isinstance(workers, int) else 0,
            ran_on=record.ran_on,
            sweep_id=record.id,
        )

    def _grid_from_points(self, spec: SweepSpec) -> dict[str, np.ndarray]:
        ny, nx = spec.shape
        seeds: tuple[int, ...] = spec.seeds  # type: ignore[assignment]
        arrays = {
            "values": np.full((ny, nx), np.nan),
            "status": np.zeros((ny, nx), dtype=np.int8),
            "seed_values": np.full((ny, nx, len(seeds)), np.nan),
            "computed": np.zeros((ny, nx), dtype=bool),
        }
        for row, column in spec.indices():
            point = self.get(point_key(spec.config_at(row, column), spec.iterations, seeds))
            if point is not None and len(point.seed_values) == len(seeds):
                arrays["values"][row, column] = point.value
                arrays["status"][row, column] = point.status
                arrays["seed_values"][row, column] = point.seed_values
                arrays["computed"][row, column] = True
        return arrays
