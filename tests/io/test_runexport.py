"""Run exports: every format read back equals the engine's records, bit for bit."""

from __future__ import annotations

import csv
import errno
import json
import math
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from gradsim.engine.config import SimConfig
from gradsim.engine.records import StepRecord
from gradsim.io.atomic import WriteError
from gradsim.io.runexport import (
    CSV_COLUMNS,
    FORMAT,
    RunFileError,
    read_json,
    read_npz,
    read_run,
    records_to_arrays,
    run_to_json,
    write_csv,
    write_json,
    write_npz,
    write_run,
)


def _strict_json(text: str) -> object:
    def refuse(constant: str) -> None:
        raise AssertionError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("samples", [False, True])
def test_json_round_trip_of_a_healthy_run(tmp_path: Path, healthy_run, assert_records_equal, samples) -> None:
    config, records = healthy_run
    assert any(r.clipped for r in records) and not all(r.clipped for r in records)
    path = tmp_path / "run.json"
    write_json(path, records, config, include_samples=samples)
    data = read_json(path)
    assert data.config == config
    assert_records_equal(records, data.records, samples=samples)
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_json_round_trip_of_an_exploding_run(tmp_path: Path, exploding_run, assert_records_equal) -> None:
    config, records = exploding_run
    path = tmp_path / "exploding.json"
    write_json(path, records, config, include_samples=True)
    assert_records_equal(records, read_json(path).records)


def _as_written(value: float) -> float | str:
    """How the JSON export spells ``value``."""
    if math.isfinite(value):
        return value
    return "nan" if math.isnan(value) else "inf" if value > 0 else "-inf"


def test_json_is_standard_with_non_finite_numbers_as_strings(tmp_path: Path, exploding_run) -> None:
    config, records = exploding_run
    last = records[-1]
    text = run_to_json(records, config)
    data = _strict_json(text)
    assert isinstance(data, dict)
    assert data["format"] == FORMAT and SimConfig.from_dict(data["config"]) == config
    written = data["records"][-1]
    assert written["nonfinite"] == {
        "iteration": last.nonfinite.iteration,
        "quantity": last.nonfinite.quantity,
        "layer": last.nonfinite.layer,
        "time_step": last.nonfinite.time_step,
        "parameter": last.nonfinite.parameter,
    }
    # Each number is the engine's, or the agreed string for a non-finite one.
    assert written["grad_norms"] == [[_as_written(v) for v in row] for row in last.grad_norms.tolist()]
    for name in ("loss", "global_norm_before", "global_norm_after"):
        assert written[name] == _as_written(getattr(last, name)), name
    spelled = [v for row in written["grad_norms"] for v in row if isinstance(v, str)]
    spelled += [written[name] for name in ("loss", "global_norm_before") if isinstance(written[name], str)]
    assert spelled, "the exploding record should contain non-finite numbers"
    # Samples are left out by default: the file stays readable.
    assert "preactivation_samples" not in written
    write_json(tmp_path / "run.json", records, config)
    assert (tmp_path / "run.json").read_text() == text


def test_json_lists_numbers_of_a_row_on_one_line(healthy_run) -> None:
    config, records = healthy_run
    lines = run_to_json(records[:1], config).splitlines()
    saturation = [line for line in lines if '"saturation"' in line]
    assert saturation == [f'      "saturation": {json.dumps(records[0].saturation.tolist())},']
    first_row = lines[lines.index('      "grad_norms": [') + 1]
    assert json.loads(first_row.strip().rstrip(",")) == records[0].grad_norms[0].tolist()


@pytest.mark.parametrize("fixture", ["healthy_run", "exploding_run"])
def test_npz_round_trip(tmp_path: Path, request, assert_records_equal, fixture: str) -> None:
    config, records = request.getfixturevalue(fixture)
    path = tmp_path / "run.npz"
    write_npz(path, records, config)
    data = read_npz(path)
    assert data.config == config
    assert_records_equal(records, data.records)
    assert [p.name for p in tmp_path.iterdir()] == ["run.npz"]


