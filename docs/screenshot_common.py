"""What the screenshot scripts of docs/ share: the window offscreen, a run trained, the picture saved.

Each ``make_*screenshot*.py`` script puts this folder on ``sys.path`` and imports this module
first (docs/ is not a package)::

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import screenshot_common as shots  # noqa: E402

Importing it selects the offscreen platform and PySide6 for pyqtgraph (unless the environment
already says otherwise), so it comes before any Qt import. The window it opens never touches the
user's settings (a throwaway QSettings folder, so docks have their first-launch place and size),
and the run is stepped a fixed number of times through the window's own runner: the pictures show
the engine's numbers for that config and seed, the same on every machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

from PySide6 import QtCore, QtGui, QtWidgets  # noqa: E402

# isort: split
from gradsim.engine.config import SimConfig  # noqa: E402
from gradsim.ui.app import create_application  # noqa: E402
from gradsim.ui.main_window import MainWindow  # noqa: E402

DOCS = Path(__file__).resolve().parent


def argument_parser(
    description: str,
    *,
    preset: str | None = None,
    iterations: int | None = None,
    size: tuple[int, int] = (1440, 900),
    output: str | None = None,
) -> argparse.ArgumentParser:
    """A script's parser with the options the scripts share, each script adding its own after.

    ``--preset`` and ``--iterations`` come when given a default; ``--width`` and ``--height``
    (the window's size in px, default ``size``) always; ``--output`` when ``output`` names its
    default file in docs/.
    """
    parser = argparse.ArgumentParser(description=description)
    if preset is not None:
        parser.add_argument("--preset", default=preset, help="engine preset to run")
    if iterations is not None:
        parser.add_argument(
            "--iterations", type=int, default=iterations, help="training steps before the picture"
        )
    parser.add_argument("--width", type=int, default=size[0], help="window width in px")
    parser.add_argument("--height", type=int, default=size[1], help="window height in px")
    if output is not None:
        parser.add_argument("--output", type=Path, default=DOCS / output, help="the picture's file")
    return parser


def run_loop_until(condition: Callable[[], object], timeout: float) -> bool:
    """Run the event loop until ``condition()`` holds or ``timeout`` seconds passed; returns
    whether it held."""
    deadline = time.perf_counter() + timeout
    loop = QtCore.QEventLoop()
    while not condition():
        if time.perf_counter() > deadline:
            return False
        QtCore.QTimer.singleShot(20, loop.quit)
        loop.exec()
    return True


def settle(seconds: float = 0.5) -> None:
    """Let queued layouts, resizes, display-timer draws and paints run for ``seconds``."""
    run_loop_until(lambda: False, timeout=seconds)


def open_window(
    config: SimConfig | None, width: int, height: int, *, diagnosis_dock: bool = True
) -> tuple[QtWidgets.QApplication, MainWindow]:
    """The application and its main window on ``config``, ``width`` x ``height`` px, shown.

    The settings are a throwaway user's (a fresh folder), so the window starts as on a first
    launch; ``config`` None is that first launch's config. ``diagnosis_dock`` False hides the
    Diagnosis dock (for pictures of the plots alone).
    """
    ini = QtCore.QSettings.Format.IniFormat
    QtCore.QSettings.setDefaultFormat(ini)
    QtCore.QSettings.setPath(ini, QtCore.QSettings.Scope.UserScope, tempfile.mkdtemp(prefix="gradsim-shot-"))
    app = create_application(sys.argv[:1])
    window = MainWindow(config, settings=QtCore.QSettings())
    window.resize(width, height)
    dock = window.findChild(QtWidgets.QDockWidget, "diagnosis_dock")
    if not diagnosis_dock and dock is not None:
        dock.hide()
    window.show()
    return app, window


def train(window: MainWindow, iterations: int, timeout: float) -> bool:
    """Step the window's run ``iterations`` times, as the Step button would, and wait (at most
    ``timeout`` seconds) until its history holds that many records; returns whether it does."""
    for _ in range(iterations):
        window.runner.step()
    return run_loop_until(lambda: window.history.total_records >= iterations, timeout)


def wait_until_drawn(window: MainWindow, iterations: int) -> None:
    """Wait until the dashboard's gradient plot is titled with iteration ``iterations`` (the
    display timer drew the last record), then let Qt paint it."""
    title = f"iteration {iterations} "
    run_loop_until(lambda: title in window.dashboard.plots["gradient"].plot.titleLabel.text, timeout=10)
    settle()


def save_picture(image: QtGui.QPixmap, output: Path, note: str = "") -> bool:
    """Write ``image`` to ``output`` (its folder made first) and print ``wrote <output> (W x H)``
    with ``note`` after it; on failure print why to stderr instead. Returns whether it wrote."""
    output.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(output)):
        print(f"could not write {output}", file=sys.stderr)
        return False
    print(f"wrote {output} ({image.width()} x {image.height()}){note}")
    return True


def save_window(window: QtWidgets.QWidget, output: Path, note: str = "") -> int:
    """Grab ``window``, close it and write the picture (:func:`save_picture`); returns the
    script's exit status, 0 when written, 1 when not."""
    image = window.grab()
    window.close()
    QtWidgets.QApplication.processEvents()  # what the close left queued
    return 0 if save_picture(image, output, note) else 1
