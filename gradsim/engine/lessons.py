"""Guided lessons: data files in ``resources/lessons/NN-<slug>.toml`` and the numbers they quote.

A lesson sets up a preset (optionally with ``[config]`` overrides), asks a multiple-choice
question about what will happen, runs a number of training iterations and then explains what
happened, quoting the run's own numbers through placeholders such as ``{ratio}``. This module
reads and validates the files and computes those numbers from step records; it has no Qt, so
the CLI, the tests and the window all share it.

File layout (every key is required unless marked optional)::

    title = "What vanishing looks like"
    preset = "vanishing-tanh-small"       # a name from resources/presets
    iterations = 10                       # training steps to run (1..1000)
    plot = "gradient"                     # gradient/heatmap/loss/activation/health, or control:<field>
    intro = "..."                         # what we are about to do
    question = "..."                      # asked before the run
    explanation = "... {ratio} ..."       # shown after it; placeholders from PLACEHOLDERS

    [config]                              # optional: SimConfig fields on top of the preset
    hidden_size = 32

    [[choices]]                           # two or more; exactly one has correct = true
    text = "..."
    correct = false                       # optional, default false
    why = "..."                           # required for a wrong choice: why it is wrong
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .config import ConfigError, SimConfig, field_names
from .formatting import format_number, format_percent
from .presets import list_presets, load_preset
from .records import StepRecord
from .regime import DEPTH, RegimeMeasure, Span, measure
from .safe_read import LESSON_LIMIT, FileReadError, read_toml

PLOTS = ("gradient", "heatmap", "loss", "activation", "health")
CONTROL_PREFIX = "control:"
MAX_ITERATIONS = 1000
FILE_PATTERN = re.compile(r"^(\d{2})-([a-z0-9]+(?:-[a-z0-9]+)*)$")

REQUIRED_KEYS = ("title", "preset", "iterations", "plot", "intro", "question", "explanation", "choices")
OPTIONAL_KEYS = ("config",)
CHOICE_KEYS = ("text", "correct", "why")

# What each placeholder of an explanation means (shown in docs/lessons.md and in errors).
PLACEHOLDERS: dict[str, str] = {
    "iterations": "training steps the lesson ran (fewer if the run stopped on a non-finite value)",
    "seq_len": "time steps of the config",
    "steps_back": "time steps the gradient travels back from the last step to step 1 (seq_len - 1)",
    "num_layers": "layers of the config",
    "verdict": "the regime sentence the badge and the diagnosis quote, for the last finite iteration",
    "span": "where the most extreme span runs: 'through time in layer 2' or 'through depth'",
    "span_length": "how many factors that span multiplies: '49 steps' or '3 layers'",
    "unit": "'step' for a span through time, 'layer' for the span through depth",
    "ratio": "the most extreme span's ratio of ||dL/dh|| (far end over entry), last finite iteration",
    "ratio_first": "the same in iteration 1 (its own most extreme span)",
    "span_first": "where iteration 1's most extreme span runs",
    "decades": "log10 of {ratio}: negative for a gradient that shrank on its way back",
    "per_step": "that span's factor per {unit}: ratio ** (1 / its length), so it multiplies out",
    "per_step_first": "the same factor in iteration 1",
    "layer_ratio": "the depth span: ||dL/dh|| at the last step, first layer over top layer (NaN: one layer)",
    "saturation": "percentage of saturated units (derivative below 5% of its maximum), mean over layers",
    "mean_derivative": "mean activation derivative over layers, time steps, batch and units",
    "spectral": "largest singular value of the first layer's recurrent weights",
    "update_ratio_first": "update:data ratio ||dW|| / ||W|| of the first layer's recurrent weights",
    "update_ratio_last": "the same for the top layer's recurrent weights",
    "loss_first": "loss of iteration 1",
    "loss_last": "loss of the last finite iteration",
    "max_norm": "largest global gradient norm (before clipping) over the run",
    "clipped_percent": "percentage of iterations in which clipping shrank the gradient",
    "regime": "healthy / vanishing / exploding / non-finite, for the last iteration (the badge)",
    "iteration_nonfinite": "iteration whose values overflowed to inf/NaN, or 'none'",
    "outcome": "one sentence: every iteration ran, or where the run overflowed",
}


class LessonError(ValueError):
    """A lesson file is unusable. The message names the file and the field."""

    def __init__(self, path: Path | str, field_name: str | None, message: str) -> None:
        name = Path(path).name
        where = f"lesson file {name}" + (f", field {field_name!r}" if field_name else "")
        super().__init__(f"{where}: {message}")
        self.path = Path(path)
        self.field = field_name


@dataclass(frozen=True)
class Choice:
    """One answer of a lesson's question; ``why`` says why a wrong answer is wrong (a right one
    may leave it empty, as its file may leave it out)."""

    text: str
    correct: bool
    why: str = ""


@dataclass(frozen=True)
class Lesson:
    """A validated lesson file.

    Attributes
    ----------
    number, slug : from the file name ``NN-<slug>.toml``
    config : the preset's config with the lesson's overrides applied
    overrides : the ``[config]`` table as written
    plot : a dashboard plot key, or ``control:<SimConfig field>``
    """

    number: int
    slug: str
    title: str
    preset: str
    overrides: dict[str, Any]
    config: SimConfig
    iterations: int
    plot: str
    intro: str
    question: str
    choices: tuple[Choice, ...]
    explanation: str
    path: Path = field(compare=False)

    @property
    def correct_index(self) -> int:
        """Index of the right choice."""
        return next(i for i, choice in enumerate(self.choices) if choice.correct)

    def explain(self, values: dict[str, str]) -> str:
        """The explanation with its placeholders filled from ``values`` (see :func:`run_values`)."""
        return self.explanation.format_map(values)


def lessons_dir() -> Path:
    """Folder holding the lesson files (inside the installed ``gradsim.resources``)."""
    return Path(str(resources.files("gradsim.resources"))) / "lessons"


def placeholders_in(text: str) -> list[str]:
    """Names of the ``{placeholders}`` in ``text``; ValueError for a malformed or formatted one."""
    names = []
    for _, name, spec, conversion in string.Formatter().parse(text):
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise ValueError(f"placeholder {{{name}}} must be a bare name such as {{ratio}}")
        names.append(name)
    return names


def _text(path: Path, data: dict[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str) or not value.strip():
        raise LessonError(path, key, "must be non-empty text")
    return " ".join(value.split()) if "\n\n" not in value else _paragraphs(value)


def _paragraphs(value: str) -> str:
    # Multi-line TOML strings: single newlines are line wrapping, blank lines separate paragraphs.
    return "\n\n".join(" ".join(part.split()) for part in value.split("\n\n") if part.strip())


def read_lesson(path: Path, preset_names: Sequence[str] | None = None) -> Lesson:
    """Read and validate one lesson file.

    Raises
    ------
    LessonError
        naming the file and the field for an unreadable file, an unknown or missing key, an
        unknown preset, plot or placeholder, a bad config override or a malformed question.
    """
    path = Path(path)
    match = FILE_PATTERN.match(path.stem)
    if path.suffix != ".toml" or match is None:
        raise LessonError(path, None, "the name must look like NN-some-slug.toml (two digits, dash, slug)")
    try:
        data = read_toml(path, LESSON_LIMIT, "a lesson")
    except FileReadError as error:
        raise LessonError(path, None, f"cannot be read: {error.reason}") from None
    unknown = sorted(set(data) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS))
    if unknown:
        known = ", ".join(REQUIRED_KEYS + OPTIONAL_KEYS)
        raise LessonError(path, unknown[0], f"unknown key; known keys: {known}")
    for key in REQUIRED_KEYS:
        if key not in data:
            raise LessonError(path, key, "is missing")

    names = list(preset_names) if preset_names is not None else [p.name for p in list_presets()]
    preset = data["preset"]
    if preset not in names:
        raise LessonError(path, "preset", f"unknown preset {preset!r}; known presets: {', '.join(names)}")
    overrides = data.get("config", {})
    if not isinstance(overrides, dict):
        raise LessonError(path, "config", "must be a table of SimConfig fields")
    try:
        config = SimConfig.from_dict(overrides, base=load_preset(preset))
    except ConfigError as error:
        raise LessonError(path, f"config.{error.field}" if error.field else "config", str(error)) from error

    iterations = data["iterations"]
    whole = isinstance(iterations, int) and not isinstance(iterations, bool)
    if not whole or not 1 <= iterations <= MAX_ITERATIONS:
        message = f"must be a whole number from 1 to {MAX_ITERATIONS} (got {iterations!r})"
        raise LessonError(path, "iterations", message)

    plot = data["plot"]
    if not isinstance(plot, str):
        raise LessonError(path, "plot", f"must be text (got {plot!r})")
    if plot.startswith(CONTROL_PREFIX):
        if plot[len(CONTROL_PREFIX) :] not in field_names():
            raise LessonError(
                path, "plot", f"unknown control {plot!r}; controls are named control:<setting>, "
                f"one of {', '.join(field_names())}",
            )  # fmt: skip
    elif plot not in PLOTS:
        known = f"{', '.join(PLOTS)} or control:<setting>"
        raise LessonError(path, "plot", f"unknown plot {plot!r}; known: {known}")

    texts = {key: _text(path, data, key) for key in ("title", "intro", "question", "explanation")}
    try:
        used = placeholders_in(texts["explanation"])
    except ValueError as error:
        raise LessonError(path, "explanation", str(error)) from error
    for name in used:
        if name not in PLACEHOLDERS:
            raise LessonError(
                path, "explanation", f"unknown placeholder {{{name}}}; known: {', '.join(PLACEHOLDERS)}"
            )
    for key in ("title", "intro", "question"):
        if "{" in texts[key] or "}" in texts[key]:
            raise LessonError(path, key, "placeholders ({...}) are only filled in the explanation")

    choices = _choices(path, data["choices"])
    return Lesson(
        number=int(match.group(1)),
        slug=match.group(2),
        title=texts["title"],
        preset=preset,
        overrides=dict(overrides),
        config=config,
        iterations=iterations,
        plot=plot,
        intro=texts["intro"],
        question=texts["question"],
        choices=choices,
        explanation=texts["explanation"],
        path=path,
    )


def _choices(path: Path, raw: Any) -> tuple[Choice, ...]:
    if not isinstance(raw, list) or len(raw) < 2 or not all(isinstance(item, dict) for item in raw):
        raise LessonError(path, "choices", "must be two or more [[choices]] tables")
    choices = []
    for number, item in enumerate(raw, start=1):
        where = f"choices[{number}]"
        unknown = sorted(set(item) - set(CHOICE_KEYS))
        if unknown:
            known = ", ".join(CHOICE_KEYS)
            raise LessonError(path, f"{where}.{unknown[0]}", f"unknown key; known keys: {known}")
        text = item.get("text")
        if not isinstance(text, str) or not text.strip():
            raise LessonError(path, f"{where}.text", "is missing or empty")
        correct = item.get("correct", False)
        if not isinstance(correct, bool):
            raise LessonError(path, f"{where}.correct", f"must be true or false (got {correct!r})")
        why = item.get("why", "")
        if not isinstance(why, str) or (not correct and not why.strip()):
            raise LessonError(path, f"{where}.why", "a wrong choice needs a short why (text)")
        choices.append(Choice(" ".join(text.split()), correct, " ".join(why.split())))
    right = sum(choice.correct for choice in choices)
    if right != 1:
        raise LessonError(path, "choices", f"exactly one choice must have correct = true (found {right})")
    return tuple(choices)


def load_lessons(folder: Path | None = None) -> list[Lesson]:
    """Every lesson of ``folder`` (the packaged lessons by default), in their numbered order.

    Raises :class:`LessonError` for the first bad file, or for two files with the same number.
    """
    folder = lessons_dir() if folder is None else Path(folder)
    preset_names = [preset.name for preset in list_presets()]
    lessons = [read_lesson(path, preset_names) for path in sorted(folder.glob("*.toml"))]
    seen: dict[int, Path] = {}
    for lesson in lessons:
        if lesson.number in seen:
            other = seen[lesson.number].name
            raise LessonError(lesson.path, None, f"number {lesson.number:02d} is also used by {other}")
        seen[lesson.number] = lesson.path
    return sorted(lessons, key=lambda lesson: lesson.number)


def _finite(record: StepRecord) -> bool:
    return record.nonfinite is None and bool(np.all(np.isfinite(record.grad_norms)))


def _span_values(measured: RegimeMeasure) -> tuple[Span | None, dict[str, str]]:
    """The extreme span's placeholders (NaN text where the record has none)."""
    span = measured.extreme
    if span is None:
        return None, {"span": "nowhere", "span_length": "0 steps", "unit": "step", "ratio": "NaN",
                      "decades": "NaN", "per_step": "NaN"}  # fmt: skip
    length = f"{span.steps} {span.unit}{'' if span.steps == 1 else 's'}"
    decades = "-inf" if span.decades == -math.inf else f"{span.decades:.1f}"
    values = {"span": span.name(), "span_length": length, "unit": span.unit, "ratio": span.ratio_text(),
              "decades": decades, "per_step": span.factor_text()}  # fmt: skip
    return span, values


