"""Render the Sweep tab with a finished phase diagram to a PNG.

Usage::

    python3 docs/make_sweep_screenshot.py [--activation tanh] [--hidden 32] [--count 20]
        [--seeds 3] [--width 1440] [--height 900] [--output docs/screenshot-sweep.png]

Runs offscreen (no display needed): opens the window with a one-layer network, sweeps the
weight scale (linear) against the sequence length (log-spaced) on all cores, with a throwaway
point cache so the picture is always computed afresh, and grabs the window on the Sweep tab.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import screenshot_common as shots  # noqa: E402

# isort: split
from gradsim.engine.config import SimConfig  # noqa: E402
from gradsim.ui.features.sweep.sweep_view import SweepController  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = shots.argument_parser(__doc__.splitlines()[0], output="screenshot-sweep.png")
    parser.add_argument("--activation", default="tanh")
    parser.add_argument("--hidden", type=int, default=32, help="hidden units")
    parser.add_argument("--count", type=int, default=20, help="values per axis")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)

    config = SimConfig(
        num_layers=1, hidden_size=args.hidden, seq_len=50, batch_size=8,
        activation=args.activation, init="gaussian", task="random",
    )  # fmt: skip
    app, window = shots.open_window(config, args.width, args.height)
    controller = window.features["gradsim.ui.features.sweep.sweep_view"]
    assert isinstance(controller, SweepController)
    with tempfile.TemporaryDirectory() as folder:
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
        seconds = time.perf_counter() - started
        points = f"{result.spec.size} points, {len(result.spec.seeds)} seeds, {result.workers} workers"
        return shots.save_window(window, args.output, note=f": {points}, {seconds:.1f} s")


if __name__ == "__main__":
    raise SystemExit(main())
