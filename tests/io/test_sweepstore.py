"""The sweep store: points and sweeps read back bit for bit, several processes write at once,
hostile files give one line, old JSON caches are imported once, housekeeping."""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import scale_by_length_grid, scale_by_length_sweep

from gradsim.engine.sweep import (
    STATUS_OK,
    STATUS_OVERFLOW,
    PointResult,
    SweepResult,
    point_key,
    run_sweep,
)
from gradsim.io import sweepstore
from gradsim.io.sweepstore import (
    APPLICATION_ID,
    SCHEMA_VERSION,
    StoreError,
    SweepStore,
    default_store_path,
    format_size,
    legacy_cache_folders,
    open_store,
)

# ok points, an overflowing one (50^400), and 0.01^400: 1e-800, a value (log10 norms are exact
# below float64), not a vanished point.
SPEC = scale_by_length_sweep("linear")
BASE = SPEC.base


@pytest.fixture(scope="module")
def reference() -> SweepResult:
    computed = scale_by_length_grid("linear")
    assert not computed.vanished.any()
    assert np.nanmin(computed.values) < -700
    return computed


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def assert_same_grid(a: SweepResult, b: SweepResult) -> None:
    for name in ("values", "status", "seed_values", "computed"):
        assert same_bits(getattr(a, name), getattr(b, name)), name


# -- points ------------------------------------------------------------------------------------
def test_points_read_back_bit_for_bit_by_key(tmp_path: Path) -> None:
    store = SweepStore(tmp_path / "s.sqlite")
    assert store.available and store.error is None
    points = {
        "a": PointResult(-1.2345678901234567, STATUS_OK, (-1.0000000000000002, -1.4691357802469132)),
        "b": PointResult(math.nan, STATUS_OVERFLOW, (math.nan, 3.0)),
        "c": PointResult(5e-324, STATUS_OK, (math.inf, -math.inf)),
    }
    store.put_many(list(points.items()))
    again = SweepStore(tmp_path / "s.sqlite")  # another connection: what is on disk
    for key, point in points.items():
        got = again.get(key)
        assert got is not None and got.status == point.status
        assert (
            np.array([got.value, *got.seed_values]).tobytes()
            == np.array([point.value, *point.seed_values]).tobytes()
        )
    assert again.get("d") is None
    # Equal keys replace (every point once): the store holds three rows.
    store.put_many([("a", points["a"])])
    assert again.info().points == 3


