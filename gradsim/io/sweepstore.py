"""The sweep store: one SQLite database of computed sweep points and of the sweeps themselves.

Every point a sweep computes is kept, keyed by :func:`gradsim.engine.sweep.point_key` (the full
config, iterations and seeds), so a repeated or overlapping sweep, in any window or command-line
run on this machine, takes the points it has from here and computes only the others. Every sweep
is recorded too (what was swept, when, how long, where it ran and its grid), so the Sweep tab and
``gradsim sweep --list`` / ``--show ID`` reopen a past phase diagram without computing anything.

Storage (the standard library's :mod:`sqlite3`):

- WAL journal with ``synchronous=NORMAL``: readers never wait for a writer, and a committed
  transaction survives the process being killed (only a power cut can lose the last ones).
- Each finished chunk of points is written in its own transaction as it arrives, so a sweep
  killed half-way keeps everything it finished.
- Several processes may write at once: a write waits up to ``timeout`` seconds for the lock
  (SQLite's busy timeout), and is retried a few times before the store gives up.
- Lookups read one row by its primary key (the SHA-256 of the point key): nothing is loaded
  into memory, so memory use does not grow with the store.
- Only JSON text, REAL and INTEGER columns; reading parses JSON and validates every value, and
  nothing read is ever executed (no pickle).
- The schema is versioned (``PRAGMA user_version``, with ``PRAGMA application_id`` marking the
  file as a gradsim store); :data:`MIGRATIONS` brings an older store up to date in one
  transaction, and a newer one is refused rather than damaged.

A store that cannot be used (corrupt, locked for longer than the timeout, read-only, of another
program or a newer gradsim) is not an error for a sweep: :class:`SweepStore` keeps a one-line
:attr:`SweepStore.error` and callers run the sweep without it. Its methods raise
:class:`StoreError` (an ``OSError``), which :func:`gradsim.engine.sweep.run_sweep` turns into a
sweep that goes on uncached.

The JSON-folder cache of earlier versions (``points-*.json`` files) is imported once by
:meth:`SweepStore.import_json_folder`; :func:`open_store` does it for the folders the window
and the documentation used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from gradsim.engine.config import ConfigError
from gradsim.engine.sweep import STATUS_NAMES, PointResult, SweepError, SweepResult, SweepSpec, point_key

__all__ = [
    "APPLICATION_ID",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "STORE_FILE_NAME",
    "StoreError",
    "StoreInfo",
    "SweepRecord",
    "SweepStore",
    "default_store_path",
    "format_size",
    "legacy_cache_folders",
    "open_store",
    "user_cache_folder",
]

STORE_FILE_NAME = "sweeps.sqlite"
SCHEMA_VERSION = 1
# "gsim": marks a SQLite file as a gradsim sweep store (PRAGMA application_id).
APPLICATION_ID = 0x6773696D
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


# -- schema -------------------------------------------------------------------------------------------


def _create_version_1(db: sqlite3.Connection) -> None:
    db.execute(
        """CREATE TABLE points (
            key BLOB PRIMARY KEY,       -- SHA-256 of gradsim.engine.sweep.point_key
            value REAL,                 -- mean log10 end-to-end ratio; NULL for NaN
            status INTEGER NOT NULL,    -- gradsim.engine.sweep.STATUS_*
            seed_values TEXT NOT NULL,  -- JSON list, one per seed; null for NaN
            created REAL NOT NULL       -- Unix time it was stored
        ) WITHOUT ROWID"""
    )
    db.execute(
        """CREATE TABLE sweeps (
            id INTEGER PRIMARY KEY,
            started REAL NOT NULL,      -- Unix time
            elapsed REAL,               -- seconds; NULL while running
            ran_on TEXT NOT NULL,       -- local pool, this process or a Dask scheduler
            status TEXT NOT NULL,       -- running, done, cancelled, failed
            spec TEXT NOT NULL,         -- JSON SweepSpec.to_dict(): axes, iterations, seeds, base config
            x_field TEXT NOT NULL, y_field TEXT NOT NULL,
            nx INTEGER NOT NULL, ny INTEGER NOT NULL,
            seeds INTEGER NOT NULL, iterations INTEGER NOT NULL,
            computed_points INTEGER NOT NULL DEFAULT 0,
            cached_points INTEGER NOT NULL DEFAULT 0,
            workers INTEGER NOT NULL DEFAULT 0,
            host TEXT NOT NULL, pid INTEGER NOT NULL,  -- who runs it: tells running from interrupted
            failure TEXT,               -- why it failed
            grid TEXT                   -- JSON of the result's grids when it ended
        )"""
    )
    db.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")


# MIGRATIONS[v] brings a store of schema v to v + 1 (0 is an empty file). A new schema adds a
# function here and bumps SCHEMA_VERSION; old stores are migrated when next opened.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {0: _create_version_1}

# What the code reads: checked on opening, so a damaged store is refused in one line.
EXPECTED_COLUMNS = {
    "points": {"key", "value", "status", "seed_values", "created"},
    "sweeps": {
        "id", "started", "elapsed", "ran_on", "status", "spec", "x_field", "y_field", "nx", "ny", "seeds",
        "iterations", "computed_points", "cached_points", "workers", "host", "pid", "failure", "grid",
    },
    "meta": {"name", "value"},
}  # fmt: skip


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


# -- the store ----------------------------------------------------------------------------------------


def _reason(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    if "locked" in text or "busy" in text:
        return f"locked by another program ({text})"
    if "readonly" in text or "read-only" in text:
        return f"read-only ({text})"
    if "not a database" in text or "malformed" in text:
        return f"damaged or not a database ({text})"
    return text


def _is_busy(error: sqlite3.Error) -> bool:
    text = str(error)
    return "locked" in text or "busy" in text


class SweepStore:
    """The points and sweeps of one SQLite file (see the module docstring).

    Opening never raises: if the file cannot be used, :attr:`error` says why in one line,
    :attr:`available` is False and every method raises :class:`StoreError` with that line.
    Safe to share between threads (one connection, used under a lock) and between processes
    (SQLite's locking). Implements :class:`gradsim.engine.sweep.PointCache` (``get``,
    ``put_many``) and :class:`gradsim.engine.sweep.SweepJournal` (``begin_sweep``,
    ``end_sweep``).

    Parameters
    ----------
    path : the database file (created, with its folder, if missing)
    timeout : seconds a read or write waits for another process's lock
    """

    def __init__(self, path: str | os.PathLike[str], timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.path = Path(os.fspath(path))
        self.timeout = timeout
        self.error: str | None = None
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        try:
            self._db = self._open()
        except StoreError as error:
            self.error = str(error)

    # -- opening -----------------------------------------------------------------------------
    @property
    def available(self) -> bool:
        """True if the store opened and can be read and written."""
        return self._db is not None

    def _fail(self, error: BaseException) -> StoreError:
        return StoreError(f"sweep store {self.path}: {_reason(error)}")

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            reason = error.strerror or str(error)
            raise StoreError(f"sweep store {self.path}: cannot create its folder ({reason})") from None
        if self.path.is_dir():
            raise StoreError(f"sweep store {self.path}: is a folder, not a file")
        try:
            db = sqlite3.connect(
                os.fspath(self.path), timeout=self.timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as error:
            raise self._fail(error) from None
        try:
            self._prepare(db)
        except sqlite3.Error as error:
            db.close()
            raise self._fail(error) from None
        except StoreError:
            db.close()
            raise
        return db

    def _prepare(self, db: sqlite3.Connection) -> None:
        """Check the file is a gradsim store of a schema this code reads; create or migrate it;
        make sure it can be written."""
        application = db.execute("PRAGMA application_id").fetchone()[0]
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if application != APPLICATION_ID and (application != 0 or tables):
            raise StoreError(
                f"sweep store {self.path}: not a gradsim sweep store (a database of another program)"
            )
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"sweep store {self.path}: written by a newer gradsim (schema {version}; this one reads "
                f"up to {SCHEMA_VERSION}); use another file with --store"
            )
        # WAL is a property of the file: set once, kept by every later connection.
        if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        if version < SCHEMA_VERSION:
            self._migrate(db)
        self._check_columns(db)
        # A read-only file opens and reads fine; find out now, not at the first point.
        self._write(lambda d: d.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('opened', ?)",
                                        (repr(time.time()),)), db)  # fmt: skip

    def _migrate(self, db: sqlite3.Connection) -> None:
        def migrate(d: sqlite3.Connection) -> None:
            # Read again inside the write lock: another process may have migrated meanwhile.
            version = d.execute("PRAGMA user_version").fetchone()[0]
            while version < SCHEMA_VERSION:
                MIGRATIONS[version](d)
                version += 1
            d.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            d.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

        self._write(migrate, db)

    def _check_columns(self, db: sqlite3.Connection) -> None:
        for table, expected in EXPECTED_COLUMNS.items():
            columns = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
            missing = expected - columns
            if missing:
                what = "is missing" if not columns else f"lacks the columns {', '.join(sorted(missing))}"
                raise StoreError(f"sweep store {self.path}: damaged (the table {table} {what})")

    # -- reading and writing -----------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError(self.error or f"sweep store {self.path}: closed")
        return self._db

    def _retrying(self, work: Callable[[sqlite3.Connection], T], db: sqlite3.Connection | None = None) -> T:
        """``work(connection)``, tried again after a short pause while another process holds the
        lock past the busy timeout; any other SQLite error is a :class:`StoreError` at once."""
        with self._lock:
            connection = db if db is not None else self._connection()
            for attempt in range(ATTEMPTS):
                try:
                    return work(connection)
                except sqlite3.Error as error:
                    if _is_busy(error) and attempt + 1 < ATTEMPTS:
                        time.sleep(0.05 * (attempt + 1))
                        continue
                    raise self._fail(error) from None
            raise AssertionError("unreachable")

    def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return self._retrying(work)

    def _write(self, work: Callable[[sqlite3.Connection], T], db: sqlite3.Connection | None = None) -> T:
        """Run ``work`` in one write transaction (see :meth:`_retrying`)."""

        def transaction(connection: sqlite3.Connection) -> T:
            # IMMEDIATE takes the write lock at the start, so the busy timeout applies to it
            # (a deferred transaction that upgrades later can fail without waiting).
            connection.execute("BEGIN IMMEDIATE")
            try:
                value = work(connection)
                connection.execute("COMMIT")
                return value
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise

        return self._retrying(transaction, db)

    # -- points (gradsim.engine.sweep.PointCache) --------------------------------------------
    def get(self, key: str) -> PointResult | None:
        """The point stored under ``key`` (a :func:`~gradsim.engine.sweep.point_key`), or None.

        A row that does not hold a valid point counts as missing (it is recomputed and replaced).
        """
        digest = _digest(key)
        row = self._read(
            lambda db: db.execute(
                "SELECT value, status, seed_values FROM points WHERE key = ?", (digest,)
            ).fetchone()
        )
        return None if row is None else _point_from_row(row)

    def put_many(self, items: Sequence[tuple[str, PointResult]]) -> None:
        """Store points (replacing equal keys) in one transaction."""
        if not items:
            return
        now = time.time()
        # Sorted keys fill the B-tree page by page: a large batch inserts several times faster.
        rows = sorted((_point_row(key, point, now) for key, point in items), key=lambda row: row[0])
        self._write(
            lambda db: db.executemany(
                _INSERT_POINTS.format(conflict="REPLACE"),
                rows,
            )
        )

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

    # -- housekeeping ------------------------------------------------------------------------
    def size_bytes(self) -> int:
        """Bytes on disk: the database and its WAL and shared-memory files (no query)."""
        total = 0
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                total += os.path.getsize(f"{self.path}{suffix}")
        return total

    def info(self) -> StoreInfo:
        """Size, points, sweeps and schema version (counting reads every row: not for a GUI thread
        on a big store)."""

        def count(db: sqlite3.Connection) -> tuple[int, int, int]:
            points = db.execute("SELECT count(*) FROM points").fetchone()[0]
            sweeps = db.execute("SELECT count(*) FROM sweeps").fetchone()[0]
            return points, sweeps, db.execute("PRAGMA user_version").fetchone()[0]

        points, sweeps, version = self._read(count)
        return StoreInfo(self.path, self.size_bytes(), int(points), int(sweeps), int(version))

    def clear(self, older_than_days: float | None = None) -> tuple[int, int]:
        """Delete points and sweeps (all of them, or those stored more than ``older_than_days``
        days ago) and give the space back to the file system.

        Returns
        -------
        (points deleted, sweeps deleted)
        """
        if older_than_days is not None and not (math.isfinite(older_than_days) and older_than_days >= 0):
            raise ValueError(f"--older-than must be a number of days, 0 or more (got {older_than_days!r})")
        cutoff = math.inf if older_than_days is None else time.time() - older_than_days * 86400.0

        def delete(db: sqlite3.Connection) -> tuple[int, int]:
            points = db.execute("DELETE FROM points WHERE created < ?", (cutoff,)).rowcount
            sweeps = db.execute("DELETE FROM sweeps WHERE started < ?", (cutoff,)).rowcount
            return int(points), int(sweeps)

        deleted = self._write(delete)
        with self._lock, contextlib.suppress(sqlite3.Error):
            # Shrink the file; skipped (the space is reused) while another process reads it.
            connection = self._connection()
            connection.execute("VACUUM")
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return deleted

    # -- the old JSON-folder cache -----------------------------------------------------------
    def import_json_folder(self, folder: str | os.PathLike[str]) -> int:
        """Import the points of an old JSON-folder cache, once per folder; returns how many.

        Files that are not readable caches are skipped. The folder is left as it is (deleting
        it is safe once imported); importing it again does nothing.
        """
        location = Path(os.fspath(folder)).resolve()
        marker = f"imported {location}"
        done = self._read(lambda db: db.execute("SELECT 1 FROM meta WHERE name = ?", (marker,)).fetchone())
        if done is not None or not location.is_dir():
            return 0
        points: dict[str, PointResult] = {}
        for path in sorted(location.glob(LEGACY_FILE_PATTERN)):
            points.update(_read_json_cache_file(path))
        now = time.time()
        rows = sorted((_point_row(key, point, now) for key, point in points.items()), key=lambda row: row[0])

        def store(db: sqlite3.Connection) -> None:
            db.executemany(
                _INSERT_POINTS.format(conflict="IGNORE"),
                rows,
            )
            db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (marker, str(len(rows))))

        self._write(store)
        return len(rows)

    def close(self) -> None:
        """Close the database (idempotent)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
                self.error = self.error or f"sweep store {self.path}: closed"

    def __enter__(self) -> SweepStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read_json_cache_file(path: Path) -> dict[str, PointResult]:
    """The points of one ``points-*.json`` file of the old cache ({} if it is not one)."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        if not isinstance(data, dict) or data.get("format") != LEGACY_FORMAT_NAME:
            return {}
        points = {}
        for key, value in data["points"].items():
            point = PointResult.from_json(value)
            if not isinstance(key, str) or point.status not in STATUS_NAMES:
                return {}
            points[key] = point
        return points
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return {}


def open_store(
    path: str | os.PathLike[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    legacy_folders: Iterable[str | os.PathLike[str]] | None = None,
) -> SweepStore:
    """The store at ``path`` (default: :func:`default_store_path`), with the old JSON caches
    imported on first use.

    ``legacy_folders`` default to :func:`legacy_cache_folders` for the default store and to none
    for a store given by path. Never raises: check :attr:`SweepStore.error`.
    """
    store = SweepStore(default_store_path() if path is None else path, timeout)
    if legacy_folders is None:
        legacy_folders = legacy_cache_folders() if path is None else []
    if store.available:
        for folder in legacy_folders:
            with contextlib.suppress(StoreError):
                store.import_json_folder(folder)
    return store
