"""The Lessons panel: a guided tour of vanishing and exploding gradients, one lesson at a time.

Each lesson (a data file in ``resources/lessons``, read by :mod:`gradsim.engine.lessons`) goes
through four steps: **Intro** (what we are about to do) → **Predict** (a multiple-choice
question; "Check" says right or wrong and why) → **Run** (the lesson's config is applied with
``window.apply_config`` and the window's own runner takes the lesson's number of steps) →
**Explain** (the text with the run's real numbers, and the plot it talks about framed for a few
seconds). The panel lives in a dock (``lessons_dock``, Ctrl+L), hidden until opened from the
View or Help menu; progress is kept in ``window.settings`` under ``lessons/``.

The run never blocks the GUI: the panel asks the runner for one step at a time and asks for the
next when the record arrives on ``runner.recordsReady``, so it stops at exactly the lesson's
iteration count (playing freely would overshoot by however many steps fit in one batch). The
placeholders are computed from the collected records once the run ends (a few small numpy
reductions over at most a few dozen records).

Its widgets and layout are :class:`~gradsim.ui.features.lessons.lesson_view.LessonView` (which
the panel derives from); the steps' texts and the stored progress, with no widget, are in
:mod:`.lesson_steps`. This module holds what the panel does, and the feature's ``install``.
"""

from __future__ import annotations

import dataclasses

from PySide6 import QtCore, QtGui, QtWidgets

from gradsim.engine.lessons import CONTROL_PREFIX, Lesson, LessonError, load_lessons, run_values
from gradsim.engine.records import StepRecord
from gradsim.ui.common.widgets import text_label
from gradsim.ui.feature_api import WindowAPI
from gradsim.ui.features.lessons.lesson_steps import (
    EXPLAIN,
    INTRO,
    PREDICT,
    RUN,
    next_button,
    resume_point,
    setup_summary,
    step_trail,
)
from gradsim.ui.features.lessons.lesson_view import Highlight, LessonView

HIGHLIGHT_MS = 6000
RIGHT_COLOR = "#2e7d32"
WRONG_COLOR = "#c62828"

CURRENT_KEY = "lessons/current"
STEP_KEY = "lessons/step"
COMPLETED_KEY = "lessons/completed"
HINT_KEY = "lessons/hint_shown"


