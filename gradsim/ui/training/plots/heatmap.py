"""Heatmap of ``log10 ||dL/dh||``: kept iterations (rows, newest at the top) x time steps.

The image holds only finite numbers with explicit levels (the ImageItem would otherwise warn on
``log10(0) = -inf`` and rescale its colours every frame). A value of exactly 0 is drawn in the
lowest colour; inf and NaN cells get the same sentinel and are painted red by a second,
transparent image on top.

The image is updated in place: the plot keeps the shown rows' log10 values and their colours
in buffers, and a frame that adds one record converts and colours one row (a thinning of the
history moves the kept rows down, without converting them again). The colours are computed
as pyqtgraph would (same scaling, same lookup table) and handed to the image item as a 32-bit
picture, so Qt neither converts nor colours a million cells per frame; only when the levels
(whole decades) or the colour map change are all rows coloured again.
"""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

# isort: split
import pyqtgraph as pg

from gradsim.engine.config import SimConfig
from gradsim.engine.history import RunHistory
from gradsim.engine.records import nonfinite_norms
from gradsim.ui.common.theme import Theme, style_colorbar, style_plot
from gradsim.ui.training.plots.base import OverlayText, PlotPanel, layer_names, snapped_range

# Stored in place of log10 of zero and of non-finite values: below any log10 norm a run can
# produce (the engine's logs go far below float64: 2000 steps x 16 layers, each step at most
# some hundreds of decades, stay above -1e7), so the explicit levels map it to the lowest colour.
SENTINEL = np.float32(-1e9)

# A converted image row: (log10 values (T,) float32, finite min, finite max, non-finite indices).
_Row = tuple[np.ndarray, float, float, "np.ndarray | None"]


def ordinal(n: int) -> str:
    """``"2nd"``, ``"3rd"``, ``"4th"``, ``"11th"``, ``"22nd"``."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


class IterationAxis(pg.AxisItem):
    """Vertical axis over image rows that labels each tick with the iteration of that row.

    The history thins old iterations, so row number and iteration number are not proportional;
    once it has, the axis title says so (``"iteration (every 4th kept)"``) and its tooltip
    explains it, so equally spaced ticks are not read as equal numbers of iterations.
    """

    LABEL = "iteration (newest at top)"

    def __init__(self, orientation: str = "left") -> None:
        super().__init__(orientation)
        self._iterations = np.zeros(0, dtype=np.int64)
        self.stride = 1

    @property
    def iterations(self) -> np.ndarray:
        """``(rows,)`` int64: the iteration of each image row, oldest first."""
        return self._iterations

    @iterations.setter
    def iterations(self, values: np.ndarray) -> None:
        self._iterations = values
        gaps = np.diff(values)
        stride = int(gaps.max()) if gaps.size else 1
        if stride == self.stride:
            return
        self.stride = stride
        if stride > 1:
            self.setLabel(f"iteration (every {ordinal(stride)} kept)", **self.labelStyle)
            self.setToolTip(
                f"Rows are the iterations the history kept: the older ones only every {ordinal(stride)}, "
                "so equally spaced rows are not equal numbers of iterations; ticks name a row's iteration."
            )
        else:
            self.setLabel(self.LABEL, **self.labelStyle)
            self.setToolTip("")

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:  # noqa: N802
        labels = []
        for value in values:
            row = int(round(value))
            if 0 <= row < len(self.iterations) and abs(value - row) < 1e-6:
                labels.append(str(int(self.iterations[row])))
            else:
                labels.append("")
        return labels


class ColoredImageItem(pg.ImageItem):
    """An ImageItem that shows colours computed by its owner instead of colouring its data.

    ``image`` holds the ``(n, T)`` float32 values as in any ImageItem (levels, colour bar and
    export read them); :meth:`set_colored` also gives the ``(n, T)`` uint32 ARGB colours of those
    values, which :meth:`render` wraps as the picture without a copy. Without colours (or when
    their shape does not match) it renders as pyqtgraph does.
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._colors: np.ndarray | None = None

    def set_colored(self, values: np.ndarray, colors: np.ndarray, levels: tuple[float, float]) -> None:
        """Show ``values`` ((n, T) float32) as ``colors`` ((n, T) uint32 ARGB, C-contiguous)."""
        self._colors = colors
        self.setImage(values, autoLevels=False, levels=levels)

    def clear_colors(self) -> None:
        """Colour the data with the lookup table again (pyqtgraph's own rendering)."""
        self._colors = None
        self._renderRequired = True

    def render(self) -> None:
        colors = self._colors
        image = self.image
        if colors is None or image is None or image.ndim != 2 or colors.shape != image.shape[:2]:
            super().render()
            return
        height, width = colors.shape
        # Format_RGB32 when every colour is opaque (the fast path of Qt's raster engine).
        opaque = self.lut is None or np.ndim(self.lut) != 2 or np.shape(self.lut)[1] != 4
        qformat = QtGui.QImage.Format.Format_RGB32 if opaque else QtGui.QImage.Format.Format_ARGB32
        self.qimage = pg.functions.ndarray_to_qimage(colors.view(np.uint8).reshape(height, width, 4), qformat)
        self._renderRequired = False
        self._unrenderable = False


