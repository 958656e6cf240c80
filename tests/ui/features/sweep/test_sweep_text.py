"""The Sweep tab's words: base config, progress, outcome, the theory line's notes, stored values."""

from __future__ import annotations

import math

import numpy as np

from gradsim.engine.config import SimConfig
from gradsim.engine.sweep import CriticalLine, SweepProgress
from gradsim.ui.features.sweep.sweep_text import (
    describe_base,
    format_seconds,
    line_notes,
    progress_text,
    stored_number,
)


def test_describe_base_names_what_the_sweep_does_not_vary():
    config = SimConfig(
        activation="tanh", num_layers=2, hidden_size=16, seq_len=40, batch_size=8, weight_scale=1.25, seed=7
    )
    text = describe_base(config)
    assert text.startswith(f"tanh, {config.init} init × 1.25, 2 layers × 16 units, T = 40, batch 8")
    assert text.endswith(f", {config.optimizer} lr {config.learning_rate:g}, seed 7")
    assert "clip" not in text and "batch norm" not in text
    clipped = describe_base(config.replace(clip_mode="norm", clip_threshold=2.0, normalization="batch"))
    assert ", batch norm, clip by norm at 2," in clipped


def test_format_seconds():
    assert format_seconds(0.2) == "about 1 s left"
    assert format_seconds(12.4) == "about 12 s left"
    assert format_seconds(89) == "about 89 s left"
    assert format_seconds(200) == "about 3 min left"


def test_progress_text():
    assert progress_text(SweepProgress(40, 204, 12, 3.0, 12.4)) == (
        "40 of 204 points (12 from the cache) · about 12 s left"
    )
    assert progress_text(SweepProgress(4, 10, 0, 1.0, None)) == "4 of 10 points · estimating the time left…"
    assert progress_text(SweepProgress(10, 10, 0, 5.0, 0.0)) == "10 of 10 points"


def test_line_notes_as_sentences():
    assert line_notes(None) == ""
    assert line_notes(CriticalLine(None, None, "step", "batch norm")) == "No theory line: batch norm."
    line = CriticalLine(np.zeros(2), np.zeros(2), "span", None, ("one caveat", "another"))
    assert line_notes(line) == "One caveat. Another."


def test_stored_number_falls_back_on_what_cannot_be_read():
    assert stored_number("2.5", 1.0) == 2.5
    assert stored_number(None, 1.0) == 1.0
    assert stored_number("abc", 1.0) == 1.0
    assert stored_number("nan", 3.0) == 3.0 and stored_number(math.inf, 3.0) == 3.0
