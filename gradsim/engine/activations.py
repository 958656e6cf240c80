"""Activation functions, each with its derivative written next to it.

The derivative is expressed in terms of the pre-activation ``z`` (and, where cheaper, the output
``h = f(z)``), so the backward pass never recomputes the forward.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Array = np.ndarray


@dataclass(frozen=True)
class Activation:
    """An activation function ``h = f(z)`` and its derivative.

    Attributes
    ----------
    name : config name
    forward : z -> h, elementwise, any shape
    derivative : (z, h) -> f'(z), elementwise
    max_derivative : sup over z of |f'(z)|; the bound used by the vanishing condition
    saturating : True when f' tends to 0 for large |z| (sigmoid, tanh)
    """

    name: str
    forward: Callable[[Array], Array]
    derivative: Callable[[Array, Array], Array]
    max_derivative: float
    saturating: bool

    def saturated(self, derivative: Array) -> Array:
        """Boolean mask of saturated units: derivative below 5% of its maximum.

        For ReLU (and other piecewise-linear units) that means exactly zero.
        """
        if self.name in ("relu", "leaky_relu", "linear"):
            return derivative == 0
        return derivative < 0.05 * self.max_derivative


def _sigmoid(z: Array) -> Array:
    # Split by sign so exp never overflows: for z < 0 use exp(z) / (1 + exp(z)).
    out = np.empty_like(z)
    positive = z >= 0
    out[positive] = 1.0 / (1.0 + np.exp(-z[positive]))
    exp_z = np.exp(z[~positive])
    out[~positive] = exp_z / (1.0 + exp_z)
    return out


def _elu(z: Array) -> Array:
    # expm1 of a positive z can overflow; only evaluate it where it is used.
    return np.where(z > 0, z, np.expm1(np.minimum(z, 0)))


def make_activation(name: str, leaky_slope: float = 0.01) -> Activation:
    """The activation called ``name`` (one of config.ACTIVATIONS)."""
    if name == "sigmoid":
        # s'(z) = s(z) (1 - s(z)) <= 1/4, reached at z = 0.
        return Activation(name, _sigmoid, lambda z, h: h * (1.0 - h), 0.25, True)
    if name == "tanh":
        # tanh'(z) = 1 - tanh(z)^2 <= 1.
        return Activation(name, np.tanh, lambda z, h: 1.0 - h * h, 1.0, True)
    if name == "relu":
        return Activation(
            name,
            lambda z: np.maximum(z, 0),
            lambda z, h: (z > 0).astype(z.dtype),
            1.0,
            False,
        )
    if name == "leaky_relu":
        slope = leaky_slope
        return Activation(
            name,
            lambda z: np.where(z > 0, z, slope * z),
            lambda z, h: np.where(z > 0, 1.0, slope).astype(z.dtype),
            1.0,
            False,
        )
    if name == "elu":
        # elu'(z) = 1 for z > 0, exp(z) = elu(z) + 1 otherwise.
        return Activation(name, _elu, lambda z, h: np.where(z > 0, 1.0, h + 1.0).astype(z.dtype), 1.0, False)
    if name == "linear":
        return Activation(name, lambda z: z.copy(), lambda z, h: np.ones_like(z), 1.0, False)
    raise ValueError(f"unknown activation {name!r}")
