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

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import screenshot_common as shots  # noqa: E402

TABS = {"Training": "training", "Backprop": "backprop", "Sweep": "sweep", "A/B": "ab"}


def save(window, path: Path) -> None:
    """Write ``window``'s picture to ``path`` (:func:`screenshot_common.save_picture`); stop if Qt
    could not write it."""
    if not shots.save_picture(window.grab(), path):
        raise SystemExit(1)


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
    from gradsim.engine.presets import load_preset
    from gradsim.ui.features.compare.ab_view import ABView

    app, window = shots.open_window(load_preset(preset), width, height)
    shots.train(window, iterations, timeout=120)
    diagnosis = window.features["gradsim.ui.features.diagnosis.diagnosis_panel"].panel
    # The verdict comes from a worker process: wait for it (at most half a minute).
    shots.run_loop_until(lambda: diagnosis.badge.text() not in ("", "waiting"), 30)
    shots.settle(1.5)
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
            shots.run_loop_until(lambda page=page: page.histories["B"].total_records >= iterations, 120)
        if name == "backprop" and backprop_cells:
            view = window.features["gradsim.ui.features.backprop.backprop_tab"].view
            shots.run_loop_until(lambda view=view: view.session is not None, 60)
            view.go_to(backprop_cells)
            shots.run_loop_until(lambda view=view: view.position == min(backprop_cells, view.total_cells), 60)
        shots.settle(1.5)
        path = out_dir / f"{prefix}-{name}.png"
        save(window, path)
        written.append(path)
    window.tabs.setCurrentIndex(0)
    lessons = window.features["gradsim.ui.features.lessons.lessons_panel"]
    lessons.toggle_action.trigger()
    lessons.panel.go_next()  # the Predict step: a question and its answers
    shots.settle(1.0)
    path = out_dir / f"{prefix}-lessons.png"
    save(window, path)
    written.append(path)
    if window.size().toTuple() != (width, height):
        print(f"warning: the window is {window.width()} x {window.height()}, not {width} x {height}")
    window.close()
    app.processEvents()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = shots.argument_parser(__doc__.split("\n\n")[0], preset="default", iterations=20)
    parser.add_argument("--out-dir", type=Path, default=shots.DOCS, help="where to write")
    parser.add_argument("--prefix", default="screenshot")
    parser.add_argument("--backprop-cells", type=int, default=0, help="cells the Backprop tab steps through")
    parser.add_argument("--ab-rnn-lstm", action="store_true", help="A/B: a vanilla RNN against an LSTM")
    args = parser.parse_args(argv)
    # Each picture's line is printed as it is written.
    shoot(
        args.width, args.height, args.out_dir, args.prefix, args.iterations, args.preset, args.backprop_cells,
        args.ab_rnn_lstm,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