def test_the_file_is_a_versioned_wal_database_keyed_by_the_point_key(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = SweepStore(path)
    key = point_key(BASE, 0, (0, 1))
    store.put_many([(key, PointResult(0.5, STATUS_OK, (0.25, 0.75)))])
    store.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 1
    row = db.execute("SELECT key, value, status, seed_values FROM points").fetchone()
    assert row == (hashlib.sha256(key.encode()).digest(), 0.5, 0, "[0.25, 0.75]")
    db.close()


def test_a_row_that_is_not_a_point_is_a_miss_and_is_recomputed(
    tmp_path: Path, reference: SweepResult
) -> None:
    path = tmp_path / "s.sqlite"
    store = SweepStore(path)
    run_sweep(SPEC, workers=0, cache=store)
    db = sqlite3.connect(path)
    # Rows someone else wrote: text for a number, an unknown status, JSON that is not a list,
    # something that is not JSON at all (a pickle would be read as text and refused, never run).
    keys = [row[0] for row in db.execute("SELECT key FROM points ORDER BY key")]
    db.execute("UPDATE points SET value = 'not a number' WHERE key = ?", (keys[0],))
    db.execute("UPDATE points SET status = 99 WHERE key = ?", (keys[1],))
    db.execute("UPDATE points SET seed_values = '{\"a\": 1}' WHERE key = ?", (keys[2],))
    db.execute("UPDATE points SET seed_values = ? WHERE key = ?", ("cos\nsystem\n(S'echo hi'\ntR.", keys[3]))
    db.commit()
    db.close()
    again = run_sweep(SPEC, workers=0, cache=SweepStore(path))
    assert (again.computed_points, again.cached_points) == (4, SPEC.size - 4)
    assert_same_grid(again, reference)
    # The recomputed points replaced the bad rows.
    assert run_sweep(SPEC, workers=0, cache=SweepStore(path)).computed_points == 0


# -- sweeps ------------------------------------------------------------------------------------
def test_a_reopened_sweep_equals_the_original_bit_for_bit(tmp_path: Path, reference: SweepResult) -> None:
    path = tmp_path / "s.sqlite"
    store = SweepStore(path)
    first = run_sweep(SPEC, workers=0, cache=store, journal=store)
    assert first.sweep_id == 1 and first.computed_points == SPEC.size
    second = run_sweep(SPEC, workers=0, cache=store, journal=store)
    assert second.sweep_id == 2 and (second.computed_points, second.cached_points) == (0, SPEC.size)
    store.close()

    store = SweepStore(path)  # a new session
    records = store.sweeps()
    assert [r.id for r in records] == [2, 1] and [r.status for r in records] == ["done", "done"]
    assert records[1].ran_on == "this process" and records[0].ran_on == "cache"
    assert (records[1].shape, records[1].seeds, records[1].iterations) == ((2, 4), 2, 0)
    assert records[1].x_field == "weight_scale" and records[1].computed_points == SPEC.size
    assert "weight_scale × seq_len  4 × 2, 2 seeds, at init  done in" in records[1].describe()
    assert records[0].describe().endswith("all from the cache")
    reopened = store.open_sweep(1)
    assert_same_grid(reopened, first)
    assert_same_grid(reopened, reference)
    assert reopened.spec == SPEC and reopened.sweep_id == 1 and not reopened.cancelled
    assert (reopened.computed_points, reopened.ran_on) == (SPEC.size, "this process")
    assert reopened.elapsed_seconds == pytest.approx(first.elapsed_seconds)
    with pytest.raises(StoreError, match=r"no sweep #7 \(see gradsim sweep --list\)"):
        store.open_sweep(7)


def test_a_cancelled_sweep_is_recorded_partial(tmp_path: Path) -> None:
    store = SweepStore(tmp_path / "s.sqlite")
    calls = []
    result = run_sweep(
        SPEC, workers=0, cache=store, journal=store, cancel=lambda: calls.append(1) or len(calls) > 3
    )
    assert result.cancelled and result.computed.sum() == 3
    record = store.sweeps()[0]
    assert record.status == "cancelled" and record.computed_points == 3
    reopened = store.open_sweep(record.id)
    assert reopened.cancelled and same_bits(reopened.computed, result.computed)
    assert same_bits(reopened.values, result.values)


def test_ctrl_c_records_the_sweep_cancelled_and_a_failure_records_why(tmp_path: Path) -> None:
    store = SweepStore(tmp_path / "s.sqlite")
    reports = []

    def interrupt(report) -> None:
        reports.append(report)
        if len(reports) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(SPEC, workers=0, cache=store, journal=store, progress=interrupt)
    record = store.sweeps()[0]
    assert record.status == "cancelled" and record.failure is None
    assert store.open_sweep(record.id).computed.sum() == reports[-1].done < SPEC.size

    def fail(report) -> None:
        raise RuntimeError("the display went away")

    with pytest.raises(RuntimeError):
        run_sweep(
            SPEC.__class__(BASE, SPEC.x, SPEC.y, 1, 1), workers=0, cache=store, journal=store, progress=fail
        )
    record = store.sweeps()[0]
    assert record.status == "failed" and record.failure == "RuntimeError: the display went away"
    assert "failed in" in record.describe()


def test_a_sweep_that_never_ended_is_interrupted_and_reopens_from_its_points(
    tmp_path: Path, reference: SweepResult
) -> None:
    store = SweepStore(tmp_path / "s.sqlite")
    sweep_id = store.begin_sweep(SPEC, "this process", time.time())
    assert store.sweep(sweep_id).status == "running"  # this process is alive
    done = [(0, 1), (1, 2), (1, 3)]
    store.put_many(
        [
            (
                point_key(SPEC.config_at(r, c), 0, SPEC.seeds),  # type: ignore[arg-type]
                PointResult(
                    reference.values[r, c], int(reference.status[r, c]), tuple(reference.seed_values[r, c])
                ),
            )
            for r, c in done
        ]
    )
    # Its process died (a pid that just exited) without recording the end.
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE sweeps SET pid = ? WHERE id = ?", (int(finished.stdout), sweep_id))
    assert store.sweep(sweep_id).status == "interrupted"
    reopened = store.open_sweep(sweep_id)
    assert reopened.cancelled and sorted(zip(*np.nonzero(reopened.computed), strict=True)) == done
    for r, c in done:
        assert reopened.values[r, c].tobytes() == reference.values[r, c].tobytes()


def test_a_damaged_sweep_record_is_left_out_of_the_list_and_refused_on_opening(tmp_path: Path) -> None:
    store = SweepStore(tmp_path / "s.sqlite")
    run_sweep(SPEC, workers=0, cache=store, journal=store)
    run_sweep(SPEC, workers=0, cache=store, journal=store)
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE sweeps SET nx = 'many' WHERE id = 1")
        db.execute("UPDATE sweeps SET grid = '[1, 2' WHERE id = 2")
    assert [r.id for r in store.sweeps()] == [2]
    with pytest.raises(StoreError, match="record of sweep #1 is damaged"):
        store.open_sweep(1)
    with pytest.raises(StoreError, match="sweep #2 does not read back"):
        store.open_sweep(2)


# -- several processes -------------------------------------------------------------------------
def synthetic_point(index: int) -> PointResult:
    return PointResult(index / 7.0, STATUS_OK, (index / 3.0, -index / 11.0))


def write_points(path: str, start: int, stop: int, go: multiprocessing.synchronize.Event) -> None:
    """Child process: store points start..stop-1, ten per transaction, as a sweep would."""
    store = SweepStore(path, timeout=10.0)
    assert store.available, store.error
    go.wait(60)
    for first in range(start, stop, 10):
        store.put_many([(f"point {i}", synthetic_point(i)) for i in range(first, min(first + 10, stop))])
    store.close()


def test_two_processes_writing_overlapping_points_end_with_every_point_once(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.sqlite")
    SweepStore(path).close()  # created first, so both children open an existing store
    context = multiprocessing.get_context("spawn")
    go = context.Event()
    # 0..1199 and 600..1799 overlap on 600..1199, written in the same order, in 120 transactions each.
    children = [
        context.Process(target=write_points, args=(path, a, b, go)) for a, b in ((0, 1200), (600, 1800))
    ]
    for child in children:
        child.start()
    go.set()
    for child in children:
        child.join(120)
    assert [child.exitcode for child in children] == [0, 0]
    store = SweepStore(path)
    assert store.info().points == 1800
    for index in range(1800):
        assert store.get(f"point {index}") == synthetic_point(index)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(DISTINCT key) FROM points").fetchone()[0] == 1800


# -- hostile stores ----------------------------------------------------------------------------
def assert_unusable_but_the_sweep_runs(path: Path, reason: str, reference: SweepResult, **kwargs) -> str:
    store = SweepStore(path, **kwargs)
    assert not store.available and store.error is not None
    assert "\n" not in store.error and store.error.startswith(f"sweep store {path}: ")
    assert reason in store.error
    with pytest.raises(StoreError):
        store.get("anything")
    # The caller runs the sweep without it (what the CLI and the tab do).
    result = run_sweep(SPEC, workers=0, cache=None)
    assert_same_grid(result, reference)
    return store.error


def test_a_corrupt_store_is_one_line(tmp_path: Path, reference: SweepResult) -> None:
    path = tmp_path / "corrupt.sqlite"
    path.write_bytes(b"\x00garbage" * 500)
    message = assert_unusable_but_the_sweep_runs(path, "damaged or not a database", reference)
    assert "file is not a database" in message
    # A real store whose pages were overwritten half-way.
    damaged = tmp_path / "damaged.sqlite"
    store = SweepStore(damaged)
    store.put_many([(f"k{i}", synthetic_point(i)) for i in range(3000)])
    store.close()
    data = bytearray(damaged.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # the schema page
    damaged.write_bytes(bytes(data))
    assert_unusable_but_the_sweep_runs(damaged, "damaged", reference)


@pytest.mark.parametrize("content", [b"x", b"notes\n", b"SQLite format 2\x00", b"\x00" * 99])
def test_a_short_file_that_is_not_sqlite_is_refused_and_left_as_it_is(tmp_path: Path, content: bytes) -> None:
    # SQLite takes a file shorter than its 100-byte header for an empty database and writes a
    # store over it; a user's file must never be lost to a mistyped --store.
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    store = SweepStore(path)
    assert not store.available
    assert store.error == f"sweep store {path}: damaged or not a database (file is not a database)"
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]  # no -wal or -shm beside it


def test_an_empty_file_becomes_a_store(tmp_path: Path) -> None:
    path = tmp_path / "empty.sqlite"
    path.touch()
    with SweepStore(path) as store:
        assert store.available and store.info().points == 0
    assert path.read_bytes().startswith(b"SQLite format 3\x00")


def test_a_store_locked_by_another_program_is_one_line_after_the_timeout(
    tmp_path: Path, reference: SweepResult
) -> None:
    path = tmp_path / "locked.sqlite"
    SweepStore(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO meta (name, value) VALUES ('held', 'yes')")
    try:
        message = assert_unusable_but_the_sweep_runs(
            path, "locked by another program", reference, timeout=0.2
        )
        assert "database is locked" in message
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert SweepStore(path).available  # once released, it works again


def test_a_read_only_store_is_one_line(tmp_path: Path, reference: SweepResult, monkeypatch) -> None:
    path = tmp_path / "read-only.sqlite"
    store = SweepStore(path)
    store.put_many([("k", synthetic_point(1))])
    store.close()
    if os.geteuid() == 0:
        # root writes through file permissions: open it the way SQLite opens an unwritable file.
        real_connect = sqlite3.connect
        monkeypatch.setattr(
            sweepstore.sqlite3,
            "connect",
            lambda database, **kw: real_connect(f"file:{database}?mode=ro", uri=True, **kw),
        )
    else:
        path.chmod(0o444)
        tmp_path.chmod(0o555)
    try:
        assert_unusable_but_the_sweep_runs(path, "read-only", reference)
    finally:
        tmp_path.chmod(0o755)
        path.chmod(0o644)


def test_stores_of_another_schema_are_refused_without_being_changed(
    tmp_path: Path, reference: SweepResult
) -> None:
    newer = tmp_path / "newer.sqlite"
    SweepStore(newer).close()
    with sqlite3.connect(newer) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    message = assert_unusable_but_the_sweep_runs(newer, "written by a newer gradsim", reference)
    assert f"schema {SCHEMA_VERSION + 1}; this one reads up to {SCHEMA_VERSION}" in message

    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE accounts (name TEXT)")
    before = other.read_bytes()
    assert_unusable_but_the_sweep_runs(other, "not a gradsim sweep store", reference)
    assert other.read_bytes() == before

    damaged = tmp_path / "damaged-schema.sqlite"
    SweepStore(damaged).close()
    with sqlite3.connect(damaged) as db:
        db.execute("ALTER TABLE points RENAME COLUMN seed_values TO seeds")
    assert_unusable_but_the_sweep_runs(
        damaged, "damaged (the table points lacks the columns seed_values)", reference
    )

    folder = tmp_path / "a-folder.sqlite"
    folder.mkdir()
    assert_unusable_but_the_sweep_runs(folder, "is a folder", reference)


def test_a_store_failing_during_a_sweep_costs_the_cache_not_the_result(
    tmp_path: Path, reference: SweepResult
) -> None:
    store = SweepStore(tmp_path / "s.sqlite")
    store.close()  # every call now raises StoreError (an OSError)
    result = run_sweep(SPEC, workers=0, cache=store, journal=store)
    assert_same_grid(result, reference)
    assert result.cache_error is not None and "closed" in result.cache_error


# -- schema migration --------------------------------------------------------------------------
def test_an_older_store_is_migrated_in_place_keeping_its_points(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "s.sqlite"
    store = SweepStore(path)
    run_sweep(SPEC, workers=0, cache=store, journal=store)
    store.close()

    def add_note_column(db: sqlite3.Connection) -> None:
        db.execute("ALTER TABLE sweeps ADD COLUMN note TEXT")

    monkeypatch.setattr(sweepstore, "SCHEMA_VERSION", 2)
    monkeypatch.setitem(sweepstore.MIGRATIONS, 1, add_note_column)
    migrated = SweepStore(path)
    assert migrated.available, migrated.error
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2
        assert "note" in {row[1] for row in db.execute("PRAGMA table_info(sweeps)")}
    assert run_sweep(SPEC, workers=0, cache=migrated).computed_points == 0
    assert migrated.open_sweep(1).computed.all()


# -- the old JSON-folder cache -----------------------------------------------------------------
def write_json_cache(folder: Path, result: SweepResult, name: str = "points-0123.json") -> None:
    """A file exactly as the old DiskPointCache wrote it."""
    points = {}
    for row, column in SPEC.indices():
        key = point_key(SPEC.config_at(row, column), 0, SPEC.seeds)  # type: ignore[arg-type]
        point = PointResult(
            float(result.values[row, column]),
            int(result.status[row, column]),
            tuple(float(v) for v in result.seed_values[row, column]),
        )
        points[key] = point.to_json()
    folder.mkdir(parents=True, exist_ok=True)
    data = {"format": "gradsim-sweep-cache", "version": 1, "points": points}
    (folder / name).write_text(json.dumps(data, allow_nan=False, separators=(",", ":")))


def test_an_old_json_folder_is_imported_once(tmp_path: Path, reference: SweepResult) -> None:
    folder = tmp_path / "sweep-points"
    write_json_cache(folder, reference)
    (folder / "points-bad.json").write_text("{not json")
    (folder / "points-other.json").write_text(json.dumps({"format": "something else", "points": {"k": 1}}))
    store = open_store(tmp_path / "s.sqlite", legacy_folders=[folder])
    assert store.info().points == SPEC.size
    result = run_sweep(SPEC, workers=0, cache=store)
    assert (result.computed_points, result.cached_points) == (0, SPEC.size)
    assert_same_grid(result, reference)
    # Once: a second opening imports nothing, even after the store was cleared.
    store.clear()
    assert store.import_json_folder(folder) == 0 and store.info().points == 0
    assert open_store(tmp_path / "s.sqlite", legacy_folders=[folder]).info().points == 0


def test_the_default_store_lives_in_the_user_cache_and_imports_the_window_cache(
    tmp_path: Path, monkeypatch, reference: SweepResult
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert default_store_path() == tmp_path / "cache" / "gradsim" / "sweeps.sqlite"
    # Where the window's JSON cache was (Qt's cache location for gradsim/gradsim), and the one
    # the documentation suggested for --cache-dir.
    assert legacy_cache_folders() == [
        tmp_path / "cache" / "gradsim" / "gradsim" / "sweep-points",
        tmp_path / "cache" / "gradsim" / "sweep-points",
    ]
    write_json_cache(legacy_cache_folders()[0], reference)
    store = open_store()
    assert store.path == default_store_path() and store.info().points == SPEC.size
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # ignored, as the XDG spec says
    assert default_store_path() == Path.home() / ".cache" / "gradsim" / "sweeps.sqlite"


# -- housekeeping ------------------------------------------------------------------------------
def test_info_and_clear_all_or_the_old_ones(tmp_path: Path) -> None:
    store = SweepStore(tmp_path / "s.sqlite")
    store.put_many([(f"k{i}", synthetic_point(i)) for i in range(2000)])
    run_sweep(SPEC, workers=0, cache=store, journal=store)
    run_sweep(SPEC, workers=0, cache=store, journal=store)
    info = store.info()
    assert (info.points, info.sweeps, info.schema_version) == (2000 + SPEC.size, 2, 1)
    assert info.size_bytes == store.size_bytes() > 2000 * 40
    # Ten days ago: half of the points and the first sweep.
    old = time.time() - 10 * 86400
    with sqlite3.connect(store.path) as db:
        db.execute(
            "UPDATE points SET created = ? WHERE key IN (SELECT key FROM points ORDER BY key LIMIT 1000)",
            (old,),
        )
        db.execute("UPDATE sweeps SET started = ? WHERE id = 1", (old,))
    assert store.clear(older_than_days=30) == (0, 0)
    assert store.clear(older_than_days=7) == (1000, 1)
    assert [r.id for r in store.sweeps()] == [2] and store.info().points == 1000 + SPEC.size
    big = store.size_bytes()
    assert store.clear() == (1000 + SPEC.size, 1)
    assert store.info().points == 0 and store.sweeps() == []
    assert store.size_bytes() < big / 2  # the space went back to the file system
    with pytest.raises(ValueError, match="number of days"):
        store.clear(older_than_days=-1)


def test_sizes_read_as_people_write_them() -> None:
    assert [format_size(n) for n in (0, 999, 1000, 123_456, 3_400_000, 1_234_567_890, 5 * 10**13)] == [
        "0 B",
        "999 B",
        "1.0 kB",
        "123.5 kB",
        "3.4 MB",
        "1.2 GB",
        "50000.0 GB",
    ]
