"""Render the window with a lesson at its Explain step and its plot framed, to a PNG (for the docs).

Usage::

    python3 docs/make_lesson_screenshot.py [--lesson 2] [--width 1440] [--height 900]
        [--output docs/screenshot-lesson.png]

Runs offscreen with a throwaway QSettings folder. The lesson is walked through as a user would:
open the Lessons dock, Next to the question, choose the right answer and Check, Run it; the
picture is taken once the run has finished and the explanation and the highlight are shown.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import screenshot_common as shots  # noqa: E402

# isort: split
from gradsim.ui.features.lessons.lesson_steps import EXPLAIN, PREDICT  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = shots.argument_parser(__doc__.splitlines()[0], output="screenshot-lesson.png")
    parser.add_argument("--lesson", type=int, default=2, help="lesson number (1-based, story order)")
    args = parser.parse_args(argv)

    app, window = shots.open_window(None, args.width, args.height)
    lessons = window.features["gradsim.ui.features.lessons.lessons_panel"]
    lessons.help_action.trigger()
    panel = lessons.panel
    panel.go_to(args.lesson - 1)
    panel.go_next()
    assert panel.step == PREDICT
    panel.choice_buttons[panel.lesson.correct_index].click()
    panel.check_button.click()
    panel.next_button.click()
    if not shots.run_loop_until(lambda: panel.step == EXPLAIN, timeout=60):
        print("the lesson's run did not finish in 60 s", file=sys.stderr)
        return 1
    shots.settle()  # the display timer draws the last record and Qt paints it
    return shots.save_window(window, args.output)


if __name__ == "__main__":
    sys.exit(main())
