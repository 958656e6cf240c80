"""The command line, called in-process through ``cli.main`` (plus a few real subprocesses)."""

from __future__ import annotations

import dataclasses
import errno
import io
import math
import os
import subprocess
import sys
import tomllib
import types
from pathlib import Path

import numpy as np
import pytest

from gradsim import cli
from gradsim.cli import common as cli_common
from gradsim.cli import run as cli_run
from gradsim.engine import config as cli_config
from gradsim.engine.config import SimConfig
from gradsim.engine.presets import DEFAULT_PRESET, list_presets, load_preset
from gradsim.engine.regime import measure
from gradsim.engine.simulation import Simulation
from gradsim.io.configfile import save_config
from gradsim.io.runexport import read_json, read_npz, records_to_arrays

SMALL = {"num_layers": 2, "hidden_size": 6, "seq_len": 8, "batch_size": 4}
SMALL_ARGS = [arg for key, value in SMALL.items() for arg in ("--set", f"{key}={value}")]
# Large ReLU weights and a large step: overflows to inf/NaN at iteration 2.
EXPLODING_ARGS = SMALL_ARGS + [
    "--set",
    "activation=relu",
    "--set",
    "init=gaussian",
    "--set",
    "weight_scale=10",
    "--set",
    "learning_rate=1",
]


def default_config() -> SimConfig:
    names = [preset.name for preset in list_presets()]
    return load_preset(DEFAULT_PRESET) if DEFAULT_PRESET in names else SimConfig()


def engine_run(config: SimConfig, iterations: int) -> list:
    simulation = Simulation(config)
    records = []
    for _ in range(iterations):
        record = simulation.train_step()
        if record is None:
            break
        records.append(record)
    return records


