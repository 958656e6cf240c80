"""The Backprop tab's words: the reading of a cell, a gated cell's two paths, clipping (no Qt).

:func:`describe_step` turns one :class:`~gradsim.engine.simulation.BackpropStep` into the sentence
the view shows under its toolbar, and for an LSTM or GRU :func:`describe_paths` adds how the
gradient came back by the cell path and the hidden path; :func:`describe_clipping` says what the
config's clipping does to the finished gradients. Every number comes from the engine's step and goes through
:mod:`gradsim.engine.formatting`, the one number formatter.
"""

from __future__ import annotations

import math

import numpy as np

from gradsim.engine.clipping import ClipResult
from gradsim.engine.config import SimConfig
from gradsim.engine.formatting import format_number, format_percent, format_ratio
from gradsim.engine.gates import BLOCK_LETTERS
from gradsim.engine.simulation import BackpropStep


def _saturated_words(activation: str) -> str:
    if activation in ("relu", "leaky_relu", "linear"):
        return "of units pass no gradient (f′ = 0)"
    return "of units are saturated"


def nonfinite(log10_value: float) -> bool:
    """Whether a norm given by its log10 is inf/NaN (an exact zero, -inf, is finite)."""
    return math.isnan(log10_value) or log10_value == math.inf


def describe_step(
    step: BackpropStep, num_layers: int, seq_len: int, activation: str, cell: str = "rnn"
) -> str:
    """The one-line reading of ``step`` in plain words.

    Parameters
    ----------
    step : the cell just computed
    num_layers, seq_len : the size of the unrolled network
    activation : the config's activation name (words for "saturated" differ for ReLU)
    cell : a gated cell ("lstm", "gru") is read by its two paths (:func:`describe_paths`, which
        follows), not by f′ and W_hh: the factor alone is said here
    """
    where = f"layer {step.layer + 1}, time step {step.time_step + 1}"
    # From the logarithm: a norm of 1e-607 is quoted as such, not as 0.
    log_norm = float(step.log10_grad_norm)  # type: ignore[arg-type]  # set in __post_init__
    norm = format_ratio(log_norm)  # at any magnitude: 3.16e-607
    if nonfinite(log_norm):
        return (
            f"At {where} the gradient is no longer finite (||dL/dh|| = {norm}): it "
            "overflowed, the run is exploding, and the steps further back inherit it."
        )
    if log_norm == -math.inf:
        return f"At {where} the gradient is exactly 0: no unit passed it on (every derivative was 0)."
    if step.time_step == seq_len - 1:
        if step.layer == num_layers - 1:
            return (
                f"The gradient enters here, at the top layer's last time step, from the loss: "
                f"||dL/dh|| = {norm}."
            )
        return (
            f"Layer {step.layer + 1} starts at its last time step, where the gradient arrives only "
            f"from layer {step.layer + 2} above: ||dL/dh|| = {norm}."
        )
    factor = step.local_factor
    if not math.isfinite(factor):
        return (
            f"At {where} ||dL/dh|| = {norm}; the gradient arriving from the step after "
            "was 0 or not finite, so this step has no finite factor."
        )
    if factor < 1:
        effect = "shrinks it"
    elif factor > 1:
        effect = "grows it"
    else:
        effect = "keeps its size"
    if cell != "rnn":
        text = f"This step multiplies ||dL/dh|| by {format_number(factor)} ({effect})."
    else:
        text = (
            f"This step multiplies the gradient by {format_number(factor)} ({effect}): "
            f"{format_percent(step.saturation)} {_saturated_words(activation)} "
            f"(mean f′ {format_number(step.mean_derivative)}) and the largest singular value of W_hh "
            f"is {format_number(step.spectral_norm)}."
        )
    if step.layer < num_layers - 1:
        text += f" The factor includes what layer {step.layer + 2} adds at this step."
    return text


