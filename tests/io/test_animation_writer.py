"""The animation writer: frames, sizes and delays read back with Pillow (and ffmpeg), atomic files."""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageSequence

from gradsim.io import animation_writer
from gradsim.io.animation_writer import (
    VIDEO_MISSING,
    AnimationWriter,
    VideoSupportMissing,
    format_for_path,
    frame_duration_ms,
)
from gradsim.io.atomic import WriteError

HAS_FFMPEG = importlib.util.find_spec("imageio_ffmpeg") is not None


def frames(count: int, width: int = 48, height: int = 30) -> list[np.ndarray]:
    """Distinct frames: a bar that moves one step right each frame, on a light background."""
    result = []
    for k in range(count):
        frame = np.full((height, width, 3), 240, dtype=np.uint8)
        frame[5:25, 2 + 2 * k : 6 + 2 * k] = (31, 119, 180)
        frame[0, :] = (k * 10 % 256, 0, 0)  # a row whose colour counts the frames
        result.append(frame)
    return result


def read_back(path: Path) -> tuple[list[np.ndarray], list[int]]:
    with Image.open(path) as image:
        pictures, durations = [], []
        for frame in ImageSequence.Iterator(image):
            pictures.append(np.asarray(frame.convert("RGB")))
            durations.append(int(frame.info["duration"]))
    return pictures, durations


@pytest.mark.parametrize(("suffix", "fmt"), [(".gif", "gif"), (".webp", "webp"), (".png", "apng")])
def test_frames_size_and_delay_read_back(tmp_path: Path, suffix: str, fmt: str) -> None:
    path = tmp_path / f"run{suffix}"
    source = frames(7)
    with AnimationWriter(path, fps=20) as writer:
        for frame in source:
            writer.add(frame)
    assert writer.format == fmt
    pictures, durations = read_back(path)
    assert len(pictures) == 7
    assert durations == [50] * 7
    for picture, frame in zip(pictures, source, strict=True):
        assert picture.shape == (30, 48, 3)
        # Few colours: the GIF's palette holds them exactly; WebP is lossless; PNG exact.
        np.testing.assert_array_equal(picture, frame)


def test_gif_delays_are_hundredths_of_a_second(tmp_path: Path) -> None:
    assert frame_duration_ms("gif", 30) == 30
    assert frame_duration_ms("webp", 30) == 33
    assert frame_duration_ms("gif", 7) == 140
    path = tmp_path / "a.gif"
    with AnimationWriter(path, fps=25) as writer:
        for frame in frames(3):
            writer.add(frame)
    assert read_back(path)[1] == [40, 40, 40]


def test_frame_rate_out_of_range_is_refused(tmp_path: Path) -> None:
    for fps in (0, -1, 101):
        with pytest.raises(ValueError, match="frame rate"):
            AnimationWriter(tmp_path / "a.gif", fps=fps)
    assert list(tmp_path.iterdir()) == []


