"""``gradsim sweep``: the grid it writes equals single runs; summary, cache and errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gradsim import cli
from gradsim.engine.config import SimConfig
from gradsim.engine.sweep import compute_point
from gradsim.io.sweepfile import read_sweep_csv, read_sweep_npz

SETTINGS = {
    "num_layers": 1,
    "hidden_size": 8,
    "seq_len": 10,
    "batch_size": 3,
    "activation": "linear",
    "init": "gaussian",
    "task": "random",
}
SET_ARGS = [arg for key, value in SETTINGS.items() for arg in ("--set", f"{key}={value}")]


def test_sweep_writes_a_grid_equal_to_single_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_path, npz_path = tmp_path / "grid.csv", tmp_path / "grid.npz"
    code = cli.main(
        ["sweep", "--config", str(_config_file(tmp_path)), *SET_ARGS]
        + ["--x", "weight_scale=0.5:6.5:3", "--y", "seq_len=5,400", "--seeds", "2", "--workers", "0"]
        + ["--csv", str(csv_path), "--npz", str(npz_path)]
    )
    out = capsys.readouterr().out
    assert code == cli.EXIT_OK
    result = read_sweep_npz(npz_path)
    assert result.spec.seeds == (7, 8)  # counted from the config file's seed
    for row, seq_len in enumerate((5, 400)):
        for column, scale in enumerate((0.5, 3.5, 6.5)):
            config = SimConfig(**SETTINGS, seed=7).replace(weight_scale=scale, seq_len=seq_len)
            np.testing.assert_array_equal(result.values[row, column], compute_point(config, 0, (7, 8)))
    np.testing.assert_array_equal(read_sweep_csv(csv_path).values, result.values)
    # Over 400 steps a linear network with weights x3.5 or x6.5 leaves float64 (forward and back).
    assert result.overflow.tolist() == [[False, False, False], [False, True, True]]
    assert "grid: weight_scale 0.5 .. 6.5 (3 values) x seq_len 5 .. 400 (2 values)" in out
    assert "2 seeds per point" in out and "at initialisation" in out
    assert "overflow (inf/NaN): 2 points" in out
    assert (
        "critical line (mean field, predicted to keep its size along its most extreme span "
        "(0 decades)): weight_scale = 1 over seq_len"
    ) in out
    assert f"wrote {csv_path}" in out and f"wrote {npz_path}" in out


def _config_file(folder: Path) -> Path:
    path = folder / "base.toml"
    path.write_text("seed = 7\n")
    return path


def test_sweep_with_a_store_computes_nothing_the_second_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["sweep", *SET_ARGS, "--x", "weight_scale=0.8:1.2:3", "--y", "hidden_size=4,8", "--workers", "2"]
    args += ["--store", str(tmp_path / "store.sqlite"), "--iterations", "2"]
    assert cli.main(args + ["--npz", str(tmp_path / "first.npz")]) == cli.EXIT_OK
    assert "computed 6 points" in capsys.readouterr().out
    assert cli.main(args + ["--npz", str(tmp_path / "second.npz")]) == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "computed 0 points" in out and "6 from the cache" in out
    assert "after 2 training steps" in out and "note: the theory describes the untrained network" in out
    first, second = read_sweep_npz(tmp_path / "first.npz"), read_sweep_npz(tmp_path / "second.npz")
    np.testing.assert_array_equal(first.values, second.values)


def test_sweep_without_the_weight_scale_says_why_there_is_no_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["sweep", *SET_ARGS, "--x", "seq_len=5,10", "--y", "num_layers=1:2:2", "--workers", "0"])
    assert code == cli.EXIT_OK
    out = capsys.readouterr().out
    assert "critical line: none (the weight scale is not swept" in out
    assert "critical weight scale is 1" in out


def test_workers_zero_is_documented_and_a_negative_count_refused(run_cli) -> None:
    # 0 is a choice (no worker processes: the points are computed here, as the summary says);
    # the help says so, since "0 workers" alone reads like a mistake.
    code, out, _ = run_cli("sweep", "--help")
    assert code == cli.EXIT_OK and "0 computes in this process, without workers" in " ".join(out.split())
    code, out, err = run_cli(
        "sweep", *SET_ARGS, "--x", "seq_len=5,10", "--y", "hidden_size=4,8", "--workers", "-1"
    )
    assert (code, out) == (cli.EXIT_USAGE, "")
    assert err.splitlines()[-1] == "gradsim sweep: error: argument --workers: must be 0 or more (got -1)"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--x", "activation=1,2", "--y", "seq_len=5,10"], "a sweep axis must be one of"),
        (["--x", "seq_len=5,10", "--y", "seq_len=20,30"], "must be different settings"),
        (["--x", "seq_len=5:10", "--y", "hidden_size=4,8"], "FIELD=LOW:HIGH:COUNT"),
        (["--x", "seq_len=0,10", "--y", "hidden_size=4,8"], "seq_len must be between 1 and 2000"),
        (["--x", "seq_len=5,10", "--y", "hidden_size=4,8", "--iterations", "-1"], "must be 0 or more"),
        (
            ["--x", "seq_len=5,10", "--y", "hidden_size=4,8", "--csv", "/no/such/folder/g.csv"],
            "does not exist",
        ),
    ],
)
def test_sweep_refuses_bad_arguments_before_computing(
    arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["sweep", *SET_ARGS, *arguments]) == cli.EXIT_USAGE
    captured = capsys.readouterr()
    assert message in captured.err and "computed" not in captured.out
