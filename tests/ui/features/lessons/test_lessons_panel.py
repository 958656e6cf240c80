"""Lessons panel: the dock and its menu entries, every lesson walked from Intro to Explain with the
numbers compared with the engine's own run, keyboard, highlight, and progress across windows."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
from helpers import engine_run, small_config
from PySide6 import QtCore, QtWidgets

from gradsim.engine.lessons import PLOTS, LessonError, load_lessons, read_lesson, run_values
from gradsim.ui.features.lessons import lessons_panel
from gradsim.ui.features.lessons.lesson_steps import EXPLAIN, INTRO, PREDICT, RUN
from gradsim.ui.features.lessons.lessons_panel import LessonsPanel
from gradsim.ui.main_window import MainWindow
from gradsim.ui.training.dashboard import PLOT_KEYS

pytestmark = [pytest.mark.qt_log_level_fail("WARNING")]

Key = QtCore.Qt.Key
SMALL = small_config(seed=5)
pytestmark.append(pytest.mark.window(config=SMALL, features=("gradsim.ui.features.lessons.lessons_panel",)))
FEATURE = "gradsim.ui.features.lessons.lessons_panel"


def feature(window: MainWindow) -> lessons_panel.Lessons:
    return window.features[FEATURE]


def open_panel(window: MainWindow) -> LessonsPanel:
    lessons = feature(window)
    lessons.help_action.trigger()
    assert lessons.dock.isVisible()
    return lessons.panel


def assert_same_records(expected, actual, assert_same_record) -> None:
    """Every record equal; conftest's check compares dicts with ==, so NaN values in the dicts
    of an overflowed record are compared here (NaN equals NaN)."""
    assert len(actual) == len(expected)
    for want, got in zip(expected, actual, strict=True):
        if want.nonfinite is None:
            assert_same_record(want, got)
            continue
        for name in ("param_grad_norms", "update_ratios", "extra"):
            mine, theirs = getattr(want, name), getattr(got, name)
            assert mine.keys() == theirs.keys(), name
            for key, value in mine.items():
                assert theirs[key] == value or (math.isnan(theirs[key]) and math.isnan(value)), (name, key)
        assert_same_record(
            dataclasses.replace(want, param_grad_norms={}, update_ratios={}, extra={}),
            dataclasses.replace(got, param_grad_norms={}, update_ratios={}, extra={}),
        )


def test_plot_names_of_the_lesson_files_are_the_dashboards():
    assert PLOTS == PLOT_KEYS


def test_dock_hidden_by_default_opened_from_view_and_help_menus(qtbot, make_window):
    window = make_window()
    lessons = feature(window)
    assert lessons.dock.objectName() == "lessons_dock"
    assert window.findChild(QtWidgets.QDockWidget, "lessons_dock") is lessons.dock
    assert not lessons.dock.isVisible()
    assert lessons.toggle_action in window.view_menu.actions()
    assert lessons.help_action in window.help_menu.actions()
    assert lessons.help_action.text() == "Guided lessons\tCtrl+L"
    assert lessons.toggle_action.shortcut().toString() == "Ctrl+L"
    assert lessons.toggle_action.toolTip() and lessons.help_action.toolTip()
    # Ctrl+L from the window toggles the dock.
    window.activateWindow()
    window.tabs.setFocus()
    qtbot.keyClick(window.tabs, Key.Key_L, QtCore.Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lessons.dock.isVisible, timeout=2000)
    qtbot.keyClick(window.tabs, Key.Key_L, QtCore.Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not lessons.dock.isVisible(), timeout=2000)
    lessons.help_action.trigger()
    assert lessons.dock.isVisible()
    for widget in lessons.panel.findChildren(QtWidgets.QAbstractButton) + [lessons.panel.lesson_list]:
        assert widget.toolTip(), widget.objectName()


def test_first_launch_offers_the_lessons_in_the_status_bar_once(qtbot, make_window):
    first = make_window()
    assert "Guided lessons (Ctrl+L)" in first.statusBar().currentMessage()
    assert not QtWidgets.QApplication.activeModalWidget()
    first.close()
    second = make_window()
    assert "Guided lessons" not in second.statusBar().currentMessage()


def test_walk_through_every_lesson(qtbot, make_window, assert_same_record):
    window = make_window()
    panel = open_panel(window)
    lessons = load_lessons()
    assert [lesson.slug for lesson in panel.lessons] == [lesson.slug for lesson in lessons]
    assert (panel.index, panel.step) == (0, INTRO)
    assert not panel.back_button.isEnabled()
    for number, lesson in enumerate(lessons):
        assert (panel.index, panel.step) == (number, INTRO)
        assert panel.intro_text.text() == lesson.intro
        assert lesson.title in panel.title_label.text()
        assert panel.pages.currentIndex() == INTRO
        panel.next_button.click()
        # Predict: Next waits for a checked answer; a wrong one says why, the right one says so.
        assert panel.step == PREDICT and panel.question_text.text() == lesson.question
        assert not panel.next_button.isEnabled() and not panel.check_button.isEnabled()
        shown = [button for button in panel.choice_buttons if not button.isHidden()]
        assert len(shown) == len(lesson.choices)
        wrong = next(i for i, choice in enumerate(lesson.choices) if not choice.correct)
        panel.choice_buttons[wrong].click()
        panel.check_button.click()
        assert panel.feedback_text.text().startswith("Not quite")
        assert lesson.choices[wrong].why in panel.feedback_text.text()
        panel.choice_buttons[lesson.correct_index].click()
        panel.check_button.click()
        assert panel.feedback_text.text().startswith("Right.")
        assert panel.next_button.isEnabled()
        panel.next_button.click()
        # Run: the lesson's config in the window, stepped until its count or a halt.
        assert panel.step == RUN and panel.is_running
        assert window.current_config() == lesson.config
        qtbot.waitUntil(lambda: panel.step == EXPLAIN, timeout=15000)
        expected = engine_run(lesson.config, lesson.iterations)
        assert len(expected) == lesson.iterations or expected[-1].nonfinite is not None
        assert_same_records(expected, panel.run_records, assert_same_record)
        assert not window.runner.is_running
        assert window.history.total_records == len(expected)
        # Explain: the real numbers, the named plot framed, the Training tab in front.
        text = panel.explanation_text.text()
        assert text == lesson.explain(run_values(expected, lesson.config))
        assert "{" not in text
        assert (
            f"{expected[-1].iteration}" in panel.run_text.text() or "iterations ran" in panel.run_text.text()
        )
        assert panel.highlight.target is window.dashboard.plots[lesson.plot]
        assert panel.highlight.isVisible()
        assert panel.highlight.geometry() == panel.highlight.target.rect()
        assert window.tabs.currentWidget() is window.training_tab()
        assert lesson.slug in panel.completed
        assert panel.progress_label.text() == f"{number + 1} of {len(lessons)} lessons done"
        if number < len(lessons) - 1:
            panel.next_button.click()
    assert panel.step == EXPLAIN and not panel.next_button.isEnabled()
    assert panel.next_button.text() == "All done"


def test_numbers_of_the_exploding_lesson_come_from_its_halted_run(qtbot, make_window):
    window = make_window()
    panel = open_panel(window)
    index = next(i for i, lesson in enumerate(panel.lessons) if lesson.slug == "exploding")
    panel.go_to(index)
    panel.next_button.click()
    panel.choice_buttons[panel.lesson.correct_index].click()
    panel.check_button.click()
    panel.next_button.click()
    qtbot.waitUntil(lambda: panel.step == EXPLAIN, timeout=15000)
    event = panel.run_records[-1].nonfinite
    assert event is not None and event.iteration < panel.lesson.iterations
    assert event.describe() in panel.explanation_text.text()
    assert window.banner.isVisible()  # the window's own message about the overflow


def test_keyboard_inside_the_panel_and_transport_keys_untouched(qtbot, make_window):
    window = make_window()
    panel = open_panel(window)
    panel.next_button.setFocus()

    def press(key, modifier=QtCore.Qt.KeyboardModifier.NoModifier):
        focus = QtWidgets.QApplication.focusWidget()
        assert focus is panel or panel.isAncestorOf(focus)  # the focus stays in the panel
        qtbot.keyClick(focus, key, modifier)

    alt = QtCore.Qt.KeyboardModifier.AltModifier
    press(Key.Key_PageDown)
    assert panel.step == PREDICT
    press(Key.Key_PageUp)
    assert panel.step == INTRO
    press(Key.Key_Right, alt)
    assert panel.step == PREDICT
    press(Key.Key_Left, alt)
    assert panel.step == INTRO
    # Space and → still drive the transport while the focus is in the panel.
    with qtbot.waitSignal(window.runner.runningChanged, check_params_cb=lambda running: running):
        press(Key.Key_Space)
    assert panel.step == INTRO
    with qtbot.waitSignal(window.runner.runningChanged, check_params_cb=lambda running: not running):
        press(Key.Key_Space)
    before = window.history.total_records
    press(Key.Key_Right)
    qtbot.waitUntil(lambda: window.history.total_records == before + 1, timeout=5000)
    assert panel.step == INTRO
    # Page Down outside the panel does nothing to it.
    window.tabs.setFocus()
    qtbot.keyClick(window.tabs, Key.Key_PageDown)
    assert panel.step == INTRO


def test_back_next_list_and_run_again(qtbot, make_window, engine_records, assert_same_record):
    window = make_window()
    panel = open_panel(window)
    panel.lesson_list.setCurrentRow(2)
    assert (panel.index, panel.step) == (2, INTRO)
    panel.back_button.click()
    assert (panel.index, panel.step) == (1, INTRO)
    panel.next_button.click()
    panel.choice_buttons[0].click()
    panel.check_button.click()
    panel.next_button.click()
    qtbot.waitUntil(lambda: panel.step == EXPLAIN, timeout=15000)
    first = list(panel.run_records)
    # Back to the Run step: its result line, and Run again repeats the same run.
    panel.back_button.click()
    assert panel.step == RUN and panel.run_again_button.isEnabled()
    assert panel.run_text.text().startswith("Finished:")
    assert panel.run_bar.value() == panel.lesson.iterations
    panel.run_again_button.click()
    qtbot.waitUntil(lambda: panel.step == EXPLAIN, timeout=15000)
    assert_same_records(first, panel.run_records, assert_same_record)
    # "Show me the plot" frames it again; the frame goes away by itself.
    panel.highlight.clear()
    panel.highlight_ms = 50
    panel.show_plot_button.click()
    assert panel.highlight.isVisible()
    qtbot.waitUntil(lambda: not panel.highlight.isVisible(), timeout=2000)


def test_run_restarted_from_outside_the_lesson(qtbot, make_window):
    window = make_window()
    panel = open_panel(window)
    index = next(i for i, lesson in enumerate(panel.lessons) if lesson.iterations >= 20)
    panel.go_to(index)
    panel.next_button.click()
    panel.choice_buttons[0].click()
    panel.check_button.click()
    panel.next_button.click()
    assert panel.is_running
    window.reset_action.trigger()  # the user's Reset: no longer the lesson's run
    assert not panel.is_running
    assert "restarted" in panel.run_text.text()
    assert panel.step == RUN and panel.run_again_button.isEnabled() and not panel.next_button.isEnabled()
    total = window.history.total_records
    qtbot.wait(200)
    assert window.history.total_records == total  # nothing keeps stepping


def test_progress_persists_to_a_new_window(qtbot, make_window):
    window = make_window()
    panel = open_panel(window)
    panel.next_button.click()
    panel.choice_buttons[panel.lesson.correct_index].click()
    panel.check_button.click()
    panel.next_button.click()
    qtbot.waitUntil(lambda: panel.step == EXPLAIN, timeout=15000)
    panel.next_button.click()
    panel.next_button.click()
    assert (panel.index, panel.step) == (1, PREDICT)
    window.close()
    again = make_window()
    restored = feature(again).panel
    assert (restored.index, restored.step) == (1, PREDICT)
    assert restored.completed == {panel.lessons[0].slug}
    assert restored.progress_label.text().startswith("1 of ")
    assert restored.lesson_list.item(0).text().startswith("✓")
    assert feature(again).dock.isVisible()  # the window state kept the dock open


def test_a_lesson_pointing_at_a_control(qtbot, make_window, tmp_path: Path):
    source = load_lessons()[0].path.read_text(encoding="utf-8")
    path = tmp_path / "01-control.toml"
    path.write_text(source.replace('plot = "gradient"', 'plot = "control:weight_scale"'), encoding="utf-8")
    lesson = read_lesson(path)
    window = make_window()
    window.show_controls_action.trigger()  # controls hidden: the lesson shows them again
    assert not window.controls_scroll.isVisible()
    panel = LessonsPanel(window, [lesson])
    qtbot.addWidget(panel)
    panel.show()
    panel.go_to(0)
    panel.next_button.click()
    panel.choice_buttons[1].click()
    panel.check_button.click()
    panel.next_button.click()
    qtbot.waitUntil(lambda: panel.step == EXPLAIN, timeout=15000)
    assert panel.highlight.target is window.control_panel.findChild(QtWidgets.QWidget, "weight_scale")
    assert window.controls_scroll.isVisible()
    assert "weight_scale" in panel.highlight.tag.text()


def test_unusable_lesson_files_leave_a_message_and_a_working_window(qtbot, monkeypatch, make_window):
    def broken():
        raise LessonError("07-x.toml", "plot", "unknown plot 'x'")

    monkeypatch.setattr(lessons_panel, "load_lessons", broken)
    window = make_window()
    lessons = feature(window)
    assert lessons.panel is None
    lessons.help_action.trigger()
    label = lessons.dock.widget()
    assert "lesson file 07-x.toml, field 'plot'" in label.text()
    window.step_action.trigger()
    qtbot.waitUntil(lambda: window.history.total_records == 1, timeout=5000)
