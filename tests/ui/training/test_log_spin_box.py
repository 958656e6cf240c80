"""The decade spin box: ``%g`` text, typed numbers in range, and 1-2-5 arrows within its range."""

from __future__ import annotations

from gradsim.ui.training.log_spin_box import LogSpinBox


def test_log_spin_box_accepts_typed_numbers_in_range(qtbot):
    spin = LogSpinBox(1e-9, 100.0)
    qtbot.addWidget(spin)
    spin.setValue(0.01)
    spin.stepBy(1)
    assert spin.value() == 0.02
    spin.setValue(3e-7)
    assert spin.value() == 3e-7 and spin.text() == "3e-07"
    acceptable = spin.validate("2.5e-4", 0)[0]
    assert acceptable == spin.validate("0.1", 0)[0] != spin.validate("1e-", 0)[0]
    assert spin.validate("abc", 0)[0] != spin.validate("1e-", 0)[0]  # invalid vs still typing
    assert spin.validate("1000", 0)[0] != acceptable  # out of range
    spin.setValue(100.0)
    spin.stepBy(1)
    assert spin.value() == 100.0


def test_log_spin_box_fixes_up_typed_text_into_its_range(qtbot):
    spin = LogSpinBox(1e-3, 10.0)
    qtbot.addWidget(spin)
    spin.setValue(0.5)
    assert spin.fixup("250") == "10"
    assert spin.fixup("1e-7") == "0.001"
    assert spin.fixup("not a number") == "0.5"
    assert spin.valueFromText("bad") == 0.5 and spin.valueFromText("2e-2") == 0.02
    spin.setValue(1e-3)
    spin.stepBy(-1)
    assert spin.value() == 1e-3  # the arrows stop at the range
