"""What gradsim predicts for gated cells: no mean-field number, and the gate product of the cell path.

The mean-field theory of :mod:`theory` describes ``h_t = f(W_ih x + W_hh h_{t-1} + b)``; a gated
cell multiplies states by gates, and no result of that theory is implemented for it, so
:func:`gradsim.engine.theory.not_applicable` gives :data:`NO_MEAN_FIELD` for ``cell != "rnn"``.

What takes its place is the gate on the cell path (:func:`gate_product_decades`). In an LSTM
``dL/dc_{t-1}`` receives ``f_t * dL/dc_t``: along the cell state alone the gradient is multiplied
by the forget gate at every step back, and from the last step to the first by the product of the
forget gates. gradsim predicts the cell path's span as

    log10 ||dL/dc_1|| / ||dL/dc_T||  ~  sum_{t=2..T} log10 mean(f_t)

with ``mean(f_t)`` the record's mean forget gate (over batch and units) at each step. This is an
*approximation*: it ignores what the hidden path adds to ``dL/dc`` at every step (``dh_t * o_t *
tanh'(c_t)``, large where the gradient enters and where ``f`` is small) and the spread of ``f``
over units (a mean of products is not a product of means). It is close where the forget gates
are near 1, which is where an LSTM carries its gradient far. For a GRU the same is said of the
update gate: ``h_t = (1 - z) n + z h_{t-1}``, so ``z_t`` multiplies ``dL/dh_t`` on its direct path
back to ``h_{t-1}``.
"""

from __future__ import annotations

import numpy as np

from .config import SimConfig
from .gates import GATE_NAMES
from .records import StepRecord

NO_MEAN_FIELD = (
    "gated cell: the mean-field theory here is the vanilla RNN's; along the cell path the factor "
    "per step is the forget gate (LSTM) or the update gate (GRU), see their product"
)
NO_MEAN_FIELD_SHORT = "gated cell"
# The gate on each cell's direct path back in time.
PATH_GATE = {"lstm": "forget", "gru": "update"}


def path_gate_index(cell: str) -> int:
    """Column of the path gate (:data:`PATH_GATE`) in ``StepRecord.gate_means``."""
    return GATE_NAMES[cell].index(PATH_GATE[cell])


def gate_product_decades(record: StepRecord, config: SimConfig) -> np.ndarray | None:
    """(L,) the predicted decades of each layer's cell path from step T back to step 1.

    ``sum_{t=2..T} log10 mean(gate_t)`` with the record's mean forget (LSTM) or update (GRU) gate
    per step; None for the RNN or a record without gate statistics. An approximation, see the
    module docstring.
    """
    if config.cell == "rnn" or record.gate_means is None:
        return None
    means = np.asarray(record.gate_means[:, 1:, path_gate_index(config.cell)], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sum(np.log10(means), axis=1)


def mean_path_gate(record: StepRecord, config: SimConfig) -> float:
    """The mean forget (LSTM) or update (GRU) gate over layers, steps, batch and units (NaN for
    the RNN)."""
    if config.cell == "rnn" or record.gate_means is None:
        return float("nan")
    return float(np.mean(record.gate_means[:, :, path_gate_index(config.cell)]))
