"""Which frames an animation shows: iterations, backward-pass cells, the records of each frame,
and how long the result runs. No widget."""

from __future__ import annotations

import pytest
from helpers import EXPLODING_TINY, small_config

from gradsim.engine.simulation import replay
from gradsim.ui.features.recording.frames import (
    backprop_positions,
    describe_frames,
    frame_batches,
    frame_iterations,
)

SMALL = small_config(activation="sigmoid", seed=2)
# Large ReLU weights and a large step: the run overflows within a few iterations.
EXPLODING = EXPLODING_TINY


def test_frame_iterations_and_positions() -> None:
    assert frame_iterations(1, 5, 1) == [1, 2, 3, 4, 5]
    assert frame_iterations(3, 20, 5) == [3, 8, 13, 18]
    with pytest.raises(ValueError, match="first iteration must be 1"):
        frame_iterations(0, 5, 1)
    with pytest.raises(ValueError, match=r"last iteration \(2\) must not come before the first \(3\)"):
        frame_iterations(3, 2, 1)
    with pytest.raises(ValueError, match=r"5001 frames .* every 6th"):
        frame_iterations(1, 5001, 1)
    assert backprop_positions(24, 1) == list(range(25))
    assert backprop_positions(24, 12) == [0, 12, 24]  # a layer a frame
    assert backprop_positions(24, 10) == [0, 10, 20, 24]


def test_frame_batches_group_the_records_and_stop_at_a_halt() -> None:
    records = list(replay(SMALL, 7))
    batches = list(frame_batches(iter(records), [2, 5, 7]))
    assert [iteration for iteration, _ in batches] == [2, 5, 7]
    assert [[r.iteration for r in batch] for _, batch in batches] == [[1, 2], [3, 4, 5], [6, 7]]
    halted = list(replay(EXPLODING, 40))
    assert halted[-1].nonfinite is not None and len(halted) < 40
    last = len(halted)
    batches = list(frame_batches(iter(halted), list(range(5, 41, 5))))
    # The frames up to the halt, then one frame of the halting record, then nothing.
    assert [iteration for iteration, _ in batches] == [*range(5, last, 5), last]


def test_backprop_positions_refuse_a_zero_step_and_too_many_frames() -> None:
    with pytest.raises(ValueError, match="every must be 1 or more cells"):
        backprop_positions(24, 0)
    assert backprop_positions(24, 30) == [0, 24]  # the complete pass is always the last frame
    with pytest.raises(ValueError, match=r"6001 frames .* \(1000\): show every 7th cell"):
        backprop_positions(6000, 1)


def test_frames_described_with_their_running_time() -> None:
    assert describe_frames(60, 20.0) == "60 frames, 3.0 s at 20 fps"
    assert describe_frames(1, 12.5) == "1 frame, 0.1 s at 12.5 fps"
