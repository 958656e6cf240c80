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
    forward : (z, out=None) -> h, elementwise, any shape; writes into ``out`` when given
    derivative : (z, h) -> f'(z), elementwise
    max_derivative : sup over z of |f'(z)|; the bound used by the vanishing condition
    saturating : True when f' tends to 0 for large |z| (sigmoid, tanh)
    """

    name: str
    forward: Callable[..., Array]
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


def _sigmoid(z: Array, out: Array | None = None) -> Array:
    # With e = exp(-|z|) <= 1, s(z) = 1 / (1 + e) for z >= 0 and e / (1 + e) otherwise: exp never
    # overflows, and tiny values such as s(-40) = 4e-18 keep their full precision.
    e = np.exp(-np.abs(z))
    return np.divide(np.where(z >= 0, 1.0, e), 1.0 + e, out=out)


def _tanh(z: Array, out: Array | None = None) -> Array:
    return np.tanh(z, out=out)


def _relu(z: Array, out: Array | None = None) -> Array:
    return np.maximum(z, 0, out=out)


def _linear(z: Array, out: Array | None = None) -> Array:
    if out is None:
        return z.copy()
    out[...] = z
    return out


def _elu(z: Array, out: Array | None = None) -> Array:
    # expm1 of a positive z can overflow; only evaluate it where it is used.
    value = np.where(z > 0, z, np.expm1(np.minimum(z, 0)))
    if out is None:
        return value
    out[...] = value
    return out


def _sigmoid_derivative(z: Array, h: Array) -> Array:
    # s'(z) = s(z) (1 - s(z)) <= 1/4, reached at z = 0. Written as e / (1 + e)^2 with
    # e = exp(-|z|) so that deep in saturation it is e.g. 1e-20, not the 0 that 1 - s(z) gives
    # once s(z) rounds to 1: a vanishing gradient must stay measurable.
    e = np.exp(-np.abs(z))
    out = np.add(1.0, e)
    np.multiply(out, out, out=out)
    return np.divide(e, out, out=out)


def _tanh_derivative(z: Array, h: Array) -> Array:
    # tanh'(z) = 1 - tanh(z)^2 <= 1, written as 4e / (1 + e)^2 with e = exp(-2|z|), which keeps
    # full precision where tanh(z) has rounded to +-1 (|z| > 19).
    e = np.exp(-2.0 * np.abs(z))
    out = np.add(1.0, e)
    np.multiply(out, out, out=out)
    np.divide(e, out, out=out)
    out *= 4.0
    return out


def _relu_derivative(z: Array, h: Array) -> Array:
    return (z > 0).astype(z.dtype)


def _elu_derivative(z: Array, h: Array) -> Array:
    # elu'(z) = 1 for z > 0 and exp(z) = elu(z) + 1 otherwise.
    return np.where(z > 0, 1.0, h + 1.0).astype(z.dtype)


def _linear_derivative(z: Array, h: Array) -> Array:
    return np.ones_like(z)


def make_activation(name: str, leaky_slope: float = 0.01) -> Activation:
    """The activation called ``name`` (one of config.ACTIVATIONS)."""
    if name == "sigmoid":
        return Activation(name, _sigmoid, _sigmoid_derivative, 0.25, True)
    if name == "tanh":
        return Activation(name, _tanh, _tanh_derivative, 1.0, True)
    if name == "relu":
        return Activation(name, _relu, _relu_derivative, 1.0, False)
    if name == "leaky_relu":
        slope = leaky_slope

        def leaky(z: Array, out: Array | None = None) -> Array:
            value = np.where(z > 0, z, slope * z)
            if out is None:
                return value
            out[...] = value
            return out

        def leaky_derivative(z: Array, h: Array) -> Array:
            return np.where(z > 0, 1.0, slope).astype(z.dtype)

        return Activation(name, leaky, leaky_derivative, 1.0, False)
    if name == "elu":
        return Activation(name, _elu, _elu_derivative, 1.0, False)
    if name == "linear":
        return Activation(name, _linear, _linear_derivative, 1.0, False)
    raise ValueError(f"unknown activation {name!r}")
