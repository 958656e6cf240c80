"""The fixes a diagnosis offers: configs one ``config.replace(**changes)`` away, chosen for the run.

Part of the diagnosis (:mod:`gradsim.engine.diagnosis` explains it and re-exports these names).
A fix appears only where it addresses the problem; where theory can judge it, it must bring the
predicted change closer to none, and its explanation quotes the prediction. Theory judges a fix by
the quantity the regime is decided on (:func:`gradsim.engine.regime.measure`: the most extreme
span, through time in any layer or through depth), so the prediction a fix quotes is in the same
terms as the badge and sentence beside it, and its scale is where that quantity is balanced.
"""

from __future__ import annotations

import dataclasses
import math
from functools import lru_cache
from typing import Any

from . import theory
from .activations import make_activation
from .config import SimConfig
from .diagnosis_signs import BATCH_NORM_HELPS_BELOW, IMPROVEMENT_DECADES, SCALE_TOLERANCE, Fix, Signs, _factor
from .regime import DECADES_THRESHOLD, RegimeMeasure, measure, measure_log10_norms
from .simulation import Simulation

# A fix theory judges is also tried: one training step of its config, from the run's seed, which is
# the first step the user sees after applying it. Only where that step's matrix products cost at
# most this many floating-point operations (about 0.1 s on one core; every preset is far below).
TRY_FLOPS = 4e9

# -- the fixes ---------------------------------------------------------------------------------


def _rounded(value: float) -> float:
    return float(f"{value:.3g}")


def _predicted(config: SimConfig) -> RegimeMeasure | None:
    """The regime measure of theory's predicted map of ``config`` (None where theory does not
    apply): the same spans, extreme and words as a record's (:func:`measure_log10_norms`)."""
    logs = theory.predicted_log10_grad_norms(config)
    return None if logs is None else measure_log10_norms(logs)


def _improves(candidate: SimConfig, signs: Signs, config: SimConfig) -> bool:
    """Whether theory predicts ``candidate``'s most extreme span clearly closer to no change.

    Both sides are compared as theory predicts them where it applies to the current config too
    (so its approximations cancel), else against the measured extreme span. False when theory
    says nothing about ``candidate``: such fixes are not offered blind.
    """
    new = _predicted(candidate)
    if new is None or not math.isfinite(new.decades):
        return False
    if abs(new.decades) <= DECADES_THRESHOLD:
        return True
    now = _predicted(config)
    current = now.decades if now is not None else math.nan
    if not math.isfinite(current):
        current = signs.measure.decades
    if not math.isfinite(current):
        return False
    return abs(new.decades) < abs(current) - IMPROVEMENT_DECADES


def _prediction(candidate: SimConfig, signs: Signs) -> str:
    """' Theory predicts ...' for the explanation ('' without theory): the predicted extreme span
    and the measured one, each as the badge words a span (its ratio multiplies out)."""
    predicted = _predicted(candidate)
    if predicted is None or predicted.extreme is None:
        return ""
    text = f" Theory predicts its largest change {predicted.extreme.name()}: {predicted.extreme.numbers()}"
    measured = signs.measure.extreme
    if measured is not None:
        text += f"; measured now, {measured.name()}: {measured.numbers()}"
    return text + "."


def _large_weights_note(scale: float) -> str:
    if scale <= 3.0:
        return ""
    return (
        f" Weights of scale {scale:g} also make the loss and the first updates large; "
        "pair this with clipping if training turns unstable."
    )


@lru_cache(maxsize=64)
def _first_step(candidate: SimConfig) -> RegimeMeasure | None:
    """The regime measure of ``candidate``'s first training step, from its own seed as a run of it
    starts (None if it halted). Kept per config: the diagnosis asks again at every refresh."""
    record = Simulation(candidate).train_step()
    return None if record is None else measure(record)


def _tried(candidate: SimConfig, signs: Signs) -> tuple[bool, str]:
    """Whether ``candidate``'s first step keeps the promise, and the sentence that says what it
    measures ('' when it was not tried: a step of more than :data:`TRY_FLOPS`). It keeps it when
    that step's most extreme span lies within the healthy band or clearly closer to no change than
    the run's now; a first step that is not finite never does."""
    if candidate.step_flops > TRY_FLOPS:
        return True, ""
    first = _first_step(candidate)
    if first is None or first.extreme is None or not math.isfinite(first.decades):
        return False, ""
    now = signs.measure.decades
    kept = abs(first.decades) <= DECADES_THRESHOLD or (
        math.isfinite(now) and abs(first.decades) < abs(now) - IMPROVEMENT_DECADES
    )
    span = first.extreme
    text = f" Tried from this run's seed, its first step measures {span.name()}: {span.numbers()}"
    if first.regime != "healthy":
        # Theory and one run of a narrow network can differ by decades (docs/theory.md).
        text += (
            f": {first.regime} at this seed, as mean-field theory describes wide layers on average and "
            f"{candidate.hidden_size} units can land decades away from it"
        )
    return kept, text + "."


