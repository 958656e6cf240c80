"""The LSTM's cell state in the gradient plot: ``||dL/dc_t||`` dashed beside ``||dL/dh_t||``.

An LSTM hands the gradient back along two paths: the hidden state ``h`` (through ``W_hh`` and
the gates) and the cell state ``c``, whose per-step factor is the forget gate (the "constant
error carousel"). The records keep both tables, ``log10_grad_norms`` and, for an LSTM,
``log10_cell_grad_norms`` ``(L, T)``; this draws the second as a dashed curve per layer in the
layer's colour, on the same :class:`~.base.DecadeAxis`, with a check box above the plot to hide
it (shown only when the newest record has the table: an LSTM run).
"""

from __future__ import annotations

import numpy as np
from PySide6 import QtWidgets

# isort: split
import pyqtgraph as pg

from gradsim.engine.records import StepRecord
from gradsim.ui.common.theme import Theme
from gradsim.ui.training.plots.base import RowLegend, drawable

# The legend entry of the dashed curves (one entry for every layer: the colour is the layer's).
CELL_KEY = "cell c: ||dL/dc_t||"


class CellCurves:
    """Dashed ``||dL/dc_t||`` curves of the newest LSTM record, one per layer, and their toggle.

    Parameters
    ----------
    plot : the gradient plot's PlotItem (log10 data on a DecadeAxis)
    legend : the gradient plot's key, which gets one :data:`CELL_KEY` entry while shown
    theme : colours and fonts

    Attributes
    ----------
    toggle : QCheckBox "Cell state ||dL/dc_t||", checked by default; put it above the plot
        (``toggle_row``), which is visible only for a record with ``log10_cell_grad_norms``
    toggle_row : the QWidget holding the check box
    curves : ``curves[k]`` shows ``record.log10_cell_grad_norms[k]`` against ``t = 1..T``
        (non-finite entries as NaN gaps), dashed, in layer ``k``'s colour
    """

    def __init__(self, plot: pg.PlotItem, legend: RowLegend, theme: Theme) -> None:
        self.plot, self.legend, self.theme = plot, legend, theme
        self.toggle_row = QtWidgets.QWidget()
        row = QtWidgets.QHBoxLayout(self.toggle_row)
        row.setContentsMargins(6, 2, 6, 0)
        self.toggle = QtWidgets.QCheckBox("Cell state ||dL/dc_t|| (dashed)")
        self.toggle.setFont(theme.font(theme.tick_pt))
        self.toggle.setChecked(True)
        self.toggle.setToolTip(
            "Draw the LSTM's cell-state gradient ||dL/dc_t|| dashed beside ||dL/dh_t||: the cell path, "
            "whose factor per step is the forget gate, carries the gradient back along the sequence"
        )
        row.addWidget(self.toggle)
        row.addStretch(1)
        self.toggle_row.hide()
        # The key's sample: a dashed line in the text colour (each curve has its layer's colour).
        self._sample = pg.PlotDataItem(pen=theme.pen(theme.foreground, 2.0, dashed=True))
        self.curves: list[pg.PlotDataItem] = []
        self._keyed = False

    @property
    def shown(self) -> bool:
        """The dashed curves are drawn (an LSTM record and the check box ticked)."""
        return self.toggle_row.isVisible() and self.toggle.isChecked() and bool(self.curves)

    def available(self, record: StepRecord | None, cell: str) -> bool:
        """Whether there is a cell-state table to draw: the record's, or for no record the config's
        cell (so the check box is there before an LSTM's first step)."""
        if record is None:
            return cell == "lstm"
        return record.log10_cell_grad_norms is not None

    def draw(self, record: StepRecord | None, cell: str, steps: np.ndarray) -> np.ndarray:
        """Show ``record``'s ``log10_cell_grad_norms`` (or hide the curves); returns what is drawn,
        ``(L, T)`` drawable log10 values (``(0, T)`` when nothing is), for the y range."""
        self.toggle_row.setVisible(self.available(record, cell))
        table = None if record is None else record.log10_cell_grad_norms
        if table is None or not self.toggle.isChecked():
            self.clear()
            return np.zeros((0, len(steps)))
        drawn = drawable(table)
        self._ensure(len(drawn))
        for k, curve in enumerate(self.curves):
            if k < len(drawn):
                curve.setData(steps, drawn[k], skipFiniteCheck=bool(np.isfinite(drawn[k]).all()))
                curve.setVisible(True)
            else:
                curve.setData([], [])
                curve.setVisible(False)
        if not self._keyed:
            self.legend.addItem(self._sample, CELL_KEY)
            self._keyed = True
        return drawn

    def clear(self) -> None:
        """No dashed curves and no key entry."""
        for curve in self.curves:
            curve.setData([], [])
            curve.setVisible(False)
        if self._keyed:
            self.legend.removeItem(self._sample)
            self._keyed = False

    def rekey(self) -> None:
        """Put the key entry back after the legend was cleared (the layer entries were rebuilt)."""
        if self._keyed:
            self.legend.addItem(self._sample, CELL_KEY)

    def _ensure(self, count: int) -> None:
        while len(self.curves) < count:
            k = len(self.curves)
            curve = pg.PlotDataItem(pen=self.theme.pen(self.theme.layer_color(k), 2.0, dashed=True),
                                    connect="finite")  # fmt: skip
            self.plot.addItem(curve, ignoreBounds=True)
            self.curves.append(curve)
