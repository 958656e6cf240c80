"""The gates of an LSTM or GRU under the activation plot: each gate's mean and saturated share.

A gated cell's record keeps, per layer, time step and sigmoid gate, the gate's mean over batch
and units (``gate_means`` ``(L, T, K)``) and the fraction of its values below 0.05 or above 0.95
(``gate_saturation``, closed or open), gates in :data:`gradsim.engine.gates.GATE_NAMES`' order
(LSTM input, forget, output; GRU reset, update; PyTorch's names). The record holds no gate
histograms, so this draws what it holds: per gate two horizontal bars, the mean over the time
steps (and over the layers, or of the layer chosen) and the saturated share, each with its
number beside it. The tanh candidate (LSTM ``g``, GRU ``n``) is the activation plot above.
"""

from __future__ import annotations

import html

import numpy as np

# isort: split
import pyqtgraph as pg

from gradsim.engine.formatting import format_number, format_percent
from gradsim.engine.gates import BLOCK_LETTERS, GATE_HIGH, GATE_LOW, GATE_NAMES
from gradsim.engine.records import StepRecord
from gradsim.ui.common.theme import Theme, style_plot
from gradsim.ui.training.plots.base import install_title, set_title

BAR_HEIGHT = 0.36
# The x range before the numbers' width is known (bars are 0..1, the numbers right of them).
X_LIMIT = 1.45
# The plot's height: per gate row (two bars and their numbers in the tick font), and its title.
ROW_PIXELS = 26
TITLE_PIXELS = 30


def gate_summary(record: StepRecord, layer: int | None) -> tuple[np.ndarray, np.ndarray]:
    """``(means, saturated)`` ``(K,)`` of each gate: the record's per-step values averaged over
    the time steps and over the layers (``layer`` None) or of 0-based ``layer``.

    Every (layer, step) entry is a mean over the same B x H values, so these are the gate's
    mean and saturated fraction over all of them.
    """
    assert record.gate_means is not None and record.gate_saturation is not None
    chosen = slice(None) if layer is None else slice(layer, layer + 1)
    means = record.gate_means[chosen].mean(axis=(0, 1))
    saturated = record.gate_saturation[chosen].mean(axis=(0, 1))
    return means, saturated


