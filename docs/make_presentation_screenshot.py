"""Render presentation mode at 1280 x 720 (a projector's size), every tab, to PNGs for the README.

Usage::

    python3 docs/make_presentation_screenshot.py [--preset vanishing-sigmoid] [--iterations 40]
        [--width 1280] [--height 720] [--out-dir docs]

Writes, with View > Presentation mode on:

- ``screenshot-presentation.png``: the Training tab (the gradient plot and its heatmap);
- ``screenshot-presentation-backprop.png``: the Backprop tab, the backward pass of the frozen
  weights stepped half-way back;
- ``screenshot-presentation-sweep.png``: the Sweep tab with a small phase diagram (one tanh
  layer, weight scale against sequence length, computed afresh in a throwaway sweep store);
- ``screenshot-presentation-ab.png``: the A/B tab, the preset against a copy with one change,
  trained in lockstep.

Offscreen, with a throwaway QSettings folder, the runs stepped a fixed number of times: the same
pictures on every machine. Each tab is also checked with the layout checks of the tests
(``tests/ui/layout_checks.py``): what they find is printed, and the script fails on it.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "ui"))
import screenshot_common as shots  # noqa: E402
from layout_checks import all_problems  # noqa: E402
from PySide6 import QtGui  # noqa: E402

# isort: split
from gradsim.engine.config import SimConfig  # noqa: E402
from gradsim.engine.presets import load_preset  # noqa: E402
from gradsim.ui.main_window import MainWindow  # noqa: E402

PRESENTATION = "gradsim.ui.features.presentation.presentation"
BACKPROP = "gradsim.ui.features.backprop.backprop_tab"
SWEEP = "gradsim.ui.features.sweep.sweep_view"
COMPARE = "gradsim.ui.features.compare.compare"


def training_tab(window: MainWindow, iterations: int) -> QtGui.QPixmap:
    shots.wait_until_drawn(window, iterations)
    return window.grab()


def backprop_tab(window: MainWindow) -> QtGui.QPixmap:
    tab = window.features[BACKPROP]
    tab.show_tab()  # freezes the run's weights
    shots.run_loop_until(lambda: tab.view.session is not None, timeout=60)
    tab.view.go_to(tab.view.total_cells // 2)
    shots.run_loop_until(lambda: tab.view.position == tab.view.total_cells // 2, timeout=60)
    shots.settle()
    return window.grab()


def sweep_tab(window: MainWindow, store: Path) -> QtGui.QPixmap:
    controller = window.features[SWEEP]
    controller.store_path = store
    # One tanh layer, as docs/make_sweep_screenshot.py: both edges (vanishing, exploding) show.
    controller.base_config = SimConfig(
        num_layers=1, hidden_size=32, seq_len=50, batch_size=8, activation="tanh", init="gaussian",
        task="random",
    )  # fmt: skip
    controller.show_tab()
    page = controller.page
    page.x_editor.set_state("weight_scale", 0.5, 4.0, 12, "linear")
    page.y_editor.set_state("seq_len", 5, 200, 12, "log")
    page.seeds_spin.setValue(2)
    page.iterations_spin.setValue(0)
    controller.start()
    shots.run_loop_until(lambda: not controller.is_running, timeout=600)
    shots.run_loop_until(lambda: controller.line is not None, timeout=60)
    shots.settle()
    return window.grab()


def ab_tab(window: MainWindow, pairs: int) -> QtGui.QPixmap:
    view = window.features[COMPARE].ab_view
    window.tabs.setCurrentWidget(view)
    shots.settle(0.2)
    for _ in range(pairs):
        view.step()
    shots.run_loop_until(lambda: view.histories["A"].total_records >= pairs, timeout=120)
    shots.settle()
    return window.grab()


def main(argv: list[str] | None = None) -> int:
    parser = shots.argument_parser(
        __doc__.splitlines()[0], preset="vanishing-sigmoid", iterations=40, size=(1280, 720)
    )
    parser.add_argument("--out-dir", type=Path, default=shots.DOCS, help="where to write")
    args = parser.parse_args(argv)

    app, window = shots.open_window(load_preset(args.preset), args.width, args.height, diagnosis_dock=False)
    if not shots.train(window, args.iterations, timeout=600):
        print(f"the run did not reach {args.iterations} iterations", file=sys.stderr)
        return 1
    window.features[PRESENTATION].set_enabled(True)
    store = Path(tempfile.mkdtemp(prefix="gradsim-shot-")) / "store.sqlite"  # a fresh sweep store
    pictures: dict[str, QtGui.QPixmap] = {}
    problems: list[str] = []
    for name, take in (
        ("screenshot-presentation.png", lambda: training_tab(window, args.iterations)),
        ("screenshot-presentation-backprop.png", lambda: backprop_tab(window)),
        ("screenshot-presentation-sweep.png", lambda: sweep_tab(window, store)),
        ("screenshot-presentation-ab.png", lambda: ab_tab(window, args.iterations)),
    ):
        pictures[name] = take()
        problems += [f"{name}: {problem}" for problem in all_problems(window)]

    window.features[PRESENTATION].set_enabled(False)  # as found
    window.close()
    for name, image in pictures.items():
        if not shots.save_picture(image, args.out_dir / name):
            return 1
    for problem in problems:
        print(problem, file=sys.stderr)
    app.processEvents()
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
