"""MessageBar: a passing message too long for the status bar is elided, with "more…" beside it
(tooltip and box with the whole text); the window keeps its size; a short one is drawn as is."""

from __future__ import annotations

import pytest
from PySide6 import QtWidgets

from gradsim.engine.presets import load_preset
from gradsim.ui.common.status_bar import MessageBar

pytestmark = [
    pytest.mark.window(config=load_preset("default"), size=(1280, 720)),
    pytest.mark.qt_log_level_fail("WARNING"),
]

# The sweep's message when its store could not keep the points: about 900 px at the bar's font.
LONG = (
    "The sweep store could not keep these points (database is locked); the result is complete, "
    "a repeat will compute them again"
)


@pytest.fixture
def window(make_window, qtbot):
    window = make_window(features=())
    qtbot.wait(100)
    return window


def test_a_long_message_is_elided_beside_more_which_opens_it_whole(qtbot, window):
    bar = window.statusBar()
    assert isinstance(bar, MessageBar)
    metrics = bar.fontMetrics()
    bar.showMessage("Saved config /tmp/run.toml", 10000)
    qtbot.wait(50)
    assert not bar.is_cut and not bar.more_link.isVisible()
    assert bar.shown_text() == "Saved config /tmp/run.toml" and bar.toolTip() == ""

    bar.showMessage(LONG, 10000)
    qtbot.wait(50)
    assert window.size().toTuple() == (1280, 720)
    room = bar.message_rect(with_link=False).width()
    assert metrics.horizontalAdvance(LONG) > room  # the case at hand: it cannot fit at 1280
    assert bar.is_cut and bar.more_link.isVisible()
    assert bar.more_link.toolTip() == LONG and bar.toolTip() == LONG
    shown = bar.shown_text()
    assert shown.endswith("…") and LONG.startswith(shown[:-1])
    # Drawn left of "more…", which is left of the permanent labels.
    rect = bar.message_rect()
    assert metrics.horizontalAdvance(shown) <= rect.width()
    assert rect.right() < bar.more_link.x() < window.status_iteration.x()
    assert bar.currentMessage() == LONG  # what the message is, for everyone who asks

    bar.more_link.linkActivated.emit("more")  # what a click on the link does
    box = bar.message_box
    assert box is not None and box.findChild(QtWidgets.QLabel, "qt_msgbox_label").text() == LONG
    qtbot.waitExposed(box)
    assert box.width() <= 1280 and box.height() <= 720
    box.close()

    # Wide enough now: drawn whole, no button.
    window.resize(1920, 1080)
    qtbot.wait(100)
    assert metrics.horizontalAdvance(LONG) <= bar.message_rect(with_link=False).width()
    assert not bar.is_cut and not bar.more_link.isVisible() and bar.shown_text() == LONG
    window.resize(1280, 720)
    qtbot.wait(100)
    assert bar.is_cut
    bar.clearMessage()
    qtbot.wait(50)
    assert not bar.is_cut and not bar.more_link.isVisible() and bar.toolTip() == ""


def test_the_elided_message_is_painted(qtbot, window):
    """What is painted is the elided text: it reaches the end of its room and nothing of it runs
    on towards "more…"."""
    bar = window.statusBar()
    bar.showMessage(LONG, 10000)
    qtbot.wait(50)
    image = bar.grab().toImage()
    button = bar.more_link.geometry()
    background = image.pixelColor(button.x() - 3, 2)
    gap = {image.pixelColor(x, y).rgb() for x in range(bar.message_rect().right() + 1, button.x() - 1)
           for y in range(bar.height())}  # fmt: skip
    assert gap == {background.rgb()}  # nothing of the text runs under the button
    text_columns = [
        x for x in range(bar.message_rect().left(), bar.message_rect().right())
        if any(image.pixelColor(x, y).rgb() != background.rgb() for y in range(bar.height()))
    ]  # fmt: skip
    assert text_columns and max(text_columns) > bar.message_rect().right() - 40  # drawn up to the end
