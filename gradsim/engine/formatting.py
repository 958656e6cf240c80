"""Every number gradsim puts into a sentence, turned into text in one place.

:func:`format_number` is the short form of the diagnosis and its panel. :func:`format_ratio`
and :func:`format_factor` write a gradient ratio and its per-step (or per-layer) factor from
the ratio's log10, so that a ratio far below the smallest float (1e-607) is still written, and
so that the quoted factor raised to the quoted number of steps gives back the quoted ratio.
"""

from __future__ import annotations

import math

# A quoted factor raised to its number of steps lands within this fraction of the exact ratio.
FACTOR_TOLERANCE = 0.01
# At least this many significant digits for a factor; more only where the steps demand it.
FACTOR_MIN_DIGITS = 3
RATIO_DIGITS = 3


def format_number(value: float) -> str:
    """A ratio in the verdict's short form: 0.76, 12, 3e-12, 4e+15 (the panel uses it too)."""
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    if 0.01 <= abs(value) < 1000:
        return f"{value:.2g}" if abs(value) < 10 else f"{value:.0f}"
    return f"{value:.0e}"


def _mantissa_exponent(decades: float, digits: int) -> tuple[float, int]:
    """``10**decades`` as (mantissa in [1, 10) rounded to ``digits``, exponent), from the log."""
    exponent = math.floor(decades)
    mantissa = round(10.0 ** (decades - exponent), digits - 1)
    if mantissa >= 10.0:  # 9.996 rounds up to 10.0: carry into the exponent
        mantissa, exponent = mantissa / 10.0, exponent + 1
    return mantissa, exponent


def format_ratio(decades: float, digits: int = RATIO_DIGITS) -> str:
    """``10**decades`` with ``digits`` significant digits: ``0.312``, ``45.2``, ``3.42e-07``.

    Written from the log10 so that any magnitude works (``decades = -607.3`` gives
    ``5.01e-608``); ``-inf`` is ``0`` (a gradient that is exactly zero), ``+inf`` is ``inf``,
    NaN is ``NaN``.
    """
    if math.isnan(decades):
        return "NaN"
    if decades == -math.inf:
        return "0"
    if decades == math.inf:
        return "inf"
    if -2.0 <= decades < 3.0:
        value = 10.0**decades
        text = f"{value:.{digits}g}"
        if "e" not in text:
            return text
    mantissa, exponent = _mantissa_exponent(decades, digits)
    sign = "-" if exponent < 0 else "+"
    return f"{mantissa:.{digits - 1}f}e{sign}{abs(exponent):02d}"


def factor_digits(decades: float, steps: int) -> int:
    """Significant digits for the factor ``10**(decades/steps)`` so that it multiplies out.

    The fewest digits (at least :data:`FACTOR_MIN_DIGITS`) for which the rounded factor raised to
    ``steps`` is within :data:`FACTOR_TOLERANCE` of ``10**decades``: a factor quoted over 999
    steps needs more digits than one quoted over 9.
    """
    if steps < 1 or not math.isfinite(decades):
        return FACTOR_MIN_DIGITS
    per_step = decades / steps
    allowed = math.log10(1.0 + FACTOR_TOLERANCE)
    for digits in range(FACTOR_MIN_DIGITS, 16):
        # Rounded in mantissa/exponent form, so factors beyond the float range work too.
        mantissa, exponent = _mantissa_exponent(per_step, digits)
        if abs(steps * (math.log10(mantissa) + exponent) - decades) <= allowed:
            return digits
    return 16


def format_factor(decades: float, steps: int) -> str:
    """The per-step factor ``10**(decades/steps)`` of a ratio of ``10**decades`` over ``steps``.

    ``0`` for a gradient that is exactly zero, ``NaN`` if there is no ratio or no step.
    Digits from :func:`factor_digits`.
    """
    if steps < 1 or math.isnan(decades):
        return "NaN"
    if decades == -math.inf:
        return "0"
    if decades == math.inf:
        return "inf"
    digits = factor_digits(decades, steps)
    per_step = decades / steps
    if -4.0 <= per_step < 6.0:
        return f"{10.0**per_step:.{digits}g}"
    return format_ratio(per_step, digits)
