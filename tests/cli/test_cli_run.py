"""``gradsim run``: records written bit for bit as the engine computes them, the summary, and
what stops a run before it starts."""

from __future__ import annotations

import dataclasses
import errno
import math
import os
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from gradsim.cli import run as cli_run
from gradsim.engine import resources
from gradsim.engine.config import SimConfig
from gradsim.engine.regime import measure
from gradsim.engine.simulation import PREACTIVATION_SAMPLE, Simulation
from gradsim.io.configfile import save_config
from gradsim.io.runexport import read_json, read_npz
from gradsim.io.weights import load_weights, save_weights


def test_run_writes_every_record_and_prints_the_engine_summary(
    assert_same_records, engine_run, default_config, run_cli, small, tmp_path: Path
) -> None:
    paths = {kind: tmp_path / f"out.{kind}" for kind in ("json", "npz", "csv")}
    code, out, err = run_cli(
        "run",
        *small.args,
        "--iterations",
        "4",
        "--json",
        str(paths["json"]),
        "--npz",
        str(paths["npz"]),
        "--csv",
        str(paths["csv"]),
    )
    assert (code, err) == (0, "")
    config = default_config.replace(**small.settings)
    expected = engine_run(config, 4)
    last = expected[-1]
    assert read_json(paths["json"]).config == config
    assert_same_records(expected, read_npz(paths["npz"]).records, config)
    assert_same_records(expected, read_json(paths["json"]).records, config, samples=False)
    assert len(paths["csv"].read_text().splitlines()) == 1 + 4 * 2 * 8
    lines = out.splitlines()
    assert lines[0].startswith("config: preset ") or lines[0].startswith("config: built-in defaults")
    assert "2 layers x 6 units, 8 time steps" in lines[0]
    assert "iterations: 4" in lines
    assert f"final loss: {last.loss:.6g}" in lines
    # The regime line is the measure's sentence (the badge's), then one line per span.
    measured = measure(last)
    assert f"regime: {measured.sentence()}" in lines
    start = lines.index(f"regime: {measured.sentence()}") + 1
    assert lines[start : start + 3] == [f"  {line}" for line in measured.span_lines()]
    assert len(measured.spans) == 3  # time in layers 1 and 2, depth
    for kind, path in paths.items():
        assert f"wrote {path} (4 records)" in lines, kind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv", "out.json", "out.npz"]


def test_exploding_run_is_a_normal_outcome(
    assert_same_records, engine_run, default_config, run_cli, small, tmp_path: Path
) -> None:
    path = tmp_path / "boom.json"
    # Large ReLU weights and a large step: overflows to inf/NaN at iteration 2.
    exploding = [*small.args, "--set", "activation=relu", "--set", "init=gaussian"]
    exploding += ["--set", "weight_scale=10", "--set", "learning_rate=1"]
    code, out, err = run_cli("run", *exploding, "-n", "10", "--json", str(path))
    assert (code, err) == (0, "")
    config = default_config.replace(**small.settings, activation="relu", init="gaussian", weight_scale=10.0)
    config = config.replace(learning_rate=1.0)
    expected = engine_run(config, 10)
    last = expected[-1]
    assert last.nonfinite is not None and len(expected) < 10
    lines = out.splitlines()
    assert f"iterations: {last.iteration} of 10 (the run halted on a non-finite value)" in lines
    assert f"regime: non-finite: {last.nonfinite.describe()}" in lines
    assert f"final loss: {last.loss:.6g}" in lines
    assert_same_records(expected, read_json(path).records, config, samples=False)


def test_summary_of_an_exploded_step_shows_the_last_defined_ratio(engine_run, small) -> None:
    config = SimConfig(**small.settings)
    first, second = engine_run(config, 2)
    norms = second.grad_norms.copy()
    norms[0, 0] = np.nan
    exploded = dataclasses.replace(second, grad_norms=norms, log10_grad_norms=np.log10(norms))
    lines = cli_run.summary_lines(exploded, 5, last_finite=first)
    assert lines[0] == "iterations: 2 of 5 (the run halted on a non-finite value)"
    # The last finite iteration's most extreme span says how large the gradient was.
    assert lines[2] == "regime: non-finite: a gradient is inf or NaN"
    assert lines[3] == f"at iteration 1: {measure(first).extreme.describe()}"
    assert lines[4:] == [f"  {line}" for line in measure(first).span_lines()]
    assert cli_run.summary_lines(None, 5) == ["no iterations were run"]


