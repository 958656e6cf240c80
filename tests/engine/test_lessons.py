"""Lesson files: every packaged lesson is valid, bad files give a message naming file and field,
and the numbers an explanation quotes equal those computed here from the engine's records."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from gradsim.engine.config import field_names
from gradsim.engine.formatting import format_number, format_percent
from gradsim.engine.lessons import (
    CONTROL_PREFIX,
    PLACEHOLDERS,
    PLOTS,
    LessonError,
    lessons_dir,
    load_lessons,
    placeholders_in,
    read_lesson,
    run_values,
)
from gradsim.engine.presets import list_presets, load_preset
from gradsim.engine.regime import measure
from gradsim.engine.simulation import replay

GOOD = """
title = "A lesson"
preset = "default"
iterations = 3
plot = "gradient"
intro = "We run it."
question = "What happens?"
explanation = "The ratio was {ratio} after {iterations} iterations."

[config]
hidden_size = 8
seq_len = 6

[[choices]]
text = "This"
correct = true

[[choices]]
text = "That"
why = "Because."
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def run(config, count):
    return list(replay(config, count))


# -- the packaged lessons -------------------------------------------------------------------------
def test_packaged_lessons_load_in_story_order_with_known_presets_plots_and_placeholders():
    lessons = load_lessons()
    assert len(lessons) >= 10
    assert [lesson.number for lesson in lessons] == list(range(1, len(lessons) + 1))
    assert len(list(lessons_dir().glob("*.toml"))) == len(lessons)
    presets = {preset.name for preset in list_presets()}
    for lesson in lessons:
        assert lesson.preset in presets
        assert lesson.plot in PLOTS or lesson.plot[len(CONTROL_PREFIX) :] in field_names()
        assert set(placeholders_in(lesson.explanation)) <= set(PLACEHOLDERS)
        assert placeholders_in(lesson.explanation), f"{lesson.slug} quotes no number of its run"
        assert lesson.config == load_preset(lesson.preset).replace(**lesson.overrides)
        assert sum(choice.correct for choice in lesson.choices) == 1
        assert all(choice.why for choice in lesson.choices if not choice.correct)
        # Short enough to read aloud: 2-4 sentences per step.
        for text in (lesson.intro, lesson.explanation):
            assert 2 <= text.count(". ") + 1 <= 5, (lesson.slug, text)
    # The story: vanishing, why (sigmoid), depth, exploding, recognising, the fixes, then gates.
    fixes = {lesson.preset for lesson in lessons[5:10]}
    assert fixes == {
        "fix-fewer-steps", "fix-orthogonal-init", "fix-leaky-relu", "fix-batch-norm", "fix-clipping",
    }  # fmt: skip
    assert [lesson.slug for lesson in lessons[10:]] == ["why-gates-help"]


def test_run_values_fill_every_placeholder():
    config = load_preset("default").replace(seq_len=5)
    assert set(run_values(run(config, 1), config)) == set(PLACEHOLDERS)


def test_packaged_lesson_runs_are_small():
    # The window tests walk through every lesson; their runs must stay small.
    for lesson in load_lessons():
        config = lesson.config
        work = lesson.iterations * config.num_layers * config.seq_len * config.hidden_size**2
        assert work <= 30 * 2 * 60 * 32**2, lesson.slug


def test_sigmoid_lesson_states_the_engine_facts():
    # The texts say the sigmoid's derivative is at most 0.25; the engine's sigmoid agrees.
    from gradsim.engine.activations import make_activation

    sigmoid = make_activation("sigmoid")
    z = np.linspace(-10, 10, 20001)
    assert np.max(sigmoid.derivative(z, sigmoid.forward(z))) == pytest.approx(0.25, abs=1e-9)
    assert sigmoid.max_derivative == 0.25
    leaky = make_activation("leaky_relu", 0.5)
    assert set(np.unique(leaky.derivative(z, leaky.forward(z)))) == {0.5, 1.0}
    lessons = {lesson.slug: lesson for lesson in load_lessons()}
    assert "0.25" in lessons["sigmoid-derivative"].intro
    assert lessons["non-saturating"].config.leaky_slope == 0.5


