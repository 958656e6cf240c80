"""Shared plot pieces: change detection, log-axis labels, titles that fit, overlay text."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6 import QtCore, QtGui

from gradsim.engine.config import SimConfig
from gradsim.engine.history import RunHistory
from gradsim.ui.training.plots.base import (
    DecadeAxis,
    KeptRectAxis,
    LiveViewBox,
    LogAxis,
    OverlayText,
    PlotPanel,
    SnappedBounds,
    TitleLabel,
    finite_range,
    nice_step,
    power_of_ten_label,
    snapped_range,
)


class CountingPanel(PlotPanel):
    """A minimal panel that records what it was asked to do."""

    def __init__(self, theme) -> None:
        super().__init__(theme)
        self.plot = self._add_plot()
        self.draws: list[int] = []
        self.clears = 0
        self.forgets = 0

    def _draw(self, history, config):
        self.draws.append(history.total_records)

    def _clear(self):
        self.clears += 1

    def _forget(self):
        self.forgets += 1


def shown_panel(qtbot, theme, width: int, height: int) -> CountingPanel:
    """A CountingPanel of ``width`` x ``height`` pixels, shown and exposed."""
    panel = CountingPanel(theme)
    qtbot.addWidget(panel)
    panel.resize(width, height)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


def test_refresh_draws_only_on_change(qtbot, theme, vanishing_run):
    panel = CountingPanel(theme)
    qtbot.addWidget(panel)
    history = RunHistory()
    for record in vanishing_run.history.recent()[:3]:
        history.append(record)
    config = vanishing_run.config
    panel.refresh(history, config)
    panel.refresh(history, config)
    assert panel.draws == [3]
    history.append(vanishing_run.history.recent()[3])
    panel.refresh(history, config)
    assert panel.draws == [3, 4]
    panel.refresh(history, config.replace(hidden_size=17))  # a new config redraws
    assert panel.draws == [3, 4, 4]


def test_a_cleared_or_other_history_drops_caches(qtbot, theme, vanishing_run):
    panel = CountingPanel(theme)
    qtbot.addWidget(panel)
    config = vanishing_run.config
    panel.refresh(vanishing_run.history, config)
    forgets = panel.forgets
    other = RunHistory()
    other.append(vanishing_run.history.latest)
    panel.refresh(other, config)
    assert panel.forgets == forgets + 1
    other.clear()
    other.append(vanishing_run.history.recent()[0])
    panel.refresh(other, config)  # as many records as before, but another run's
    assert panel.forgets == forgets + 2
    other.append(vanishing_run.history.recent()[1])
    panel.refresh(other, config)  # a continuation keeps the caches
    assert panel.forgets == forgets + 2
    panel.reset()
    assert panel.clears == 1
    panel.redraw()  # nothing to redraw after a reset
    assert panel.draws == [15, 1, 1, 2]


def test_continuation_is_recognised_after_the_last_record_left_the_trail(qtbot, theme, make_run):
    source = make_run(SimConfig(num_layers=1, seq_len=5, hidden_size=3, batch_size=2), 12)
    records = source.history.recent()
    panel = CountingPanel(theme)
    qtbot.addWidget(panel)
    history = RunHistory(trail=2)
    for record in records[:4]:
        history.append(record)
    panel.refresh(history, source.config)
    for record in records[4:9]:  # more than the trail: the last drawn record left recent()
        history.append(record)
    panel.refresh(history, source.config)
    assert panel.forgets == 1  # only the first refresh (a new history)
    # Cleared and refilled past the same count before the next frame, by another run
    # (same iteration numbers, other losses): caches are dropped.
    drawn = history.total_records
    history.clear()
    for record in records[: drawn + 1]:
        history.append(dataclasses.replace(record, loss=record.loss + 1.0))
    panel.refresh(history, source.config)
    assert panel.forgets == 2


def test_log_axis_labels_decades_and_only_2_and_5_between(qtbot):
    axis = LogAxis("left")
    axis.setLogMode(False, True)
    axis.setRange(-2.2, -0.9)  # just over a decade: minor ticks get labels
    values = [float(np.log10(v)) for v in (0.01, 0.02, 0.03, 0.05, 0.07, 0.1)]
    labels = axis.tickStrings(values, 1.0, 1.0)
    assert labels[0] and labels[1] and labels[3] and labels[5]
    assert labels[2] == "" and labels[4] == ""
    # Beside 2 and 5, decades are written as plain numbers too: 0.5, 1, 2, 5, 10 (not 10¹).
    axis.setRange(float(np.log10(0.4)), float(np.log10(12.0)))
    values = [float(np.log10(v)) for v in (0.5, 1, 2, 5, 10)]
    assert axis.tickStrings(values, 1.0, 1.0) == ["0.5", "1", "2", "5", "10"]
    axis.setRange(-60.0, 0.0)  # many decades: decades only
    labels = axis.tickStrings([-60.0, -59.7, -30.0], 1.0, 10.0)
    assert labels[0] == "10⁻⁶⁰" and labels[1] == "" and labels[2] == "10⁻³⁰"


def test_title_never_widens_its_plot_and_is_elided(qtbot, theme):
    widget = pg.GraphicsLayoutWidget()
    qtbot.addWidget(widget)
    plot = widget.addPlot()
    panel = CountingPanel(theme)
    qtbot.addWidget(panel)
    panel.resize(220, 200)
    panel.show()
    long_title = "a title far too long to fit in a plot two hundred pixels wide, by a lot"
    panel._set_title(panel.plot, long_title)
    qtbot.waitUntil(lambda: panel.plot.titleLabel.text != long_title)
    label = panel.plot.titleLabel
    assert isinstance(label, TitleLabel)
    assert label.full_text == long_title
    assert label.text.endswith("…")
    assert panel.graphics.ci.geometry().width() <= panel.graphics.viewport().width() + 1
    # pyqtgraph's own title would have required the whole text width.
    plot.setTitle(long_title, size="12pt")
    assert plot.titleLabel.minimumWidth() > 300
    assert label.minimumWidth() == 0


def test_a_title_measures_its_texts_in_its_current_font(qtbot, theme):
    # The measuring document is kept: a new size must reach it (a fresh document's width).
    panel = CountingPanel(theme)
    qtbot.addWidget(panel)
    label = panel.plot.titleLabel
    text = "loss at <b>iteration</b> 7"

    def fresh_width() -> float:
        document = QtGui.QTextDocument()
        document.setDefaultFont(label._font())
        document.setDocumentMargin(0)
        document.setHtml(text)
        return document.idealWidth()

    widths = []
    for points in (9, 20, 9):
        panel._set_title(panel.plot, "a title", points=points)
        widths.append(label.text_width(text))
        assert widths[-1] == fresh_width()
    assert widths[0] == widths[2] < widths[1]


def test_a_title_set_again_unchanged_is_not_laid_out_again(qtbot, theme, monkeypatch):
    panel = CountingPanel(theme)
    qtbot.addWidget(panel)
    panel.resize(400, 300)
    panel.show()
    label = panel.plot.titleLabel
    calls = []
    original = TitleLabel.setText
    monkeypatch.setattr(
        TitleLabel, "setText", lambda self, text, **args: calls.append(text) or original(self, text, **args)
    )
    panel._set_title(panel.plot, "loss at iteration 7", shorter=("iteration 7",))
    panel._set_title(panel.plot, "loss at iteration 7", shorter=("iteration 7",))
    assert calls == ["loss at iteration 7"] and label.full_text == "loss at iteration 7"
    # Another text, other shorter forms, another size or a hidden title: set again.
    panel._set_title(panel.plot, "loss at iteration 8", shorter=("iteration 8",))
    panel._set_title(panel.plot, "loss at iteration 8")
    panel._set_title(panel.plot, "loss at iteration 8", points=20)
    assert calls[1:] == ["loss at iteration 8"] * 3
    assert label.opts["size"] == "20pt"
    panel.plot.setTitle(None)
    panel._set_title(panel.plot, "loss at iteration 8", points=20)
    assert label.isVisibleTo(panel.plot) and len(calls) == 5


def test_overlay_text_stays_in_the_corner_and_wraps(qtbot, theme):
    widget = pg.GraphicsLayoutWidget()
    qtbot.addWidget(widget)
    widget.resize(300, 200)
    plot = widget.addPlot()
    plot.setLogMode(y=True)
    text = OverlayText(plot, theme, "top-left")
    text.show_text("")
    assert not text.isVisible()
    text.show_text("a message long enough to need more than one line in a narrow plot")
    widget.show()
    qtbot.waitExposed(widget)
    assert text.isVisible()
    view = plot.getViewBox()
    assert text.pos() == QtCore.QPointF(view.rect().left() + 6, view.rect().top() + 6)
    assert text.textItem.boundingRect().width() <= view.rect().width()
    plot.setYRange(-300, 0)  # zooming does not move it: it lives in pixel coordinates
    assert text.pos() == QtCore.QPointF(view.rect().left() + 6, view.rect().top() + 6)


def test_panel_reads_config_and_history_types(qtbot, theme):
    panel = CountingPanel(theme)
    qtbot.addWidget(panel)
    panel.refresh(RunHistory(), SimConfig())
    assert panel.draws == [0]


def test_major_grid_lines_follow_the_ticks_and_the_range(qtbot, theme):
    panel = shown_panel(qtbot, theme, 400, 300)
    grid = panel.grids[0]
    panel.plot.setXRange(0, 100, padding=0)
    panel.plot.setYRange(0, 1, padding=0)
    x, y = grid.item.getData()
    vertical = x[::2][y[::2] != y[1::2]]
    ticks = panel.plot.getAxis("bottom").tickValues(0, 100, panel.plot.getViewBox().width())
    assert set(vertical) == {v for _, values in ticks[:2] for v in values if 0 <= v <= 100}
    assert len(vertical) >= 3
    panel.plot.setXRange(0, 5, padding=0)
    x, y = grid.item.getData()
    vertical = x[::2][y[::2] != y[1::2]]
    assert vertical.max() <= 5 and len(vertical) >= 3
    # Horizontal lines span the view: each pair runs from the left edge to the right edge.
    horizontal = (y[::2] == y[1::2]) & (x[::2] != x[1::2])
    np.testing.assert_array_equal(x[::2][horizontal], 0.0)
    np.testing.assert_array_equal(x[1::2][horizontal], 5.0)


def test_nice_steps_are_1_2_5_times_a_power_of_ten():
    assert [nice_step(v) for v in (0.7, 1.0, 1.3, 3.0, 7.0, 0.012)] == pytest.approx([1, 1, 2, 5, 10, 0.02])


def test_snapped_range_holds_the_data_in_round_steps_and_stays_put():
    low, high = snapped_range(-607.2, -0.4)  # step 50 (about a twentieth of the span)
    assert (low, high) == (-650.0, 0.0)
    # Data that moves inside the range keeps it (the axis is not laid out again) ...
    assert snapped_range(-600.0, -3.0, (low, high)) == (low, high)
    # ... data that leaves it, or shrinks well inside it, gets a new one.
    assert snapped_range(-660.0, -3.0, (low, high)) == (-700.0, 0.0)
    assert snapped_range(-20.3, -3.1, (low, high)) == pytest.approx((-21.0, -3.0))
    assert snapped_range(2.0, 2.0) == pytest.approx((2.0, 2.0 + 2e-9), rel=1e-6)


def test_snapped_bounds_are_what_the_auto_range_sees(qtbot, theme):
    panel = CountingPanel(theme)
    qtbot.addWidget(panel)
    panel.resize(400, 300)
    panel.show()
    bounds = SnappedBounds()
    panel.plot.addItem(bounds)
    curve = panel.plot.plot(np.arange(10.0), np.linspace(-3.2, 4.9, 10))
    panel.plot.removeItem(curve)
    panel.plot.addItem(curve, ignoreBounds=True)
    bounds.set_exact(0, 0.0, 9.0)
    bounds.set_range(1, *finite_range(np.array([-3.2, np.nan, 4.9])))
    assert bounds.ranges == [(0.0, 9.0), pytest.approx((-3.5, 5.0))]
    view = panel.plot.getViewBox()
    view.setDefaultPadding(0.0)
    view.enableAutoRange()
    view.updateAutoRange()
    (x_low, x_high), (y_low, y_high) = view.viewRange()
    assert (x_low, x_high) == pytest.approx((0.0, 9.0)) and (y_low, y_high) == pytest.approx((-3.5, 5.0))
    bounds.clear()
    assert bounds.ranges == [None, None]
    assert np.isnan(finite_range(np.array([np.nan, np.inf]))).all()  # no finite value: no range


def test_the_auto_range_is_worked_out_again_only_for_the_items_it_follows(qtbot, theme, monkeypatch):
    panel = shown_panel(qtbot, theme, 400, 300)
    view = panel.plot.getViewBox()
    assert isinstance(view, LiveViewBox)
    view.enableAutoRange()
    bounds = SnappedBounds()
    panel.plot.addItem(bounds)
    live = panel.plot.plot(np.arange(10.0), np.zeros(10))  # a PlotDataItem: its inner curve reports too
    panel.plot.removeItem(live)
    panel.plot.addItem(live, ignoreBounds=True)
    followed = pg.PlotDataItem(np.arange(10.0), np.ones(10))
    panel.plot.addItem(followed)
    panel.graphics.grab()
    updates: list[int] = []
    original = view.updateAutoRange
    monkeypatch.setattr(view, "updateAutoRange", lambda: (updates.append(1), original())[1])
    for k in range(5):  # a live curve moves every frame: the range it does not count in stays
        live.setData(np.arange(10.0), np.full(10, float(k)))
        panel.graphics.grab()
    assert updates == [] and not view._autoRangeNeedsUpdate
    followed.setData(np.arange(10.0), np.full(10, 7.0))  # an item the range follows moved
    assert view._autoRangeNeedsUpdate
    panel.graphics.grab()
    assert updates == [1]
    bounds.set_range(1, -20.0, 20.0)  # and so did the bounds standing for the live curves
    panel.graphics.grab()
    assert updates == [1, 1]
    assert view.viewRange()[1][0] <= -20.0 and view.viewRange()[1][1] >= 20.0


def test_a_new_title_of_the_same_height_leaves_the_layout_and_is_set_once(qtbot, theme, monkeypatch):
    panel = shown_panel(qtbot, theme, 260, 300)
    label = panel.plot.titleLabel
    long = "||dL/dh_t|| at iteration {} (bold), 10 before faint, a long title"
    panel._set_title(panel.plot, long.format(1), shorter=("iteration 1",))
    qtbot.waitUntil(lambda: panel.plot.layout.isActivated())
    assert label.text == "iteration 1"  # the short form fits
    texts: list[str] = []
    original = pg.LabelItem.setText
    monkeypatch.setattr(
        pg.LabelItem, "setText", lambda self, text, **a: (texts.append(text), original(self, text, **a))
    )
    panel._set_title(panel.plot, long.format(2), shorter=("iteration 2",))
    # Laid out once, in its short form (not in full first), and the plot's layout not told.
    assert texts == ["iteration 2"] and label.text == "iteration 2"
    assert label.full_text == long.format(2) and label.toolTip() == long.format(2)
    assert panel.plot.layout.isActivated()
    panel._set_title(panel.plot, "iteration 3", points=30)  # taller: the layout is told
    assert not panel.plot.layout.isActivated()
    assert label.text == "iteration 3" and label.toolTip() == ""


def test_axes_keep_their_bounding_rect_until_their_geometry_or_style_changes(qtbot, theme):
    panel = shown_panel(qtbot, theme, 300, 240)
    axes = [panel.plot.getAxis(side) for side in ("left", "bottom")]
    assert all(isinstance(axis, KeptRectAxis) and axis.isVisible() for axis in axes)
    assert not panel.plot.getAxis("right").isVisible() and not panel.plot.getAxis("top").isVisible()
    left = panel.plot.getAxis("left")

    def worked_out() -> bool:
        """Whether the next call works the rectangle out (rather than return the kept one),
        and that the rectangle is pyqtgraph's."""
        kept = left._kept
        assert left.boundingRect() == pg.AxisItem.boundingRect(left)
        return left._kept is not kept

    left.boundingRect()
    assert not worked_out() and not worked_out()
    panel.resize(360, 300)  # a new geometry
    qtbot.waitUntil(lambda: left.geometry().height() > 200)
    assert worked_out() and not worked_out()
    left.setStyle(tickLength=-12)  # ticks inward: a rect widened into the view
    assert worked_out() and not worked_out()
    left.setGrid(80)  # pyqtgraph's grid joins the view's rectangle: worked out every time
    view_rect = left.linkedView().mapRectToItem(left, left.linkedView().boundingRect())
    assert left.boundingRect().contains(view_rect)


