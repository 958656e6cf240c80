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
frames are painted here, on the GUI thread.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

# isort: split
import pyqtgraph as pg

from gradsim.engine.config import SimConfig
from gradsim.engine.history import RunHistory
from gradsim.engine.records import StepRecord
from gradsim.engine.simulation import Simulation, replay
from gradsim.io.animation_writer import MAX_FRAMES, AnimationWriter
from gradsim.ui.common.scaling import scale_items
from gradsim.ui.common.theme import Theme, current_theme
from gradsim.ui.features.backprop.backprop_view import BackpropView
from gradsim.ui.training import render
from gradsim.ui.training.dashboard import PLOT_KEYS, Dashboard

__all__ = [
    "BACKPROP",
    "DASHBOARD",
    "DEFAULT_BACKPROP_SIZE",
    "DEFAULT_DASHBOARD_SIZE",
    "TARGETS",
    "AnimationCancelled",
    "AnimationResult",
    "BackpropFrames",
    "DashboardFrames",
    "backprop_positions",
    "frame_batches",
    "frame_iterations",
    "qimage_to_rgb",
    "record_animation",
    "record_backprop_animation",
]

DASHBOARD = "dashboard"
BACKPROP = "backprop"
TARGETS = (DASHBOARD, *PLOT_KEYS)
BOTTOM_ROW = ("loss", "activation", "health")  # the dashboard's second row
# The dashboard's logical size offscreen (as ``gradsim snapshot``): a plot gets its pane of it.
DEFAULT_DASHBOARD_SIZE = (1200, 800)
# The backward-pass view's logical size offscreen: the grid, the curve, the derivative map and
# the chain-rule numbers beside them.
DEFAULT_BACKPROP_SIZE = (1280, 760)


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


# -- which frames ----------------------------------------------------------------------------------


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


# -- pixels ----------------------------------------------------------------------------------------