def color_rows(values: np.ndarray, levels: tuple[float, float], lut: np.ndarray) -> np.ndarray:
    """``(k, T)`` uint32 ARGB colours of ``values`` ``(k, T)`` float32, as pyqtgraph colours them.

    The same scaling as ``ImageItem`` with explicit levels and a lookup table of N colours
    (``(value - low) * N / (high - low)``, clipped to ``0..N-1``, by pyqtgraph's own
    ``rescaleData``), then the table: cell for cell the picture pyqtgraph would draw.
    """
    table = np.asarray(lut, dtype=np.uint8)
    count = table.shape[0]
    low, high = levels
    span = high - low if high != low else 1.0
    indices = pg.functions.rescaleData(
        values, count / span, low, dtype=np.min_scalar_type(count - 1), clip=(0, count - 1)
    )
    return _argb_table(table)[indices]


def _argb_table(table: np.ndarray) -> np.ndarray:
    """``(N,)`` uint32 ``0xAARRGGBB`` of an ``(N, 3)`` or ``(N, 4)`` uint8 lookup table."""
    alpha = table[:, 3].astype(np.uint32) if table.shape[1] == 4 else np.uint32(255)
    red, green, blue = (table[:, i].astype(np.uint32) for i in range(3))
    return (alpha << 24) | (red << 16) | (green << 8) | blue


