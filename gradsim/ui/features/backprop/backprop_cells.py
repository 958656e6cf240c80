"""The cells of one backward pass computed so far, as the Backprop tab draws them (no Qt).

:class:`ComputedCells` keeps every :class:`~gradsim.engine.simulation.BackpropStep` in the order
BPTT computes them (the top layer from the last time step back, then the layer below) with the
log10 of its norm, local factor and "parts" (mean f′ × σmax(W_hh)); from those it fills the
grid (one log10 value and one kind per layer and time step) for the cells shown, and the curve of
one layer with the running products from its entry. Logarithms throughout: a norm of 1e-607 or a
product of 500 factors of 0.1 is kept as itself, not as an underflowed 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gradsim.engine.simulation import BackpropStep

# What each grid cell holds (the values of :attr:`ComputedCells.cell_kinds`).
NOT_REACHED = 0
FINITE = 1
ZERO = 2
NONFINITE = 3


def decade_levels(low: float, high: float) -> tuple[float, float]:
    """Whole decades spanning ``[low, high]`` (log10 values); ``(-1, 0)`` when there are none."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return (-1.0, 0.0)
    bottom, top = float(math.floor(low)), float(math.ceil(high))
    if top <= bottom:
        top = bottom + 1.0
    return (bottom, top)


@dataclass
class LayerCurve:
    """One layer's ``||dL/dh_t||`` so far, in time order, as log10 values (NaN: not reached).

    Attributes
    ----------
    norms : (T,) float64, ``log10 ||dL/dh_t||``
    factor_product : (T,) float64, the entry value times the running product of the local factors
    parts_product : (T,) float64, the entry value times the running product of mean f′ × σmax(W_hh)
    reached : (T,) bool, the time steps computed
    """

    norms: np.ndarray
    factor_product: np.ndarray
    parts_product: np.ndarray
    reached: np.ndarray


class ComputedCells:
    """The computed cells of a ``num_layers`` x ``seq_len`` backward pass and the grid shown.

    Attributes
    ----------
    steps : every cell computed, in backward order (more than shown after an undo)
    log_norms, log_factors, log_parts : (L*T,) float64 in backward order, NaN where not computed
    cell_log : (L, T) float64, log10 ``||dL/dh||`` of the cells shown (NaN elsewhere)
    cell_kinds : (L, T) int8, :data:`NOT_REACHED`, :data:`FINITE`, :data:`ZERO` or :data:`NONFINITE`
    log_range : (lowest, highest) finite log10 norm computed; (inf, -inf) before any
    """

    def __init__(self, num_layers: int, seq_len: int) -> None:
        self.num_layers, self.seq_len = num_layers, seq_len
        total = num_layers * seq_len
        self.steps: list[BackpropStep] = []
        self.log_norms = np.full(total, np.nan)
        self.log_factors = np.full(total, np.nan)
        self.log_parts = np.full(total, np.nan)
        self.cell_log = np.full((num_layers, seq_len), np.nan)
        self.cell_kinds = np.zeros((num_layers, seq_len), dtype=np.int8)
        self.log_range = (math.inf, -math.inf)

    def append(self, steps: list[BackpropStep]) -> None:
        """Keep newly computed cells and their numbers in backward order."""
        low, high = self.log_range
        for step in steps:
            order = step.order
            self.steps.append(step)
            value = float(step.log10_grad_norm)  # type: ignore[arg-type]  # set in __post_init__
            self.log_norms[order] = value
            with np.errstate(divide="ignore", invalid="ignore"):
                self.log_factors[order] = np.log10(step.local_factor)
                self.log_parts[order] = np.log10(step.mean_derivative * step.spectral_norm)
            if math.isfinite(value):
                low, high = min(low, value), max(high, value)
        self.log_range = (low, high)

    def cells_of(self, orders: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(layers, time steps) of the cells at backward ``orders``."""
        seq_len = self.seq_len
        return self.num_layers - 1 - orders // seq_len, seq_len - 1 - orders % seq_len

    def show(self, old: int, position: int) -> None:
        """The grid went from the first ``old`` cells shown to the first ``position``."""
        low, high = min(old, position), max(old, position)
        if high <= low:
            return
        orders = np.arange(low, high)
        layers, times = self.cells_of(orders)
        if position > old:
            values = self.log_norms[orders]
            bad = np.isnan(values) | (values == np.inf)
            kinds = np.where(bad, NONFINITE, np.where(values == -np.inf, ZERO, FINITE))
            self.cell_log[layers, times] = values
            self.cell_kinds[layers, times] = kinds
        else:
            self.cell_kinds[layers, times] = NOT_REACHED
            self.cell_log[layers, times] = np.nan

    def levels(self) -> tuple[float, float]:
        """The grid's colour levels: whole decades spanning the norms computed."""
        return decade_levels(*self.log_range)

    def curve(self, layer: int, position: int) -> LayerCurve:
        """``layer``'s ``||dL/dh_t||`` with the first ``position`` cells shown, and the running
        products from its entry (the top layer's last time step, or the layer's own last step)."""
        seq_len = self.seq_len
        first = (self.num_layers - 1 - layer) * seq_len
        count = max(0, min(position - first, seq_len))
        norms = np.full(seq_len, np.nan)
        factor_product = np.full(seq_len, np.nan)
        parts_product = np.full(seq_len, np.nan)
        reached = np.zeros(seq_len, dtype=bool)
        if count:
            block = slice(first, first + count)
            # Order within a layer runs from the last time step back: reverse into time order.
            norms[seq_len - count :] = self.log_norms[block][::-1]
            reached[seq_len - count :] = True
            entry = norms[-1]
            # Products of factors as sums of their logs: no underflow however far they fall.
            with np.errstate(all="ignore"):
                factors = self.log_factors[first + 1 : first + count]  # time steps T-2 .. T-count
                parts = self.log_parts[first + 1 : first + count]
                factor_product[seq_len - count :] = entry + np.concatenate((np.cumsum(factors)[::-1], [0.0]))
                parts_product[seq_len - count :] = entry + np.concatenate((np.cumsum(parts)[::-1], [0.0]))
        return LayerCurve(norms, factor_product, parts_product, reached)