class LessonsPanel(LessonView):
    """Lesson list with progress, and the current lesson's Intro/Predict/Run/Explain steps.

    Parameters
    ----------
    main_window : the window (:class:`~gradsim.ui.feature_api.WindowAPI`) whose runner and plots
        it uses
    lessons : the lessons, in order (at least one)

    Attributes
    ----------
    index, step : the current lesson (index into ``lessons``) and its step (0..3, see STEPS)
    completed : slugs of the lessons whose Explain step was reached
    values : the placeholder values of the last finished run (empty before one)
    run_records : the records of the lesson's run so far (iterations 1..n)
    highlight : the frame drawn over the plot or control a lesson points at
    """

    def __init__(self, main_window: WindowAPI, lessons: list[Lesson]) -> None:
        super().__init__()
        self.setObjectName("lessons_panel")
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.ClickFocus)
        window = main_window
        self.main_window = main_window
        self.lessons = lessons
        self.index = 0
        self.step = INTRO
        self.completed: set[str] = set()
        self.values: dict[str, str] = {}
        self.run_records: list[StepRecord] = []
        self.highlight_ms = HIGHLIGHT_MS
        self._running = False
        self._applying = False
        self._checked = False
        self.highlight = Highlight(self)  # a parent: never a top-level widget Python deletes
        self._build()
        self._load_progress()
        runner = window.runner
        runner.recordsReady.connect(self._on_records)
        runner.failed.connect(self._on_run_failed)
        window.runRestarted.connect(self._on_run_restarted)
        window.closing.connect(self._on_closing)
        self._show()

    # -- public ------------------------------------------------------------------------------------
    @property
    def lesson(self) -> Lesson:
        """The current lesson."""
        return self.lessons[self.index]

    def go_to(self, index: int) -> None:
        """Show lesson ``index`` at its Intro (a run in progress is abandoned)."""
        self._go_lesson(index)
        self._show_and_remember()

    @QtCore.Slot()
    def go_next(self) -> None:
        """The next step, or the next lesson's Intro after Explain."""
        if not self.next_button.isEnabled():
            return
        if self.step == EXPLAIN:
            self._go_lesson(self.index + 1)
        elif self.step == PREDICT:
            self.step = RUN
            self.start_run()
        else:
            self.step += 1
            if self.step == PREDICT:
                self._reset_answer()
        self._show_and_remember()

    @QtCore.Slot()
    def go_back(self) -> None:
        """The previous step, or the previous lesson's Intro from an Intro."""
        if not self.back_button.isEnabled():
            return
        if self.step == INTRO:
            self._go_lesson(self.index - 1)
        else:
            self._stop_run()
            self.step -= 1
            if self.step == RUN and not self.values:
                self.step = PREDICT
        self._show_and_remember()

    @QtCore.Slot()
    def check_answer(self) -> None:
        """Say whether the chosen answer is right, and why."""
        chosen = self.choice_group.checkedId()
        if chosen < 0:
            return
        choice = self.lesson.choices[chosen]
        self._checked = True
        if choice.correct:
            text, color = f"Right. {choice.why}".strip(), RIGHT_COLOR
        else:
            text, color = f"Not quite: {choice.why} Try another answer, or go on and see.", WRONG_COLOR
        self.feedback_text.setText(text)
        self.feedback_text.setStyleSheet(f"color: {color};")
        self._sync_buttons()

    @QtCore.Slot()
    def start_run(self) -> None:
        """Apply the lesson's config (a fresh run) and take its iterations one step at a time."""
        runner = self.main_window.runner
        runner.pause()
        self.highlight.clear()
        self.values = {}
        self.run_records = []
        self._running = True
        self._applying = True
        try:
            self.main_window.apply_config(self.lesson.config)
        finally:
            self._applying = False
        self.main_window.tabs.setCurrentWidget(self.main_window.training_tab())
        runner.step()
        self._show_run_progress()
        self._sync_buttons()

    @property
    def is_running(self) -> bool:
        """Whether the lesson's run is in progress."""
        return self._running

    @QtCore.Slot()
    def show_pointed_plot(self) -> None:
        """Bring the Training tab to the front and frame the plot (or control) the lesson names."""
        lesson = self.lesson
        window = self.main_window
        if lesson.plot.startswith(CONTROL_PREFIX):
            name = lesson.plot[len(CONTROL_PREFIX) :]
            target = window.control_panel.findChild(QtWidgets.QWidget, name)
            if target is None:
                return
            if not window.controls_scroll.isVisible():
                window.show_controls_action.trigger()
            window.controls_scroll.ensureWidgetVisible(target)
            label = f"Look here: {name}"
        else:
            target = window.dashboard.plots[lesson.plot]
            window.tabs.setCurrentWidget(window.training_tab())
            label = "Look here"
        self.highlight.show_on(target, self.highlight_ms, label)

    # -- run ---------------------------------------------------------------------------------------
    def _stop_run(self) -> None:
        if self._running:
            self._running = False
            self.main_window.runner.pause()

    @QtCore.Slot(object)
    def _on_records(self, records: list[StepRecord]) -> None:
        if not self._running:
            return
        wanted = self.lesson.iterations
        for record in records:
            if len(self.run_records) >= wanted:
                break
            self.run_records.append(record)
            if record.nonfinite is not None:
                break
        done = self.run_records and (
            len(self.run_records) >= wanted or self.run_records[-1].nonfinite is not None
        )
        if done:
            self._finish_run()
        else:
            self._show_run_progress()
            # Playing (if the user pressed Play meanwhile) is stopped by the step request.
            self.main_window.runner.step()

    def _finish_run(self) -> None:
        self._running = False
        self.main_window.runner.pause()
        self.values = run_values(self.run_records, self.lesson.config)
        self.explanation_text.setText(self.lesson.explain(self.values))
        self.completed.add(self.lesson.slug)
        self.step = EXPLAIN
        self._show_and_remember()
        self.show_pointed_plot()

    @QtCore.Slot(object)
    def _on_run_restarted(self, config: object) -> None:
        del config
        if self._running and not self._applying:
            # The user reset the run or changed a setting: this is no longer the lesson's run.
            self._running = False
            self.run_records = []
            self.run_text.setText("The run was restarted from outside the lesson. Press Run again.")
            self._sync_buttons()

    @QtCore.Slot(str)
    def _on_run_failed(self, message: str) -> None:
        if self._running:
            self._running = False
            self.run_text.setText(f"The run could not start: {message}")
            self._sync_buttons()

    def _show_run_progress(self) -> None:
        total = self.lesson.iterations
        done = len(self.run_records)
        self.run_bar.setRange(0, total)
        self.run_bar.setValue(done)
        if self._running:
            self.run_text.setText(f"Training: iteration {done} of {total}…")
        elif self.values:
            self.run_text.setText(f"Finished: {self.values['outcome']}.")

    # -- display -----------------------------------------------------------------------------------
    def _go_lesson(self, index: int) -> None:
        self._stop_run()
        self.index = max(0, min(index, len(self.lessons) - 1))
        self.step = INTRO
        self.values = {}
        self.run_records = []
        self.highlight.clear()
        self._reset_answer()

    def _reset_answer(self) -> None:
        self._checked = False
        self.choice_group.setExclusive(False)
        for button in self.choice_buttons:
            button.setChecked(False)
        self.choice_group.setExclusive(True)
        self.feedback_text.setText("")

    @QtCore.Slot(int)
    def _on_user_pick(self, row: int) -> None:
        if row >= 0 and row != self.index:
            self.go_to(row)

    @QtCore.Slot(int, bool)
    def _on_user_choice(self, number: int, checked: bool) -> None:
        del number, checked
        self._sync_buttons()

    def _show(self) -> None:
        lesson = self.lesson
        total = len(self.lessons)
        done = len(self.completed & {item.slug for item in self.lessons})
        self.progress_label.setText(f"{done} of {total} lessons done")
        for row, item_lesson in enumerate(self.lessons):
            mark = "✓" if item_lesson.slug in self.completed else "  "
            self.lesson_list.item(row).setText(f"{mark} {item_lesson.number:02d}  {item_lesson.title}")
        blocked = self.lesson_list.blockSignals(True)
        self.lesson_list.setCurrentRow(self.index)
        self.lesson_list.blockSignals(blocked)
        self.title_label.setText(f"Lesson {self.index + 1}: {lesson.title}")
        self.step_label.setText(step_trail(self.step))
        self.intro_text.setText(lesson.intro)
        self.setup_text.setText(setup_summary(lesson))
        self.question_text.setText(lesson.question)
        for number, (button, text) in enumerate(zip(self.choice_buttons, self._choice_labels, strict=True)):
            shown = number < len(lesson.choices)
            button.setVisible(shown)
            text.setVisible(shown)
            if shown:
                text.setText(lesson.choices[number].text)
        if self.step == EXPLAIN and self.values:
            self.explanation_text.setText(lesson.explain(self.values))
        self._show_run_progress()
        self.pages.setCurrentIndex(self.step)
        self._sync_buttons()

    def _keep_focus(self, had_focus: bool) -> None:
        # A button disabled by the step change drops the focus, perhaps out of the panel, and
        # the panel's keys (Page Up/Down, Alt+arrows) would stop working.
        focus = QtWidgets.QApplication.focusWidget()
        if had_focus and (focus is None or not self.isAncestorOf(focus)):
            self.setFocus(QtCore.Qt.FocusReason.OtherFocusReason)

    def _has_focus(self) -> bool:
        focus = QtWidgets.QApplication.focusWidget()
        return focus is not None and (focus is self or self.isAncestorOf(focus))

    def _sync_buttons(self) -> None:
        had_focus = self._has_focus()
        last = self.index == len(self.lessons) - 1
        self.back_button.setEnabled(not (self.step == INTRO and self.index == 0))
        state = next_button(
            self.step, checked=self._checked, finished=bool(self.values), running=self._running, last=last
        )
        self.next_button.setEnabled(state.enabled)
        self.next_button.setText(state.text)
        if state.tip is not None:
            self.next_button.setToolTip(state.tip)
        self.check_button.setEnabled(self.choice_group.checkedId() >= 0)
        self.run_again_button.setEnabled(not self._running)
        self._keep_focus(had_focus)

    # -- persistence -------------------------------------------------------------------------------
    def _load_progress(self) -> None:
        settings = self.main_window.settings
        self.completed, self.index, self.step = resume_point(
            [lesson.slug for lesson in self.lessons],
            settings.value(COMPLETED_KEY, ""),
            settings.value(CURRENT_KEY, ""),
            settings.value(STEP_KEY, INTRO),
        )

    def _show_and_remember(self) -> None:
        """Show the step reached and remember it: the panel reopens there."""
        self._show()
        self._save_progress()

    def _save_progress(self) -> None:
        settings = self.main_window.settings
        settings.setValue(CURRENT_KEY, self.lesson.slug)
        settings.setValue(STEP_KEY, self.step)
        settings.setValue(COMPLETED_KEY, ",".join(sorted(self.completed)))

    @QtCore.Slot()
    def _on_closing(self) -> None:
        self._stop_run()
        self.highlight.clear()
        self._save_progress()


