"""Plain-data records the engine hands to everything downstream (CLI, files, window)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class NonFiniteEvent:
    """Where the first non-finite value (inf or NaN) of a run appeared.

    ``quantity`` is one of ``"hidden state"``, ``"loss"``, ``"gradient dL/dh"``,
    ``"parameter gradient"``, ``"parameters"``; ``layer`` and ``time_step`` are 0-based and
    ``None`` where they do not apply (the loss, a parameter). ``parameter`` names the array for
    the last two quantities.
    """

    iteration: int
    quantity: str
    layer: int | None = None
    time_step: int | None = None
    parameter: str | None = None

    def describe(self) -> str:
        """One line for a status bar: 'exploded at iteration 12, layer 3, time step 40 (...)'."""
        where = [f"iteration {self.iteration}"]
        if self.layer is not None:
            where.append(f"layer {self.layer + 1}")
        if self.time_step is not None:
            where.append(f"time step {self.time_step + 1}")
        what = self.quantity if self.parameter is None else f"{self.quantity} {self.parameter}"
        return f"exploded at {', '.join(where)} (first non-finite value in the {what})"


@dataclass
class StepRecord:
    """What one training iteration produced. Arrays are copies owned by the record.

    Attributes
    ----------
    iteration : int
        1-based count of training steps taken so far (this one included).
    loss : float
        Loss of the batch before the update (may be inf/NaN in an exploding run).
    grad_norms : (L, T) float64
        ``||dL/dh||`` at layer l and time step t: the Frobenius norm over batch and hidden units
        of the loss gradient with respect to the hidden state, rounded to a float64. Kept for
        compatibility: a true value below about 5e-324 is 0 here, and values below 2.2e-308
        are subnormal with fewer digits. Whatever measures or plots the gradient reads
        ``log10_grad_norms``.
    param_grad_norms : dict[str, float]
        Norm of each parameter's gradient, before clipping.
    global_norm_before, global_norm_after : float
        Global norm over all parameter gradients before and after clipping.
    clipped : bool
        Whether clipping changed the gradient.
    update_ratios : dict[str, float]
        ``||delta W|| / ||W||`` for each weight matrix (biases and gains excluded).
    saturation : (L,) float64
        Fraction of units per layer whose activation derivative is below 5% of its maximum
        (ReLU: exactly zero), over batch, time and units; units that are not finite are not
        counted here (see ``nonfinite_fraction``). Both are fractions of all units, so
        ``saturation + nonfinite_fraction <= 1`` and the rest are healthy units.
    mean_derivative : (L, T) float64
        Mean activation derivative over batch and units at each layer and time step.
    preactivation_samples : (L, S) float64
        A fixed-stride sample of the pre-activations (the activation's input) of each layer.
    spectral_norms : (L,) float64
        Largest singular value of each recurrent matrix ``weight_hh_l{k}`` (before the update).
    nonfinite : NonFiniteEvent or None
        Where this iteration first produced inf/NaN; the simulation halts after such a step.
    log10_grad_norms : (L, T) float64
        ``log10 ||dL/dh||``, exact at any magnitude (1e-607 is -607, not 0): -inf only where
        the gradient is exactly 0 (e.g. every ReLU off), NaN or inf where it is not finite.
        Given None (a record built from plain norms, e.g. an older export), it is computed from
        ``grad_norms``, where an underflowed 0 then reads -inf.
    extra : dict[str, float]
        Further named numbers (free for callers).
    nonfinite_fraction : (L,) float64
        Fraction of units per layer (over batch, time and units) whose pre-activation or
        activation derivative is inf or NaN. Zeros when not given (records built by older code
        or read from files written before this field existed).

    Gated cells (``config.cell`` "lstm" or "gru"; None for the RNN and in older files). The
    activation statistics above describe the cell's tanh *candidate* (LSTM ``g``, GRU ``n``):
    ``saturation`` and ``mean_derivative`` are its tanh derivative ``1 - candidate^2``,
    ``preactivation_samples`` its pre-activation, ``nonfinite_fraction`` its non-finite units.
    ``spectral_norms`` are those of the stacked ``weight_hh_l{k}`` ``(G H, H)``.

    log10_cell_grad_norms : (L, T) float64 or None
        LSTM only: ``log10 ||dL/dc||`` of the cell state, exact at any magnitude like
        ``log10_grad_norms``.
    gate_means : (L, T, K) float64 or None
        Mean over batch and units of each sigmoid gate at each layer and time step, gates in
        the order of :data:`gradsim.engine.gates.GATE_NAMES` (LSTM: input, forget, output, K = 3;
        GRU: reset, update, K = 2).
    gate_saturation : (L, T, K) float64 or None
        Fraction of each gate's values below 0.05 or above 0.95 (closed or open), same layout.
    """

    iteration: int
    loss: float
    grad_norms: np.ndarray
    param_grad_norms: dict[str, float]
    global_norm_before: float
    global_norm_after: float
    clipped: bool
    update_ratios: dict[str, float]
    saturation: np.ndarray
    mean_derivative: np.ndarray
    preactivation_samples: np.ndarray
    spectral_norms: np.ndarray
    nonfinite: NonFiniteEvent | None = None
    extra: dict[str, float] = field(default_factory=dict)
    log10_grad_norms: np.ndarray = None  # type: ignore[assignment]  # filled in __post_init__
    nonfinite_fraction: np.ndarray = field(default_factory=lambda: np.zeros(0))
    log10_cell_grad_norms: np.ndarray | None = None
    gate_means: np.ndarray | None = None
    gate_saturation: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.log10_grad_norms is None:
            self.log10_grad_norms = log10_norms(self.grad_norms)
        # One entry per layer, like saturation, whoever built the record.
        if np.size(self.nonfinite_fraction) == 0 and np.size(self.saturation):
            self.nonfinite_fraction = np.zeros(np.shape(self.saturation), dtype=np.float64)

    @property
    def gradient_ratio(self) -> float:
        """``||dL/dh_1|| / ||dL/dh_T||`` at the first layer: < 1 vanishing, > 1 exploding.

        Computed from the log10 norms, so it underflows to 0 (or overflows to inf) only where
        the ratio itself is beyond float64. 0 where the first step's gradient is exactly 0;
        NaN where the last step's is 0 or either end is not finite.
        """
        with np.errstate(all="ignore"):
            return float(np.power(10.0, self.log10_gradient_ratio))

    @property
    def log10_gradient_ratio(self) -> float:
        """``log10`` of :attr:`gradient_ratio`, finite wherever both ends are finite and non-zero
        (a ratio of 1e-607 is -606.x here and 0 there); -inf where the first step's gradient is
        exactly 0, NaN where the last step's is 0 or either end is not finite."""
        first, last = float(self.log10_grad_norms[0, 0]), float(self.log10_grad_norms[0, -1])
        if not np.isfinite(last) or np.isnan(first) or first == np.inf:
            return float("nan")
        return first - last


def nonfinite_norms(log10_norms: np.ndarray) -> np.ndarray:
    """Where a table of ``log10`` norms holds an inf/NaN norm (NaN or +inf), as a bool mask.

    ``-inf`` is an exact zero, a finite norm: it is not marked.
    """
    logs = np.asarray(log10_norms, dtype=np.float64)
    return np.isnan(logs) | (logs == np.inf)


def log10_norms(norms: np.ndarray) -> np.ndarray:
    """``log10`` of plain (non-negative) norms as a float64 array: 0 gives -inf, no warning."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(np.asarray(norms, dtype=np.float64))
