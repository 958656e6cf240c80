"""LossPlot shows the history's losses and global norms; clipping and non-finite steps are marked."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from helpers import shown

from gradsim.engine.config import SimConfig
from gradsim.engine.history import RunHistory
from gradsim.engine.simulation import Simulation
from gradsim.ui.training.plots.loss import FEW_POINTS, LossPlot, _Summary


def make(qtbot, theme) -> LossPlot:
    return shown(qtbot, LossPlot(theme), (450, 450))


def test_curves_equal_history_series(qtbot, theme, clipping_run):
    plot = make(qtbot, theme)
    history = clipping_run.history
    plot.refresh(history, clipping_run.config)
    iterations = history.iterations()
    before, after = history.global_norms()
    for curve, expected in (
        (plot.loss_curve, history.losses()),
        (plot.norm_before_curve, before),
        (plot.norm_after_curve, after),
    ):
        x, y = curve.getOriginalDataset()
        np.testing.assert_array_equal(x, iterations)
        np.testing.assert_array_equal(y, expected)
    for item in (plot.loss_plot, plot.norm_plot):
        assert item.getAxis("left").logMode
    # Clipping by norm brings the norm down to the threshold exactly where it acted.
    np.testing.assert_allclose(after[history.clipped()], clipping_run.config.clip_threshold)


def test_clip_markers_sit_where_clipping_acted(qtbot, theme, clipping_run):
    plot = make(qtbot, theme)
    history = clipping_run.history
    plot.refresh(history, clipping_run.config)
    clipped = history.clipped()
    x, y = plot.clip_markers.getOriginalDataset()
    np.testing.assert_array_equal(x, history.iterations()[clipped])
    np.testing.assert_array_equal(y, history.global_norms()[0][clipped])
    assert 0 < len(x) < len(history)
    assert plot.threshold_line.isVisible()
    assert plot.threshold_line.value() == math.log10(clipping_run.config.clip_threshold)


def test_no_threshold_line_without_clipping_by_norm(qtbot, theme, vanishing_run):
    plot = make(qtbot, theme)
    plot.refresh(vanishing_run.history, vanishing_run.config)
    assert not plot.threshold_line.isVisible()
    assert not vanishing_run.history.clipped().any()
    x, _ = plot.clip_markers.getOriginalDataset()
    assert x is None or len(x) == 0  # pyqtgraph stores an empty dataset as None


def test_a_run_that_never_clips_does_not_set_its_empty_markers_every_frame(
    qtbot, theme, vanishing_run, monkeypatch
):
    plot = make(qtbot, theme)
    calls: list[int] = []
    original = plot.clip_markers.setData
    monkeypatch.setattr(plot.clip_markers, "setData", lambda *a, **k: (calls.append(1), original(*a, **k))[1])
    history = RunHistory()
    for record in vanishing_run.history.recent()[:5]:
        history.append(record)
        plot.refresh(history, vanishing_run.config)
    assert calls == []
    x, _ = plot.clip_markers.getOriginalDataset()
    assert x is None or len(x) == 0


def test_nonfinite_iteration_gets_red_lines_and_a_message(qtbot, theme, exploding_run):
    plot = make(qtbot, theme)
    history = exploding_run.history
    plot.refresh(history, exploding_run.config)
    record = history.nonfinite_record
    assert not np.isfinite(record.loss)
    for line in plot.nonfinite_lines:
        assert line.isVisible()
        assert line.value() == record.iteration
    assert plot.message.toPlainText() == f"non-finite loss at iteration {record.iteration}"
    # The x range reaches the non-finite iteration although its values cannot be drawn.
    (x_low, x_high), _ = plot.loss_plot.getViewBox().viewRange()
    assert x_low < history.iterations()[0] and x_high > record.iteration
    # A two-iteration run has no line to speak of: its points are marked.
    assert len(history) <= FEW_POINTS
    assert plot.loss_curve.opts["symbol"] == "o"
    plot.grab()


def test_reset_then_refresh(qtbot, theme, exploding_run, clipping_run):
    plot = make(qtbot, theme)
    plot.refresh(exploding_run.history, exploding_run.config)
    plot.reset()
    assert plot.loss_curve.getOriginalDataset() == (None, None)
    assert not any(line.isVisible() for line in plot.nonfinite_lines)
    plot.refresh(clipping_run.history, clipping_run.config)
    _, y = plot.loss_curve.getOriginalDataset()
    np.testing.assert_array_equal(y, clipping_run.history.losses())
    assert not plot.message.isVisible()


def test_long_curves_are_downsampled_for_drawing_but_keep_their_data(qtbot, theme, make_run):
    config = SimConfig(activation="tanh", seq_len=5, hidden_size=4, batch_size=2, learning_rate=0.05)
    run = make_run(config, 1500, capacity=1000)
    history = run.history
    plot = LossPlot(theme)
    qtbot.addWidget(plot)
    plot.resize(260, 400)  # far fewer pixels than points
    plot.show()
    plot.refresh(history, config)
    qtbot.wait(10)
    before, _ = history.global_norms()
    for curve, expected in ((plot.loss_curve, history.losses()), (plot.norm_before_curve, before)):
        x, y = curve.getOriginalDataset()
        np.testing.assert_array_equal(x, history.iterations())
        np.testing.assert_array_equal(y, expected)
        shown_x, shown_y = curve.getData()
        assert len(shown_x) < len(x)  # peak downsampling: fewer points drawn ...
        # ... and the extremes are all still there (log10 units on the log axis).
        assert np.nanmax(shown_y) == pytest.approx(np.log10(expected.max()))
        assert np.nanmin(shown_y) == pytest.approx(np.log10(expected.min()))
    # The x range holds every iteration, in round steps.
    (x_low, x_high), _ = plot.loss_plot.getViewBox().viewRange()
    assert x_low < history.iterations()[0] and x_high > history.iterations()[-1]


def test_ranges_kept_up_with_new_entries_equal_a_reading_of_the_whole_series(qtbot, theme):
    plot = make(qtbot, theme)
    config = SimConfig(seq_len=5, hidden_size=4, batch_size=2)
    template = Simulation(config).train_step()
    history = RunHistory(capacity=16)
    rng = np.random.default_rng(3)
    thinnings = set()
    for iteration in range(1, 200):
        # Positive values spanning decades, some 0, inf or NaN, and an outlier that a later
        # thinning drops (the range must shrink back then).
        loss = float(10.0 ** rng.uniform(-3, 3))
        if iteration % 37 == 0:
            loss = [0.0, math.inf, math.nan][iteration % 3]
        if iteration == 20:
            loss = 1e9
        norm = float(10.0 ** rng.uniform(-1, 1))
        changes = {"loss": loss, "global_norm_before": norm, "global_norm_after": min(norm, 2.0)}
        history.append(dataclasses.replace(template, iteration=iteration, **changes))
        plot.refresh(history, config)
        thinnings.add(history.thinnings)
        for name, series in (("loss", [history.losses()]), ("before", list(history.global_norms()))):
            whole = np.concatenate(series)
            good = whole[np.isfinite(whole) & (whole > 0)]
            summary = plot._summaries[name]
            summaries = [summary] + ([plot._summaries["after"]] if name == "before" else [])
            expected = (math.log10(good.min()), math.log10(good.max())) if good.size else (math.nan, math.nan)
            assert summaries[0].log_range(*summaries[1:]) == expected, iteration
            assert summary.drawable == bool(np.all(np.isfinite(series[0]) & (series[0] > 0)))
        fresh = _Summary()
        fresh.update(history.losses(), history.thinnings)
        assert (fresh.low, fresh.high, fresh.drawable) == (
            plot._summaries["loss"].low, plot._summaries["loss"].high, plot._summaries["loss"].drawable
        )  # fmt: skip
    assert len(thinnings) > 5
