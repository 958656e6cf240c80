"""Render the Sweep tab with a finished phase diagram to a PNG.

Usage::

    python3 docs/make_sweep_screenshot.py [--activation tanh] [--hidden 32] [--count 20]
        [--seeds 3] [--width 1440] [--height 900] [--output docs/screenshot-sweep.png]

Runs offscreen (no display needed): opens the window with a one-layer network, sweeps the
weight scale (linear) against the sequence length (log-spaced) on all cores, with a throwaway
point cache so the picture is always computed afresh, and grabs the window on the Sweep tab.
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
from gradsim.engine.config import SimConfig  # noqa: E402
from gradsim.ui.features.sweep.sweep_view import SweepController  # noqa: E402
from gradsim.ui.main_window import MainWindow  # noqa: E402

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "screenshot-sweep.png"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activation", default="tanh")
    parser.add_argument("--hidden", type=int, default=32, help="hidden units")
    parser.add_argument("--count", type=int, default=20, help="values per axis")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--width", type=int, default=1440)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    app.setStyle("Fusion")
    with tempfile.TemporaryDirectory() as folder:
        # Settings of a throwaway user, so the picture never depends on the developer's own.
        QtCore.QSettings.setDefaultFormat(QtCore.QSettings.Format.IniFormat)
        QtCore.QSettings.setPath(QtCore.QSettings.Format.IniFormat, QtCore.QSettings.Scope.UserScope, folder)
        config = SimConfig(
            num_layers=1, hidden_size=args.hidden, seq_len=50, batch_size=8,
            activation=args.activation, init="gaussian", task="random",
        )  # fmt: skip
        window = MainWindow(config, settings=QtCore.QSettings())
        window.resize(args.width, args.height)
        window.show()
        controller = window.features["gradsim.ui.features.sweep.sweep_view"]
        assert isinstance(controller, SweepController)
        controller.store_path = Path(folder) / "store.sqlite"
        controller.show_tab()
        page = controller.page
        page.x_editor.set_state("weight_scale", 0.5, 4.0, args.count, "linear")
        page.y_editor.set_state("seq_len", 5, 200, args.count, "log")
        page.seeds_spin.setValue(args.seeds)
        started = time.perf_counter()
        controller.start()
        while controller.is_running:
            app.processEvents()
            time.sleep(0.01)
        app.processEvents()
        result = controller.result
        assert result is not None
        # Point at a cell near the edge, as a user reading the numbers would.
        row, column = args.count * 3 // 4, args.count // 2
        controller.plot.cellHovered.emit(controller.plot.cell_text(row, column))
        app.processEvents()
        image = window.grab()
        seconds = time.perf_counter() - started
        window.close()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(args.output)):
        print(f"could not write {args.output}", file=sys.stderr)
        return 1
    print(
        f"wrote {args.output} ({image.width()}x{image.height()}): {result.spec.size} points, "
        f"{len(result.spec.seeds)} seeds, {result.workers} workers, {seconds:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