# -- bad files ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "change", "field", "words"),
    [
        ("01-a.toml", ("", 'colour = "red"\n'), "colour", "unknown key"),
        ("01-a.toml", ('plot = "gradient"\n', ""), "plot", "missing"),
        ("01-a.toml", ('preset = "default"', 'preset = "nope"'), "preset", "unknown preset 'nope'"),
        ("01-a.toml", ('plot = "gradient"', 'plot = "gradients"'), "plot", "unknown plot 'gradients'"),
        ("01-a.toml", ('plot = "gradient"', 'plot = "control:colour"'), "plot", "unknown control"),
        ("01-a.toml", ("{ratio}", "{ratoi}"), "explanation", "unknown placeholder {ratoi}"),
        ("01-a.toml", ("{ratio}", "{ratio:.2f}"), "explanation", "bare name"),
        ("01-a.toml", ("hidden_size = 8", "hidden_size = 0"), "config.hidden_size", "between 1 and 1024"),
        ("01-a.toml", ("hidden_size = 8", "hidden = 8"), "config.hidden", "unknown setting"),
        ("01-a.toml", ("iterations = 3", "iterations = 0"), "iterations", "from 1 to 1000"),
        ("01-a.toml", ("iterations = 3", 'iterations = "3"'), "iterations", "whole number"),
        ("01-a.toml", ('why = "Because."', "correct = true"), "choices", "exactly one"),
        ("01-a.toml", ('why = "Because."', ""), "choices[2].why", "needs a short why"),
        ("01-a.toml", ('text = "That"', 'txt = "That"'), "choices[2].txt", "unknown key"),
        (
            "01-a.toml",
            ('intro = "We run it."', 'intro = "Run {it}."'),
            "intro",
            "only filled in the explanation",
        ),
        ("01-a.toml", ('title = "A lesson"', 'title = ""'), "title", "non-empty"),
        ("01-a.toml", ('title = "A lesson"', 'title = "A lesson'), None, "cannot be read"),
        ("lesson.toml", ("", ""), None, "NN-some-slug.toml"),
    ],
)
def test_bad_lesson_files_name_the_file_and_field(tmp_path, name, change, field, words):
    old, new = change
    text = GOOD.replace(old, new, 1) if old else new + GOOD
    path = write(tmp_path, name, text)
    with pytest.raises(LessonError) as caught:
        read_lesson(path)
    message = str(caught.value)
    assert message.startswith(f"lesson file {name}")
    assert caught.value.field == field
    if field:
        assert f"field {field!r}" in message
    assert words in message


def test_good_file_reads_and_duplicate_numbers_are_refused(tmp_path):
    lesson = read_lesson(write(tmp_path, "01-a.toml", GOOD))
    assert (lesson.number, lesson.slug, lesson.iterations, lesson.correct_index) == (1, "a", 3, 0)
    assert lesson.config == load_preset("default").replace(hidden_size=8, seq_len=6)
    assert [lesson.slug for lesson in load_lessons(tmp_path)] == ["a"]
    write(tmp_path, "01-b.toml", GOOD)
    with pytest.raises(LessonError, match=r"lesson file 01-b.toml: number 01 is also used by 01-a.toml"):
        load_lessons(tmp_path)


