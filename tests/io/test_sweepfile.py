"""Sweep files: CSV and NPZ read back the grid exactly. (The store of points and sweeps is
tested in test_sweepstore.py.)"""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers import scale_by_length_grid, scale_by_length_sweep

from gradsim.engine.sweep import STATUS_OVERFLOW, STATUS_VANISHED, SweepResult
from gradsim.io.atomic import WriteError
from gradsim.io.sweepfile import (
    SweepFileError,
    read_sweep,
    read_sweep_csv,
    read_sweep_npz,
    write_sweep,
    write_sweep_csv,
    write_sweep_npz,
)

# ok points, an overflowing one (50^400) and vanished ones (over 400 steps some step switches
# every ReLU off: the gradient before it is exactly 0).
SPEC = scale_by_length_sweep("relu")


@pytest.fixture(scope="module")
def result() -> SweepResult:
    computed = scale_by_length_grid("relu")
    assert computed.vanished.any()
    return computed


def test_csv_has_one_row_per_point_and_reads_back_exactly(tmp_path: Path, result: SweepResult) -> None:
    path = tmp_path / "grid.csv"
    write_sweep_csv(path, result)
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["weight_scale", "seq_len", "log10_ratio", "overflow", "status"]
    assert len(rows) == 1 + SPEC.size
    # Row by row of the grid; integer axes stay integers; NaN spelled nan.
    assert rows[1][:2] == ["0.01", "6"] and rows[5][:2] == ["0.01", "400"]
    assert rows[5][2:] == ["nan", "0", "vanished"] and rows[8][2:] == ["nan", "1", "overflow"]

    grid = read_sweep_csv(path)
    assert (grid.x_field, grid.y_field) == ("weight_scale", "seq_len")
    np.testing.assert_array_equal(grid.x, result.x_values)
    np.testing.assert_array_equal(grid.y, result.y_values)
    np.testing.assert_array_equal(grid.values, result.values)  # bit for bit, NaN where NaN
    np.testing.assert_array_equal(grid.overflow, result.overflow)
    np.testing.assert_array_equal(grid.status, result.status)
    assert grid.status[1, 3] == STATUS_OVERFLOW and grid.status[1, 0] == STATUS_VANISHED


def test_npz_loads_without_pickles_and_rebuilds_the_result(tmp_path: Path, result: SweepResult) -> None:
    path = tmp_path / "grid.npz"
    write_sweep_npz(path, result)
    with np.load(path, allow_pickle=False) as archive:
        assert archive["log10_ratio"].shape == (2, 4)
        assert archive["seed_values"].shape == (2, 4, 2)
        assert json.loads(str(archive["metadata"][()]))["spec"]["x"]["field"] == "weight_scale"
    again = read_sweep_npz(path)
    assert again.spec == result.spec
    for name in ("values", "status", "seed_values", "computed"):
        np.testing.assert_array_equal(getattr(again, name), getattr(result, name), strict=True)
    np.testing.assert_array_equal(again.overflow, result.overflow)
    assert again.config_at(1, 3) == SPEC.base.replace(weight_scale=50.0, seq_len=400)


def test_cancelled_points_are_marked_not_computed(tmp_path: Path, result: SweepResult) -> None:
    partial = SweepResult(
        result.spec,
        np.where([[True] * 4, [False] * 4], result.values, np.nan),
        result.status,
        result.seed_values,
        np.array([[True] * 4, [False] * 4]),
        cancelled=True,
    )
    write_sweep(tmp_path / "p.csv", partial)
    write_sweep(tmp_path / "p.npz", partial)
    grid = read_sweep(tmp_path / "p.csv")
    assert grid.status[1].tolist() == [-1] * 4 and not grid.overflow[1].any()
    again = read_sweep(tmp_path / "p.npz")
    assert again.cancelled and again.computed.sum() == 4


def test_write_by_extension_refuses_other_formats(tmp_path: Path, result: SweepResult) -> None:
    with pytest.raises(ValueError, match="use .csv or .npz"):
        write_sweep(tmp_path / "grid.xlsx", result)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_folder_gives_a_write_error_and_no_file(tmp_path: Path, result: SweepResult) -> None:
    with pytest.raises(WriteError, match="does not exist"):
        write_sweep_npz(tmp_path / "missing" / "grid.npz", result)


def test_readers_name_the_file_and_the_problem(tmp_path: Path, result: SweepResult) -> None:
    text = tmp_path / "other.csv"
    text.write_text("a,b\n1,2\n")
    with pytest.raises(SweepFileError, match="other.csv: not a gradsim sweep CSV"):
        read_sweep_csv(text)
    holes = tmp_path / "holes.csv"
    holes.write_text("weight_scale,seq_len,log10_ratio,overflow,status\n1.0,5,0.5,0,ok\n2.0,6,0.5,0,ok\n")
    with pytest.raises(SweepFileError, match="do not fill a 2 x 2 grid"):
        read_sweep_csv(holes)
    archive = tmp_path / "plain.npz"
    np.savez(archive, values=np.zeros(3))
    with pytest.raises(SweepFileError, match="no format 'gradsim-sweep' marker"):
        read_sweep_npz(archive)
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip file")
    with pytest.raises(SweepFileError, match="broken.npz"):
        read_sweep_npz(broken)
    with pytest.raises(SweepFileError, match="absent.npz: no such file"):
        read_sweep_npz(tmp_path / "absent.npz")
    with pytest.raises(SweepFileError, match="use .npz or .csv"):
        read_sweep(tmp_path / "grid.txt")
    assert zipfile.is_zipfile(archive)
