"""``gradsim snapshot``: pictures drawn headless, checked by size, pixels and the engine's numbers."""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PySide6 import QtGui

from gradsim import cli
from gradsim.engine.presets import DEFAULT_PRESET, load_preset
from gradsim.engine.simulation import Simulation
from gradsim.io import atomic
from gradsim.ui.common.theme import DARK, LIGHT

SVG = "{http://www.w3.org/2000/svg}"


def share(array: np.ndarray, color: str, tolerance: int = 12) -> float:
    qcolor = QtGui.QColor(color)
    target = np.array([qcolor.red(), qcolor.green(), qcolor.blue()])
    return float(np.all(np.abs(array.astype(int) - target) <= tolerance, axis=2).mean())


def test_png_of_the_dashboard_has_the_requested_width(pixels, qapp, tmp_path, capsys):
    out = tmp_path / "x.png"
    args = [
        "snapshot",
        "--preset",
        "vanishing-sigmoid",
        "--iterations",
        "3",
        "--out",
        str(out),
        "--width",
        "800",
    ]
    assert cli.main(args) == 0
    array = pixels(out)
    assert array.shape == (533, 800, 3)  # the 1200 x 800 dashboard at 800 pixels wide
    assert len(np.unique(array.reshape(-1, 3), axis=0)) > 100
    assert share(array, LIGHT.background, 0) > 0.3
    assert share(array, LIGHT.layer_colors[0]) > 0.001 and share(array, LIGHT.layer_colors[1]) > 0.001
    printed = capsys.readouterr().out
    assert f"wrote {out} (dashboard, 3 iterations" in printed
    assert list(tmp_path.iterdir()) == [out]


def test_one_plot_default_width_dark_theme(pixels, drawn, qapp, tmp_path):
    out = tmp_path / "loss.png"
    assert (
        cli.main(
            ["snapshot", *drawn.args, "-n", "4", "--plot", "loss", "--theme", "dark", "-q", "-o", str(out)]
        )
        == 0
    )
    array = pixels(out)
    # Twice the loss pane's size in the 1200 x 800 dashboard.
    assert array.shape[1] > 500 and array.shape[1] % 2 == 0
    assert share(array, DARK.background, 0) > 0.3 and share(array, LIGHT.background, 0) < 0.01


def test_svg_of_the_gradient_plot_holds_the_engines_curves(drawn, qapp, tmp_path):
    out = tmp_path / "gradient.svg"
    assert (
        cli.main(["snapshot", *drawn.args, "--iterations", "5", "--plot", "gradient", "--out", str(out)]) == 0
    )
    root = ET.parse(out).getroot()
    # --set applies to the default preset, as in every command.
    simulation = Simulation(load_preset(DEFAULT_PRESET).replace(**drawn.settings))
    for _ in range(5):
        last = simulation.train_step()
    assert "at iteration 5" in " ".join(text.text or "" for text in root.iter(f"{SVG}text"))
    for layer in range(drawn.settings["num_layers"]):
        color = LIGHT.layer_colors[layer]
        paths = [
            path.get("d")
            for group in root.iter(f"{SVG}g")
            if group.get("stroke") == color and group.get("stroke-opacity") == "1"
            for path in group.findall(f"{SVG}path")
        ]
        curves = [re.findall(r"(-?[\d.e+-]+),(-?[\d.e+-]+)", d) for d in paths]
        bold = [np.array(points, float) for points in curves if len(points) == drawn.settings["seq_len"]]
        assert bold
        np.testing.assert_allclose(bold[0][:, 1], np.log10(last.grad_norms[layer]), atol=1e-4)


def test_same_arguments_same_picture(pixels, drawn, qapp, tmp_path):
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    for out in (first, second):
        assert (
            cli.main(
                [
                    "snapshot",
                    *drawn.args,
                    "-n",
                    "3",
                    "--plot",
                    "heatmap",
                    "--width",
                    "600",
                    "-q",
                    "-o",
                    str(out),
                ]
            )
            == 0
        )
    np.testing.assert_array_equal(pixels(first), pixels(second))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--out", "{tmp}/x.jpg"], "must end in .png or .svg"),
        (["--out", "{tmp}/x"], "must end in .png or .svg"),
        (["--out", "{tmp}/missing/x.png"], "does not exist"),
        (["--out", "{tmp}/x.png", "--width", "50"], "--width must be between 200 and 8000"),
        (["--out", "{tmp}/x.png", "--plot", "bogus"], "invalid choice"),
        (["--out", "{tmp}/x.png", "--set", "hidden_size=0"], "hidden_size"),
    ],
)
def test_bad_arguments_exit_2_with_one_line_and_no_file(qapp, tmp_path, capsys, extra, message):
    args = ["snapshot", "-n", "2", *[part.replace("{tmp}", str(tmp_path)) for part in extra]]
    assert cli.main(args) == 2
    error = capsys.readouterr().err
    assert message in error
    assert list(tmp_path.iterdir()) == []


def test_more_iterations_than_a_picture_takes_are_refused_before_training(
    qapp, tmp_path, capsys, monkeypatch
):
    from gradsim.cli import snapshot as cli_snapshot

    monkeypatch.setattr(cli_snapshot.figures, "snapshot_bytes", lambda *a: pytest.fail("trained"))
    out = tmp_path / "x.png"
    assert cli.main(["snapshot", "-n", "100000000", "--out", str(out)]) == cli.EXIT_USAGE
    assert capsys.readouterr().err == (
        "gradsim: error: --iterations must be at most 1000000 before a picture is drawn (got 100000000)\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_write_error_exits_1_and_leaves_no_file(drawn, qapp, tmp_path, capsys, monkeypatch):
    def full(path: str) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic, "_fsync_file", full)
    out = tmp_path / "x.png"
    assert cli.main(["snapshot", *drawn.args, "-n", "2", "-o", str(out)]) == 1
    assert capsys.readouterr().err.strip() == f"gradsim: error: cannot write {out}: the disk is full"
    assert list(tmp_path.iterdir()) == []


def test_runs_without_a_display(pixels, drawn, tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    }
    out = tmp_path / "d.png"
    result = subprocess.run(
        [sys.executable, "-m", "gradsim", "snapshot", *drawn.args, "-n", "2", "--width", "640",
         "-o", str(out)],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no notes from the offscreen platform
    assert pixels(out).shape == (427, 640, 3)