# -- the numbers ----------------------------------------------------------------------------------
def test_run_values_equal_numbers_computed_from_the_records():
    config = load_preset("vanishing-sigmoid").replace(hidden_size=8, seq_len=12, batch_size=4)
    records = run(config, 4)
    values = run_values(records, config)
    last = records[-1]
    # The ratio and factor are the regime measure's most extreme span (here: time in a layer).
    extreme = measure(last).extreme
    assert extreme is not None and extreme.kind == "time"
    layer = extreme.layer
    ratio = last.grad_norms[layer, 0] / last.grad_norms[layer, -1]
    assert extreme.decades == pytest.approx(math.log10(ratio), abs=1e-12)
    assert values["span"] == f"through time in layer {layer + 1}" and values["span_length"] == "11 steps"
    assert values["unit"] == "step"
    assert values["verdict"] == measure(last).sentence()
    assert values["ratio"] == f"{ratio:.2e}"
    assert values["ratio_first"] == measure(records[0]).extreme.ratio_text()
    assert values["decades"] == f"{math.log10(ratio):.1f}"
    assert float(values["per_step"]) == pytest.approx(ratio ** (1 / 11), rel=2e-3)
    assert float(values["per_step"]) ** 11 == pytest.approx(float(values["ratio"]), rel=0.02)
    assert values["steps_back"] == "11" and values["iterations"] == "4" and values["num_layers"] == "2"
    depth = last.grad_norms[0, -1] / last.grad_norms[1, -1]
    assert float(values["layer_ratio"]) == pytest.approx(depth, rel=5e-3)
    assert values["saturation"] == format_percent(float(last.saturation.mean()))
    assert values["mean_derivative"] == format_number(float(last.mean_derivative.mean()))
    assert values["spectral"] == format_number(float(last.spectral_norms[0]))
    assert values["update_ratio_first"] == format_number(last.update_ratios["weight_hh_l0"])
    assert values["update_ratio_last"] == format_number(last.update_ratios["weight_hh_l1"])
    assert values["loss_first"] == format_number(records[0].loss)
    assert values["loss_last"] == format_number(last.loss)
    assert values["max_norm"] == format_number(max(r.global_norm_before for r in records))
    assert values["clipped_percent"] == "0%"
    assert values["regime"] == "vanishing"
    assert values["iteration_nonfinite"] == "none"
    assert values["outcome"] == "all 4 iterations ran without an inf or NaN"


def test_run_values_of_an_exploding_run_quote_the_last_finite_iteration():
    config = load_preset("exploding-large-weights").replace(hidden_size=32, seq_len=40)
    records = run(config, 20)
    assert len(records) == 2 and records[-1].nonfinite is not None
    values = run_values(records, config)
    first = records[0]
    assert values["ratio"] == values["ratio_first"] == measure(first).extreme.ratio_text()
    assert values["verdict"] == measure(first).sentence()
    assert measure(first).decades > 4
    assert values["iteration_nonfinite"] == "2"
    assert values["regime"] == "non-finite"
    assert values["outcome"] == f"the run {records[-1].nonfinite.describe()}"
    finite_norms = [r.global_norm_before for r in records if not math.isnan(r.global_norm_before)]
    assert values["max_norm"] == format_number(max(finite_norms))


def test_clipping_percentage_counts_clipped_iterations():
    config = load_preset("fix-clipping").replace(hidden_size=8, seq_len=12, batch_size=4, clip_threshold=2.0)
    records = run(config, 6)
    clipped = sum(record.clipped for record in records)
    assert run_values(records, config)["clipped_percent"] == f"{100 * clipped / 6:.0f}%"


def test_values_need_a_record():
    # The number formats are gradsim.engine.formatting's (tests/engine/test_formatting.py).
    with pytest.raises(ValueError):
        run_values([], load_preset("default"))


def test_the_gates_lesson_walks_end_to_end_and_its_claims_hold_on_the_engine():
    lesson = next(lesson for lesson in load_lessons() if lesson.slug == "why-gates-help")
    config = lesson.config
    assert (config.cell, config.seq_len, config.forget_bias) == ("lstm", 200, 3.0)
    records = run(config, lesson.iterations)
    assert len(records) == lesson.iterations
    values = run_values(records, config)
    text = lesson.explain(values)
    assert "{" not in text
    measured = measure(records[-1])
    assert values["verdict"] == measured.sentence() and measured.sentence() in text
    assert f"after 199 steps {values['ratio']} was left" in text
    # The right answer: within a decade or two of 1, at every iteration of the lesson.
    assert lesson.choices[lesson.correct_index].text.startswith("Most of it")
    assert all(abs(measure(record).decades) < 2 for record in records)
    # The intro: its forget gates start near 0.95 (sigmoid(3)).
    assert 0.93 < float(records[0].gate_means[0, :, 1].mean()) < 0.96
    # The intro and the explanation: a tanh RNN of the same size, on the same batches, loses more
    # than 20 decades with a factor below 0.8 per step.
    for record in run(config.replace(cell="rnn"), lesson.iterations):
        span = measure(record).extreme
        assert span.decades < -20 and span.factor < 0.8
    # The explanation: forget bias 0 over 50 steps loses about 7 decades (6.5 to 7.5).
    for record in run(config.replace(forget_bias=0.0, seq_len=50), lesson.iterations):
        assert -7.5 < measure(record).decades < -6.5
