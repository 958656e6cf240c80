"""The Backprop tab's words: the reading of one cell and the clipping outcome, from the numbers."""

from __future__ import annotations

import numpy as np

from gradsim.engine.clipping import ClipResult
from gradsim.engine.config import SimConfig
from gradsim.engine.formatting import format_number
from gradsim.ui.features.backprop.backprop_text import describe_clipping, describe_step, nonfinite


def test_reading_in_plain_words():
    step = _step(layer=0, time_step=3, grad_norm=0.5, local_factor=0.21, mean_derivative=0.13,
                 saturation=0.78, spectral_norm=0.9)  # fmt: skip
    assert describe_step(step, 1, 10, "tanh") == (
        "This step multiplies the gradient by 0.21 (shrinks it): 78% of units are saturated "
        "(mean f′ 0.13) and the largest singular value of W_hh is 0.9."
    )
    grown = _step(layer=0, time_step=3, grad_norm=5.0, local_factor=1.5, mean_derivative=0.5,
                  saturation=0.0, spectral_norm=3.0)  # fmt: skip
    text = describe_step(grown, 2, 10, "relu")
    assert "by 1.5 (grows it): 0% of units pass no gradient (f′ = 0)" in text
    assert text.endswith("The factor includes what layer 2 adds at this step.")
    entry = _step(layer=1, time_step=9, grad_norm=0.031)
    assert describe_step(entry, 2, 10, "tanh").startswith("The gradient enters here")
    assert "from layer 2 above" in describe_step(_step(layer=0, time_step=9, grad_norm=1.0), 2, 10, "tanh")
    assert "exactly 0" in describe_step(_step(layer=0, time_step=2, grad_norm=0.0), 1, 10, "tanh")
    assert "no longer finite" in describe_step(_step(layer=0, time_step=2, grad_norm=np.inf), 1, 10, "tanh")


def _step(**fields):
    from gradsim.engine.simulation import BackpropStep

    values = dict(order=0, layer=0, time_step=0, grad_norm=1.0, local_factor=np.nan, mean_derivative=np.nan,
                  saturation=np.nan, spectral_norm=1.0, grad=np.zeros((1, 1)))  # fmt: skip
    values.update(fields)
    return BackpropStep(**values)


def test_reading_quotes_the_logarithm_not_an_underflowed_zero():
    tiny = _step(layer=1, time_step=9, grad_norm=0.0, log10_grad_norm=-606.5)
    assert describe_step(tiny, 2, 10, "tanh").endswith("||dL/dh|| = 3.16e-607.")
    zero = _step(layer=0, time_step=2, grad_norm=0.0)  # an exact zero: its log is -inf
    assert zero.log10_grad_norm == -np.inf
    assert "exactly 0" in describe_step(zero, 1, 10, "tanh")


def test_nonfinite_is_inf_or_nan_but_not_an_exact_zero():
    assert nonfinite(np.inf) and nonfinite(np.nan)
    assert not nonfinite(-np.inf) and not nonfinite(-606.5) and not nonfinite(3.0)


def test_clipping_in_words_quotes_the_norms_before_and_after():
    config = SimConfig(clip_mode="norm", clip_threshold=1.0)
    assert describe_clipping(config, None).endswith("the numbers appear after the last cell (End).")
    acted = describe_clipping(config, ClipResult(grads={}, norm_before=12.5, norm_after=1.0, clipped=True))
    assert acted == (
        f"Clipping by global norm, threshold {format_number(1.0)}. Global gradient norm before clipping "
        f"{format_number(12.5)}, after {format_number(1.0)}: clipping acted."
    )
    within = describe_clipping(config, ClipResult(grads={}, norm_before=0.25, norm_after=0.25, clipped=False))
    assert within.endswith(
        f"norm {format_number(0.25)} is within the threshold: clipping leaves it unchanged."
    )
    overflowed = describe_clipping(
        config, ClipResult(grads={}, norm_before=np.inf, norm_after=np.nan, clipped=True)
    )
    assert "not finite, so clipping cannot rescue this update" in overflowed
    by_value = SimConfig(clip_mode="value", clip_threshold=0.5)
    assert describe_clipping(by_value, None).startswith(
        f"Clipping by value (each element), threshold {format_number(0.5)}."
    )


def test_paths_of_a_gated_cell_multiply_out():
    from gradsim.ui.features.backprop.backprop_text import describe_gates, describe_paths

    previous = _step(layer=0, time_step=5, grad_norm=0.02, log10_cell_grad_norm=float(np.log10(0.04)))
    step = _step(layer=0, time_step=4, grad_norm=0.03, local_factor=1.5, cell_path_factor=0.9,
                 hidden_path_factor=0.25, path_gate_mean=0.93,
                 gates={"input": np.full((2, 3), 0.5), "forget": np.full((2, 3), 0.93),
                        "cell": np.zeros((2, 3)), "output": np.full((2, 3), 0.25)})  # fmt: skip
    assert describe_paths(step, previous, "lstm") == (
        "Two paths from step 6: cell path (forget gates, mean f 0.93) ||dL/dc|| 0.04 × 0.9 = 0.036 into "
        "dL/dc; hidden path (W_hh, gates) 0.02 × 0.25 = 5.00e-03 into dL/dh."
    )
    assert describe_paths(step, previous, "gru") == (
        "Two paths from step 6 add into dL/dh: update path (mean z 0.93) 0.02 × 0.9 = 0.018; hidden path "
        "(W_hh, gates) 0.02 × 0.25 = 5.00e-03."
    )
    assert describe_gates(step) == "i\u00a00.5, f\u00a00.93, g\u00a00, o\u00a00.25"
    # A gated cell's reading says the factor and leaves the rest to its two paths.
    assert describe_step(step, 1, 10, "tanh", "lstm") == "This step multiplies ||dL/dh|| by 1.5 (grows it)."
    # Nothing for the RNN, at a layer's last step, or without a step after it.
    assert describe_paths(step, previous, "rnn") == ""
    assert describe_paths(step, None, "lstm") == ""
    assert describe_paths(_step(layer=0, time_step=4), previous, "lstm") == ""
