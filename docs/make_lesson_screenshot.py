"""Render the window with a lesson at its Explain step and its plot framed, to a PNG (for the docs).

Usage::

    python3 docs/make_lesson_screenshot.py [--lesson 2] [--width 1440] [--height 900]
        [--output docs/screenshot-lesson.png]

Runs offscreen with a throwaway QSettings folder. The lesson is walked through as a user would:
open the Lessons dock, Next to the question, choose the right answer and Check, Run it; the
picture is taken once the run has finished and the explanation and the highlight are shown.
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
from gradsim.ui.app import create_application  # noqa: E402
from gradsim.ui.features.lessons.lesson_steps import EXPLAIN, PREDICT  # noqa: E402
from gradsim.ui.main_window import MainWindow  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_screenshots import run_loop_until  # noqa: E402

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "screenshot-lesson.png"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lesson", type=int, default=2, help="lesson number (1-based, story order)")
    parser.add_argument("--width", type=int, default=1440)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)

    ini = QtCore.QSettings.Format.IniFormat
    QtCore.QSettings.setDefaultFormat(ini)
    QtCore.QSettings.setPath(ini, QtCore.QSettings.Scope.UserScope, tempfile.mkdtemp(prefix="gradsim-shot-"))
    app = create_application(sys.argv[:1])
    window = MainWindow(settings=QtCore.QSettings())
    window.resize(args.width, args.height)
    window.show()
    lessons = window.features["gradsim.ui.features.lessons.lessons_panel"]
    lessons.help_action.trigger()
    panel = lessons.panel
    panel.go_to(args.lesson - 1)
    panel.go_next()
    assert panel.step == PREDICT
    panel.choice_buttons[panel.lesson.correct_index].click()
    panel.check_button.click()
    panel.next_button.click()
    if not run_loop_until(lambda: panel.step == EXPLAIN, timeout=60):
        print("the lesson's run did not finish in 60 s", file=sys.stderr)
        return 1
    # Let the display timer draw the last record and Qt paint it.
    run_loop_until(lambda: False, timeout=0.5)
    image = window.grab()
    window.close()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(args.output)):
        print(f"cannot write {args.output}", file=sys.stderr)
        return 1
    print(f"wrote {args.output} ({image.width()} x {image.height()})")
    app.processEvents()
    return 0


if __name__ == "__main__":
    sys.exit(main())
