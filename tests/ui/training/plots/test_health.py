"""HealthPlot bars equal the newest record's saturation, weight-gradient norms and update ratios."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from helpers import shown

from gradsim.engine.history import RunHistory
from gradsim.ui.training.plots.health import (
    KINDS,
    MIN_CHART_HEIGHT,
    MIN_CHART_WIDTH,
    HealthPlot,
    choose_arrangement,
)


def make(qtbot, theme, size=(900, 330)) -> HealthPlot:
    return shown(qtbot, HealthPlot(theme), size)


def bar_tops(item) -> np.ndarray:
    """The values a log-bar item shows: 10 ** its bar tops."""
    return 10.0 ** np.asarray(item.opts["y1"], dtype=np.float64)


def test_saturation_bars_equal_record(qtbot, theme, exploding_run, vanishing_run):
    plot = make(qtbot, theme)
    # The first exploding iteration is finite and ReLU saturates a real fraction of units.
    record = exploding_run.history.recent()[0]
    assert 0 < record.saturation.min() < 1
    history = type(exploding_run.history)()
    history.append(record)
    plot.refresh(history, exploding_run.config)
    np.testing.assert_array_equal(plot.saturation_bars.opts["height"], record.saturation)
    np.testing.assert_array_equal(plot.saturation_bars.opts["x"], [1, 2])
    plot.refresh(vanishing_run.history, vanishing_run.config)
    latest = vanishing_run.history.latest
    np.testing.assert_array_equal(plot.saturation_bars.opts["height"], latest.saturation)


def test_gradient_and_ratio_bars_equal_record(qtbot, theme, vanishing_run):
    plot = make(qtbot, theme)
    plot.refresh(vanishing_run.history, vanishing_run.config)
    record = vanishing_run.history.latest
    for offset, kind in zip((-1, 1), KINDS, strict=True):
        gradients = [record.param_grad_norms[f"{kind}_l{k}"] for k in range(3)]
        ratios = [record.update_ratios[f"{kind}_l{k}"] for k in range(3)]
        np.testing.assert_allclose(bar_tops(plot.gradient_bars[kind]), gradients, rtol=1e-12)
        np.testing.assert_allclose(bar_tops(plot.ratio_bars[kind]), ratios, rtol=1e-12)
        x = np.asarray(plot.gradient_bars[kind].opts["x"])
        assert np.all(np.sign(x - np.array([1, 2, 3])) == offset)  # side by side around the layer
        np.testing.assert_array_equal(plot.values[f"gradient/{kind}"], gradients)
        # Every bar starts on the same baseline below the smallest value.
        y0 = np.asarray(plot.gradient_bars[kind].opts["y0"])
        assert np.all(y0 == y0[0]) and y0[0] < np.log10(min(gradients))
    # The three layers' ratios span decades: the axes are logarithmic.
    assert plot.gradient_plot.getAxis("left").logMode and plot.ratio_plot.getAxis("left").logMode
    assert not plot.message.isVisible()


def test_reference_line_at_1e_minus_3_in_log_units(qtbot, theme, vanishing_run):
    plot = make(qtbot, theme)
    plot.refresh(vanishing_run.history, vanishing_run.config)
    assert plot.reference_line.value() == pytest.approx(-3.0)
    _, (low, high) = plot.ratio_plot.getViewBox().viewRange()
    assert low < -3 < high


def test_nonfinite_record_shows_red_bars_and_a_message(qtbot, theme, exploding_run):
    plot = make(qtbot, theme)
    plot.refresh(exploding_run.history, exploding_run.config)
    record = exploding_run.history.latest
    assert record.update_ratios == {}
    bad = [k for k in range(2) if not np.isfinite(record.param_grad_norms[f"weight_hh_l{k}"])]
    assert bad
    brushes = plot.gradient_bars["weight_hh"].opts["brushes"]
    red = theme.nonfinite.lower()
    assert [brushes[k].color().name() == red for k in range(2)] == [k in bad for k in range(2)]
    text = plot.message.toPlainText()
    assert "non-finite gradient" in text and "no update this iteration" in text
    # No update: no ratio bars above the baseline.
    for kind in KINDS:
        item = plot.ratio_bars[kind]
        np.testing.assert_array_equal(item.opts["y1"], item.opts["y0"])
    plot.grab()


def test_layer_count_change(qtbot, theme, vanishing_run, single_layer_run):
    plot = make(qtbot, theme)
    plot.refresh(vanishing_run.history, vanishing_run.config)
    plot.reset()
    assert len(plot.saturation_bars.opts["height"]) == 0
    plot.refresh(single_layer_run.history, single_layer_run.config)
    record = single_layer_run.history.latest
    np.testing.assert_array_equal(plot.saturation_bars.opts["height"], record.saturation)
    np.testing.assert_allclose(bar_tops(plot.ratio_bars["weight_hh"]), [record.update_ratios["weight_hh_l0"]])
    ticks = plot.saturation_plot.getAxis("bottom")._tickLevels
    assert ticks == [[(1, "1")]]


@pytest.mark.parametrize(
    ("size", "arrangement"),
    [((900, 300), "row"), ((300, 750), "column"), ((520, 420), "grid"), ((250, 250), "single")],
)
def test_arrangement_follows_the_panel_shape(qtbot, theme, size, arrangement):
    plot = make(qtbot, theme, size)
    assert choose_arrangement(*size, plot.min_chart_width()) == arrangement
    qtbot.waitUntil(lambda: plot.arrangement == arrangement)
    assert plot.chart_selector.isVisible() == (arrangement == "single")
    if arrangement == "single":
        for index, chart in ((2, plot.ratio_plot), (1, plot.gradient_plot), (0, plot.saturation_plot)):
            plot.chart_selector.setCurrentIndex(index)
            assert chart.isVisible() and sum(p.isVisible() for p in plot._plots()) == 1
            # the chosen chart fills the panel (a chart shown again kept the size it last had)
            qtbot.waitUntil(lambda chart=chart: chart.geometry().width() >= 0.9 * plot.graphics.width())
    else:
        assert all(p.isVisible() for p in (plot.saturation_plot, plot.gradient_plot, plot.ratio_plot))


@pytest.mark.parametrize("size", [(600, 300), (700, 330), (520, 420), (760, 460), (300, 750), (1100, 360)])
def test_every_charts_bottom_label_stays_whole_at_any_size(qtbot, theme, size):
    # "layer" over the bars' colour key under the two log charts: a chart too narrow for it would
    # cut it at the panel's edge (or run it under the next chart).
    plot = make(qtbot, theme, size)
    qtbot.wait(20)
    shown_charts = [chart for chart in (plot.saturation_plot, plot.gradient_plot, plot.ratio_plot)
                    if chart.isVisible()]  # fmt: skip
    assert shown_charts
    for chart in shown_charts:
        label = chart.getAxis("bottom").label.sceneBoundingRect()
        area = chart.sceneBoundingRect()
        assert area.left() - 1 <= label.left(), (plot.arrangement, label, area)
        assert label.right() <= area.right() + 1, (plot.arrangement, label, area)
    if size[0] >= 3 * plot.min_chart_width():
        assert plot.arrangement != "single"  # room for all three: no selector


def test_no_arrangement_makes_a_chart_smaller_than_legible():
    for width in range(100, 1600, 37):
        for height in range(100, 1000, 29):
            arrangement = choose_arrangement(width, height)
            cols, rows = {"row": (3, 1), "column": (1, 3), "grid": (2, 2), "single": (1, 1)}[arrangement]
            if arrangement != "single":
                assert width / cols >= MIN_CHART_WIDTH and height / rows >= MIN_CHART_HEIGHT


def test_nonfinite_units_are_a_red_segment_not_saturation(qtbot, theme, exploding_run):
    plot = make(qtbot, theme)
    record = exploding_run.history.nonfinite_record
    assert record is not None and record.nonfinite_fraction.max() > 0.5
    plot.refresh(exploding_run.history, exploding_run.config)
    latest = exploding_run.history.latest
    np.testing.assert_array_equal(plot.saturation_bars.opts["height"], latest.saturation)
    np.testing.assert_array_equal(plot.nonfinite_bars.opts["y0"], latest.saturation)
    stacked = latest.saturation + latest.nonfinite_fraction
    np.testing.assert_array_equal(plot.nonfinite_bars.opts["y1"], stacked)
    assert plot.nonfinite_bars.opts["brush"] == theme.nonfinite
    np.testing.assert_array_equal(plot.values["nonfinite"], latest.nonfinite_fraction)
    text = plot.message.full_text  # cut to fit the plot, whole in its tooltip
    expected = ", ".join(f"{k + 1}: {100 * v:.0f}%" for k, v in enumerate(latest.nonfinite_fraction) if v > 0)
    assert f"red: non-finite units, not saturated (layer {expected})" in text
    # A finite record draws no segment and no such line.
    history = type(exploding_run.history)()
    history.append(exploding_run.history.recent()[0])
    plot.refresh(history, exploding_run.config)
    np.testing.assert_array_equal(plot.nonfinite_bars.opts["y1"], plot.nonfinite_bars.opts["y0"])
    assert "non-finite units" not in plot.message.full_text


def test_bars_are_set_again_only_when_their_numbers_changed(qtbot, theme, exploding_run):
    import dataclasses

    plot = make(qtbot, theme)
    first = exploding_run.history.recent()[0]
    calls: dict[str, int] = {}
    items = {"saturation": plot.saturation_bars, "gradient": plot.gradient_bars["weight_hh"],
             "ratio": plot.ratio_bars["weight_hh"]}  # fmt: skip
    for name, item in items.items():
        original = item.setOpts

        def counted(*args, _name=name, _original=original, **opts):
            calls[_name] = calls.get(_name, 0) + 1
            return _original(*args, **opts)

        item.setOpts = counted

    history = type(exploding_run.history)()
    history.append(first)
    plot.refresh(history, exploding_run.config)
    assert calls["gradient"] == calls["ratio"] == 1
    drawn = calls["saturation"]  # the layers' colours, then the heights
    # Same saturation and ratios, larger weight gradients: only the gradient bars are set again.
    doubled = {name: 2 * value for name, value in first.param_grad_norms.items()}
    second = dataclasses.replace(first, iteration=first.iteration + 1, param_grad_norms=doubled)
    history.append(second)
    plot.refresh(history, exploding_run.config)
    assert calls == {"saturation": drawn, "gradient": 2, "ratio": 1}
    np.testing.assert_allclose(bar_tops(plot.gradient_bars["weight_hh"]),
                               [doubled[f"weight_hh_l{k}"] for k in range(2)], rtol=1e-12)  # fmt: skip
    np.testing.assert_array_equal(plot.saturation_bars.opts["height"], second.saturation)
    third = dataclasses.replace(second, iteration=second.iteration + 1, saturation=second.saturation / 2)
    history.append(third)
    plot.refresh(history, exploding_run.config)
    assert calls["saturation"] == drawn + 1
    np.testing.assert_array_equal(plot.saturation_bars.opts["height"], third.saturation)
    # A cleared plot draws everything again.
    plot.reset()
    plot.refresh(history, exploding_run.config)
    assert calls["saturation"] == drawn + 3  # emptied by the reset, then drawn


def test_ratios_that_hover_about_a_decade_boundary_do_not_move_the_axis_every_frame(
    qtbot, theme, vanishing_run
):
    plot = make(qtbot, theme)
    latest = vanishing_run.history.latest
    history = RunHistory()
    moves: list[int] = []
    plot.ratio_plot.getViewBox().sigRangeChanged.connect(lambda *_: moves.append(1))
    for n in range(12):
        # Every other iteration a decade up: the decades the bars need are never nested.
        factor = 10.0 if n % 2 else 1.0
        ratios = {name: value * factor for name, value in latest.update_ratios.items()}
        history.append(dataclasses.replace(latest, iteration=latest.iteration + n + 1, update_ratios=ratios))
        plot.refresh(history, vanishing_run.config)
        if n == 1:
            moves.clear()  # the range has seen both: it spans them from here on
    assert moves == []
    _, (low, high) = plot.ratio_plot.getViewBox().viewRange()
    drawn = np.concatenate([plot.values[f"ratio/{kind}"] for kind in KINDS])  # the last, a decade up
    assert low <= np.log10(drawn / 10.0).min() and high >= np.log10(drawn).max()


def test_red_bars_of_a_finite_run_are_not_set_again_as_the_saturation_moves(qtbot, theme, vanishing_run):
    plot = make(qtbot, theme)
    latest = vanishing_run.history.latest
    assert not np.any(latest.nonfinite_fraction)
    calls: list[dict] = []
    original = plot.nonfinite_bars.setOpts
    plot.nonfinite_bars.setOpts = lambda **opts: (calls.append(opts), original(**opts))[1]
    history = RunHistory()
    for n in range(4):
        moved = dataclasses.replace(
            latest, iteration=latest.iteration + n + 1, saturation=latest.saturation + 0.1 * n
        )
        history.append(moved)
        plot.refresh(history, vanishing_run.config)
        np.testing.assert_array_equal(plot.saturation_bars.opts["height"], moved.saturation)
    assert len(calls) == 1  # set once, with no height
    np.testing.assert_array_equal(plot.nonfinite_bars.opts["y1"], plot.nonfinite_bars.opts["y0"])
    # A non-finite unit stacks its bar on the saturation of that frame.
    share = np.zeros_like(latest.saturation)
    share[0] = 0.25
    bad = dataclasses.replace(moved, iteration=moved.iteration + 1, nonfinite_fraction=share)
    history.append(bad)
    plot.refresh(history, vanishing_run.config)
    assert len(calls) == 2
    np.testing.assert_array_equal(plot.nonfinite_bars.opts["y0"], bad.saturation)
    np.testing.assert_allclose(plot.nonfinite_bars.opts["y1"], bad.saturation + share)


def test_a_new_frame_sets_only_the_bar_tops_and_draws_the_bars_of_a_fresh_plot(qtbot, theme, vanishing_run):
    records = vanishing_run.history.recent()[-3:]
    plot, fresh = make(qtbot, theme), make(qtbot, theme)
    item = plot.gradient_bars["weight_hh"]
    given: list[set[str]] = []
    original = item.setOpts
    item.setOpts = lambda **opts: (given.append(set(opts)), original(**opts))[1]
    history = RunHistory()
    for record in records:
        history.append(record)
        plot.refresh(history, vanishing_run.config)
    assert given[0] == {"x", "y0", "y1", "height", "width", "brushes"}
    assert all(keys == {"y0", "y1"} for keys in given[1:]) and len(given) == 3
    # The bars stand where those of a plot drawing the newest record at once stand, as high
    # (their baseline is the kept range's: maybe lower), in the same colours.
    only = RunHistory()
    only.append(records[-1])
    fresh.refresh(only, vanishing_run.config)
    for kind in KINDS:
        ours, theirs = plot.gradient_bars[kind], fresh.gradient_bars[kind]
        assert len(ours._rectarray.instances()) == len(records[-1].saturation)
        for a, b in zip(ours._rectarray.instances(), theirs._rectarray.instances(), strict=True):
            assert (a.left(), a.width()) == (b.left(), b.width())
            assert a.bottom() == pytest.approx(b.bottom(), abs=1e-12)  # (y + height: the top)
        assert [b.color().name() for b in ours._brushes] == [b.color().name() for b in theirs._brushes]