def describe_clipping(config: SimConfig, clip: ClipResult | None) -> str:
    """What clipping does to the finished gradients (``clip`` None: not computed yet)."""
    how = "by global norm" if config.clip_mode == "norm" else "by value (each element)"
    head = f"Clipping {how}, threshold {format_number(config.clip_threshold)}."
    if clip is None:
        return f"{head} It acts on the finished gradients: the numbers appear after the last cell (End)."
    before, after = format_number(clip.norm_before), format_number(clip.norm_after)
    if not math.isfinite(clip.norm_before):
        return f"{head} Global gradient norm {before}: not finite, so clipping cannot rescue this update."
    if clip.clipped:
        return f"{head} Global gradient norm before clipping {before}, after {after}: clipping acted."
    return f"{head} Global gradient norm {before} is within the threshold: clipping leaves it unchanged."


def describe_gates(step: BackpropStep) -> str:
    """The mean of each block of the cell at this time step: ``"i 0.5, f 0.953, g 0.01, o 0.5"``
    (letter and number joined by a no-break space, so a wrapped line keeps them together; empty
    for the RNN)."""
    if not step.gates:
        return ""
    means = {name: format_number(float(values.mean())) for name, values in step.gates.items()}
    return ", ".join(f"{BLOCK_LETTERS[name]}\u00a0{mean}" for name, mean in means.items())


def path_products(step: BackpropStep, previous: BackpropStep, cell: str) -> tuple[float, float]:
    """log10 of the two terms that reached this cell from the step after it, ``(cell path,
    hidden path)``: the norm there (``previous``, the cell at ``t + 1`` of the same layer) times
    the step's path factor. LSTM: the cell path starts from ``||dL/dc_{t+1}||``, GRU from
    ``||dL/dh_{t+1}||``; the hidden path from ``||dL/dh_{t+1}||`` for both."""
    start = previous.log10_cell_grad_norm if cell == "lstm" else previous.log10_grad_norm
    with np.errstate(divide="ignore", invalid="ignore"):
        cell_path = float(start) + float(np.log10(step.cell_path_factor))  # type: ignore[arg-type]
        hidden_path = float(previous.log10_grad_norm) + float(np.log10(step.hidden_path_factor))  # type: ignore[arg-type]
    return cell_path, hidden_path


def describe_paths(step: BackpropStep, previous: BackpropStep | None, cell: str) -> str:
    """How the gradient reached a gated cell from the step after it, by its two paths, with the
    numbers that multiply out: the norm at ``t + 1`` × the path's factor = the term that arrived.

    Parameters
    ----------
    step : the cell just computed (gated: its path factors are set)
    previous : the cell at ``t + 1`` of the same layer (None at a layer's last step)
    cell : ``"lstm"`` or ``"gru"``; empty for the RNN
    """
    if cell not in ("lstm", "gru") or previous is None or math.isnan(step.cell_path_factor):
        return ""
    cell_path, hidden_path = path_products(step, previous, cell)
    after = step.time_step + 2  # the step the gradient came from, counted from 1
    hidden = (
        f"hidden path (W_hh, gates) {format_ratio(float(previous.log10_grad_norm))} × "  # type: ignore[arg-type]
        f"{format_number(step.hidden_path_factor)} = {format_ratio(hidden_path)}"
    )
    if cell == "lstm":
        carried = format_ratio(float(previous.log10_cell_grad_norm))  # type: ignore[arg-type]
        forget = format_number(step.path_gate_mean)
        factor = format_number(step.cell_path_factor)
        return (
            f"Two paths from step {after}: cell path (forget gates, mean f {forget}) ||dL/dc|| "
            f"{carried} × {factor} = {format_ratio(cell_path)} into dL/dc; {hidden} into dL/dh."
        )
    return (
        f"Two paths from step {after} add into dL/dh: update path (mean z "
        f"{format_number(step.path_gate_mean)}) {format_ratio(float(previous.log10_grad_norm))} × "  # type: ignore[arg-type]
        f"{format_number(step.cell_path_factor)} = {format_ratio(cell_path)}; {hidden}."
    )
