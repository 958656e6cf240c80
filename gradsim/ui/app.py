"""Start the desktop application: ``gradsim`` without arguments, or ``python -m gradsim``."""

from __future__ import annotations

import gc
import os
import sys

# pyqtgraph binds to the first Qt binding it finds; make sure that is PySide6.
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

from PySide6 import QtCore, QtWidgets  # noqa: E402

from gradsim.ui.common import settings as stored  # noqa: E402
from gradsim.ui.common.icons import icon  # noqa: E402
from gradsim.ui.main_window import MainWindow  # noqa: E402


def create_application(argv: list[str] | None = None) -> QtWidgets.QApplication:
    """The QApplication (the existing one if any), named so QSettings find the right file."""
    # Names first: QSettings() reads them when it is created.
    QtCore.QCoreApplication.setOrganizationName(stored.ORGANIZATION)
    QtCore.QCoreApplication.setApplicationName(stored.APPLICATION)
    QtWidgets.QApplication.setDesktopFileName("gradsim")
    app = QtWidgets.QApplication.instance()
    if app is None:
        app = QtWidgets.QApplication([sys.argv[0] if sys.argv else "gradsim", *(argv or [])])
        # Fusion looks the same on every platform, which keeps screenshots and lessons valid.
        app.setStyle("Fusion")
    assert isinstance(app, QtWidgets.QApplication)
    app.setApplicationDisplayName("gradsim")
    app.setWindowIcon(icon("gradsim"))
    return app


def freeze_startup_objects() -> int:
    """Collect once, then leave every object alive now to reference counting alone; how many.

    The objects of a started session (modules, the window's Qt wrappers and plot items: 85 000
    in a fresh window) live until it ends, and without this every full (generation 2)
    collection walks them all again, on whatever thread triggered it: one took 63.7 ms of the
    GUI thread while the default preset trained (``benchmarks/bench_gui_latency.py --gaps
    --explain``), the longest gap of that run. After ``gc.freeze`` a full collection walks only
    the objects made later. An object frozen here that later becomes cyclic garbage stays in
    memory (a one-time amount); :func:`main` unfreezes when the window has closed.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def main(argv: list[str] | None = None) -> int:
    """Open the main window and run the event loop; returns the exit code.

    Parameters
    ----------
    argv : extra Qt arguments (``-platform offscreen``, ``-style ...``); None or empty for none
    """
    app = create_application(argv)
    window = MainWindow(autoplay=True)
    window.show()
    # Once the first events (the first paint) have run: what exists then lives for the session.
    QtCore.QTimer.singleShot(0, freeze_startup_objects)
    code = app.exec()
    # Closing the window stops the worker thread; a quit without a close (e.g. a session
    # ending) must stop it as well before Python tears the objects down.
    window.close()
    gc.unfreeze()
    return int(code)