def test_summary_writes_a_ratio_below_float64_from_its_logarithm(engine_run, small) -> None:
    (record,) = engine_run(SimConfig(**{**small.settings, "activation": "sigmoid", "seq_len": 1200}), 1)
    ratio = record.log10_grad_norms[0, 0] - record.log10_grad_norms[0, -1]
    assert ratio < -330 and record.gradient_ratio == 0.0  # no float64 holds it
    exponent = math.floor(ratio)
    # The regime line quotes the extreme span, here layer 1's: the same ratio, written from its log.
    lines = cli_run.summary_lines(record, 1)
    (regime,) = [line for line in lines if line.startswith("regime: ")]
    assert f"{10 ** (ratio - exponent):.2f}e{exponent} over 1199 steps" in regime


def test_quiet_prints_nothing_but_writes(run_cli, small, tmp_path: Path) -> None:
    code, out, err = run_cli("run", *small.args, "-n", "2", "-q", "--npz", str(tmp_path / "r.npz"))
    assert (code, out, err) == (0, "", "")
    assert len(read_npz(tmp_path / "r.npz").records) == 2


def test_output_into_a_missing_folder_fails_before_running(
    run_cli, small, tmp_path: Path, monkeypatch
) -> None:
    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("the run should not start")

    monkeypatch.setattr(cli_run, "train", must_not_run)
    target = tmp_path / "missing" / "run.json"
    code, out, err = run_cli("run", *small.args, "--json", str(target))
    assert (code, out) == (2, "")
    assert err == f"gradsim: error: cannot write {target}: folder {target.parent} does not exist\n"
    (tmp_path / "file").write_text("x")
    code, _, err = run_cli("run", *small.args, "--csv", str(tmp_path / "file" / "run.csv"))
    assert code == 2 and "is not a folder" in err
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_an_output_that_is_an_input_or_another_output_is_refused_before_running(
    run_cli, small, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(cli_run, "train", lambda *a, **k: pytest.fail("the run should not start"))
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "c.json"
    save_config(SimConfig(), config)
    before = config.read_bytes()
    overwrite = "cannot write {}: it is the {} file, which {} would overwrite"
    same = "{} and {} name the same file ({}): give each its own"
    cases = [
        (["--config", "c.json", "--json", str(config)], overwrite.format(config, "--config", "--json")),
        (["--config", "c.json", "--json", "./c.json"], overwrite.format("./c.json", "--config", "--json")),
        (["--json", "same.json", "--npz", "same.json"], same.format("--json", "--npz", "same.json")),
        (["--npz", "r.npz", "--save-weights", "./r.npz"], same.format("--npz", "--save-weights", "./r.npz")),
        (
            ["--weights", "w.npz", "--save-weights", "w.npz"],
            overwrite.format("w.npz", "--weights", "--save-weights"),
        ),
    ]
    for arguments, message in cases:
        code, out, err = run_cli("run", *small.args, *arguments)
        assert (code, out, err) == (2, "", f"gradsim: error: {message}\n"), arguments
    assert config.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.json"]


def test_an_output_whose_name_does_not_end_as_its_format_is_refused(
    run_cli, small, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(cli_run, "train", lambda *a, **k: pytest.fail("the run should not start"))
    monkeypatch.chdir(tmp_path)
    for option, name, suffix in [
        ("--npz", "out.txt", ".npz"),
        ("--csv", "out.json", ".csv"),
        ("--json", "out", ".json"),
    ]:
        code, out, err = run_cli("run", *small.args, option, name)
        assert (code, out) == (2, "")
        assert err == f"gradsim: error: cannot write {name}: the file name of {option} must end in {suffix}\n"
    assert list(tmp_path.iterdir()) == []
    # The ending is read whatever its case.
    monkeypatch.undo()
    code, _, _ = run_cli("run", *small.args, "-n", "1", "-q", "--json", str(tmp_path / "OUT.JSON"))
    assert code == 0 and len(read_json(tmp_path / "OUT.JSON").records) == 1


def test_failed_write_exits_1_and_leaves_nothing(run_cli, small, tmp_path: Path, monkeypatch) -> None:
    def fail(*args: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "replace", fail)
    target = tmp_path / "run.json"
    code, out, err = run_cli("run", *small.args, "-n", "2", "--json", str(target))
    assert code == 1
    assert err == f"gradsim: error: cannot write {target}: folder is not writable (permission denied)\n"
    assert "iterations: 2" in out.splitlines()  # the summary is still printed
    assert list(tmp_path.iterdir()) == []


def test_interrupt_keeps_the_records_so_far(run_cli, small, tmp_path: Path, monkeypatch) -> None:
    class Interrupted(Simulation):
        def train_step(self):
            if self.iteration == 3:
                raise KeyboardInterrupt
            return super().train_step()

    monkeypatch.setattr(cli_run, "Simulation", Interrupted)
    target = tmp_path / "run.json"
    code, out, _ = run_cli("run", *small.args, "-n", "10", "--json", str(target))
    assert code == 130
    assert "interrupted after 3 of 10 iterations" in out.splitlines()
    assert [r.iteration for r in read_json(target).records] == [1, 2, 3]


def test_train_without_keeping_records_returns_only_the_last(assert_same_records, small) -> None:
    config = SimConfig(**small.settings)
    kept, _ = cli_run.train(config, 3, keep_records=False)
    full, interrupted = cli_run.train(config, 3)
    assert not interrupted and len(kept) == 1 and len(full) == 3
    assert_same_records(full[-1:], kept, config)


def test_saved_config_file_runs_like_the_cli_settings(
    assert_same_records, engine_run, run_cli, small, tmp_path: Path
) -> None:
    config = SimConfig(**small.settings, activation="sigmoid", seed=4)
    save_config(config, tmp_path / "c.json")
    code, _, _ = run_cli(
        "run", "--config", str(tmp_path / "c.json"), "-n", "2", "--npz", str(tmp_path / "r.npz")
    )
    assert code == 0
    assert_same_records(engine_run(config, 2), read_npz(tmp_path / "r.npz").records, config)


def test_run_that_cannot_fit_is_refused_naming_the_setting(run_cli, small, monkeypatch) -> None:
    monkeypatch.setattr(resources, "available_memory_bytes", lambda: 50 * 2**20)
    code, out, err = run_cli(
        "run", "-n", "1", *small.args, "--set", "seq_len=2000", "--set", "batch_size=512"
    )
    assert (code, out) == (2, "")
    assert err.startswith("gradsim: error: this run would need about ")
    assert "more than the memory free now (50.0 MiB); lower batch_size to " in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"num_layers": 4, "seq_len": 200},
        {"cell": "lstm", "seq_len": 50},
        {"cell": "gru", "num_layers": 3, "seq_len": 30},
        {"normalization": "batch", "num_layers": 3},
    ],
)
def test_record_bytes_is_what_kept_records_hold(small, settings) -> None:
    config = SimConfig(**{**small.settings, **settings})
    for samples in (True, False):
        simulation = Simulation(config)
        cli_run.train(config, 1, simulation=simulation)  # the first step's one-off allocations
        tracemalloc.start()
        try:
            records, _ = cli_run.train(config, 40, simulation=simulation, keep_samples=samples)
            held = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        assert len(records) == 40
        assert records[0].preactivation_samples.shape[1] == (PREACTIVATION_SAMPLE if samples else 0)
        measured = held / 40
        assert 0.8 < cli_run.record_bytes(config, samples) / measured < 1.5, (samples, measured)


