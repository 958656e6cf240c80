"""Activation functions, each with its derivative written next to it.

The derivative is expressed in terms of the pre-activation ``z`` (and, where cheaper, the output
``h = f(z)``), so the backward pass never recomputes the forward. Forward and derivative accept
``out=`` (and the derivative a ``scratch`` array of ``z``'s shape and dtype for its
intermediate): the engine passes buffers it reuses from one training step to the next, since a
fresh ``(T, B, H)`` array costs a page fault per 4 KiB on first touch. With or without them the
numbers are the same, bit for bit: the same operations run in the same order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Array = np.ndarray


def _constant(value: float, dtype: type = np.float64) -> Array:
    array: Array = np.array(value, dtype=dtype)
    array.flags.writeable = False
    return array


# The constants of the time loops' passes, as read-only 0-d arrays: numpy converts a Python float
# operand on every ufunc call (about 0.25 us a call here, a few calls a step), a 0-d array of the
# operands' dtype not at all. The same bits: the float is converted to the same float64.
ONE, TWO, FOUR, MINUS_TWO = (_constant(value) for value in (1.0, 2.0, 4.0, -2.0))
# 1 in each dtype (a float64 0-d array would make a float32 pass compute in float64)
UNIT = {np.dtype(np.float64): ONE, np.dtype(np.float32): _constant(1.0, np.float32)}


@dataclass(frozen=True)
class Activation:
    """An activation function ``h = f(z)`` and its derivative.

    Attributes
    ----------
    name : config name
    forward : (z, out=None, scratch=None) -> h, elementwise, any shape; writes into ``out`` when
        given; with ``scratch`` too (z's shape and dtype; overwritten) tanh runs :func:`tanh_`;
        where ``fuses_derivative``, ``derivative=`` (an array of z's shape, with ``out`` and
        ``scratch``, ``out`` not ``z``) also receives ``f'(z)``, the bits of ``derivative(z, h)``
    derivative : (z, h, out=None, scratch=None) -> f'(z), elementwise; writes into ``out`` when
        given, and uses ``scratch`` (z's shape and dtype; overwritten) instead of a temporary
    max_derivative : sup over z of |f'(z)|; the bound used by the vanishing condition
    saturating : True when f' tends to 0 for large |z| (sigmoid, tanh)
    fuses_derivative : True when ``forward`` takes ``derivative=`` and that is cheaper in float64
        than a separate pass (tanh: :func:`tanh_` reuses the forward's ``exp``)
    """

    name: str
    forward: Callable[..., Array]
    derivative: Callable[..., Array]
    max_derivative: float
    saturating: bool
    fuses_derivative: bool = False

    def derivative_in_forward(self, dtype: np.dtype | str, values: int) -> bool:
        """Whether the forward pass takes the derivative from ``forward(..., derivative=)`` for
        steps of ``values`` numbers (``B H``) of ``dtype``, rather than from a separate pass over
        all steps: where tanh takes the one-exp kernel (:func:`one_exp_tanh`), which then saves
        an ``exp`` a value."""
        return self.fuses_derivative and one_exp_tanh(dtype, values)

    def saturated(self, derivative: Array, out: Array | None = None) -> Array:
        """Boolean mask of saturated units: derivative below 5% of its maximum.

        For ReLU (and other piecewise-linear units) that means exactly zero. ``out``: a boolean
        array of ``derivative``'s shape to write the mask into.
        """
        if self.name in ("relu", "leaky_relu", "linear"):
            return np.equal(derivative, 0, out=out)
        return np.less(derivative, 0.05 * self.max_derivative, out=out)

    def saturated_fraction(
        self,
        derivative: Array,
        mask: Array | None = None,
        preactivation: Array | None = None,
        finite: bool | None = None,
    ) -> float:
        """Fraction of saturated units in ``derivative`` (see :meth:`saturated`), of all units.

        A count divided by the size, without converting the mask to floats (bit for bit
        ``saturated(derivative).mean()`` when everything is finite). ``mask``: a boolean
        scratch array of ``derivative``'s shape. With ``preactivation`` (same shape), units
        whose pre-activation or derivative is not finite are not counted as saturated: they
        are their own category (:meth:`nonfinite_fraction`), so saturated + non-finite +
        healthy = 1. (A ReLU of NaN has derivative 0 and a tanh of inf derivative 0: without
        the pre-activation those would read "switched off" / "saturated".) ``finite``: what
        :func:`all_finite` said of the two arrays, when the caller knows it already.
        """
        saturated = np.count_nonzero(self.saturated(derivative, out=mask))
        if finite is None and preactivation is not None:
            finite = all_finite(preactivation, derivative)
        if preactivation is not None and not finite:
            bad = ~np.isfinite(preactivation) | ~np.isfinite(derivative)
            saturated -= int(np.count_nonzero(self.saturated(derivative) & bad))
        return saturated / derivative.size

    def nonfinite_fraction(
        self, derivative: Array, preactivation: Array, finite: bool | None = None
    ) -> float:
        """Fraction of units whose pre-activation or derivative is inf or NaN (of all units).

        ``finite``: what :func:`all_finite` said of the two arrays, when the caller knows it.
        """
        if all_finite(preactivation, derivative) if finite is None else finite:
            return 0.0
        bad = ~np.isfinite(preactivation) | ~np.isfinite(derivative)
        return np.count_nonzero(bad) / derivative.size


def all_finite(*arrays: Array) -> bool:
    """True if every entry is finite: one sum per array in the usual case, a scan otherwise.

    A finite sum means finite terms (inf or NaN would propagate); a sum that overflows is
    checked entry by entry.
    """
    with np.errstate(all="ignore"):
        for array in arrays:
            if not np.isfinite(np.sum(array)) and not np.all(np.isfinite(array)):
                return False
    return True


def _sigmoid(z: Array, out: Array | None = None, scratch: Array | None = None) -> Array:
    # With e = exp(-|z|) <= 1, s(z) = 1 / (1 + e) for z >= 0 and e / (1 + e) otherwise: exp never
    # overflows, and tiny values such as s(-40) = 4e-18 keep their full precision.
    e = np.exp(-np.abs(z))
    return np.divide(np.where(z >= 0, 1.0, e), 1.0 + e, out=out)


def _vectorised_float64_tanh() -> bool:
    """Whether numpy runs float64 ``tanh`` as SIMD code on this CPU (its AVX-512 loops).

    Read from numpy's own report of the loop it dispatched (``numpy.lib.introspect``, numpy
    2.0 on): AVX-512 loops compute ``tanh`` in about 1.7 ns a value and ``exp`` in 0.9 on this
    machine, where the AVX2 and baseline loops fall back to libm's scalar code (6.7 and 4.7 ns
    with AVX-512 switched off by ``NPY_DISABLE_CPU_FEATURES``; 14 and 5 on an earlier machine).
    Anything unexpected (an older numpy, another CPU family) reads as not vectorised, the
    choice tuned for scalar libm.
    """
    try:
        from numpy.lib.introspect import opt_func_info

        loops = opt_func_info(func_name="^tanh$", signature="float64")["tanh"]
        current = str(next(iter(loops.values()))["current"])
    except Exception:  # noqa: BLE001 - any failure means: do as for scalar libm
        return False
    return current.startswith(("X86_V4", "AVX512"))


# Fixed when gradsim is imported, so that a process always computes the same bits.
VECTORISED_FLOAT64_TANH = _vectorised_float64_tanh()
# Steps of fewer values than this (B x H) take numpy's tanh even where it is libm's scalar code:
# the one-exp kernels' ten-odd passes cost more in per-call overhead than they save. Measured per
# step of T = 100, the derivative's separate pass included (numpy's tanh against tanh_ with its
# derivative), AVX-512 off: 1.3 against 6.3 us at 64 values, 3.5 against 7.6 at 256, 12.6
# against 13.7 at 1024, 24.9 against 22.4 at 2048, 51 against 40 at 4096.
ONE_EXP_FROM = 1024


def one_exp_tanh(dtype: np.dtype | str, values: int) -> bool:
    """Whether a time step's ``tanh`` over ``values`` numbers of ``dtype`` takes the one-exp
    kernels (:func:`tanh_`, :func:`tanh_expm1_`) rather than numpy's ``tanh``: float64 where
    numpy's is scalar libm code (:data:`VECTORISED_FLOAT64_TANH`) and steps of at least
    :data:`ONE_EXP_FROM` values. The two differ by a few ulp; a process makes the same choice for
    the same sizes every time."""
    # the cheap tests first: this runs at every time step
    return not VECTORISED_FLOAT64_TANH and values >= ONE_EXP_FROM and np.dtype(dtype) == np.float64


def step_tanh(z: Array, out: Array, scratch: Array, clip: bool = True) -> Array:
    """A gated cell's ``tanh`` of one step into ``out``: :func:`tanh_expm1_` (``clip`` as there)
    where :func:`one_exp_tanh` says so, else numpy's ``tanh``."""
    if one_exp_tanh(z.dtype, z.size):
        return tanh_expm1_(z, out, scratch, clip=clip)
    return np.tanh(z, out=out)


# Below this |z| the one-exp formula of :func:`tanh_` cancels and the entry takes libm's tanh;
# when more than TANH_EXPM1_SHARE of an array's entries are that near 0, the array takes
# :func:`tanh_expm1_` instead.
TANH_NEAR_ZERO = 2.0**-5
TANH_EXPM1_SHARE = 1 / 8
# tanh(z) rounds to +-1 in float64 from |z| = 19.06 on; tanh_expm1_ clips -2z here so that expm1
# never overflows.
TANH_CLIP = 40.0
_TANH_CLIP = _constant(TANH_CLIP)
# -2z needs no clip while z >= -354 (expm1 overflows above 709.78): an LSTM's cell state, for one.
TANH_UNCLIPPED_BOUND = 354.0


def tanh_(z: Array, out: Array, scratch: Array, derivative: Array | None = None) -> Array:
    """``tanh(z)`` into ``out`` from one ``exp``, within 64 ulp of numpy's ``tanh``.

    numpy's float64 ``tanh`` is scalar libm code on CPUs without AVX-512 (about 14 ns a value
    here) and the largest elementwise cost of a training step. With ``e = exp(-2|z|)`` in
    ``(0, 1]`` (never overflowing), ``tanh(|z|) = 2 / (1 + e) - 1``, given the sign of ``z``: for
    ``|z| >= 2**-5`` (:data:`TANH_NEAR_ZERO`) the two roundings of ``1 + e`` and the division cost
    at most a few ulp of 1 (49 ulp at most over 4 million normal draws). Nearer 0 the subtraction
    would cancel (relative error ``~1e-16 / |z|``), so those entries take libm's ``tanh``: a
    gather and a scatter, about 16 ns an entry. When more than 1 in 8 entries
    (:data:`TANH_EXPM1_SHARE`) are that near 0 the whole array takes :func:`tanh_expm1_`, cheaper
    there (an RNN's pre-activations on (32, 128) steps, this formula against expm1: 43 against
    62 us with gaussian weights of scale 1, 4% near 0; 57 against 31 at scale 0.5, 23% near 0).
    inf, -inf, NaN, -0.0 and subnormals come out as from ``np.tanh``.

    ``derivative`` (``z``'s shape; ``out`` must then not be ``z``): ``tanh'(z)`` goes there too,
    with the bits of the tanh activation's derivative (``4e / (1 + e)^2``, every entry). On the
    one-exp path it takes ``e`` and ``1 + e`` from the forward instead of a second ``exp`` over
    the same values: a step of the RNN's forward costs three cheap passes more and the separate
    derivative pass over ``(T, B, H)`` (one ``exp``, about 5 ns a value, and four passes) is
    gone. On the other paths (expm1, libm) the derivative is computed on its own first.

    ``z``, ``out`` and ``scratch`` (float64, ``z``'s shape) are C-contiguous; otherwise, and for
    float32, whose ``tanh`` numpy vectorises (about 3 ns a value), this is ``np.tanh``. ``out``
    may be ``z`` (without ``derivative``). Deterministic: the same ``z`` gives the same bits.
    """
    contiguous = z.dtype == np.float64 and (
        z.flags.c_contiguous and out.flags.c_contiguous and scratch.flags.c_contiguous
    )
    many_near_zero = False
    if contiguous:
        flat_z, flat_out = z.reshape(-1), out.reshape(-1)
        np.abs(z, out=scratch)
        small = (scratch.reshape(-1) < TANH_NEAR_ZERO).nonzero()[0]
        many_near_zero = small.size > TANH_EXPM1_SHARE * z.size
    if not contiguous or many_near_zero:
        if derivative is not None:
            _tanh_derivative(z, out, out=derivative, scratch=scratch)  # reads z only
        return tanh_expm1_(z, out, scratch) if many_near_zero else np.tanh(z, out=out)
    near_zero = np.tanh(flat_z[small])  # before out (which may be z) is written
    scratch *= MINUS_TWO
    np.exp(scratch, out=scratch)  # e
    # 2 / (1 + e) - 1 through scratch, or, when the derivative keeps e and 1 + e, through it and out
    ones, value = (scratch, scratch) if derivative is None else (derivative, out)
    np.add(ONE, scratch, out=ones)
    np.divide(TWO, ones, out=value)
    value -= ONE
    np.copysign(value, z, out=out)
    flat_out[small] = near_zero
    if derivative is not None:
        np.multiply(derivative, derivative, out=derivative)
        np.divide(scratch, derivative, out=derivative)
        derivative *= FOUR
    return out


def tanh_expm1_(z: Array, out: Array, scratch: Array, clip: bool = True) -> Array:
    """``tanh(z)`` into ``out`` from one ``expm1``, within 4 ulp of numpy's ``tanh``.

    With ``m = expm1(-2z)``, ``tanh(z) = -m / (2 + m) = m / (-2 - m)``: ``expm1`` is accurate to
    an ulp at every argument and ``2 + m`` never cancels (near 0, ``m`` is ``-2z`` to full
    relative precision), so the result is within 3 ulp everywhere (4 million draws over 34
    decades). Five passes and no branch on the data. libm's ``expm1`` costs about 4 ns a value
    near 0 and 7-11 ns elsewhere (``exp`` 5): cheaper than :func:`tanh_`'s hand-over when many
    entries lie near 0, as in the gated cells, which call this directly (on (32, 128) steps of a
    forward pass: LSTM cell states and candidates, 17-72% of them within 2**-5 of 0, 25-31
    against 50-88 us; a GRU candidate at 9%, 39 against 49). ``-2z`` is clipped at
    :data:`TANH_CLIP` (``z >= -20``, where ``tanh`` rounds to -1) so that ``expm1`` never
    overflows; inf, -inf, NaN, -0.0 and subnormals come out as from ``np.tanh``.

    ``clip=False`` leaves the clip out (one pass less) for a caller that knows ``z >= -354``
    (:data:`TANH_UNCLIPPED_BOUND`) or NaN everywhere it is not: the clip changes no value there,
    since ``tanh`` rounds to -1 from ``z = -19.06`` on either way.

    float64 (float32 is ``np.tanh``, vectorised), any layout; ``out`` may be ``z``.
    """
    if z.dtype != np.float64:
        return np.tanh(z, out=out)
    np.multiply(z, MINUS_TWO, out=scratch)
    if clip:
        np.minimum(scratch, _TANH_CLIP, out=scratch)
    np.expm1(scratch, out=scratch)
    np.subtract(MINUS_TWO, scratch, out=out)
    np.divide(scratch, out, out=out)
    return out


def _tanh(
    z: Array, out: Array | None = None, scratch: Array | None = None, derivative: Array | None = None
) -> Array:
    # tanh_ where one_exp_tanh says so (its derivative from the same exp), else numpy's tanh
    # (and the derivative, if asked for, on its own first: it reads z only).
    if out is None or scratch is None:
        if derivative is not None:
            raise ValueError("tanh's derivative= needs out= and scratch=")
        return np.tanh(z, out=out)
    if one_exp_tanh(z.dtype, z.size):
        return tanh_(z, out, scratch, derivative)
    if derivative is not None:
        _tanh_derivative(z, out, out=derivative, scratch=scratch)
    return np.tanh(z, out=out)


def _relu(z: Array, out: Array | None = None, scratch: Array | None = None) -> Array:
    return np.maximum(z, 0, out=out)


def _linear(z: Array, out: Array | None = None, scratch: Array | None = None) -> Array:
    if out is None:
        return z.copy()
    out[...] = z
    return out


def _elu(z: Array, out: Array | None = None, scratch: Array | None = None) -> Array:
    # expm1 of a positive z can overflow; only evaluate it where it is used.
    value = np.where(z > 0, z, np.expm1(np.minimum(z, 0)))
    if out is None:
        return value
    out[...] = value
    return out


def _sigmoid_derivative(z: Array, h: Array, out: Array | None = None, scratch: Array | None = None) -> Array:
    # s'(z) = s(z) (1 - s(z)) <= 1/4, reached at z = 0. Written as e / (1 + e)^2 with
    # e = exp(-|z|) so that deep in saturation it is e.g. 1e-20, not the 0 that 1 - s(z) gives
    # once s(z) rounds to 1: a vanishing gradient must stay measurable.
    e = np.abs(z, out=scratch)
    np.negative(e, out=e)
    np.exp(e, out=e)
    out = np.add(1.0, e, out=out)
    np.multiply(out, out, out=out)
    return np.divide(e, out, out=out)


def _tanh_derivative(z: Array, h: Array, out: Array | None = None, scratch: Array | None = None) -> Array:
    # tanh'(z) = 1 - tanh(z)^2 <= 1, written as 4e / (1 + e)^2 with e = exp(-2|z|), which keeps
    # full precision where tanh(z) has rounded to +-1 (|z| > 19).
    e = np.abs(z, out=scratch)
    e *= -2.0
    np.exp(e, out=e)
    out = np.add(1.0, e, out=out)
    np.multiply(out, out, out=out)
    np.divide(e, out, out=out)
    out *= 4.0
    return out


def _relu_derivative(z: Array, h: Array, out: Array | None = None, scratch: Array | None = None) -> Array:
    if out is None:
        return (z > 0).astype(z.dtype)
    return np.greater(z, 0, out=out)  # the comparison's True/False cast to 1.0/0.0


def _elu_derivative(z: Array, h: Array, out: Array | None = None, scratch: Array | None = None) -> Array:
    # elu'(z) = 1 for z > 0 and exp(z) = elu(z) + 1 otherwise.
    if out is None:
        return np.where(z > 0, 1.0, h + 1.0).astype(z.dtype)
    np.add(h, 1.0, out=out)
    np.copyto(out, 1.0, where=z > 0)
    return out


def _linear_derivative(z: Array, h: Array, out: Array | None = None, scratch: Array | None = None) -> Array:
    if out is None:
        return np.ones_like(z)
    out.fill(1)
    return out


def make_activation(name: str, leaky_slope: float = 0.01) -> Activation:
    """The activation called ``name`` (one of config.ACTIVATIONS)."""
    if name == "sigmoid":
        return Activation(name, _sigmoid, _sigmoid_derivative, 0.25, True)
    if name == "tanh":
        return Activation(name, _tanh, _tanh_derivative, 1.0, True, fuses_derivative=True)
    if name == "relu":
        return Activation(name, _relu, _relu_derivative, 1.0, False)
    if name == "leaky_relu":
        slope = leaky_slope

        def leaky(z: Array, out: Array | None = None, scratch: Array | None = None) -> Array:
            value = np.where(z > 0, z, slope * z)
            if out is None:
                return value
            out[...] = value
            return out

        def leaky_derivative(
            z: Array, h: Array, out: Array | None = None, scratch: Array | None = None
        ) -> Array:
            if out is None:
                return np.where(z > 0, 1.0, slope).astype(z.dtype)
            out.fill(slope)
            np.copyto(out, 1.0, where=z > 0)
            return out

        return Activation(name, leaky, leaky_derivative, 1.0, False)
    if name == "elu":
        return Activation(name, _elu, _elu_derivative, 1.0, False)
    if name == "linear":
        return Activation(name, _linear, _linear_derivative, 1.0, False)
    raise ValueError(f"unknown activation {name!r}")
