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

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "screenshot-diagnosis.png"
FEATURE = "gradsim.ui.features.diagnosis.diagnosis_panel"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="vanishing-sigmoid")
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--width", type=int, default=1440)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
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

    ini = QtCore.QSettings.Format.IniFormat
    QtCore.QSettings.setDefaultFormat(ini)
    QtCore.QSettings.setPath(ini, QtCore.QSettings.Scope.UserScope, tempfile.mkdtemp(prefix="gradsim-shot-"))
    app = create_application(sys.argv[:1])
    window = MainWindow(config, settings=QtCore.QSettings())
    window.resize(args.width, args.height)
    window.show()
    panel = window.features[FEATURE].panel
    for _ in range(args.iterations):
        done = window.history.total_records + 1
        window.runner.step()
        if not run_loop_until(lambda done=done: window.history.total_records >= done, timeout=30):
            print("a training step did not arrive in 30 s", file=sys.stderr)
            return 1
    last = window.history.latest
    if not run_loop_until(
        lambda: panel.result is not None and panel.result.iteration == last.iteration and not panel.is_busy,
        timeout=30,
    ):
        print("the diagnosis did not arrive in 30 s", file=sys.stderr)
        return 1
    # Let the display timer draw the last record and Qt paint it.
    run_loop_until(lambda: False, timeout=0.5)
    image = window.grab()
    window.close()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(args.output)):
        print(f"cannot write {args.output}", file=sys.stderr)
        return 1
    print(f"wrote {args.output} ({image.width()} x {image.height()}): {panel.result.diagnosis.sentence}")
    print(panel.overlay.label or panel.overlay.reason_text)
    del app
    return 0


if __name__ == "__main__":
    sys.exit(main())