def _if_theory_agrees(fix: Fix, signs: Signs, config: SimConfig, note: str = "") -> Fix | None:
    """``fix`` if theory predicts its config ends clearly closer to no change (:func:`_improves`)
    and, where it is cheap to try, its first step does too (:func:`_tried`); its explanation then
    followed by the prediction, what the try measured and ``note``. Else None."""
    candidate = fix.apply(config)
    if not _improves(candidate, signs, config):
        return None
    kept, tried = _tried(candidate, signs)
    if not kept:
        return None
    return dataclasses.replace(
        fix, explanation=fix.explanation + _prediction(candidate, signs) + tried + note
    )


def _edge_scale(candidate: SimConfig) -> float | None:
    """The weight scale at which theory predicts ``candidate``'s spans balanced: its most extreme
    span turns from shrinking to growing (the sweep's critical line and the evidence's scale)."""
    critical = theory.critical_weight_scale(candidate, criterion="span")
    return None if critical is None else _rounded(critical)


def _relu_fix(signs: Signs, config: SimConfig) -> Fix | None:
    scale = _edge_scale(config.replace(activation="relu", init="he"))
    if scale is None:
        return None
    changes: dict[str, Any] = {"activation": "relu", "init": "he", "weight_scale": scale}
    clip = ""
    if config.clip_mode == "none":
        # ReLU is unbounded: near the edge its states and loss can be large enough that one plain
        # SGD step overflows (docs/theory.md), so the switch comes with clipping.
        changes.update(clip_mode="norm", clip_threshold=1.0)
        clip = " ReLU is unbounded, so the fix also clips the gradient norm to 1 to keep the updates finite."
    bound = make_activation(config.activation, config.leaky_slope).max_derivative
    fix = Fix(
        "relu",
        f"Switch to ReLU, He init (scale {scale:g})",
        f"{config.activation}'s derivative is at most {bound:g} and close to 0 once a unit saturates; "
        "ReLU passes the gradient of every active unit unchanged, and He initialisation doubles the "
        "weight variance to make up for the half of the units that are off.",
        changes,
    )
    return _if_theory_agrees(fix, signs, config, clip)


def _orthogonal_fix(signs: Signs, config: SimConfig) -> Fix | None:
    if config.init == "orthogonal":
        return None
    candidate = config.replace(init="orthogonal")
    if theory.not_applicable(candidate) is not None:
        return None
    scale = _edge_scale(candidate)
    if scale is None:
        return None
    fix = Fix(
        "orthogonal",
        f"Orthogonal weights at scale {scale:g}",
        "Every singular value of an orthogonal matrix is the same, so it turns the gradient without "
        f"stretching or shrinking it in any direction; at scale {scale:g} theory predicts the spans "
        f"balanced for {config.activation}: the gradient shrinks along no way back by more than it "
        "grows along another.",
        {"init": "orthogonal", "weight_scale": scale},
    )
    return _if_theory_agrees(fix, signs, config, _large_weights_note(scale))


def _scale_fix(regime: str, signs: Signs, config: SimConfig) -> Fix | None:
    if theory.not_applicable(config) is not None:
        return None
    scale = _edge_scale(config)
    if scale is None:
        return None
    raising = regime == "vanishing" and scale > config.weight_scale * (1 + SCALE_TOLERANCE)
    lowering = regime in ("exploding", "non-finite") and scale < config.weight_scale * (1 - SCALE_TOLERANCE)
    if not (raising or lowering):
        return None
    verb = "Raise" if raising else "Lower"
    fix = Fix(
        "raise_scale" if raising else "lower_scale",
        f"{verb} weight scale to {scale:g}",
        "Each step back multiplies the gradient by about the weight scale times the typical "
        f"derivative; at {scale:g} mean-field theory predicts the spans balanced (it shrinks along no "
        f"way back by more than it grows along another), for {config.activation} with {config.init} "
        "weights.",
        {"weight_scale": scale},
    )
    return _if_theory_agrees(fix, signs, config, _large_weights_note(scale) if raising else "")