class HeatmapPlot(PlotPanel):
    """``log10 ||dL/dh||`` of one layer for every kept iteration and time step.

    Attributes
    ----------
    plot : the PlotItem (x: time step 1..T, y: row of the kept iteration, newest at the top)
    image : ImageItem, ``image.image`` is the ``(n, T)`` float32 array shown; row ``i`` is
        ``history.log10_grad_norm_rows(layer)[i]`` (exact below float64) with exact zeros and
        non-finite values replaced by :data:`SENTINEL`
    nonfinite_image : RGBA ImageItem painting the non-finite cells red (hidden when none)
    colorbar : ColorBarItem in decades, its levels are ``levels``
    layer_selector : QComboBox choosing the layer
    selector_row : the row holding it (hidden when there is one layer)
    levels : (low, high) whole decades spanning the finite values shown
    iteration_axis : the left axis; ``iteration_axis.iterations`` maps rows to iterations
    """

    def __init__(self, theme: Theme | None = None, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(theme, parent)
        theme = self.theme
        self.layer_selector = self._add_selector(
            "Heatmap layer:", "Which layer's gradient magnitudes the heatmap shows", self._on_layer_chosen
        )

        self.iteration_axis = IterationAxis("left")
        self.plot = self._add_plot(grid="", axisItems={"left": self.iteration_axis})
        style_plot(
            self.plot,
            theme,
            title="log10 ||dL/dh|| over training",
            left=IterationAxis.LABEL,
            bottom="time step t",
            grid=False,
        )
        self._set_title(self.plot, "log10 ||dL/dh|| over training", shorter=("log10 ||dL/dh||",))
        # No autoDownsample: it costs ~6 ms per frame at 1000 x 1000, Qt scales the image for less.
        self.image = ColoredImageItem(axisOrder="row-major")
        self.nonfinite_image = pg.ImageItem(axisOrder="row-major")
        self.nonfinite_image.setZValue(5)
        self.plot.addItem(self.image)
        self.plot.addItem(self.nonfinite_image)
        self.levels: tuple[float, float] = (-1.0, 0.0)
        self.colorbar = pg.ColorBarItem(
            values=self.levels, colorMap=theme.colormap,
            interactive=False, width=18, colorMapMenu=False,
        )  # fmt: skip
        self.colorbar.setImageItem(self.image, insert_in=self.plot)
        style_colorbar(self.colorbar, theme, "log10 ||dL/dh||  (decades)")
        self.message = OverlayText(self.plot, theme, "top-left", theme.nonfinite)
        self.message.fill = pg.mkBrush(theme.background + "c0")
        self._layer = 0
        self._num_layers = 0
        self._buffers = _RowBuffers()
        self._shape: tuple[int, int] = (0, 0)
        self._round_rows = False
        self._clear()

    # -- row range ------------------------------------------------------------------------------
    def set_live(self, live: bool) -> None:
        """While a run trains (``live``) the row range grows in round steps (:meth:`row_range`);
        stopped, the rows fill the plot again."""
        if live != self._round_rows:
            self._round_rows = live
            self.redraw()

    def row_range(self, count: int) -> int:
        """How many rows the y range spans for ``count`` image rows.

        ``count`` when the run stands still. While it trains (:meth:`set_live`) a new row
        every frame would move the range and lay the axis out again each time: the range then
        grows in round steps of about a quarter of the rows (kept while it holds the rows and
        is at most 1.3 times the snapped height), and the newest rows fill the space above.
        """
        if not self._round_rows or count <= 1:
            return max(count, 1)
        current = (0.0, float(self._shape[0])) if self._shape[0] else None
        return int(snapped_range(0.0, float(count), current, divisions=4)[1])

    # -- layer choice -------------------------------------------------------------------------
    @property
    def layer(self) -> int:
        """The 0-based layer shown."""
        return self._layer

    def set_layer(self, layer: int) -> None:
        """Show ``layer`` (0-based); redraws from the last history."""
        self.layer_selector.setCurrentIndex(layer)

    def _on_layer_chosen(self, index: int) -> None:
        if index < 0 or index == self._layer:
            return
        self._layer = index
        self._buffers.clear()
        self.redraw()

    def _ensure_layers(self, count: int) -> None:
        if count == self._num_layers:
            return
        self._num_layers = count
        if self._layer >= count:
            self._layer = count - 1
            self._buffers.clear()
        self.selector_row.set_items(layer_names(count), self._layer)
        self.selector_row.setVisible(count > 1)

    # -- drawing ----------------------------------------------------------------------------
    def _forget(self) -> None:
        self._buffers.clear()

    def _draw(self, history: RunHistory, config: SimConfig) -> None:
        record = history.latest
        if record is None or len(history) == 0:
            self._clear()
            return
        num_layers, seq_len = record.log10_grad_norms.shape
        self._ensure_layers(num_layers)
        iterations = history.iterations()
        buffers = self._buffers
        if seq_len != buffers.seq_len:
            buffers.clear()
        try:
            self._update_rows(history, iterations, seq_len)
        except (ValueError, IndexError):
            # Records of different shapes in one history (a config changed without a reset):
            # the engine cannot stack them. Show the message rather than fail the frame.
            self._clear()
            self.message.show_text("the history mixes network shapes: reset to draw the heatmap")
            return
        count = len(iterations)
        finite_low, finite_high = buffers.finite_range()
        if np.isfinite(finite_low):
            low, high = float(np.floor(finite_low)), float(np.ceil(finite_high))
            if high <= low:
                high = low + 1.0
        else:
            low, high = -1.0, 0.0
        self.levels = (low, high)
        shown = self.iteration_axis.iterations
        self.iteration_axis.iterations = iterations
        if not _appended(shown, iterations):
            # Thinning changes which iteration sits in a row without changing the range: redraw
            # the labels (pyqtgraph's axis caches them in ``picture``). New rows on top of the
            # same ones leave every labelled row as it was.
            self.iteration_axis.picture = None
            self.iteration_axis.update()
        lut = self.image.lut
        if isinstance(lut, np.ndarray) and lut.ndim == 2 and lut.shape[1] in (3, 4):
            buffers.color(self.levels, lut)
            self.image.set_colored(buffers.values[:count], buffers.colors[:count], self.levels)
        else:
            self.image.clear_colors()
            self.image.setImage(buffers.values[:count], levels=self.levels)
        if tuple(self.colorbar.levels()) != self.levels:
            self.colorbar.setLevels(self.levels)  # (its axis is laid out again on every call)
        rect = QtCore.QRectF(0.5, -0.5, seq_len, count)
        self.image.setRect(rect)
        rows = self.row_range(count)
        if (rows, seq_len) != self._shape:
            self.plot.setXRange(0.5, seq_len + 0.5, padding=0.0)
            self.plot.setYRange(-0.5, rows - 0.5, padding=0.0)
            self._shape = (rows, seq_len)
        self.image.show()
        self._show_nonfinite(buffers.nonfinite[:count], iterations, rect, seq_len)

    def _update_rows(self, history: RunHistory, iterations: np.ndarray, seq_len: int) -> None:
        """Bring the buffers to the rows of ``iterations``: keep those still there (moved down
        over the rows the history dropped) and convert only the new ones."""
        buffers = self._buffers
        missing = buffers.keep(iterations, seq_len)
        if not missing:
            return
        layer = self._layer
        recent = {r.iteration: r for r in history.recent()}
        if all(i in recent for i in missing):
            block = np.stack([recent[i].log10_grad_norms[layer] for i in missing])
        else:
            position = {int(it): n for n, it in enumerate(iterations)}
            block = history.log10_grad_norm_rows(layer, [position[i] for i in missing])
        buffers.append(missing, _log_rows(block, seq_len))

    def _show_nonfinite(
        self, nonfinite: list[np.ndarray | None], iterations: np.ndarray, rect: QtCore.QRectF, seq_len: int
    ) -> None:
        bad_rows = [n for n, cells in enumerate(nonfinite) if cells is not None]
        if not bad_rows:
            self.nonfinite_image.hide()
            self.message.show_text("")
            return
        overlay = np.zeros((len(nonfinite), seq_len, 4), dtype=np.uint8)
        color = pg.mkColor(self.theme.nonfinite)
        for n in bad_rows:
            overlay[n, nonfinite[n]] = (color.red(), color.green(), color.blue(), 255)
        self.nonfinite_image.setImage(overlay, levels=(0, 255))
        self.nonfinite_image.setRect(rect)
        self.nonfinite_image.show()
        first = int(iterations[bad_rows[0]])
        self.message.show_text(f"red: non-finite ||dL/dh|| (first at iteration {first})")

    def _clear(self) -> None:
        self._buffers.clear()
        self._shape = (0, 0)
        self.iteration_axis.iterations = np.zeros(0, dtype=np.int64)
        self.image.hide()
        self.nonfinite_image.hide()
        self.message.show_text("")


class _RowBuffers:
    """The shown rows of the heatmap, oldest first: values, colours and what each row holds.

    ``values[:n]`` ``(n, T)`` float32 and ``colors[:n]`` ``(n, T)`` uint32 are the image and its
    picture; rows are kept in place between frames. ``iterations``, ``low``, ``high`` and
    ``nonfinite`` are per row (its iteration, finite min and max, inf/NaN cells or None).
    The first ``colored`` rows have their colours for ``levels`` and ``lut``.
    """

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.seq_len = 0
        self.values = np.zeros((0, 0), dtype=np.float32)
        self.colors = np.zeros((0, 0), dtype=np.uint32)
        self.iterations = np.zeros(0, dtype=np.int64)
        self.low = np.zeros(0)
        self.high = np.zeros(0)
        self.nonfinite: list[np.ndarray | None] = []
        self.colored = 0
        self.levels: tuple[float, float] | None = None
        self.lut: np.ndarray | None = None

    def keep(self, iterations: np.ndarray, seq_len: int) -> list[int]:
        """Keep the rows of ``iterations`` already held, in order; return the iterations to add.

        The history only drops rows and appends newer ones, so the rows held that it still
        keeps are its first rows; anything else (another run) starts again from nothing.
        """
        if seq_len != self.seq_len:
            self.clear()
            self.seq_len = seq_len
        held = self.iterations
        if len(held) <= len(iterations) and np.array_equal(iterations[: len(held)], held):
            return iterations[len(held) :].tolist()  # only new rows on top (a live frame's case)
        kept = np.isin(held, iterations, assume_unique=True)
        count = int(np.count_nonzero(kept))
        if count and not np.array_equal(iterations[:count], held[kept]):
            self.clear()
            self.seq_len = seq_len
            kept, count = np.zeros(0, dtype=bool), 0
        if count < len(held):
            # Rows dropped by a thinning (or all of them): move the kept ones down.
            order = np.flatnonzero(kept)
            self.colored = int(np.count_nonzero(kept[: self.colored]))  # colours move with their rows
            self.values[:count] = self.values[order]
            self.colors[:count] = self.colors[order]
            self.iterations = held[order]
            self.low, self.high = self.low[order], self.high[order]
            self.nonfinite = [self.nonfinite[i] for i in order]
        return iterations[count:].tolist()

    def append(self, iterations: list[int], rows: list[_Row]) -> None:
        """Add converted rows at the top (growing the buffers when full)."""
        start, stop = len(self.iterations), len(self.iterations) + len(rows)
        if stop > self.values.shape[0] or self.values.shape[1] != self.seq_len:
            capacity = max(stop, 2 * self.values.shape[0], 64)
            values = np.empty((capacity, self.seq_len), dtype=np.float32)
            colors = np.empty((capacity, self.seq_len), dtype=np.uint32)
            if start:
                values[:start] = self.values[:start]
                colors[:start] = self.colors[:start]
            self.values, self.colors = values, colors
        for n, row in enumerate(rows, start):
            self.values[n] = row[0]
        self.iterations = np.append(self.iterations, np.asarray(iterations, dtype=np.int64))
        self.low = np.append(self.low, [row[1] for row in rows])
        self.high = np.append(self.high, [row[2] for row in rows])
        self.nonfinite.extend(row[3] for row in rows)

    def finite_range(self) -> tuple[float, float]:
        """Min and max of the finite values held (inf, -inf when there are none)."""
        if not len(self.low):
            return float("inf"), float("-inf")
        return float(self.low.min()), float(self.high.max())

    def color(self, levels: tuple[float, float], lut: np.ndarray) -> None:
        """Colour the rows not yet coloured for ``levels`` and ``lut`` (all of them if either changed)."""
        if levels != self.levels or self.lut is None or not np.array_equal(lut, self.lut):
            self.colored = 0
            self.levels, self.lut = levels, np.array(lut)
        count = len(self.iterations)
        if self.colored < count:
            self.colors[self.colored : count] = color_rows(self.values[self.colored : count], levels, lut)
            self.colored = count


def _log_rows(logs: np.ndarray, seq_len: int) -> list[_Row]:
    """Image rows from ``log10 ||dL/dh||`` rows ``logs`` ``(k, T)``, converted in one pass.

    Returns, per row: ``(seq_len,)`` float32 log10 values with :data:`SENTINEL` where the norm is
    exactly 0 (-inf) or not finite; the min and max of the finite log10 values (inf and -inf
    when there are none); the indices of the inf/NaN entries, or None when all are finite.
    Raises ValueError when ``T`` is not ``seq_len`` (records of another network).
    """
    if logs.ndim != 2 or logs.shape[1] != seq_len:
        raise ValueError(f"rows of length {logs.shape[-1]} in an image of width {seq_len}")
    finite = np.logical_not(nonfinite_norms(logs))  # an exact zero (-inf) is finite
    positive = np.isfinite(logs)
    image = np.where(positive, logs, SENTINEL).astype(np.float32)
    any_positive = positive.any(axis=1)
    low = np.where(any_positive, np.min(np.where(positive, logs, np.inf), axis=1), np.inf)
    high = np.where(any_positive, np.max(np.where(positive, logs, -np.inf), axis=1), -np.inf)
    all_finite = finite.all(axis=1)
    return [
        (image[i], float(low[i]), float(high[i]), None if all_finite[i] else np.flatnonzero(~finite[i]))
        for i in range(logs.shape[0])
    ]


def _appended(shown: np.ndarray, iterations: np.ndarray) -> bool:
    """Whether ``iterations`` are the rows ``shown`` with new ones on top (none dropped or moved)."""
    return 0 < len(shown) <= len(iterations) and bool(np.array_equal(iterations[: len(shown)], shown))
