"""Animations rendered offscreen from a replay: frame counts, sizes, delays, snapshots, cancel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import EXPLODING_TINY, small_config
from PIL import Image, ImageSequence

from gradsim.engine.config import SimConfig
from gradsim.engine.simulation import replay
from gradsim.ui.common.theme import LIGHT
from gradsim.ui.features.backprop.backprop_frames import BackpropFrames
from gradsim.ui.features.recording.animation import (
    AnimationCancelled,
    record_animation,
    record_backprop_animation,
    trained_params,
)
from gradsim.ui.features.recording.frames import backprop_positions, frame_iterations
from gradsim.ui.training import render
from gradsim.ui.training.offscreen import qimage_to_rgb

pytestmark = [pytest.mark.qt_log_level_fail("WARNING")]

SMALL = small_config(activation="sigmoid", seed=2)
# Large ReLU weights and a large step: the run overflows within a few iterations.
EXPLODING = EXPLODING_TINY


def read_frames(path: Path) -> tuple[list[np.ndarray], list[int]]:
    with Image.open(path) as image:
        frames, durations = [], []
        for frame in ImageSequence.Iterator(image):
            frames.append(np.asarray(frame.convert("RGB")).astype(np.int16))
            durations.append(int(frame.info["duration"]))
    return frames, durations


def snapshot(config: SimConfig, iterations: int, plot: str, width: int) -> np.ndarray:
    """What ``gradsim snapshot`` draws of ``plot`` after ``iterations`` steps, as RGB."""
    dashboard = render.offscreen_dashboard(config, iterations, theme=LIGHT)
    try:
        target = dashboard if plot == "dashboard" else dashboard.plots[plot]
        return qimage_to_rgb(render.png_image(target, width)).astype(np.int16)
    finally:
        dashboard.close()
        dashboard.deleteLater()


def test_n_frames_of_the_requested_size_and_delay(qtbot, tmp_path: Path) -> None:
    path = tmp_path / "run.gif"
    result = record_animation(SMALL, path, frame_iterations(1, 8, 1), "gradient", 400, fps=25, theme=LIGHT)
    frames, durations = read_frames(path)
    height = snapshot(SMALL, 1, "gradient", 400).shape[0]  # the plot's proportions, as snapshots
    assert result.frames == result.requested == 8
    assert result.size == (400, height) and result.duration_ms == 40
    assert len(frames) == 8 and durations == [40] * 8
    assert all(frame.shape == (height, 400, 3) for frame in frames)
    # Consecutive frames differ: each record changes the gradient curves and the title.
    for before, after in zip(frames, frames[1:], strict=False):
        assert np.count_nonzero(np.any(before != after, axis=2)) > 200


@pytest.mark.parametrize("plot", ["gradient", "dashboard"])
def test_first_and_last_frames_equal_snapshots(qtbot, tmp_path: Path, plot: str) -> None:
    path = tmp_path / f"{plot}.png"  # APNG: exact pixels
    iterations = frame_iterations(2, 10, 4)  # 2, 6, 10
    result = record_animation(SMALL, path, iterations, plot, 480, fps=10, theme=LIGHT)
    frames, _ = read_frames(path)
    assert len(frames) == result.frames == 3
    for frame, iteration in ((frames[0], 2), (frames[-1], 10)):
        expected = snapshot(SMALL, iteration, plot, 480)
        assert frame.shape == expected.shape
        difference = np.abs(frame - expected)
        # Pixel statistics: the same picture up to antialiasing noise.
        assert difference.mean() < 0.5
        assert np.count_nonzero(np.any(difference > 40, axis=2)) < 0.002 * difference[..., 0].size
        assert abs(frame.mean() - expected.mean()) < 0.2
    # And the first frame is not the last one's snapshot (the records differ).
    assert np.abs(frames[0] - snapshot(SMALL, 10, plot, 480)).mean() > 0.5


def test_where_records_do_not_change_frames_do_not_either(qtbot, tmp_path: Path) -> None:
    # After the halt no record is added: the animation ends there, with the halting record.
    path = tmp_path / "halt.gif"
    halted_at = len(list(replay(EXPLODING, 40)))
    result = record_animation(EXPLODING, path, frame_iterations(1, 40, 1), "loss", 300, theme=LIGHT)
    assert result.stopped_at == halted_at
    assert result.frames == halted_at < result.requested == 40
    frames, durations = read_frames(path)
    assert len(frames) == halted_at and sum(durations) == 50 * halted_at


def test_cancel_leaves_no_file(qtbot, tmp_path: Path) -> None:
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    path = tmp_path / "cancelled.gif"
    path_kept = tmp_path / "kept.gif"
    path_kept.write_bytes(b"old")
    calls = []

    def cancelled() -> bool:
        calls.append(1)
        return len(calls) > 3

    for target in (path, path_kept):
        with pytest.raises(AnimationCancelled):
            record_animation(SMALL, target, frame_iterations(1, 20, 1), "gradient", 300, cancelled=cancelled)
        calls.clear()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.gif"]
    assert path_kept.read_bytes() == b"old"


def test_backward_pass_animation_grows_cell_by_cell(qtbot, tmp_path: Path) -> None:
    params, trained = trained_params(SMALL, 3)
    assert trained == 3
    path = tmp_path / "backprop.png"
    result = record_backprop_animation(
        SMALL, params, path, every=4, width=640, fps=5, theme=LIGHT, frames=BackpropFrames
    )
    total = SMALL.num_layers * SMALL.seq_len
    assert result.frames == len(backprop_positions(total, 4)) == 7
    frames, durations = read_frames(path)
    assert len(frames) == 7 and durations == [200] * 7
    assert all(frame.shape == (result.size[1], 640, 3) for frame in frames)
    for before, after in zip(frames, frames[1:], strict=False):
        assert np.count_nonzero(np.any(before != after, axis=2)) > 100
    # The view's own state at the end: every cell computed, the running product drawn.
    source = BackpropFrames(SMALL, params, width=640, theme=LIGHT)
    try:
        source.frame(6)
        products = source.view.curve_values["factor_product"]
        assert np.count_nonzero(np.isfinite(products)) == 6
        source.frame(total)
        assert source.view.position == total
    finally:
        source.close()


def test_backward_pass_layer_by_layer(qtbot, tmp_path: Path) -> None:
    params, _ = trained_params(SMALL, 0)
    path = tmp_path / "layers.gif"
    result = record_backprop_animation(
        SMALL, params, path, every=SMALL.seq_len, width=500, theme=LIGHT, frames=BackpropFrames
    )
    assert result.frames == SMALL.num_layers + 1
    assert len(read_frames(path)[0]) == SMALL.num_layers + 1
