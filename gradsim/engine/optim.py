"""Optimisers. Each computes the update to add to every parameter, keeping its own state."""

from __future__ import annotations

import numpy as np

MOMENTUM = 0.9
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


class Optimizer:
    """SGD, SGD with momentum, or Adam, with the usual defaults.

    ``updates(grads)`` returns ``{name: delta}``; the caller adds ``delta`` to the parameter.
    """

    def __init__(self, kind: str, learning_rate: float) -> None:
        if kind not in ("sgd", "momentum", "adam"):
            raise ValueError(f"unknown optimizer {kind!r}")
        self.kind = kind
        self.learning_rate = learning_rate
        self.step_count = 0
        self._velocity: dict[str, np.ndarray] = {}
        self._second: dict[str, np.ndarray] = {}

    def updates(self, grads: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The update for every parameter given its (already clipped) gradient."""
        self.step_count += 1
        lr = self.learning_rate
        if self.kind == "sgd":
            return {name: -lr * g for name, g in grads.items()}
        if self.kind == "momentum":
            out = {}
            for name, g in grads.items():
                velocity = self._velocity.get(name)
                velocity = g.copy() if velocity is None else MOMENTUM * velocity + g
                self._velocity[name] = velocity
                out[name] = -lr * velocity
            return out
        beta1, beta2 = ADAM_BETAS
        correction1 = 1.0 - beta1**self.step_count
        correction2 = 1.0 - beta2**self.step_count
        out = {}
        for name, g in grads.items():
            first = self._velocity.get(name, np.zeros_like(g))
            second = self._second.get(name, np.zeros_like(g))
            first = beta1 * first + (1.0 - beta1) * g
            second = beta2 * second + (1.0 - beta2) * (g * g)
            self._velocity[name], self._second[name] = first, second
            out[name] = (-lr * (first / correction1) / (np.sqrt(second / correction2) + ADAM_EPS)).astype(
                g.dtype
            )
        return out
