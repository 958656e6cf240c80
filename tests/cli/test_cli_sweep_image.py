"""``gradsim sweep --image``: the phase diagram as a PNG of the width asked for, drawn headless."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gradsim import cli
from gradsim.io.sweepfile import read_sweep_npz

SETTINGS = ["--set", "num_layers=1", "--set", "hidden_size=8", "--set", "seq_len=10", "--set", "batch_size=3"]
SETTINGS += ["--set", "activation=relu", "--set", "init=gaussian", "--set", "task=random", "--workers", "0"]
GRID = ["--x", "weight_scale=0.5:2.5:3", "--y", "seq_len=4,16"]


def test_image_has_the_requested_width_and_shows_the_grid(pixels, qapp, tmp_path: Path, capsys) -> None:
    image_path, npz_path = tmp_path / "phase.png", tmp_path / "phase.npz"
    args = [
        "sweep",
        *SETTINGS,
        *GRID,
        "--image",
        str(image_path),
        "--image-width",
        "700",
        "--npz",
        str(npz_path),
    ]
    assert cli.main(args) == cli.EXIT_OK
    assert f"wrote {image_path}" in capsys.readouterr().out
    result = read_sweep_npz(npz_path)
    # ReLU x0.5 over 16 steps vanishes, x2.5 explodes.
    assert result.values[1, 0] < -3 and result.values[1, 2] > 3
    array = pixels(image_path).astype(int)
    assert array.shape == (560, 700, 3)  # 900 x 720 in proportion
    red, green, blue = array[..., 0], array[..., 1], array[..., 2]
    assert ((blue - red > 80) & (green < 160)).mean() > 0.03  # vanishing cells in blue
    assert ((red - blue > 80) & (green < 120)).mean() > 0.03  # exploding cells in red
    assert len(np.unique(array.reshape(-1, 3), axis=0)) > 50  # text, lines, colours: not blank


def test_presentation_draws_the_image_larger_at_the_same_size(qapp, pixels, tmp_path: Path) -> None:
    normal, large = tmp_path / "normal.png", tmp_path / "large.png"
    args = ["sweep", *SETTINGS, *GRID, "--image-width", "700", "--quiet"]
    assert cli.main([*args, "--image", str(normal)]) == cli.EXIT_OK
    assert cli.main([*args, "--presentation", "--image", str(large)]) == cli.EXIT_OK
    pictures = [pixels(path).astype(int) for path in (normal, large)]
    assert all(picture.shape == (560, 700, 3) for picture in pictures)
    # Larger text and thicker lines in the margins, where the plain picture is white: more
    # dark pixels outside the heatmap (its cells are the same colours in both).
    dark = [int(((picture.sum(axis=2) < 200) & (np.ptp(picture, axis=2) < 30)).sum()) for picture in pictures]
    assert dark[1] > 1.3 * dark[0]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--image", "phase.svg"], "cannot write phase.svg: the file name of --image must end in .png"),
        (["--csv", "phase.txt"], "cannot write phase.txt: the file name of --csv must end in .csv"),
        (["--npz", "phase.png", "--image", "phase.png"], "--npz and --image name the same file (phase.png)"),
        (
            ["--store", "s.npz", "--npz", "s.npz"],
            "cannot write s.npz: it is the --store file, which --npz would",
        ),
        (["--image-width", "800"], "--image-width needs --image"),
        (["--presentation"], "--presentation needs --image"),
        (["--image", "phase.png", "--image-width", "50"], "between 200 and 8000"),
        (["--image", "/no/such/folder/phase.png"], "does not exist"),
    ],
)
def test_bad_image_arguments_are_refused_before_computing(
    extra, message, tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["sweep", *SETTINGS, *GRID, *extra]) == cli.EXIT_USAGE
    captured = capsys.readouterr()
    assert message in captured.err and "computed" not in captured.out
    assert not (tmp_path / "phase.png").exists()


def test_the_command_line_module_does_not_import_qt() -> None:
    code = (
        "import sys, gradsim.cli; "
        "print(sorted(m for m in sys.modules if m.startswith(('PySide6', 'pyqtgraph'))))"
    )
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        == "[]\n"
    )
