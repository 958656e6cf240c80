"""GradientPlot shows the engine's ||dL/dh_t|| per layer: bold newest, faint trail, problems named."""

from __future__ import annotations

import dataclasses

import numpy as np
from helpers import engine_run, shown

from gradsim.engine.config import SimConfig
from gradsim.engine.history import RunHistory
from gradsim.ui.training.plots.base import DecadeAxis, power_of_ten_label
from gradsim.ui.training.plots.gradient import GradientPlot


def make(qtbot, theme) -> GradientPlot:
    return shown(qtbot, GradientPlot(theme), (700, 450))


def test_bold_curves_are_the_newest_records_log10_grad_norms(qtbot, theme, vanishing_run):
    plot = make(qtbot, theme)
    plot.refresh(vanishing_run.history, vanishing_run.config)
    record = vanishing_run.history.latest
    num_layers, seq_len = record.grad_norms.shape
    assert num_layers == 3
    for k in range(num_layers):
        x, y = plot.curves[k].getOriginalDataset()
        np.testing.assert_array_equal(x, np.arange(1, seq_len + 1))
        np.testing.assert_array_equal(y, record.log10_grad_norms[k])
        assert plot.curves[k].isVisible()
        assert plot.curves[k].opts["pen"].widthF() > plot.trails[k].opts["pen"].widthF()
    # The vanishing run spans tens of decades: log10 data on an axis labelled in powers of ten.
    assert isinstance(plot.plot.getAxis("left"), DecadeAxis)
    assert not plot.plot.getAxis("left").logMode
    assert f"iteration {record.iteration}" in plot.plot.titleLabel.full_text


def test_trail_is_the_earlier_recent_records_separated_by_nan(qtbot, theme, vanishing_run):
    plot = make(qtbot, theme)
    plot.refresh(vanishing_run.history, vanishing_run.config)
    earlier = vanishing_run.history.recent()[:-1]
    assert len(earlier) == 11
    seq_len = earlier[0].grad_norms.shape[1]
    for k in range(3):
        x, y = plot.trails[k].getOriginalDataset()
        blocks_x = x.reshape(len(earlier), seq_len + 1)
        blocks_y = y.reshape(len(earlier), seq_len + 1)
        assert np.isnan(blocks_x[:, -1]).all() and np.isnan(blocks_y[:, -1]).all()
        for block_x, block_y, record in zip(blocks_x, blocks_y, earlier, strict=True):
            np.testing.assert_array_equal(block_x[:-1], np.arange(1, seq_len + 1))
            np.testing.assert_array_equal(block_y[:-1], record.log10_grad_norms[k])


def test_legend_names_each_layer(qtbot, theme, vanishing_run):
    plot = make(qtbot, theme)
    plot.refresh(vanishing_run.history, vanishing_run.config)
    names = [label.text for _, label in plot.legend.items]
    assert names == ["layer 1", "layer 2", "layer 3"]
    colors = {plot.curves[k].opts["pen"].color().name() for k in range(3)}
    assert len(colors) == 3


def test_nonfinite_run_is_marked_and_named(qtbot, theme, exploding_run):
    plot = make(qtbot, theme)
    plot.refresh(exploding_run.history, exploding_run.config)
    record = exploding_run.history.latest
    assert record.nonfinite is not None
    assert not np.isfinite(record.grad_norms).all()
    assert plot.nonfinite_region.isVisible()
    assert plot.nonfinite_line.isVisible()
    bad_steps = np.flatnonzero(~np.isfinite(record.grad_norms).all(axis=0)) + 1
    low, high = plot.nonfinite_region.getRegion()
    assert low == bad_steps[0] - 0.5 and high == bad_steps[-1] + 0.5
    text = plot.message.toPlainText()
    assert "non-finite" in text
    assert record.nonfinite.describe() in text
    # The earlier, finite iteration is still drawn as the trail: the plot is not blank.
    _, trail = plot.trails[0].getOriginalDataset()
    assert np.isfinite(trail).sum() == record.grad_norms.shape[1]
    # ... and made stronger, since there is no newest curve to draw in front of it.
    assert plot.trails[0].opts["pen"].color().alpha() > 150
    plot.grab()  # painting non-finite data must not warn (warnings are errors here)


def test_partly_nonfinite_message_names_first_step_met_by_backward_pass(qtbot, theme, vanishing_run,
                                                                        with_grad_norms):  # fmt: skip
    norms = vanishing_run.history.latest.grad_norms.copy()
    norms[1, :37] = np.inf
    norms[0, :20] = np.nan
    plot = make(qtbot, theme)
    plot.refresh(with_grad_norms(vanishing_run, norms), vanishing_run.config)
    assert "from step 37 (layer 2)" in plot.message.toPlainText()
    assert plot.nonfinite_line.value() == 37
    assert plot.nonfinite_region.getRegion() == (0.5, 37.5)


