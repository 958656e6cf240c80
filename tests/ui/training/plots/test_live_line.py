"""LiveLine: a live curve's new points go to its curve item as setData would give them."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtGui

from gradsim.ui.training.plots.live_line import LiveLine


def path_elements(curve: pg.PlotCurveItem) -> list[tuple[int, float, float]]:
    path = curve.getPath()
    return [(int(e.type.value), e.x, e.y) for e in (path.elementAt(i) for i in range(path.elementCount()))]


def test_set_line_shows_what_set_data_shows_without_setting_the_style(view, monkeypatch):
    pen = pg.mkPen("#d62728", width=3.0)
    live, reference = LiveLine(pen=pen, connect="finite"), pg.PlotDataItem(pen=pen, connect="finite")
    for item in (live, reference):
        view.addItem(item, ignoreBounds=True)
    x = np.arange(1.0, 9.0)
    pens: list[int] = []
    original = live.curve.setPen
    monkeypatch.setattr(live.curve, "setPen", lambda *a, **k: (pens.append(1), original(*a, **k))[1])
    for y, finite in (
        (np.linspace(-3.0, 2.0, 8), True),
        (np.array([1.0, 2.0, np.nan, 4, 5, 6, 7, 8]), False),
    ):
        live.set_line(x, y, skip_finite_check=finite)
        reference.setData(x, y, skipFiniteCheck=finite)
        for ours, theirs in zip(live.getOriginalDataset(), reference.getOriginalDataset(), strict=True):
            np.testing.assert_array_equal(ours, theirs)
        for ours, theirs in zip(live.getData(), reference.getData(), strict=True):
            np.testing.assert_array_equal(ours, theirs)
        assert path_elements(live.curve) == path_elements(reference.curve)
        assert live.curve.opts["skipFiniteCheck"] is finite and live.curve.isVisible()
        assert live.curve.opts["pen"] == reference.curve.opts["pen"]
    assert pens == [1]  # the first data handed the style over (pyqtgraph's way), the others not
    assert live.curve.boundingRect() == reference.curve.boundingRect()


def test_set_line_falls_back_to_set_data_when_the_display_would_change_the_data(view):
    live = LiveLine(pen=pg.mkPen("k"), connect="finite")
    view.addItem(live)
    assert live.plain()
    live.setLogMode(False, True)  # a log axis maps the data: setData's way
    assert not live.plain()
    x, y = np.arange(1.0, 5.0), np.array([1.0, 10.0, 100.0, 1000.0])
    live.set_line(x, y, skip_finite_check=True)
    np.testing.assert_allclose(live.getData()[1], [0.0, 1.0, 2.0, 3.0])
    live.set_line(np.zeros(0), np.zeros(0))  # empty: setData's way (the curve hides)
    assert live.getOriginalDataset() == (None, None)
    assert isinstance(live.curve.opts["pen"], QtGui.QPen)


def test_a_style_given_while_empty_reaches_the_curve_with_the_next_line(view):
    live = LiveLine(pen=pg.mkPen("k"), connect="finite")
    view.addItem(live)
    x = np.arange(1.0, 5.0)
    live.set_line(x, x, skip_finite_check=True)
    live.setData([], [])
    live.setPen(pg.mkPen("#2ca02c", width=2.0))  # pyqtgraph keeps it for the next data
    live.set_line(x, -x, skip_finite_check=True)
    assert live.curve.opts["pen"].widthF() == 2.0
    assert live.curve.opts["pen"].color().name() == "#2ca02c"
    np.testing.assert_array_equal(live.curve.getData()[1], -x)


def test_set_line_keeps_a_log_axis_clipping_and_downsampling_as_set_data(view, monkeypatch):
    # The loss plot's curves: log y, clipped to the view, downsampled to about a pixel.
    def long_curve(item: pg.PlotDataItem) -> pg.PlotDataItem:
        view.addItem(item, ignoreBounds=True)  # (the plot hands its own options over)
        item.setLogMode(False, True)
        item.setDownsampling(auto=True, method="peak")
        item.opts["autoDownsampleFactor"] = 1.0
        item.setClipToView(True)
        return item

    pen = pg.mkPen("#1f77b4", width=2.0)
    live = long_curve(LiveLine(pen=pen, connect="finite", dynamicRangeLimit=1e6))
    reference = long_curve(pg.PlotDataItem(pen=pen, connect="finite"))
    assert not live.plain() and live.live()
    view.setXRange(200.0, 700.0, padding=0.0)
    view.grab()
    rng = np.random.default_rng(3)
    pens: list[int] = []
    original = live.curve.setPen
    monkeypatch.setattr(live.curve, "setPen", lambda *a, **k: (pens.append(1), original(*a, **k))[1])
    for count in (900, 901, 902):
        x = np.arange(1.0, count + 1.0)
        y = np.exp(rng.normal(size=count))
        finite = count != 902
        if not finite:
            y[500] = np.nan
        live.set_line(x, y, skip_finite_check=finite)
        reference.setData(x, y, skipFiniteCheck=finite)
        for ours, theirs in zip(live.getData(), reference.getData(), strict=True):
            np.testing.assert_array_equal(ours, theirs)
        assert len(live.getData()[0]) < 600  # clipped to the view and thinned
        assert path_elements(live.curve) == path_elements(reference.curve)
        assert live.curve.boundingRect() == reference.curve.boundingRect()
    assert pens == [1]
    live.setSymbol("o")  # symbols: setData's way (the scatter gets the points too)
    live.set_line(np.arange(300.0, 303.0), np.array([1.0, 2.0, 3.0]), skip_finite_check=True)
    assert len(live.scatter.data) == 3 and live.scatter.isVisible()


def test_a_filled_step_histogram_goes_live_as_set_data_shows_it(view, monkeypatch):
    # The activation plot's histogram: no pen, a fill down to 0, centred steps.
    def histogram(item: pg.PlotDataItem) -> pg.PlotDataItem:
        view.addItem(item)
        return item

    style = {"stepMode": "center", "fillLevel": 0, "pen": None, "brush": pg.mkBrush("#9ecae1")}
    live = histogram(LiveLine(connect="all", **style))
    reference = histogram(pg.PlotDataItem(**style))
    assert live.live() and live.plain()
    assert not LiveLine(connect="all", stepMode="center", pen=None).live()  # nothing drawn
    brushes: list[int] = []
    original = live.curve.setBrush
    monkeypatch.setattr(live.curve, "setBrush", lambda *a, **k: (brushes.append(1), original(*a, **k))[1])
    edges = np.linspace(-6.0, 6.0, 9)
    for seed in (1, 2):
        share = np.random.default_rng(seed).uniform(0.0, 30.0, size=8)
        live.set_line(edges, share, skip_finite_check=True)
        reference.setData(edges, share)
        for ours, theirs in zip(live.getOriginalDataset(), reference.getOriginalDataset(), strict=True):
            np.testing.assert_array_equal(ours, theirs)
        assert path_elements(live.curve) == path_elements(reference.curve)
        assert not live.curve._getFillPath().isEmpty()
        assert live.curve._getFillPath() == reference.curve._getFillPath()
        assert live.curve.isVisible() and live.curve.boundingRect() == reference.curve.boundingRect()
    assert brushes == [1]  # the style went over with the first data only
