"""The small widget builders: names and tips, text labels, the vertical scroll area, reopened dialogs."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from gradsim.ui.common.theme import LIGHT, style_colorbar
from gradsim.ui.common.widgets import SteadyLabel, named, reopen_dialog, text_label, vertical_scroll


def test_named_sets_the_object_name_and_only_a_given_tip(qtbot):
    button = named(QtWidgets.QPushButton("Go"), "go_button", "Start it")
    assert (button.objectName(), button.toolTip(), button.text()) == ("go_button", "Start it", "Go")
    label = QtWidgets.QLabel()
    label.setToolTip("kept")
    assert named(label, "plain") is label and label.toolTip() == "kept"


def test_text_label_wraps_plain_selectable_text_and_owns_a_font_only_when_scaled(qtbot):
    plain = text_label("plain")
    assert plain.wordWrap() and plain.textFormat() == QtCore.Qt.TextFormat.PlainText
    assert plain.textInteractionFlags() & QtCore.Qt.TextInteractionFlag.TextSelectableByMouse
    assert not plain.testAttribute(QtCore.Qt.WidgetAttribute.WA_SetFont)  # inherits its parent's
    base = plain.font().pointSizeF()
    large = text_label("large", scale=1.5, bold=True)
    assert large.objectName() == "large" and large.font().bold()
    assert large.font().pointSizeF() == base * 1.5


def test_vertical_scroll_never_scrolls_sideways_and_can_configure_an_existing_area(qtbot):
    content = QtWidgets.QLabel("content")
    scroll = vertical_scroll(content, "side_scroll")
    qtbot.addWidget(scroll)
    assert scroll.widget() is content and scroll.objectName() == "side_scroll"
    assert scroll.widgetResizable() and scroll.frameShape() == QtWidgets.QFrame.Shape.NoFrame
    assert scroll.horizontalScrollBarPolicy() == QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff
    area = QtWidgets.QScrollArea()
    qtbot.addWidget(area)
    assert vertical_scroll(QtWidgets.QWidget(), "given", area=area) is area and area.objectName() == "given"


def test_reopen_dialog_closes_the_previous_one_and_reports_when_each_finishes(qtbot):
    parent = QtWidgets.QWidget()
    qtbot.addWidget(parent)
    finished: list[int] = []
    first = reopen_dialog(None, lambda: QtWidgets.QDialog(parent), finished.append)
    assert first.isVisible() and first.testAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
    second = reopen_dialog(first, lambda: QtWidgets.QDialog(parent), finished.append)
    assert second is not first and second.isVisible()
    assert finished == [QtWidgets.QDialog.DialogCode.Rejected]  # the first one, closed
    second.accept()
    assert finished == [QtWidgets.QDialog.DialogCode.Rejected, QtWidgets.QDialog.DialogCode.Accepted]


def test_style_colorbar_sets_the_label_at_the_given_size_and_no_si_prefix(qtbot):
    bar = pg.ColorBarItem(values=(-3.0, 0.0), colorMap=pg.colormap.get("viridis"), interactive=False)
    style_colorbar(bar, LIGHT, "decades")
    assert bar.axis.labelText == "decades" and bar.axis.labelStyle["font-size"] == f"{LIGHT.label_pt}pt"
    assert not bar.axis.autoSIPrefix
    style_colorbar(bar, LIGHT, "small", label_pt=LIGHT.tick_pt)
    assert bar.axis.labelStyle["font-size"] == f"{LIGHT.tick_pt}pt"


class _LayoutRequests(QtCore.QObject):
    """Counts the LayoutRequest events a widget receives."""

    def __init__(self, widget: QtWidgets.QWidget) -> None:
        super().__init__(widget)
        self.count = 0
        widget.installEventFilter(self)

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:  # noqa: N802
        if event.type() == QtCore.QEvent.Type.LayoutRequest:
            self.count += 1
        return False


def test_a_steady_label_s_new_text_lays_nothing_out_again(qtbot):
    # A status bar of a main window, as the window's iteration and loss labels sit in it.
    window = QtWidgets.QMainWindow()
    qtbot.addWidget(window)
    bar = window.statusBar()
    steady, plain = SteadyLabel("loss -0.000e+000", 6), QtWidgets.QLabel()
    bar.addPermanentWidget(steady)
    bar.addPermanentWidget(plain)
    window.show()
    qtbot.waitExposed(window)
    qtbot.wait(50)  # the layout of the window's first show
    requests = _LayoutRequests(bar)
    for value in (0.5, 0.25, 0.125, 1e-5):
        steady.setText(f"loss {value:.4g}")
        QtWidgets.QApplication.processEvents()
    assert requests.count == 0
    plain.setText("loss 0.5")
    QtWidgets.QApplication.processEvents()
    assert requests.count == 1  # what the label used to do at every step


def test_a_steady_label_widens_for_a_longer_text_and_refits_to_its_font(qtbot):
    label = SteadyLabel("iteration 000", 4)
    qtbot.addWidget(label)
    width = label.width()
    assert label.minimumSize() == label.maximumSize()
    label.setText("iteration 12")
    assert label.width() == width  # fits: unchanged
    label.setText("iteration 123456")
    assert label.width() > width and label.minimumSize() == label.maximumSize()
    margins = label.contentsMargins()
    assert (
        label.width()
        >= label.fontMetrics().horizontalAdvance("iteration 123456") + margins.left() + margins.right()
    )
    wide = label.width()
    font = label.font()
    font.setPointSizeF(font.pointSizeF() * 2)
    label.setFont(font)
    assert label.width() > wide and label.text() == "iteration 123456"
    font.setPointSizeF(font.pointSizeF() / 2)  # and back (presentation mode's round trip)
    label.setFont(font)
    assert label.width() == wide
