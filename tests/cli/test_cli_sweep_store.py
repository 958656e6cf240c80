"""``gradsim sweep`` with the sweep store and clusters: --list, --show, ``gradsim store``, a sweep
killed half-way, two sweeps writing at once, hostile stores, --scheduler."""

from __future__ import annotations

import importlib.util
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gradsim import cli
from gradsim.engine.config import SimConfig
from gradsim.engine.sweep import SweepAxis, SweepSpec, compute_point, make_axis, point_key, run_sweep
from gradsim.io.sweepfile import read_sweep_npz
from gradsim.io.sweepstore import SweepStore

SETTINGS = {
    "num_layers": 1,
    "hidden_size": 8,
    "seq_len": 10,
    "batch_size": 3,
    "activation": "tanh",
    "init": "gaussian",
    "task": "random",
}
SET_ARGS = [arg for key, value in SETTINGS.items() for arg in ("--set", f"{key}={value}")]
GRID = ["--x", "weight_scale=0.8:1.2:3", "--y", "seq_len=4,8", "--workers", "0"]
BASE = SimConfig(**SETTINGS)  # type: ignore[arg-type]


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def test_list_and_show_read_past_sweeps_without_computing(tmp_path: Path, capsys, monkeypatch) -> None:
    store = ["--store", str(tmp_path / "s.sqlite")]
    assert cli.main(["sweep", *SET_ARGS, *GRID, *store, "--npz", str(tmp_path / "first.npz")]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "recorded as sweep #1 (gradsim sweep --show 1)" in out and "computed 6 points" in out
    assert "on this process; 0 from the cache" in out
    assert cli.main(["sweep", *SET_ARGS, *GRID, "--seeds", "2", *store]) == cli.EXIT_OK
    capsys.readouterr()

    assert cli.main(["sweep", "--list", *store]) == cli.EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("#2  ") and lines[1].startswith("#1  ")
    assert "weight_scale × seq_len  3 × 2, 2 seeds, at init  done in" in lines[0]
    assert lines[1].endswith("on this process")

    # --show computes nothing and writes the same file as the sweep did, bit for bit.
    monkeypatch.setattr("gradsim.engine.sweep.evaluate_point", lambda *a: pytest.fail("computed"))
    shown = tmp_path / "shown.npz"
    assert cli.main(["sweep", "--show", "1", *store, "--npz", str(shown)]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert out.startswith("sweep #1  ") and "grid: weight_scale 0.8 .. 1.2 (3 values) x seq_len" in out
    assert f"wrote {shown}" in out
    first, again = read_sweep_npz(tmp_path / "first.npz"), read_sweep_npz(shown)
    for name in ("values", "status", "seed_values", "computed"):
        assert same_bits(getattr(first, name), getattr(again, name)), name
    assert again.spec == first.spec


@pytest.mark.parametrize(
    ("arguments", "message", "code"),
    [
        (["--show", "9"], "no sweep #9 (see gradsim sweep --list)", cli.EXIT_FAILED),
        (["--list", "--show", "1"], "give --list or --show ID, not both", cli.EXIT_USAGE),
        (
            ["--list", "--x", "seq_len=4,8"],
            "they take no --x, --y, --scheduler or --no-store",
            cli.EXIT_USAGE,
        ),
        (["--list", "--csv", "a.csv"], "go with --show ID, not --list", cli.EXIT_USAGE),
        (["--x", "seq_len=4,8"], "a sweep needs both --x AXIS and --y AXIS (or --list, or --show ID)", 2),
        ([*GRID, "--no-store"], "--store and --no-store contradict each other", cli.EXIT_USAGE),
    ],
)
def test_past_sweep_options_refuse_what_does_not_go_together(
    tmp_path: Path, capsys, arguments: list[str], message: str, code: int
) -> None:
    SweepStore(tmp_path / "s.sqlite").close()
    assert cli.main(["sweep", *arguments, "--store", str(tmp_path / "s.sqlite")]) == code
    err = capsys.readouterr().err
    assert message in err and len(err.splitlines()) == 1


def test_the_default_store_is_used_and_no_store_leaves_nothing(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert cli.main(["sweep", *SET_ARGS, *GRID, "--no-store"]) == cli.EXIT_OK
    assert not (tmp_path / "cache").exists()
    assert cli.main(["sweep", *SET_ARGS, *GRID]) == cli.EXIT_OK
    assert cli.main(["sweep", *SET_ARGS, *GRID]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "computed 0 points in" in out and "6 from the cache" in out and "recorded as sweep #2" in out
    assert (tmp_path / "cache" / "gradsim" / "sweeps.sqlite").is_file()


def test_store_info_and_clear(tmp_path: Path, capsys) -> None:
    store = ["--store", str(tmp_path / "s.sqlite")]
    assert cli.main(["sweep", *SET_ARGS, *GRID, *store, "--quiet"]) == cli.EXIT_OK
    assert cli.main(["store", "info", *store]) == cli.EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"store: {tmp_path / 's.sqlite'}"
    assert lines[2:] == ["points: 6", "sweeps: 1", "schema version: 1"]
    size = SweepStore(tmp_path / "s.sqlite").size_bytes()
    assert lines[1] == f"size: {size / 1024:.1f} KiB"  # gradsim.engine.formatting.format_bytes

    assert cli.main(["store", "clear", "--older-than", "1", *store]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert out.startswith("deleted 0 points and 0 sweeps stored more than 1 days ago from")
    assert cli.main(["store", "clear", *store]) == cli.EXIT_OK
    assert capsys.readouterr().out.startswith("deleted 6 points and 1 sweeps from")
    assert cli.main(["store", "info", *store]) == cli.EXIT_OK
    assert "points: 0\nsweeps: 0" in capsys.readouterr().out
    assert cli.main(["store", "clear", "--older-than", "-3", *store]) == cli.EXIT_USAGE
    assert "must be a number of days, 0 or more" in capsys.readouterr().err
    assert cli.main(["store", *store]) == cli.EXIT_USAGE


@pytest.mark.parametrize(
    "command", [["store", "info"], ["store", "clear"], ["sweep", "--list"], ["sweep", "--show", "1"]]
)
def test_reading_a_store_that_does_not_exist_creates_nothing(tmp_path: Path, capsys, command) -> None:
    path = tmp_path / "typo" / "dir" / "s.sqlite"
    assert cli.main([*command, "--store", str(path)]) == cli.EXIT_FAILED
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"gradsim: error: no sweep store at {path} (gradsim sweep makes one)\n"
    assert list(tmp_path.iterdir()) == []


def test_the_default_store_is_not_created_by_store_info(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert cli.main(["store", "info"]) == cli.EXIT_FAILED
    assert capsys.readouterr().err.startswith("gradsim: error: no sweep store at ")
    assert not (tmp_path / "cache").exists()


def test_a_one_byte_file_given_as_the_store_is_refused_and_kept(tmp_path: Path, capsys) -> None:
    path = tmp_path / "s.sqlite"
    path.write_bytes(b"x")
    assert cli.main(["store", "info", "--store", str(path)]) == cli.EXIT_FAILED
    assert capsys.readouterr().err == (
        f"gradsim: error: sweep store {path}: damaged or not a database (file is not a database)\n"
    )
    assert path.read_bytes() == b"x"


def test_a_corrupt_store_is_a_warning_and_the_sweep_still_runs(tmp_path: Path, capsys) -> None:
    path = tmp_path / "corrupt.sqlite"
    path.write_bytes(b"this is not a database" * 300)
    assert cli.main(["sweep", *SET_ARGS, *GRID, "--store", str(path), "--npz", str(tmp_path / "g.npz")]) == 0
    captured = capsys.readouterr()
    assert captured.err == (
        f"gradsim: warning: sweep store {path}: damaged or not a database (file is not a database); "
        "the sweep runs without it\n"
    )
    assert "computed 6 points" in captured.out and "recorded as sweep" not in captured.out
    assert read_sweep_npz(tmp_path / "g.npz").computed.all()
    # Reading past sweeps needs the store: one line, exit 1.
    assert cli.main(["sweep", "--list", "--store", str(path)]) == cli.EXIT_FAILED
    assert cli.main(["store", "info", "--store", str(path)]) == cli.EXIT_FAILED
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all("damaged or not a database" in line for line in err)


# -- processes ---------------------------------------------------------------------------------
HEAVY = ["--set", "hidden_size=16", "--set", "batch_size=4", "--iterations", "2", "--workers", "0", "--quiet"]


def gradsim_process(*arguments: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gradsim", "sweep", *SET_ARGS, *HEAVY, *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stored_points(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
            return int(db.execute("SELECT count(*) FROM points").fetchone()[0])
    except sqlite3.Error:  # being created
        return 0


def test_a_sweep_killed_half_way_keeps_its_points_and_the_rerun_computes_the_rest(
    tmp_path: Path, capsys
) -> None:
    path = tmp_path / "s.sqlite"
    grid = ["--x", "weight_scale=0.5:2:10", "--y", "seq_len=20:60:10", "--store", str(path)]
    process = gradsim_process(*grid)
    try:
        deadline = time.monotonic() + 120
        while stored_points(path) < 4 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert process.poll() is None, process.communicate()
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.communicate()
    assert process.returncode == -signal.SIGKILL
    kept = stored_points(path)
    assert 4 <= kept < 100

    # The rerun takes the finished points from the store and computes only the others.
    npz = tmp_path / "rerun.npz"
    argv = ["sweep", *SET_ARGS, *HEAVY[:-1], *grid, "--npz", str(npz)]
    assert cli.main(argv) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert f"computed {100 - kept} points in" in out and f"; {kept} from the cache" in out
    rerun = read_sweep_npz(npz)
    reference = run_sweep(rerun.spec, workers=0, cache=None)
    for name in ("values", "status", "seed_values"):
        assert same_bits(getattr(rerun, name), getattr(reference, name)), name
    # The killed sweep is listed as interrupted; the rerun as done.
    records = SweepStore(path).sweeps()
    assert [(r.id, r.status) for r in records] == [(2, "done"), (1, "interrupted")]


def test_two_sweeps_writing_overlapping_points_at_once_store_each_point_once(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    SweepStore(path).close()
    # 0.5 .. 1.5 and 1.0 .. 2.0 in steps of 0.25 share 1.0, 1.25 and 1.5: 9 of 15 points each.
    left = ["--x", "weight_scale=0.5:1.5:5", "--y", "seq_len=20,40,60", "--store", str(path)]
    right = ["--x", "weight_scale=1:2:5", "--y", "seq_len=20,40,60", "--store", str(path)]
    processes = [gradsim_process(*left), gradsim_process(*right)]
    outputs = [process.communicate(timeout=300) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    assert all(err == "" for _, err in outputs)
    store = SweepStore(path)
    assert store.info().points == 21 and store.info().sweeps == 2
    spec = SweepSpec(
        BASE.replace(hidden_size=16, batch_size=4),
        make_axis("weight_scale", 0.5, 2.0, 7),
        SweepAxis("seq_len", (20, 40, 60)),
        iterations=2,
    )
    for row, column in spec.indices():
        config = spec.config_at(row, column)
        point = store.get(point_key(config, 2, spec.seeds))  # type: ignore[arg-type]
        assert point is not None
        assert point.value == compute_point(config, 2, spec.seeds) or np.isnan(point.value)


# -- clusters ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--scheduler", "local:x"], "a local Dask cluster is written local:N with N from 1 to 256"),
        (["--scheduler", "tcp://h:8786", "--workers", "2"], "with --scheduler the cluster's workers compute"),
        (["--scheduler", ""], "the Dask scheduler address is empty"),
        *(
            (["--scheduler", address], f"not a Dask scheduler address: {address!r} (expected tcp://HOST:PORT")
            for address in ("bogus", "h:abc", "tcp://h:99999", "foo://h:8786", "inproc://h:1")
        ),
    ],
)
def test_scheduler_mistakes_are_refused_before_computing(tmp_path: Path, capsys, arguments, message) -> None:
    grid = ["--x", "weight_scale=0.8:1.2:3", "--y", "seq_len=4,8"]
    assert cli.main(["sweep", *SET_ARGS, *grid, *arguments, "--no-store"]) == cli.EXIT_USAGE
    captured = capsys.readouterr()
    assert message in captured.err and "computed" not in captured.out


def test_without_the_cluster_extra_the_message_says_what_to_install(capsys, monkeypatch) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "distributed" else real_find_spec(name, *a),
    )
    grid = ["--x", "weight_scale=0.8:1.2:3", "--y", "seq_len=4,8", "--scheduler", "tcp://h:8786"]
    assert cli.main(["sweep", *SET_ARGS, *grid, "--no-store"]) == cli.EXIT_USAGE
    assert capsys.readouterr().err == (
        'gradsim: error: running a sweep on a Dask cluster needs Dask: pip install "gradsim[cluster]"\n'
    )


def _sweep_process(scheduler: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """``gradsim sweep --scheduler scheduler`` in a child process, and its seconds to exit (what a
    Client left open prints or waits for happens at the interpreter's exit)."""
    grid = ["--x", "weight_scale=0.8:1.2:3", "--y", "seq_len=4,8", "--scheduler", scheduler]
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "gradsim", "sweep", *SET_ARGS, *grid, "--no-store", "--quiet"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return done, time.monotonic() - start


def test_an_unreachable_scheduler_is_one_line_and_nothing_after_it() -> None:
    pytest.importorskip("distributed")
    done, seconds = _sweep_process("tcp://127.0.0.1:9")
    assert done.returncode == cli.EXIT_FAILED
    assert done.stderr.startswith(
        "gradsim: error: cannot reach the Dask scheduler at tcp://127.0.0.1:9 within 5 s"
    )
    assert len(done.stderr.splitlines()) == 1 and seconds < 9  # the 5 s timeout, and no more


def test_a_scheduler_that_fails_at_once_ends_the_process_at_once() -> None:
    # TLS without a certificate: the Client fails before its timeout; left unclosed it stalled
    # the exit for 10 s and printed "Exception ignored in: Client.__del__" with a traceback.
    pytest.importorskip("distributed")
    done, seconds = _sweep_process("tls://127.0.0.1:9")
    assert done.returncode == cli.EXIT_FAILED
    assert done.stderr.startswith("gradsim: error: cannot reach the Dask scheduler at tls://127.0.0.1:9 (")
    assert len(done.stderr.splitlines()) == 1 and seconds < 5


def test_a_sweep_on_a_local_cluster_is_recorded_with_where_it_ran(tmp_path: Path, capsys) -> None:
    pytest.importorskip("distributed")
    store = ["--store", str(tmp_path / "s.sqlite")]
    grid = ["--x", "weight_scale=0.8:1.2:3", "--y", "seq_len=4,8", "--scheduler", "local:2"]
    assert cli.main(["sweep", *SET_ARGS, *grid, *store, "--npz", str(tmp_path / "g.npz")]) == cli.EXIT_OK
    assert "computed 6 points in" in capsys.readouterr().out
    assert cli.main(["sweep", "--list", *store]) == cli.EXIT_OK
    assert capsys.readouterr().out.rstrip().endswith("on a Dask LocalCluster of 2 workers")
    here = run_sweep(read_sweep_npz(tmp_path / "g.npz").spec, workers=0, cache=None)
    assert same_bits(read_sweep_npz(tmp_path / "g.npz").values, here.values)
