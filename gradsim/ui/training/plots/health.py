"""Per-layer health of the newest iteration: saturation, parameter-gradient norm, update ratio.

The three diagnostics practitioners read (makemore part 3): the fraction of saturated units, the
size of each weight matrix's gradient and the update:data ratio ``||ΔW|| / ||W||`` with its
1e-3 rule of thumb. Input weights ``weight_ih_l{k}`` and recurrent weights ``weight_hh_l{k}``
are shown side by side.

Bars cannot be drawn by pyqtgraph's log mode, so the two log charts draw bars from a baseline
to ``log10(value)`` and switch their axes to log labelling; non-finite values are drawn as full
red bars and named in a message. In the saturation chart, units whose value is inf/NaN are a red
segment stacked on the saturated ones (``record.nonfinite_fraction``), never counted as saturated.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6 import QtGui, QtWidgets

# isort: split
import pyqtgraph as pg

from gradsim.engine.config import SimConfig
from gradsim.engine.history import RunHistory
from gradsim.ui.common.theme import Theme, style_plot
from gradsim.ui.training.plots.bars import Bars
from gradsim.ui.training.plots.base import OverlayText, PlotPanel, log_axes

REFERENCE_RATIO = 1e-3
KINDS = ("weight_ih", "weight_hh")
_KIND_LABELS = {"weight_ih": "W_ih", "weight_hh": "W_hh"}
_BAR_WIDTH = 0.38
# Chart title and y label, in the order of the charts.
CHARTS = {
    "saturation": ("Saturated units", "fraction"),
    "gradient": ("Weight gradient", "||dL/dW||"),
    "ratio": ("Update ratio", "||ΔW||/||W||"),
}
# Smallest legible chart, in pixels (y axis with its label plus a few bars; title and ticks).
MIN_CHART_WIDTH = 170
MIN_CHART_HEIGHT = 150
# Beside the left axis, a chart's layout keeps this much room that is not the bottom axis's.
CHART_MARGIN = 10
# The left axis's width: "0.0001" and the axis label side by side.
LEFT_AXIS_WIDTH = 68


class HealthPlot(PlotPanel):
    """Bar charts per layer: saturation fraction, ``||dL/dW||`` (log), ``||ΔW||/||W||`` (log).

    Attributes
    ----------
    saturation_plot, gradient_plot, ratio_plot : the three PlotItems
    saturation_bars : BarGraphItem, ``opts["height"]`` = ``record.saturation``
    nonfinite_bars : BarGraphItem stacked on them (red), from ``opts["y0"]`` = saturation to
        ``opts["y1"]`` = saturation + ``record.nonfinite_fraction``; while every fraction is 0
        the bars have no height and are not set again as the saturation moves (``y0`` = ``y1``
        = the saturation when they became 0)
    gradient_bars, ratio_bars : dict ``"weight_ih"`` / ``"weight_hh"`` -> BarGraphItem drawn from
        ``opts["y0"]`` to ``opts["y1"] = log10(value)`` (``value`` from
        ``record.param_grad_norms`` / ``record.update_ratios`` of ``{kind}_l{k}``)
    values : the raw values last drawn, keyed ``"saturation"``, ``"nonfinite"``,
        ``"gradient/weight_ih"``, ...
    reference_line : the 1e-3 update-ratio line (at ``log10(1e-3) = -3`` on the log axis)
    message : overlay text naming missing or non-finite values
    arrangement : ``"row"``, ``"column"`` or ``"grid"``, chosen from the widget's shape
    """

    def __init__(self, theme: Theme | None = None, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(theme, parent)
        theme = self.theme
        self.chart_selector = self._add_selector(
            "Show:", "Which per-layer chart to show (too little room for all)", self._on_chart_chosen
        )
        self.selector_row.set_items([title for title, _ in CHARTS.values()], 0)
        self.saturation_plot = self._add_plot(row=0, col=0, grid="y")
        self.gradient_plot = self._add_plot(row=0, col=1, grid="y", axisItems=log_axes("left"))
        self.ratio_plot = self._add_plot(row=0, col=2, grid="y", axisItems=log_axes("left"))
        self.arrangement = "row"
        for plot, (title, label) in zip(self._plots(), CHARTS.values(), strict=True):
            style_plot(plot, theme, title=title, left=label, bottom="layer")
        for plot in (self.gradient_plot, self.ratio_plot):
            plot.setLogMode(x=False, y=True)  # labels only: the bars carry log10 values
        for plot in self._plots():
            plot.setMouseEnabled(x=False, y=False)
            plot.getAxis("left").setWidth(LEFT_AXIS_WIDTH)
        self.saturation_plot.setYRange(0.0, 1.0, padding=0.02)
        self.saturation_bars = Bars(x=[], height=[], width=0.6)
        self.saturation_plot.addItem(self.saturation_bars)
        self.nonfinite_bars = Bars(x=[], y0=[], y1=[], width=0.6,
                                   brush=theme.nonfinite, pen=pg.mkPen(None))  # fmt: skip
        self.saturation_plot.addItem(self.nonfinite_bars)
        self.gradient_bars: dict[str, pg.BarGraphItem] = {}
        self.ratio_bars: dict[str, pg.BarGraphItem] = {}
        self._kind_colors = {"weight_ih": theme.norm_before, "weight_hh": theme.norm_after}
        red = pg.mkBrush(theme.nonfinite)
        self._brushes = {kind: (pg.mkBrush(color), red) for kind, color in self._kind_colors.items()}
        self._ranges: dict[str, tuple[float, float]] = {}
        for kind in KINDS:
            for plot, bars in ((self.gradient_plot, self.gradient_bars), (self.ratio_plot, self.ratio_bars)):
                item = Bars(x=[], y0=[], y1=[], width=_BAR_WIDTH,
                            brush=self._kind_colors[kind], pen=pg.mkPen(None))  # fmt: skip
                plot.addItem(item)
                bars[kind] = item
        # The bar colours' key as the x label of the two log charts (a legend would hide bars).
        key = "&nbsp; ".join(
            f"<span style='color:{self._kind_colors[kind]}'>■ {_KIND_LABELS[kind]}</span>" for kind in KINDS
        )
        # On two lines, "layer" over the key: as one line (161 px at the default size) it needed
        # charts of 240 px, or was cut at the panel's edge.
        for plot in (self.gradient_plot, self.ratio_plot):
            axis = plot.getAxis("bottom")
            axis.setLabel(f"<div align='center'>layer<br>{key}</div>", color=theme.foreground,
                          **{"font-size": f"{theme.tick_pt}pt"})  # fmt: skip
            axis.label.setTextWidth(axis.label.document().idealWidth())  # centres "layer" over the key
        self.reference_line = pg.InfiniteLine(
            pos=math.log10(REFERENCE_RATIO), angle=0, movable=False,
            pen=theme.pen(theme.reference, 1.5, dashed=True),
            label="1e-3", labelOpts={"position": 0.98, "color": theme.reference, "anchors": [(1, 0), (1, 0)]},
        )  # fmt: skip
        self.ratio_plot.addItem(self.reference_line, ignoreBounds=True)
        self.message = OverlayText(self.ratio_plot, theme, "top-left", theme.nonfinite)
        self.values: dict[str, np.ndarray] = {}
        # The numbers each set of bars was last drawn from (see _changed).
        self._drawn: dict[str, tuple[bytes, ...]] = {}
        self._num_layers = 0
        self._clear()

    def _plots(self) -> tuple[pg.PlotItem, pg.PlotItem, pg.PlotItem]:
        return self.saturation_plot, self.gradient_plot, self.ratio_plot

    # -- layout -----------------------------------------------------------------------------
    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        # Judged in pixels. (Presentation mode draws the charts larger; judging its room in the
        # plots' own units would show one chart at a time in the exports of a presentation, whose
        # frames then need not differ: not done.)
        self.arrange(choose_arrangement(self.width(), self.height(), self.min_chart_width()))

    def min_chart_width(self) -> float:
        """The narrowest chart (pixels) whose bottom label, ``layer`` over the bars' colour key,
        fits under its axis: a wider label would be cut at the panel's edge."""
        label = self.gradient_plot.getAxis("bottom").label.boundingRect().width()
        return max(MIN_CHART_WIDTH, LEFT_AXIS_WIDTH + label + CHART_MARGIN)

    def arrange(self, arrangement: str) -> None:
        """Lay the charts out: ``"row"``, ``"column"``, ``"grid"`` (2 + 1 wide) or ``"single"``.

        ``"single"`` shows one chart at a time, picked with :attr:`chart_selector`.
        """
        if arrangement == self.arrangement:
            return
        layout = self.graphics.ci
        for plot in self._plots():
            if plot in layout.items:
                layout.removeItem(plot)
        plots = self._plots()
        if arrangement == "single":
            chosen = plots[self.chart_selector.currentIndex()]
            for plot in plots:
                plot.setVisible(plot is chosen)
            # Shown before it joins the layout: a chart that was hidden would otherwise keep the
            # size it had in the last arrangement (a third of the panel) until the next resize.
            layout.addItem(chosen, row=0, col=0)
        else:
            cells = {
                "row": ((0, 0, 1), (0, 1, 1), (0, 2, 1)),
                "column": ((0, 0, 1), (1, 0, 1), (2, 0, 1)),
                "grid": ((0, 0, 1), (0, 1, 1), (1, 0, 2)),
            }[arrangement]
            for plot, (row, col, span) in zip(plots, cells, strict=True):
                layout.addItem(plot, row=row, col=col, colspan=span)
                plot.setVisible(True)
        self.selector_row.setVisible(arrangement == "single")
        self.arrangement = arrangement

    def _on_chart_chosen(self, index: int) -> None:
        if self.arrangement == "single":
            self.arrangement = ""
            self.arrange("single")

    # -- drawing ----------------------------------------------------------------------------
    def _set_layers(self, count: int) -> None:
        if count == self._num_layers:
            return
        self._num_layers = count
        ticks = [[(k + 1, str(k + 1)) for k in range(count)]]
        for plot in self._plots():
            plot.getAxis("bottom").setTicks(ticks)
            plot.setXRange(0.4, count + 0.6, padding=0.0)
        brushes = [pg.mkBrush(self.theme.layer_color(k)) for k in range(count)]
        self.saturation_bars.setOpts(brushes=brushes)

    def _draw(self, history: RunHistory, config: SimConfig) -> None:
        record = history.latest
        if record is None:
            self._clear()
            return
        count = record.saturation.shape[0]
        self._set_layers(count)
        layers = np.arange(1, count + 1, dtype=np.float64)
        saturation = np.nan_to_num(record.saturation, nan=0.0)
        nonfinite = np.nan_to_num(np.asarray(record.nonfinite_fraction, dtype=np.float64), nan=0.0)
        if nonfinite.shape != saturation.shape:
            nonfinite = np.zeros_like(saturation)
        self.values["saturation"] = record.saturation.copy()
        self.values["nonfinite"] = nonfinite.copy()
        # Bars whose numbers did not change (a healthy run's saturation stays 0) keep their picture.
        if self._changed("saturation", layers, saturation):
            self.saturation_bars.setOpts(x=layers, height=saturation, width=0.6)
        # No non-finite unit: the red bars have no height wherever they stand, so a saturation
        # that moves (every frame of a tanh run) does not set them again.
        base = saturation if np.any(nonfinite) else np.zeros(0)
        if self._changed("nonfinite", layers, base, nonfinite):
            self.nonfinite_bars.setOpts(x=layers, y0=saturation, y1=saturation + nonfinite, height=None,
                                        width=0.6)  # fmt: skip
        problems: list[str] = []
        if np.any(nonfinite > 0):
            listed = ", ".join(f"{k + 1}: {100 * v:.0f}%" for k, v in enumerate(nonfinite) if v > 0)
            problems.append(f"red: non-finite units, not saturated (layer {listed})")
        gradients = {kind: _per_layer(record.param_grad_norms, kind, count) for kind in KINDS}
        self._draw_log_bars(self.gradient_plot, self.gradient_bars, gradients, layers, "gradient", problems)
        if record.update_ratios:
            ratios = {kind: _per_layer(record.update_ratios, kind, count) for kind in KINDS}
        else:
            # No update was applied (the step went non-finite): nothing to draw, not an inf.
            ratios = {kind: np.full(count, -np.inf) for kind in KINDS}
            problems.append("no update this iteration (run halted)")
        self._draw_log_bars(self.ratio_plot, self.ratio_bars, ratios, layers, "ratio", problems,
                            include=math.log10(REFERENCE_RATIO))  # fmt: skip
        self.message.show_text("\n".join(problems))

    def _draw_log_bars(
        self,
        plot: pg.PlotItem,
        bars: dict[str, pg.BarGraphItem],
        values: dict[str, np.ndarray],
        layers: np.ndarray,
        name: str,
        problems: list[str],
        include: float | None = None,
    ) -> None:
        """Bars from a shared baseline up to ``log10(value)``; red full bars for inf/NaN."""
        logs = {}
        with np.errstate(divide="ignore", invalid="ignore"):
            for kind, v in values.items():
                logs[kind] = np.log10(np.maximum(v, 0.0))
        finite = np.concatenate([x[np.isfinite(x)] for x in logs.values()])
        if include is not None:
            finite = np.append(finite, include)
        if finite.size:
            low, high = math.floor(float(finite.min())) - 0.5, math.ceil(float(finite.max())) + 0.5
        else:
            low, high = -1.0, 1.0
        # The last range, widened to hold these decades, while that is at most two decades wider
        # than they need: values that hover about a decade boundary do not move the axis (laid
        # out again, and the view painted twice) on every frame. Keeping the last range only
        # when it held the new decades, the ratio plot's range flipped between -5.5..-2.5 and
        # -4.5..-1.5 at every other frame (37 layouts of the left axes in 200 frames).
        current = self._ranges.get(name)
        if current is not None:
            joined = (min(current[0], low), max(current[1], high))
            if joined[1] - joined[0] <= high - low + 2.0:
                low, high = joined
        if (low, high) != current:
            plot.setYRange(low, high, padding=0.0)
            self._ranges[name] = (low, high)
        bad_layers: set[int] = set()
        for offset, kind in zip((-_BAR_WIDTH / 2, _BAR_WIDTH / 2), KINDS, strict=True):
            raw = values[kind]
            self.values[f"{name}/{kind}"] = raw.copy()
            top = logs[kind].copy()
            nonfinite = np.isnan(raw) | np.isposinf(raw)
            top[nonfinite] = high
            top[np.isneginf(top)] = low  # an exactly zero value: no bar above the baseline
            if self._changed(f"{name}/{kind}", layers, np.array([low]), top, nonfinite):
                # Only what changed: the bars keep the other options (pyqtgraph makes every
                # brush again when given brushes, at every frame of a run before this).
                opts: dict[str, object] = {"y0": np.full(len(layers), low), "y1": top}
                if self._changed(f"{name}/{kind}/x", layers):
                    opts.update(x=layers + offset, height=None, width=_BAR_WIDTH)
                if self._changed(f"{name}/{kind}/brushes", nonfinite):
                    normal, red = self._brushes[kind]
                    opts["brushes"] = [red if bad else normal for bad in nonfinite]
                bars[kind].setOpts(**opts)
            bad_layers.update(int(k) + 1 for k in np.flatnonzero(nonfinite))
        if bad_layers:
            listed = ", ".join(str(k) for k in sorted(bad_layers))
            problems.append(f"red: non-finite {name} (layer {listed})")

    def _changed(self, name: str, *arrays: np.ndarray) -> bool:
        """Whether the numbers that draw the bars ``name`` differ from the last ones drawn (and
        note them): an equal set leaves the bars as they are."""
        # Their bytes: cheaper than comparing the small arrays as numbers (a NaN of another bit
        # pattern, or -0.0 for 0.0, only draws the same bars again).
        key = tuple(np.ascontiguousarray(a, dtype=np.float64).tobytes() for a in arrays)
        if self._drawn.get(name) == key:
            return False
        self._drawn[name] = key
        return True

    def _clear(self) -> None:
        self.values = {}
        self._drawn = {}
        self.saturation_bars.setOpts(x=[], height=[])
        self.nonfinite_bars.setOpts(x=[], y0=[], y1=[], height=None)
        for bars in (self.gradient_bars, self.ratio_bars):
            for item in bars.values():
                item.setOpts(x=[], y0=[], y1=[], height=None, brushes=None)
        self.message.show_text("")


def choose_arrangement(width: float, height: float, min_width: float = MIN_CHART_WIDTH) -> str:
    """The arrangement whose smallest chart is largest, or ``"single"`` if none is legible
    (a chart narrower than ``min_width`` or lower than :data:`MIN_CHART_HEIGHT`)."""
    best, best_score = "single", 0.0
    for name, (cols, rows) in (("row", (3, 1)), ("column", (1, 3)), ("grid", (2, 2))):
        cell_width, cell_height = width / cols, height / rows
        if cell_width < min_width or cell_height < MIN_CHART_HEIGHT:
            continue
        score = min(cell_width / min_width, cell_height / MIN_CHART_HEIGHT)
        if score > best_score:
            best, best_score = name, score
    return best


def _per_layer(named: dict[str, float], kind: str, count: int) -> np.ndarray:
    """``(count,)`` values of ``{kind}_l{k}`` for ``k = 0..count-1`` (NaN where absent)."""
    return np.array([named.get(f"{kind}_l{k}", np.nan) for k in range(count)], dtype=np.float64)
