"""The core view: ``||dL/dh_t||`` against time step, one curve per layer, on a log axis.

The newest iteration is drawn bold; the iterations before it (the history's trail) faintly, so
the user sees the curves move. Values span hundreds of decades in a vanishing run, below what
any float holds (a sigmoid stack reaches 1e-607), so the curves plot the records'
``log10_grad_norms`` on a linear axis labelled in powers of ten (:class:`DecadeAxis`): 1e-607
is drawn at 10⁻⁶⁰⁷, not dropped as 0. The y range follows the finite values; exact zeros and
non-finite values cannot sit on a log axis and are reported in text, and non-finite time
steps are shaded in red. Items added to this plot (theory lines, pinned runs) carry log10
values too. For an LSTM the cell state's ``||dL/dc_t||`` is drawn dashed beside each layer's
curve, behind a check box (:mod:`.gradient_cell`).
"""

from __future__ import annotations

import numpy as np
from PySide6 import QtGui, QtWidgets

# isort: split
import pyqtgraph as pg

from gradsim.engine.config import SimConfig
from gradsim.engine.history import RunHistory
from gradsim.engine.records import StepRecord, nonfinite_norms
from gradsim.ui.common.theme import Theme, style_plot
from gradsim.ui.training.plots.base import (
    DecadeAxis,
    OverlayText,
    PlotPanel,
    RowLegend,
    SnappedBounds,
    drawable,
    finite_range,
)
from gradsim.ui.training.plots.gradient_cell import CellCurves
from gradsim.ui.training.plots.live_line import LiveLine
from gradsim.ui.training.plots.trail import TrailCurve

# The y axis's name: the hidden state's gradient, and the LSTM cell state's beside it when drawn.
LEFT_LABEL = "||dL/dh_t||  (log scale)"
LEFT_LABEL_CELL = "||dL/dh||, ||dL/dc||  (log)"
# No time steps: an emptied trail.
_NO_STEPS = np.zeros(0)


