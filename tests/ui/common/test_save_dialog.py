"""The shared save dialog: the proposed name until the user edits it, and Save's checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6 import QtWidgets

from gradsim.ui.common import save_dialog
from gradsim.ui.common.save_dialog import SaveDialog


class Owner:
    """A feature that proposes ``<folder>/<target>-<n>.<fmt>`` and records what it was told."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.proposals = 0
        self.errors: list[str] = []

    def proposed_path(self, target: str, fmt: str) -> Path:
        self.proposals += 1
        return self.folder / f"{target}-{self.proposals}.{fmt}"

    def show_error(self, message: str, parent: QtWidgets.QWidget | None = None) -> QtWidgets.QMessageBox:
        self.errors.append(message)
        return QtWidgets.QMessageBox()


class Dialog(SaveDialog):
    """The smallest subclass: a format box, the path with its extension, a save that records."""

    def __init__(self, owner: Owner, works: bool = True) -> None:
        super().__init__(owner, "probe", "Save probe", "the probe", "where it goes")
        self.formats = QtWidgets.QComboBox()
        self.formats.addItems(["png", "svg"])
        self.saved: list[Path] = []
        self.works = works
        form = QtWidgets.QFormLayout()
        form.addRow("Format:", self.formats)
        form.addRow("File:", self.path_row)
        self.lay_out(form)
        self.formats.currentTextChanged.connect(lambda _text: self.propose_path())
        self.propose_path()

    def target(self) -> str:
        return "plot"

    def format(self) -> str:
        return self.formats.currentText()

    def path(self) -> Path:
        return Path(self.path_edit.text().strip()).with_suffix(f".{self.format()}")

    def save(self, path: Path) -> bool:
        self.saved.append(path)
        return self.works

    def _on_user_browse(self) -> None:
        pass


@pytest.fixture
def owner(tmp_path: Path) -> Owner:
    return Owner(tmp_path)


def test_the_owners_name_follows_the_choice_until_the_user_edits_it(qtbot, owner, tmp_path):
    dialog = Dialog(owner)
    qtbot.addWidget(dialog)
    assert dialog.objectName() == "probe_dialog" and dialog.path_edit.objectName() == "probe_path"
    assert dialog.path_edit.text() == str(tmp_path / "plot-1.png")
    dialog.formats.setCurrentText("svg")
    assert dialog.path_edit.text() == str(tmp_path / "plot-2.svg")  # a fresh proposal
    dialog.path_edit.textEdited.emit("mine")  # what typing in the field sends
    dialog.path_edit.setText(str(tmp_path / "mine.svg"))
    dialog.formats.setCurrentText("png")
    assert dialog.path_edit.text() == str(tmp_path / "mine.png")  # kept, with the new extension
    assert owner.proposals == 2


def test_save_without_a_name_says_so_and_stays_open(qtbot, owner):
    dialog = Dialog(owner)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.path_edit.setText("   ")
    dialog.save_button.click()
    assert owner.errors == ["Choose a file name for the probe."]
    assert dialog.saved == [] and dialog.isVisible()


@pytest.mark.parametrize("replace", [False, True])
def test_an_existing_file_is_replaced_only_when_the_user_agrees(qtbot, owner, tmp_path, monkeypatch, replace):
    existing = tmp_path / "plot-1.png"
    existing.write_bytes(b"old")
    asked: list[Path] = []
    monkeypatch.setattr(save_dialog, "confirm_replace", lambda parent, path: asked.append(path) or replace)
    dialog = Dialog(owner)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.save_button.click()
    assert asked == [existing]
    assert dialog.saved == ([existing] if replace else [])
    assert dialog.result() == (QtWidgets.QDialog.DialogCode.Accepted if replace else 0)
    assert dialog.isVisible() is not replace


def test_a_save_that_fails_keeps_the_dialog_open(qtbot, owner, tmp_path):
    dialog = Dialog(owner, works=False)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.save_button.click()
    assert dialog.saved == [tmp_path / "plot-1.png"]
    assert dialog.isVisible() and dialog.result() == 0
    dialog.buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Cancel).click()
    assert not dialog.isVisible() and dialog.result() == QtWidgets.QDialog.DialogCode.Rejected
