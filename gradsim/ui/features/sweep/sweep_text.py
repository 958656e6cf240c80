"""The Sweep tab's words (no Qt): the base config in a line, progress and outcome of a sweep, the
theory line's notes, stored form values read back; and the phase diagram's: axis titles and
values, the picture's title, what the theory's line means, a cell's verdict.
"""

from __future__ import annotations

import math

from gradsim.engine import sweep
from gradsim.engine.config import SimConfig, describe_config
from gradsim.engine.sweep import CriticalLine, SweepProgress, SweepResult

FIELD_LABELS = {
    "weight_scale": "weight scale",
    "seq_len": "sequence length T",
    "num_layers": "layers",
    "learning_rate": "learning rate",
    "hidden_size": "hidden size",
}


def describe_base(config: SimConfig) -> str:
    """The base config in one line (what the sweep does not vary): :func:`describe_config`'s."""
    return describe_config(config, base=True)


def format_seconds(seconds: float) -> str:
    """``"about 12 s left"``, ``"about 3 min left"``."""
    if seconds < 90:
        return f"about {max(1, round(seconds))} s left"
    return f"about {round(seconds / 60)} min left"


def progress_text(report: SweepProgress) -> str:
    """``"40 of 204 points (12 from the cache) · about 12 s left"``."""
    text = f"{report.done} of {report.total} points"
    if report.cached:
        text += f" ({report.cached} from the cache)"
    if report.done < report.total:
        if report.remaining_seconds is None:
            text += " · estimating the time left…"
        else:
            text += f" · {format_seconds(report.remaining_seconds)}"
    return text


def sentence(note: str) -> str:
    """A note as a sentence: capitalised, with a full stop."""
    return note[:1].upper() + note[1:] + "."


def line_notes(line: CriticalLine | None) -> str:
    """What the theory's critical line says about itself, as sentences ("" when none yet)."""
    if line is None:
        return ""
    if not line.available:
        return f"No theory line: {line.reason}."
    return " ".join(sentence(note) for note in line.notes)


def finished_text(result: SweepResult) -> str:
    """How a sweep ended: cancelled, done with points computed, or done from the cache."""
    seconds = f"{result.elapsed_seconds:.1f} s"
    if result.cancelled:
        return f"Cancelled after {int(result.computed.sum())} of {result.spec.size} points ({seconds})"
    if result.computed_points:
        return (
            f"Done: {result.spec.size} points in {seconds}: {result.computed_points} computed on "
            f"{result.ran_on}, {result.cached_points} from the cache"
        )
    return f"Done: all {result.spec.size} points from the cache ({seconds})"


def stored_number(value: object, default: float) -> float:
    """A stored setting as a finite number (INI files give strings; bad values give the default)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return number if math.isfinite(number) else default


def field_label(field: str, spacing: str, short: bool = False) -> str:
    """The axis title of a swept field, e.g. ``"sequence length T (log scale)"`` (``short``:
    ``"sequence length T (log)"``, for presentation mode's larger text)."""
    if spacing != "log":
        return FIELD_LABELS.get(field, field)
    return FIELD_LABELS.get(field, field) + (" (log)" if short else " (log scale)")


def format_value(value: float, integer: bool = False) -> str:
    """An axis value as the user would write it: ``50``, ``1.25``, ``0.001``."""
    if not math.isfinite(value):
        return "–"
    if integer:
        return str(int(round(value)))
    return f"{value:.4g}"


# The key's words for the theory's line, per criterion of sweep.critical_line.
LINE_LABELS = {
    "span": "most extreme span at 0 decades",
    "step": "top layer ×1/step",
    "end_to_end": "corner ratio 1",
}


def theory_explanation(line: CriticalLine | None) -> str:
    """What the dashed line and the dots mean, for the key's tooltip (with the line's notes).

    The same words whether or not there is a line; without one, the reason why not.
    """
    parts = [
        "Dashed line (theory): where mean-field theory predicts the value coloured here to be 0 "
        "decades. Each layer has its own fixed point, fed by the layer below, so its own factor "
        "per step through time and per layer through depth; the line follows the most extreme "
        "of those spans, which is what each cell shows (docs/theory.md).",
        "Dots (measured): where the cells' value crosses 0 along each grid line.",
        "Theory describes wide layers at initialisation; it does not apply to batch norm or "
        "identity weights.",
    ]
    if line is not None and line.criterion != "span" and line.available:
        parts[0] = f"Dashed line (theory): {sweep.CRITERION_TEXT[line.criterion]} (docs/theory.md)."
    if line is not None and not line.available:
        parts.insert(0, f"No theory line: {line.reason}.")
    elif line is not None:
        parts += [sentence(note) for note in line.notes]
    return "\n".join(parts)


def verdict(value: float) -> str:
    if value < 0:
        return "vanishing" if value < -1 else "shrinks"
    return "exploding" if value > 1 else "grows"


def format_decades(value: float) -> str:
    return "–" if not math.isfinite(value) else f"{value:+.2f}"


def plot_title(result: SweepResult) -> str:
    """What the picture shows, in one line."""
    spec = result.spec
    base = spec.base
    when = "at initialisation" if spec.iterations == 0 else f"after {spec.iterations} training steps"
    seeds = len(spec.seeds)  # type: ignore[arg-type]
    network = f"{base.activation}, {base.init} init"
    swept = (spec.x.field, spec.y.field)
    fixed = []
    if "num_layers" not in swept:
        fixed.append(f"{base.num_layers} layer{'s' if base.num_layers > 1 else ''}")
    if "hidden_size" not in swept:
        fixed.append(f"{base.hidden_size} units")
    if "seq_len" not in swept:
        fixed.append(f"T = {base.seq_len}")
    if "weight_scale" not in swept:
        fixed.append(f"weight scale {base.weight_scale:g}")
    return f"{network}, {', '.join(fixed)}; {when}, {seeds} seed{'s' if seeds > 1 else ''}"
