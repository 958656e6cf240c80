"""Render the window with the Diagnosis dock on a vanishing preset, to a PNG (for the docs).

Usage::

    python3 docs/make_diagnosis_screenshot.py [--preset vanishing-sigmoid] [--iterations 30]
        [--width 1440] [--height 900] [--output docs/screenshot-diagnosis.png]
        [--set FIELD=VALUE ...]

Runs offscreen with a throwaway QSettings folder (so the dock has its first-launch place and
size). The preset trains for the given number of iterations, one step at a time as the Step
button would; the picture is taken once the diagnosis of the last iteration is shown, with the
theory line on the gradient plot.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import screenshot_common as shots  # noqa: E402

# isort: split
from gradsim.engine.presets import load_preset  # noqa: E402

FEATURE = "gradsim.ui.features.diagnosis.diagnosis_panel"


def main(argv: list[str] | None = None) -> int:
    parser = shots.argument_parser(
        __doc__.splitlines()[0], preset="vanishing-sigmoid", iterations=30, output="screenshot-diagnosis.png"
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="FIELD=VALUE",
        help="change a field of the preset's config (e.g. --set num_layers=3); repeatable",
    )  # fmt: skip
    args = parser.parse_args(argv)
    config = load_preset(args.preset)
    for item in args.set:
        name, _, text = item.partition("=")
        kind = type(getattr(config, name))
        config = config.replace(**{name: kind(text)})

    app, window = shots.open_window(config, args.width, args.height)
    panel = window.features[FEATURE].panel
    for _ in range(args.iterations):
        done = window.history.total_records + 1
        window.runner.step()
        if not shots.run_loop_until(lambda done=done: window.history.total_records >= done, timeout=30):
            print("a training step did not arrive in 30 s", file=sys.stderr)
            return 1
    last = window.history.latest
    if not shots.run_loop_until(
        lambda: panel.result is not None and panel.result.iteration == last.iteration and not panel.is_busy,
        timeout=30,
    ):
        print("the diagnosis did not arrive in 30 s", file=sys.stderr)
        return 1
    shots.settle()  # the display timer draws the last record and Qt paints it
    if shots.save_window(window, args.output, note=f": {panel.result.diagnosis.sentence}") != 0:
        return 1
    print(panel.overlay.label or panel.overlay.reason_text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