def _clip_fix(regime: str, config: SimConfig) -> Fix | None:
    if regime not in ("exploding", "non-finite") or config.clip_mode == "norm":
        return None
    return Fix(
        "clip_norm",
        "Clip the gradient norm to 1",
        "Clipping rescales the whole gradient whenever its global norm exceeds 1. It does not change "
        "how the gradient grows back through time, but it bounds every update, so one huge gradient "
        "can no longer throw the weights to inf/NaN.",
        {"clip_mode": "norm", "clip_threshold": 1.0},
    )


def _batch_norm_fix(regime: str, signs: Signs, config: SimConfig) -> Fix | None:
    # Batch norm's textbook case is a saturating unit pushed to its flat tails: normalising the
    # pre-activation brings it back to its steep middle. For ReLU-like units, or a run that
    # explodes, it is no fix: at initialisation it can even make the gradient grow (with small
    # batches), see docs/theory.md.
    saturating = make_activation(config.activation, config.leaky_slope).saturating
    factor = signs.measured_factor
    if (
        regime != "vanishing"
        or not saturating
        or config.normalization == "batch"
        or not (math.isfinite(factor) and factor < BATCH_NORM_HELPS_BELOW)
    ):
        return None
    changes: dict[str, Any] = {"normalization": "batch"}
    if config.batch_size < 2:
        changes["batch_size"] = 16
    return Fix(
        "batch_norm",
        "Turn on batch norm",
        "Batch norm rescales every pre-activation to zero mean and unit variance over the batch, "
        f"so {config.activation} works around its steep middle instead of its flat tails. The per-step "
        "factor then no longer depends on the weight scale; it is set by the activation, the task "
        f"and the batch (see docs/theory.md for measured values), against {_factor(factor)} now.",
        changes,
    )


def _fewer_steps_fix(signs: Signs, config: SimConfig) -> Fix | None:
    steps = config.seq_len
    if steps <= 2:
        return None
    factor = signs.measured_factor
    usable = math.isfinite(factor) and factor > 0 and factor != 1
    # The longest sequence over which the gradient changes by at most 2 decades, but at least
    # half as long as now; a product of fewer factors always changes less.
    healthy = 1 + int(2.0 / abs(math.log10(factor))) if usable else steps // 4
    new_steps = max(2, min(steps // 2, healthy))
    numbers = ""
    if usable:
        numbers = (
            f" At {_factor(factor)} per step that is about "
            f"{(new_steps - 1) * math.log10(factor):+.1f} decades instead of "
            f"{(steps - 1) * math.log10(factor):+.1f} along time."
        )
    return Fix(
        "fewer_steps",
        f"Fewer steps: {steps} -> {new_steps}",
        "The gradient that reaches the first step is a product of one factor per step; a shorter "
        "sequence has fewer factors (at the price of a network that cannot look as far back)." + numbers,
        {"seq_len": new_steps},
    )


def _fewer_layers_fix(signs: Signs, config: SimConfig) -> Fix | None:
    if config.num_layers <= 1:
        return None
    layers = max(1, config.num_layers // 2)
    fix = Fix(
        "fewer_layers",
        f"Fewer layers: {config.num_layers} -> {layers}",
        "Every layer the gradient crosses on its way down multiplies it once more, and with several "
        "layers it can also travel back in time in whichever layer shrinks it least; fewer layers "
        "means fewer factors (at the price of a less expressive network).",
        {"num_layers": layers},
    )
    # Fewer layers is not always better: the gradient may then have to travel back in time in a
    # layer that shrinks it more. Offered only where theory predicts a gain.
    return _if_theory_agrees(fix, signs, config)


def _fixes(regime: str, signs: Signs, config: SimConfig) -> list[Fix]:
    """The applicable fixes, most direct first."""
    if regime == "healthy":
        return []
    candidates = [_clip_fix(regime, config)]
    if regime == "vanishing" and make_activation(config.activation, config.leaky_slope).saturating:
        candidates.append(_relu_fix(signs, config))
    candidates += [
        _orthogonal_fix(signs, config),
        _scale_fix(regime, signs, config),
        _batch_norm_fix(regime, signs, config),
        _fewer_steps_fix(signs, config),
        _fewer_layers_fix(signs, config),
    ]
    return [fix for fix in candidates if fix is not None]
