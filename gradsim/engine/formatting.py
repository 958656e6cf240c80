"""Every number gradsim puts into a sentence, turned into text in one place.

:func:`format_number` writes a value (a loss, a norm, a factor, an update:data ratio) for the
diagnosis, the lessons, the panels and the status bar. :func:`format_ratio` and
:func:`format_factor` write a gradient ratio and its per-step (or per-layer) factor from the
ratio's log10, so that a ratio far below the smallest float (1e-607) is still written, and so
that the quoted factor raised to the quoted number of steps gives back the quoted ratio. All
three write three significant digits, plainly between 0.01 and 1000 and as ``3.16e-05``
outside. :func:`format_percent` writes a fraction, :func:`format_bytes` a size.
"""

from __future__ import annotations

import math

# A quoted factor raised to its number of steps lands within this fraction of the exact ratio.
FACTOR_TOLERANCE = 0.01
# At least this many significant digits for a factor; more only where the steps demand it.
FACTOR_MIN_DIGITS = 3
RATIO_DIGITS = 3


def format_number(value: float, digits: int = RATIO_DIGITS) -> str:
    """``value`` with ``digits`` significant digits: ``0.471``, ``12.3``, ``-3.16e-05``, ``2.50e+06``.

    Written as :func:`format_ratio` writes ``10**log10(|value|)``, so a number and a ratio read
    alike; ``0``, ``inf``, ``-inf`` and ``NaN`` are spelt out.
    """
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    return sign + format_ratio(math.log10(abs(value)), digits)


def format_percent(fraction: float) -> str:
    """A fraction as a whole percentage: ``0.4321`` -> ``"43%"``.

    Never rounds a part to nothing or to everything: ``"<1%"`` for a fraction that is not 0 but
    would show as 0%, ``">99%"`` for one below 1 that would show as 100%.
    """
    if not math.isfinite(fraction):
        return format_number(fraction)
    text = f"{100 * fraction:.0f}%"
    if text == "0%" and fraction > 0:
        return "<1%"
    if text == "100%" and fraction < 1:
        return ">99%"
    return text


def format_bytes(size: int) -> str:
    """``size`` bytes in words, in powers of 1024: ``"512 bytes"``, ``"1.5 MiB"``, ``"3.0 GiB"``."""
    if size < 1024:
        return f"{size} bytes"
    for unit, power in (("KiB", 10), ("MiB", 20), ("GiB", 30), ("TiB", 40)):
        if size < 1 << (power + 10) or unit == "TiB":
            return f"{size / (1 << power):.1f} {unit}"
    raise AssertionError("unreachable")


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
