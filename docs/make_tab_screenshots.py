"""Screenshots of every tab of the window (and the lessons dock) at one window size.

Usage::

    python3 docs/make_tab_screenshots.py [--width 1440] [--height 900] [--iterations 20]
        [--preset default] [--out-dir docs] [--prefix screenshot] [--backprop-cells 0] [--ab-rnn-lstm]

Writes ``<prefix>-training.png``, ``-backprop``, ``-sweep``, ``-ab`` and ``-lessons``. Runs
offscreen with a throwaway settings folder; the run is stepped a fixed number of times through
the window's own runner (and the A/B pair as many times through its own), and the Diagnosis
dock waits for its verdict, so the pictures are the same on every machine. The multiprocessing
guard below matters: the diagnosis and the sweep start worker processes, which import this file
again.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_screenshots import run_loop_until  # noqa: E402

HERE = Path(__file__).resolve().parent
TABS = {"Training": "training", "Backprop": "backprop", "Sweep": "sweep", "A/B": "ab"}


def save(window, path: Path) -> None:
    """Write ``window``'s picture to ``path`` (its folder made first); stop with a message if Qt
    could not write it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(path)):
        raise SystemExit(f"could not write {path}")


def shoot(
    width: int,
    height: int,
    out_dir: Path,
    prefix: str,
    iterations: int,
    preset: str,
    backprop_cells: int = 0,
    ab_rnn_lstm: bool = False,
) -> list[Path]:
    """Take the screenshots; returns the files written. ``backprop_cells``: cells of the backward
    pass the Backprop tab has stepped through when shot (0: none, the forward pass only);
    ``ab_rnn_lstm``: the A/B pair is set up by its "RNN vs LSTM" button first."""
    from PySide6 import QtCore

    from gradsim.engine.presets import load_preset
    from gradsim.ui.app import create_application
    from gradsim.ui.features.compare.ab_view import ABView
    from gradsim.ui.main_window import MainWindow

    ini = QtCore.QSettings.Format.IniFormat
    QtCore.QSettings.setDefaultFormat(ini)
    QtCore.QSettings.setPath(ini, QtCore.QSettings.Scope.UserScope, tempfile.mkdtemp(prefix="gradsim-shots-"))
    app = create_application(sys.argv[:1])
    window = MainWindow(load_preset(preset), settings=QtCore.QSettings())
    window.resize(width, height)
    window.show()
    for _ in range(iterations):
        window.runner.step()
    run_loop_until(lambda: window.history.total_records >= iterations, 120)
    diagnosis = window.features["gradsim.ui.features.diagnosis.diagnosis_panel"].panel
    # The verdict comes from a worker process: wait for it (at most half a minute).
    run_loop_until(lambda: diagnosis.badge.text() not in ("", "waiting"), 30)
    run_loop_until(lambda: False, 1.5)
    written = []
    for index in range(window.tabs.count()):
        name = TABS.get(window.tabs.tabText(index), f"tab{index}")
        window.tabs.setCurrentIndex(index)
        page = window.tabs.widget(index)
        if isinstance(page, ABView):  # the pair's curves, not empty plots
            if ab_rnn_lstm:
                page.compare_rnn_lstm()
            for _ in range(iterations):
                page.step()
            run_loop_until(lambda page=page: page.histories["B"].total_records >= iterations, 120)
        if name == "backprop" and backprop_cells:
            view = window.features["gradsim.ui.features.backprop.backprop_tab"].view
            run_loop_until(lambda view=view: view.session is not None, 60)
            view.go_to(backprop_cells)
            run_loop_until(lambda view=view: view.position == min(backprop_cells, view.total_cells), 60)
        run_loop_until(lambda: False, 1.5)
        path = out_dir / f"{prefix}-{name}.png"
        save(window, path)
        written.append(path)
    window.tabs.setCurrentIndex(0)
    lessons = window.features["gradsim.ui.features.lessons.lessons_panel"]
    lessons.toggle_action.trigger()
    lessons.panel.go_next()  # the Predict step: a question and its answers
    run_loop_until(lambda: False, 1.0)
    path = out_dir / f"{prefix}-lessons.png"
    save(window, path)
    written.append(path)
    if window.size().toTuple() != (width, height):
        print(f"warning: the window is {window.width()} x {window.height()}, not {width} x {height}")
    window.close()
    app.processEvents()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=1440)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--preset", default="default")
    parser.add_argument("--out-dir", type=Path, default=HERE)
    parser.add_argument("--prefix", default="screenshot")
    parser.add_argument("--backprop-cells", type=int, default=0, help="cells the Backprop tab steps through")
    parser.add_argument("--ab-rnn-lstm", action="store_true", help="A/B: a vanilla RNN against an LSTM")
    args = parser.parse_args(argv)
    shots = shoot(
        args.width, args.height, args.out_dir, args.prefix, args.iterations, args.preset, args.backprop_cells,
        args.ab_rnn_lstm,
    )  # fmt: skip
    for path in shots:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
