"""The entry point (:func:`gradsim.cli.main`): usage errors, help, version, ``python -m gradsim``,
the window opened only without arguments, and no Qt for the headless commands."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

from gradsim import cli
from gradsim.engine.regime import measure


def test_usage_errors_exit_2(run_cli) -> None:
    for args in (["run", "--iterations", "0"], ["run", "-n", "many"], ["frobnicate"], ["run", "--bogus"]):
        code, out, err = run_cli(*args)
        assert code == 2 and out == "" and "usage: gradsim" in err, args


def test_an_unknown_option_shows_the_usage_of_its_subcommand(run_cli) -> None:
    cases = [
        (["run", "--bogus"], "gradsim run", "--bogus"),
        (["run", "-n", "2", "extra"], "gradsim run", "extra"),
        (["sweep", "--list", "--bogus"], "gradsim sweep", "--bogus"),
        (["store", "info", "--bogus"], "gradsim store info", "--bogus"),
        (["--bogus", "run"], "gradsim", "--bogus"),
    ]
    for args, command, unknown in cases:
        code, out, err = run_cli(*args)
        assert (code, out) == (2, ""), args
        assert err.startswith(f"usage: {command} ["), args
        assert err.endswith(f"\n{command}: error: unrecognized arguments: {unknown}\n"), args


def test_help_and_version(run_cli) -> None:
    code, out, _ = run_cli("--help")
    assert code == 0
    for command in ("run", "presets", "config"):
        assert command in out
    code, out, _ = run_cli("run", "--help")
    assert code == 0 and "--preset" in out and "--set KEY=VALUE" in out and "--npz FILE" in out
    code, out, _ = run_cli("--version")
    assert code == 0 and out.startswith("gradsim ")


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


def test_window_that_cannot_be_imported_gives_a_message(run_cli, monkeypatch) -> None:
    import gradsim.ui

    monkeypatch.delattr(gradsim.ui, "app", raising=False)
    monkeypatch.setitem(sys.modules, "gradsim.ui.app", None)
    code, out, err = run_cli()
    assert code == 1 and out == ""
    assert err.startswith("gradsim: error: cannot open the window (") and "gradsim run" in err


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )


def test_python_dash_m_gradsim_run(engine_run, default_config) -> None:
    result = _python("-m", "gradsim", "run", "--iterations", "2", "--set", "seq_len=5")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # not a terminal: no progress bar
    lines = result.stdout.splitlines()
    assert "iterations: 2" in lines
    config = default_config.replace(seq_len=5)
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
