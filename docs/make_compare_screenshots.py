"""Render the A/B tab and a pinned ghost on the dashboard to PNGs (for docs/compare.md).

Usage::

    python3 docs/make_compare_screenshots.py [--iterations 30] [--width 1440] [--height 900]

Writes ``docs/screenshot-ab.png`` (A: the 'vanishing-sigmoid' preset, B: 'fix-leaky-relu' with
A's seed, trained in lockstep) and ``docs/screenshot-pinned.png`` (the sigmoid run pinned, then
the leaky-ReLU run live, its ghost dashed on every plot). Offscreen, with throwaway settings;
the runs are stepped a fixed number of times, so the pictures are the same on every machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

from PySide6 import QtCore  # noqa: E402

# isort: split
from gradsim.engine.presets import load_preset  # noqa: E402
from gradsim.ui.app import create_application  # noqa: E402
from gradsim.ui.main_window import MainWindow  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_screenshots import run_loop_until  # noqa: E402

DOCS = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=30, help="training steps before each picture")
    parser.add_argument("--width", type=int, default=1440)
    parser.add_argument("--height", type=int, default=900)
    args = parser.parse_args(argv)

    ini = QtCore.QSettings.Format.IniFormat
    QtCore.QSettings.setDefaultFormat(ini)
    QtCore.QSettings.setPath(ini, QtCore.QSettings.Scope.UserScope, tempfile.mkdtemp(prefix="gradsim-shot-"))
    app = create_application(sys.argv[:1])
    sigmoid, leaky = load_preset("vanishing-sigmoid"), load_preset("fix-leaky-relu")
    window = MainWindow(sigmoid, settings=QtCore.QSettings())
    window.resize(args.width, args.height)
    window.show()
    compare = window.features["gradsim.ui.features.compare.compare"]
    steps = args.iterations

    def train_live() -> None:
        for _ in range(steps):
            window.runner.step()
        if not run_loop_until(lambda: window.history.total_records >= steps, 120):
            raise SystemExit("the live run did not reach its iterations")
        run_loop_until(lambda: False, 0.6)  # let the dashboard draw the last records

    train_live()
    compare.pin_current()
    window.apply_config(leaky.replace(seed=sigmoid.seed))
    train_live()
    window.grab().save(str(DOCS / "screenshot-pinned.png"))

    compare.dock.hide()
    window.show_controls_action.trigger()  # F9: the A/B tab has its own editors
    view = compare.ab_view
    window.tabs.setCurrentWidget(view)
    view.set_configs(sigmoid, leaky)
    for _ in range(steps):
        view.step()
    if not run_loop_until(lambda: view.histories["B"].total_records >= steps, 120):
        raise SystemExit("the A/B pair did not reach its iterations")
    run_loop_until(lambda: False, 0.6)
    window.grab().save(str(DOCS / "screenshot-ab.png"))
    window.close()
    app.processEvents()
    print(f"wrote {DOCS / 'screenshot-pinned.png'} and {DOCS / 'screenshot-ab.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
