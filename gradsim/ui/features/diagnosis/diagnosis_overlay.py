"""The theory lines on the gradient plot: one dashed line per layer, or why theory has none.

:class:`TheoryOverlay` draws, on the ``||dL/dh_t||`` plot (log axis), each layer's measured norm
at the last step carried back to step 1 with the per-step factor mean-field theory predicts for
it (:func:`gradsim.engine.theory.compare_layers`); where theory gives no number a short text on
the plot says why. Items are created once and updated with ``setData``.
"""

from __future__ import annotations

import math

# isort: split
import pyqtgraph as pg

from gradsim.engine import theory
from gradsim.engine.records import StepRecord
from gradsim.ui.common.theme import Theme
from gradsim.ui.features.diagnosis.diagnosis_text import format_factor, theory_line_values
from gradsim.ui.training.plots.base import OverlayText


class TheoryOverlay:
    """The dashed theory lines (one per layer, in the layer's colour) on the gradient plot.

    Attributes
    ----------
    plot : the gradient plot's PlotItem (log y)
    lines : one PlotDataItem per layer created so far; ``lines[k].getOriginalDataset()`` gives
        the raw ``(steps, norms)`` of layer k's line: its two ends, step 1 (or the first step
        whose value does not underflow) and step T
    label : the legend text while lines are shown (``"theory: ×0.959, ×0.856/step"``; from
        three layers on ``"theory, per layer"``), attached to the first line
    reason_text : the text shown on the plot in place of the lines when theory has no number
        (``"theory: not applicable: batch norm"``; empty otherwise; the whole reason is in the
        theory box)
    """

    def __init__(self, plot: pg.PlotItem, legend: pg.LegendItem | None, theme: Theme) -> None:
        self.plot = plot
        self.legend = legend
        self.theme = theme
        self.lines: list[pg.PlotDataItem] = []
        # Top right: the plot's own messages take the left corners, its legend the bottom right.
        self.reason = OverlayText(plot, theme, "top-right", theme.note)
        self.reason.setObjectName("theory_reason")
        self.label = ""
        self.reason_text = ""
        self.enabled = True

    def _line(self, layer: int) -> pg.PlotDataItem:
        while len(self.lines) <= layer:
            pen = self.theme.pen(self.theme.layer_color(len(self.lines)), 2.0, dashed=True)
            line = pg.PlotDataItem(pen=pen, connect="finite")
            line.setObjectName(f"theory_line_{len(self.lines)}")
            line.setZValue(5)
            # A line may run far outside the measured curves (theory wrong, or a different
            # regime): the y range keeps following the data.
            self.plot.addItem(line, ignoreBounds=True)
            self.lines.append(line)
        return self.lines[layer]

    @property
    def line(self) -> pg.PlotDataItem | None:
        """The top layer's line (None before one was drawn)."""
        shown = [line for line in self.lines if line.isVisible()]
        return shown[-1] if shown else None

    def _in_legend(self, item: pg.PlotDataItem) -> bool:
        return self.legend is not None and any(sample.item is item for sample, _ in self.legend.items)

    def update(
        self,
        record: StepRecord | None,
        prediction: theory.LayerPrediction | theory.NotApplicable | None,
    ) -> None:
        """Draw each layer's line for ``record`` with the predicted factors, or the reason why not.

        Parameters
        ----------
        record : the newest record (None: nothing to draw)
        prediction : :func:`theory.predict_layers` of the run's config (None: not computed yet)
        """
        if not self.enabled or record is None or prediction is None:
            self.clear()
            return
        comparison = theory.compare_layers(prediction, record.log10_grad_norms)
        if isinstance(comparison.predicted, theory.NotApplicable):
            self.clear()
            self.reason_text = f"theory: {comparison.predicted.label}"
            self.reason.show_text(self.reason_text)
            self.reason.setToolTip(str(comparison.predicted))
            return
        assert isinstance(prediction, theory.LayerPrediction)
        factors = prediction.step_factors
        log10_norms = record.log10_grad_norms
        layers, steps = log10_norms.shape
        for layer in range(layers):
            line = self._line(layer)
            anchor, factor = float(log10_norms[layer, -1]), float(factors[layer])
            if not (math.isfinite(anchor) and math.isfinite(factor) and factor > 0):
                # An exact 0 (log10 -inf) or a non-finite end has no line to anchor.
                line.setData([], [])
                line.setVisible(False)
                continue
            xs, ys = theory_line_values(anchor, factor, steps)
            # A straight line on the log axis: its two ends draw it (16 dashed lines of 2000
            # points each cost a frame its budget). In log10 values both ends always exist.
            line.setData(xs[[0, -1]], ys[[0, -1]])
            line.setVisible(True)
        for line in self.lines[layers:]:
            line.setData([], [])
            line.setVisible(False)
        self.reason_text = ""
        self.reason.show_text("")
        # Short: a legend wider than the plot is cut off at its left edge. The measured factors
        # stand next to the predicted ones in the diagnosis' theory box.
        if layers <= 2:
            label = f"theory: {', '.join(format_factor(float(f)) for f in factors)}/step"
        else:
            label = "theory, per layer"
        if self.legend is None:
            self.label = label
            return
        first = self.lines[0]
        # The gradient plot rebuilds its legend when the layer count changes: add back if gone.
        if label != self.label or not self._in_legend(first):
            self.legend.removeItem(first)
            self.legend.addItem(first, label)
        self.label = label

    def clear(self) -> None:
        """Hide the lines, their legend entry and the reason."""
        for line in self.lines:
            line.setData([], [])
            line.setVisible(False)
            if self.legend is not None and self._in_legend(line):
                self.legend.removeItem(line)
        self.reason.show_text("")
        self.reason_text = ""
        self.label = ""