def run_values(records: Sequence[StepRecord], config: SimConfig) -> dict[str, str]:
    """Every placeholder of :data:`PLACEHOLDERS`, formatted, from a run's records (oldest first).

    ``records`` are the lesson's iterations 1..n (n >= 1). "Last finite" is the newest record
    without a non-finite value (the first record if every one overflowed), so that an exploding
    run still quotes the gradient it had before the overflow.
    """
    if not records:
        raise ValueError("run_values needs at least one record")
    first = records[0]
    finite = [record for record in records if _finite(record)]
    last = finite[-1] if finite else first
    steps_back = config.seq_len - 1
    # The quoted ratios and factors are the regime measure's, the numbers the badge quotes.
    measured, measured_first = measure(last), measure(first)
    _, span_values = _span_values(measured)
    _, first_values = _span_values(measured_first)
    depth = next((span for span in measured.spans if span.kind == DEPTH), None)
    norms = np.array([record.global_norm_before for record in records], dtype=np.float64)
    top = config.num_layers - 1
    event = next((record.nonfinite for record in records if record.nonfinite is not None), None)
    if event is None:
        outcome = f"all {len(records)} iterations ran without an inf or NaN"
    else:
        outcome = f"the run {event.describe()}"
    return {
        "iterations": str(len(records)),
        "seq_len": str(config.seq_len),
        "steps_back": str(steps_back),
        "num_layers": str(config.num_layers),
        "verdict": measured.sentence(),
        **span_values,
        "ratio_first": first_values["ratio"],
        "span_first": first_values["span"],
        "per_step_first": first_values["per_step"],
        "layer_ratio": "NaN" if depth is None else depth.ratio_text(),
        "saturation": format_percent(float(np.mean(last.saturation))),
        "mean_derivative": format_number(float(np.mean(last.mean_derivative))),
        "spectral": format_number(float(last.spectral_norms[0])),
        "update_ratio_first": format_number(last.update_ratios.get("weight_hh_l0", float("nan"))),
        "update_ratio_last": format_number(last.update_ratios.get(f"weight_hh_l{top}", float("nan"))),
        "loss_first": format_number(first.loss),
        "loss_last": format_number(last.loss),
        "max_norm": "NaN" if np.isnan(norms).all() else format_number(float(np.nanmax(norms))),
        "clipped_percent": format_percent(float(np.mean([record.clipped for record in records]))),
        "regime": measure(records[-1]).regime,
        "iteration_nonfinite": "none" if event is None else str(event.iteration),
        "outcome": outcome,
    }
