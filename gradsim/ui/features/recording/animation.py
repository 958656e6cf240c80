"""Animations of the plots, rendered offscreen from a replay of the run, and of the backward pass.

A recorded animation does not film the screen: the run is replayed exactly
(:func:`~gradsim.engine.simulation.replay`, runs are deterministic) into a fresh
:class:`~gradsim.engine.history.RunHistory`, and at every chosen iteration an offscreen copy of
the dashboard is refreshed by the plots' own ``refresh`` and painted with
:func:`gradsim.ui.training.render.png_image`, the function snapshots use. Frame *k* is therefore the
snapshot of iteration *k*, whatever the live frame rate was. The backward pass is animated the
same way: an offscreen :class:`~gradsim.ui.features.backprop.backprop_view.BackpropView` of the frozen weights
goes forward a few cells per frame, its running chain-rule products drawn as they grow.

Frames are encoded by :class:`gradsim.io.animation_writer.AnimationWriter` (GIF, WebP, APNG,
MP4), atomically.

Headless (:func:`record_animation`, ``gradsim animate``) everything runs in turn on one thread;
beside the window, :mod:`.animation_job` replays and encodes on a worker while the
frames are painted on the GUI thread.

The frames' choice is in :mod:`.frames`, their pictures in :mod:`.frame_sources`; this module
writes animations headless (one thread), as ``gradsim animate`` does.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gradsim.engine.config import SimConfig
from gradsim.engine.records import StepRecord
from gradsim.engine.simulation import Simulation, replay
from gradsim.io.animation_writer import AnimationWriter
from gradsim.ui.common.theme import Theme, current_theme
from gradsim.ui.feature_api import BackwardFrames
from gradsim.ui.features.recording.frame_sources import DASHBOARD, DashboardFrames
from gradsim.ui.features.recording.frames import backprop_positions, frame_batches

__all__ = [
    "AnimationCancelled",
    "AnimationResult",
    "record_animation",
    "record_backprop_animation",
    "trained_params",
]


class AnimationCancelled(Exception):
    """The user cancelled; nothing was written."""


@dataclasses.dataclass(frozen=True)
class AnimationResult:
    """What was written.

    Attributes
    ----------
    path : the file
    frames : frames encoded (a GIF or APNG may store fewer: identical neighbours are merged,
        their time added)
    size : ``(width, height)`` in pixels
    duration_ms : how long each frame shows
    requested : frames asked for; more than ``frames`` when the run stopped early
    stopped_at : the iteration where the run halted on a non-finite value, or None
    """

    path: Path
    frames: int
    size: tuple[int, int]
    duration_ms: int
    requested: int
    stopped_at: int | None = None


# -- headless recording ----------------------------------------------------------------------------


def _check_cancel(cancelled: Callable[[], bool] | None) -> None:
    if cancelled is not None and cancelled():
        raise AnimationCancelled()


def record_animation(
    config: SimConfig,
    path: str | os.PathLike[str],
    iterations: Sequence[int],
    target: str = DASHBOARD,
    width: int = 640,
    fps: float = 20.0,
    fmt: str | None = None,
    theme: Theme | None = None,
    scale: float = 1.0,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> AnimationResult:
    """Replay ``config`` and write an animation of ``target`` at ``iterations`` (on this thread).

    Needs a QApplication (offscreen is fine). Frame *k* equals a snapshot of ``target`` after
    ``iterations[k]`` training steps. A run that halts on a non-finite value ends the
    animation at that iteration (``stopped_at``).

    Parameters
    ----------
    config : the run
    path : the file; its extension picks the format unless ``fmt`` is given
    iterations : ascending iterations to show, e.g. :func:`frame_iterations`
    target : ``"dashboard"`` or a plot key
    width : frame width in pixels
    fps : frames a second
    fmt : ``"gif"``, ``"webp"``, ``"apng"`` or ``"mp4"``; from ``path`` if None
    theme : plot colours; the application's if None
    scale : presentation scale (1: normal)
    progress : called with ``(frames done, frames asked)``
    cancelled : polled between training steps; True aborts (nothing is written)

    Raises
    ------
    AnimationCancelled, WriteError, VideoSupportMissing, ValueError
    """
    if not iterations:
        raise ValueError("an animation needs at least one frame")
    last: list[StepRecord] = []

    def pictures(source: DashboardFrames) -> tuple[int, Iterator[np.ndarray]]:
        def each() -> Iterator[np.ndarray]:
            for _, batch in frame_batches(replay(config, iterations[-1]), iterations):
                source.add(batch)
                last[:] = batch[-1:]
                yield source.frame()

        return len(iterations), each()

    def source() -> DashboardFrames:
        return DashboardFrames(config, target, width, theme or current_theme(), scale=scale)

    result = _record(path, fmt, fps, source, pictures, progress, cancelled)
    halted = last[0] if last and last[0].nonfinite is not None else None
    return dataclasses.replace(result, stopped_at=None if halted is None else halted.iteration)


def _record(
    path: str | os.PathLike[str],
    fmt: str | None,
    fps: float,
    make_source: Callable[[], Any],
    pictures: Callable[[Any], tuple[int, Iterator[np.ndarray]]],
    progress: Callable[[int, int], None] | None,
    cancelled: Callable[[], bool] | None,
) -> AnimationResult:
    """Open the writer, make the frames source, encode its pictures; all or nothing.

    ``pictures(source)`` gives the number of frames asked for and an iterator of them (it may
    end early). On any error or cancel the writer is aborted (no file); the source is always
    closed.
    """
    writer = AnimationWriter(path, fmt, fps)
    source = None
    try:
        source = make_source()
        total, frames = pictures(source)
        for done, picture in enumerate(frames, start=1):
            _check_cancel(cancelled)
            writer.add(picture)
            if progress is not None:
                progress(done, total)
        _check_cancel(cancelled)
        if writer.frame_count == 0:
            raise ValueError("the run produced no record to show")
        count = writer.close()
    except BaseException:
        writer.abort()
        raise
    finally:
        if source is not None:
            source.close()
    assert writer.size is not None
    return AnimationResult(Path(path), count, writer.size, writer.duration_ms, total)


def trained_params(config: SimConfig, iterations: int) -> tuple[dict[str, np.ndarray], int]:
    """The weights after ``iterations`` training steps (fewer if the run halts) and the steps taken."""
    simulation = Simulation(config)
    done = 0
    for _ in range(iterations):
        if simulation.train_step() is None:
            break
        done += 1
        if simulation.halted:
            break
    return {name: np.array(value, copy=True) for name, value in simulation.params.items()}, done


def record_backprop_animation(
    config: SimConfig,
    params: dict[str, np.ndarray],
    path: str | os.PathLike[str],
    every: int = 1,
    width: int = 960,
    fps: float = 10.0,
    fmt: str | None = None,
    theme: Theme | None = None,
    scale: float = 1.0,
    batch: tuple[np.ndarray, np.ndarray] | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    *,
    frames: Callable[..., BackwardFrames],
) -> AnimationResult:
    """Write an animation of the backward pass of ``params``, ``every`` cells a frame.

    Frame 0 shows the forward pass done; each next frame ``every`` cells further back (``every
    = config.seq_len``: a layer a frame); the last frame the complete backward pass.
    ``frames(config, params, batch, width, theme, scale=scale)`` builds the offscreen view (the
    backprop feature's :class:`~gradsim.ui.features.backprop.backprop_frames.BackpropFrames`;
    this feature does not import another).

    Raises
    ------
    AnimationCancelled, WriteError, VideoSupportMissing, ValueError
    """

    def pictures(source: BackwardFrames) -> tuple[int, Iterator[np.ndarray]]:
        positions = backprop_positions(source.total_cells, every)
        return len(positions), (source.frame(position) for position in positions)

    def source() -> BackwardFrames:
        return frames(config, params, batch, width, theme or current_theme(), scale=scale)

    return _record(path, fmt, fps, source, pictures, progress, cancelled)
