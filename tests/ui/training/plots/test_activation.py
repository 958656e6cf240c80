"""ActivationPlot draws the engine's activation, the samples' histogram and the saturating regions."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from helpers import shown

from gradsim.engine.activations import make_activation
from gradsim.engine.config import ACTIVATIONS, SimConfig
from gradsim.engine.history import RunHistory
from gradsim.ui.training.plots.activation import BINS, EXTENTS, GRID_POINTS, SHADING_KEYS, ActivationPlot


def make(qtbot, theme) -> ActivationPlot:
    return shown(qtbot, ActivationPlot(theme), (450, 400))


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_curves_are_the_engines_activation_and_derivative(qtbot, theme, name):
    config = SimConfig(activation=name, leaky_slope=0.2)
    plot = make(qtbot, theme)
    plot.refresh(RunHistory(), config)  # before the first step the curves are already there
    activation = make_activation(name, 0.2)
    z = np.linspace(-6.0, 6.0, GRID_POINTS)
    x, f = plot.function_curve.getOriginalDataset()
    _, derivative = plot.derivative_curve.getOriginalDataset()
    np.testing.assert_array_equal(x, z)
    np.testing.assert_array_equal(f, activation.forward(z))
    np.testing.assert_array_equal(derivative, activation.derivative(z, activation.forward(z)))
    assert plot.plot.titleLabel.full_text == f"Activation: {name}"


@pytest.mark.parametrize(
    ("name", "edge"),
    [
        # sigmoid: s'(z) = 0.05 * 1/4  <=>  e / (1 + e)^2 = 1/80 with e = exp(-|z|)
        ("sigmoid", math.log((78 + math.sqrt(78**2 - 4)) / 2)),
        # tanh: 1 - tanh(z)^2 = 0.05
        ("tanh", math.atanh(math.sqrt(0.95))),
        # elu: exp(z) = 0.05 on the left only
        ("elu", math.log(0.05)),
    ],
)
def test_saturating_regions_match_the_5_percent_rule(qtbot, theme, name, edge):
    plot = make(qtbot, theme)
    plot.refresh(RunHistory(), SimConfig(activation=name))
    spans = plot.saturated_spans()
    step = 12.0 / (GRID_POINTS - 1)
    if name == "elu":
        assert len(spans) == 1
        ((left, right),) = spans
        assert left <= -6 and right == pytest.approx(edge, abs=step)
        return
    assert len(spans) == 2
    (left_low, left_high), (right_low, right_high) = spans
    assert left_low <= -6 and right_high >= 6
    assert left_high == pytest.approx(-edge, abs=step)
    assert right_low == pytest.approx(edge, abs=step)


def test_relu_saturates_left_of_zero_and_linear_never(qtbot, theme):
    plot = make(qtbot, theme)
    plot.refresh(RunHistory(), SimConfig(activation="relu"))
    ((left, right),) = plot.saturated_spans()
    assert left <= -6 and right == pytest.approx(0.0, abs=0.01)
    plot.reset()
    plot.refresh(RunHistory(), SimConfig(activation="linear"))
    assert plot.saturated_spans() == []
    plot.reset()
    plot.refresh(RunHistory(), SimConfig(activation="leaky_relu", leaky_slope=0.01))
    assert plot.saturated_spans() == []  # the engine counts only a zero derivative as saturated


def test_histogram_is_the_share_of_the_newest_samples(qtbot, theme, vanishing_run):
    plot = make(qtbot, theme)
    plot.refresh(vanishing_run.history, vanishing_run.config)
    record = vanishing_run.history.latest
    samples = record.preactivation_samples
    values = samples[np.isfinite(samples)]
    assert np.abs(values).max() <= plot.extent
    edges, share = plot.histogram.getOriginalDataset()
    expected_edges = np.linspace(-plot.extent, plot.extent, BINS + 1)
    counts, _ = np.histogram(values, bins=expected_edges)
    np.testing.assert_array_equal(edges, expected_edges)
    np.testing.assert_allclose(share, 100.0 * counts / values.size)
    assert share.sum() == pytest.approx(100.0)
    saturation = f"{np.mean(record.saturation):.0%} saturated"
    assert saturation in plot.plot.titleLabel.full_text


def test_samples_on_the_bin_edges_count_as_with_the_edges_given(qtbot, theme, vanishing_run):
    # The histogram bins by count and range (numpy's linear pass); samples on and a hair either
    # side of every edge fall in the bins the edges themselves give.
    edges = np.linspace(-EXTENTS[0], EXTENTS[0], BINS + 1)
    on_edges = np.concatenate([edges, np.nextafter(edges, np.inf), np.nextafter(edges, -np.inf)])
    on_edges = on_edges[np.abs(on_edges) <= EXTENTS[0]]  # (past the ends: a wider axis)
    record = vanishing_run.history.latest
    layers = record.preactivation_samples.shape[0]
    samples = np.resize(on_edges, (layers, on_edges.size))
    history = RunHistory()
    history.append(dataclasses.replace(record, preactivation_samples=samples))
    plot = make(qtbot, theme)
    plot.refresh(history, vanishing_run.config)
    assert plot.extent == EXTENTS[0]
    shown_edges, share = plot.histogram.getOriginalDataset()
    counts, _ = np.histogram(samples, bins=edges)
    np.testing.assert_array_equal(shown_edges, edges)
    np.testing.assert_array_equal(share, 100.0 * counts / samples.size)


def test_layer_choice_histograms_one_layer(qtbot, theme, vanishing_run):
    plot = make(qtbot, theme)
    plot.refresh(vanishing_run.history, vanishing_run.config)
    assert plot.layer_selector.count() == 4  # all layers + 3
    plot.set_layer(1)
    record = vanishing_run.history.latest
    values = record.preactivation_samples[1]
    values = values[np.isfinite(values)]
    edges, share = plot.histogram.getOriginalDataset()
    counts, _ = np.histogram(values, bins=edges)
    np.testing.assert_allclose(share, 100.0 * counts / values.size)
    assert f"{record.saturation[1]:.0%} saturated" in plot.plot.titleLabel.full_text


def test_wide_samples_widen_the_axis(qtbot, theme, vanishing_run):
    record = vanishing_run.history.latest
    samples = record.preactivation_samples.copy()
    samples[0, :5] = [-14.0, 9.0, 18.0, 1e5, -np.inf]
    history = RunHistory()
    history.append(dataclasses.replace(record, preactivation_samples=samples))
    plot = make(qtbot, theme)
    plot.refresh(history, vanishing_run.config)
    assert plot.extent == EXTENTS[-1]  # 1e5 is beyond the widest axis
    x, _ = plot.function_curve.getOriginalDataset()
    assert x[0] == -EXTENTS[-1] and x[-1] == EXTENTS[-1]
    note = plot.note.toPlainText()
    assert "1 samples beyond ±100" in note and "1 non-finite samples" in note
    (x_low, x_high), _ = plot.plot.getViewBox().viewRange()
    assert x_low == pytest.approx(-100) and x_high == pytest.approx(100)


def test_exploded_record_does_not_raise(qtbot, theme, exploding_run):
    plot = make(qtbot, theme)
    plot.refresh(exploding_run.history, exploding_run.config)
    assert "non-finite samples" in plot.note.toPlainText()
    latest = exploding_run.history.latest
    bad = f"{float(np.mean(latest.nonfinite_fraction)):.0%}"
    saturated = f"{float(np.mean(latest.saturation)):.0%}"
    assert plot.plot.titleLabel.text == f"relu: {saturated} saturated, {bad} non-finite"
    assert float(np.mean(latest.nonfinite_fraction)) > 0.5 and float(np.mean(latest.saturation)) < 0.5
    plot.grab()


def test_single_layer_hides_selector_and_reset_returns_to_all(
    qtbot, theme, reset_after_top_layer, single_layer_run
):
    plot = reset_after_top_layer(make(qtbot, theme))
    plot.refresh(single_layer_run.history, single_layer_run.config)
    assert plot.selector_row.isHidden()
    assert plot.layer_selector.currentIndex() == 0
    samples = single_layer_run.history.latest.preactivation_samples
    values = samples[np.isfinite(samples)]
    _, share = plot.histogram.getOriginalDataset()
    assert share.sum() * values.size / 100.0 == pytest.approx(np.count_nonzero(np.abs(values) <= plot.extent))


@pytest.mark.parametrize(("width", "key"), [(200, SHADING_KEYS[-1]), (450, SHADING_KEYS[0])])
def test_the_shading_is_explained_in_a_key_under_the_plot_whole_at_any_width(qtbot, theme, width, key):
    """200 px is the narrowest a dashboard plot gets (a 1280-pixel window): the shorter key."""
    plot = make(qtbot, theme)
    plot.resize(width, 300)
    plot.refresh(RunHistory(), SimConfig())
    qtbot.wait(50)
    assert plot.shading_text == key and key.endswith("f′ < 5% of max")
    swatch, label = plot.shading_key.items[0]
    text = label.item  # the label's QGraphicsTextItem, sized to its whole text
    assert text.toPlainText() == key
    right = text.mapRectToScene(text.boundingRect()).right()
    assert right <= plot.graphics.width() - 4
    assert plot.shading_key.mapRectToScene(plot.shading_key.boundingRect()).right() >= right
    # Under the view box, not over the curves.
    box = plot.plot.getViewBox()
    assert (
        swatch.mapRectToScene(swatch.boundingRect()).top() >= box.mapRectToScene(box.boundingRect()).bottom()
    )
    assert not plot.note.isVisible()  # no note on the curves for an ordinary run
