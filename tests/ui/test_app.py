"""app.main: names the application before any QSettings, opens a playing window, ends cleanly."""

from __future__ import annotations

import gc
import weakref

import pytest
from PySide6 import QtCore, QtWidgets

from gradsim.engine.presets import DEFAULT_PRESET, load_preset
from gradsim.ui import app
from gradsim.ui.common import settings as stored
from gradsim.ui.main_window import MainWindow

pytestmark = [pytest.mark.qt_log_level_fail("WARNING")]


def test_main_opens_a_training_window_and_returns_when_it_is_closed(qtbot):
    seen: dict[str, object] = {}

    def close_once_training() -> None:
        windows = [w for w in QtWidgets.QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
        window = next((w for w in windows if w.isVisible()), None)
        if window is None or window.history.total_records < 2:
            QtCore.QTimer.singleShot(50, close_once_training)
            return
        seen["frozen"] = gc.get_freeze_count()  # the startup objects, frozen once the window was up
        seen["running"] = window.runner.is_running
        seen["config"] = window.current_config()
        seen["thread"] = window.runner.thread
        window.close()

    QtCore.QTimer.singleShot(50, close_once_training)
    assert app.main([]) == 0
    assert seen["running"] is True
    assert seen["frozen"] > 10_000  # the modules' and the window's objects
    assert gc.get_freeze_count() == 0  # unfrozen when the window closed
    assert seen["config"] == load_preset(DEFAULT_PRESET)
    assert not seen["thread"].isRunning()  # type: ignore[attr-defined]
    assert QtCore.QCoreApplication.organizationName() == stored.ORGANIZATION
    assert QtCore.QCoreApplication.applicationName() == stored.APPLICATION
    # The closed window saved its config where the next launch looks for it.
    assert stored.load_config(QtCore.QSettings()) == (load_preset(DEFAULT_PRESET), "")


def test_freezing_the_startup_objects_collects_first_and_keeps_them_out_of_full_collections():
    class Cycle:
        pass

    garbage = Cycle()
    garbage.me = garbage  # a cycle: only the collector frees it
    alive = weakref.ref(garbage)
    del garbage
    try:
        frozen = app.freeze_startup_objects()
        assert frozen == gc.get_freeze_count() > 10_000
        assert alive() is None  # collected first, not frozen with the rest
        assert not any(o is app for o in gc.get_objects())  # a startup object: out of the collector's walk
        later = Cycle()
        later.me = later
        after = weakref.ref(later)
        del later
        gc.collect()
        assert after() is None  # what came later is collected as usual
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0
    assert any(o is app for o in gc.get_objects())
