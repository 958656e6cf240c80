"""GuiGarbageCollector: automatic collection off while a window is open, collection by the GUI timer."""

from __future__ import annotations

import gc

import pytest

from gradsim.ui.common.collector import GuiGarbageCollector, automatic_collection_requested

pytestmark = pytest.mark.skipif(
    automatic_collection_requested(), reason="GRADSIM_GC=automatic: the collector is switched off"
)


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_automatic_collection_is_off_while_any_collector_is_active(qtbot):
    gc.enable()  # as outside the test fixture that turns it off for UI tests
    try:
        first, second = GuiGarbageCollector(), GuiGarbageCollector()
        assert not gc.isenabled()
        first.stop()
        assert not gc.isenabled()  # the second is still active
        first.stop()  # stopping twice counts once
        assert not gc.isenabled()
        second.stop()
        assert gc.isenabled()
    finally:
        gc.disable()


def test_collect_due_collects_the_young_generation_past_its_threshold(qtbot):
    collector = GuiGarbageCollector()
    try:
        gc.collect()
        threshold = gc.get_threshold()[0]
        cycles = [Cycle() for _ in range(threshold + 10)]
        del cycles
        assert gc.get_count()[0] > threshold
        collector.collect_due()
        assert gc.get_count()[0] < threshold
    finally:
        collector.stop()


def test_the_window_collects_on_its_thread_and_gives_collection_back_on_close(qtbot):
    from PySide6 import QtCore

    from gradsim.engine.config import SimConfig
    from gradsim.ui.main_window import MainWindow

    gc.enable()
    try:
        window = MainWindow(SimConfig(num_layers=1, hidden_size=4, seq_len=5), settings=QtCore.QSettings())
        window.settings.setParent(window)  # deleted with the window, on this thread
        qtbot.addWidget(window)
        assert not gc.isenabled()
        assert window.garbage_collector.thread() is QtCore.QThread.currentThread()
        window.close()
        assert gc.isenabled()
    finally:
        gc.disable()
