"""Sweep store: lookup and insert time per point, and memory, at 10^4 and 10^6 stored points,
against the JSON-folder cache it replaced.

Run by hand::

    python3 benchmarks/bench_sweep_store.py [--sizes 10000 1000000] [--lookups 20000]
        [--inserts 1600] [--json-max 1000000] [--folder DIR]

For each size N a store of N points is built with one bulk insert (``SweepStore.put_many`` in
batches of 100 000, one transaction each), and the old cache's folder with the same points in
one JSON file (what its compaction left). Keys are point keys of a real config with a counter
appended (as long as real ones: about 330 characters); each point has two seeds. Then, for each
backend, a fresh Python process (so memory is that backend's alone):

- opens it (the JSON cache reads every file into memory at its first lookup: ``open``);
- looks up ``--lookups`` random stored keys and as many absent ones (``hit``, ``miss``: time
  per lookup, the mean over all of them);
- inserts ``--inserts`` new points in chunks of 16, as a sweep hands them over (the store
  commits each chunk; the JSON cache keeps them in memory and writes one new file at the end of
  the sweep, which is included);
- reports its peak resident memory (VmHWM) above what it used after its imports.

The JSON-folder cache (``DiskPointCache`` of earlier versions) is reproduced here, reading and
writing the same files, so its figures can be measured after its removal from gradsim.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gradsim.engine.config import SimConfig
from gradsim.engine.sweep import STATUS_OK, PointResult, point_key
from gradsim.io.sweepstore import SweepStore, format_size

BUILD_BATCH = 100_000
CHUNK = 16
LOOKUP_GOAL_MS = 0.1


# -- the data ------------------------------------------------------------------------------------
def key_of(index: int) -> str:
    """A point key as long as real ones, different for every index."""
    return _KEY_PREFIX + f"#{index}"


_KEY_PREFIX = point_key(SimConfig(), 0, (0, 1))


def point_of(index: int) -> PointResult:
    return PointResult(-index * 1e-6, STATUS_OK, (-index * 1e-6 - 0.5, -index * 1e-6 + 0.5))


def points(start: int, stop: int) -> Iterator[tuple[str, PointResult]]:
    for index in range(start, stop):
        yield key_of(index), point_of(index)


# -- the old JSON-folder cache, as it was ------------------------------------------------------------
class JsonFolderCache:
    """The cache earlier versions kept: a folder of ``points-*.json`` files ``{key: point}``, all
    read into one dict at the first lookup; new points written as one new file per sweep."""

    FORMAT = "gradsim-sweep-cache"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.memory: dict[str, PointResult] | None = None
        self.pending: dict[str, PointResult] = {}

    def _load(self) -> dict[str, PointResult]:
        if self.memory is None:
            self.memory = {}
            for path in sorted(self.folder.glob("points-*.json")):
                with open(path, encoding="utf-8") as handle:
                    data = json.load(handle)
                if data.get("format") == self.FORMAT and data.get("version") == 1:
                    self.memory.update((k, PointResult.from_json(v)) for k, v in data["points"].items())
        return self.memory

    def get(self, key: str) -> PointResult | None:
        return self._load().get(key)

    def put_many(self, items: list[tuple[str, PointResult]]) -> None:
        self._load().update(items)
        self.pending.update(items)

    def flush(self) -> None:
        if self.pending:
            write_json_file(self.folder / f"points-{uuid.uuid4().hex}.json", self.pending.items())
            self.pending = {}


def write_json_file(path: Path, items: Any) -> None:
    data = {"format": JsonFolderCache.FORMAT, "version": 1, "points": {k: p.to_json() for k, p in items}}
    temporary = path.with_suffix(".tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(data, handle, allow_nan=False, separators=(",", ":"))
    os.replace(temporary, path)


# -- building ----------------------------------------------------------------------------------------
def build_store(path: Path, size: int) -> float:
    started = time.perf_counter()
    store = SweepStore(path)
    assert store.available, store.error
    for first in range(0, size, BUILD_BATCH):
        store.put_many(list(points(first, min(first + BUILD_BATCH, size))))
    store.close()
    return time.perf_counter() - started


def build_json(folder: Path, size: int) -> float:
    started = time.perf_counter()
    folder.mkdir(parents=True)
    write_json_file(folder / "points-compacted.json", points(0, size))
    return time.perf_counter() - started


# -- measuring (in a fresh process) ---------------------------------------------------------------
def memory_kib() -> tuple[int, int]:
    """(current, peak) resident memory of this process in KiB (Linux)."""
    values = {}
    with open("/proc/self/status") as handle:
        for line in handle:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0])
    return values["VmRSS"], values["VmHWM"]


def probe(backend: str, path: Path, size: int, lookups: int, inserts: int, seed: int = 1) -> dict[str, float]:
    """Open, look up, insert; times per point in ms and memory in MiB (see the docstring)."""
    rng = random.Random(seed)
    hits = [key_of(rng.randrange(size)) for _ in range(lookups)]
    misses = [key_of(size + inserts + i) for i in range(lookups)]
    new = list(points(size, size + inserts))
    baseline, _ = memory_kib()  # the keys above are the benchmark's, not the cache's
    cache: Any
    started = time.perf_counter()
    if backend == "sqlite":
        cache = SweepStore(path)
        assert cache.available, cache.error
        assert cache.get(hits[0]) is not None
    else:
        cache = JsonFolderCache(path)
        assert cache.get(hits[0]) is not None  # the first lookup reads the folder
    opened = time.perf_counter() - started

    # Wall time is what a sweep waits for; CPU time of this process is the same work without
    # the waits for other programs on a shared machine (both are printed).
    started, cpu = time.perf_counter(), time.process_time()
    for key in hits:
        if cache.get(key) is None:
            raise AssertionError(f"{backend}: a stored point is missing")
    hit, hit_cpu = (time.perf_counter() - started) / lookups, (time.process_time() - cpu) / lookups
    started = time.perf_counter()
    for key in misses:
        if cache.get(key) is not None:
            raise AssertionError(f"{backend}: an absent point was found")
    miss = (time.perf_counter() - started) / lookups

    started, cpu = time.perf_counter(), time.process_time()
    for first in range(0, inserts, CHUNK):
        cache.put_many(new[first : first + CHUNK])
    if backend == "json":
        cache.flush()
    insert, insert_cpu = (time.perf_counter() - started) / inserts, (time.process_time() - cpu) / inserts
    assert cache.get(new[-1][0]) == new[-1][1]
    current, peak = memory_kib()
    peak = max(peak, current)  # the kernel updates the high-water mark lazily
    return {
        "open_s": opened,
        "hit_ms": hit * 1e3,
        "hit_cpu_ms": hit_cpu * 1e3,
        "miss_ms": miss * 1e3,
        "insert_ms": insert * 1e3,
        "insert_cpu_ms": insert_cpu * 1e3,
        "memory_mib": (peak - baseline) / 1024.0,
    }


def probe_in_a_fresh_process(
    backend: str, path: Path, size: int, lookups: int, inserts: int
) -> dict[str, float]:
    command = [
        sys.executable, __file__, "--probe", backend, "--path", str(path), "--size", str(size),
        "--lookups", str(lookups), "--inserts", str(inserts),
    ]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(output.splitlines()[-1])


def folder_bytes(path: Path) -> int:
    if path.is_file():
        return sum(os.path.getsize(p) for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists())
    return sum(p.stat().st_size for p in path.iterdir())


def run(sizes: list[int], lookups: int, inserts: int, json_max: int, folder: Path) -> list[dict[str, Any]]:
    rows = []
    for size in sizes:
        for backend in ("sqlite", "json"):
            if backend == "json" and size > json_max:
                continue
            place = folder / f"{backend}-{size}"
            path = place / "sweeps.sqlite" if backend == "sqlite" else place / "sweep-points"
            place.mkdir(parents=True, exist_ok=True)
            built = build_store(path, size) if backend == "sqlite" else build_json(path, size)
            measured = probe_in_a_fresh_process(backend, path, size, lookups, inserts)
            rows.append(
                {"backend": backend, "size": size, "build_s": built, "bytes": folder_bytes(path), **measured}
            )
            shutil.rmtree(place)
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    names = {"sqlite": "SQLite store", "json": "JSON folder (old)"}
    head = ("cache", "points", "build", "on disk", "open", "hit", "hit", "miss", "insert", "insert", "memory")
    units = ("", "", "s", "", "s", "ms/pt", "cpu ms", "ms/pt", "ms/pt", "cpu ms", "MiB")
    widths = (18, 8, 7, 9, 8, 8, 8, 8, 8, 8, 8)
    for line in (head, units):
        print(
            " ".join(
                f"{text:<{w}}" if i == 0 else f"{text:>{w}}"
                for i, (text, w) in enumerate(zip(line, widths, strict=True))
            )
        )
    for r in rows:
        print(
            f"{names[r['backend']]:<18} {r['size']:>8} {r['build_s']:>7.1f} {format_size(r['bytes']):>9} "
            f"{r['open_s']:>8.3f} {r['hit_ms']:>8.4f} {r['hit_cpu_ms']:>8.4f} {r['miss_ms']:>8.4f} "
            f"{r['insert_ms']:>8.4f} {r['insert_cpu_ms']:>8.4f} {r['memory_mib']:>8.1f}"
        )
    store = [r for r in rows if r["backend"] == "sqlite"]
    if store:
        worst, worst_cpu = max(r["hit_ms"] for r in store), max(r["hit_cpu_ms"] for r in store)
        verdict = "met" if worst < LOOKUP_GOAL_MS else "NOT met"
        print(
            f"goal: store lookups under {LOOKUP_GOAL_MS} ms per point: {verdict} (worst {worst:.4f} ms wall, "
            f"{worst_cpu:.4f} ms cpu; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
        )
        if len(store) > 1:
            small, large = store[0], store[-1]
            print(
                f"store memory at {large['size']} points / at {small['size']}: "
                f"{large['memory_mib']:.1f} / {small['memory_mib']:.1f} MiB"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--lookups", type=int, default=20_000)
    parser.add_argument("--inserts", type=int, default=1_600)
    parser.add_argument("--json-max", type=int, default=1_000_000, help="skip the JSON cache above this size")
    parser.add_argument("--folder", type=Path, help="where to build the stores (default: a temporary folder)")
    parser.add_argument("--probe", choices=("sqlite", "json"), help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        print(json.dumps(probe(args.probe, args.path, args.size, args.lookups, args.inserts)))
        return 0
    with tempfile.TemporaryDirectory(dir=args.folder) as folder:
        rows = run(args.sizes, args.lookups, args.inserts, args.json_max, Path(folder))
    print(
        f"{args.lookups} lookups of stored and of absent points, {args.inserts} inserts in chunks of {CHUNK}"
    )
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
