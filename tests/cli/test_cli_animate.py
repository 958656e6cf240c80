"""``gradsim animate``: animations written headless, read back frame by frame."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageSequence

from gradsim import cli
from gradsim.cli import animate as cli_animate
from gradsim.io.animation_writer import VIDEO_MISSING

HAS_FFMPEG = importlib.util.find_spec("imageio_ffmpeg") is not None


def frames_of(path: Path) -> tuple[list[np.ndarray], list[int]]:
    with Image.open(path) as image:
        pictures, durations = [], []
        for frame in ImageSequence.Iterator(image):
            pictures.append(np.asarray(frame.convert("RGB")).astype(np.int16))
            durations.append(int(frame.info.get("duration", 0)))  # a one-frame PNG has none
    return pictures, durations


def test_gif_of_the_gradient_plot(drawn, qapp, tmp_path, capsys):
    out = tmp_path / "run.gif"
    args = ["animate", *drawn.args, "--iterations", "12", "--every", "3", "--width", "320", "--fps", "20"]
    assert cli.main([*args, "--out", str(out)]) == 0
    frames, durations = frames_of(out)
    assert len(frames) == 4  # iterations 3, 6, 9, 12
    assert durations == [50] * 4
    assert all(frame.shape[1] == 320 and frame.shape[2] == 3 for frame in frames)
    assert len({frame.shape for frame in frames}) == 1
    for before, after in zip(frames, frames[1:], strict=False):
        assert np.count_nonzero(np.any(before != after, axis=2)) > 100
    printed = capsys.readouterr().out
    assert (
        f"wrote {out} (gradient, iterations 3..12 every 3; 4 frames of 320 x {frames[0].shape[0]}, 50 ms"
        in printed
    )


def test_last_frame_equals_the_snapshot(drawn, qapp, tmp_path):
    animated, still = tmp_path / "run.png", tmp_path / "still.png"
    common = [*drawn.args, "--iterations", "5", "--plot", "loss", "--width", "400", "--quiet"]
    assert cli.main(["animate", *common, "--every", "5", "--out", str(animated)]) == 0
    assert cli.main(["snapshot", *common, "--out", str(still)]) == 0
    frames, _ = frames_of(animated)
    with Image.open(still) as image:
        expected = np.asarray(image.convert("RGB")).astype(np.int16)
    assert len(frames) == 1 and frames[0].shape == expected.shape
    assert np.abs(frames[0] - expected).mean() < 0.5


def test_backprop_layer_by_layer(drawn, qapp, tmp_path, capsys):
    out = tmp_path / "backprop.webp"
    args = ["animate", *drawn.args, "--backprop", "--by-layer", "--iterations", "2", "--width", "480"]
    assert cli.main([*args, "--fps", "4", "--out", str(out)]) == 0
    frames, durations = frames_of(out)
    assert len(frames) == drawn.settings["num_layers"] + 1 and durations == [250] * 3
    assert frames[0].shape[1] == 480
    assert "backward pass after 2 iterations, 15 cells a frame" in capsys.readouterr().out


def test_presentation_scale_draws_larger(drawn, qapp, tmp_path):
    normal, large = tmp_path / "normal.png", tmp_path / "large.png"
    common = ["animate", *drawn.args, "--iterations", "2", "--every", "2", "--width", "500", "--quiet"]
    assert cli.main([*common, "--out", str(normal)]) == 0
    assert cli.main([*common, "--presentation", "--out", str(large)]) == 0
    dark = [np.count_nonzero(frames_of(p)[0][0].sum(axis=2) < 300) for p in (normal, large)]
    assert dark[1] > 1.3 * dark[0]


def test_presentation_draws_the_backward_pass_larger_in_same_size_frames(drawn, qapp, tmp_path, capsys):
    """--presentation with --backprop: the Backprop tab as presentation mode shows it."""
    normal, large = tmp_path / "normal.png", tmp_path / "large.png"
    common = ["animate", *drawn.args, "--backprop", "--by-layer", "--iterations", "2", "--width", "640"]
    assert cli.main([*common, "--quiet", "--out", str(normal)]) == 0
    assert cli.main([*common, "--presentation", "--out", str(large)]) == 0
    assert "backward pass after 2 iterations" in capsys.readouterr().out
    plain, scaled = frames_of(normal)[0], frames_of(large)[0]
    assert len(plain) == len(scaled) == int(drawn.settings["num_layers"]) + 1
    assert all(a.shape == b.shape and a.shape[1] == 640 for a, b in zip(plain, scaled, strict=True))
    # The same pictures drawn larger: the frames differ everywhere the plots are.
    assert all(np.mean(np.any(a != b, axis=2)) > 0.2 for a, b in zip(plain, scaled, strict=True))
    # BackpropFrames at the scale (what the command draws) keeps every plot text whole:
    # tests/ui/features/recording/test_animation.py.


@pytest.mark.parametrize("backprop", [[], ["--backprop"]])
def test_more_iterations_than_a_picture_takes_are_refused_before_training(
    drawn, qapp, tmp_path, capsys, monkeypatch, backprop
):
    from gradsim.ui.features.recording import animation

    for name in ("trained_params", "record_animation", "record_backprop_animation"):
        monkeypatch.setattr(animation, name, lambda *a, **k: pytest.fail("trained"))
    out = tmp_path / "a.gif"
    arguments = ["animate", *drawn.args, *backprop, "-n", "1000001", "--every", "1000", "--out", str(out)]
    assert cli.main(arguments) == cli.EXIT_USAGE
    assert capsys.readouterr().err == (
        "gradsim: error: --iterations must be at most 1000000 before a picture is drawn (got 1000001)\n"
    )
    assert not out.exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--out", "x.avi"], r"cannot write x\.avi: an animation's file name must end in \.gif"),
        (["--out", "{tmp}/a.gif", "--width", "100"], "--width must be between 200 and 3840 pixels"),
        (["--out", "{tmp}/a.gif", "--by-layer"], "--by-layer needs --backprop"),
        (["--out", "{tmp}/a.gif", "--iterations", "0"], "--iterations must be 1 or more"),
        (
            ["--out", "{tmp}/a.gif", "--first", "9", "--iterations", "3"],
            r"last iteration \(3\) must not come",
        ),
        (["--out", "{tmp}/nowhere/a.gif"], "folder .*nowhere does not exist"),
    ],
)
def test_bad_arguments_are_one_line_errors(drawn, qapp, tmp_path, capsys, extra, message):
    extra = [part.replace("{tmp}", str(tmp_path)) for part in extra]
    assert cli.main(["animate", *drawn.args, *extra]) == cli.EXIT_USAGE
    error = capsys.readouterr().err
    assert re.search(message, error), error
    assert error.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) in ([], ["settings"])


def test_fps_out_of_range_is_refused(capsys):
    assert cli.main(["animate", "--out", "a.gif", "--fps", "0"]) == cli.EXIT_USAGE
    assert "must be above 0 and at most 100" in capsys.readouterr().err


def test_mp4_without_the_extra_names_it(drawn, qapp, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli_animate, "video_available", lambda: False)
    assert cli.main(["animate", *drawn.args, "--out", str(tmp_path / "a.mp4")]) == cli.EXIT_FAILED
    assert capsys.readouterr().err == f"gradsim: error: cannot write {tmp_path / 'a.mp4'}: {VIDEO_MISSING}\n"
    assert not (tmp_path / "a.mp4").exists()


@pytest.mark.skipif(not HAS_FFMPEG, reason=VIDEO_MISSING)
def test_mp4_when_the_extra_is_there(drawn, qapp, tmp_path, capsys):
    out = tmp_path / "run.mp4"
    args = ["animate", *drawn.args, "--iterations", "6", "--every", "2", "--width", "320", "--fps", "10"]
    assert cli.main([*args, "--out", str(out)]) == 0
    assert out.stat().st_size > 1000
    assert "3 frames of 320 x" in capsys.readouterr().out
