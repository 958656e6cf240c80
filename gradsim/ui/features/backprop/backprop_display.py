"""What the Backprop tab shows of one position of the backward pass: it only displays.

:class:`CellDisplay` writes the cells computed so far into the plots (grid, curve, f′ heatmap),
the one-line reading and the side panel's chain-rule numbers and clipping outcome. It never
computes a gradient and never writes back: the view decides what to show, this draws it.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6 import QtCore, QtWidgets

from gradsim.engine.clipping import ClipResult
from gradsim.engine.config import SimConfig
from gradsim.engine.formatting import format_number, format_percent, format_ratio
from gradsim.engine.simulation import BackpropSession, BackpropStep
from gradsim.ui.common.theme import Theme
from gradsim.ui.features.backprop.backprop_cells import ComputedCells
from gradsim.ui.features.backprop.backprop_plots import BackpropGraphics
from gradsim.ui.features.backprop.backprop_side import SidePanel
from gradsim.ui.features.backprop.backprop_text import (
    describe_clipping,
    describe_gates,
    describe_paths,
    describe_step,
    nonfinite,
)

# The side panel's rows that name the current cell (the loss row belongs to the whole batch).
CELL_ROWS = ("cell", "order", "grad_norm", "local_factor", "mean_derivative", "saturation", "spectral_norm")


def reading_label(theme: Theme) -> QtWidgets.QLabel:
    """The label of the one-line reading (two lines high at least; it wraps)."""
    reading = QtWidgets.QLabel()
    reading.setFont(theme.font(theme.title_pt))
    reading.setWordWrap(True)
    reading.setMinimumHeight(2 * reading.fontMetrics().lineSpacing() + 8)
    reading.setAlignment(QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.AlignmentFlag.AlignVCenter)
    reading.setContentsMargins(8, 2, 8, 2)
    reading.setToolTip("What the current cell of the backward pass did, in plain words")
    return reading


class CellDisplay:
    """Draws a position of the backward pass into the view's plots, reading and side panel.

    Attributes
    ----------
    curve_values : the arrays last drawn in the curve plot, as log10 values (see
        :class:`~gradsim.ui.features.backprop.backprop_cells.LayerCurve`): ``"norms"``,
        ``"factor_product"``, ``"parts_product"``
    """

    def __init__(
        self, graphics: BackpropGraphics, side: SidePanel, reading: QtWidgets.QLabel, theme: Theme
    ) -> None:
        self.graphics, self.side, self.reading, self.theme = graphics, side, reading, theme
        self.curve_values: dict[str, np.ndarray] = {}
        self._derivative_layer = -1
        self._cell = ""

    def clear(self, text: str) -> None:
        """Nothing to show: ``text`` as the reading, no numbers, no clipping."""
        self.curve_values = {}
        self._derivative_layer = -1
        self.reading.setText(text)
        self.set_reading_color(None)
        for label in (*self.side.value_labels.values(), *self.side.path_labels.values()):
            label.setText("—")
        self.side.clip_box.hide()

    def show_failure(self, message: str) -> None:
        """A message in the warning colour in place of the reading."""
        self.reading.setText(message)
        self.set_reading_color(self.theme.nonfinite)

    def show(
        self,
        session: BackpropSession,
        config: SimConfig,
        cells: ComputedCells,
        position: int,
        derivative_maps: list[np.ndarray],
        clip: ClipResult | None,
        batch_shape: tuple[int, ...],
    ) -> None:
        """Show the first ``position`` cells of ``cells``.

        Parameters
        ----------
        session, config : the loaded network's backward pass and config
        cells : the cells computed (their grid already at ``position``)
        position : cells shown, 0 .. ``session.total_steps``
        derivative_maps : per layer, ``(H, T)`` float32 mean f′ over the batch
        clip : the clipping of the finished gradients (None: not computed yet or no clipping)
        batch_shape : ``x.shape`` of the frozen batch, ``(B, T, I)``
        """
        graphics = self.graphics
        graphics.show_cells(cells.cell_log, cells.cell_kinds, cells.levels())
        step = cells.steps[position - 1] if position > 0 else None
        layer = step.layer if step is not None else session.num_layers - 1
        if layer != self._derivative_layer:
            self._derivative_layer = layer
            graphics.show_derivative(derivative_maps[layer], layer)
        graphics.show_current(layer if step else None, step.time_step if step else None)
        self._show_curve(session, cells, position, layer, step, gated=config.cell != "rnn")
        self._show_numbers(session, config, cells, position, batch_shape)
        self._show_paths(config, cells, position, step)
        if config.clip_mode == "none":
            self.side.clip_box.hide()
        else:
            complete = position == session.total_steps
            self.side.clip_label.setText(describe_clipping(config, clip if complete else None))
            self.side.clip_box.show()

    def _show_curve(
        self,
        session: BackpropSession,
        cells: ComputedCells,
        position: int,
        layer: int,
        step: BackpropStep | None,
        gated: bool = False,
    ) -> None:
        """The current layer's ``||dL/dh_t||`` so far and the running products from its entry.

        ``gated``: no "mean f′ × σmax(W_hh)" product: a gated cell's step is not the activation's
        derivative times W_hh (its two paths are in the reading and the side panel)."""
        curve = cells.curve(layer, position)
        parts = np.full_like(curve.parts_product, np.nan) if gated else curve.parts_product
        self.curve_values = {
            "norms": curve.norms, "factor_product": curve.factor_product, "parts_product": parts
        }  # fmt: skip
        current = step.time_step if step is not None else None
        self.graphics.show_curve(
            np.arange(1, session.seq_len + 1), curve.norms, curve.reached, curve.factor_product, parts,
            current,
        )  # fmt: skip
        titles = self.graphics.curve_titles(layer, session.num_layers, estimate=not gated)
        self.graphics.set_curve_title(*titles)

    def _show_numbers(
        self,
        session: BackpropSession,
        config: SimConfig,
        cells: ComputedCells,
        position: int,
        batch_shape: tuple[int, ...],
    ) -> None:
        step = cells.steps[position - 1] if position > 0 else None
        labels = self.side.value_labels
        labels["loss"].setText(format_number(float(session.loss)))
        self.set_reading_color(None)
        if step is None:
            for key in CELL_ROWS:
                labels[key].setText("—")
            self.reading.setText(
                f"Forward pass done: loss {format_number(float(session.loss))} on {batch_shape[0]} sequences "
                f"of {batch_shape[1]} steps. Press ← (Step back) to compute the first cell: the top layer's "
                "last time step, where the loss sends its gradient in."
            )
            return
        labels["cell"].setText(f"layer {step.layer + 1}, time step {step.time_step + 1}")
        labels["order"].setText(f"{step.order + 1} of {session.total_steps}")
        labels["grad_norm"].setText(format_ratio(float(step.log10_grad_norm)))  # type: ignore[arg-type]
        # NaN: no step after this cell, so no factor (not a NaN gradient).
        factor = step.local_factor
        labels["local_factor"].setText("n/a" if math.isnan(factor) else format_number(factor))
        labels["mean_derivative"].setText(format_number(step.mean_derivative))
        labels["saturation"].setText(format_percent(step.saturation))
        labels["spectral_norm"].setText(format_number(step.spectral_norm))
        # A gated cell's candidate is tanh, whatever config.activation says.
        activation = config.activation if config.cell == "rnn" else "tanh"
        text = describe_step(step, session.num_layers, session.seq_len, activation, config.cell)
        paths = describe_paths(step, _previous(cells, position), config.cell)
        if paths:
            text += " " + paths
        if position == session.total_steps:
            text += " Backward pass complete."
        self.reading.setText(text)
        if nonfinite(float(step.log10_grad_norm)):  # type: ignore[arg-type]
            self.set_reading_color(self.theme.nonfinite)

    def _show_paths(
        self, config: SimConfig, cells: ComputedCells, position: int, step: BackpropStep | None
    ) -> None:
        """A gated cell's two paths in the side panel (the box is hidden for the RNN)."""
        if config.cell != self._cell:
            self._cell = config.cell
            self.side.set_cell(config.cell)
        if config.cell == "rnn":
            return
        labels = self.side.path_labels
        for label in labels.values():
            label.setText("—")
        if step is None:
            return
        if step.log10_cell_grad_norm is not None:
            labels["cell_grad_norm"].setText(format_ratio(float(step.log10_cell_grad_norm)))
        if not math.isnan(step.cell_path_factor):
            labels["cell_path"].setText(format_number(step.cell_path_factor))
            labels["hidden_path"].setText(format_number(step.hidden_path_factor))
            labels["path_gate"].setText(format_number(step.path_gate_mean))
        else:
            for key in ("cell_path", "hidden_path", "path_gate"):
                labels[key].setText("n/a")  # a layer's last step: nothing came from a step after it
        labels["gates"].setText(describe_gates(step))

    def name_axes(self, normal: bool) -> None:
        """Every plot names its axes and writes its numbers (``normal``), or, in presentation
        mode, the height goes to the data: the three plots share the time axis, so only the
        bottom one writes its numbers and "time step t"; the curve's axis and the colour bars
        leave their names to the titles (||dL/dh||, f'(z)), which say them."""
        graphics = self.graphics
        for plot in (graphics.grid_plot, graphics.curve_plot):
            axis = plot.getAxis("bottom")
            axis.showLabel(normal)
            axis.setStyle(showValues=normal)
        graphics.curve_plot.getAxis("left").showLabel(normal)
        graphics.grid_colorbar.axis.showLabel(normal)
        graphics.derivative_colorbar.axis.showLabel(normal)

    def set_reading_color(self, color: str | None) -> None:
        """Text colour of the reading: the palette's (None) or ``color`` for warnings.

        The plots follow the theme, the Qt widgets the application palette: normal text keeps
        the palette colour so it stays readable whichever theme the plots use.
        """
        self.reading.setStyleSheet("" if color is None else f"color: {color};")


def _previous(cells: ComputedCells, position: int) -> BackpropStep | None:
    """The cell computed just before the current one if it is the same layer's next time step
    (where the gradient came from); None at a layer's last step or the start."""
    if position < 2:
        return None
    step, before = cells.steps[position - 1], cells.steps[position - 2]
    if before.layer == step.layer and before.time_step == step.time_step + 1:
        return before
    return None
