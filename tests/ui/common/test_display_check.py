"""The check before Qt starts: a missing X library or display is one line and a non-zero exit."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gradsim.ui.common import display_check

LDD_OUTPUT = """\
\tlinux-vdso.so.1 (0x00007ffc)
\tlibQt6XcbQpa.so.6 => /x/Qt/lib/libQt6XcbQpa.so.6 (0x00007f)
\tlibxcb-cursor.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb-cursor.so.0 => not found
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)
"""


def fake_ldd(folder: Path, output: str) -> Path:
    """An executable that prints ``output`` like ldd does for any file."""
    script = folder / "ldd"
    (folder / "ldd-output.txt").write_text(output)
    script.write_text(f"#!/bin/sh\ncat '{folder / 'ldd-output.txt'}'\n")
    script.chmod(0o755)
    return script


@pytest.mark.parametrize(
    ("soname", "package"),
    [
        ("libxcb-cursor.so.0", "libxcb-cursor0"),
        ("libxcb-icccm.so.4", "libxcb-icccm4"),
        ("libxcb-keysyms.so.1", "libxcb-keysyms1"),
        ("libxcb-render-util.so.0", "libxcb-render-util0"),
        ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),
        ("libX11-xcb.so.1", "libx11-xcb1"),
        ("libglib-2.0.so.0", "libglib2.0-0"),
        ("libdbus-1.so.3", "libdbus-1-3"),
    ],
)
def test_debian_package_of_each_library(soname: str, package: str) -> None:
    assert display_check.debian_package(soname) == package


def test_missing_libraries_are_read_from_ldd_each_once(tmp_path: Path) -> None:
    ldd = fake_ldd(tmp_path, LDD_OUTPUT)
    assert display_check.missing_libraries(tmp_path / "plugin.so", str(ldd)) == [
        "libxcb-cursor.so.0",
        "libxcb-icccm.so.4",
    ]


def test_nothing_missing_and_no_ldd_mean_no_problem(tmp_path: Path) -> None:
    ldd = fake_ldd(tmp_path, "\tlibc.so.6 => /lib/libc.so.6 (0x1)\n")
    environ = {"DISPLAY": ":0"}
    assert display_check.display_problem(environ, tmp_path / "plugin.so", str(ldd)) is None
    # A broken ldd must never stop a window that could open.
    assert display_check.missing_libraries(tmp_path / "plugin.so", str(tmp_path / "no-ldd")) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the check runs on Linux only")
def test_problem_names_libraries_and_the_install_command(tmp_path: Path) -> None:
    ldd = fake_ldd(tmp_path, LDD_OUTPUT)
    problem = display_check.display_problem({"DISPLAY": ":0"}, tmp_path / "plugin.so", str(ldd))
    assert problem is not None and "\n" not in problem
    assert "libxcb-cursor.so.0, libxcb-icccm.so.4" in problem
    assert problem.endswith("sudo apt-get install libxcb-cursor0 libxcb-icccm4")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the check runs on Linux only")
@pytest.mark.parametrize(
    ("environ", "checked"),
    [
        ({"DISPLAY": ":0"}, True),
        ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "xcb"}, True),
        ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "xcb;wayland"}, True),
        ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, False),
        ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "wayland;xcb"}, False),
        ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, False),
        ({"XDG_SESSION_TYPE": "wayland"}, False),
    ],
)
def test_only_an_x11_start_is_checked(tmp_path: Path, environ: dict[str, str], checked: bool) -> None:
    ldd = fake_ldd(tmp_path, LDD_OUTPUT)
    problem = display_check.display_problem(environ, tmp_path / "plugin.so", str(ldd))
    assert (problem is not None) == checked


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the check runs on Linux only")
def test_no_display_is_one_line() -> None:
    problem = display_check.display_problem({"QT_QPA_PLATFORM": "xcb"})
    assert problem is not None and "DISPLAY" in problem and "gradsim run" in problem


def test_the_installed_plugin_is_found() -> None:
    pytest.importorskip("PySide6")
    plugin = display_check.xcb_plugin_path()
    if sys.platform.startswith("linux"):
        assert plugin is not None and plugin.name == "libqxcb.so" and plugin.is_file()


def run_gradsim(environ: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float]:
    """``python -m gradsim`` (the window) in ``environ``; its result and its wall time."""
    start = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", "gradsim"], env=environ, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    return completed, time.perf_counter() - start


def x11_environment(path: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    environ.update(DISPLAY=":97", PATH=path, XDG_SESSION_TYPE="x11")
    return environ


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the check runs on Linux only")
def test_gradsim_prints_the_fix_and_exits_instead_of_aborting(tmp_path: Path) -> None:
    # ldd on PATH says libxcb-cursor is missing, as on a fresh Debian machine.
    fake_ldd(tmp_path, LDD_OUTPUT)
    completed, _ = run_gradsim(x11_environment(f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}"))
    assert completed.returncode == 1
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith("gradsim: error: the window cannot start")
    assert "sudo apt-get install libxcb-cursor0 libxcb-icccm4" in lines[0]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the check runs on Linux only")
def test_gradsim_on_this_machine_reports_what_it_really_lacks() -> None:
    plugin = display_check.xcb_plugin_path()
    if plugin is None or shutil.which("ldd") is None:
        pytest.skip("no xcb plugin or no ldd here")
    missing = display_check.missing_libraries(plugin)
    if not missing:
        pytest.skip("this machine has every library of the xcb plugin")
    completed, _ = run_gradsim(x11_environment(os.environ.get("PATH", "")))
    assert completed.returncode == 1
    for name in missing:
        assert name in completed.stderr
    assert "Could not load the Qt platform plugin" not in completed.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the check runs on Linux only")
def test_with_every_library_and_a_display_the_window_opens(tmp_path: Path) -> None:
    xvfb = shutil.which("Xvfb")
    plugin = display_check.xcb_plugin_path()
    if xvfb is None or plugin is None:
        pytest.skip("needs Xvfb and PySide6's xcb plugin")
    if display_check.missing_libraries(plugin):
        pytest.skip("this machine lacks libraries of the xcb plugin (the test above covers it)")
    # Xvfb picks a free display and writes its number when it is ready (-displayfd): a fixed one
    # collided with a second test run on the same machine.
    ready, ready_write = os.pipe()
    server = subprocess.Popen([xvfb, "-displayfd", str(ready_write), "-screen", "0", "1440x900x24",
                               "-nolisten", "tcp"], pass_fds=(ready_write,),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    os.close(ready_write)
    try:
        with os.fdopen(ready) as announced:
            number = announced.readline().strip()  # empty if the server could not start
        assert number.isdigit(), "Xvfb did not start"
        environ = x11_environment(os.environ.get("PATH", ""))
        environ["DISPLAY"] = f":{number}"
        environ["HOME"] = str(tmp_path)  # the window's settings go to a scratch folder
        window = subprocess.Popen([sys.executable, "-m", "gradsim"], env=environ,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        try:
            # A window that could not start exits at once; an open one runs until it is closed.
            with pytest.raises(subprocess.TimeoutExpired):
                window.wait(timeout=8)
        finally:
            window.terminate()
            _, stderr = window.communicate(timeout=30)
        assert "Could not load the Qt platform plugin" not in stderr
        assert "gradsim: error" not in stderr
    finally:
        server.terminate()
        server.wait(timeout=10)