def test_output_files_whose_records_would_not_fit_are_refused_before_the_run(
    run_cli, small, tmp_path: Path, monkeypatch
) -> None:
    # Every record is kept until the files are written: -n 100000000 grew by 31 MB/s without end.
    monkeypatch.setattr(cli_run, "train", lambda *a, **k: pytest.fail("the run should not start"))
    code, out, err = run_cli("run", *small.args, "-n", "100000000", "--json", str(tmp_path / "big.json"))
    assert (code, out) == (2, "") and err.count("\n") == 1
    assert err.startswith(
        "gradsim: error: writing --json keeps every record in memory until the run ends: 100000000 "
        "iterations would need about "
    )
    assert list(tmp_path.iterdir()) == []

    # The numbers: half the memory free now, records with samples for --npz, and a second copy.
    monkeypatch.setattr(resources, "available_memory_bytes", lambda: 200 * 2**20)
    config = SimConfig(**small.settings)
    per_record = 2 * cli_run.record_bytes(config, True) - cli_run._RECORD_OVERHEAD_BYTES
    most = 100 * 2**20 // per_record
    cli_run.check_records_memory(config, most, ["--npz"], samples=True)
    with pytest.raises(cli_run.common.CommandError) as refused:
        cli_run.check_records_memory(config, most + 1, ["--npz", "--csv"], samples=True)
    assert str(refused.value).endswith(
        f"more than half the memory free now (100.0 MiB); lower --iterations to {most} or less, "
        "or run without output files"
    )
    # JSON and CSV leave the samples out, so a record is smaller; without files nothing is kept.
    assert cli_run.record_bytes(config, False) < cli_run.record_bytes(config, True) / 4
    cli_run.check_records_memory(config, 10**12, [], samples=False)


