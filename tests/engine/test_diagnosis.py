"""Diagnosis on real runs: verdicts, sentences with their numbers, and fixes that work."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from helpers import EXPLODING_ONE_LAYER, EXPLODING_RELU, VANISHING_SIGMOID

from gradsim.engine import diagnosis_fixes, theory
from gradsim.engine.config import SimConfig, field_names
from gradsim.engine.diagnosis import Fix, diagnose, measure_signs
from gradsim.engine.presets import list_presets
from gradsim.engine.records import StepRecord
from gradsim.engine.regime import classify, end_to_end_decades, measure, measure_log10_norms
from gradsim.engine.simulation import Simulation, replay

# Small but real: the two runs issue 6 names, at sizes that keep the whole file fast.
VANISHING, EXPLODING = VANISHING_SIGMOID, EXPLODING_ONE_LAYER


def _train(config: SimConfig, iterations: int) -> list[StepRecord]:
    return list(replay(config, iterations))


# -- verdicts -----------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", list_presets(), ids=lambda preset: preset.name)
def test_each_preset_is_diagnosed_as_its_name_says(preset) -> None:
    record = Simulation(preset.config).train_step()
    assert record is not None
    diagnosis = diagnose([record], preset.config)
    # A preset that drifts into its regime (expect_from > 1) is healthy at iteration 1.
    assert diagnosis.regime == preset.expected_at(1)
    assert diagnosis.regime == classify(record)
    # The headline is the regime measure's sentence, named by its most extreme span.
    assert diagnosis.sentence.startswith(measure(record).sentence())
    assert diagnosis.sentence.startswith(preset.expected_at(1))


def test_regime_follows_classify_of_the_newest_record() -> None:
    config = SimConfig(activation="tanh", init="orthogonal", num_layers=1, hidden_size=32, seq_len=20)
    records = _train(config, 4)
    assert len(records) == 4
    assert diagnose(records, config).regime == classify(records[-1]) == "healthy"
    assert diagnose(records, config).fixes == ()


def test_empty_records_are_refused_with_a_message() -> None:
    with pytest.raises(ValueError, match="at least one step record"):
        diagnose([], SimConfig())


# -- the sentence and its numbers ---------------------------------------------------------------


def test_vanishing_sentence_states_its_numbers() -> None:
    record = Simulation(VANISHING).train_step()
    assert record is not None
    diagnosis = diagnose([record], VANISHING)
    decades = end_to_end_decades(record.grad_norms)
    extreme = measure(record).extreme
    assert extreme is not None and extreme.kind == "time"
    # The ratio and the factor come from the same span (the most extreme), so they multiply out.
    match = re.fullmatch(
        rf"vanishing through time in layer {extreme.layer + 1}: (\S+) over 99 steps, ×(\S+) per step",
        diagnosis.sentence,
    )
    assert match is not None, diagnosis.sentence
    assert float(match.group(1)) == pytest.approx(extreme.ratio, rel=5e-3)
    assert float(match.group(2)) ** 99 == pytest.approx(float(match.group(1)), rel=0.05)
    assert extreme.decades == min(span.decades for span in measure(record).spans)
    assert diagnosis.signs.decades == pytest.approx(decades)
    assert diagnosis.signs.decades < -40
    # Every span and the corner are in the evidence.
    assert all(line in "\n".join(diagnosis.evidence) for line in measure(record).span_lines())
    assert any(line.startswith("corner, layer 1 step 1 over layer 3 step 100") for line in diagnosis.evidence)
    # The spectral bound of the sigmoid (1/4) makes every step shrink the gradient: it is stated.
    assert any("every step back must shrink the gradient" in line for line in diagnosis.evidence)
    predicted = theory.predicted_step_factor(VANISHING)
    assert predicted is not None
    assert any(f"{predicted:.3g} predicted" in line for line in diagnosis.evidence)


def test_saturated_units_enter_the_sentence() -> None:
    config = SimConfig(
        activation="sigmoid", weight_scale=8.0, num_layers=1, hidden_size=32, seq_len=60, task="random"
    )
    record = Simulation(config).train_step()
    assert record is not None
    diagnosis = diagnose([record], config)
    assert diagnosis.regime == "vanishing"
    percent = round(100 * float(record.saturation.mean()))
    assert percent >= 10
    assert diagnosis.sentence.endswith(f"; {percent}% of units saturated")


def test_exploding_sentence_says_times() -> None:
    record = Simulation(EXPLODING).train_step()
    assert record is not None
    diagnosis = diagnose([record], EXPLODING)
    assert diagnosis.regime == "exploding"
    extreme = measure(record).extreme
    numbers = f"{extreme.ratio_text()} over 99 steps, ×{extreme.factor_text()} per step"
    assert diagnosis.sentence == f"exploding through time in layer 1: {numbers}"
    assert extreme.factor > 1


def test_non_finite_run_names_where_it_started() -> None:
    simulation = Simulation(EXPLODING)
    records = [simulation.train_step(), simulation.train_step()]
    assert all(record is not None for record in records)
    assert simulation.halted and simulation.nonfinite is not None
    diagnosis = diagnose(records, EXPLODING)  # type: ignore[arg-type]
    assert diagnosis.regime == "non-finite"
    assert diagnosis.nonfinite == simulation.nonfinite
    assert diagnosis.sentence.startswith(f"non-finite: {simulation.nonfinite.describe()}")
    # The gradient's shape comes from the last finite iteration, and says so.
    assert f"; at iteration 1 it was {measure(records[0]).extreme.describe()}" in diagnosis.sentence
    assert diagnosis.signs.iteration == 1
    assert diagnosis.signs.decades == pytest.approx(end_to_end_decades(records[0].grad_norms))


def test_a_gradient_cut_to_exactly_zero_is_vanishing() -> None:
    config = SimConfig(activation="relu", num_layers=1, hidden_size=16, seq_len=10)
    simulation = Simulation(config)
    # Every pre-activation 0: every ReLU derivative is 0, so nothing passes back a single step.
    simulation.params["weight_ih_l0"][:] = 0.0
    simulation.params["weight_hh_l0"][:] = 0.0
    record = simulation.train_step()
    assert record is not None and record.grad_norms[0, 0] == 0.0
    diagnosis = diagnose([record], config)
    assert diagnosis.regime == classify(record) == "vanishing"
    # Zero from step 9 back (step 10 still gets the readout's gradient).
    assert diagnosis.sentence.startswith(
        "vanishing through time in layer 1: the gradient is exactly 0 at step 9, over 9 steps: every path "
        "back is cut"
    )
    assert diagnosis.signs.measured_factor == 0.0


# -- the averaged signs -------------------------------------------------------------------------


def test_update_ratios_and_instability_are_computed_from_the_records() -> None:
    config = SimConfig(activation="tanh", num_layers=2, hidden_size=16, seq_len=20, learning_rate=0.05)
    records = _train(config, 6)
    signs = measure_signs(records, config)
    early = [r.update_ratios[name] for r in records for name in ("weight_ih_l0", "weight_hh_l0")]
    late = [r.update_ratios[name] for r in records for name in ("weight_ih_l1", "weight_hh_l1")]
    assert signs.early_update_ratio == pytest.approx(math.exp(np.mean(np.log(early))))
    assert signs.late_update_ratio == pytest.approx(math.exp(np.mean(np.log(late))))
    jumps = np.abs(np.diff(np.log10([r.global_norm_before for r in records])))
    assert signs.instability == pytest.approx(float(np.median(jumps)))
    np.testing.assert_allclose(signs.saturation, records[-1].saturation)
    ratio = records[-1].grad_norms[0, -1] / records[-1].grad_norms[-1, -1]
    assert signs.layer_ratio == pytest.approx(ratio)


def test_vanishing_run_shows_early_weights_barely_changing() -> None:
    records = _train(VANISHING, 3)
    signs = measure_signs(records, VANISHING)
    assert math.log10(signs.late_update_ratio) - math.log10(signs.early_update_ratio) > 1.0
    assert any(line.startswith("update:data ratio") for line in diagnose(records, VANISHING).evidence)


def test_exploding_run_is_unstable_from_iteration_to_iteration() -> None:
    config = EXPLODING.replace(clip_mode="norm", clip_threshold=1.0, seq_len=60)
    records = _train(config, 6)
    diagnosis = diagnose(records, config)
    assert diagnosis.regime == "exploding"
    assert any("clipping active" in line for line in diagnosis.evidence)
    assert all(fix.key != "clip_norm" for fix in diagnosis.fixes)  # already clipping


# -- fixes --------------------------------------------------------------------------------------


def _all_fixes() -> list[tuple[SimConfig, Fix]]:
    pairs = []
    configs = [VANISHING, EXPLODING] + [preset.config for preset in list_presets()]
    configs += [
        SimConfig(activation="tanh", init="identity", weight_scale=0.5, num_layers=1, seq_len=80),
        SimConfig(activation="sigmoid", normalization="batch", batch_size=4, num_layers=2, seq_len=80),
        SimConfig(
            activation="linear", init="xavier", weight_scale=1.6, num_layers=2, seq_len=80, task="memory"
        ),
    ]
    for config in configs:
        record = Simulation(config).train_step()
        assert record is not None
        pairs += [(config, fix) for fix in diagnose([record], config).fixes]
    return pairs


def test_every_fix_produces_a_valid_config_that_differs() -> None:
    pairs = _all_fixes()
    assert {fix.key for _, fix in pairs} >= {
        "clip_norm",
        "relu",
        "orthogonal",
        "raise_scale",
        "lower_scale",
        "batch_norm",
        "fewer_steps",
        "fewer_layers",
    }
    for config, fix in pairs:
        assert set(fix.changes) <= set(field_names())
        changed = fix.apply(config)
        assert changed == config.replace(**fix.changes)
        assert changed != config
        assert fix.label and fix.explanation.endswith((".", ")"))


def _decades_at_initialisation(config: SimConfig) -> tuple[float, str]:
    # The quantity the badge is decided on: the most extreme span.
    record = Simulation(config).train_step()
    assert record is not None
    return measure(record).decades, classify(record)


def _stays_finite(config: SimConfig, iterations: int = 6) -> bool:
    records = _train(config, iterations)
    return len(records) == iterations and all(record.nonfinite is None for record in records)


@pytest.mark.parametrize(
    ("config", "iterations", "expected"),
    [
        (VANISHING, 1, {"relu", "orthogonal", "raise_scale", "batch_norm", "fewer_steps", "lstm"}),
        (EXPLODING, 1, {"clip_norm", "orthogonal", "lower_scale", "fewer_steps"}),
        (EXPLODING, 2, {"clip_norm", "orthogonal", "lower_scale", "fewer_steps"}),
    ],
    ids=["vanishing", "exploding", "non-finite"],
)
def test_each_fix_makes_the_run_healthy_or_strictly_better(
    config: SimConfig, iterations: int, expected: set
) -> None:
    records = _train(config, iterations)
    diagnosis = diagnose(records, config)
    assert {fix.key for fix in diagnosis.fixes} == expected
    before, _ = _decades_at_initialisation(config)
    finite_before = _stays_finite(config)
    for fix in diagnosis.fixes:
        fixed = fix.apply(config)
        after, regime = _decades_at_initialisation(fixed)
        if fix.key == "clip_norm":
            # Clipping leaves the gradient's flow through time as it was; what it changes is
            # that training no longer overflows.
            assert after == pytest.approx(before)
            assert not finite_before and _stays_finite(fixed), fix.label
            continue
        assert regime == "healthy" or abs(after) < abs(before), (fix.label, before, after)
        if fix.key == "relu":
            assert _stays_finite(fixed), "the ReLU fix comes with clipping, so training stays finite"


SPAN_NUMBERS = re.compile(r"([0-9.e+-]+) over (\d+) (?:steps|layers), ×([0-9.]+) per (?:step|layer)")


def test_fixes_quote_the_measure_the_badge_uses_and_their_numbers_multiply_out() -> None:
    records = _train(VANISHING, 3)
    diagnosis = diagnose(records, VANISHING)
    fixes = {fix.key: fix for fix in diagnosis.fixes}
    # The scale to raise to is where theory balances the spans: the evidence's scale.
    balanced = diagnosis.signs.balanced_weight_scale
    assert balanced is not None
    assert fixes["raise_scale"].changes["weight_scale"] == float(f"{balanced:.3g}")
    now = measure(records[-1]).extreme
    assert now is not None
    for key in ("relu", "orthogonal", "raise_scale"):
        fix = fixes[key]
        fixed = fix.apply(VANISHING)
        predicted = measure_log10_norms(theory.predicted_log10_grad_norms(fixed)).extreme
        first = measure(Simulation(fixed).train_step()).extreme
        assert predicted is not None and first is not None
        assert (
            f"Theory predicts its largest change {predicted.name()}: {predicted.numbers()}" in fix.explanation
        )
        assert f"measured now, {now.name()}: {now.numbers()}" in fix.explanation
        assert f"its first step measures {first.name()}: {first.numbers()}" in fix.explanation
        quoted = SPAN_NUMBERS.findall(fix.explanation)
        assert len(quoted) == 3, fix.explanation
        for ratio, count, factor in quoted:
            assert float(factor) ** int(count) == pytest.approx(float(ratio), rel=0.02), (
                ratio,
                count,
                factor,
            )


def test_a_fix_whose_first_step_does_not_improve_is_withdrawn(monkeypatch: pytest.MonkeyPatch) -> None:
    records = _train(VANISHING, 1)
    offered = {fix.key for fix in diagnose(records, VANISHING).fixes}
    assert {"relu", "orthogonal", "raise_scale"} <= offered
    # Every try now measures 60 decades lost: worse than the run, so theory's word is not enough.
    worse = measure_log10_norms(np.array([[-60.0, 0.0]]))
    monkeypatch.setattr(diagnosis_fixes, "_first_step", lambda candidate: worse)
    kept = {fix.key for fix in diagnose(records, VANISHING).fixes}
    assert kept == offered - {"relu", "orthogonal", "raise_scale"}
    # Where a step costs too much to try, theory alone decides and nothing is quoted as tried.
    monkeypatch.undo()
    monkeypatch.setattr(diagnosis_fixes, "TRY_FLOPS", 0)
    untried = diagnose(records, VANISHING).fixes
    assert {fix.key for fix in untried} >= offered  # here theory alone also offers fewer layers
    assert not any("Tried" in fix.explanation for fix in untried)


def test_fixes_only_where_they_apply() -> None:
    relu_vanishing = SimConfig(activation="relu", weight_scale=0.5, num_layers=1, hidden_size=32, seq_len=60)
    keys = {fix.key for fix in diagnose([Simulation(relu_vanishing).train_step()], relu_vanishing).fixes}
    assert "relu" not in keys  # already ReLU
    assert "batch_norm" not in keys  # batch norm's case is saturating units
    assert "clip_norm" not in keys  # nothing explodes
    assert "fewer_layers" not in keys  # one layer
    assert {"raise_scale", "orthogonal", "fewer_steps"} <= keys
    raise_scale = next(
        fix
        for fix in diagnose([Simulation(relu_vanishing).train_step()], relu_vanishing).fixes
        if fix.key == "raise_scale"
    )
    edge = theory.critical_weight_scale(relu_vanishing, criterion="end_to_end")
    assert edge is not None and raise_scale.changes["weight_scale"] == pytest.approx(edge, rel=1e-2)

    # Batch norm on: the theory is silent, so only the structural fixes are offered.
    normalised = SimConfig(
        activation="sigmoid", normalization="batch", num_layers=2, hidden_size=32, seq_len=100
    )
    record = Simulation(normalised).train_step()
    diagnosis = diagnose([record], normalised)
    assert diagnosis.regime == "vanishing"
    assert [fix.key for fix in diagnosis.fixes] == ["fewer_steps", "lstm"]

    short = EXPLODING.replace(seq_len=2)
    assert all(fix.key != "fewer_steps" for fix in diagnose([Simulation(short).train_step()], short).fixes)


def test_a_nan_iteration_is_called_non_finite_not_switched_off():
    from gradsim.engine.simulation import Simulation

    config = EXPLODING_RELU
    simulation = Simulation(config)
    records = []
    while (record := simulation.train_step()) is not None:
        records.append(record)
    last = records[-1]
    assert last.nonfinite is not None
    result = diagnose(records, config)
    line = next(e for e in result.evidence if "of units" in e)
    bad = f"{100 * float(last.nonfinite_fraction.mean()):.0f}%"
    off = f"{100 * float(last.saturation.mean()):.0f}%"
    assert line.startswith(f"{bad} of units non-finite, {off} switched off")
    assert float(last.nonfinite_fraction.mean()) > 0.5 and float(last.saturation.mean()) < 0.2


def test_signs_of_a_gradient_far_below_float64_are_numbers():
    # A sigmoid layer over 1200 steps: ||dL/dh_1|| is near 1e-668, no float64 holds it.
    config = SimConfig(num_layers=1, hidden_size=8, seq_len=1200, batch_size=4, activation="sigmoid")
    record = Simulation(config).train_step()
    assert record is not None and record.grad_norms[0, 0] == 0.0
    signs = measure_signs([record], config)
    logs = record.log10_grad_norms
    # The corner decades come from the exact logarithms, not from the underflowed 0.
    assert signs.decades == logs[0, 0] - logs[-1, -1] < -330
    assert signs.time_ratio == 0.0  # the ratio itself is beyond float64; its log is not
    text = "\n".join(diagnose([record], config).evidence)
    assert f"{signs.decades:+.1f} decades" in text
