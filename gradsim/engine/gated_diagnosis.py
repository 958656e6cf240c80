"""The diagnosis's part for gated cells: their fixes and evidence (called from :mod:`diagnosis`).

Fixes:

- ``"lstm"``: for a *vanilla* RNN whose gradient vanishes, switch to an LSTM with forget bias 1.
  The LSTM's cell state is updated additively, ``c_t = f c_{t-1} + i g``, so the gradient travels
  back along it multiplied by the forget gate alone (the "constant error carousel"); with a
  forget bias of 1 the gates start near ``sigmoid(1) = 0.73`` and learn to stay open. A GRU is
  not offered as a fix: its update gate plays the same part for ``h``, but it starts near 0.5 and
  PyTorch's GRU has no bias setting to open it, so at initialisation it loses about as much as a
  tanh RNN of the same size (preset 'GRU: update gates start half open'); the explanation of the
  LSTM fix says so.
- ``"forget_bias"``: for an LSTM whose gradient vanishes while its forget gates sit near 0.5
  (between :data:`HALF_OPEN`), set the forget bias to 1: each step back then keeps about 0.73 of
  the cell path instead of 0.5.

Evidence: the mean gate on the cell path, the LSTM's cell-path spans
(:func:`gradsim.engine.regime.measure_cell_path`) and the gate product that predicts them
(:func:`gradsim.engine.gated_theory.gate_product_decades`, an approximation).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .config import SimConfig
from .formatting import format_ratio
from .gated_theory import PATH_GATE, gate_product_decades, mean_path_gate
from .records import StepRecord
from .regime import measure_cell_path

# Forget gates whose mean lies in this band "sit near 0.5".
HALF_OPEN = (0.4, 0.6)
# The forget bias the fix proposes, and the gate it opens to at a zero pre-activation.
FORGET_BIAS = 1.0
OPEN_GATE = 1.0 / (1.0 + math.exp(-FORGET_BIAS))


def _decades_text(factor: float, steps: int) -> str:
    return format_ratio(steps * math.log10(factor)) if factor > 0 else "0"


def fixes(
    regime: str, records: Sequence[StepRecord], config: SimConfig
) -> list[tuple[str, str, str, dict[str, Any]]]:
    """``(key, label, explanation, changes)`` of the gated fixes that apply (see the module docstring)."""
    if regime != "vanishing" or not records:
        return []
    steps = config.seq_len - 1
    found: list[tuple[str, str, str, dict[str, Any]]] = []
    if config.cell == "rnn":
        found.append((
            "lstm",
            f"Switch to an LSTM (forget bias {FORGET_BIAS:g})",
            "An LSTM keeps a cell state that is updated by addition, c_t = f c_(t-1) + i g, so along "
            "it the gradient is multiplied only by the forget gate at each step back, not by the "
            f"weights and a derivative. A forget bias of {FORGET_BIAS:g} opens the gates to about "
            f"{OPEN_GATE:.2f} at the start; the gradient then keeps {_decades_text(OPEN_GATE, steps)} "
            f"over {steps} steps along the cell path, and the gates can learn to stay open. (A GRU's "
            "update gate plays the same part, but it starts half open and has no bias setting to "
            "open it, so a fresh GRU loses about as much as this RNN.)",
            {"cell": "lstm", "forget_bias": FORGET_BIAS},
        ))  # fmt: skip
        return found
    record = records[-1]
    forget = mean_path_gate(record, config)
    if config.cell == "lstm" and config.forget_bias < FORGET_BIAS and HALF_OPEN[0] <= forget <= HALF_OPEN[1]:
        found.append((
            "forget_bias",
            f"Forget bias {FORGET_BIAS:g}",
            f"The forget gates sit near 0.5 (mean {forget:.2f}), so the cell path halves the gradient at "
            f"every step back: about {_decades_text(forget, steps)} over {steps} steps. A forget bias of "
            f"{FORGET_BIAS:g} starts them at about {OPEN_GATE:.2f}, which keeps "
            f"{_decades_text(OPEN_GATE, steps)} instead (the classic recommendation; PyTorch starts "
            "at 0).",
            {"forget_bias": FORGET_BIAS},
        ))  # fmt: skip
    return found


def evidence(records: Sequence[StepRecord], config: SimConfig) -> list[str]:
    """Lines about the gates and the cell path of the newest record (none for the RNN)."""
    if config.cell == "rnn" or not records:
        return []
    record = records[-1]
    gate = PATH_GATE[config.cell]
    lines = [f"mean {gate} gate {mean_path_gate(record, config):.3g} (the factor per step on the cell path)"]
    if record.gate_saturation is not None:
        closed_or_open = np.mean(record.gate_saturation, axis=(0, 1))
        names = ("input", "forget", "output") if config.cell == "lstm" else ("reset", "update")
        share = ", ".join(
            f"{name} {100 * float(value):.0f}%" for name, value in zip(names, closed_or_open, strict=True)
        )
        lines.append(f"gates below 0.05 or above 0.95: {share}")
    predicted = gate_product_decades(record, config)
    measured = measure_cell_path(record)
    if measured is not None and predicted is not None:
        lines.append("cell path ||dL/dc|| (evidence; the regime is measured on ||dL/dh||):")
        time_spans = [span for span in measured.spans if span.kind == "time"]
        for span, decades in zip(time_spans, predicted, strict=False):
            lines.append(
                f"  {span.name().removeprefix('through ')}: {span.numbers()}; the forget gates' product "
                f"predicts {decades:+.1f} decades (an approximation: it leaves out the hidden path)"
            )
    elif predicted is not None:
        lines.append(
            "update gates' product over the steps, per layer (the direct path's factor, an "
            f"approximation): {', '.join(f'{value:+.1f}' for value in predicted)} decades"
        )
    return lines