def test_a_long_run_without_output_files_keeps_one_record(run_cli, small, monkeypatch) -> None:
    kept = []
    real_train = cli_run.train

    def train(*args, **kwargs):
        records, interrupted = real_train(*args, **kwargs)
        kept.append((len(records), kwargs["keep_records"]))
        return records, interrupted

    monkeypatch.setattr(cli_run, "train", train)
    code, out, err = run_cli("run", *small.args, "-n", "300", "-q")
    assert (code, out, err) == (0, "", "") and kept == [(1, False)]


def test_a_json_only_run_writes_the_records_without_keeping_their_samples(
    assert_same_records, engine_run, default_config, run_cli, small, tmp_path: Path
) -> None:
    code, _, _ = run_cli("run", *small.args, "-n", "3", "-q", "--json", str(tmp_path / "r.json"))
    config = default_config.replace(**small.settings)
    assert code == 0
    assert_same_records(engine_run(config, 3), read_json(tmp_path / "r.json").records, config, samples=False)


def test_large_or_slow_run_is_warned_about_before_it_starts(run_cli, small, monkeypatch) -> None:
    config = SimConfig(**small.settings)
    monkeypatch.setattr(resources, "available_memory_bytes", lambda: int(config.memory_bytes * 1.5))
    monkeypatch.setattr(resources, "step_seconds", lambda config, speed=None: 42.0)
    code, out, err = run_cli("run", "-n", "1", "-q", *small.args)
    assert (code, out) == (0, "")
    lines = err.splitlines()
    assert lines[0].startswith("gradsim: warning: this run needs about ")
    assert "more than half the memory free now" in lines[0]
    assert lines[1].startswith("gradsim: warning: one training step of this run should take about 42 s")


def test_weights_saved_after_a_run_start_the_next_run_where_it_ended(
    assert_same_records, default_config, run_cli, small, tmp_path: Path
) -> None:
    config = default_config.replace(**small.settings, cell="lstm")
    lstm = [*small.args, "--set", "cell=lstm"]
    saved = tmp_path / "trained.safetensors"
    code, out, err = run_cli("run", *lstm, "-n", "3", "--save-weights", str(saved))
    assert (code, err) == (0, "")
    assert f"wrote {saved} (the weights)" in out.splitlines()
    trained = Simulation(config)
    for _ in range(3):
        trained.train_step()
    loaded = load_weights(saved, config)
    assert sorted(loaded) == sorted(trained.params)
    for name, value in trained.params.items():
        np.testing.assert_array_equal(loaded[name], value, err_msg=name)
    # Started from them, a run trains on from the trained weights, not from the initial ones.
    target = tmp_path / "next.json"
    code, _, err = run_cli("run", *lstm, "-n", "1", "--weights", str(saved), "--json", str(target))
    assert (code, err) == (0, "")
    expected = Simulation(config, weights=loaded).train_step()
    assert expected is not None
    assert_same_records([expected], read_json(target).records, config, samples=False)
    fresh = Simulation(config).train_step()
    assert fresh is not None and fresh.loss != expected.loss


def test_summary_of_an_lstm_adds_its_cell_state_span(run_cli, small) -> None:
    code, out, _ = run_cli("run", *small.args, "--set", "cell=lstm", "-n", "2")
    assert code == 0
    line = next(line for line in out.splitlines() if line.startswith("cell state ||dL/dc||: "))
    assert "layer" in line or "depth" in line
    code, out, _ = run_cli("run", *small.args, "-n", "2")
    assert not any(line.startswith("cell state") for line in out.splitlines())


def test_weights_that_do_not_fit_or_are_a_pickle_are_refused_before_the_run(
    run_cli, small, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong.npz"
    save_weights(wrong, Simulation(SimConfig(**{**small.settings, "hidden_size": 5})).params)
    code, out, err = run_cli("run", *small.args, "-n", "2", "--weights", str(wrong))
    assert (code, out) == (2, "")
    assert err.startswith(f"gradsim: error: {wrong}") and err.count("\n") == 1 and "shape" in err
    pickle = tmp_path / "model.pt"
    pickle.write_bytes(b"\x80\x04not opened")
    for option in ("--weights", "--save-weights"):
        code, out, err = run_cli("run", *small.args, "-n", "2", option, str(pickle))
        assert (code, out) == (2, "")
        assert "a pickle" in err and err.count("\n") == 1
