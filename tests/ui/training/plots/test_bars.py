"""Bars keep their bounding rectangle between changes, and it is always pyqtgraph's own."""

from __future__ import annotations

import pyqtgraph as pg

from gradsim.ui.training.plots.bars import Bars


def side_by_side(qtbot) -> tuple[pg.PlotWidget, Bars, pg.BarGraphItem]:
    widget = pg.PlotWidget()  # closed by the test (pyqtgraph's close cannot run twice)
    widget.resize(300, 200)
    ours = Bars(x=[1, 2, 3], height=[0.5, 2.0, 1.0], width=0.6)
    theirs = pg.BarGraphItem(x=[1, 2, 3], height=[0.5, 2.0, 1.0], width=0.6)
    for item in (ours, theirs):
        widget.addItem(item)
    widget.show()
    qtbot.waitExposed(widget)
    return widget, ours, theirs


def test_the_rectangle_follows_the_bars_and_the_view(qtbot) -> None:
    widget, ours, theirs = side_by_side(qtbot)
    assert ours.boundingRect() == theirs.boundingRect() and not ours.boundingRect().isEmpty()
    calls = []
    original = pg.BarGraphItem.boundingRect
    pg.BarGraphItem.boundingRect = lambda self: calls.append(self) or original(self)  # type: ignore[method-assign]
    try:
        for _ in range(3):
            ours.boundingRect()
        assert calls == []  # kept
        for item in (ours, theirs):
            item.setOpts(height=[3.0, 1.0, 4.0])
        assert ours.boundingRect() == theirs.boundingRect()
        assert ours.boundingRect().height() > 3.0  # the new bars
        widget.setYRange(0, 100, padding=0)  # a pixel is larger in data units: the padding grows
        widget.resize(150, 100)
        qtbot.wait(10)
        assert ours.boundingRect() == theirs.boundingRect()
    finally:
        pg.BarGraphItem.boundingRect = original  # type: ignore[method-assign]
        widget.close()
