"""What each control shows and allows, without a widget: a label and tooltip for every config
field and every choice the engine offers, the spin boxes' ranges, and the 1-2-5 ladder."""

from __future__ import annotations

import dataclasses

import pytest

from gradsim.engine.config import CHOICES, SimConfig
from gradsim.ui.training.control_fields import CHOICE_LABELS, FIELD_HELP, float_bounds, step_125


def test_every_field_and_every_choice_has_a_label_and_a_tooltip():
    assert set(FIELD_HELP) == {field.name for field in dataclasses.fields(SimConfig)}
    assert all(label and tip for label, tip in FIELD_HELP.values())
    assert set(CHOICE_LABELS) == set(CHOICES)
    for name, choices in CHOICES.items():
        assert set(CHOICE_LABELS[name]) == set(choices), name
        assert all(label and tip for label, tip in CHOICE_LABELS[name].values()), name


def test_float_bounds_close_an_open_lower_bound_at_the_smallest_positive_value():
    assert float_bounds("learning_rate", 1e-9) == (1e-9, 100.0)  # (0, 100]: 0 is not offered
    assert float_bounds("weight_scale", 0.001) == (0.001, 100.0)
    assert float_bounds("leaky_slope", 0.5) == (0.0, 1.0)  # [0, 1]: 0 is a valid slope
    with pytest.raises(KeyError):
        float_bounds("hidden_size", 1.0)  # an int field: no float range


def test_step_125_walks_the_decades():
    assert step_125(0.01, 1) == 0.02
    assert step_125(0.02, 1) == 0.05
    assert step_125(0.05, 1) == 0.1
    assert step_125(0.1, -1) == 0.05
    assert step_125(0.01, 3) == 0.1
    assert step_125(0.001, -4) == 0.00005
    # Between two entries: the first step goes to the neighbour in that direction.
    assert step_125(0.03, 1) == 0.05
    assert step_125(0.03, -1) == 0.02
    # Larger steps, and values a step may not move.
    assert step_125(5.0, 2) == 20.0
    assert step_125(0.0, 1) == 0.0 and step_125(-1.0, 1) == -1.0 and step_125(0.3, 0) == 0.3
