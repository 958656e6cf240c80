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
        of the loss gradient with respect to the hidden state, computed without underflow.
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
    extra : dict[str, float]
        Further named numbers (free for callers).
    nonfinite_fraction : (L,) float64
        Fraction of units per layer (over batch, time and units) whose pre-activation or
        activation derivative is inf or NaN. Zeros when not given (records built by older code
        or read from files written before this field existed).
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
    nonfinite_fraction: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        # One entry per layer, like saturation, whoever built the record.
        if np.size(self.nonfinite_fraction) == 0 and np.size(self.saturation):
            self.nonfinite_fraction = np.zeros(np.shape(self.saturation), dtype=np.float64)

    @property
    def gradient_ratio(self) -> float:
        """``||dL/dh_1|| / ||dL/dh_T||`` at the first layer: < 1 vanishing, > 1 exploding."""
        first, last = self.grad_norms[0, 0], self.grad_norms[0, -1]
        with np.errstate(all="ignore"):
            return float(first / last) if last != 0 else float("nan")
