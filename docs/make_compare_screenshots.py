"""Render the A/B tab and a pinned ghost on the dashboard to PNGs (for docs/compare.md).

Usage::

    python3 docs/make_compare_screenshots.py [--iterations 30] [--width 1440] [--height 900]

Writes ``docs/screenshot-ab.png`` (A: the 'vanishing-sigmoid' preset, B: 'fix-leaky-relu' with
A's seed, trained in lockstep) and ``docs/screenshot-pinned.png`` (the sigmoid run pinned, then
the leaky-ReLU run live, its ghost dashed on every plot). Offscreen, with throwaway settings;
the runs are stepped a fixed number of times, so the pictures are the same on every machine.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import screenshot_common as shots  # noqa: E402

# isort: split
from gradsim.engine.presets import load_preset  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = shots.argument_parser(__doc__.splitlines()[0], iterations=30)
    args = parser.parse_args(argv)

    sigmoid, leaky = load_preset("vanishing-sigmoid"), load_preset("fix-leaky-relu")
    app, window = shots.open_window(sigmoid, args.width, args.height)
    compare = window.features["gradsim.ui.features.compare.compare"]
    steps = args.iterations

    def train_live() -> None:
        if not shots.train(window, steps, timeout=120):
            raise SystemExit("the live run did not reach its iterations")
        shots.settle(0.6)  # let the dashboard draw the last records

    train_live()
    compare.pin_current()
    window.apply_config(leaky.replace(seed=sigmoid.seed))
    train_live()
    if not shots.save_picture(window.grab(), shots.DOCS / "screenshot-pinned.png"):
        return 1

    compare.dock.hide()
    window.show_controls_action.trigger()  # F9: the A/B tab has its own editors
    view = compare.ab_view
    window.tabs.setCurrentWidget(view)
    view.set_configs(sigmoid, leaky)
    for _ in range(steps):
        view.step()
    if not shots.run_loop_until(lambda: view.histories["B"].total_records >= steps, 120):
        raise SystemExit("the A/B pair did not reach its iterations")
    shots.settle(0.6)
    return shots.save_window(window, shots.DOCS / "screenshot-ab.png")


if __name__ == "__main__":
    raise SystemExit(main())
