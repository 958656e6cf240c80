"""teardown: pyqtgraph's parentless Qt objects are released on the GUI thread, so the cyclic
collector never frees a live Qt object (docs/architecture.md, "Garbage collection").

Deterministic: nothing waits on a clock; each test drops its widgets, makes Qt delete them
(``sendPostedEvents`` of ``DeferredDelete``) and takes a census of what the collector would free.
"""

from __future__ import annotations

import gc

import pyqtgraph as pg
import pytest
import shiboken6
from helpers import small_config
from PySide6 import QtCore, QtWidgets

from gradsim.engine.presets import load_preset
from gradsim.ui.common.teardown import qt_garbage_census, release_graphics, release_window
from gradsim.ui.main_window import MainWindow


class Holder(QtWidgets.QWidget):
    """A widget that keeps a plot in its layout and one parked out of any scene, in a cycle."""

    def __init__(self) -> None:
        super().__init__()
        self.me = self
        self.graphics = pg.GraphicsLayoutWidget(self)
        self.shown = self.graphics.addPlot()
        self.shown.plot([1.0, 2.0, 3.0], symbol="o")
        self.parked = pg.PlotItem()  # e.g. a plot taken out of its layout for this run


def _delete(widget: QtWidgets.QWidget) -> None:
    """Delete ``widget``'s C++ object the way a closed window goes (a deferred delete)."""
    widget.deleteLater()
    QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete)


@pytest.fixture
def no_collection():
    """The garbage so far freed, then automatic collection off and whatever a collection finds
    kept (``gc.DEBUG_SAVEALL``: the window's GUI-thread collector runs while it is open), so
    each census counts all of this test's garbage."""
    was_enabled, flags = gc.isenabled(), gc.get_debug()
    qt_garbage_census()
    gc.disable()
    gc.set_debug(flags | gc.DEBUG_SAVEALL)
    yield
    gc.set_debug(flags)
    gc.garbage.clear()
    gc.collect()
    if was_enabled:
        gc.enable()


def test_without_a_release_the_collector_would_free_pyqtgraphs_live_menus(qtbot, no_collection):
    holder = Holder()
    _delete(holder)
    del holder
    found = qt_garbage_census()
    # The shown plot's C++ items went with the widget's scene; what Python still owns did not:
    # per plot, its view box's context menu (with two widget groups), its option menu (with
    # one) and its auto-range button's pixmap; and the parked plot with its whole tree.
    assert found["pyqtgraph.graphicsItems.ViewBox.ViewBoxMenu.ViewBoxMenu"] == 2
    assert found["PySide6.QtWidgets.QMenu"] == 2
    assert found["pyqtgraph.WidgetGroup.WidgetGroup"] == 2 * (2 + 1)
    assert found["pyqtgraph.graphicsItems.PlotItem.PlotItem.PlotItem"] == 1
    assert found["PySide6.QtGui.QPixmap"] >= 2


def test_release_window_leaves_the_collector_nothing_live(qtbot, no_collection):
    holder = Holder()
    menu, parked = holder.shown.vb.menu, holder.parked
    released = release_window(holder)
    assert not shiboken6.isValid(menu)
    assert not shiboken6.isValid(parked)
    # Per plot: 2 widget groups and the view box menu, the option menu and its widget group,
    # the auto-range pixmap; the shown plot's symbol atlas; the parked plot itself.
    assert released == 2 * 6 + 1 + 1
    _delete(holder)
    del holder, menu, parked
    assert qt_garbage_census() == {}


def test_release_graphics_stops_and_deletes_a_signal_proxys_timer(qtbot):
    source = pg.PlotItem()
    proxy = pg.SignalProxy(source.sigRangeChanged, rateLimit=30, slot=lambda *args: None)
    timer = proxy.timer
    assert shiboken6.ownedByPython(timer)
    assert release_graphics(proxy) == 1
    assert not shiboken6.isValid(timer)
    release_graphics(source)
    shiboken6.delete(source)


def test_a_census_counts_only_live_python_owned_qt_objects(qtbot, no_collection):
    class Cycle:
        def __init__(self, parent: QtCore.QObject | None) -> None:
            self.me = self
            self.timer = QtCore.QTimer(parent)
            self.pen = pg.mkPen("r")  # a value type: may die on any thread

    owner = QtCore.QObject()
    Cycle(owner)  # its timer is Qt's (it has a parent): not counted
    Cycle(None)
    assert qt_garbage_census() == {"PySide6.QtCore.QTimer": 1}
    assert qt_garbage_census() == {}  # the census freed what it found


def _use_and_close_a_window(qtbot) -> None:
    """Every feature; a few steps of four runs (cell, layer count and preset switched); compare
    pins (ghost curves) added and removed; every tab shown; then closed and deleted."""
    window = MainWindow(small_config(cell="lstm"))
    window.settings.setParent(window)
    try:
        window.resize(1300, 850)
        window.show()
        qtbot.waitExposed(window)
        if window.runner.built_config is None:
            with qtbot.waitSignal(window.runner.rebuilt, timeout=10000):
                pass
        compare = window.features["gradsim.ui.features.compare.compare"]
        configs = [
            small_config(cell="lstm"),
            small_config(num_layers=3),  # an RNN: the gates' plot leaves its layout
            load_preset("vanishing-sigmoid"),
            small_config(cell="gru", num_layers=1),
        ]
        for number, config in enumerate(configs):
            with qtbot.waitSignal(window.runner.rebuilt, timeout=10000):
                window.apply_config(config)
            for step in range(1, 4):
                window.runner.step()
                qtbot.waitUntil(lambda step=step: window.history.total_records == step, timeout=20000)
            pin = compare.pin_current()  # ghost curves on the plots ...
            if number % 2:
                compare.remove(pin)  # ... taken off again
        for index in range(window.tabs.count()):
            window.tabs.setCurrentIndex(index)
            QtWidgets.QApplication.processEvents()  # the tab is shown, laid out and painted
    finally:
        window.close()
    assert not window.runner.thread.isRunning()
    _delete(window)


def test_a_window_used_and_closed_leaves_no_live_qt_object_to_the_collector(qtbot, no_collection):
    _use_and_close_a_window(qtbot)
    assert qt_garbage_census() == {}