def test_npz_arrays_hold_the_engine_numbers_and_load_without_pickles(tmp_path: Path, exploding_run) -> None:
    config, records = exploding_run
    path = tmp_path / "run.npz"
    write_npz(path, records, config)
    count, layers, steps = len(records), config.num_layers, config.seq_len
    with np.load(path, allow_pickle=False) as archive:
        assert archive["grad_norms"].shape == (count, layers, steps)
        assert archive["saturation"].shape == (count, layers)
        assert archive["spectral_norms"].shape == (count, layers)
        assert archive["preactivation_samples"].shape == (count, layers, 2048)
        assert archive["clipped"].dtype == bool
        np.testing.assert_array_equal(archive["iteration"], [r.iteration for r in records])
        np.testing.assert_array_equal(archive["loss"], [r.loss for r in records])
        np.testing.assert_array_equal(archive["global_norm_before"], [r.global_norm_before for r in records])
        for i, record in enumerate(records):
            np.testing.assert_array_equal(archive["grad_norms"][i], record.grad_norms)
            np.testing.assert_array_equal(archive["spectral_norms"][i], record.spectral_norms)
        names = list(archive["param_grad_norms_names"])
        assert names == list(records[0].param_grad_norms)
        assert (
            archive["param_grad_norms"][0, names.index("weight_hh_l0")]
            == (records[0].param_grad_norms["weight_hh_l0"])
        )
        # The exploding step made no update: its ratios are absent, not zero.
        assert archive["update_ratios_present"][0].all() and not archive["update_ratios_present"][-1].any()
        assert archive["nonfinite_quantity"][-1] == records[-1].nonfinite.quantity
        assert archive["nonfinite_layer"][0] == -1
        assert json.loads(str(archive["config"][()])) == config.to_dict()
        assert all(archive[name].dtype != object for name in archive.files)


def test_npz_without_samples(tmp_path: Path, healthy_run, assert_records_equal) -> None:
    config, records = healthy_run
    write_npz(tmp_path / "run.npz", records, config, include_samples=False)
    with np.load(tmp_path / "run.npz", allow_pickle=False) as archive:
        assert "preactivation_samples" not in archive.files
    assert_records_equal(records, read_npz(tmp_path / "run.npz").records, samples=False)


def test_csv_rows_equal_the_engine_records(tmp_path: Path, exploding_run) -> None:
    config, records = exploding_run
    path = tmp_path / "run.csv"
    write_csv(path, records)
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == CSV_COLUMNS
    body = rows[1:]
    assert len(body) == len(records) * config.num_layers * config.seq_len
    by_key = {(int(r[0]), int(r[1]), int(r[2])): (float(r[3]), float(r[4]), float(r[5])) for r in body}
    assert len(by_key) == len(body)
    for record in records:
        for layer in range(config.num_layers):
            for step in range(config.seq_len):
                norm, loss, log = by_key[(record.iteration, layer + 1, step + 1)]
                expected = record.grad_norms[layer, step]
                assert norm == expected or (math.isnan(norm) and math.isnan(expected))
                assert loss == record.loss or (math.isnan(loss) and math.isnan(record.loss))
                expected_log = record.log10_grad_norms[layer, step]
                assert log == expected_log or (math.isnan(log) and math.isnan(expected_log))
    # The exploding record is there with its non-finite values spelled out.
    assert any(row[3] in ("inf", "nan") for row in body if int(row[0]) == records[-1].iteration)


def test_empty_run_round_trips(tmp_path: Path, healthy_run) -> None:
    config, _ = healthy_run
    for name in ("empty.json", "empty.npz"):
        write_run(tmp_path / name, [], config)
        data = read_run(tmp_path / name)
        assert data.config == config and data.records == []
    write_run(tmp_path / "empty.csv", [], config)
    assert (tmp_path / "empty.csv").read_text() == ",".join(CSV_COLUMNS) + "\n"


def test_float32_run_round_trips(tmp_path: Path, train, assert_records_equal) -> None:
    config = SimConfig(num_layers=1, hidden_size=4, seq_len=5, batch_size=2, dtype="float32", seed=11)
    records = train(config, 3)
    for suffix in (".json", ".npz"):
        write_run(tmp_path / f"run{suffix}", records, config)
        samples = suffix == ".npz"
        assert_records_equal(records, read_run(tmp_path / f"run{suffix}").records, samples=samples)


