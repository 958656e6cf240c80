"""The dialog that chooses a file to write: the half the Save snapshot and Record animation
dialogs share.

A :class:`SaveDialog` has a file field with Browse… and Save/Cancel buttons. The field shows the
owner's proposed name for what is chosen (:meth:`SaveDialog.propose_path`) until the user edits
it; Save checks that a name is given, asks before replacing a file, and closes the dialog once
:meth:`SaveDialog.save` succeeds. A subclass builds its form around :attr:`SaveDialog.path_row`
and says what is chosen (``target()``, ``format()``), what the path is (``path()``), what Browse…
does and how to save.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from PySide6 import QtCore, QtWidgets

from gradsim.ui.common.naming import confirm_replace
from gradsim.ui.common.widgets import named


class SaveOwner(Protocol):
    """What a :class:`SaveDialog` asks of the feature that opened it."""

    def proposed_path(self, target: str, fmt: str) -> Path:
        """A free file name for ``target`` saved as ``fmt``."""
        ...

    def show_error(self, message: str, parent: QtWidgets.QWidget | None = None) -> QtWidgets.QMessageBox:
        """Say why nothing was saved (a box over ``parent``)."""
        ...


class SaveDialog(QtWidgets.QDialog):
    """A file field with Browse…, and Save/Cancel: see the module docstring.

    Parameters
    ----------
    feature : the owner: proposes names and shows errors
    name : the object names' prefix: ``<name>_dialog``, ``<name>_path``, ``<name>_browse``,
        ``<name>_buttons``
    title : the window title
    what : what is saved, for "Choose a file name for <what>."
    path_tip, browse_tip : the file field's and the Browse… button's tooltips
    parent : optional parent widget

    Attributes
    ----------
    path_edit, browse_button : the file field and its Browse… button
    path_row : the layout holding both, for the subclass's form
    buttons, save_button : the Save/Cancel button box and its Save button
    """

    # What a subclass defines: what is chosen (a key of the owner's, and the file format), the
    # file with the format's extension, writing it (whether it worked: the dialog closes then;
    # a replacement is confirmed already), and what Browse… does.
    target: Callable[[], str]
    format: Callable[[], str]
    path: Callable[[], Path]
    save: Callable[[Path], bool]
    _on_user_browse: Callable[[], None]

    def __init__(
        self,
        feature: SaveOwner,
        name: str,
        title: str,
        what: str,
        path_tip: str,
        browse_tip: str = "",
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.feature = feature
        self.setObjectName(f"{name}_dialog")
        self.setWindowTitle(title)
        self._what = what
        self._path_edited = False
        self.path_edit = named(QtWidgets.QLineEdit(), f"{name}_path", path_tip)
        self.path_edit.setMinimumWidth(self.path_edit.fontMetrics().horizontalAdvance("x" * 56))
        self.browse_button = named(QtWidgets.QPushButton("Browse…"), f"{name}_browse", browse_tip)
        self.path_row = QtWidgets.QHBoxLayout()
        self.path_row.addWidget(self.path_edit, 1)
        self.path_row.addWidget(self.browse_button)
        choices = QtWidgets.QDialogButtonBox.StandardButton
        self.buttons = named(QtWidgets.QDialogButtonBox(choices.Save | choices.Cancel), f"{name}_buttons")
        self.save_button = self.buttons.button(choices.Save)
        self.path_edit.textEdited.connect(self._on_user_path_edited)
        self.browse_button.clicked.connect(self._on_user_browse)
        self.buttons.accepted.connect(self._on_user_save)
        self.buttons.rejected.connect(self.reject)

    def lay_out(self, form: QtWidgets.QLayout, *below: QtWidgets.QWidget) -> None:
        """The dialog's layout: ``form``, the widgets ``below`` it, then the buttons."""
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(form)
        for widget in below:
            layout.addWidget(widget)
        layout.addWidget(self.buttons)

    def propose_path(self) -> None:
        """Show the owner's name for what is chosen; once the user edited the name, keep it and
        give it the format's extension."""
        if self._path_edited:
            self.path_edit.setText(str(self.path()))
        else:
            self.path_edit.setText(str(self.feature.proposed_path(self.target(), self.format())))

    @QtCore.Slot(str)
    def _on_user_path_edited(self, _text: str) -> None:
        self._path_edited = True

    @QtCore.Slot()
    def _on_user_save(self) -> None:
        if not self.path_edit.text().strip():
            self.feature.show_error(f"Choose a file name for {self._what}.", parent=self)
            return
        path = self.path()
        if path.exists() and not confirm_replace(self, path):
            return
        if self.save(path):
            self.accept()
