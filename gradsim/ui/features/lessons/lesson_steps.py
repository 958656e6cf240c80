"""The steps of a lesson and what the Lessons panel says about them, without a widget.

A lesson goes Intro → Predict → Run → Explain (:data:`STEPS`). This module holds the texts the
panel derives from where the user is (the step trail, the setup line, the Next button) and the
reading of the progress kept in the settings; :mod:`.lessons_panel` shows them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from gradsim.engine.lessons import Lesson

STEPS = ("Intro", "Predict", "Run", "Explain")
INTRO, PREDICT, RUN, EXPLAIN = range(4)


def step_trail(step: int) -> str:
    """``Intro  →  [Predict]  →  Run  →  Explain``: the steps, the current one in brackets."""
    return "  →  ".join(f"[{name}]" if i == step else name for i, name in enumerate(STEPS))


def setup_summary(lesson: Lesson) -> str:
    """What the lesson runs: ``Runs the preset “…” with a = 1, b = 2, for N training steps.``"""
    changes = ", ".join(f"{name} = {value}" for name, value in lesson.overrides.items())
    setup = f"Runs the preset “{lesson.preset}”" + (f" with {changes}" if changes else "")
    return f"{setup}, for {lesson.iterations} training steps."


@dataclasses.dataclass(frozen=True)
class NextButton:
    """What the Next button shows: enabled, its text, its tooltip (None: the tooltip stays)."""

    enabled: bool
    text: str
    tip: str | None


def next_button(step: int, *, checked: bool, finished: bool, running: bool, last: bool) -> NextButton:
    """The Next button at ``step``.

    Parameters
    ----------
    step : the current step (:data:`INTRO` … :data:`EXPLAIN`)
    checked : an answer was checked (Predict goes on only then)
    finished : the lesson's run finished and its numbers are known
    running : the lesson's run is in progress
    last : this is the last lesson
    """
    if step == PREDICT:
        return NextButton(checked, "Run it →", "Run the lesson's network and see (Alt+→ or Page Down)")
    if step == RUN:
        return NextButton(finished and not running, "Next →", None)
    if step == EXPLAIN:
        text = "Next lesson →" if not last else "All done"
        return NextButton(not last, text, "The next lesson (Alt+→ or Page Down)")
    return NextButton(True, "Next →", "The next step (Alt+→ or Page Down)")


def resume_point(
    slugs: Sequence[str], completed: object, current: object, step: object
) -> tuple[set[str], int, int]:
    """Where the panel starts from the stored progress: ``(completed slugs, lesson index, step)``.

    ``completed`` is the stored comma-separated slugs, ``current`` the slug of the current
    lesson, ``step`` its step, each as the settings return it (possibly None or damaged). Slugs
    of lessons that no longer exist are dropped; a run and its numbers are not stored, so the
    step resumes at most at Predict.
    """
    done = {slug for slug in str(completed or "").split(",") if slug in slugs}
    current_slug = str(current or "")
    index = list(slugs).index(current_slug) if current_slug in slugs else 0
    try:
        number = int(str(step))
    except (TypeError, ValueError):
        number = INTRO
    return done, index, min(max(number, INTRO), PREDICT)