def test_records_from_another_config_are_refused_before_writing(tmp_path: Path, healthy_run) -> None:
    config, records = healthy_run
    other = config.replace(seq_len=config.seq_len + 1)
    for name in ("run.json", "run.npz"):
        with pytest.raises(ValueError, match="must come from the same run"):
            write_run(tmp_path / name, records, other)
    with pytest.raises(ValueError, match="must come from the same run"):
        records_to_arrays(records, other)
    assert list(tmp_path.iterdir()) == []


def test_unknown_export_extension(tmp_path: Path, healthy_run) -> None:
    config, records = healthy_run
    with pytest.raises(ValueError, match=r"use \.json, \.npz or \.csv"):
        write_run(tmp_path / "run.xlsx", records, config)
    with pytest.raises(RunFileError, match=r"use \.json or \.npz"):
        read_run(tmp_path / "run.csv")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["run.json", "run.npz", "run.csv"])
def test_failed_write_leaves_no_file_and_no_temp(tmp_path: Path, monkeypatch, healthy_run, name: str) -> None:
    config, records = healthy_run

    def fail(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(WriteError, match=f"cannot write .*{name}: the disk is full"):
        write_run(tmp_path / name, records, config)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["run.json", "run.npz", "run.csv"])
def test_export_below_a_regular_file_fails_cleanly(tmp_path: Path, healthy_run, name: str) -> None:
    config, records = healthy_run
    (tmp_path / "blocker").write_text("x")
    with pytest.raises(WriteError, match="is a file, not a folder"):
        write_run(tmp_path / "blocker" / name, records, config)
    assert [p.name for p in tmp_path.iterdir()] == ["blocker"]


