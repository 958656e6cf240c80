"""The Simulation: parameters, optimiser state and random streams of one run."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from . import cells, gates, rnn
from .activations import Activation, all_finite, make_activation
from .backprop_session import BackpropSession, BackpropStep, BackwardResult
from .bptt import Checkpoint, Workspace, checkpoint_stride
from .clipping import clip_gradients
from .config import SimConfig
from .initializers import init_matrix
from .numerics import safe_norm
from .optim import Optimizer
from .records import NonFiniteEvent, StepRecord
from .spectral import SpectralNormTracker, spectral_norm
from .tasks import Task, loss_and_gradient, make_task

PREACTIVATION_SAMPLE = 2048

# The backward pass's result and step-through live in backprop_session.py; importable here as before.
__all__ = [
    "PREACTIVATION_SAMPLE",
    "BackpropSession",
    "BackpropStep",
    "BackwardResult",
    "Simulation",
    "replay",
]


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
    checkpoint : None, or a function the forward passes of :meth:`train_step`,
        :meth:`forward_backward` and :meth:`backprop` call before the first time step of every
        layer and then every ``checkpoint_every`` steps
        (:func:`gradsim.engine.bptt.checkpoint_stride` of the config's sizes): where the window's
        training loop waits for a frame, or raises to abandon the step; a step-through's job
        stops there once cancelled. The numbers do not depend on it.
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
        self.checkpoint: Checkpoint | None = None
        self.checkpoint_every = checkpoint_stride(
            config.batch_size, config.hidden_size, gates.gate_count(config.cell)
        )
        self.batch_norm = config.normalization == "batch"
        # Buffers reused from step to step (a fresh (T, B, H) array costs a page fault per 4 KiB):
        # train_step's reuses everything, as nothing of its cache or gradients leaves the step;
        # forward_backward's only its intermediates, since its caller keeps the results.
        self._train_workspace = Workspace(reuse_outputs=True)
        self._norm_buffer = np.empty(0, dtype=np.float64)  # see _norm
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

    def _forward_backward(
        self, x: np.ndarray, y: np.ndarray, workspace: Workspace, path_norms: bool = True
    ) -> BackwardResult:
        cell = self.config.cell
        with np.errstate(all="ignore"):
            cache = cells.forward(
                cell, self.params, x, self.config.num_layers, self.activation, self.batch_norm, workspace,
                self.checkpoint, self.checkpoint_every,
            )  # fmt: skip
            loss, output_grad = loss_and_gradient(self.task, cache.output, y)
            state = cells.backward(
                cell, self.params, cache, output_grad, self.batch_norm, workspace, path_norms
            )
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
        # computed or copied from them before this method returns. The record keeps no path norms.
        result = self._forward_backward(x, y, self._train_workspace, path_norms=False)
        grads = result.grads
        cache = result.cache
        derivatives = cache.derivatives
        preactivations = cache.preactivations
        with np.errstate(all="ignore"):
            norm = self._norm
            param_grad_norms = {name: norm(g) for name, g in grads.items()}
            clip = clip_gradients(grads, config.clip_mode, config.clip_threshold, param_grad_norms)
            # One sum per pre-activation array tells whether it is finite; the derivatives' sums
            # per step give their means and whether they are finite (a finite sum has finite terms).
            finite_inputs = [all_finite(z) for z in preactivations]
            step_means = [d.mean(axis=(1, 2)) for d in derivatives]
            # An RNN's state is f(z) for an activation that maps finite numbers to finite ones.
            states_finite = config.cell == "rnn" and all(finite_inputs)
            event = self._find_nonfinite(iteration, result, param_grad_norms, states_finite)
            update_ratios: dict[str, float] = {}
            if event is None:
                updates = self.optimizer.updates(clip.grads)
                for name, delta in updates.items():
                    before = self.params[name]
                    if "weight" in name:
                        scale = norm(before)
                        update_ratios[name] = norm(delta) / scale if scale > 0 else np.inf
                    before += delta
                bad = [name for name, value in self.params.items() if not np.all(np.isfinite(value))]
                if bad:
                    event = NonFiniteEvent(iteration, "parameters", parameter=bad[0])
            mask = self._train_workspace.scratch(("saturated",), derivatives[0].shape, np.dtype(bool))
            # Non-finite units are their own category, not "saturated" / "switched off".
            layers = list(zip(derivatives, preactivations, strict=True))
            finite = [  # one check serves both fractions
                ok and (bool(np.isfinite(means).all()) or all_finite(d))
                for ok, means, d in zip(finite_inputs, step_means, derivatives, strict=True)
            ]
            saturation = np.array(
                [
                    self.activation.saturated_fraction(d, mask, z, ok)
                    for (d, z), ok in zip(layers, finite, strict=True)
                ]
            )
            nonfinite_fraction = np.array(
                [
                    self.activation.nonfinite_fraction(d, z, ok)
                    for (d, z), ok in zip(layers, finite, strict=True)
                ],
                dtype=np.float64,
            )
            mean_derivative = np.stack(step_means).astype(np.float64)
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

    def _norm(self, values: np.ndarray) -> float:
        """:func:`safe_norm` of a parameter-sized array, through one kept float64 buffer.

        A float32 array is copied to float64 for its norm: into a buffer kept from step to step
        rather than a fresh array (1-2 MiB at H=512, a page fault per 4 KiB). Same result.
        """
        if values.dtype == np.float64:
            return float(safe_norm(values))
        if self._norm_buffer.size < values.size:
            self._norm_buffer = np.empty(values.size, dtype=np.float64)
        return float(safe_norm(values, buffer=self._norm_buffer[: values.size].reshape(values.shape)))

    def _find_nonfinite(
        self,
        iteration: int,
        result: BackwardResult,
        param_grad_norms: dict[str, float],
        states_finite: bool = False,
    ) -> NonFiniteEvent | None:
        """Where the first inf/NaN of this step appeared, in the order it was computed.

        ``param_grad_norms``: :func:`safe_norm` of each gradient, finite only if the gradient is.
        ``states_finite``: the caller knows every hidden state is finite (skips their scan).
        """
        cache = result.cache
        for layer, states in enumerate(() if states_finite else cache.states):
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
