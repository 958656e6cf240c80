"""Render the main window with a preset trained for some iterations to a PNG (for the README).

Usage::

    python3 docs/make_screenshots.py [--preset vanishing-sigmoid] [--iterations 40]
        [--width 1440] [--height 900] [--output docs/screenshot-main.png]

Runs offscreen (no display needed) and never touches the user's settings (a throwaway QSettings
folder). The run is stepped a fixed number of times through the window's own runner, so the
picture shows the engine's numbers for that preset and seed, the same on every machine.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import screenshot_common as shots  # noqa: E402

# isort: split
from gradsim.engine.presets import load_preset  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = shots.argument_parser(
        __doc__.splitlines()[0], preset="vanishing-sigmoid", iterations=40, output="screenshot-main.png"
    )
    args = parser.parse_args(argv)

    # The plots alone: the diagnosis dock has its own screenshot (make_diagnosis_screenshot.py).
    app, window = shots.open_window(load_preset(args.preset), args.width, args.height, diagnosis_dock=False)
    if not shots.train(window, args.iterations, timeout=300):
        print(f"the run did not reach {args.iterations} iterations in 300 s", file=sys.stderr)
        return 1
    shots.wait_until_drawn(window, args.iterations)
    return shots.save_window(window, args.output)


if __name__ == "__main__":
    raise SystemExit(main())
