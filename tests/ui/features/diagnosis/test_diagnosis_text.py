"""The Diagnosis dock's words and numbers, from values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gradsim.engine.diagnosis_signs import Fix
from gradsim.engine.formatting import format_number
from gradsim.engine.records import NonFiniteEvent
from gradsim.ui.features.diagnosis.diagnosis_text import (
    bound_text,
    config_change_text,
    describe_start,
    format_factor,
    records_text,
    theory_line_values,
)


def test_format_factor():
    assert format_factor(0.225) == f"×{format_number(0.225)}"
    assert format_factor(None) == format_factor(math.nan) == format_factor(math.inf) == "–"


def test_describe_start_names_what_applies():
    event = NonFiniteEvent(iteration=2, quantity="hidden state", layer=0, time_step=8)
    assert describe_start(event) == "iteration 2 · layer 1 · time step 9 · hidden state"
    loss = NonFiniteEvent(iteration=7, quantity="parameter gradient", parameter="W_hh0")
    assert describe_start(loss) == "iteration 7 · parameter gradient W_hh0"


def test_config_change_text_is_the_exact_change():
    fix = Fix("relu", "Use ReLU", "Why.", {"activation": "relu", "weight_scale": 0.977})
    assert config_change_text(fix) == "activation = 'relu', weight_scale = 0.977"


def test_theory_line_is_the_anchor_times_the_factor_per_step_back():
    steps, logs = theory_line_values(-2.0, 0.1, 5)
    assert steps.tolist() == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(logs, [-6.0, -5.0, -4.0, -3.0, -2.0], rtol=1e-12)
    # Far below float64: log10 values, not underflowed zeros.
    _, deep = theory_line_values(0.0, 1e-3, 1000)
    assert deep[0] == pytest.approx(-2997.0, rel=1e-12)


def test_records_text():
    assert records_text(120, 80, 50) == "iteration 120 · 50 records"
    assert records_text(3, 1, 50, latest=3) == "iteration 3 · 1 record"
    assert records_text(3, 2, 50, latest=9) == "iteration 3 · 2 records · now 9"


def test_bound_text_decides_only_below_one():
    text = bound_text(np.array([0.2, 1.2, np.inf]), 0.25)
    assert text.splitlines() == [
        "Vanishing is certain where σmax(W_hh) × max|f′| < 1 (max|f′| = 0.25):",
        "layer 1: 0.8 × 0.25 = 0.2 (< 1, vanishes)",
        "layer 2: 4.8 × 0.25 = 1.2 (≥ 1, undecided)",
        "layer 3: not finite",
    ]
