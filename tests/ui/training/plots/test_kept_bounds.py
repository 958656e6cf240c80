"""KeptBoundsCurve: pyqtgraph's bounding rectangle, without asking for a pixel's size per data change."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest

from gradsim.ui.training.plots.kept_bounds import KeptBoundsCurve, use_kept_bounds


def corners(curve: pg.PlotCurveItem) -> tuple[float, float, float, float]:
    rect = curve.boundingRect()
    return rect.left(), rect.top(), rect.width(), rect.height()


DATA = [
    (np.arange(1.0, 9.0), np.linspace(-3.0, 2.0, 8)),  # all finite: the short route
    (np.arange(1.0, 9.0), np.array([1.0, 2.0, np.nan, 4, 5, 6, 7, 8])),  # a gap: pyqtgraph's route
    (np.arange(1.0, 5.0), np.array([1.0, np.inf, -2.0, 3.0])),
    (np.arange(1.0, 5.0), np.array([np.nan, np.nan, np.nan, np.nan])),  # nothing to bound
]


@pytest.mark.parametrize("pen", [pg.mkPen("k", width=3.0), pg.mkPen("k", width=2.0, cosmetic=False)])
def test_bounding_rect_and_bounds_are_pyqtgraphs(view, pen):
    ours, theirs = KeptBoundsCurve(pen=pen), pg.PlotCurveItem(pen=pen)
    for item in (ours, theirs):
        view.addItem(item, ignoreBounds=True)
    for x, y in DATA:
        for item in (ours, theirs):
            item.setData(x, y)
        np.testing.assert_array_equal(corners(ours), corners(theirs))  # (NaN for all-NaN data, as theirs)
        for axis in (0, 1):
            np.testing.assert_array_equal(ours.dataBounds(axis), theirs.dataBounds(axis))
            np.testing.assert_array_equal(ours.dataBounds(axis, 0.5), theirs.dataBounds(axis, 0.5))
    view.setXRange(0.0, 40.0)  # a new view transform: a pixel is another size in data units
    view.setYRange(-1.0, 1.0)
    view.grab()  # (pyqtgraph applies a new range at the next paint)
    x, y = DATA[0]
    for item in (ours, theirs):
        item.setData(x, y)
    assert ours.boundingRect() == theirs.boundingRect()
    assert ours.boundingRect().width() > 7.0  # (padded by some pixels' width)


def test_pixel_size_is_asked_once_per_view_transform(view, monkeypatch):
    curve = KeptBoundsCurve(pen=pg.mkPen("k", width=3.0))
    view.addItem(curve, ignoreBounds=True)
    asked: list[int] = []
    original = pg.PlotCurveItem.pixelVectors
    monkeypatch.setattr(
        pg.PlotCurveItem, "pixelVectors", lambda self, *a: (asked.append(1), original(self, *a))[1]
    )
    x = np.arange(1.0, 9.0)
    for shift in range(5):  # live frames: new data, the same view
        curve.setData(x, np.sin(x) + shift * 0.01)
        curve.boundingRect()
    assert asked == [1]
    view.setXRange(0.0, 20.0)  # the view's transform changed
    view.grab()
    curve.setData(x, np.cos(x))
    curve.boundingRect()
    assert asked == [1, 1]


def test_use_kept_bounds_swaps_the_curve_of_a_data_item(view):
    item = pg.PlotDataItem(pen=pg.mkPen("r", width=2.0), symbol="o", connect="finite")
    use_kept_bounds(item)
    view.addItem(item)
    x, y = np.arange(1.0, 6.0), np.array([1.0, 3.0, 2.0, np.nan, 5.0])
    item.setData(x, y)
    assert isinstance(item.curve, KeptBoundsCurve)
    assert item.curve.parentItem() is item
    assert item.curve.opts["pen"].color().name() == "#ff0000"  # the item's style reached it
    assert [c for c in item.childItems() if isinstance(c, pg.PlotCurveItem)] == [item.curve]
    # Under the symbols, as pyqtgraph's own curve.
    assert item.childItems().index(item.curve) < item.childItems().index(item.scatter)
    np.testing.assert_array_equal(item.curve.getData()[1], y)
    clicked: list[object] = []
    item.sigClicked.connect(lambda *a: clicked.append(a))
    item.curve.sigClicked.emit(item.curve, None)
    assert len(clicked) == 1
