"""The backward pass of one batch: its result, and the step-through that computes it cell by cell.

:class:`BackwardResult` is what :meth:`Simulation.forward_backward
<gradsim.engine.simulation.Simulation.forward_backward>` returns; :class:`BackpropSession` runs the
same backward generator one (layer, time step) at a time for the Backprop tab, yielding a
:class:`BackpropStep` per cell. Split from ``simulation.py``, which re-exports the three names.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from . import cells, gates
from .bptt import LOG10_2
from .numerics import safe_norm
from .tasks import loss_and_gradient

if TYPE_CHECKING:
    from .simulation import Simulation


@dataclass
class BackwardResult:
    """What :meth:`Simulation.forward_backward` returns.

    Attributes
    ----------
    loss : float
    grads : dict, one gradient per parameter, keyed like ``Simulation.params``
    grad_norms : (L, T) float64, ``||dL/dh||`` per layer and time step, rounded to float64
        (0 where the true value is below about 5e-324)
    cache : the forward pass (pre-activations, derivatives, states; a gated cell's
        :class:`gradsim.engine.gates.GatedCache` also holds its gates)
    log10_grad_norms : (L, T) float64, ``log10 ||dL/dh||`` exact at any magnitude (-inf only
        where the gradient is exactly 0)
    log10_cell_grad_norms : (L, T) float64, ``log10 ||dL/dc||`` likewise (LSTM; None otherwise)
    log10_path_norms : (L, T, 2) float64, the hidden and the cell path into each cell (gated
        cells; None for the RNN), see :class:`gradsim.engine.gates.GatedBackwardState`
    """

    loss: float
    grads: dict[str, np.ndarray]
    grad_norms: np.ndarray
    cache: cells.Cache
    log10_grad_norms: np.ndarray
    log10_cell_grad_norms: np.ndarray | None = None
    log10_path_norms: np.ndarray | None = None

    @classmethod
    def of(cls, loss: float, state: cells.State, cache: cells.Cache) -> BackwardResult:
        """The result of a finished backward ``state`` of ``cache``."""
        if isinstance(state, gates.GatedBackwardState):
            return cls(
                loss, state.grads, state.grad_norms, cache, state.log10_grad_norms,
                state.log10_cell_grad_norms, state.log10_path_norms,
            )  # fmt: skip
        return cls(loss, state.grads, state.grad_norms, cache, state.log10_grad_norms)


@dataclass(frozen=True)
class BackpropStep:
    """One cell of the backward pass, as the step-through view shows it.

    Attributes
    ----------
    order : 0-based position in the backward order (0 .. L*T - 1)
    layer, time_step : the cell whose ``dL/dh`` was just computed (0-based)
    grad_norm : ``||dL/dh||`` at this cell, rounded to float64 (0 below about 5e-324)
    local_factor : ``||dL/dh_t|| / ||dL/dh_{t+1}||`` in this layer: how much this step multiplied
        the gradient arriving from the next step (NaN at the last step, where it enters)
    mean_derivative : mean activation derivative at ``t + 1`` (the Jacobian this step applied);
        NaN at the last step
    saturation : fraction of saturated units at ``t + 1``; NaN at the last step
    spectral_norm : largest singular value of this layer's ``weight_hh``
    grad : (B, H) copy of ``dL/dh`` at this cell, true values (entries below the float
        range are subnormal or 0, as in the parameter gradients)
    log10_grad_norm : ``log10 ||dL/dh||`` at this cell, exact at any magnitude (-inf only if
        the gradient is exactly 0); what the step-through view shows and plots. Given None
        (a step built from a plain norm), it is ``log10(grad_norm)``.

    Gated cells only (None / NaN for the RNN), for the chain-rule view of a step. The gradient
    reaches a cell from the next time step by two paths: the *hidden path* (through the gates'
    pre-activations and ``weight_hh``, into ``dL/dh_t``) and the *cell path* (LSTM: ``f_{t+1} *
    dL/dc_{t+1}`` into ``dL/dc_t``, the forget gate's "constant error carousel"; GRU: ``z_{t+1} *
    dL/dh_{t+1}`` into ``dL/dh_t``, through the update gate).

    log10_cell_grad_norm : LSTM: ``log10 ||dL/dc||`` at this cell, exact at any magnitude
    cell_grad : LSTM: (B, H) copy of ``dL/dc`` at this cell, true values
    gates : ``{block name: (B, H)}`` copies of the cell's block values at this time step, in
        PyTorch's order (LSTM input, forget, cell, output; GRU reset, update, new)
    hidden_path_factor : ``||hidden path into t|| / ||dL/dh_{t+1}||`` (NaN at the last step)
    cell_path_factor : LSTM ``||f_{t+1} * dL/dc_{t+1}|| / ||dL/dc_{t+1}||``, GRU
        ``||z_{t+1} * dL/dh_{t+1}|| / ||dL/dh_{t+1}||`` (NaN at the last step)
    path_gate_mean : mean of the gate on the cell path at ``t + 1`` (LSTM forget, GRU update)
    """

    order: int
    layer: int
    time_step: int
    grad_norm: float
    local_factor: float
    mean_derivative: float
    saturation: float
    spectral_norm: float
    grad: np.ndarray
    log10_grad_norm: float | None = None
    log10_cell_grad_norm: float | None = None
    cell_grad: np.ndarray | None = None
    gates: dict[str, np.ndarray] | None = None
    hidden_path_factor: float = float("nan")
    cell_path_factor: float = float("nan")
    path_gate_mean: float = float("nan")

    def __post_init__(self) -> None:
        if self.log10_grad_norm is None:
            with np.errstate(divide="ignore", invalid="ignore"):
                object.__setattr__(self, "log10_grad_norm", float(np.log10(self.grad_norm)))


class BackpropSession:
    """The backward pass of one batch, advanced one (layer, time step) at a time.

    Iterate over it (or call :meth:`advance`) to get :class:`BackpropStep` items; once done,
    :attr:`result` equals what :meth:`Simulation.forward_backward` returns for the same batch,
    bit for bit (both run the cell's backward generator, :func:`cells.backward_steps`).
    """

    def __init__(self, simulation: Simulation, x: np.ndarray, y: np.ndarray) -> None:
        self._simulation = simulation
        config = simulation.config
        self.cell = config.cell
        with np.errstate(all="ignore"):
            self.cache = cells.forward(
                self.cell,
                simulation.params,
                x,
                config.num_layers,
                simulation.activation,
                simulation.batch_norm,
                checkpoint=simulation.checkpoint,
                checkpoint_every=simulation.checkpoint_every,
            )
            self.loss, output_grad = loss_and_gradient(simulation.task, self.cache.output, y)
        self.num_layers = config.num_layers
        self.seq_len = x.shape[1]
        self.state = cells.empty_state(self.cell, self.num_layers, self.seq_len)
        self._steps = cells.backward_steps(
            self.cell, simulation.params, self.cache, output_grad, simulation.batch_norm, self.state
        )
        self.spectral_norms = simulation.spectral_norms()
        self.total_steps = self.num_layers * self.seq_len
        self.order = -1
        self.result: BackwardResult | None = None
        self._previous_norm = (np.nan, 0)  # (mantissa norm, power of two) of the last cell
        self._previous_log10 = (np.nan, np.nan)  # log10 ||dL/dh||, ||dL/dc|| of the last cell

    def derivative_map(self, layer: int) -> np.ndarray:
        """(H, T) mean over the batch of the activation derivative of ``layer``."""
        return self.cache.derivatives[layer].mean(axis=1).T

    def advance(self) -> BackpropStep | None:
        """Compute the next cell; None when the backward pass is complete."""
        with np.errstate(all="ignore"):
            try:
                state = next(self._steps)
            except StopIteration:
                self._finish()
                return None
            self.order += 1
            layer, t = state.layer, state.time_step
            # The mantissa's norm and the cell's power of two, as backward_steps combines them.
            mantissa_norm = float(safe_norm(state.layer_grad[t : t + 1], axis=(1, 2))[0])
            exponent = int(state.scale_exponents[layer, t])
            norm = math.ldexp(mantissa_norm, exponent)
            log10_norm = float(np.log10(mantissa_norm) + exponent * LOG10_2)
            if t == self.seq_len - 1:
                factor = mean_derivative = saturation = np.nan
            else:
                # Both norms may be far below float64; their ratio is not. The ratio of the
                # mantissas, times the difference of the powers of two, is exact.
                previous, previous_exponent = self._previous_norm
                factor = (
                    np.ldexp(np.float64(mantissa_norm) / previous, exponent - previous_exponent)
                    if previous != 0
                    else np.nan
                )
                derivative = self.cache.derivatives[layer][t + 1]
                mean_derivative = float(derivative.mean())
                saturation = float(self._simulation.activation.saturated(derivative).mean())
            self._previous_norm = (mantissa_norm, exponent)
            gated = self._gated_fields(state, layer, t, log10_norm)
            if self.order == self.total_steps - 1:
                # Let the generator finish the last layer's products now, so result is ready.
                self._finish()
            return BackpropStep(
                self.order,
                layer,
                t,
                norm,
                float(factor),
                float(mean_derivative),
                float(saturation),
                float(self.spectral_norms[layer]),
                state.gradient(t),
                log10_norm,
                **gated,
            )

    def _gated_fields(self, state: cells.State, layer: int, t: int, log10_norm: float) -> dict[str, Any]:
        """The gated cell's part of a :class:`BackpropStep` (nothing for the RNN)."""
        if not isinstance(state, gates.GatedBackwardState) or not isinstance(self.cache, gates.GatedCache):
            return {}
        exponent = int(state.scale_exponents[layer, t])
        fields: dict[str, Any] = {
            "gates": {name: values.copy() for name, values in self.cache.gate_values(layer, t).items()}
        }
        log10_cell = math.nan
        if self.cell == "lstm":
            # As backward_steps' table reads it (safe_norm of the mantissa, plus the power of two).
            cell_norm = float(safe_norm(state.cell_grad[t : t + 1], axis=(1, 2))[0])
            log10_cell = float(np.log10(cell_norm) + exponent * LOG10_2)
            fields["log10_cell_grad_norm"] = log10_cell
            fields["cell_grad"] = state.cell_gradient(t)
        previous_h, previous_c = self._previous_log10
        if t < self.seq_len - 1:
            hidden_path, cell_path = state.log10_path_norms[layer, t]
            fields["hidden_path_factor"] = _power_of_ten(hidden_path - previous_h)
            fields["cell_path_factor"] = _power_of_ten(
                cell_path - (previous_c if self.cell == "lstm" else previous_h)
            )
            path_gate = self.cache.gate_values(layer, t + 1)["forget" if self.cell == "lstm" else "update"]
            fields["path_gate_mean"] = float(path_gate.mean())
        self._previous_log10 = (log10_norm, log10_cell)
        return fields

    def _finish(self) -> None:
        if self.result is not None:
            return
        with np.errstate(all="ignore"):
            for _ in self._steps:
                pass
        self.result = BackwardResult.of(self.loss, self.state, self.cache)

    def __iter__(self) -> Iterator[BackpropStep]:
        while (step := self.advance()) is not None:
            yield step


def _power_of_ten(decades: float) -> float:
    """``10 ** decades`` without a warning (0 or inf beyond float64, NaN for NaN)."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        return float(np.power(10.0, decades))
