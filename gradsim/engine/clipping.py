"""Gradient clipping: by global norm or element-wise by value."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .numerics import safe_norm


@dataclass(frozen=True)
class ClipResult:
    """Outcome of clipping: the gradients to apply and what clipping did."""

    grads: dict[str, np.ndarray]
    norm_before: float
    norm_after: float
    clipped: bool


def global_norm(grads: dict[str, np.ndarray], norms: dict[str, float] | None = None) -> float:
    """Norm of all gradients taken together as one vector, without underflow.

    ``norms``: ``safe_norm`` of each gradient if the caller has them already (same result).
    """
    if not grads:
        return 0.0
    if norms is None:
        return safe_norm(np.array([safe_norm(g) for g in grads.values()]))
    return safe_norm(np.array([norms[name] for name in grads]))


def clip_gradients(
    grads: dict[str, np.ndarray], mode: str, threshold: float, norms: dict[str, float] | None = None
) -> ClipResult:
    """Clip ``grads`` (not modified) by ``mode``: ``none``, ``norm`` or ``value``.

    norm: if the global norm exceeds ``threshold``, every gradient is multiplied by
    ``threshold / global norm``: the direction is kept and the new global norm is the threshold.
    (PyTorch's ``clip_grad_norm_`` multiplies by ``threshold / (global norm + 1e-6)``, which
    lands a hair below the threshold; gradsim lands on it.)
    value: every element is limited to ``[-threshold, threshold]``; the direction may change.
    ``norms``: ``safe_norm`` of each gradient if already computed, to skip computing them again.
    """
    before = global_norm(grads, norms)
    if mode == "none" or not np.isfinite(before):
        return ClipResult(grads, before, before, False)
    if mode == "norm":
        if before <= threshold:
            return ClipResult(grads, before, before, False)
        factor = threshold / before
        clipped = {name: g * np.asarray(factor, dtype=g.dtype) for name, g in grads.items()}
        return ClipResult(clipped, before, global_norm(clipped), True)
    if mode == "value":
        acted = any(bool(np.any(np.abs(g) > threshold)) for g in grads.values())
        if not acted:
            return ClipResult(grads, before, before, False)
        clipped = {name: np.clip(g, -threshold, threshold) for name, g in grads.items()}
        return ClipResult(clipped, before, global_norm(clipped), True)
    raise ValueError(f"unknown clip mode {mode!r}")