def qimage_to_rgb(image: QtGui.QImage) -> np.ndarray:
    """``image`` as an ``(H, W, 3) uint8`` RGB array (a copy).

    An opaque 32-bit image (what :func:`gradsim.ui.training.render.png_image` paints) is read as it is
    (bytes B, G, R, A on a little-endian machine), without Qt converting it first.
    """
    width, height = image.width(), image.height()
    formats = (QtGui.QImage.Format.Format_ARGB32_Premultiplied, QtGui.QImage.Format.Format_RGB32)
    if image.format() in formats and sys.byteorder == "little" and not _has_alpha(image):
        data = np.frombuffer(image.constBits(), dtype=np.uint8, count=image.sizeInBytes())
        pixels = data.reshape(height, image.bytesPerLine() // 4, 4)[:, :width]
        return pixels[..., 2::-1].copy()
    rgb = image.convertToFormat(QtGui.QImage.Format.Format_RGB888)
    stride = rgb.bytesPerLine()
    data = np.frombuffer(rgb.constBits(), dtype=np.uint8, count=rgb.sizeInBytes())
    return data.reshape(height, stride)[:, : 3 * width].reshape(height, width, 3).copy()


def _has_alpha(image: QtGui.QImage) -> bool:
    """Whether any pixel of a 32-bit ARGB image is not fully opaque."""
    data = np.frombuffer(image.constBits(), dtype=np.uint8, count=image.sizeInBytes())
    alpha = data.reshape(image.height(), image.bytesPerLine() // 4, 4)[:, : image.width(), 3]
    return bool((alpha != 255).any())


def _settle() -> None:
    """Deliver the layout requests a refresh posted (titles and overlays are placed by them).

    Only layout events: the window's other posted events (a worker's next frame request, user
    input) must not run inside a frame.
    """
    for _ in range(2):
        QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.LayoutRequest.value)


def _offscreen(widget: QtWidgets.QWidget, size: tuple[int, int]) -> None:
    """Lay ``widget`` out at ``size`` (logical pixels) as a window that never reaches the screen."""
    widget.setAttribute(QtCore.Qt.WidgetAttribute.WA_DontShowOnScreen, True)
    widget.resize(*size)
    widget.show()
    _settle()


def _view_boxes(widget: QtWidgets.QWidget) -> list[tuple[float, float, float, float]]:
    """Where every plot's data area sits in ``widget`` (scene rectangles, in order)."""
    boxes = []
    for view in widget.findChildren(pg.GraphicsView):
        scene = view.scene()
        for item in scene.items() if scene is not None else []:
            if isinstance(item, pg.ViewBox):
                rect = item.sceneBoundingRect()
                boxes.append((rect.x(), rect.y(), rect.width(), rect.height()))
    return boxes


def paint_settled(target: QtWidgets.QWidget, width: int) -> np.ndarray:
    """``target`` painted ``width`` pixels wide, after the layout its own painting asks for.

    pyqtgraph sizes an axis to its tick labels while painting them, so the first paint after
    new data may still show the old axis width (the labels then overlap the axis title). When
    that paint moved any plot's data area, the layout it posted is applied and the target is
    painted again: the frame is then the picture a snapshot of the same state gives.
    """
    before = _view_boxes(target)
    image = render.png_image(target, width)
    _settle()
    if _view_boxes(target) != before:
        image = render.png_image(target, width)
    return qimage_to_rgb(image)


class DashboardFrames:
    """An offscreen dashboard following a history record by record; paints one plot or all.

    Parameters
    ----------
    config : the run's config (the plots read its settings)
    target : ``"dashboard"`` or a plot key of :data:`~gradsim.ui.training.dashboard.PLOT_KEYS`
    width : frame width in pixels (height in proportion to the target's logical size)
    theme : colours; the application's if None
    size : the dashboard's logical size
    scale : presentation scale of the plots (1: normal; see presentation mode)
    dashboard_state : splitter positions (:meth:`Dashboard.save_state`) to copy, e.g. the
        window's, so that a plot has the shape it has on screen
    bottom_row : whether the dashboard's bottom row shows (presentation mode may hide it)

    Must be used on the GUI thread; :meth:`close` deletes the offscreen widgets.
    """

    def __init__(
        self,
        config: SimConfig,
        target: str = DASHBOARD,
        width: int = 640,
        theme: Theme | None = None,
        size: tuple[int, int] = DEFAULT_DASHBOARD_SIZE,
        scale: float = 1.0,
        dashboard_state: QtCore.QByteArray | bytes | None = None,
        bottom_row: bool = True,
    ) -> None:
        if target not in TARGETS:
            raise ValueError(f"the plot must be one of {', '.join(TARGETS)} (got {target!r})")
        self.config = config
        self.history = RunHistory()
        self.dashboard = Dashboard(theme=theme)
        # A plot of the bottom row is drawn even where presentation mode hides that row.
        self.dashboard.splitters[2].setVisible(bottom_row or target in BOTTOM_ROW)
        _offscreen(self.dashboard, size)
        if dashboard_state is not None:
            self.dashboard.restore_state(dashboard_state)
        self.scale = scale
        if scale != 1.0:
            self.dashboard.set_presentation_scale(scale)
        self.target: QtWidgets.QWidget = (
            self.dashboard if target == DASHBOARD else self.dashboard.plots[target]
        )
        self.width = width
        self.size = (width, render.png_size(self.target, width).height())

    def add(self, records: Iterable[StepRecord]) -> None:
        """Append ``records`` to the history shown."""
        for record in records:
            self.history.append(record)

    def frame(self) -> np.ndarray:
        """The target as it shows the history now: ``(H, W, 3) uint8``."""
        if self.target is self.dashboard:
            self.dashboard.refresh(self.history, self.config)
        else:
            # One plot shown: the other four need not draw (no plot reads another).
            self.target.refresh(self.history, self.config)  # type: ignore[attr-defined]
        _settle()
        if self.scale != 1.0:
            for view in self.dashboard.findChildren(QtWidgets.QGraphicsView):
                scale_items(view, self.scale)  # pens the refresh set anew
        return paint_settled(self.target, self.width)

    def close(self) -> None:
        """Delete the offscreen dashboard."""
        self.dashboard.close()
        self.dashboard.deleteLater()


class BackpropFrames:
    """An offscreen backward-pass view of frozen weights, shown ``position`` cells at a time.

    Parameters
    ----------
    config, params : the network (``params`` as ``Simulation.params``; copied by the view)
    batch : ``(x, y)``, the batch to backpropagate; the config's first batch if None (as the
        Backprop tab)
    width : frame width in pixels
    theme, size, scale : as :class:`DashboardFrames`

    The view computes its cells inline (on this thread): each frame advances a few cells, a
    few matrix products each.
    """

    def __init__(
        self,
        config: SimConfig,
        params: dict[str, np.ndarray],
        batch: tuple[np.ndarray, np.ndarray] | None = None,
        width: int = 960,
        theme: Theme | None = None,
        size: tuple[int, int] = DEFAULT_BACKPROP_SIZE,
        scale: float = 1.0,
    ) -> None:
        self.view = BackpropView(theme=theme)
        self.view.inline_seconds = math.inf  # frames must show their cells, never a busy bar
        self.view.toolbar.hide()  # the transport buttons mean nothing in a recording
        # A frame paints the plot views only (as every figure): the reading and the chain-rule
        # panel would leave blank bands, the panel a wide one at the presentation scale.
        self.view.reading.hide()
        self.view.side_panel.hide()
        _offscreen(self.view, size)
        if scale != 1.0:
            self.view.set_presentation_scale(scale)  # as the Backprop tab in presentation mode
        self.scale = scale
        self.view.load(config, params, batch)
        if self.view.session is None:
            raise ValueError(f"the backward pass cannot be shown: {self.view.reading.text()}")
        self.width = width
        self.size = (width, render.png_size(self.view, width).height())

    @property
    def total_cells(self) -> int:
        """Layers x time steps."""
        return self.view.total_cells

    def frame(self, position: int) -> np.ndarray:
        """The view with the first ``position`` cells computed: ``(H, W, 3) uint8``."""
        self.view.go_to(position)
        _settle()
        if self.scale != 1.0:
            scale_items(self.view.graphics, self.scale)
        return paint_settled(self.view, self.width)

    def close(self) -> None:
        """Delete the offscreen view."""
        self.view.shutdown()
        self.view.close()
        self.view.deleteLater()


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
) -> AnimationResult:
    """Write an animation of the backward pass of ``params``, ``every`` cells a frame.

    Frame 0 shows the forward pass done; each next frame ``every`` cells further back (``every
    = config.seq_len``: a layer a frame); the last frame the complete backward pass.

    Raises
    ------
    AnimationCancelled, WriteError, VideoSupportMissing, ValueError
    """

    def pictures(source: BackpropFrames) -> tuple[int, Iterator[np.ndarray]]:
        positions = backprop_positions(source.total_cells, every)
        return len(positions), (source.frame(position) for position in positions)

    def source() -> BackpropFrames:
        return BackpropFrames(config, params, batch, width, theme or current_theme(), scale=scale)

    return _record(path, fmt, fps, source, pictures, progress, cancelled)


def describe_frames(count: int, fps: float) -> str:
    """``"60 frames, 3.0 s at 20 fps"``."""
    return f"{count} frame{'s' if count != 1 else ''}, {count / fps:.1f} s at {fps:g} fps"


def feature_of(window: Any, name: str) -> Any:
    """The installed feature ``name`` of ``window`` (None if absent)."""
    return getattr(window, "features", {}).get(name)
