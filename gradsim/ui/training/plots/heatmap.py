"""Heatmap of ``log10 ||dL/dh||``: kept iterations (rows, newest at the top) x time steps.

The image holds only finite numbers with explicit levels (the ImageItem would otherwise warn on
``log10(0) = -inf`` and rescale its colours every frame). A value of exactly 0 is drawn in the
lowest colour; inf and NaN cells get the same sentinel and are painted red by a second,
transparent image on top.

Each kept iteration's row is converted once and cached by iteration number, so a frame that
adds one record converts one row, not the whole (n, T) image.
"""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtWidgets

# isort: split
import pyqtgraph as pg

from gradsim.engine.config import SimConfig
from gradsim.engine.history import RunHistory
from gradsim.engine.records import nonfinite_norms
from gradsim.ui.common.theme import Theme, style_plot
from gradsim.ui.training.plots.base import OverlayText, PlotPanel, layer_names

# Stored in place of log10 of zero and of non-finite values: below any log10 norm a run can
# produce (the engine's logs go far below float64: 2000 steps x 16 layers, each step at most
# some hundreds of decades, stay above -1e7), so the explicit levels map it to the lowest colour.
SENTINEL = np.float32(-1e9)

# A cached image row: (log10 values (T,) float32, finite min, finite max, non-finite indices).
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
        self.selector_row = self._add_selector(
            "Heatmap layer:", "Which layer's gradient magnitudes the heatmap shows"
        )
        self.layer_selector = self.selector_row.combo
        self.layer_selector.currentIndexChanged.connect(self._on_layer_chosen)

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
        self.image = pg.ImageItem(axisOrder="row-major")
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
        colorbar_axis = self.colorbar.axis
        colorbar_axis.setPen(theme.pen(theme.foreground, 1))
        colorbar_axis.setTextPen(theme.pen(theme.foreground, 1))
        colorbar_axis.setStyle(tickFont=theme.font(theme.tick_pt))
        colorbar_axis.setLabel("log10 ||dL/dh||  (decades)", color=theme.foreground,
                               **{"font-size": f"{theme.label_pt}pt"})  # fmt: skip
        self.message = OverlayText(self.plot, theme, "top-left", theme.nonfinite)
        self.message.fill = pg.mkBrush(theme.background + "c0")
        self._layer = 0
        self._num_layers = 0
        self._rows: dict[int, _Row] = {}
        self._cached_seq_len = 0
        self._shape: tuple[int, int] = (0, 0)
        self._clear()

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
        self._rows.clear()
        self.redraw()

    def _ensure_layers(self, count: int) -> None:
        if count == self._num_layers:
            return
        self._num_layers = count
        if self._layer >= count:
            self._layer = count - 1
            self._rows.clear()
        self.selector_row.set_items(layer_names(count), self._layer)
        self.selector_row.setVisible(count > 1)

    # -- drawing ----------------------------------------------------------------------------
    def _forget(self) -> None:
        self._rows.clear()

    def _draw(self, history: RunHistory, config: SimConfig) -> None:
        record = history.latest
        if record is None or len(history) == 0:
            self._clear()
            return
        num_layers, seq_len = record.log10_grad_norms.shape
        self._ensure_layers(num_layers)
        iterations = history.iterations()
        if seq_len != self._cached_seq_len:
            self._rows.clear()
            self._cached_seq_len = seq_len
        try:
            self._update_rows(history, iterations, seq_len)
        except (ValueError, IndexError):
            # Records of different shapes in one history (a config changed without a reset):
            # the engine cannot stack them. Show the message rather than fail the frame.
            self._clear()
            self.message.show_text("the history mixes network shapes: reset to draw the heatmap")
            return
        rows = [self._rows[int(i)] for i in iterations]
        image = np.stack([row[0] for row in rows])
        finite_low = min(row[1] for row in rows)
        finite_high = max(row[2] for row in rows)
        if np.isfinite(finite_low):
            low, high = float(np.floor(finite_low)), float(np.ceil(finite_high))
            if high <= low:
                high = low + 1.0
        else:
            low, high = -1.0, 0.0
        self.levels = (low, high)
        count = len(iterations)
        self.iteration_axis.iterations = iterations
        # Thinning changes which iteration sits in a row without changing the range: redraw
        # the labels (pyqtgraph's axis caches them in ``picture``).
        self.iteration_axis.picture = None
        self.iteration_axis.update()
        self.image.setImage(image, levels=self.levels)
        self.colorbar.setLevels(self.levels)
        rect = QtCore.QRectF(0.5, -0.5, seq_len, count)
        self.image.setRect(rect)
        if (count, seq_len) != self._shape:
            self.plot.setXRange(0.5, seq_len + 0.5, padding=0.0)
            self.plot.setYRange(-0.5, count - 0.5, padding=0.0)
            self._shape = (count, seq_len)
        self.image.show()
        self._show_nonfinite(rows, iterations, rect, seq_len)

    def _update_rows(self, history: RunHistory, iterations: np.ndarray, seq_len: int) -> None:
        """Convert the rows not yet cached; drop rows the history no longer keeps."""
        wanted = {int(i) for i in iterations}
        for stale in set(self._rows) - wanted:
            del self._rows[stale]
        missing = [i for i in iterations.tolist() if i not in self._rows]
        if not missing:
            return
        layer = self._layer
        recent = {r.iteration: r for r in history.recent()}
        if all(i in recent for i in missing):
            block = np.stack([recent[i].log10_grad_norms[layer] for i in missing])
        else:
            position = {int(it): n for n, it in enumerate(iterations)}
            block = history.log10_grad_norm_rows(layer)[[position[i] for i in missing]]
        self._rows.update(zip(missing, _log_rows(block, seq_len), strict=True))

    def _show_nonfinite(
        self, rows: list[_Row], iterations: np.ndarray, rect: QtCore.QRectF, seq_len: int
    ) -> None:
        bad_rows = [n for n, row in enumerate(rows) if row[3] is not None]
        if not bad_rows:
            self.nonfinite_image.hide()
            self.message.show_text("")
            return
        overlay = np.zeros((len(rows), seq_len, 4), dtype=np.uint8)
        color = pg.mkColor(self.theme.nonfinite)
        for n in bad_rows:
            overlay[n, rows[n][3]] = (color.red(), color.green(), color.blue(), 255)
        self.nonfinite_image.setImage(overlay, levels=(0, 255))
        self.nonfinite_image.setRect(rect)
        self.nonfinite_image.show()
        first = int(iterations[bad_rows[0]])
        self.message.show_text(f"red: non-finite ||dL/dh|| (first at iteration {first})")

    def _clear(self) -> None:
        self._rows.clear()
        self._shape = (0, 0)
        self.iteration_axis.iterations = np.zeros(0, dtype=np.int64)
        self.image.hide()
        self.nonfinite_image.hide()
        self.message.show_text("")


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
