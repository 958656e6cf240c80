"""Render presentation mode at 1280 x 720 (a projector's size) to PNGs for the README.

Usage::

    python3 docs/make_presentation_screenshot.py [--preset vanishing-sigmoid] [--iterations 40]
        [--width 1280] [--height 720] [--out-dir docs]

Writes ``screenshot-presentation.png``: the Training tab with View > Presentation mode on (the
mode scales the Training tab's plots only). Offscreen, with a throwaway QSettings folder, the
run stepped a fixed number of times: the same picture on every machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

from PySide6 import QtCore, QtWidgets  # noqa: E402

# isort: split
from gradsim.engine.presets import load_preset  # noqa: E402
from gradsim.ui.app import create_application  # noqa: E402
from gradsim.ui.main_window import MainWindow  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_screenshots import run_loop_until  # noqa: E402

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="vanishing-sigmoid")
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--out-dir", type=Path, default=HERE)
    args = parser.parse_args(argv)

    ini = QtCore.QSettings.Format.IniFormat
    QtCore.QSettings.setDefaultFormat(ini)
    QtCore.QSettings.setPath(ini, QtCore.QSettings.Scope.UserScope, tempfile.mkdtemp(prefix="gradsim-shot-"))
    app = create_application(sys.argv[:1])
    window = MainWindow(load_preset(args.preset), settings=QtCore.QSettings())
    window.resize(args.width, args.height)
    dock = window.findChild(QtWidgets.QDockWidget, "diagnosis_dock")
    if dock is not None:
        dock.hide()
    window.show()
    for _ in range(args.iterations):
        window.runner.step()
    if not run_loop_until(lambda: window.history.total_records >= args.iterations, timeout=600):
        print(f"the run did not reach {args.iterations} iterations", file=sys.stderr)
        return 1
    window.features["gradsim.ui.features.presentation.presentation"].set_enabled(True)
    title = f"iteration {args.iterations} "
    run_loop_until(lambda: title in window.dashboard.plots["gradient"].plot.titleLabel.text, timeout=10)
    run_loop_until(lambda: False, timeout=0.5)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    shots = {"screenshot-presentation.png": window.grab()}

    window.features["gradsim.ui.features.presentation.presentation"].set_enabled(False)  # as found
    window.close()
    for name, image in shots.items():
        if not image.save(str(args.out_dir / name)):
            print(f"could not write {args.out_dir / name}", file=sys.stderr)
            return 1
        print(f"wrote {args.out_dir / name} ({image.width()} x {image.height()})")
    del app
    return 0


if __name__ == "__main__":
    sys.exit(main())