class GradientPlot(PlotPanel):
    """``||dL/dh_t||`` per layer against time step ``t = 1..T`` (log y, as log10 data).

    Attributes
    ----------
    plot : the PlotItem; its y data are log10 values on a :class:`DecadeAxis`
    curves : bold curve of the newest record per layer (:class:`LiveLine`; ``curves[k]`` shows
        ``record.log10_grad_norms[k]`` against ``t = 1..T``, non-finite entries as NaN gaps);
        items beyond the current layer count are hidden, not deleted
    trails : faint curves per layer (:class:`TrailCurve`): the older records of
        ``history.recent()``, each record's line made once (``getOriginalDataset()``: joined
        with NaN separators)
    bounds : the curves' range as pyqtgraph's auto range sees it (snapped to round steps; the
        curves themselves are added with ``ignoreBounds``)
    nonfinite_region : red band over the time steps where the newest record is not finite
    nonfinite_line : red line at the first non-finite time step met by the backward pass
    message : overlay text naming non-finite values and zeros (empty when there are none)
    cell : :class:`CellCurves`, the LSTM's dashed ``||dL/dc_t||`` per layer and the check box
        (``cell.toggle``) that hides them; the check box is shown for LSTM records only
    """

    def __init__(self, theme: Theme | None = None, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(theme, parent)
        theme = self.theme
        self.plot = self._add_plot(axisItems={"left": DecadeAxis("left")})
        style_plot(
            self.plot,
            theme,
            title="||dL/dh_t|| through time",
            left=LEFT_LABEL,
            bottom="time step t",
        )
        # The y range follows the data (pyqtgraph's auto range, which skips the gaps of zeros
        # and non-finite values). Zooming with the mouse stops that; the "A" button restores it.
        # The auto range sees the curves' range snapped to round steps (``bounds``), so that it
        # does not move, and the axis is not laid out again, on every frame.
        self.plot.showButtons()
        self.bounds = SnappedBounds()
        self.plot.addItem(self.bounds)
        # The key sits in a row under the plot, never over the curves (a box in a corner hid the
        # curves of a vanishing run, which fill every corner); it wraps to fit the width.
        self.legend = RowLegend(
            self.graphics, labelTextColor=theme.foreground, labelTextSize=f"{theme.tick_pt}pt",
            horSpacing=18, verSpacing=-6,
        )  # fmt: skip
        self.graphics.addItem(self.legend, row=1, col=0)
        self.plot.legend = self.legend  # named curves and the theory line join it
        self.curves: list[LiveLine] = []
        self.trails: list[TrailCurve] = []
        self.nonfinite_region = pg.LinearRegionItem(
            values=(0, 1), movable=False, brush=pg.mkBrush(theme.nonfinite_fill),
            pen=theme.pen(theme.nonfinite, 1),
        )  # fmt: skip
        self.nonfinite_region.setZValue(-5)
        self.nonfinite_line = pg.InfiniteLine(
            angle=90, movable=False, pen=theme.pen(theme.nonfinite, 2, dashed=True)
        )
        self.plot.addItem(self.nonfinite_region, ignoreBounds=True)
        self.plot.addItem(self.nonfinite_line, ignoreBounds=True)
        self.message = OverlayText(self.plot, theme, "top-left", theme.nonfinite)
        self.cell = CellCurves(self.plot, self.legend, theme)
        self._layout.insertWidget(0, self.cell.toggle_row)
        self.cell.toggle.toggled.connect(self._on_cell_toggled)
        self.note = OverlayText(self.plot, theme, "bottom-left", theme.note)
        self._shown_layers = 0
        self._seq_len = 0
        self._trail_emphasised = False
        self._trail = _Trail()
        # The record the bold curves show (None: they show nothing yet).
        self._bold_record: StepRecord | None = None
        self._clear()

    # -- items ------------------------------------------------------------------------------
    def _ensure_layers(self, count: int) -> None:
        """Create curves up to ``count`` layers (once) and show exactly ``count`` of them."""
        theme = self.theme
        while len(self.curves) < count:
            k = len(self.curves)
            color = theme.layer_color(k)
            trail = TrailCurve(self._trail_pen(k, self._trail_emphasised))
            trail.setZValue(-1)
            curve = LiveLine(pen=theme.pen(color, 3.0), connect="finite", name=f"layer {k + 1}")
            self.plot.addItem(trail, ignoreBounds=True)
            self.plot.addItem(curve, ignoreBounds=True)
            self.legend.removeItem(curve)  # added back below while shown
            self.trails.append(trail)
            self.curves.append(curve)
        if count == self._shown_layers:
            return
        self.legend.clear()
        for k, (curve, trail) in enumerate(zip(self.curves, self.trails, strict=True)):
            shown = k < count
            curve.setVisible(shown)
            trail.setVisible(shown)
            if not shown:
                curve.setData([], [])
                trail.set_rows(_NO_STEPS, [])
        self._forget()  # the curves' data was dropped above: the next frame sets it all again
        for k in range(count):
            self.legend.addItem(self.curves[k], f"layer {k + 1}")
        self.cell.rekey()
        self._shown_layers = count

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self.legend.fit()

    def _on_cell_toggled(self, checked: bool) -> None:
        del checked  # the check box's state is read when drawing
        self.redraw()

    def _trail_pen(self, layer: int, emphasised: bool) -> pg.QtGui.QPen:
        # Faint behind a drawn newest curve; stronger when the newest has nothing to draw
        # (all non-finite), so the last finite iterations stay readable on the red band.
        color = self.theme.layer_color(layer)
        color.setAlpha(200 if emphasised else 70)
        return self.theme.pen(color, 1.5 if emphasised else 1.0)

    # -- drawing ----------------------------------------------------------------------------
    def _draw(self, history: RunHistory, config: SimConfig) -> None:
        record = history.latest
        if record is None:
            self._clear()
            self.cell.toggle_row.setVisible(self.cell.available(None, config.cell))
            return
        logs = record.log10_grad_norms
        num_layers, seq_len = logs.shape
        self._ensure_layers(num_layers)
        steps = np.arange(1, seq_len + 1, dtype=np.float64)
        if seq_len != self._seq_len:
            self.plot.setXRange(0.5, seq_len + 0.5, padding=0.0)
            self._seq_len = seq_len
        trail_records = [r for r in history.recent()[:-1] if r.log10_grad_norms.shape == logs.shape]
        drawn = drawable(logs)
        emphasised = not np.isfinite(drawn).any()
        if emphasised != self._trail_emphasised:
            for k, trail in enumerate(self.trails):
                trail.setPen(self._trail_pen(k, emphasised))
            self._trail_emphasised = emphasised
        if record is not self._bold_record:  # (a redraw of the same record: the curves show it)
            finite = np.isfinite(drawn).all(axis=1)
            for k in range(num_layers):
                # A layer without gaps skips pyqtgraph's search for them.
                self.curves[k].set_line(steps, drawn[k], skip_finite_check=bool(finite[k]))
            self._bold_record = record
        trail_range = self._trail.draw(trail_records, steps, self.trails[:num_layers])
        cell = self.cell.draw(record, config.cell, steps)
        self.bounds.set_exact(0, 1.0, float(seq_len))
        self.bounds.set_range(1, *_merged(finite_range(drawn, cell), trail_range))
        faint = f", {len(trail_records)} before faint" if trail_records else ""
        both = "||dL/dh_t|| and ||dL/dc_t|| (dashed)" if len(cell) else "||dL/dh_t||"
        self._set_left_label(LEFT_LABEL_CELL if len(cell) else LEFT_LABEL)
        self._set_title(
            self.plot,
            f"{both} at iteration {record.iteration} (bold){faint}",
            shorter=(
                f"{both} at iteration {record.iteration} (bold)",
                f"{both}, iteration {record.iteration}",
                f"||dL/dh_t||, iteration {record.iteration}",
            ),
        )
        self._show_problems(record)

    def _show_problems(self, record: StepRecord) -> None:
        logs = record.log10_grad_norms
        bad = nonfinite_norms(logs)  # -inf is an exact 0, reported below
        lines: list[str] = []
        if bad.any():
            bad_steps = np.flatnonzero(bad.any(axis=0))
            self.nonfinite_region.setRegion((bad_steps[0] + 0.5, bad_steps[-1] + 1.5))
            self.nonfinite_region.show()
            # The backward pass runs from the top layer and the last step down: name the first
            # non-finite value it met.
            layer = int(np.flatnonzero(bad.any(axis=1))[-1])
            step = int(np.flatnonzero(bad[layer])[-1])
            self.nonfinite_line.setPos(step + 1)
            self.nonfinite_line.show()
            if bad.all():
                lines.append("every ||dL/dh|| of this iteration is non-finite (inf/NaN)")
            else:
                lines.append(f"non-finite ||dL/dh|| from step {step + 1} (layer {layer + 1}) backwards")
        else:
            self.nonfinite_region.hide()
            self.nonfinite_line.hide()
        if record.nonfinite is not None:
            lines.append(record.nonfinite.describe())
        self.message.show_text("\n".join(lines))
        zeros = logs == -np.inf
        if zeros.any():
            layer = int(np.flatnonzero(zeros.any(axis=1))[0])
            count = int(zeros.sum())
            self.note.show_text(
                f"{count} value{'s' if count > 1 else ''} exactly 0 (first in layer {layer + 1}): "
                "not drawn on a log axis"
            )
        else:
            self.note.show_text("")

    def _forget(self) -> None:
        self._trail.forget()
        self._bold_record = None

    def _clear(self) -> None:
        self._forget()  # the emptied curves show no record and no trail
        for curve, trail in zip(self.curves, self.trails, strict=True):
            curve.setData([], [])
            trail.set_rows(_NO_STEPS, [])
        self.bounds.clear()
        self.cell.clear()
        self.nonfinite_region.hide()
        self.nonfinite_line.hide()
        self.message.show_text("")
        self.note.show_text("")
        self._set_title(self.plot, "||dL/dh_t|| through time")
        self._set_left_label(LEFT_LABEL)

    def _set_left_label(self, text: str) -> None:
        """Name the y axis after the curves drawn (only when that changes: a new label lays the axis out)."""
        axis = self.plot.getAxis("left")
        if axis.labelText != text:
            axis.setLabel(text)  # the style set by style_plot stays


class _Trail:
    """The faint curves' data, each record's rows converted once (not every frame).

    A record's drawable ``log10_grad_norms`` ``(L, T)`` and its finite min and max are kept while
    it is in the trail; a frame only converts the records new to the trail, and gives the curves
    new rows only when the trail's records changed (each curve keeps the lines of the rows it
    already had: :class:`TrailCurve`).
    """

    def __init__(self) -> None:
        self.forget()

    def forget(self) -> None:
        """Drop every converted record; the next :meth:`draw` sets the curves' data afresh."""
        self._rows: dict[int, tuple[StepRecord, tuple[np.ndarray, ...], float, float]] = {}
        self._shown: list[StepRecord] | None = None
        self._range = (np.nan, np.nan)

    def draw(
        self, records: list[StepRecord], steps: np.ndarray, curves: list[TrailCurve]
    ) -> tuple[float, float]:
        """Give ``curves[k]`` the records' drawable layer ``k`` rows; return the finite min and
        max of all the trail's values (NaN, NaN when none is finite)."""
        if (
            self._shown is not None
            and len(self._shown) == len(records)
            and all(a is b for a, b in zip(self._shown, records, strict=True))
        ):
            return self._range  # the same records: the curves already show them
        self._rows = {id(r): self._rows.get(id(r)) or _converted(r) for r in records}
        for k, curve in enumerate(curves):
            curve.set_rows(steps, [(id(r), self._rows[id(r)][1][k]) for r in records])
        if not records:
            self._range = (np.nan, np.nan)
        else:
            lows = [row[2] for row in self._rows.values()]
            highs = [row[3] for row in self._rows.values()]
            self._range = (min(lows), max(highs)) if min(lows) <= max(highs) else (np.nan, np.nan)
        self._shown = list(records)
        return self._range


def _converted(record: StepRecord) -> tuple[StepRecord, tuple[np.ndarray, ...], float, float]:
    """``record`` (kept, so its id stays its own), its drawable rows (one ``(T,)`` array per
    layer, the same objects every frame: a :class:`TrailCurve` keeps a row's line while it gets
    the same array) and their finite min and max (inf, -inf when none is finite)."""
    rows = drawable(record.log10_grad_norms)
    finite = rows[np.isfinite(rows)]
    layers = tuple(rows)
    if not finite.size:
        return record, layers, np.inf, -np.inf
    return record, layers, float(finite.min()), float(finite.max())


def _merged(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    """The range spanning both ``(low, high)`` ranges; NaN ends stand for "no values"."""
    lows = [x for x in (a[0], b[0]) if np.isfinite(x)]
    highs = [x for x in (a[1], b[1]) if np.isfinite(x)]
    return (min(lows), max(highs)) if lows and highs else (np.nan, np.nan)
