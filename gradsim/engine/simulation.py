"""The Simulation: parameters, optimiser state and random streams of one run."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import cells, gates, rnn
from .activations import Activation, make_activation
from .bptt import LOG10_2, Workspace
from .clipping import clip_gradients
from .config import SimConfig
from .initializers import init_matrix
from .numerics import safe_norm
from .optim import Optimizer
from .records import NonFiniteEvent, StepRecord
from .spectral import SpectralNormTracker, spectral_norm
from .tasks import Task, loss_and_gradient, make_task

PREACTIVATION_SAMPLE = 2048


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


class Simulation:
    """One training run: parameters, optimiser state and random streams.

    Parameters
    ----------
    config : SimConfig
        Fixed for the life of the simulation; a new config means a new Simulation.
    weights : optional ``{name: array}`` to start from instead of the initialisation (e.g. a
        PyTorch state dict read by :func:`gradsim.io.weights.load_weights`): checked against the
        config (:func:`cells.check_weights`, ValueError on a mismatch), converted to the config's
        dtype; parameters it leaves out (readout, batch norm) keep their initial values.
        :meth:`reset` returns to these weights.

    Attributes
    ----------
    params : dict of live parameter arrays (PyTorch ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` names and
        shapes, :func:`cells.parameter_shapes`, plus ``readout.weight``
        ``(O, H)``, ``readout.bias`` ``(O,)`` and with batch norm ``bn_gain_l{k}``,
        ``bn_shift_l{k}`` ``(H,)``). Editing one in place changes the next forward pass.
    iteration : training steps taken
    halted : True after a step produced a non-finite value; no further updates until reset
    """

    def __init__(self, config: SimConfig, weights: dict[str, np.ndarray] | None = None) -> None:
        self.config = config
        if weights is not None:
            cells.check_weights(config, weights)
        self._weights = (
            None if weights is None else {name: np.array(value) for name, value in weights.items()}
        )
        self.dtype = np.dtype(config.dtype)
        # A gated cell's candidate is tanh whatever config.activation says (PyTorch's cells).
        self.activation: Activation = (
            make_activation(config.activation, config.leaky_slope)
            if config.cell == "rnn"
            else make_activation("tanh")
        )
        self.task: Task = make_task(config.task)
        self.batch_norm = config.normalization == "batch"
        # Buffers reused from step to step (a fresh (T, B, H) array costs a page fault per 4 KiB):
        # train_step's reuses everything, as nothing of its cache or gradients leaves the step;
        # forward_backward's only its intermediates, since its caller keeps the results.
        self._train_workspace = Workspace(reuse_outputs=True)
        self._workspace = Workspace(reuse_outputs=False)
        self.reset()

    def reset(self) -> None:
        """Back to the initial parameters and random streams of this config."""
        config = self.config
        # Separate streams for the weights and the data, so two configs that differ only in
        # their weights see the same batches (A/B comparisons).
        init_seed, data_seed = np.random.SeedSequence(config.seed).spawn(2)
        init_rng = np.random.default_rng(init_seed)
        self.rng = np.random.default_rng(data_seed)
        self.params = self._initial_params(init_rng)
        for name, value in (self._weights or {}).items():
            self.params[name] = value.astype(self.dtype, copy=True)
        self.optimizer = Optimizer(config.optimizer, config.learning_rate)
        self._spectral = SpectralNormTracker(config.num_layers)
        self.iteration = 0
        self.halted = False
        self.nonfinite: NonFiniteEvent | None = None

    def _initial_params(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        config, dtype = self.config, self.dtype
        hidden = config.hidden_size
        params: dict[str, np.ndarray] = {}
        fan_in = self.task.input_size
        for layer in range(config.num_layers):
            if config.cell != "rnn":
                params.update(
                    gates.init_layer(
                        config.cell,
                        config.init,
                        config.weight_scale,
                        hidden,
                        fan_in,
                        layer,
                        rng,
                        dtype,
                        config.forget_bias,
                    )  # fmt: skip
                )
                fan_in = hidden
                continue
            w_ih, w_hh, b_ih, b_hh = rnn.layer_names(layer)
            params[w_ih] = init_matrix(config.init, (hidden, fan_in), config.weight_scale, rng, dtype)
            params[w_hh] = init_matrix(config.init, (hidden, hidden), config.weight_scale, rng, dtype)
            params[b_ih] = np.zeros(hidden, dtype=dtype)
            params[b_hh] = np.zeros(hidden, dtype=dtype)
            fan_in = hidden
        if self.batch_norm:
            # One gain and shift per row of the stacked pre-activations (G H for a gated cell).
            rows = gates.gate_count(config.cell) * hidden
            for layer in range(config.num_layers):
                params[f"bn_gain_l{layer}"] = np.ones(rows, dtype=dtype)
                params[f"bn_shift_l{layer}"] = np.zeros(rows, dtype=dtype)
        params["readout.weight"] = init_matrix(
            config.init, (self.task.output_size, hidden), config.weight_scale, rng, dtype
        )
        params["readout.bias"] = np.zeros(self.task.output_size, dtype=dtype)
        return params

    # -- data -------------------------------------------------------------------------------
    def sample_batch(self) -> tuple[np.ndarray, np.ndarray]:
        """Draw the next training batch from the simulation's data stream."""
        return self.task.sample(self.rng, self.config.batch_size, self.config.seq_len, self.dtype)

    # -- gradients --------------------------------------------------------------------------
    def forward_backward(self, x: np.ndarray, y: np.ndarray) -> BackwardResult:
        """Loss and exact BPTT gradients for batch ``(x, y)``, without updating anything.

        ``x`` is ``(B, T, I)``; ``y`` the task's targets. Overflow becomes inf/NaN in the
        result, never an exception or a warning.
        """
        return self._forward_backward(x, y, self._workspace)

    def _forward_backward(self, x: np.ndarray, y: np.ndarray, workspace: Workspace) -> BackwardResult:
        cell = self.config.cell
        with np.errstate(all="ignore"):
            cache = cells.forward(
                cell, self.params, x, self.config.num_layers, self.activation, self.batch_norm, workspace
            )
            loss, output_grad = loss_and_gradient(self.task, cache.output, y)
            state = cells.backward(cell, self.params, cache, output_grad, self.batch_norm, workspace)
        return BackwardResult.of(loss, state, cache)

    def backprop(self, x: np.ndarray, y: np.ndarray) -> BackpropSession:
        """A step-through backward pass over batch ``(x, y)`` (nothing is updated)."""
        return BackpropSession(self, x, y)

    def spectral_norms(self) -> np.ndarray:
        """(L,) largest singular value of each ``weight_hh_l{k}`` as it is now (exact method).

        Leaves the training loop's tracker alone, so looking (the step-through view) never
        changes a later record's last digits.
        """
        matrices = [self.params[f"weight_hh_l{k}"] for k in range(self.config.num_layers)]
        return np.array([spectral_norm(matrix) for matrix in matrices], dtype=np.float64)

    @property
    def spectral_tracker(self) -> SpectralNormTracker:
        """The training loop's spectral norm tracker (its ``counts`` say how each was found)."""
        return self._spectral

    # -- training ---------------------------------------------------------------------------
    def train_step(self) -> StepRecord | None:
        """Draw a batch, compute gradients, clip, update; None once the run has halted."""
        if self.halted:
            return None
        config = self.config
        x, y = self.sample_batch()
        iteration = self.iteration + 1
        # Certified to 1e-10 relative; warm-started from the previous step's vectors (spectral.py).
        spectral = self._spectral.update([self.params[f"weight_hh_l{k}"] for k in range(config.num_layers)])
        # The cache and gradients live in the reused workspace: everything the record keeps is
        # computed or copied from them before this method returns.
        result = self._forward_backward(x, y, self._train_workspace)
        grads = result.grads
        with np.errstate(all="ignore"):
            param_grad_norms = {name: float(safe_norm(g)) for name, g in grads.items()}
            clip = clip_gradients(grads, config.clip_mode, config.clip_threshold, param_grad_norms)
            event = self._find_nonfinite(iteration, result, param_grad_norms)
            update_ratios: dict[str, float] = {}
            if event is None:
                updates = self.optimizer.updates(clip.grads)
                for name, delta in updates.items():
                    before = self.params[name]
                    if "weight" in name:
                        scale = safe_norm(before)
                        update_ratios[name] = float(safe_norm(delta) / scale) if scale > 0 else np.inf
                    before += delta
                bad = [name for name, value in self.params.items() if not np.all(np.isfinite(value))]
                if bad:
                    event = NonFiniteEvent(iteration, "parameters", parameter=bad[0])
            cache = result.cache
            derivatives = cache.derivatives
            mask = self._train_workspace.scratch(("saturated",), derivatives[0].shape, np.dtype(bool))
            # Non-finite units are their own category, not "saturated" / "switched off".
            preactivations = cache.preactivations
            saturation = np.array(
                [
                    self.activation.saturated_fraction(d, mask, z)
                    for d, z in zip(derivatives, preactivations, strict=True)
                ]
            )
            nonfinite_fraction = np.array(
                [
                    self.activation.nonfinite_fraction(d, z)
                    for d, z in zip(derivatives, preactivations, strict=True)
                ],
                dtype=np.float64,
            )
            mean_derivative = np.stack([d.mean(axis=(1, 2)) for d in derivatives]).astype(np.float64)
            gate_means, gate_saturation = self._gate_statistics(cache)
        samples = np.stack([_fixed_stride_sample(z, PREACTIVATION_SAMPLE) for z in cache.preactivations])
        self.iteration = iteration
        if event is not None:
            self.halted = True
            self.nonfinite = event
        return StepRecord(
            iteration=iteration,
            loss=float(result.loss),
            grad_norms=result.grad_norms.copy(),
            log10_grad_norms=result.log10_grad_norms.copy(),
            param_grad_norms=param_grad_norms,
            global_norm_before=float(clip.norm_before),
            global_norm_after=float(clip.norm_after),
            clipped=clip.clipped,
            update_ratios=update_ratios,
            saturation=saturation.astype(np.float64),
            mean_derivative=mean_derivative,
            preactivation_samples=samples,
            spectral_norms=spectral.copy(),
            nonfinite=event,
            nonfinite_fraction=nonfinite_fraction,
            log10_cell_grad_norms=(
                None if result.log10_cell_grad_norms is None else result.log10_cell_grad_norms.copy()
            ),
            gate_means=gate_means,
            gate_saturation=gate_saturation,
        )

    def _gate_statistics(self, cache: cells.Cache) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(L, T, K) mean and saturated fraction of each sigmoid gate (None for the RNN)."""
        if not isinstance(cache, gates.GatedCache):
            return None, None
        shape = cache.states[0][1:].shape
        masks = (
            self._train_workspace.scratch(("gate_low",), shape, np.dtype(bool)),
            self._train_workspace.scratch(("gate_high",), shape, np.dtype(bool)),
        )
        pairs = [gates.gate_statistics(cache.cell, values, masks) for values in cache.gates]
        return np.stack([means for means, _ in pairs]), np.stack([saturated for _, saturated in pairs])

    def _find_nonfinite(
        self, iteration: int, result: BackwardResult, param_grad_norms: dict[str, float]
    ) -> NonFiniteEvent | None:
        """Where the first inf/NaN of this step appeared, in the order it was computed.

        ``param_grad_norms``: :func:`safe_norm` of each gradient, finite only if the gradient is.
        """
        cache = result.cache
        for layer, states in enumerate(cache.states):
            # A sum is finite if every term is (it may also overflow, then the scan decides):
            # one pass without a (T, B, H) mask in the usual, finite case.
            if np.isfinite(np.sum(states[1:])):
                continue
            bad_steps = ~np.isfinite(states[1:]).all(axis=(1, 2))
            if bad_steps.any():
                return NonFiniteEvent(iteration, "hidden state", layer, int(np.argmax(bad_steps)))
        if not np.isfinite(result.loss):
            return NonFiniteEvent(iteration, "loss")
        norms = result.log10_grad_norms  # -inf (an exact 0) is finite here: only NaN/inf count
        for layer in reversed(range(norms.shape[0])):
            bad_steps = np.isnan(norms[layer]) | (norms[layer] == np.inf)
            if bad_steps.any():
                last_bad = norms.shape[1] - 1 - int(np.argmax(bad_steps[::-1]))
                return NonFiniteEvent(iteration, "gradient dL/dh", layer, last_bad)
        for name, g in result.grads.items():
            if not np.isfinite(param_grad_norms[name]) and not np.all(np.isfinite(g)):
                return NonFiniteEvent(iteration, "parameter gradient", parameter=name)
        return None


def _power_of_ten(decades: float) -> float:
    """``10 ** decades`` without a warning (0 or inf beyond float64, NaN for NaN)."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        return float(np.power(10.0, decades))


def _fixed_stride_sample(values: np.ndarray, count: int) -> np.ndarray:
    """``count`` entries of ``values`` at a fixed stride (padded with NaN if fewer)."""
    flat = values.reshape(-1)
    out = np.full(count, np.nan)
    if flat.size <= count:
        out[: flat.size] = flat
    else:
        stride = flat.size / count
        out[:] = flat[(np.arange(count) * stride).astype(np.int64)]
    return out


def replay(config: SimConfig, iterations: int) -> Iterator[StepRecord]:
    """The records of a fresh run of ``config``, one training step at a time.

    Runs are deterministic (same seed, same numbers, bit for bit), so this reproduces every
    record of any run of ``config`` up to ``iterations`` steps: exports and bundles use it to
    write a whole run that the window only keeps thinned. It stops early when the run halts on
    a non-finite value (that record is the last one yielded). Being a generator, the caller can
    stop at any step (cancel) and count steps (progress).
    """
    if iterations < 0:
        raise ValueError(f"iterations must be 0 or more (got {iterations})")
    simulation = Simulation(config)
    for _ in range(iterations):
        record = simulation.train_step()
        if record is None:
            return
        yield record
