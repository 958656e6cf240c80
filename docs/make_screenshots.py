"""Render the main window with a preset trained for some iterations to a PNG (for the README).

Usage::

    python3 docs/make_screenshots.py [--preset vanishing-sigmoid] [--iterations 40]
        [--width 1440] [--height 900] [--output docs/screenshot-main.png]

Runs offscreen (no display needed) and never touches the user's settings (a throwaway QSettings
folder). The run is stepped a fixed number of times through the window's own runner, so the
picture shows the engine's numbers for that preset and seed, the same on every machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

from PySide6 import QtCore, QtWidgets  # noqa: E402

# isort: split
from gradsim.engine.presets import load_preset  # noqa: E402
from gradsim.ui.app import create_application  # noqa: E402
from gradsim.ui.main_window import MainWindow  # noqa: E402

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "screenshot-main.png"


def run_loop_until(condition, timeout: float) -> bool:
    """Run the event loop until ``condition()`` holds or ``timeout`` seconds passed."""
    deadline = time.perf_counter() + timeout
    loop = QtCore.QEventLoop()
    while not condition():
        if time.perf_counter() > deadline:
            return False
        QtCore.QTimer.singleShot(20, loop.quit)
        loop.exec()
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="vanishing-sigmoid", help="engine preset to run")
    parser.add_argument("--iterations", type=int, default=40, help="training steps before the picture")
    parser.add_argument("--width", type=int, default=1440)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)

    ini = QtCore.QSettings.Format.IniFormat
    QtCore.QSettings.setDefaultFormat(ini)
    QtCore.QSettings.setPath(ini, QtCore.QSettings.Scope.UserScope, tempfile.mkdtemp(prefix="gradsim-shot-"))
    app = create_application(sys.argv[:1])
    window = MainWindow(load_preset(args.preset), settings=QtCore.QSettings())
    window.resize(args.width, args.height)
    # The plots alone: the diagnosis dock has its own screenshot (make_diagnosis_screenshot.py).
    dock = window.findChild(QtWidgets.QDockWidget, "diagnosis_dock")
    if dock is not None:
        dock.hide()
    window.show()
    for _ in range(args.iterations):
        window.runner.step()
    done = run_loop_until(lambda: window.history.total_records >= args.iterations, timeout=300)
    if not done:
        print(f"the run did not reach {args.iterations} iterations in 300 s", file=sys.stderr)
        return 1
    # Let the display timer draw the last record and Qt paint it.
    title = f"iteration {args.iterations} "
    run_loop_until(lambda: title in window.dashboard.plots["gradient"].plot.titleLabel.text, timeout=10)
    run_loop_until(lambda: False, timeout=0.3)
    image = window.grab()
    window.close()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(args.output)):
        print(f"cannot write {args.output}", file=sys.stderr)
        return 1
    print(f"wrote {args.output} ({image.width()} x {image.height()})")
    app.processEvents()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