@dataclasses.dataclass(frozen=True, eq=False)
class Lessons:
    """What :func:`install` returns: the dock, the panel (None if the files are unusable), the actions.

    Attributes
    ----------
    dock : the Lessons dock
    panel : the lessons in it, or None when the lesson files could not be read
    toggle_action : View ▸ Lessons panel (Ctrl+L)
    help_action : Help ▸ Guided lessons
    error : why the lesson files could not be read ("" when they could)
    """

    dock: QtWidgets.QDockWidget
    panel: LessonsPanel | None
    toggle_action: QtGui.QAction
    help_action: QtGui.QAction
    error: str


def install(window: WindowAPI, lessons: list[Lesson] | None = None) -> Lessons:
    """Add the Lessons dock (hidden), its View and Help menu entries and the first-launch hint.

    ``lessons`` defaults to the packaged lesson files; if they cannot be read the dock shows
    the reason instead of the panel, and the rest of the window works as before.
    """
    dock = QtWidgets.QDockWidget("Lessons", window)
    dock.setObjectName("lessons_dock")
    areas = QtCore.Qt.DockWidgetArea
    dock.setAllowedAreas(areas.LeftDockWidgetArea | areas.RightDockWidgetArea)
    error = ""
    panel: LessonsPanel | None = None
    try:
        lessons = load_lessons() if lessons is None else lessons
        if not lessons:
            raise LessonError("resources/lessons", None, "no lesson files found")
        panel = LessonsPanel(window, lessons)
        dock.setWidget(panel)
    except LessonError as failure:
        error = str(failure)
        message = text_label("lessons_error")
        message.setText(f"The lessons could not be loaded.\n\n{error}")
        dock.setWidget(message)
    dock.setMinimumWidth(300)
    window.addDockWidget(QtCore.Qt.DockWidgetArea.RightDockWidgetArea, dock)
    dock.hide()

    toggle = dock.toggleViewAction()
    toggle.setText("Lessons panel")
    toggle.setShortcut(
        QtGui.QKeySequence(QtCore.QKeyCombination(QtCore.Qt.Modifier.CTRL, QtCore.Qt.Key.Key_L))
    )
    toggle.setToolTip("Show or hide the guided lessons (Ctrl+L)")
    toggle.setStatusTip("Show or hide the guided lessons (Ctrl+L)")
    window.addAction(toggle)
    window.view_menu.addAction(toggle)

    def open_lessons() -> None:
        dock.show()
        dock.raise_()
        if panel is not None:
            panel.next_button.setFocus()

    # The menu shows the dock's shortcut (text after a tab); the action itself has none, since
    # Ctrl+L belongs to the View menu's toggle and two actions on one key would cancel out.
    guided = QtGui.QAction("Guided lessons\tCtrl+L", window)
    guided.setToolTip("A guided tour: predict, run and explain vanishing and exploding gradients")
    guided.setStatusTip(guided.toolTip())
    guided.triggered.connect(open_lessons)
    window.help_menu.addAction(guided)

    settings = window.settings
    if settings.value(HINT_KEY) is None:
        # Non-modal: a status bar message, once per installation.
        window.statusBar().showMessage(
            "New to gradsim? Help ▸ Guided lessons (Ctrl+L) walks you through vanishing and exploding "
            "gradients.",
            30000,
        )
        settings.setValue(HINT_KEY, "1")
    return Lessons(dock, panel, toggle, guided, error)