def test_log_axis_spans_down_to_1e_300_and_reports_zeros(qtbot, theme, vanishing_run, with_grad_norms):
    norms = np.full((3, 100), 1.0)
    norms[0, :10] = 1e-300
    norms[2, 50:55] = 0.0
    plot = make(qtbot, theme)
    plot.refresh(with_grad_norms(vanishing_run, norms), vanishing_run.config)
    plot.plot.getViewBox().updateAutoRange()
    (_, _), (y_low, y_high) = plot.plot.getViewBox().viewRange()
    assert y_low <= -300 and y_high >= 0  # log10 units
    assert y_low > -400  # ranged on the finite positive values, not on log10(0)
    assert "5 values exactly 0 (first in layer 3)" in plot.note.toPlainText()
    assert not plot.message.isVisible()
    plot.grab()


def test_changing_layer_count_shows_exactly_that_many_curves(qtbot, theme, vanishing_run, single_layer_run):
    plot = make(qtbot, theme)
    plot.refresh(vanishing_run.history, vanishing_run.config)
    plot.reset()
    plot.refresh(single_layer_run.history, single_layer_run.config)
    assert [c.isVisible() for c in plot.curves] == [True, False, False]
    assert [label.text for _, label in plot.legend.items] == ["layer 1"]
    _, y = plot.curves[0].getOriginalDataset()
    np.testing.assert_array_equal(y, single_layer_run.history.latest.log10_grad_norms[0])
    plot.refresh(vanishing_run.history, vanishing_run.config)
    assert [c.isVisible() for c in plot.curves] == [True, True, True]
    assert len(plot.curves) == 3  # items are reused, not rebuilt


def test_trail_is_faint_again_after_a_nonfinite_run(qtbot, theme, exploding_run, vanishing_run):
    plot = make(qtbot, theme)
    plot.refresh(exploding_run.history, exploding_run.config)
    plot.reset()
    plot.refresh(vanishing_run.history, vanishing_run.config)
    assert all(trail.opts["pen"].color().alpha() < 100 for trail in plot.trails)
    assert plot.curves[0].opts["pen"].widthF() == 3.0


def test_reset_clears_and_refresh_after_reset_draws_again(qtbot, theme, vanishing_run):
    plot = make(qtbot, theme)
    plot.refresh(vanishing_run.history, vanishing_run.config)
    plot.reset()
    assert plot.curves[0].getOriginalDataset() == (None, None)
    plot.refresh(RunHistory(), SimConfig())
    assert plot.curves[0].getOriginalDataset() == (None, None)
    plot.refresh(vanishing_run.history, vanishing_run.config)
    _, y = plot.curves[2].getOriginalDataset()
    np.testing.assert_array_equal(y, vanishing_run.history.latest.log10_grad_norms[2])


def test_refresh_without_new_data_does_no_work(qtbot, theme, vanishing_run, monkeypatch):
    plot = make(qtbot, theme)
    calls = []
    original = plot._draw
    monkeypatch.setattr(plot, "_draw", lambda h, c: (calls.append(1), original(h, c)))
    plot.refresh(vanishing_run.history, vanishing_run.config)
    plot.refresh(vanishing_run.history, vanishing_run.config)
    assert len(calls) == 1
    plot.refresh(vanishing_run.history, vanishing_run.config.replace(seed=1))
    assert len(calls) == 2


def test_norms_below_float64_are_drawn_where_they_are(qtbot, theme, vanishing_run, with_grad_norms):
    # A sigmoid stack over 1000 steps: down to 1e-607, where every float64 norm is 0.
    logs = np.tile(np.linspace(-607.0, -0.5, 100), (3, 1))
    logs[2, 50:55] = -np.inf  # and a few exact zeros
    norms = np.zeros((3, 100))
    plot = make(qtbot, theme)
    plot.refresh(with_grad_norms(vanishing_run, norms, logs), vanishing_run.config)
    _, y = plot.curves[0].getOriginalDataset()
    np.testing.assert_array_equal(y, logs[0])
    _, y = plot.curves[2].getOriginalDataset()
    assert np.isnan(y[50:55]).all() and np.isfinite(y[:50]).all()
    view = plot.plot.getViewBox()
    view.updateAutoRange()
    (_, _), (y_low, y_high) = view.viewRange()
    assert -700 < y_low <= -607 and y_high >= -0.5
    axis = plot.plot.getAxis("left")
    labels = [label for _, level in axis.tickValues(y_low, y_high, 400) for label in
              axis.tickStrings(level, 1.0, 100.0)]  # fmt: skip
    assert "10⁻⁶⁰⁰" in labels and "10⁻²⁰⁰" in labels
    assert "5 values exactly 0 (first in layer 3)" in plot.note.toPlainText()
    plot.grab()


