"""The one number formatter: values, percentages and sizes as every part of gradsim writes them.

(:func:`format_ratio` and :func:`format_factor`, written from a log10, are tested in test_numerics.py.)
"""

from __future__ import annotations

import math

import pytest

from gradsim.engine.formatting import format_bytes, format_number, format_percent, format_ratio


def test_numbers_have_three_significant_digits_and_spell_out_the_special_values() -> None:
    values = (0.0, 3.2e-12, 0.4712, 12.345, 999.4, 2.5e6, -0.031, math.inf, -math.inf, math.nan)
    assert [format_number(v) for v in values] == [
        "0", "3.20e-12", "0.471", "12.3", "999", "2.50e+06", "-0.031", "inf", "-inf", "NaN",
    ]  # fmt: skip
    assert format_number(0.4712, digits=2) == "0.47"


@pytest.mark.parametrize("value", [1e-300, 7.7e-5, 0.01, 0.5, 1.0, 42.0, 999.96, 1e4, 6.02e23])
def test_a_number_reads_as_the_ratio_of_its_log(value: float) -> None:
    # The badge writes a ratio from its log10; a panel writing the same value must agree.
    assert format_number(value) == format_ratio(math.log10(value))
    assert format_number(-value) == "-" + format_ratio(math.log10(value))


def test_percentages() -> None:
    # A part never shows as none or all of it.
    assert [format_percent(v) for v in (0.0, 0.001, 0.005, 0.0051, 0.4321, 0.995, 0.9951, 1.0)] == [
        "0%", "<1%", "<1%", "1%", "43%", ">99%", ">99%", "100%",
    ]  # fmt: skip
    assert format_percent(math.nan) == "NaN"


def test_sizes_in_powers_of_1024() -> None:
    sizes = (0, 1023, 1024, 1536 << 10, 5 << 30, 3 << 40, 5000 << 40)
    assert [format_bytes(n) for n in sizes] == [
        "0 bytes", "1023 bytes", "1.0 KiB", "1.5 MiB", "5.0 GiB", "3.0 TiB", "5000.0 TiB",
    ]  # fmt: skip
