"""Pinned runs without a widget: a pin's iteration, the legend's short label, and the heatmap
note's span ratio, checked on gradient tables whose extreme span is known by hand."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from gradsim.engine.config import SimConfig
from gradsim.engine.history import RunHistory
from gradsim.engine.records import StepRecord
from gradsim.engine.simulation import Simulation
from gradsim.ui.features.compare.pins import MAX_PINS, PIN_COLORS, PinnedRun, short_label, span_ratio

TINY = SimConfig(num_layers=2, hidden_size=4, seq_len=4, batch_size=2, seed=1)


@pytest.fixture(scope="module")
def record() -> StepRecord:
    first = Simulation(TINY).train_step()
    assert first is not None
    return first


def with_norms(record: StepRecord, norms: list[list[float]]) -> StepRecord:
    """``record`` with the gradient norms ``norms`` (L, T) (their log10 recomputed)."""
    return dataclasses.replace(record, grad_norms=np.array(norms), log10_grad_norms=None)


def test_one_distinct_colour_per_pin():
    assert len(set(PIN_COLORS)) == len(PIN_COLORS) == MAX_PINS


def test_a_pin_counts_the_iterations_it_kept(record):
    history = RunHistory()
    pin = PinnedRun("label", TINY, history, PIN_COLORS[0])
    assert pin.latest is None and pin.iteration == 0 and pin.visible
    history.append(dataclasses.replace(record, iteration=7))
    assert pin.latest is not None and pin.iteration == 7


@pytest.mark.parametrize(
    ("label", "short"),
    [
        ("clip: none → norm 1.0", "pinned: clip: none → norm 1.0"),
        ("clip: none → norm 1.0, seed: 1 → 2", "pinned: clip: none → norm 1.0 …"),
        # "same settings" and its iteration are one statement: kept whole.
        ("same settings, iteration 2", "pinned: same settings, iteration 2"),
    ],
)
def test_the_legend_shows_the_first_difference(label, short):
    assert short_label(label) == short


@pytest.mark.parametrize(
    ("norms", "text"),
    [
        # Layer 1 loses 6 decades over 3 steps back through time; layer 2 keeps its gradient.
        ([[1e-6, 1e-4, 1e-2, 1.0], [1.0] * 4], "layer 1: 1.00e-06"),
        ([[1.0] * 4, [1e-8, 1e-4, 1.0, 1.0]], "layer 2: 1.00e-08"),
        # Flat in time, but layer 1 gets a thousandth of the top layer's gradient.
        ([[1e-3] * 4, [1.0] * 4], "depth: 1.00e-03"),
        ([[1.0] * 4, [1.0] * 4], "layer 1: 1"),
    ],
)
def test_the_heatmap_note_names_the_most_extreme_span(record, norms, text):
    assert span_ratio(with_norms(record, norms)) == text
