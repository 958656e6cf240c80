"""``gradsim config`` and the config options every command shares (``--preset``, ``--config``,
``--set``): the printed config runs bit for bit the same; bad and hostile configs are one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from gradsim import cli
from gradsim.engine.config import SimConfig
from gradsim.engine.presets import list_presets
from gradsim.io.runexport import read_npz


def test_config_printed_saved_and_used_gives_a_bit_identical_run(
    assert_same_records, engine_run, default_config, run_cli, small, tmp_path: Path
) -> None:
    settings = [*small.args, "--set", "learning_rate=0.30000000000000004", "--set", "optimizer=adam"]
    code, toml_text, _ = run_cli("config", *settings)
    assert code == 0
    assert toml_text.startswith("# gradsim config from ")
    config = default_config.replace(**small.settings, learning_rate=0.1 + 0.2, optimizer="adam")
    assert SimConfig.from_dict(tomllib.loads(toml_text)["config"]) == config
    file = tmp_path / "saved.toml"
    file.write_text(toml_text)
    direct, from_file = tmp_path / "direct.npz", tmp_path / "file.npz"
    assert cli.main(["run", *settings, "-n", "3", "-q", "--npz", str(direct)]) == 0
    assert cli.main(["run", "--config", str(file), "-n", "3", "-q", "--npz", str(from_file)]) == 0
    assert_same_records(read_npz(direct).records, read_npz(from_file).records, config)
    assert_same_records(engine_run(config, 3), read_npz(from_file).records, config)


def test_preset_then_file_then_set(run_cli, tmp_path: Path) -> None:
    presets = list_presets()
    if not presets:
        pytest.skip("no presets installed")
    preset = presets[-1]
    partial = tmp_path / "partial.toml"
    partial.write_text("[config]\nhidden_size = 7\nseed = 5\n")
    code, out, _ = run_cli("config", "--preset", preset.name, "--config", str(partial), "--set", "seed=6")
    assert code == 0
    assert SimConfig.from_dict(tomllib.loads(out)["config"]) == preset.config.replace(hidden_size=7, seed=6)
    assert out.startswith(f"# gradsim config from preset {preset.name} + config {partial} + 1 setting\n")
    # A file alone fills what it leaves out with the defaults, not a preset.
    code, out, _ = run_cli("config", "--config", str(partial))
    assert SimConfig.from_dict(tomllib.loads(out)["config"]) == SimConfig(hidden_size=7, seed=5)


def test_no_config_options_mean_the_default_preset(default_config, run_cli) -> None:
    code, out, _ = run_cli("config")
    assert code == 0
    assert SimConfig.from_dict(tomllib.loads(out)["config"]) == default_config


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
def test_config_errors_are_one_line_and_exit_2(
    run_cli, tmp_path: Path, args: list[str], message: str
) -> None:
    output = ["--json", str(tmp_path / "run.json")] if args[0] == "run" else []
    code, out, err = run_cli(*args, *output)
    assert code == 2, err
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("gradsim: error: ") and message in err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_malformed_config_file_names_file_and_field(run_cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[config]\nweight_scale = nan\nactivation = "tanh"\n')
    output = tmp_path / "run.json"
    code, out, err = run_cli("run", "--config", str(bad), "--json", str(output))
    assert (code, out) == (2, "")
    assert err == (
        f"gradsim: error: config file {bad}: weight_scale must be a finite number "
        "greater than 0 and at most 100 (got nan)\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]


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
    run_cli, tmp_path: Path, command, name, text, message
) -> None:
    path = tmp_path / name
    path.write_text(text)
    extra = ["--out", str(tmp_path / "x.png")] if command == "snapshot" else []
    code, out, err = run_cli(command, "--config", str(path), *extra)
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


def test_preset_that_is_a_path_is_not_loaded(run_cli, small, tmp_path: Path) -> None:
    evil = tmp_path / "evil.toml"
    evil.write_text("preset = 5\n[config]\nhidden_size = 3\n")  # the crafted file
    from gradsim.engine.presets import presets_dir

    relative = os.path.relpath(evil.with_suffix(""), presets_dir())
    code, out, err = run_cli("run", "--preset", relative, *small.args)
    assert (code, out) == (2, "")
    names = ", ".join(sorted(preset.name for preset in list_presets()))
    # The name is quoted (cut at 80 characters: a path may be long), then the presets.
    assert err.startswith("gradsim: error: no preset '../") and err.endswith(f"'; presets: {names}\n")
    assert err.count("\n") == 1
