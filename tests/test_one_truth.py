"""One truth: every view quotes the same regime and the same numbers, and they multiply out.

Walks every preset and every lesson config for 300 iterations on the engine and, at regular
checkpoints, reads what each view would say about that iteration: the status bar's badge, ratio
and tooltips (``main_window.regime_status``, the function ``_show_status`` uses), the diagnosis
sentence and evidence, the diagnosis panel's summary, the CLI summary, the lessons' numbers and
the sweep's value of the same config. All must give the same regime and the same numbers to
display rounding, and every quoted factor raised to the quoted number of steps must give the
quoted ratio within 5%.
"""

from __future__ import annotations

import math
import re

import pytest

from gradsim.cli.run import summary_lines
from gradsim.engine import sweep
from gradsim.engine.config import SimConfig
from gradsim.engine.diagnosis import WINDOW, diagnose
from gradsim.engine.lessons import load_lessons, run_values
from gradsim.engine.presets import list_presets
from gradsim.engine.records import StepRecord
from gradsim.engine.regime import RegimeMeasure, measure
from gradsim.engine.simulation import replay
from gradsim.ui.features.diagnosis.diagnosis_text import summary as panel_summary
from gradsim.ui.main_window import regime_status

ITERATIONS = 300
CHECK_EVERY = 50
# The sweep recomputes a point from scratch; checked after this many training steps (and at 0).
SWEEP_ITERATIONS = 20


def _configs() -> dict[str, SimConfig]:
    configs: dict[str, SimConfig] = {}
    for preset in list_presets():
        configs[f"preset {preset.name}"] = preset.config
    for lesson in load_lessons():
        if lesson.config not in configs.values():  # a lesson without overrides is its preset
            configs[f"lesson {lesson.number:02d}"] = lesson.config
    return configs


CONFIGS = _configs()

# "<ratio> over <n> steps, ×<factor> per step" (time) or "... gets <ratio> of the top layer's
# gradient over <n> layers, ×<factor> per layer" (depth).
QUOTE = re.compile(
    r"(?P<ratio>\d[\d.]*(?:e[+-]\d+)?)(?: of the top layer's gradient)? over (?P<steps>\d+) "
    r"(?P<unit>step|layer)s?, ×(?P<factor>\d[\d.]*(?:e[+-]\d+)?) per (?P=unit)"
)


def quotes(text: str) -> list[tuple[str, int, str]]:
    """Every (ratio, steps, factor) quoted in ``text``, as written."""
    return [(m["ratio"], int(m["steps"]), m["factor"]) for m in QUOTE.finditer(text)]


def _log10_text(number: str) -> float:
    # Parsed via mantissa and exponent so 1.00e-607 works as well as 0.312.
    mantissa, _, exponent = number.partition("e")
    return math.log10(float(mantissa)) + (int(exponent) if exponent else 0)


def assert_multiplies_out(text: str) -> int:
    """Each quoted factor ** steps is the quoted ratio within 5%; returns how many were checked."""
    found = quotes(text)
    for ratio, steps, factor in found:
        error = steps * _log10_text(factor) - _log10_text(ratio)
        assert abs(error) <= math.log10(1.05), (text, ratio, steps, factor)
    return len(found)


def run(config: SimConfig) -> list[StepRecord]:
    return list(replay(config, ITERATIONS))


def check_iteration(config: SimConfig, records: list[StepRecord], index: int) -> RegimeMeasure:
    """Every view of ``records[index]`` (with the records before it) agrees with the measure."""
    record = records[index]
    seen = records[: index + 1]
    measured = measure(record)
    sentence = measured.sentence()
    finite = [r for r in seen if measure(r).regime != "non-finite"]
    last_finite = finite[-1] if finite else None

    # Status bar: the badge word, its tooltip's sentence, the ratio of the extreme span.
    ratio_text, badge, badge_tip, ratio_tip = regime_status(measured)
    assert badge == measured.regime
    assert badge_tip.endswith(sentence)
    if measured.extreme is not None:
        assert ratio_text.endswith(f": {measured.extreme.ratio_text()}")
        assert measured.extreme.describe() in ratio_tip
        assert assert_multiplies_out(ratio_tip) == len([s for s in measured.spans if s.zero_at is None]) + 1

    # Diagnosis: same regime; for a finite run the headline is the measure's sentence.
    diagnosis = diagnose(seen[-WINDOW:], config)
    if measured.regime != "non-finite":
        assert diagnosis.regime == measured.regime
        assert diagnosis.sentence.startswith(sentence)
        evidence = "\n".join(diagnosis.evidence)
        for line in measured.span_lines():
            assert line in evidence
        summary = panel_summary(diagnosis)
        assert summary.startswith(measured.regime)
        if measured.extreme is not None:
            assert f"{measured.extreme.ratio_text()} {measured.extreme.name()}" in summary
    else:
        assert diagnosis.regime == "non-finite"
    assert_multiplies_out(diagnosis.sentence)
    assert_multiplies_out("\n".join(diagnosis.evidence))

    # CLI summary.
    lines = summary_lines(record, ITERATIONS, last_finite=last_finite)
    assert f"regime: {sentence}" in lines
    assert_multiplies_out("\n".join(lines))

    # Lessons: the numbers quote the last finite record's extreme span; the regime is the badge's.
    values = run_values(seen, config)
    assert values["regime"] == measured.regime
    quoted = measure(last_finite if last_finite is not None else seen[0])
    assert values["verdict"] == quoted.sentence()
    if quoted.extreme is not None:
        assert values["ratio"] == quoted.extreme.ratio_text()
        assert values["per_step"] == quoted.extreme.factor_text()
        if quoted.extreme.zero_at is None:
            error = quoted.extreme.steps * _log10_text(values["per_step"]) - _log10_text(values["ratio"])
            assert abs(error) <= math.log10(1.05)

    # The sweep's value of this record's gradient is the measure's, bit for bit.
    value, status = sweep.gradient_decades(record.log10_grad_norms, record.loss)
    if measured.regime == "non-finite":
        assert status == sweep.STATUS_OVERFLOW
    elif math.isfinite(measured.decades):
        assert (value, status) == (measured.decades, sweep.STATUS_OK)
    return measured


@pytest.mark.parametrize("name", list(CONFIGS))
def test_every_view_gives_the_same_regime_and_numbers(name):
    config = CONFIGS[name]
    records = run(config)
    checkpoints = sorted({*range(0, len(records), CHECK_EVERY), len(records) - 1})
    for index in checkpoints:
        check_iteration(config, records, index)
    # The sweep recomputes the point from scratch: same value as the record the run made.
    for steps in (0, SWEEP_ITERATIONS):
        if steps < len(records) and measure(records[steps]).regime != "non-finite":
            assert sweep.compute_point(config, steps) == measure(records[steps]).decades


def test_the_quote_parser_reads_both_kinds_of_span():
    text = (
        "vanishing through time in layer 2: 3.16e-07 over 49 steps, ×0.7368 per step; "
        "vanishing through depth: layer 1 gets 9.31e-10 of the top layer's gradient over 15 layers, "
        "×0.25 per layer"
    )
    assert quotes(text) == [("3.16e-07", 49, "0.7368"), ("9.31e-10", 15, "0.25")]
    assert assert_multiplies_out(text) == 2
    with pytest.raises(AssertionError):
        assert_multiplies_out("healthy: 0.5 over 10 steps, ×0.9 per step")