def assert_same_records(expected: list, actual: list, config: SimConfig, samples: bool = True) -> None:
    """Every field of every record equal, bit for bit (pre-activation samples if ``samples``)."""
    want = records_to_arrays(expected, config, include_samples=samples)
    got = records_to_arrays(actual, config, include_samples=samples)
    assert list(want) == list(got)
    for name in want:
        np.testing.assert_array_equal(want[name], got[name], err_msg=name, strict=True)


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_run_writes_every_record_and_prints_the_engine_summary(tmp_path: Path, capsys) -> None:
    paths = {kind: tmp_path / f"out.{kind}" for kind in ("json", "npz", "csv")}
    code, out, err = run_cli(
        capsys,
        "run",
        *SMALL_ARGS,
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
    config = default_config().replace(**SMALL)
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


def test_exploding_run_is_a_normal_outcome(tmp_path: Path, capsys) -> None:
    path = tmp_path / "boom.json"
    code, out, err = run_cli(capsys, "run", *EXPLODING_ARGS, "-n", "10", "--json", str(path))
    assert (code, err) == (0, "")
    config = default_config().replace(**SMALL, activation="relu", init="gaussian", weight_scale=10.0)
    config = config.replace(learning_rate=1.0)
    expected = engine_run(config, 10)
    last = expected[-1]
    assert last.nonfinite is not None and len(expected) < 10
    lines = out.splitlines()
    assert f"iterations: {last.iteration} of 10 (the run halted on a non-finite value)" in lines
    assert f"regime: non-finite: {last.nonfinite.describe()}" in lines
    assert f"final loss: {last.loss:.6g}" in lines
    assert_same_records(expected, read_json(path).records, config, samples=False)


def test_summary_of_an_exploded_step_shows_the_last_defined_ratio() -> None:
    config = SimConfig(**SMALL)
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


def test_summary_writes_a_ratio_below_float64_from_its_logarithm() -> None:
    (record,) = engine_run(SimConfig(**{**SMALL, "activation": "sigmoid", "seq_len": 1200}), 1)
    ratio = record.log10_grad_norms[0, 0] - record.log10_grad_norms[0, -1]
    assert ratio < -330 and record.gradient_ratio == 0.0  # no float64 holds it
    exponent = math.floor(ratio)
    # The regime line quotes the extreme span, here layer 1's: the same ratio, written from its log.
    lines = cli_run.summary_lines(record, 1)
    (regime,) = [line for line in lines if line.startswith("regime: ")]
    assert f"{10 ** (ratio - exponent):.2f}e{exponent} over 1199 steps" in regime


def test_quiet_prints_nothing_but_writes(tmp_path: Path, capsys) -> None:
    code, out, err = run_cli(capsys, "run", *SMALL_ARGS, "-n", "2", "-q", "--npz", str(tmp_path / "r.npz"))
    assert (code, out, err) == (0, "", "")
    assert len(read_npz(tmp_path / "r.npz").records) == 2


def test_config_printed_saved_and_used_gives_a_bit_identical_run(tmp_path: Path, capsys) -> None:
    settings = [*SMALL_ARGS, "--set", "learning_rate=0.30000000000000004", "--set", "optimizer=adam"]
    code, toml_text, _ = run_cli(capsys, "config", *settings)
    assert code == 0
    assert toml_text.startswith("# gradsim config from ")
    config = default_config().replace(**SMALL, learning_rate=0.1 + 0.2, optimizer="adam")
    assert SimConfig.from_dict(tomllib.loads(toml_text)["config"]) == config
    file = tmp_path / "saved.toml"
    file.write_text(toml_text)
    direct, from_file = tmp_path / "direct.npz", tmp_path / "file.npz"
    assert cli.main(["run", *settings, "-n", "3", "-q", "--npz", str(direct)]) == 0
    assert cli.main(["run", "--config", str(file), "-n", "3", "-q", "--npz", str(from_file)]) == 0
    assert_same_records(read_npz(direct).records, read_npz(from_file).records, config)
    assert_same_records(engine_run(config, 3), read_npz(from_file).records, config)


def test_preset_then_file_then_set(tmp_path: Path, capsys) -> None:
    presets = list_presets()
    if not presets:
        pytest.skip("no presets installed")
    preset = presets[-1]
    partial = tmp_path / "partial.toml"
    partial.write_text("[config]\nhidden_size = 7\nseed = 5\n")
    code, out, _ = run_cli(
        capsys, "config", "--preset", preset.name, "--config", str(partial), "--set", "seed=6"
    )
    assert code == 0
    assert SimConfig.from_dict(tomllib.loads(out)["config"]) == preset.config.replace(hidden_size=7, seed=6)
    assert out.startswith(f"# gradsim config from preset {preset.name} + config {partial} + 1 setting\n")
    # A file alone fills what it leaves out with the defaults, not a preset.
    code, out, _ = run_cli(capsys, "config", "--config", str(partial))
    assert SimConfig.from_dict(tomllib.loads(out)["config"]) == SimConfig(hidden_size=7, seed=5)


def test_no_config_options_mean_the_default_preset(capsys) -> None:
    code, out, _ = run_cli(capsys, "config")
    assert code == 0
    assert SimConfig.from_dict(tomllib.loads(out)["config"]) == default_config()


def test_presets_lists_every_preset_in_order(capsys) -> None:
    code, out, err = run_cli(capsys, "presets")
    assert (code, err) == (0, "")
    presets = list_presets()
    lines = out.splitlines()
    if not presets:
        assert lines == [lines[0]] and lines[0].startswith("no presets found in ")
        return
    assert lines[0].split() == ["name", "shows", "title"]
    assert len(lines) == 1 + len(presets)
    for line, preset in zip(lines[1:], presets, strict=True):
        name, expect, title = line.split(maxsplit=2)
        assert (name, expect, title) == (preset.name, preset.expect, preset.title)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--preset", "no-such-preset"], "no preset 'no-such-preset'; presets: default, "),
        (["run", "--preset", "../../../../tmp/evil"], "no preset '../../../../tmp/evil'; presets: default"),
        (
            ["run", "--set", "hidden_size=0"],
            "--set hidden_size=0: hidden_size must be between 1 and 1024 (got 0)",
        ),
        (
            ["run", "--set", "weight_scale=nan"],
            "--set weight_scale=nan: weight_scale must be a finite number",
        ),
        (["config", "--set", "colour=blue"], "--set colour=blue: unknown setting 'colour'"),
        (["config", "--set", "hidden_size"], "--set expects KEY=VALUE (got 'hidden_size')"),
        (["run", "--config", "does-not-exist.toml"], "config file does-not-exist.toml: no such file"),
    ],
)
def test_config_errors_are_one_line_and_exit_2(tmp_path: Path, capsys, args: list[str], message: str) -> None:
    output = ["--json", str(tmp_path / "run.json")] if args[0] == "run" else []
    code, out, err = run_cli(capsys, *args, *output)
    assert code == 2, err
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("gradsim: error: ") and message in err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_malformed_config_file_names_file_and_field(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[config]\nweight_scale = nan\nactivation = "tanh"\n')
    output = tmp_path / "run.json"
    code, out, err = run_cli(capsys, "run", "--config", str(bad), "--json", str(output))
    assert (code, out) == (2, "")
    assert err == (
        f"gradsim: error: config file {bad}: weight_scale must be a finite number "
        "greater than 0 and at most 100 (got nan)\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]


def test_usage_errors_exit_2(capsys) -> None:
    for args in (["run", "--iterations", "0"], ["run", "-n", "many"], ["frobnicate"], ["run", "--bogus"]):
        code, out, err = run_cli(capsys, *args)
        assert code == 2 and out == "" and "usage: gradsim" in err, args


def test_help_and_version(capsys) -> None:
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0
    for command in ("run", "presets", "config"):
        assert command in out
    code, out, _ = run_cli(capsys, "run", "--help")
    assert code == 0 and "--preset" in out and "--set KEY=VALUE" in out and "--npz FILE" in out
    code, out, _ = run_cli(capsys, "--version")
    assert code == 0 and out.startswith("gradsim ")


def test_output_into_a_missing_folder_fails_before_running(tmp_path: Path, capsys, monkeypatch) -> None:
    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("the run should not start")

    monkeypatch.setattr(cli_run, "train", must_not_run)
    target = tmp_path / "missing" / "run.json"
    code, out, err = run_cli(capsys, "run", *SMALL_ARGS, "--json", str(target))
    assert (code, out) == (2, "")
    assert err == f"gradsim: error: cannot write {target}: folder {target.parent} does not exist\n"
    (tmp_path / "file").write_text("x")
    code, _, err = run_cli(capsys, "run", *SMALL_ARGS, "--csv", str(tmp_path / "file" / "run.csv"))
    assert code == 2 and "is not a folder" in err
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_failed_write_exits_1_and_leaves_nothing(tmp_path: Path, capsys, monkeypatch) -> None:
    def fail(*args: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "replace", fail)
    target = tmp_path / "run.json"
    code, out, err = run_cli(capsys, "run", *SMALL_ARGS, "-n", "2", "--json", str(target))
    assert code == 1
    assert err == f"gradsim: error: cannot write {target}: folder is not writable (permission denied)\n"
    assert "iterations: 2" in out.splitlines()  # the summary is still printed
    assert list(tmp_path.iterdir()) == []


def test_interrupt_keeps_the_records_so_far(tmp_path: Path, capsys, monkeypatch) -> None:
    class Interrupted(Simulation):
        def train_step(self):
            if self.iteration == 3:
                raise KeyboardInterrupt
            return super().train_step()

    monkeypatch.setattr(cli_run, "Simulation", Interrupted)
    target = tmp_path / "run.json"
    code, out, _ = run_cli(capsys, "run", *SMALL_ARGS, "-n", "10", "--json", str(target))
    assert code == 130
    assert "interrupted after 3 of 10 iterations" in out.splitlines()
    assert [r.iteration for r in read_json(target).records] == [1, 2, 3]


def test_train_without_keeping_records_returns_only_the_last() -> None:
    config = SimConfig(**SMALL)
    kept, _ = cli_run.train(config, 3, keep_records=False)
    full, interrupted = cli_run.train(config, 3)
    assert not interrupted and len(kept) == 1 and len(full) == 3
    assert_same_records(full[-1:], kept, config)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_draws_on_a_terminal_throttled_and_erases_itself() -> None:
    stream = _Terminal()
    bar = cli_common.ProgressBar(50, stream, interval=3600.0, width=10)
    for done in range(1, 51):
        bar.update(done, 0.5)
    bar.close()
    frames = stream.getvalue().split("\r")[1:]
    # First update and the final one are drawn; everything between is throttled away.
    assert frames[0] == "[----------] 1/50  loss 0.5"
    assert frames[1] == "[##########] 50/50  loss 0.5"
    assert frames[2:] == [" " * len(frames[1]), ""]


def test_progress_bar_stays_silent_off_a_terminal() -> None:
    stream = io.StringIO()
    bar = cli_common.ProgressBar(5, stream, interval=0.0)
    for done in range(1, 6):
        bar.update(done, 1.0)
    bar.close()
    assert stream.getvalue() == ""


def test_no_arguments_open_the_window_without_importing_it_earlier(monkeypatch) -> None:
    calls = []
    fake = types.ModuleType("gradsim.ui.app")

    def fake_main(argv: list[str] | None = None) -> int:
        calls.append(argv)
        return 7

    fake.main = fake_main  # type: ignore[attr-defined]
    import gradsim.ui

    monkeypatch.delattr(gradsim.ui, "app", raising=False)
    monkeypatch.setitem(sys.modules, "gradsim.ui.app", fake)
    assert cli.main([]) == 7
    assert calls == [[]]


def test_window_that_cannot_be_imported_gives_a_message(monkeypatch, capsys) -> None:
    import gradsim.ui

    monkeypatch.delattr(gradsim.ui, "app", raising=False)
    monkeypatch.setitem(sys.modules, "gradsim.ui.app", None)
    code, out, err = run_cli(capsys)
    assert code == 1 and out == ""
    assert err.startswith("gradsim: error: cannot open the window (") and "gradsim run" in err


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )


def test_python_dash_m_gradsim_run() -> None:
    result = _python("-m", "gradsim", "run", "--iterations", "2", "--set", "seq_len=5")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # not a terminal: no progress bar
    lines = result.stdout.splitlines()
    assert "iterations: 2" in lines
    config = default_config().replace(seq_len=5)
    last = engine_run(config, 2)[-1]
    assert f"final loss: {last.loss:.6g}" in lines
    assert f"regime: {measure(last).sentence()}" in lines


def test_headless_commands_never_import_qt(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from gradsim import cli\n"
        "import gradsim.io.atomic, gradsim.io.configfile, gradsim.io.runexport\n"
        "assert cli.main(['presets']) == 0\n"
        "assert cli.main(['config']) == 0\n"
        f"npz = {str(tmp_path / 'r.npz')!r}\n"
        "assert cli.main(['run', '-q', '-n', '1', '--set', 'seq_len=3', '--npz', npz]) == 0\n"
        "qt = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6'))\n"
        "print('QT:', qt)\n"
    )
    result = _python("-c", script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "QT: []"


def test_saved_config_file_runs_like_the_cli_settings(tmp_path: Path, capsys) -> None:
    config = SimConfig(**SMALL, activation="sigmoid", seed=4)
    save_config(config, tmp_path / "c.json")
    code, _, _ = run_cli(
        capsys, "run", "--config", str(tmp_path / "c.json"), "-n", "2", "--npz", str(tmp_path / "r.npz")
    )
    assert code == 0
    assert_same_records(engine_run(config, 2), read_npz(tmp_path / "r.npz").records, config)


# -- hostile config files, presets that are paths, runs that do not fit -----------------------

DEEP = 50_000


@pytest.mark.parametrize("command", ["run", "config", "snapshot"])
@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("deep.toml", "seed = " + "[" * DEEP + "]" * DEEP, "is nested more than 64 levels deep"),
        (
            "deep.json",
            '{"seed": ' + '{"a": ' * DEEP + "1" + "}" * DEEP + "}",
            "is nested more than 64 levels deep",
        ),
        ("inline.toml", "seed = " + "{a = " * DEEP + "1" + "}" * DEEP, "is nested more than 64 levels deep"),
        ("digits.toml", "seed = " + "9" * 5000, "holds a number of more than 4300 digits"),
        (
            "scale.toml",
            "weight_scale = 1" + "0" * 400,
            "weight_scale must be greater than 0 and at most 100 (got an integer of 401 digits)",
        ),
    ],
)
def test_hostile_config_files_on_every_config_path(
    tmp_path: Path, capsys, command, name, text, message
) -> None:
    path = tmp_path / name
    path.write_text(text)
    extra = ["--out", str(tmp_path / "x.png")] if command == "snapshot" else []
    code, out, err = run_cli(capsys, command, "--config", str(path), *extra)
    assert (code, out) == (2, "")
    assert err == f"gradsim: error: config file {path}: {message}\n"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_named_pipe_as_config_does_not_hang(tmp_path: Path) -> None:
    # A real process with a timeout: a regression would block in open() forever.
    pipe = tmp_path / "config.toml"
    os.mkfifo(pipe)
    done = subprocess.run(
        [sys.executable, "-m", "gradsim", "run", "--config", str(pipe)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert done.returncode == 2
    assert done.stderr == f"gradsim: error: config file {pipe}: is a named pipe, not a file\n"


def test_preset_that_is_a_path_is_not_loaded(tmp_path: Path, capsys) -> None:
    evil = tmp_path / "evil.toml"
    evil.write_text("preset = 5\n[config]\nhidden_size = 3\n")  # the crafted file
    from gradsim.engine.presets import presets_dir

    relative = os.path.relpath(evil.with_suffix(""), presets_dir())
    code, out, err = run_cli(capsys, "run", "--preset", relative, *SMALL_ARGS)
    assert (code, out) == (2, "")
    names = ", ".join(sorted(preset.name for preset in list_presets()))
    # The name is quoted (cut at 80 characters: a path may be long), then the presets.
    assert err.startswith("gradsim: error: no preset '../") and err.endswith(f"'; presets: {names}\n")
    assert err.count("\n") == 1


def test_run_that_cannot_fit_is_refused_naming_the_setting(capsys, monkeypatch) -> None:
    monkeypatch.setattr(cli_config, "available_memory_bytes", lambda: 50 * 2**20)
    code, out, err = run_cli(
        capsys, "run", "-n", "1", *SMALL_ARGS, "--set", "seq_len=2000", "--set", "batch_size=512"
    )
    assert (code, out) == (2, "")
    assert err.startswith("gradsim: error: this run would need about ")
    assert "more than the memory free now (50 MiB); lower batch_size to " in err and err.count("\n") == 1


def test_large_or_slow_run_is_warned_about_before_it_starts(capsys, monkeypatch) -> None:
    config = SimConfig(**SMALL)
    monkeypatch.setattr(cli_config, "available_memory_bytes", lambda: int(config.memory_bytes * 1.5))
    monkeypatch.setattr(cli_config, "step_seconds", lambda config, speed=None: 42.0)
    code, out, err = run_cli(capsys, "run", "-n", "1", "-q", *SMALL_ARGS)
    assert (code, out) == (0, "")
    lines = err.splitlines()
    assert lines[0].startswith("gradsim: warning: this run needs about ")
    assert "more than half the memory free now" in lines[0]
    assert lines[1].startswith("gradsim: warning: one training step of this run should take about 42 s")
