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

Where the code lives: the store's place on disk and its rows (points, grids, sweep records) in
:mod:`gradsim.io.sweepstore_rows`; the sweeps it records (:class:`SweepJournalMixin`: begin, end,
list, reopen) in :mod:`gradsim.io.sweepstore_journal`; the file, its schema and its points here.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from gradsim.engine.sweep import STATUS_NAMES, PointResult

from .sweepstore_journal import SweepJournalMixin
from .sweepstore_rows import (
    _INSERT_POINTS,
    ATTEMPTS,
    DEFAULT_TIMEOUT_SECONDS,
    LEGACY_FILE_PATTERN,
    LEGACY_FORMAT_NAME,
    STORE_FILE_NAME,
    StoreError,
    StoreInfo,
    SweepRecord,
    T,
    _digest,
    _point_from_row,
    _point_row,
    default_store_path,
    format_size,
    legacy_cache_folders,
    user_cache_folder,
)

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

SCHEMA_VERSION = 1
# "gsim": marks a SQLite file as a gradsim sweep store (PRAGMA application_id).
APPLICATION_ID = 0x6773696D
# The first 16 bytes of every SQLite 3 database file.
SQLITE_HEADER = b"SQLite format 3\x00"


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


def _empty_or_sqlite(path: Path) -> bool:
    """Whether ``path`` is missing, empty, or begins with SQLite's header: a file that may become
    or already is a database. Any other file is someone's data, never to be opened as a store."""
    try:
        with open(path, "rb") as handle:
            start = handle.read(len(SQLITE_HEADER))
    except OSError:  # missing (a store to create), or unreadable: SQLite says why in its own words
        return True
    return not start or start == SQLITE_HEADER


def _is_busy(error: sqlite3.Error) -> bool:
    text = str(error)
    return "locked" in text or "busy" in text


class SweepStore(SweepJournalMixin):
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
        if not _empty_or_sqlite(self.path):
            # SQLite takes a file shorter than its header for an empty database and overwrites it.
            raise self._fail(sqlite3.DatabaseError("file is not a database"))
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
