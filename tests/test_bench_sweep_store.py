"""Smoke test of benchmarks/bench_sweep_store.py on a tiny store (no timing asserted): both the
SQLite store and the old JSON-folder cache are built, probed in fresh processes and reported."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest

from gradsim.io.sweepstore import SweepStore

BENCHMARK = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_sweep_store.py"


def load():
    spec = importlib.util.spec_from_file_location("_benchmark_bench_sweep_store", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_both_caches_hold_the_same_points_and_the_table_reports_them(tmp_path: Path, capsys) -> None:
    bench = load()
    assert len(bench.key_of(5)) > 300  # as long as a real point key
    store_path, json_folder = tmp_path / "s.sqlite", tmp_path / "json"
    bench.build_store(store_path, 300)
    bench.build_json(json_folder, 300)
    store, old = SweepStore(store_path), bench.JsonFolderCache(json_folder)
    for index in (0, 150, 299):
        assert store.get(bench.key_of(index)) == old.get(bench.key_of(index)) == bench.point_of(index)
    assert store.info().points == 300 and store.get(bench.key_of(300)) is None
    # The probe inserts new points; the JSON cache writes them as a second file.
    measured = bench.probe("json", json_folder, 300, lookups=20, inserts=32)
    assert len(list(json_folder.glob("points-*.json"))) == 2
    assert set(measured) == {
        "open_s",
        "hit_ms",
        "hit_cpu_ms",
        "miss_ms",
        "insert_ms",
        "insert_cpu_ms",
        "memory_mib",
    }
    assert (
        bench.main(["--sizes", "200", "--lookups", "20", "--inserts", "32", "--folder", str(tmp_path)]) == 0
    )
    out = capsys.readouterr().out
    assert "SQLite store" in out and "JSON folder (old)" in out and "goal: store lookups under 0.1 ms" in out


@pytest.mark.parametrize("backend", ["sqlite", "json"])
def test_a_probe_finds_every_stored_point_and_no_absent_one(tmp_path: Path, backend: str) -> None:
    bench = load()
    path = tmp_path / ("s.sqlite" if backend == "sqlite" else "json")
    (bench.build_store if backend == "sqlite" else bench.build_json)(path, 100)
    measured = bench.probe(backend, path, 100, lookups=50, inserts=16)
    assert measured["hit_ms"] > 0 and measured["insert_ms"] > 0
    # Memory is only meaningful in the fresh process main() uses; here it is a number.
    assert math.isfinite(measured["memory_mib"])