def test_failed_overwrite_keeps_the_previous_export(tmp_path: Path, monkeypatch, healthy_run) -> None:
    config, records = healthy_run
    path = tmp_path / "run.json"
    write_json(path, records[:2], config)
    before = path.read_bytes()

    def fail(*args: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(WriteError):
        write_json(path, records, config)
    assert path.read_bytes() == before


def test_readers_refuse_files_that_are_not_run_exports(tmp_path: Path, healthy_run) -> None:
    config, records = healthy_run
    cases = {
        "other.json": '{"hello": 1}',
        "broken.json": '{"format": "gradsim-run", ',
        "list.json": "[1, 2, 3]",
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(RunFileError, match=name):
            read_json(tmp_path / name)
    newer = json.loads(run_to_json(records, config))
    newer["version"] = 99
    (tmp_path / "newer.json").write_text(json.dumps(newer))
    with pytest.raises(RunFileError, match="newer gradsim"):
        read_json(tmp_path / "newer.json")
    damaged = json.loads(run_to_json(records, config))
    damaged["records"][0]["loss"] = "lots"
    (tmp_path / "damaged.json").write_text(json.dumps(damaged))
    with pytest.raises(RunFileError, match="expected a number or one of inf, -inf, nan"):
        read_json(tmp_path / "damaged.json")
    with pytest.raises(RunFileError, match="missing.json: no such file"):
        read_json(tmp_path / "missing.json")


def test_npz_reader_refuses_pickles_and_foreign_archives(tmp_path: Path, healthy_run) -> None:
    config, records = healthy_run
    # An archive whose config array holds a Python object: loading it would need a pickle.
    arrays = records_to_arrays(records, config)
    arrays["config"] = np.array([{"payload": "would run code"}], dtype=object)
    np.savez(tmp_path / "pickled.npz", **arrays)
    with pytest.raises(RunFileError, match="pickled.npz"):
        read_npz(tmp_path / "pickled.npz")
    np.savez(tmp_path / "foreign.npz", values=np.arange(3))
    with pytest.raises(RunFileError, match="not a gradsim run export"):
        read_npz(tmp_path / "foreign.npz")
    arrays = records_to_arrays(records, config)
    del arrays["grad_norms"]
    np.savez(tmp_path / "partial.npz", **arrays)
    with pytest.raises(RunFileError, match="missing 'grad_norms'"):
        read_npz(tmp_path / "partial.npz")
    (tmp_path / "text.npz").write_text("not a zip file")
    with pytest.raises(RunFileError, match="text.npz"):
        read_npz(tmp_path / "text.npz")
    with zipfile.ZipFile(tmp_path / "empty.npz", "w"):
        pass
    with pytest.raises(RunFileError, match="not a gradsim run export"):
        read_npz(tmp_path / "empty.npz")


# -- gradients below float64 -------------------------------------------------------------------

# A sigmoid layer over 700 steps: the first steps' ||dL/dh|| are near 1e-320 and below.
UNDERFLOWING = SimConfig(num_layers=1, hidden_size=8, seq_len=700, batch_size=4, activation="sigmoid")


@pytest.fixture(scope="module")
def underflowing_run(train) -> tuple[SimConfig, list[StepRecord]]:
    records = train(UNDERFLOWING, 2)
    assert all(np.count_nonzero(r.grad_norms == 0) > 5 for r in records)
    assert all(np.all(np.isfinite(r.log10_grad_norms)) for r in records)
    return UNDERFLOWING, records


@pytest.mark.parametrize("name", ["run.json", "run.npz"])
def test_logarithms_below_float64_round_trip(tmp_path: Path, underflowing_run, assert_records_equal, name):
    config, records = underflowing_run
    write_run(tmp_path / name, records, config)
    read_back = read_run(tmp_path / name).records
    assert_records_equal(records, read_back, samples=name.endswith(".npz"))
    assert read_back[0].log10_grad_norms.min() < -320


def test_csv_holds_the_logarithms_where_the_norms_are_zero(tmp_path: Path, underflowing_run) -> None:
    _, records = underflowing_run
    write_csv(tmp_path / "run.csv", records)
    with open(tmp_path / "run.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    first = [row for row in rows if row["iteration"] == "1" and row["time_step"] == "1"]
    assert first[0]["grad_norm"] == "0.0"
    assert float(first[0]["log10_grad_norm"]) == records[0].log10_grad_norms[0, 0] < -320


def test_an_export_written_before_the_logarithms_still_loads(tmp_path: Path, healthy_run) -> None:
    config, records = healthy_run
    data = json.loads(run_to_json(records, config))
    for record in data["records"]:
        del record["log10_grad_norms"]
    (tmp_path / "old.json").write_text(json.dumps(data))
    arrays = records_to_arrays(records, config)
    del arrays["log10_grad_norms"]
    np.savez(tmp_path / "old.npz", **arrays)
    for name in ("old.json", "old.npz"):
        read_back = read_run(tmp_path / name).records
        for want, got in zip(records, read_back, strict=True):
            np.testing.assert_array_equal(got.grad_norms, want.grad_norms)
            np.testing.assert_array_equal(got.log10_grad_norms, np.log10(want.grad_norms))


def test_logarithms_of_another_shape_are_refused(tmp_path: Path, healthy_run) -> None:
    config, records = healthy_run
    data = json.loads(run_to_json(records, config))
    data["records"][0]["log10_grad_norms"] = [[0.0]]
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(RunFileError, match="log10_grad_norms has shape"):
        read_json(tmp_path / "bad.json")


class _NearlyFullDisk:
    """A text file that takes ``free`` characters, then fails as a full disk does (ENOSPC)."""

    def __init__(self, handle, free: int) -> None:
        self._handle, self.free = handle, free

    def write(self, text: str) -> int:
        if len(text) > self.free:
            self._handle.write(text[: self.free])  # a full disk takes what fits, then refuses
            self.free = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        self.free -= len(text)
        return self._handle.write(text)

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()


@pytest.mark.parametrize("free", [0, 100, 4096])
def test_json_export_that_does_not_fit_on_a_nearly_full_disk(
    tmp_path: Path, monkeypatch, healthy_run, free
) -> None:
    from gradsim.io import atomic

    config, records = healthy_run
    path = tmp_path / "run.json"
    write_json(path, records[:1], config)
    before = path.read_bytes()
    assert len(run_to_json(records, config)) > free  # it really does not fit
    real_open = open
    monkeypatch.setattr(
        atomic, "open", lambda *a, **k: _NearlyFullDisk(real_open(*a, **k), free), raising=False
    )
    with pytest.raises(WriteError) as caught:
        write_json(path, records, config)
    assert str(caught.value) == f"cannot write {path}: the disk is full"
    assert path.read_bytes() == before  # the old export, whole
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]  # and no partial temporary file


def test_json_export_that_just_fits_on_a_nearly_full_disk(tmp_path: Path, monkeypatch, healthy_run) -> None:
    from gradsim.io import atomic

    config, records = healthy_run
    size = len(run_to_json(records, config))
    real_open = open
    monkeypatch.setattr(
        atomic, "open", lambda *a, **k: _NearlyFullDisk(real_open(*a, **k), size), raising=False
    )
    write_json(tmp_path / "run.json", records, config)
    assert (tmp_path / "run.json").read_text() == run_to_json(records, config)


def test_empty_and_truncated_npz_exports_are_one_line(tmp_path: Path, healthy_run) -> None:
    config, records = healthy_run
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(RunFileError) as caught:
        read_npz(empty)
    assert str(caught.value) == f"{empty}: is empty, not an NPZ archive"
    whole = tmp_path / "whole.npz"
    write_npz(whole, records, config)
    cut = tmp_path / "cut.npz"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(RunFileError, match=r"cut\.npz: not a valid NPZ archive"):
        read_run(cut)


def test_deeply_nested_and_huge_number_json_exports_are_one_line(tmp_path: Path, healthy_run) -> None:
    config, records = healthy_run
    deep = tmp_path / "deep.json"
    deep.write_text('{"format": "gradsim-run", "records": ' + "[" * 200_000 + "]" * 200_000 + "}")
    with pytest.raises(RunFileError) as caught:
        read_json(deep)
    assert str(caught.value) == f"{deep}: is nested more than 64 levels deep"
    data = json.loads(run_to_json(records, config))
    text = json.dumps(data).replace('"iteration": 1,', '"iteration": ' + "1" * 5000 + ",", 1)
    digits = tmp_path / "digits.json"
    digits.write_text(text)
    with pytest.raises(RunFileError, match="holds a number of more than 4300 digits"):
        read_json(digits)
    data["records"][0]["loss"] = 10**400
    huge = tmp_path / "huge.json"
    huge.write_text(json.dumps(data))
    with pytest.raises(RunFileError, match=r"not a gradsim run export \(int too large"):
        read_json(huge)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
@pytest.mark.parametrize("name", ["run.json", "run.npz"])
def test_run_export_that_is_a_named_pipe(tmp_path: Path, name: str) -> None:
    os.mkfifo(tmp_path / name)
    with pytest.raises(RunFileError, match="is a named pipe, not a file"):
        read_run(tmp_path / name)


def test_nonfinite_fraction_is_written_and_old_files_without_it_still_load(
    tmp_path: Path, train, assert_records_equal
) -> None:
    # ReLU at 3x the stable scale: the hidden state overflows at iteration 2, in some units only.
    config = SimConfig(num_layers=2, hidden_size=8, seq_len=20, batch_size=3, activation="relu",
                       weight_scale=3.0, learning_rate=0.1)  # fmt: skip
    records = train(config, 5)
    assert 0 < records[-1].nonfinite_fraction.max() < 1
    assert_records_equal(records, read_npz(_written_npz(tmp_path, records, config)).records)
    arrays = records_to_arrays(records, config)
    np.testing.assert_array_equal(arrays["nonfinite_fraction"], [r.nonfinite_fraction for r in records])
    # An export written before the field existed: no array in the npz, no key in the JSON.
    del arrays["nonfinite_fraction"]
    old_npz = tmp_path / "old.npz"
    np.savez(old_npz, **arrays)
    old_json = tmp_path / "old.json"
    data = json.loads(run_to_json(records, config))
    for record in data["records"]:
        del record["nonfinite_fraction"]
    old_json.write_text(json.dumps(data))
    for loaded in (read_npz(old_npz), read_json(old_json)):
        for want, got in zip(records, loaded.records, strict=True):
            np.testing.assert_array_equal(got.nonfinite_fraction, np.zeros(config.num_layers))
            np.testing.assert_array_equal(got.saturation, want.saturation)


def _written_npz(tmp_path: Path, records, config) -> Path:
    path = tmp_path / "new.npz"
    write_npz(path, records, config)
    return path
