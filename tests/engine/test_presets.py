"""Every preset shows what its name says, measured on the engine."""

from __future__ import annotations

import numpy as np
import pytest

from gradsim.engine.config import ConfigError
from gradsim.engine.presets import REGIMES, get_preset, list_presets, load_preset
from gradsim.engine.regime import classify, end_to_end_decades
from gradsim.engine.simulation import Simulation

PRESETS = {preset.name: preset for preset in list_presets()}


def run(name: str, iterations: int) -> list:
    simulation = Simulation(load_preset(name))
    records = []
    for _ in range(iterations):
        record = simulation.train_step()
        if record is None:
            break
        records.append(record)
    return records


def test_presets_cover_the_issue():
    names = set(PRESETS)
    assert {"default", "vanishing-sigmoid", "vanishing-tanh-small", "exploding-large-weights"} <= names
    fixes = {name for name in names if name.startswith("fix-")}
    assert {"fix-fewer-steps", "fix-orthogonal-init", "fix-he-init", "fix-leaky-relu"} <= fixes
    assert {"fix-batch-norm", "fix-clipping"} <= fixes
    for preset in PRESETS.values():
        assert preset.expect in REGIMES
        assert preset.title and preset.description
        if preset.fixes is not None:
            assert preset.fixes in PRESETS, f"{preset.name} fixes an unknown preset"


def test_list_is_in_display_order_starting_with_default():
    orders = [preset.order for preset in list_presets()]
    assert orders == sorted(orders)
    assert list_presets()[0].name == "default"


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_first_record_shows_the_expected_regime(name):
    record = run(name, 1)[0]
    assert classify(record) == PRESETS[name].expect, end_to_end_decades(record.grad_norms)


@pytest.mark.parametrize("name", [n for n, p in PRESETS.items() if p.expect == "healthy"])
def test_healthy_presets_stay_healthy_while_training(name):
    records = run(name, 30)
    assert len(records) == 30
    assert [classify(record) for record in records] == ["healthy"] * 30


@pytest.mark.parametrize("name", [n for n, p in PRESETS.items() if p.fixes and n != "fix-clipping"])
def test_each_fix_shrinks_the_change_in_decades(name):
    fixed = end_to_end_decades(run(name, 1)[0].grad_norms)
    problem = end_to_end_decades(run(PRESETS[name].fixes, 1)[0].grad_norms)
    assert abs(fixed) < abs(problem) / 5, (fixed, problem)


def test_exploding_preset_runs_into_non_finite_values_without_raising():
    records = run("exploding-large-weights", 20)
    assert records[-1].nonfinite is not None
    assert classify(records[-1]) == "non-finite"
    assert "exploded at iteration" in records[-1].nonfinite.describe()


def test_clipping_keeps_the_exploding_run_finite():
    records = run("fix-clipping", 50)
    assert len(records) == 50
    assert all(record.nonfinite is None for record in records)
    assert all(record.clipped for record in records)
    assert all(np.isclose(record.global_norm_after, 1.0) for record in records)
    # the same network without clipping overflows (checked above), with it the loss stays finite
    assert np.isfinite([record.loss for record in records]).all()


def test_unknown_preset_names_the_known_ones():
    with pytest.raises(ConfigError, match="known presets: default"):
        get_preset("no-such-preset")
