"""The Backprop tab's words: the one-line reading of a cell and the clipping outcome (no Qt).

:func:`describe_step` turns one :class:`~gradsim.engine.simulation.BackpropStep` into the sentence
the view shows under its toolbar; :func:`describe_clipping` says what the config's clipping does
to the finished gradients. Every number comes from the engine's step and goes through
:mod:`gradsim.engine.formatting`, the one number formatter.
"""

from __future__ import annotations

import math

from gradsim.engine.clipping import ClipResult
from gradsim.engine.config import SimConfig
from gradsim.engine.formatting import format_number, format_percent, format_ratio
from gradsim.engine.simulation import BackpropStep


def _saturated_words(activation: str) -> str:
    if activation in ("relu", "leaky_relu", "linear"):
        return "of units pass no gradient (f′ = 0)"
    return "of units are saturated"


def nonfinite(log10_value: float) -> bool:
    """Whether a norm given by its log10 is inf/NaN (an exact zero, -inf, is finite)."""
    return math.isnan(log10_value) or log10_value == math.inf


def describe_step(step: BackpropStep, num_layers: int, seq_len: int, activation: str) -> str:
    """The one-line reading of ``step`` in plain words.

    Parameters
    ----------
    step : the cell just computed
    num_layers, seq_len : the size of the unrolled network
    activation : the config's activation name (words for "saturated" differ for ReLU)
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
