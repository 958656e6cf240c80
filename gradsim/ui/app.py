"""Start the desktop application: ``gradsim`` without arguments, or ``python -m gradsim``."""

from __future__ import annotations

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


def main(argv: list[str] | None = None) -> int:
    """Open the main window and run the event loop; returns the exit code.

    Parameters
    ----------
    argv : extra Qt arguments (``-platform offscreen``, ``-style ...``); None or empty for none
    """
    app = create_application(argv)
    window = MainWindow(autoplay=True)
    window.show()
    code = app.exec()
    # Closing the window stops the worker thread; a quit without a close (e.g. a session
    # ending) must stop it as well before Python tears the objects down.
    window.close()
    return int(code)