class GateBars:
    """Horizontal bars of each sigmoid gate's mean and saturated share (a plot of its own).

    Attributes
    ----------
    plot : the PlotItem (not in a layout until its owner adds it); y: one row per gate, top
        first; x: value (mean) or fraction (saturated), 0..1
    mean_bars, saturated_bars : pg.BarGraphItem whose ``opts["width"]`` are the numbers drawn
    labels : per gate, the TextItem right of its bars: its mean and its saturated share
    means, saturated : ``(K,)`` float64 last drawn (empty when nothing is)
    names : the gates' names in the rows, top first
    """

    def __init__(self, theme: Theme) -> None:
        self.theme = theme
        self.plot = pg.PlotItem()
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setMouseEnabled(False, False)
        install_title(self.plot)
        style_plot(self.plot, theme)
        self.plot.setXRange(0.0, X_LIMIT, padding=0.0)
        self.plot.getViewBox().sigResized.connect(self._fit_x)
        # No x axis: every bar has its number, and the dashed line marks 1 (a gate fully open).
        self.plot.hideAxis("bottom")
        mean_color, saturated_color = theme.function, theme.derivative
        self.mean_bars = pg.BarGraphItem(x0=[], y=[], width=[], height=BAR_HEIGHT, brush=mean_color, pen=None)
        self.saturated_bars = pg.BarGraphItem(
            x0=[], y=[], width=[], height=BAR_HEIGHT, brush=pg.mkBrush(saturated_color), pen=None
        )
        self.plot.addItem(self.mean_bars)
        self.plot.addItem(self.saturated_bars)
        edge = pg.InfiniteLine(pos=1.0, angle=90, movable=False, pen=theme.pen(theme.note, 1.0, dashed=True))
        self.plot.addItem(edge)
        self.labels: list[pg.TextItem] = []
        self.means = np.zeros(0)
        self.saturated = np.zeros(0)
        self.names: tuple[str, ...] = ()
        self._count = 0  # labels in use
        self._cleared = False  # whether clear() emptied the bars since the last draw()
        self.plot.setToolTip(
            f"Per sigmoid gate: its mean (over batch, units and time steps) and the share of its values "
            f"below {GATE_LOW:g} or above {GATE_HIGH:g} (a closed or open gate passes a fixed share)"
        )
        self._set_title("")

    def _set_title(self, cell: str) -> None:
        theme = self.theme
        key = (
            f"<span style='color:{theme.function}'>■ mean</span> "
            f"<span style='color:{theme.derivative}'>■ saturated</span>"
        )
        name = {"lstm": "LSTM gates", "gru": "GRU gates"}.get(cell, "Gates")
        style = {"color": theme.foreground, "size": f"{theme.title_pt}pt"}
        set_title(self.plot, f"{name}: {key}", f"gates: {key}", key, **style)

    def draw(self, record: StepRecord, cell: str, layer: int | None) -> None:
        """Show ``record``'s gates (``cell`` "lstm" or "gru") of ``layer`` (None: all layers)."""
        self._cleared = False
        names = GATE_NAMES[cell]
        means, saturated = gate_summary(record, layer)
        count = len(names)
        if names != self.names:
            self.names = names
            axis = self.plot.getAxis("left")
            axis.setTicks(
                [[(count - 1 - k, f"{name} {BLOCK_LETTERS[name]}") for k, name in enumerate(names)]]
            )
            self.plot.setYRange(-0.6, count - 0.4, padding=0.0)
            # At most as tall as its rows need; in a short panel it gives way with the plot above.
            self.plot.setMaximumHeight(ROW_PIXELS * count + TITLE_PIXELS)
            self._set_title(cell)
        rows = count - 1 - np.arange(count, dtype=np.float64)  # the first gate on top
        finite_means = np.where(np.isfinite(means), means, 0.0)
        finite_saturated = np.where(np.isfinite(saturated), saturated, 0.0)
        self.mean_bars.setOpts(x0=np.zeros(count), y=rows + BAR_HEIGHT / 2, width=finite_means)
        self.saturated_bars.setOpts(x0=np.zeros(count), y=rows - BAR_HEIGHT / 2, width=finite_saturated)
        self._ensure_labels(count)
        theme = self.theme
        for k, label in enumerate(self.labels):
            label.setVisible(k < count)
            if k >= count:
                continue
            # One line per gate, right of its longer bar: mean and saturated share in their colours.
            # Escaped: a share under 1% reads "<1%".
            mean_text = html.escape(format_number(float(means[k])))
            saturated_text = html.escape(format_percent(float(saturated[k])))
            label.setHtml(
                f"<span style='color:{theme.function}'>{mean_text}</span> "
                f"<span style='color:{theme.derivative}'>{saturated_text}</span>"
            )
            label.setPos(float(max(finite_means[k], finite_saturated[k])), rows[k])
        self.means, self.saturated = means, saturated
        self._count = count
        self._fit_x()

    def _fit_x(self, *_: object) -> None:
        """The x range: 0 to 1 (a gate fully open), and right of it room for the widest number."""
        width = self.plot.getViewBox().width()
        text = max(
            (label.textItem.boundingRect().width() for label in self.labels[: self._count]), default=0.0
        )
        room = width - text - 6
        high = X_LIMIT if width <= 0 or text == 0 else max(1.08, width / room if room > width / 4 else 4.0)
        self.plot.setXRange(0.0, high, padding=0.0)

    def _ensure_labels(self, count: int) -> None:
        font = self.theme.font(self.theme.tick_pt)
        while len(self.labels) < count:
            label = pg.TextItem("", anchor=(0.0, 0.5))
            label.setFont(font)
            self.plot.addItem(label, ignoreBounds=True)
            self.labels.append(label)

    def clear(self) -> None:
        """No bars and no numbers (nothing to do when already so: an RNN's every frame)."""
        if self._cleared:
            return
        self._cleared = True
        self.mean_bars.setOpts(x0=[], y=[], width=[])
        self.saturated_bars.setOpts(x0=[], y=[], width=[])
        for label in self.labels:
            label.setVisible(False)
        self._count = 0
        self.means, self.saturated = np.zeros(0), np.zeros(0)
