"""The Backprop tab's controls: the transport row, the logarithmic speed slider and play's clock."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtWidgets

from gradsim.ui.features.backprop.backprop_controls import (
    MAX_SPEED,
    MIN_TICK_MS,
    SPEED_SLIDER_MAX_WIDTH,
    SPEED_SLIDER_MIN_WIDTH,
    SPEED_SLIDER_STEPS,
    Player,
    TransportBar,
    notch_speed,
    speed_notch,
    speed_text,
    transport_actions,
)


def test_speed_notches_are_logarithmic_and_clamped():
    assert speed_notch(1.0) == 0 and speed_notch(0.01) == 0
    assert speed_notch(MAX_SPEED) == SPEED_SLIDER_STEPS and speed_notch(1e9) == SPEED_SLIDER_STEPS
    assert notch_speed(SPEED_SLIDER_STEPS // 2) == pytest.approx(np.sqrt(MAX_SPEED), rel=1e-12)
    for notch in (0, 37, 100, 200):
        assert speed_notch(notch_speed(notch)) == notch


def test_speed_text():
    assert speed_text(2000.0) == "2000 cells/s"
    assert speed_text(44.72) == "45 cells/s"
    assert speed_text(3.16) == "3.2 cells/s"


def test_player_hands_out_whole_cells_and_keeps_the_fraction(qtbot):
    player = Player()
    player.set_speed(25.0)  # one cell per 40 ms tick
    assert player.tick_ms() == 40
    player.set_speed(2000.0)
    assert player.tick_ms() == MIN_TICK_MS  # never faster than the display
    player.start()
    try:
        # 2000 cells/s x 16 ms = 32 cells per tick.
        assert [player.take_cells() for _ in range(3)] == [32, 32, 32]
        player.set_speed(100.0)  # 1.6 cells per tick at the display rate
        assert player.tick_ms() == 16
        assert [player.take_cells() for _ in range(5)] == [1, 2, 1, 2, 2]
    finally:
        player.stop()
    assert not player.is_playing


def test_the_speed_sits_beside_the_toolbar_and_its_slider_gives_way_first(qtbot):
    owner = QtWidgets.QWidget()
    qtbot.addWidget(owner)
    actions = transport_actions(owner, *(lambda: None for _ in range(5)))
    bar = TransportBar(actions, owner.font(), owner)
    # The toolbar holds the transport actions only: nothing of the speed can go behind its "»".
    assert bar.toolbar.actions() == list(actions.all())
    bar.show_speed(2000.0)
    assert bar.speed_slider.value() == SPEED_SLIDER_STEPS and bar.speed_label.text() == "2000 cells/s"
    owner.resize(bar.minimumSizeHint().width(), 40)
    owner.show()
    qtbot.waitExposed(owner)
    bar.resize(bar.minimumSizeHint().width(), 40)
    QtWidgets.QApplication.processEvents()
    assert bar.speed_slider.width() == SPEED_SLIDER_MIN_WIDTH
    assert bar.speed_label.width() >= bar.speed_label.fontMetrics().horizontalAdvance("2000 cells/s")
    bar.resize(2000, 40)
    QtWidgets.QApplication.processEvents()
    assert bar.speed_slider.width() == SPEED_SLIDER_MAX_WIDTH
