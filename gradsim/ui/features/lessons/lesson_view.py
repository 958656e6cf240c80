"""The Lessons panel's widgets and layout: the list, the four step pages, the buttons and keys.

:class:`LessonView` builds what the panel shows and connects it to the slots
:class:`~gradsim.ui.features.lessons.lessons_panel.LessonsPanel` (which derives from it)
implements; :class:`Highlight` is the frame drawn over the plot or control a lesson points at.
"""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from gradsim.engine.lessons import Lesson
from gradsim.ui.common.widgets import text_label

HIGHLIGHT_COLOR = "#ff9800"


class Highlight(QtWidgets.QFrame):
    """A coloured frame drawn over a widget for a while; mouse clicks pass through it.

    It is made a child of the widget it frames (so it moves and resizes with it) and follows
    the widget's resizes through an event filter.
    """

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("lesson_highlight")
        self.setAttribute(QtCore.Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setStyleSheet(
            f"#lesson_highlight {{ border: 4px solid {HIGHLIGHT_COLOR}; border-radius: 6px;"
            " background: transparent; }"
            f"#lesson_highlight_tag {{ background: {HIGHLIGHT_COLOR}; color: #000000;"
            " font-weight: bold; padding: 2px 8px; border-bottom-right-radius: 4px; }"
        )
        self.tag = QtWidgets.QLabel("Look here", self)
        self.tag.setObjectName("lesson_highlight_tag")
        self.tag.move(4, 4)
        self.target: QtWidgets.QWidget | None = None
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.clear)
        self.hide()

    def show_on(self, widget: QtWidgets.QWidget, milliseconds: int, label: str) -> None:
        """Frame ``widget`` for ``milliseconds``, with ``label`` in the top-left corner."""
        self.clear()
        self.target = widget
        self.setParent(widget)
        widget.installEventFilter(self)
        self.tag.setText(label)
        self.tag.adjustSize()
        self.setGeometry(widget.rect())
        self.raise_()
        self.show()
        self._timer.start(milliseconds)

    @QtCore.Slot()
    def clear(self) -> None:
        """Take the frame away."""
        self._timer.stop()
        if self.target is not None:
            self.target.removeEventFilter(self)
        self.target = None
        self.hide()

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:  # noqa: N802 (Qt override)
        """Follow the framed widget's size."""
        if watched is self.target and event.type() == QtCore.QEvent.Type.Resize:
            self.setGeometry(self.target.rect())
        return False


class ChoiceLabel(QtWidgets.QLabel):
    """The wrapping text of a choice; clicking it chooses, as a radio button's own text would."""

    def __init__(self, button: QtWidgets.QRadioButton, object_name: str) -> None:
        super().__init__()
        self.button = button
        self.setObjectName(object_name)
        self.setWordWrap(True)
        self.setTextFormat(QtCore.Qt.TextFormat.PlainText)
        font = self.font()
        font.setPointSizeF(font.pointSizeF() * 1.05)
        self.setFont(font)
        self.setBuddy(button)

    def mousePressEvent(self, event: QtGui.QMouseEvent) -> None:  # noqa: N802 (Qt override)
        """Choose this answer."""
        self.button.click()
        event.accept()


def push_button(text: str, object_name: str, tip: str) -> QtWidgets.QPushButton:
    """A push button that does not take Enter as the dialog default."""
    button = QtWidgets.QPushButton(text)
    button.setObjectName(object_name)
    button.setToolTip(tip)
    button.setAutoDefault(False)
    return button


