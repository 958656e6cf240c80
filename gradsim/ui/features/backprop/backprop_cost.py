"""How long the Backprop tab's jobs would take, roughly (no Qt): the cost model that decides
whether a job runs inline or on a worker thread.

A forward pass or a run of backward cells estimated at more than :data:`INLINE_SECONDS` runs on a
background thread with a busy indicator; smaller ones run inline, so a single step stays instant.
Only the order of magnitude matters.
"""

from __future__ import annotations

# Jobs estimated to take longer than this run on a background thread (seconds).
INLINE_SECONDS = 0.05
# Rough speed of this machine for the cost estimate: numpy matrix products (flop/s) and the
# Python overhead of one backward cell and of one forward time step (s). Measured on the 2-core
# development machine; only the order of magnitude matters.
FLOPS_PER_SECOND = 1e10
SECONDS_PER_CELL = 5e-5
SECONDS_PER_FORWARD_STEP = 5e-6


def forward_seconds(num_layers: int, seq_len: int, batch: int, hidden: int) -> float:
    """Rough time of the forward pass (and the derivative maps) of such a network."""
    cells = num_layers * seq_len
    return 4.0 * cells * batch * hidden * hidden / FLOPS_PER_SECOND + cells * SECONDS_PER_FORWARD_STEP


def steps_seconds(num_layers: int, seq_len: int, batch: int, hidden: int, start: int, count: int) -> float:
    """Rough time to compute cells ``start .. start + count - 1`` (0-based backward order).

    Each cell costs one ``(B, H) x (H, H)`` product; the first cell of a lower layer and the
    very last cell also finish a layer (three ``(T*B, H)`` products for its weight gradients and
    the gradient sent below).
    """
    if count <= 0:
        return 0.0
    total = num_layers * seq_len
    end = min(start + count, total)
    layer_ends = sum(1 for o in range(max(start, 1), end) if o % seq_len == 0)
    if end == total:
        layer_ends += 1
    per_cell = 2.0 * batch * hidden * hidden / FLOPS_PER_SECOND + SECONDS_PER_CELL
    per_layer_end = 6.0 * seq_len * batch * hidden * hidden / FLOPS_PER_SECOND
    return (end - start) * per_cell + layer_ends * per_layer_end
