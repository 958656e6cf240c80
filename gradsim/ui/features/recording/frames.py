"""Which frames an animation shows, without a widget: iterations, backward-pass cells, batches.

:func:`frame_iterations` and :func:`backprop_positions` choose the frames (at most
:data:`~gradsim.io.animation_writer.MAX_FRAMES`), :func:`frame_batches` groups a replay's
records by frame, :func:`describe_frames` says how long the result runs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence

from gradsim.engine.records import StepRecord
from gradsim.io.animation_writer import MAX_FRAMES


def frame_iterations(first: int, last: int, every: int) -> list[int]:
    """The iterations shown: ``first, first + every, ...`` up to ``last`` (inclusive).

    Raises
    ------
    ValueError
        ``first`` below 1, ``last`` below ``first``, ``every`` below 1, or more than
        :data:`~gradsim.io.animation_writer.MAX_FRAMES` frames.
    """
    if first < 1:
        raise ValueError(f"the first iteration must be 1 or more (got {first})")
    if last < first:
        raise ValueError(f"the last iteration ({last}) must not come before the first ({first})")
    if every < 1:
        raise ValueError(f"every must be 1 or more (got {every})")
    count = (last - first) // every + 1
    if count > MAX_FRAMES:
        raise ValueError(
            f"{count} frames is more than an animation holds ({MAX_FRAMES}): show every "
            f"{math.ceil((last - first + 1) / MAX_FRAMES)}th iteration or fewer iterations"
        )
    return list(range(first, last + 1, every))


def backprop_positions(total_cells: int, every: int) -> list[int]:
    """Cells shown per frame of the backward pass: ``0, every, 2 every, ..., total_cells``.

    Frame 0 is the forward pass done and no gradient yet; the last frame is always the complete
    backward pass. ``every = T`` shows it layer by layer.

    Raises
    ------
    ValueError
        ``every`` below 1, or more than ``MAX_FRAMES`` frames.
    """
    if every < 1:
        raise ValueError(f"every must be 1 or more cells (got {every})")
    positions = list(range(0, total_cells + 1, every))
    if positions[-1] != total_cells:
        positions.append(total_cells)
    if len(positions) > MAX_FRAMES:
        raise ValueError(
            f"{len(positions)} frames is more than an animation holds ({MAX_FRAMES}): show every "
            f"{math.ceil(total_cells / (MAX_FRAMES - 1))}th cell or more"
        )
    return positions


def frame_batches(
    records: Iterable[StepRecord], iterations: Sequence[int]
) -> Iterator[tuple[int, list[StepRecord]]]:
    """Group a run's records by frame: ``(iteration, records since the previous frame)``.

    ``iterations`` ascending. Stops after the last frame, or when ``records`` end: a run that
    halted on a non-finite value has no records after it, so its last frame is the halting
    record's iteration (with the records since the frame before) and no later frame is produced.
    """
    wanted = iter(iterations)
    target = next(wanted, None)
    batch: list[StepRecord] = []
    if target is None:
        return
    for record in records:
        batch.append(record)
        if record.iteration >= target:
            yield target, batch
            batch = []
            target = next(wanted, None)
            if target is None:
                return
    if batch:
        yield batch[-1].iteration, batch


def describe_frames(count: int, fps: float) -> str:
    """``"60 frames, 3.0 s at 20 fps"``."""
    return f"{count} frame{'s' if count != 1 else ''}, {count / fps:.1f} s at {fps:g} fps"