def test_many_colours_are_quantised_to_a_palette(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    noisy = [rng.integers(0, 256, (40, 50, 3), dtype=np.uint8) for _ in range(3)]
    path = tmp_path / "noise.gif"
    with AnimationWriter(path, fps=10) as writer:
        for frame in noisy:
            writer.add(frame)
    pictures, durations = read_back(path)
    assert len(pictures) == 3 and durations == [100] * 3
    assert pictures[0].shape == (40, 50, 3)
    # 256 colours for 2000 random ones: close on average, never equal.
    error = np.abs(pictures[0].astype(int) - noisy[0]).mean()
    assert 0 < error < 40


def test_identical_neighbours_keep_the_playing_time(tmp_path: Path) -> None:
    one, two = frames(2)
    path = tmp_path / "hold.gif"
    with AnimationWriter(path, fps=20) as writer:
        for frame in (one, one, one, two):
            writer.add(frame)
    assert writer.frame_count == 4
    pictures, durations = read_back(path)
    # Pillow stores a repeated frame once with the time of all its copies.
    assert len(pictures) == 2 and durations == [150, 50]


def test_abort_leaves_no_file_and_keeps_an_old_one(tmp_path: Path) -> None:
    path = tmp_path / "a.gif"
    writer = AnimationWriter(path, fps=20)
    writer.add(frames(1)[0])
    writer.abort()
    writer.abort()  # twice is harmless
    assert list(tmp_path.iterdir()) == []
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"), AnimationWriter(path, fps=20) as writer:
        writer.add(frames(1)[0])
        raise RuntimeError("boom")
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gif"]


def test_bad_frames_are_refused(tmp_path: Path) -> None:
    writer = AnimationWriter(tmp_path / "a.webp", fps=20)
    writer.add(frames(1)[0])
    with pytest.raises(ValueError, match="48 x 30"):
        writer.add(frames(1, width=50)[0])
    with pytest.raises(ValueError, match="uint8"):
        writer.add(np.zeros((30, 48, 3)))
    with pytest.raises(ValueError, match="RGB"):
        writer.add(np.zeros((30, 48), dtype=np.uint8))
    writer.abort()
    empty = AnimationWriter(tmp_path / "b.gif", fps=20)
    with pytest.raises(ValueError, match="at least one frame"):
        empty.close()
    assert list(tmp_path.iterdir()) == []


def test_too_many_frames_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(animation_writer, "MAX_FRAMES", 3)
    writer = AnimationWriter(tmp_path / "a.gif", fps=20)
    for frame in frames(3):
        writer.add(frame)
    with pytest.raises(ValueError, match="at most 3 frames"):
        writer.add(frames(4)[3])
    assert writer.close() == 3
    assert len(read_back(tmp_path / "a.gif")[0]) == 3


def test_format_from_the_file_name() -> None:
    assert [format_for_path(f"x{s}") for s in (".gif", ".WEBP", ".png", ".apng", ".mp4")] == [
        "gif", "webp", "apng", "apng", "mp4",
    ]  # fmt: skip
    with pytest.raises(ValueError, match=r"cannot write x\.avi: .*\.gif, \.webp, \.png \(APNG\) or \.mp4"):
        format_for_path("x.avi")


def test_missing_folder_is_a_write_error(tmp_path: Path) -> None:
    with pytest.raises(WriteError, match="does not exist"):
        AnimationWriter(tmp_path / "nowhere" / "a.gif")


def test_mp4_without_the_extra_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(animation_writer, "video_available", lambda: False)
    with pytest.raises(VideoSupportMissing) as caught:
        AnimationWriter(tmp_path / "a.mp4", fps=20)
    assert str(caught.value) == VIDEO_MISSING
    assert 'pip install "gradsim[video]"' in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def decode_mp4(path: Path) -> tuple[tuple[int, int], float, bytes]:
    """``((width, height), frames a second, raw RGB bytes of every frame)``, decoded by ffmpeg."""
    import imageio_ffmpeg

    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path), "-f", "rawvideo"]
    done = subprocess.run([*command, "-pix_fmt", "rgb24", "-"], capture_output=True, check=True)
    stream = re.search(rb"Video: h264.*?, (\d+)x(\d+).*?, ([\d.]+) fps", done.stderr)
    assert stream is not None, done.stderr
    return (int(stream[1]), int(stream[2])), float(stream[3]), done.stdout


@pytest.mark.skipif(not HAS_FFMPEG, reason=VIDEO_MISSING)
def test_mp4_frames_size_and_rate(tmp_path: Path) -> None:
    path = tmp_path / "run.mp4"
    source = frames(12, width=64, height=40)
    with AnimationWriter(path, fps=20) as writer:
        for frame in source:
            writer.add(frame)
    size, fps, data = decode_mp4(path)
    assert size == (64, 40)
    assert fps == 20
    assert len(data) == 12 * 64 * 40 * 3
    decoded = np.frombuffer(data, np.uint8).reshape(12, 40, 64, 3)
    # Lossy, but each frame is the one written: its moving bar is where it was drawn.
    for k, picture in enumerate(decoded):
        red = picture[15, :, 0].astype(int)  # red across the bar's middle row: 240 around, 31 in it
        assert abs(int(np.argmax(red < 120)) - (2 + 2 * k)) <= 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.mp4"]


@pytest.mark.skipif(not HAS_FFMPEG, reason=VIDEO_MISSING)
def test_mp4_odd_sides_are_padded_and_abort_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "odd.mp4"
    with AnimationWriter(path, fps=10) as writer:
        for frame in frames(3, width=47, height=31):
            writer.add(frame)
    assert writer.size == (47, 31)
    size, _, data = decode_mp4(path)
    assert size == (48, 32) and len(data) == 3 * 48 * 32 * 3
    aborted = AnimationWriter(tmp_path / "gone.mp4", fps=10)
    aborted.add(frames(1, width=48, height=30)[0])
    aborted.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["odd.mp4"]