def test_decade_labels():
    assert power_of_ten_label(-607.0) == "10⁻⁶⁰⁷"
    assert power_of_ten_label(0.0) == "1"
    assert power_of_ten_label(3.0) == "10³"
    assert power_of_ten_label(-3.5) == "3.2·10⁻⁴"
    assert power_of_ten_label(np.log10(2.0)) == "2"
    assert power_of_ten_label(-1e-12) == "1"  # rounding below a decade still reads as it
    assert power_of_ten_label(-606.99999999) == "10⁻⁶⁰⁷"


def test_y_range_holds_every_curve_and_stays_put_while_they_move(qtbot, theme, make_run):
    # The auto range sees the curves' range in round steps: a frame whose curves stay inside
    # it does not move the axis; every drawn value is inside the view.
    config = SimConfig(activation="sigmoid", num_layers=2, seq_len=60, hidden_size=8, batch_size=2)
    run = make_run(config, 30)
    plot = make(qtbot, theme)
    view = plot.plot.getViewBox()
    history = RunHistory()
    ranges = []
    for record in run.history.recent()[-8:]:
        history.append(record)
        plot.refresh(history, config)
        view.updateAutoRange()
        (_, _), (y_low, y_high) = view.viewRange()
        ranges.append((y_low, y_high))
        drawn = [plot.curves[k].getOriginalDataset()[1] for k in range(2)]
        drawn += [plot.trails[k].getOriginalDataset()[1] for k in range(2) if len(history) > 1]
        values = np.concatenate(drawn)
        values = values[np.isfinite(values)]
        assert y_low <= values.min() and values.max() <= y_high
        # The curves themselves are ignored by the auto range: the snapped bounds stand for them.
        low, high = plot.bounds.ranges[1]
        assert low <= values.min() and values.max() <= high
        assert high - low <= 1.3 * (values.max() - values.min()) + 0.5
    assert len(set(ranges)) < len(ranges) / 2  # mostly the same range frame after frame


def test_trail_kept_from_frame_to_frame_equals_a_drawing_from_scratch(qtbot, theme):
    # A few records a frame, some frames with none new, a history that thins, a record that
    # leaves the trail and one whose values are non-finite: the plot that converts only the
    # records new to its trail shows what a fresh plot shows.
    config = SimConfig(num_layers=2, seq_len=12, hidden_size=4, batch_size=2)
    records = engine_run(config, 40)
    broken = records[17].log10_grad_norms.copy()
    broken[1, :3] = [np.nan, np.inf, -np.inf]
    records[17] = dataclasses.replace(records[17], log10_grad_norms=broken)
    history = RunHistory(capacity=8, trail=5)
    plot = make(qtbot, theme)
    position = 0
    for count in [1, 3, 0, 2, 5, 1, 1, 7, 0, 4, 6, 2, 8]:
        for record in records[position : position + count]:
            history.append(record)
        position += count
        plot.refresh(history, config)
        fresh = make(qtbot, theme)
        fresh.refresh(history, config)
        for k in range(2):
            for ours, theirs in ((plot.trails[k], fresh.trails[k]), (plot.curves[k], fresh.curves[k])):
                for a, b in zip(ours.getOriginalDataset(), theirs.getOriginalDataset(), strict=True):
                    np.testing.assert_array_equal(a, b)
        assert plot._trail._range == fresh._trail._range
        # Only the trail's own records are kept converted.
        assert {id(r) for r in history.recent()[:-1]} == set(plot._trail._rows)
    assert position == len(records)


def test_a_redraw_of_the_same_records_leaves_the_curves_data_as_it_is(qtbot, theme, vanishing_run):
    plot = make(qtbot, theme)
    plot.refresh(vanishing_run.history, vanishing_run.config)
    calls = []
    # The bold curves get data with set_line (or setData), the trails theirs with set_rows.
    for item, name in [
        *((curve, "setData") for curve in plot.curves),
        *((curve, "set_line") for curve in plot.curves),
        *((trail, "set_rows") for trail in plot.trails),
    ]:
        original = getattr(item, name)
        setattr(
            item, name, lambda *args, _original=original, **opts: calls.append(1) or _original(*args, **opts)
        )
    plot.redraw()  # as after the cell-state check box changed
    assert calls == []
    history = RunHistory()
    for record in vanishing_run.history.recent():
        history.append(record)
    history.append(dataclasses.replace(vanishing_run.history.latest, iteration=99))
    plot.refresh(history, vanishing_run.config)
    assert len(calls) == 6  # a new record: 3 bold curves and 3 trails
