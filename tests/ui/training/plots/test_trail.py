"""TrailCurve: each record's line made once, drawn as the joined curve it replaced."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore, QtGui

# isort: split
import pyqtgraph as pg

from gradsim.ui.training.plots.trail import TrailCurve

STEPS = np.arange(1, 41, dtype=np.float64)


def rows(seed: int, count: int) -> list[np.ndarray]:
    generator = np.random.default_rng(seed)
    made = [np.cumsum(generator.normal(size=len(STEPS))) for _ in range(count)]
    if count > 1:
        made[1][5:9] = [np.nan, np.inf, -np.inf, np.nan]  # gaps, as non-finite norms are drawn
    return made


def pen() -> QtGui.QPen:
    color = QtGui.QColor("#1f77b4")
    color.setAlpha(70)
    return pg.mkPen(color, width=1.0)


def picture(item: pg.GraphicsObject, antialias: bool) -> QtGui.QImage:
    """``item`` alone in a 300 x 200 view of the rows' range, painted into an image."""
    widget = pg.PlotWidget()
    widget.resize(300, 200)
    widget.setBackground("w")
    widget.addItem(item)
    widget.setRange(xRange=(0, 41), yRange=(-15, 15), padding=0)
    widget.hideAxis("left")
    widget.hideAxis("bottom")
    item.opts["antialias"] = antialias
    image = QtGui.QImage(300, 200, QtGui.QImage.Format.Format_ARGB32)
    image.fill(QtCore.Qt.GlobalColor.white)
    painter = QtGui.QPainter(image)
    widget.render(painter)
    painter.end()
    widget.close()
    return image


def test_the_joined_data_are_the_rows_each_followed_by_nan(qapp) -> None:
    trail = TrailCurve(pen())
    assert trail.getOriginalDataset() == (None, None) and trail.dataBounds(1) == (None, None)
    given = rows(0, 3)
    trail.set_rows(STEPS, [(i, row) for i, row in enumerate(given)])
    x, y = trail.getOriginalDataset()
    np.testing.assert_array_equal(x.reshape(3, -1)[:, :-1], np.tile(STEPS, (3, 1)))
    np.testing.assert_array_equal(y.reshape(3, -1)[:, :-1], given)
    assert np.isnan(x.reshape(3, -1)[:, -1]).all() and np.isnan(y.reshape(3, -1)[:, -1]).all()
    finite = np.concatenate(given)
    finite = finite[np.isfinite(finite)]
    assert trail.dataBounds(0) == (1.0, 40.0)
    assert trail.dataBounds(1) == (finite.min(), finite.max())


def test_a_kept_row_keeps_its_line_and_only_new_rows_are_converted(qapp, monkeypatch) -> None:
    trail = TrailCurve(pen())
    given = rows(1, 4)
    trail.set_rows(STEPS, [(i, row) for i, row in enumerate(given[:3])])
    converted = []
    original = pg.arrayToQPath
    monkeypatch.setattr(pg, "arrayToQPath", lambda *a, **k: converted.append(1) or original(*a, **k))
    trail.set_rows(STEPS, [(i, given[i]) for i in (1, 2, 3)])  # the trail moves by one record
    assert len(converted) == 1
    stacked = np.array(given)
    trail.set_rows(STEPS, [(i, stacked[i]) for i in (1, 2, 3)])
    assert len(converted) == 4  # the same keys with other arrays: made anew
    trail.set_rows(STEPS, [(1, given[1]), (2, given[0])])  # key 2 with another array: made anew
    assert len(converted) == 6
    trail.set_rows(STEPS[:20], [(1, given[1][:20])])  # other time steps: made anew
    assert len(converted) == 7


@pytest.mark.parametrize("antialias", [False, True])
def test_the_picture_is_the_joined_curve_s(qapp, antialias) -> None:
    # The trail replaced a curve item given the joined data (connect="finite"): same pixels.
    given = rows(2, 5)
    trail = TrailCurve(pen())
    trail.set_rows(STEPS, [(i, row) for i, row in enumerate(given)])
    x, y = trail.getOriginalDataset()
    joined = pg.PlotCurveItem(x, y, pen=pen(), connect="finite")
    ours, theirs = picture(trail, antialias), picture(joined, antialias)
    white = QtGui.QColor("white")
    drawn = sum(ours.pixelColor(i, j) != white for i in range(0, 300, 3) for j in range(200))
    assert drawn > 100  # something was drawn
    assert ours == theirs


def test_an_emptied_trail_draws_nothing(qapp) -> None:
    trail = TrailCurve(pen())
    trail.set_rows(STEPS, [(0, rows(3, 1)[0])])
    trail.set_rows(np.zeros(0), [])
    assert trail.getPath().isEmpty() and trail.boundingRect().isEmpty()


def elements(path: QtGui.QPainterPath) -> list[tuple[int, float, float]]:
    return [(int(e.type.value), e.x, e.y) for e in (path.elementAt(i) for i in range(path.elementCount()))]


def test_the_path_is_element_for_element_the_joined_curve_s(qapp) -> None:
    # Rows without gaps are made without pyqtgraph's search for them: the same elements.
    given = rows(4, 4)
    assert np.isfinite(given[0]).all() and not np.isfinite(given[1]).all()
    trail = TrailCurve(pen())
    trail.set_rows(STEPS, [(i, row) for i, row in enumerate(given)])
    x, y = trail.getOriginalDataset()
    assert elements(trail.getPath()) == elements(pg.arrayToQPath(x, y, connect="finite"))


def test_the_joined_path_follows_the_rows_given_since_it_was_asked(qapp) -> None:
    # The join is made when asked and kept: new rows must make it again.
    trail = TrailCurve(pen())
    first, second = rows(5, 3), rows(6, 2)
    trail.set_rows(STEPS, [(i, row) for i, row in enumerate(first)])
    before = elements(trail.getPath())
    trail.set_rows(STEPS, [(i + 3, row) for i, row in enumerate(second)])
    x, y = trail.getOriginalDataset()
    after = elements(trail.getPath())
    assert after == elements(pg.arrayToQPath(x, y, connect="finite"))
    assert after != before and len(after) == 2 * (len(STEPS) + 1)
