"""The Lessons panel's texts and stored progress, without a widget: the step trail, the setup
line, the Next button at each step, and where a panel resumes from the settings."""

from __future__ import annotations

import dataclasses

import pytest

from gradsim.engine.lessons import load_lessons
from gradsim.ui.features.lessons.lesson_steps import (
    EXPLAIN,
    INTRO,
    PREDICT,
    RUN,
    NextButton,
    next_button,
    resume_point,
    setup_summary,
    step_trail,
)

SLUGS = ["first", "second", "third"]


def test_the_trail_brackets_the_current_step():
    assert step_trail(INTRO) == "[Intro]  →  Predict  →  Run  →  Explain"
    assert step_trail(EXPLAIN) == "Intro  →  Predict  →  Run  →  [Explain]"


def test_setup_summary_names_the_preset_the_changes_and_the_steps():
    lesson = load_lessons()[0]
    changed = dataclasses.replace(
        lesson, preset="exploding", overrides={"seq_len": 40, "clip": "norm"}, iterations=25
    )
    assert (
        setup_summary(changed)
        == "Runs the preset “exploding” with seq_len = 40, clip = norm, for 25 training steps."
    )
    plain = dataclasses.replace(lesson, preset="vanishing", overrides={}, iterations=2)
    assert setup_summary(plain) == "Runs the preset “vanishing”, for 2 training steps."


def test_next_button_at_each_step():
    state = dict(checked=False, finished=False, running=False, last=False)
    assert next_button(INTRO, **state) == NextButton(True, "Next →", "The next step (Alt+→ or Page Down)")
    assert not next_button(PREDICT, **state).enabled  # only after an answer was checked
    assert next_button(PREDICT, **{**state, "checked": True}) == NextButton(
        True, "Run it →", "Run the lesson's network and see (Alt+→ or Page Down)"
    )
    assert next_button(RUN, **state) == NextButton(False, "Next →", None)
    assert not next_button(RUN, **{**state, "finished": True, "running": True}).enabled
    assert next_button(RUN, **{**state, "finished": True}).enabled
    assert next_button(EXPLAIN, **state) == NextButton(
        True, "Next lesson →", "The next lesson (Alt+→ or Page Down)"
    )
    assert next_button(EXPLAIN, **{**state, "last": True}) == NextButton(
        False, "All done", "The next lesson (Alt+→ or Page Down)"
    )


@pytest.mark.parametrize(
    ("completed", "current", "step", "expected"),
    [
        ("first,third", "second", "1", ({"first", "third"}, 1, PREDICT)),
        ("first,gone", "third", 0, ({"first"}, 2, INTRO)),
        # A run is not stored: a panel left at Run or Explain resumes at the question.
        ("", "first", "3", (set(), 0, PREDICT)),
        (None, "removed", "-4", (set(), 0, INTRO)),
        ("", None, "damaged", (set(), 0, INTRO)),
        ("", "", None, (set(), 0, INTRO)),
    ],
)
def test_resume_point_from_what_the_settings_hold(completed, current, step, expected):
    assert resume_point(SLUGS, completed, current, step) == expected
