"""Render the backprop step-through view mid-way through a backward pass to a PNG.

Usage::

    python3 docs/make_backprop_screenshot.py [--preset NAME] [--layers N] [--fraction F]
        [--width W] [--height H] [--output docs/screenshot-backprop.png]

Runs offscreen (no display needed). The view is loaded with the preset's initial weights and the
first batch of its data stream, and stepped until ``fraction`` of the cells are computed.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import screenshot_common as shots  # noqa: E402
from PySide6 import QtWidgets  # noqa: E402

# isort: split
from gradsim.engine.presets import load_preset  # noqa: E402
from gradsim.engine.simulation import Simulation  # noqa: E402
from gradsim.ui.common.theme import theme_named  # noqa: E402
from gradsim.ui.features.backprop.backprop_view import BackpropView  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = shots.argument_parser(
        __doc__.splitlines()[0],
        preset="vanishing-sigmoid",
        size=(1400, 900),
        output="screenshot-backprop.png",
    )
    parser.add_argument("--layers", type=int, default=3, help="number of layers (overrides the preset)")
    parser.add_argument("--seq-len", type=int, default=60, help="time steps (overrides the preset)")
    parser.add_argument("--weight-scale", type=float, default=None, help="overrides the preset")
    parser.add_argument("--fraction", type=float, default=0.55, help="share of the cells computed")
    parser.add_argument("--theme", choices=("light", "dark"), default="light")
    args = parser.parse_args(argv)

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    config = load_preset(args.preset).replace(num_layers=args.layers, seq_len=args.seq_len)
    if args.weight_scale is not None:
        config = config.replace(weight_scale=args.weight_scale)
    simulation = Simulation(config)
    view = BackpropView(theme=theme_named(args.theme))
    view.inline_seconds = float("inf")  # compute inline: the script has no event loop to wait in
    view.resize(args.width, args.height)
    view.load_simulation(simulation)
    view.go_to(round(args.fraction * view.total_cells))
    view.show()
    app.processEvents()
    return shots.save_window(view, args.output, note=f", cell {view.current_cell}")


if __name__ == "__main__":
    raise SystemExit(main())