def decade_axis_ticks(low: float, high: float, pixels: float) -> list[tuple[float, str]]:
    """The labelled ticks ``(value, label)`` a :class:`DecadeAxis` draws over log10 values
    ``low..high``, asked for as pyqtgraph does (level by level, after the tick values)."""
    axis = DecadeAxis("left")
    axis.setStyle(tickFont=QtGui.QFont("DejaVu Sans", 10))
    axis.setRange(low, high)
    ticks = []
    for spacing, values in axis.tickValues(low, high, pixels):
        labels = axis.tickStrings(values, 1.0, spacing)
        ticks += [(value, label) for value, label in zip(values, labels, strict=True) if label]
    return sorted(ticks)


def decade_axis_labels(low: float, high: float, pixels: float) -> list[str]:
    return [label for _, label in decade_axis_ticks(low, high, pixels)]


@pytest.mark.parametrize("pixels", [120, 300, 600])
def test_decade_axis_labels_1_2_5_of_each_decade_or_decades_only(pixels):
    # The A/B plots' 1.8 decades at 1920x1080 read 1.3·10⁻¹, 10⁻¹, 7.9·10⁻², 6.3·10⁻², ...
    ticks = decade_axis_ticks(-2.75, -0.85, pixels)
    labels = [label for _, label in ticks]
    allowed = {power_of_ten_label(d + np.log10(m)) for d in (-3, -2, -1) for m in (1, 2, 5)}
    assert set(labels) <= allowed and {"10⁻²", "10⁻¹"} <= set(labels)
    mantissas = {label.split("·")[0] for label in labels if "·" in label}
    assert mantissas == ({"2", "5"} if pixels >= 300 else set())
    gaps = np.diff([value for value, _ in ticks]) * pixels / 1.9
    assert gaps.min() >= 1.4 * QtGui.QFontMetricsF(QtGui.QFont("DejaVu Sans", 10)).height()


def test_decade_axis_skips_decades_over_hundreds_of_them_and_labels_round_values_within_one():
    labels = decade_axis_labels(-607.0, 0.0, 200)
    assert labels == ["10⁻⁶⁰⁰", "10⁻⁵⁰⁰", "10⁻⁴⁰⁰", "10⁻³⁰⁰", "10⁻²⁰⁰", "10⁻¹⁰⁰", "1"]
    # The A/B ratio plot: B / A between 0.79 and 1.9, steps round in the ratio itself.
    labels = decade_axis_labels(np.log10(0.79), np.log10(1.9), 300)
    assert labels == ["8·10⁻¹", "1", "1.2", "1.4", "1.6", "1.8"]