class LessonView(QtWidgets.QWidget):
    """The widgets of the Lessons panel (see :class:`~.lessons_panel.LessonsPanel` for its parts).

    A subclass sets :attr:`lessons` and calls :meth:`_build`; it implements the slots below,
    which the buttons, the list, the answers and the panel's keys are connected to.
    """

    lessons: list[Lesson]

    # -- construction ----------------------------------------------------------------------------
    def _build(self) -> None:
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        self.progress_label = text_label("lessons_progress")
        layout.addWidget(self.progress_label)
        self.lesson_list = QtWidgets.QListWidget()
        self.lesson_list.setObjectName("lesson_list")
        self.lesson_list.setToolTip("Lessons in story order; ✓ marks the ones you finished. Click to jump.")
        for lesson in self.lessons:
            item = QtWidgets.QListWidgetItem(f"{lesson.number:02d}  {lesson.title}")
            item.setToolTip(lesson.title)
            self.lesson_list.addItem(item)
        # Every lesson visible at once when there is room (the whole story is the point), down to
        # four rows in a short window: the lesson's own text below needs the room more then.
        rows = min(len(self.lessons), 12)
        row_height = max(self.lesson_list.sizeHintForRow(0), self.lesson_list.fontMetrics().height() + 4)
        frame = 2 * self.lesson_list.frameWidth() + 4
        self.lesson_list.setMinimumHeight(row_height * min(rows, 4) + frame)
        self.lesson_list.setMaximumHeight(row_height * rows + frame)
        self.lesson_list.currentRowChanged.connect(self._on_user_pick)
        layout.addWidget(self.lesson_list)

        self.title_label = text_label("lesson_title", scale=1.25, bold=True)
        layout.addWidget(self.title_label)
        self.step_label = text_label("lesson_step")
        self.step_label.setToolTip("Each lesson: Intro → Predict → Run → Explain")
        layout.addWidget(self.step_label)

        self.pages = QtWidgets.QStackedWidget()
        self.pages.setObjectName("lesson_pages")
        self.pages.addWidget(self._build_intro())
        self.pages.addWidget(self._build_predict())
        self.pages.addWidget(self._build_run())
        self.pages.addWidget(self._build_explain())
        scroll = QtWidgets.QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(self.pages)
        # Room for a question and its answers without scrolling at 1280 x 720.
        scroll.setMinimumHeight(14 * self.fontMetrics().lineSpacing())
        layout.addWidget(scroll, 1)

        buttons = QtWidgets.QHBoxLayout()
        self.back_button = push_button("← Back", "lesson_back", "The previous step (Alt+← or Page Up)")
        self.next_button = push_button("Next →", "lesson_next", "The next step (Alt+→ or Page Down)")
        self.back_button.clicked.connect(self.go_back)
        self.next_button.clicked.connect(self.go_next)
        buttons.addWidget(self.back_button)
        buttons.addStretch(1)
        buttons.addWidget(self.next_button)
        layout.addLayout(buttons)

        # Inside the panel only, so that Space and → stay with the transport everywhere.
        context = QtCore.Qt.ShortcutContext.WidgetWithChildrenShortcut
        key = QtCore.Qt.Key
        alt = QtCore.Qt.KeyboardModifier.AltModifier
        for sequence, slot in (
            (QtGui.QKeySequence(QtCore.QKeyCombination(alt, key.Key_Left)), self.go_back),
            (QtGui.QKeySequence(key.Key_PageUp), self.go_back),
            (QtGui.QKeySequence(QtCore.QKeyCombination(alt, key.Key_Right)), self.go_next),
            (QtGui.QKeySequence(key.Key_PageDown), self.go_next),
        ):
            shortcut = QtGui.QShortcut(sequence, self)
            shortcut.setContext(context)
            shortcut.activated.connect(slot)

    def _page(self, name: str) -> tuple[QtWidgets.QWidget, QtWidgets.QVBoxLayout]:
        page = QtWidgets.QWidget()
        page.setObjectName(name)
        layout = QtWidgets.QVBoxLayout(page)
        layout.setContentsMargins(0, 4, 0, 4)
        return page, layout

    def _build_intro(self) -> QtWidgets.QWidget:
        page, layout = self._page("intro_page")
        self.intro_text = text_label("intro_text", scale=1.1)
        self.setup_text = text_label("setup_text")
        self.setup_text.setToolTip("The preset and settings this lesson runs")
        self.setup_text.setStyleSheet("color: palette(placeholder-text);")
        layout.addWidget(self.intro_text)
        layout.addWidget(self.setup_text)
        layout.addStretch(1)
        return page

    def _build_predict(self) -> QtWidgets.QWidget:
        page, layout = self._page("predict_page")
        self.question_text = text_label("question_text", scale=1.1, bold=True)
        layout.addWidget(self.question_text)
        self.choice_group = QtWidgets.QButtonGroup(self)
        self.choice_buttons: list[QtWidgets.QRadioButton] = []
        width = max(len(lesson.choices) for lesson in self.lessons)
        self._choice_labels: list[ChoiceLabel] = []
        for number in range(width):
            # A radio button does not wrap its text: a bare button beside a wrapping label.
            row = QtWidgets.QHBoxLayout()
            button = QtWidgets.QRadioButton()
            button.setObjectName(f"choice_{number}")
            button.setToolTip("Your prediction; then press Check")
            text = ChoiceLabel(button, f"choice_text_{number}")
            row.addWidget(button, 0, QtCore.Qt.AlignmentFlag.AlignTop)
            row.addWidget(text, 1)
            layout.addLayout(row)
            self.choice_group.addButton(button, number)
            self.choice_buttons.append(button)
            self._choice_labels.append(text)
        self.choice_group.idToggled.connect(self._on_user_choice)
        self.check_button = push_button("Check", "check_answer", "Tell me whether my prediction is right")
        self.check_button.clicked.connect(self.check_answer)
        layout.addWidget(self.check_button, 0, QtCore.Qt.AlignmentFlag.AlignLeft)
        self.feedback_text = text_label("answer_feedback", scale=1.05)
        layout.addWidget(self.feedback_text)
        layout.addStretch(1)
        return page

    def _build_run(self) -> QtWidgets.QWidget:
        page, layout = self._page("run_page")
        self.run_text = text_label("run_progress", scale=1.1)
        self.run_bar = QtWidgets.QProgressBar()
        self.run_bar.setObjectName("run_progress_bar")
        self.run_bar.setToolTip("Training steps of this lesson's run")
        self.run_again_button = push_button(
            "Run again", "run_again", "Start this lesson's run again from step 1"
        )
        self.run_again_button.clicked.connect(self.start_run)
        layout.addWidget(self.run_text)
        layout.addWidget(self.run_bar)
        layout.addWidget(self.run_again_button, 0, QtCore.Qt.AlignmentFlag.AlignLeft)
        layout.addStretch(1)
        return page

    def _build_explain(self) -> QtWidgets.QWidget:
        page, layout = self._page("explain_page")
        self.explanation_text = text_label("explanation_text", scale=1.1)
        self.show_plot_button = push_button(
            "Show me the plot", "show_plot", "Frame the plot this explanation talks about again"
        )
        self.show_plot_button.clicked.connect(self.show_pointed_plot)
        layout.addWidget(self.explanation_text)
        layout.addWidget(self.show_plot_button, 0, QtCore.Qt.AlignmentFlag.AlignLeft)
        layout.addStretch(1)
        return page

    # -- what the panel does (LessonsPanel) ---------------------------------------------------------
    def go_next(self) -> None:
        """The next step."""
        raise NotImplementedError

    def go_back(self) -> None:
        """The previous step."""
        raise NotImplementedError

    def check_answer(self) -> None:
        """Say whether the chosen answer is right."""
        raise NotImplementedError

    def start_run(self) -> None:
        """Run the lesson."""
        raise NotImplementedError

    def show_pointed_plot(self) -> None:
        """Frame the plot the lesson names."""
        raise NotImplementedError

    def _on_user_pick(self, row: int) -> None:
        raise NotImplementedError

    def _on_user_choice(self, number: int, checked: bool) -> None:
        raise NotImplementedError
